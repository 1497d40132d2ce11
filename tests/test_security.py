"""No code execution from policy text (compare jinja's tests/test_security.py).

Policy names, strings, citations, messages, table keys and enum values that look like Python,
or like a way out of a Python string, compile to inert data: the generated evaluator refers to
policy names only as dictionary keys, holds policy strings only inside `repr`-quoted literals,
and running it creates no file. Names that are Python keywords, dunders or the generated code's
own locals (`ok`, `rec`, `d`, `f1`…) keep their meaning.
"""
from __future__ import annotations

import ast as pyast
import io
import keyword
import re
import tokenize

import pytest

from esms_rules import PolicyError
from esms_rules.compile import MODES, compile_policy, emit
from esms_rules.evaluate import Policy

PAYLOAD = "__import__('os').system('touch PWNED')"
BREAKOUT = '"); import os; ("'

# Every string of this policy tries to run code or to break out of a Python literal; its names
# are Python dunders, builtins and keywords, and the generated evaluator's own locals.
HOSTILE = "\n".join([
    'policy "p\\"); __import__(\'os\').system(\'touch PWNED\'); (\\"" {',
    '  campaign    2025',
    '  instruction "__import__(\'os\').system(\'touch PWNED\')"',
    '}',
    '',
    'enum evil { "__import__(\'os\').system(\'touch PWNED\')", "\\"); import os; (\\"", '
    '"a\\\\b\\nc\\u0027", "\'\'\'" }',
    '',
    'record __class__ {',
    '  __import__: int',
    '  lambda: evil',
    '}',
    '',
    'fact __import__: int',
    'fact class: evil',
    'fact lambda: list of __class__',
    'fact import: text',
    'fact ok: bool',
    'fact rec: int',
    'fact d: text',
    'fact _rt: int',
    'fact evaluate: int',
    'fact __builtins__: int',
    '',
    'codes {',
    '  EVIL "__import__(\'os\').system(\'touch PWNED\')"',
    '  OTHER "\\"); import os; (\\""',
    '}',
    '',
    'table __dict__: evil -> text {',
    '  "__import__(\'os\').system(\'touch PWNED\')": "\\"); import os; (\\""',
    '  "\\"); import os; (\\"": "__import__(\'os\').system(\'touch PWNED\')"',
    '  "a\\\\b\\nc\\u0027": "\\\\"',
    '  "\'\'\'": "\\u0027\\u0027\\u0027"',
    '} source "__import__(\'os\').system(\'touch PWNED\')"',
    '',
    'def eval = __import__ + rec',
    'def exec(x: int): int = x + __import__',
    'def __globals__ = __dict__[class]',
    'def os = import == "\\"); import os; (\\"" or not ok',
    '',
    'rule __init__ for __self__ in lambda {',
    '  code     EVIL',
    '  severity warning',
    '  when     __self__.__import__ > exec(eval) and __dict__[__self__.lambda] != "\\"); import os; (\\""',
    '  message  "{__self__.lambda} \\"); __import__(\'os\').system(\'touch PWNED\'); '
    '(\\" \\\\ \\n \\u0027 \\{ {__globals__}"',
    '  source   "__import__(\'os\').system(\'touch PWNED\')\\"); import os; (\\""',
    '}',
    '',
    'rule system {',
    '  code     OTHER',
    '  severity blocking',
    '  when     os and d != "__import__(\'os\').system(\'touch PWNED\')"',
    '  message  "{import}{d}"',
    '  source   "\'\'\'\\"\\"\\"\\\\"',
    '}',
    '',
    'output __import__ = eval + _rt + evaluate + __builtins__',
    'output class for __self__ in lambda = __dict__[__self__.lambda]'
]) + "\n"

DOSSIER = {
    "__import__": 1, "class": "'''", "import": BREAKOUT, "ok": False, "rec": 2, "d": "x", "_rt": 1,
    "evaluate": 1, "__builtins__": 1,
    "lambda": [{"__import__": 5, "lambda": PAYLOAD}, {"__import__": 5, "lambda": "'''"},
               {"__import__": 0, "lambda": "a\\b\nc'"}],
}
# Names the hostile policy uses that must never become Python names in the generated code.
POLICY_NAMES = {"__import__", "__class__", "__builtins__", "__dict__", "__globals__", "__init__", "__self__",
                "class", "import", "eval", "exec", "os", "system", "PWNED"}


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # a `touch PWNED` would land here
    yield Policy.from_text(HOSTILE, "hostile.esms")
    assert list(tmp_path.iterdir()) == [], "evaluating a policy created a file"


def test_hostile_policy_runs_as_data(hostile):
    decision = hostile.evaluate(DOSSIER)
    assert hostile.id == 'p"); ' + PAYLOAD + "; (\""
    assert [(r.code, r.message, r.source) for r in decision.reasons] == [
        ("OTHER", BREAKOUT + "x", "'''\"\"\"\\")]
    (warning,) = decision.structures[1].warnings
    assert warning.message == "''' \"); " + PAYLOAD + "; (\" \\ \n ' { '''"
    assert warning.source == PAYLOAD + BREAKOUT
    assert decision.outputs == {"__import__": 6, "class": [BREAKOUT, "'''", "\\"]}
    assert hostile.decide(DOSSIER) == (False, True, decision.outputs)
    assert hostile.evaluate(DOSSIER, trace=False).to_dict(trace=False) == decision.to_dict(trace=False)
    decision.to_json()                    # the trace, with every value read, too


