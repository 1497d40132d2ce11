"""One walk over expressions (ast.ExprVisitor) and one table of built-ins (builtins.TABLE).

Every back end implements every node; a back end that misses one cannot be built (and mypy
says so); every built-in has its type rule, Python form and interpreter form, and the
interpreter and the compiled evaluator agree on each of them.
"""
import datetime as dt
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from esms_rules import ast, builtins, infer
from esms_rules.check import Checker
from esms_rules.compile import _Gen
from esms_rules.fmt import _ExprText
from esms_rules.interpret import _Interpreter, interpret
from esms_rules.policy import Policy
from esms_rules.runtime import DecisionResult, Fired, Outcome, ReasonsResult, TraceRecord, TraceResult

BACK_ENDS = [Checker, _Gen, _Interpreter, _ExprText]


def test_the_visitor_has_one_method_per_expression_node():
    assert len(ast.EXPR_NODES) == 11
    assert ast.ExprVisitor.__abstractmethods__ == {"visit_" + c.__name__ for c in ast.EXPR_NODES}


@pytest.mark.parametrize("cls", BACK_ENDS, ids=lambda c: c.__name__)
def test_every_back_end_handles_every_node(cls):
    assert issubclass(cls, ast.ExprVisitor)
    assert not cls.__abstractmethods__


def test_a_back_end_missing_a_node_cannot_be_built():
    class Partial(ast.ExprVisitor):
        def visit_Literal(self, e, ctx):
            return e.value

    with pytest.raises(TypeError, match="abstract"):
        Partial()


MISSING = """
from esms_rules import ast

class Partial(ast.ExprVisitor[None, str]):
    def visit_Literal(self, e: ast.Literal, ctx: None) -> str:
        return ""

Partial()
"""


def test_mypy_reports_a_back_end_missing_a_node(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "partial.py").write_text(MISSING)
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-incremental",
                          str(tmp_path / "partial.py")], capture_output=True, text=True, cwd=root,
                         env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'Cannot instantiate abstract class "Partial"' in out.stdout


def test_the_table_is_the_list_of_built_ins():
    assert infer.BUILTINS == builtins.NAMES == tuple(builtins.TABLE)
    assert set(builtins.NAMES) == {"count", "sum", "distinct", "any", "all", "min", "max", "end_of_day",
                                   "round", "coalesce", "passes", "repeated", "luhn_valid"}
    for b in builtins.TABLE.values():
        assert callable(b.infer) and callable(b.python) and callable(b.value)
        assert b.usage.startswith(b.name + "(")


# A policy calling every built-in, in rules over items and on the dossier.
EVERY_BUILTIN = '''policy "every-builtin" {}
codes { A B C D E }
enum kind { "x", "y" }
record item {
  key: text
  number: text
  n: int
  share: decimal
  ok: bool
}
fact items: list of item
fact day: date
fact at: datetime
fact bonus: int?

rule dup for s in items {
  code A
  severity blocking
  when repeated(s.key)
  message "twice {s.key}"
  source "s"
}
rule small for s in items {
  code B
  severity blocking
  when s.n < 1
  message "small {s.n}"
  source "s"
}
rule bad_key for s in items {
  code E
  severity warning
  when not luhn_valid(s.number)
  message "key {s.number}"
  source "s"
}
def good = [s for s in items where passes(s)]
def total = sum(s.n for s in good)
def shares = [s.share for s in items]
def keys = distinct(s.key for s in items)
def late = at >= end_of_day(day, "Europe/Paris")
rule dossier {
  code C
  severity warning
  when count(good) < 2 or not any(s.ok for s in items) or all([s.ok for s in good]) or late
  message "{total} {count(keys)} {min(shares)} {max(shares)} {round(coalesce(max(shares), 0) * 3, 2)}"
  source "s"
}
rule bonus_rule {
  code D
  severity inadmissible
  when coalesce(bonus, 0) + count(distinct(keys)) > 4 and min(s.n for s in items) != null
  message "{coalesce(bonus, -1)}"
  source "s"
}
output total_out = total
output best = max(s.n for s in good)
'''


def _facts(seed):
    import random
    rnd = random.Random(seed)
    items = [{"key": rnd.choice("abcd"), "n": rnd.randint(0, 3), "share": Decimal(rnd.randint(0, 100)) / 100,
              "ok": rnd.random() < 0.5,
              "number": rnd.choice(["590000014", "590000015", "2A0000001", "7", "", "79927398713"])}
             for _ in range(rnd.randint(0, 6))]
    day = dt.date(2025, 3, 30) + dt.timedelta(days=rnd.randint(-2, 2))
    at = dt.datetime(2025, 3, 30, rnd.randint(0, 23), tzinfo=dt.UTC)
    return {"items": items, "day": day, "at": at, "bonus": rnd.choice([None, 0, 3])}


@pytest.fixture(scope="module")
def every_builtin():
    return Policy.from_text(EVERY_BUILTIN)


def test_every_built_in_is_used(every_builtin):
    used = set()
    for info in list(every_builtin.checked.defs.values()):
        stack = [info.expr]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.Call):
                used.add(e.func)
            stack.extend(ast.children(e))
    for r in every_builtin.checked.all_rules:
        stack = [x for x in (r.when,) + tuple(p for p in r.message if not isinstance(p, str)) if x is not None]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.Call):
                used.add(e.func)
            stack.extend(ast.children(e))
    assert used >= set(builtins.NAMES)


@pytest.mark.parametrize("seed", range(40))
def test_interpreter_and_compiled_agree_on_every_built_in(every_builtin, seed):
    facts = _facts(seed)
    want = interpret(every_builtin.checked, facts)
    assert isinstance(want, ReasonsResult) and all(isinstance(f, Fired) for f in want.fired)
    got = every_builtin.compiled("reasons")(facts)
    assert type(got) is ReasonsResult
    assert got == want
    decided = every_builtin.compiled("decision")(facts)
    assert type(decided) is DecisionResult and decided == want[:3]
    traced = every_builtin.compiled("trace")(facts)
    assert type(traced) is TraceResult and traced[:3] == want[:3]
    assert all(type(r) is TraceRecord and type(r.outcome) is Outcome for r in traced.trace_records())
    assert [tuple(r) for r in traced.trace_records()] == traced.records
    assert sorted(traced.fired()) == sorted(want.fired)


def test_outcome_labels():
    assert [o.label for o in Outcome] == ["passed", "fired", "overridden", "not-applicable", "lifted"]
    assert [int(o) for o in Outcome] == [0, 1, 2, 3, 4]
