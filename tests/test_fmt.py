"""The formatter: goldens, idempotence, meaning kept, and the same decisions after formatting.

Goldens: tests/fmt/x.esms -> tests/fmt/x.esms.formatted (regenerate with ESMS_UPDATE_GOLDEN=1
and review the diff).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import re
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esms_rules import ast, fmt
from esms_rules.check import check
from esms_rules.diagnostics import DossierError, PolicyError
from esms_rules.evaluate import Policy
from esms_rules.fmt import canonical, format_source
from esms_rules.load import bundled_dir, bundled_names, link
from esms_rules.parse import parse_expression, parse_module, parser

HERE = Path(__file__).resolve().parent
GOLDENS = sorted((HERE / "fmt").glob("*.esms"))
UPDATE = os.environ.get("ESMS_UPDATE_GOLDEN") == "1"
SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = sorted((SHARED / "spec" / "examples").glob("*.json"))
BUNDLED = bundled_names()
SCALE = float(os.environ.get("ESMS_HYPOTHESIS_SCALE", "1"))   # e.g. 20 for a long fuzzing run


def examples(n: int) -> int:
    return max(1, int(n * SCALE))

if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))


def bundled_text(name: str) -> str:
    return (bundled_dir() / f"{name}.esms").read_text(encoding="utf-8")


def comments(text: str) -> Counter:
    return Counter(c.text.rstrip() for c in parse_module(text).comments)


# ---- goldens ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", GOLDENS, ids=[p.name for p in GOLDENS])
def test_golden(path):
    text = path.read_text(encoding="utf-8")
    out = format_source(text, path.name)
    expected = path.with_name(path.name + ".formatted")
    if UPDATE:
        expected.write_text(out, encoding="utf-8")
    assert out == expected.read_text(encoding="utf-8")
    assert format_source(out, path.name) == out
    assert parse_module(out).items == canonical(parse_module(text).items)
    assert comments(out) == comments(text)


# ---- bundled policies -------------------------------------------------------------------
@pytest.mark.parametrize("name", BUNDLED)
def test_bundled_policy_idempotent_and_same_meaning(name):
    text = bundled_text(name)
    out = format_source(text, f"policies/{name}.esms")
    assert format_source(out) == out
    assert parse_module(out).items == canonical(parse_module(text).items)
    assert comments(out) == comments(text)


@pytest.fixture(scope="module")
def formatted_dir(tmp_path_factory):
    """Every bundled policy, formatted, in a folder of its own (imports resolve there first)."""
    d = tmp_path_factory.mktemp("formatted")
    for name in BUNDLED:
        (d / f"{name}.esms").write_text(format_source(bundled_text(name)), encoding="utf-8")
    register = bundled_dir() / "documents.toml"      # the citations render from it, as beside the originals
    (d / register.name).write_bytes(register.read_bytes())
    return d


POLICY_NAMES = [n for n in BUNDLED if bundled_text(n).lstrip().startswith(("policy", "#"))
                and re.search(r"^policy ", bundled_text(n), re.M)]


@pytest.fixture(scope="module")
def policy_pairs(formatted_dir):
    pairs = []
    for name in POLICY_NAMES:
        original = Policy(check(link(bundled_text(name), f"{name}.esms", bundled_dir())))
        path = formatted_dir / f"{name}.esms"
        formatted = Policy(check(link(path.read_text(encoding="utf-8"), f"{name}.esms", formatted_dir)))
        pairs.append((original, formatted))
    return pairs


def outcome(policy: Policy, dossier: dict):
    try:
        d = policy.evaluate(dossier, trace=False).to_dict(trace=False)
    except DossierError as e:
        return ("error", [(p.path, p.message) for p in e.problems])
    del d["policy"]["sha256"]          # the text differs, so does its digest
    return d


@pytest.mark.skipif(not EXAMPLES, reason="no shared examples beside the repository")
def test_formatted_policies_decide_the_shared_examples_alike(policy_pairs):
    for original, formatted in policy_pairs:
        for path in EXAMPLES:
            dossier = json.loads(path.read_text(encoding="utf-8"))["dossier"]
            assert outcome(formatted, dossier) == outcome(original, dossier), (original.id, path.name)


try:
    from strategies import dossiers as _dossiers
except ImportError:          # tests/strategies.py is written by another helper
    _dossiers = None


@pytest.mark.skipif(_dossiers is None, reason="tests/strategies.py not available")
@settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_formatted_policies_decide_generated_dossiers_alike(policy_pairs, data):
    original, formatted = data.draw(st.sampled_from(policy_pairs))
    dossier = data.draw(_dossiers())
    assert outcome(formatted, dossier) == outcome(original, dossier)


# ---- the soundness check ----------------------------------------------------------------
def test_a_formatter_bug_is_refused_not_written(monkeypatch):
    real = fmt.literal
    monkeypatch.setattr(fmt, "literal", lambda lit: "16" if lit.value == 15 else real(lit))
    with pytest.raises(PolicyError) as info:
        format_source("def minimum: int = 15\n")
    assert info.value.diagnostics[0].code == "internal"


def test_a_lost_comment_is_refused(monkeypatch):
    monkeypatch.setattr(fmt._Printer, "attach", lambda self, lines, found: None)
    with pytest.raises(PolicyError, match="comments"):
        format_source("rule r {\n  # inside\n  when a\n}\n")


def test_syntax_errors_are_reported_not_formatted():
    with pytest.raises(PolicyError) as info:
        format_source("rule r {\n  when a and\n}\n", "p.esms")
    assert info.value.diagnostics[0].code == "syntax"


def test_layout_choices():
    out = format_source('rule r { source "s" when a code X severity blocking message "m" }')
    assert out == ('rule r {\n  code     X\n  severity blocking\n  when     a\n'
                   '  message  "m"\n  source   "s"\n}\n')
    assert format_source("def x = (a and b) or c") == "def x = (a and b) or c\n"
    assert format_source("def x = ((a + b) * c)") == "def x = (a + b) * c\n"
    assert format_source("def a = 1\n\n\n\ndef b = 2\ndef c = 3\n") == "def a = 1\n\ndef b = 2\ndef c = 3\n"
    assert format_source("rule r {}\nrule s {}") == "rule r {}\n\nrule s {}\n"
    assert format_source("") == ""


# ---- generated expressions --------------------------------------------------------------
KEYWORDS = {t.pattern.value for t in parser().terminals
            if t.pattern.type == "str" and re.fullmatch(r"[a-z_]+", t.pattern.value)}
NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,6}", fullmatch=True).filter(lambda s: s not in KEYWORDS)
OFFSETS = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))

literals = st.one_of(
    st.integers(0, 10**12).map(lambda v: ast.Literal(v, "int")),
    st.from_regex(r"[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True).map(lambda v: ast.Literal(Decimal(v), "decimal")),
    st.text(max_size=12).map(lambda v: ast.Literal(v, "string")),
    st.dates(dt.date(1000, 1, 1)).map(lambda v: ast.Literal(v, "date")),
    st.builds(lambda d, h, m, s, tz: ast.Literal(dt.datetime(d.year, d.month, d.day, h, m, s, tzinfo=tz), "datetime"),
              st.dates(dt.date(1000, 1, 1)), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59), OFFSETS),
    st.booleans().map(lambda v: ast.Literal(v, "bool")),
    st.just(ast.Literal(None, "null")),
)
leaves = st.one_of(NAMES.map(ast.Name), literals)
BINARY_OPS = ["or", "and", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "+", "-", "*"]


def _generators(children):
    return st.builds(ast.Generator, children, NAMES, children, st.none() | children)


def _extend(children):
    return st.one_of(
        st.builds(ast.Binary, st.sampled_from(BINARY_OPS), children, children),
        st.builds(ast.Unary, st.sampled_from(["not", "-"]), children),
        st.builds(ast.If, children, children, children),
        st.builds(ast.Attribute, children, NAMES),
        st.builds(ast.Lookup, children, children),
        st.builds(ast.Call, NAMES, st.lists(children, max_size=3).map(tuple)),
        st.builds(lambda f, g: ast.Call(f, (g,)), NAMES, _generators(children)),
        st.builds(ast.ListExpr, st.lists(children, max_size=3).map(tuple)),
        st.builds(ast.Comprehension, _generators(children)),
    )


expressions = st.recursive(leaves, _extend, max_leaves=14)


def noisy(e, rnd: random.Random, comments: bool) -> str:
    """`e` with a parenthesis around every compound part, random spaces, line breaks and comments."""
    def ws():
        choices = [" ", "  ", "\n", "\n    ", " \t"] + (["  # noise\n"] if comments else [])
        return rnd.choice(choices)

    def par(text):
        return f"({ws()}{text}{ws()})" if rnd.random() < 0.3 else text

    def sub(x):           # a sub-expression: parenthesised unless it is a leaf
        text = go(x)
        return text if isinstance(x, (ast.Name, ast.Literal)) else f"({ws()}{text}{ws()})"

    def gen(g):
        text = f"{sub(g.element)}{ws()}for{ws()}{g.var}{ws()}in{ws()}{sub(g.source)}"
        return text + (f"{ws()}where{ws()}{sub(g.condition)}" if g.condition is not None else "")

    def go(x):
        if isinstance(x, ast.Literal):
            return fmt.literal(x)
        if isinstance(x, ast.Name):
            return x.name
        if isinstance(x, ast.Attribute):
            return f"{sub(x.obj)}{ws()}.{ws()}{x.name}"
        if isinstance(x, ast.Lookup):
            return f"{sub(x.obj)}{ws()}[{ws()}{go(x.key)}{ws()}]"
        if isinstance(x, ast.Call):
            if len(x.args) == 1 and isinstance(x.args[0], ast.Generator):
                return f"{x.func}({ws()}{gen(x.args[0])}{ws()})"
            return f"{x.func}(" + f",{ws()}".join(par(go(a)) for a in x.args) + ")"
        if isinstance(x, ast.ListExpr):
            return "[" + f"{ws()},{ws()}".join(par(go(a)) for a in x.items) + "]"
        if isinstance(x, ast.Comprehension):
            return f"[{ws()}{gen(x.generator)}{ws()}]"
        if isinstance(x, ast.Unary):
            return f"{x.op}{ws()}{sub(x.operand)}"
        if isinstance(x, ast.Binary):
            op = x.op.replace(" ", ws())
            return f"{sub(x.left)}{ws()}{op}{ws()}{sub(x.right)}"
        if isinstance(x, ast.If):
            return f"if{ws()}{sub(x.condition)}{ws()}then{ws()}{sub(x.then)}{ws()}else{ws()}{sub(x.otherwise)}"
        raise AssertionError(x)

    return par(go(e))


SETTINGS = settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(expressions)
def test_printed_expressions_parse_back(e):
    assert parse_expression(fmt.expr(e)) == e


@SETTINGS
@given(expressions, expressions, st.randoms(use_true_random=False), st.booleans())
def test_generated_policies_keep_meaning_and_are_idempotent(e1, e2, rnd, with_comments):
    clauses = [f'when {noisy(e1, rnd, with_comments)}', "code X", 'source "s"', f"applies {noisy(e2, rnd, False)}"]
    rnd.shuffle(clauses)
    text = (f"def x = {noisy(e1, rnd, with_comments)}\n"
            f"output o for s in structures = {noisy(e2, rnd, with_comments)}\n"
            "rule r {\n  " + "\n  ".join(clauses) + "\n}\n")
    before = parse_module(text)
    out = format_source(text)
    assert parse_module(out).items == canonical(before.items)
    assert format_source(out) == out


@SETTINGS
@given(st.text())
def test_strings_round_trip(value):
    assert parse_expression(fmt.quote(value)).value == value


# ---- layout does not depend on spacing --------------------------------------------------
TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[ \t]+|\n|[^ \t\n"#]+')


def respace(text: str, rnd: random.Random) -> str:
    """The same policy with other runs of spaces (never none, never across a line break)."""
    out = []
    for tok in TOKENS.findall(text):
        if tok[0] in " \t":
            tok = rnd.choice([" ", "  ", "   ", "\t", " \t "])
        out.append(tok)
    return "".join(out)


@settings(max_examples=examples(30), deadline=None)
@given(st.sampled_from(BUNDLED), st.integers(0, 2**32))
def test_formatting_ignores_spacing(name, seed):
    rnd = random.Random(seed)
    text = bundled_text(name)
    assert format_source(respace(text, rnd)) == format_source(text)


def sprinkle(text: str, rnd: random.Random) -> str:
    """The policy with comments added: at the ends of some lines, and on new lines between some."""
    out = []
    for k, line in enumerate(text.split("\n")):
        if rnd.random() < 0.15:
            out.append(" " * rnd.randint(0, 6) + f"# own line {k}")
        out.append(line + (f"  # end {k}" if line.strip() and rnd.random() < 0.15 else ""))
    return "\n".join(out)


@settings(max_examples=examples(30), deadline=None)
@given(st.sampled_from(BUNDLED), st.integers(0, 2**32))
def test_comments_anywhere_are_kept_and_stable(name, seed):
    rnd = random.Random(seed)
    text = sprinkle(bundled_text(name), rnd)
    out = format_source(text)             # the soundness check also compares the comments
    assert comments(out) == comments(text)
    assert parse_module(out).items == canonical(parse_module(text).items)
    assert format_source(out) == out