@pytest.mark.parametrize("mode", MODES)
def test_policy_text_appears_only_inside_literals(hostile, mode):
    source, consts = emit(hostile.checked, mode)
    pyast.parse(source)
    names, code_only = set(), []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.STRING:
            pyast.literal_eval(tok.string)              # a plain literal, nothing else
            continue
        if tok.type == tokenize.COMMENT:
            assert tok.start[0] <= 2, "comments only in the header"
            continue
        if tok.type == tokenize.NAME:
            names.add(tok.string)
        code_only.append(tok.string)
    assert not names & POLICY_NAMES
    rest = " ".join(code_only)
    for marker in ("PWNED", "system", "__import__", "import os", "touch"):
        assert marker not in rest
    # every Python name is a keyword, a granted builtin, a fixed local, a runtime helper, or counted
    fixed = {"evaluate", "d", "ok", "rec", "FAILED", "FIRED", "TRACE", "_rt", "default", "get", "add", "append"}
    granted = {"len", "sum", "any", "all", "min", "max", "id", "set", "enumerate"}
    helpers = {n for n in dir(__import__("esms_rules.runtime", fromlist=["_"])) if not n.startswith("__")}
    odd = {n for n in names if not (keyword.iskeyword(n) or n in fixed | granted | helpers
                                    or re.fullmatch(r"[A-Za-z]+[0-9]+", n))}
    assert not odd, f"unexpected names in the generated code: {sorted(odd)}"
    assert not any(v in (eval, exec, compile, open, __import__) for v in consts.values() if callable(v))


def test_the_evaluator_has_no_dangerous_builtins(hostile):
    fn = compile_policy(hostile.checked, "reasons")
    builtins = fn.__globals__["__builtins__"]
    assert not {"__import__", "open", "eval", "exec", "compile", "getattr", "globals"} & set(builtins)


@pytest.mark.parametrize("message", [
    "{__import__(\\\"os\\\")}",                    # a call: an unknown function
    "{n.__class__}",                                # n is a number: no fields
    "{().__class__.__bases__}",                     # not an expression of the language
    "{__import__}",                                 # an unknown name
    "{lambda: 1}",
])
def test_code_in_interpolations_is_refused(message):
    text = ('codes { X }\nfact n: int\nrule r {\n  code X\n  severity warning\n  when n > 1\n'
            f'  message "{message}"\n  source "s"\n}}\n')
    with pytest.raises(PolicyError) as info:
        Policy.from_text('policy "p" {}\n' + text)
    assert {d.code for d in info.value.diagnostics} <= {"unknown-function", "not-a-record", "bad-interpolation",
                                                         "unknown-name", "syntax"}


PYTHON_KEYWORDS = [k for k in keyword.kwlist if re.fullmatch(r"[a-z_][a-z_]*", k)]


@pytest.mark.parametrize("name", PYTHON_KEYWORDS + ["__class__", "__import__", "__builtins__", "__dict__",
                                                     "self", "print", "exit", "len", "id"])
def test_python_names_are_only_dictionary_keys(name):
    """Where the grammar accepts the name, it works as any other; where not, a diagnostic."""
    text = f'policy "p" {{}}\nfact {name}: int\ndef twice = {name} + {name}\noutput o = twice + 1\n'
    try:
        policy = Policy.from_text(text)
    except PolicyError as e:              # an esms keyword (if, for, not…) cannot be a value's name
        assert e.diagnostics[0].code == "syntax"
        return
    assert policy.decide({name: 20}).outputs == {"o": 41}
    assert policy.evaluate({name: 20}).outputs == {"o": 41}


def test_names_of_the_generated_code_keep_their_meaning():
    text = """policy "p" {}
codes { LATE }
fact ok: bool
fact rec: bool
fact d: int
fact f1: int
fact v2: int
fact _rt: int
def t1 = f1 + v2 + d
def evaluate = t1 * _rt
rule late {
  code     LATE
  severity inadmissible
  when     not ok and not rec and evaluate > 10
  message  "{evaluate} {t1} {ok} {rec}"
  source   "s"
}
output total = evaluate
output flags = [ok, rec]
"""
    policy = Policy.from_text(text)
    dossier = {"ok": False, "rec": False, "d": 1, "f1": 2, "v2": 3, "_rt": 2}
    decision = policy.evaluate(dossier)
    assert (decision.eligible, decision.recevable) == (False, False)
    assert [r.message for r in decision.reasons] == ["12 6 non non"]
    assert decision.outputs == {"total": 12, "flags": [False, False]}
    assert policy.decide(dict(dossier, ok=True)) == (True, True, {"total": 12, "flags": [True, False]})


def test_a_dunder_fact_is_only_a_key():
    policy = Policy.from_text('policy "p" {}\nfact __class__: int\nfact __import__: text\n'
                              'output o = __class__ + 1\noutput s = __import__\n')
    decision = policy.evaluate({"__class__": 41, "__import__": "os", "__init__": "x"})
    assert decision.outputs == {"o": 42, "s": "os"}
    assert [w.code for w in decision.warnings] == ["UNKNOWN_FIELD"]       # `__init__` is just unknown
