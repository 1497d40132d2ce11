"""The generated three-valued evaluator: compile.py's generator, subclassed (`PartialGen`).

Every operation where an unknown value matters goes through partial_logic.py (`_p.…` in the
generated code), and the built-ins' Python forms call its three-valued helpers (`_rt.…`).
Rules are evaluated under a guard (whether the evaluation reaches them) and fire with it as
their status. The generated function takes facts from `partial.PartialValidator` and returns a
`partial_logic.PartialResult`; `interpret.interpret_partial` is held equal to it by the tests.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast, builtins, partial_logic, runtime
from .check_result import CheckedPolicy, RuleInfo
from .compile import BUILTINS, Scope, _Gen, load_source
from .partial_logic import PartialFired, PartialResult
from .runtime import NO_ITEM, ReasonsResult


class _Runtime:
    """What `_rt.…` means in three-valued generated code: the helpers compile.py's generator
    and the built-ins' Python forms call, in their three-valued versions."""

    repeated_flags = staticmethod(partial_logic.repeated_flags)
    end_of_day = staticmethod(partial_logic.end_of_day)
    round_half_up = staticmethod(partial_logic.round_half_up)
    coalesce = staticmethod(partial_logic.coalesce)
    distinct = staticmethod(partial_logic.distinct)
    luhn_valid = staticmethod(runtime.luhn_valid)   # called only with known values (call_builtin)


_BUILTIN_FORMS = {
    "count": "_p.count({})", "sum": "_p.total({})", "any": "_p.any_of({})", "all": "_p.all_of({})",
    "distinct": "_p.distinct({})", "min": "_p.extremum({}, min)", "max": "_p.extremum({}, max)",
}


class PartialGen(_Gen):
    """compile.py's generator, three-valued: every operation where an unknown value matters goes
    through partial_logic.py's functions (`_p.…`); rules are evaluated under a guard (whether the
    evaluation reaches them), and fire with it as their status. The generated function takes
    facts from `PartialValidator` and returns a `PartialResult`."""

    FAILED_INIT = "{}"

    def __init__(self, policy: CheckedPolicy):
        super().__init__(policy, "reasons")
        self.consts["_rt"] = _Runtime
        self.consts["_p"] = partial_logic

    def new(self, cls: type) -> str:
        return super().new(PartialResult if cls is ReasonsResult else cls)

    def visit_Attribute(self, e: ast.Attribute, scope: Scope) -> str:
        return f"_p.attr({self.expr(e.obj, scope)}, {e.name!r})"

    def visit_Lookup(self, e: ast.Lookup, scope: Scope) -> str:
        assert isinstance(e.obj, ast.Name)
        table = self.p.tables[e.obj.name]
        total = self.p.type_of(e) == table.value_type
        return f"_p.lookup({self.const(table.mapping, 'TABLE')}, {self.expr(e.key, scope)}, {total!r})"

    def visit_ListExpr(self, e: ast.ListExpr, scope: Scope) -> str:
        return "[" + ", ".join(self.expr(i, scope) for i in e.items) + "]"

    def visit_Comprehension(self, e: ast.Comprehension, scope: Scope) -> str:
        return self.visit_Generator(e.generator, scope)

    def visit_Generator(self, g: ast.Generator, scope: Scope) -> str:
        var = self.fresh("g")
        inner = {**scope, g.var: var}
        cond = "None" if g.condition is None else f"lambda {var}: {self.expr(g.condition, inner)}"
        return f"_p.comprehension({self.expr(g.source, scope)}, {cond}, lambda {var}: {self.expr(g.element, inner)})"

    def iterable(self, a: ast.Expr, scope: Scope) -> str:
        return self.expr(a, scope)

    def visit_Unary(self, e: ast.Unary, scope: Scope) -> str:
        return f"_p.{'NOT' if e.op == 'not' else 'neg'}({self.expr(e.operand, scope)})"

    def visit_If(self, e: ast.If, scope: Scope) -> str:
        return (f"_p.if_then({self.expr(e.condition, scope)}, lambda: {self.expr(e.then, scope)}, "
                f"lambda: {self.expr(e.otherwise, scope)})")

    def visit_Binary(self, e: ast.Binary, scope: Scope) -> str:
        a, b, op = self.expr(e.left, scope), self.expr(e.right, scope), e.op
        if op == "and":
            return f"_p.and_then({a}, lambda: {b})"
        if op == "or":
            return f"_p.or_else({a}, lambda: {b})"
        if op == "in":
            return f"_p.member({a}, {b})"
        if op == "not in":
            return f"_p.NOT(_p.member({a}, {b}))"
        if op in ("+", "-", "*"):
            return f"_p.arith({op!r}, {a}, {b})"
        return f"_p.cmp({op!r}, {a}, {b})"

    def visit_Call(self, e: ast.Call, scope: Scope) -> str:
        f = e.func
        if f in self.p.defs:
            return super().visit_Call(e, scope)
        if f in _BUILTIN_FORMS:
            return _BUILTIN_FORMS[f].format(self.expr(e.args[0], scope))
        if f == "passes":
            self.uses_failed = True
            return f"_p.passes(FAILED, {self.expr(e.args[0], scope)})"
        if f in ("repeated", "end_of_day", "round", "coalesce"):   # three-valued through `_rt`
            return builtins.TABLE[f].python(self, e, scope)
        # any other built-in: unknown as soon as an argument is, else its own Python form
        # over its arguments' values, bound to the parameters of a lambda
        params: list[str] = []
        values: list[str] = []
        args: list[ast.Expr] = []
        for a in e.args:
            if isinstance(a, ast.Literal):
                args.append(a)
                continue
            v = self.fresh("b")
            params.append(v)
            values.append(self.expr(a, scope))
            args.append(ast.Name(v))
            scope = {**scope, v: v}
        body = builtins.TABLE[f].python(self, ast.Call(f, tuple(args)), scope)
        return f"_p.call_builtin(lambda {', '.join(params)}: {body}, {', '.join(values)})"

    # -- rules, under a guard
    def rule(self, r: RuleInfo, scope: Scope, depth: int, item: str, guard: str = "True") -> None:
        g = self.fresh("guard")
        self.emit(f"{g} = {guard}", depth)
        for x in r.exceptions:
            assert x.applies is not None
            self.emit(f"if {g} is not False:", depth)
            a = self.fresh("a")
            self.emit(f"{a} = {self.expr(x.applies, scope)}", depth + 1)
            if x.code is not None:
                self.emit(f"if {a} is not False:", depth + 1)
                self.rule(x, scope, depth + 2, item, f"_p.AND({g}, {a})")
            self.emit(f"{g} = _p.AND({g}, _p.NOT({a}))", depth + 1)
        self.emit(f"if {g} is not False:", depth)
        status = g
        if r.when is not None:
            status = self.fresh("st")
            self.emit(f"{status} = _p.AND({g}, {self.expr(r.when, scope)})", depth + 1)
        self.emit(f"if {status} is not False:", depth + 1)
        self.fire3(r, scope, depth + 2, item, status)

    def fire3(self, r: RuleInfo, scope: Scope, depth: int, item: str, status: str) -> None:
        if r.severity in ("blocking", "inadmissible"):
            if item:
                self.uses_failed = True
                assert r.binder is not None
                self.emit(f"_p.fail(FAILED, {scope[r.binder.var]}, {status})", depth)
            else:
                self.emit(f"ok = _p.AND(ok, _p.NOT({status}))", depth)
            if r.severity == "inadmissible":
                self.emit(f"rec = _p.AND(rec, _p.NOT({status}))", depth)
        values = "(" + "".join(self.expr(p, scope) + ", " for p in r.message if not isinstance(p, str)) + ")"
        self.emit(f"FIRED.append({self.const(PartialFired, 'SHAPE')}({r.index}, {item or NO_ITEM}, {status}, "
                  f"{values}))", depth)

    def items_loop(self, list_name: str, depth: int) -> None:
        src = self.names[list_name]
        rules = [(x.index, sum(1 for m in x.message if not isinstance(m, str)))
                 for r in self.p.item_rules(list_name) for x in r.walk() if x.code is not None]
        self.emit(f"if _p.is_unknown({src}):", depth)
        self.emit(f"FIRED.extend(_p.unknown_items({src}, {rules!r}))", depth + 1)
        self.emit("else:", depth)
        super().items_loop(list_name, depth + 1)

    def item_output(self, element: str, var: str, list_code: str) -> str:
        known = super().item_output(element, var, list_code)
        return f"(_p.Unknown({list_code}.paths) if _p.is_unknown({list_code}) else {known})"


def emit_partial(policy: CheckedPolicy) -> tuple[str, dict[str, object]]:
    """The Python source of the three-valued evaluator, and the constants it refers to."""
    g = PartialGen(policy)
    return g.function(), g.consts


def compile_partial(policy: CheckedPolicy) -> Callable[[dict[str, Any]], PartialResult]:
    """`evaluate(facts) -> PartialResult`, facts from `PartialValidator` (some `Unknown`)."""
    source, consts = emit_partial(policy)
    fn: Callable[[dict[str, Any]], PartialResult] = load_source(source, consts, "evaluate", BUILTINS,
                                                                 f"{policy.id} partial")
    return fn
