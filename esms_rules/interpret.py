"""A short reference interpreter over the checked AST.

It is the executable definition of the language's meaning: slow, obvious, and written
independently of `compile.py`, which the tests hold to the same results
(`interpret(policy, facts) == compiled reasons-mode output`). Nothing here is used on the
evaluation path.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast, builtins, partial, runtime
from .check import CheckedPolicy, RuleInfo
from .runtime import Fired, ReasonsResult

_CMP: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "in": lambda a, b: a in b, "not in": lambda a, b: a not in b}


Env = dict[str, Any]
"""Variables in scope -> values (and "#repeated": {id(key): flag of the current item})."""


class _Interpreter(ast.ExprVisitor[Env, Any]):
    """The interpreting back end: `value_of(e, env)` is the value of `e`; built-in functions
    take their meaning from `builtins.TABLE[name].value(interp, call, env)`."""

    def __init__(self, policy: CheckedPolicy, facts: dict[str, Any]):
        self.p, self.facts = policy, facts
        self.values: dict[str, object] = {}
        self.failed: set[int] = set()
        self.fired: list[Fired] = []
        self.ok = self.rec = True

    def definition(self, name: str) -> Any:
        if name not in self.values:
            self.values[name] = self.value_of(self.p.defs[name].expr, {})
        return self.values[name]

    def value_of(self, e: ast.Expr, env: Env) -> Any:
        return self.visit(e, env)

    def visit_Literal(self, e: ast.Literal, env: Env) -> Any:
        return e.value

    def visit_Name(self, e: ast.Name, env: Env) -> Any:
        if e.name in env:
            return env[e.name]
        return self.facts[e.name] if e.name in self.facts else self.definition(e.name)

    def visit_Attribute(self, e: ast.Attribute, env: Env) -> Any:
        return self.value_of(e.obj, env)[e.name]

    def visit_Lookup(self, e: ast.Lookup, env: Env) -> Any:
        assert isinstance(e.obj, ast.Name)   # the checker allows only tables
        return self.p.tables[e.obj.name].mapping.get(self.value_of(e.key, env))

    def visit_ListExpr(self, e: ast.ListExpr, env: Env) -> Any:
        return [self.value_of(i, env) for i in e.items]

    def visit_Comprehension(self, e: ast.Comprehension, env: Env) -> Any:
        return self.visit_Generator(e.generator, env)

    def visit_Generator(self, g: ast.Generator, env: Env) -> Any:
        return [self.value_of(g.element, {**env, g.var: x}) for x in self.value_of(g.source, env)
                if g.condition is None or self.value_of(g.condition, {**env, g.var: x})]

    def visit_Unary(self, e: ast.Unary, env: Env) -> Any:
        v = self.value_of(e.operand, env)
        return (not v) if e.op == "not" else -v

    def visit_If(self, e: ast.If, env: Env) -> Any:
        return self.value_of(e.then if self.value_of(e.condition, env) else e.otherwise, env)

    def visit_Binary(self, e: ast.Binary, env: Env) -> Any:
        if e.op == "and":
            return self.value_of(e.left, env) and self.value_of(e.right, env)
        if e.op == "or":
            return self.value_of(e.left, env) or self.value_of(e.right, env)
        return _CMP[e.op](self.value_of(e.left, env), self.value_of(e.right, env))

    def visit_Call(self, e: ast.Call, env: Env) -> Any:
        if e.func not in self.p.defs:
            return builtins.TABLE[e.func].value(self, e, env)
        info = self.p.defs[e.func]
        args = {n: self.value_of(a, env) for (n, _), a in zip(info.params, e.args, strict=True)}
        return self.value_of(info.expr, {**env, **args})

    def rule(self, r: RuleInfo, env: Env, item: int) -> None:
        for x in r.exceptions:  # sorted by priority, highest first
            assert x.applies is not None
            if self.value_of(x.applies, env):
                if x.code is not None:
                    self.rule(x, env, item)
                return
        if r.when is None or self.value_of(r.when, env):
            self.fire(r, env, item)

    def fire(self, r: RuleInfo, env: Env, item: int) -> None:
        if r.severity != "warning":
            if item >= 0:
                assert r.binder is not None
                self.failed.add(id(env[r.binder.var]))
            else:
                self.ok = False
            if r.severity == "inadmissible":
                self.rec = False
        values = tuple(self.value_of(p, env) for p in r.message if not isinstance(p, str))
        self.fired.append(Fired(r.index, item, values))

    repeated_flags: Callable[[list[Any]], list[Any]] = staticmethod(runtime.repeated_flags)

    def item_rules(self, lst: str, rules: list[RuleInfo]) -> None:
        """The rules `for s in lst`, item by item (the keys of `repeated` computed first)."""
        items = self.facts[lst]
        var = {r.index: r.binder.var for r in rules if r.binder is not None}
        keys = {id(k): self.repeated_flags([self.value_of(k, {var[r.index]: s}) for s in items])
                for r in rules for x in r.walk() for k in x.repeated}
        for i, s in enumerate(items):
            for r in rules:
                self.rule(r, {var[r.index]: s, "#repeated": {k: v[i] for k, v in keys.items()}}, i)

    def item_output(self, o: Any, env: Env) -> Any:
        """An output `for s in list`: its value for each item."""
        return [self.value_of(o.expr, {**env, o.binder.var: s}) for s in self.facts[o.binder.list_name]]

    def outputs(self, eligible: Any) -> tuple[Any, ...]:
        env: Env = {"eligible": eligible}
        return tuple(self.value_of(o.expr, env) if o.binder is None else self.item_output(o, env)
                     for o in self.p.outputs.values())

    def rules(self) -> None:
        p = self.p
        for lst in p.item_lists:
            self.item_rules(lst, p.item_rules(lst))
        for r in p.rules:
            if r.binder is None:
                self.rule(r, {}, -1)

    def run(self) -> ReasonsResult:
        self.rules()
        return ReasonsResult(self.ok, self.rec, self.outputs(self.ok), self.fired)


def interpret(policy: CheckedPolicy, facts: dict[str, Any]) -> ReasonsResult:
    """What the compiled evaluator's "reasons" mode returns, computed by walking the checked AST."""
    return _Interpreter(policy, facts).run()


# ---- three-valued mode (dossiers still being written: docs/partial.md) ----------------------
class _PartialInterpreter(_Interpreter):
    """The same walk in Kleene's three-valued logic: a fact may be `partial.Unknown`. Every value
    goes through the operations of `esms_rules.partial`, which the generated three-valued code
    calls too; what this class defines on its own is the walk: what is evaluated, in what order,
    under which guard (short-circuits, if-then-else, exceptions, items)."""

    def __init__(self, policy: CheckedPolicy, facts: dict[str, Any]):
        super().__init__(policy, facts)
        self.failed3: dict[int, Any] = {}
        self.fired3: list[partial.PartialFired] = []
        self.ok3: Any = True
        self.rec3: Any = True

    def visit_Attribute(self, e: ast.Attribute, env: Env) -> Any:
        return partial.attr(self.value_of(e.obj, env), e.name)

    def visit_Lookup(self, e: ast.Lookup, env: Env) -> Any:
        assert isinstance(e.obj, ast.Name)
        return partial.lookup(self.p.tables[e.obj.name].mapping, self.value_of(e.key, env), False)

    def visit_Generator(self, g: ast.Generator, env: Env) -> Any:
        cond = g.condition
        return partial.comprehension(
            self.value_of(g.source, env),
            None if cond is None else (lambda x: self.value_of(cond, {**env, g.var: x})),
            lambda x: self.value_of(g.element, {**env, g.var: x}))

    def visit_Unary(self, e: ast.Unary, env: Env) -> Any:
        v = self.value_of(e.operand, env)
        return partial.NOT(v) if e.op == "not" else partial.neg(v)

    def visit_If(self, e: ast.If, env: Env) -> Any:
        c = self.value_of(e.condition, env)
        if c is True:
            return self.value_of(e.then, env)
        if c is False:
            return self.value_of(e.otherwise, env)
        return partial.either(c, self.value_of(e.then, env), self.value_of(e.otherwise, env))

    def visit_Binary(self, e: ast.Binary, env: Env) -> Any:
        op = e.op
        if op in ("and", "or"):
            a = self.value_of(e.left, env)
            if a is (op == "or"):      # False and …, True or …: the right side is not evaluated
                return a
            b = self.value_of(e.right, env)
            return partial.AND(a, b) if op == "and" else partial.OR(a, b)
        a, b = self.value_of(e.left, env), self.value_of(e.right, env)
        if op == "in":
            return partial.member(a, b)
        if op == "not in":
            return partial.NOT(partial.member(a, b))
        if op in ("+", "-", "*"):
            return partial.arith(op, a, b)
        return partial.cmp(op, a, b)

    def visit_Call(self, e: ast.Call, env: Env) -> Any:
        f = e.func
        if f in self.p.defs:
            return super().visit_Call(e, env)

        def arg() -> Any:
            return self.value_of(e.args[0], env)
        if f == "count":
            return partial.count(arg())
        if f == "sum":
            return partial.total(arg())
        if f in ("min", "max"):
            return partial.extremum(arg(), min if f == "min" else max)
        if f == "any":
            return partial.any_of(arg())
        if f == "all":
            return partial.all_of(arg())
        if f == "distinct":
            return partial.distinct(arg())
        if f == "coalesce":
            return partial.coalesce(arg(), self.value_of(e.args[1], env))
        if f == "passes":
            return partial.passes(self.failed3, arg())
        if f == "repeated":
            return env["#repeated"][id(e.args[0])]
        # any other built-in: unknown as soon as one argument is, else its own meaning
        values = [a.value if isinstance(a, ast.Literal) else self.value_of(a, env) for a in e.args]
        if any(partial.has_unknown(v) for v in values):
            return partial.unknown(*values)
        return builtins.TABLE[f].value(self, e, env)

    def rule(self, r: RuleInfo, env: Env, item: int, guard: Any = True) -> None:
        """`guard`: whether the evaluation reaches `r` (no exception of higher rank applies)."""
        for x in r.exceptions:
            assert x.applies is not None
            a = self.value_of(x.applies, env)
            if x.code is not None and a is not False:
                self.rule(x, env, item, partial.AND(guard, a))
            guard = partial.AND(guard, partial.NOT(a))
            if guard is False:
                return
        status = guard if r.when is None else partial.AND(guard, self.value_of(r.when, env))
        if status is not False:
            self.fire3(r, env, item, status)

    def fire3(self, r: RuleInfo, env: Env, item: int, status: Any) -> None:
        if r.severity != "warning":
            if item >= 0:
                assert r.binder is not None
                partial.fail(self.failed3, env[r.binder.var], status)
            else:
                self.ok3 = partial.AND(self.ok3, partial.NOT(status))
            if r.severity == "inadmissible":
                self.rec3 = partial.AND(self.rec3, partial.NOT(status))
        values = tuple(self.value_of(p, env) for p in r.message if not isinstance(p, str))
        self.fired3.append(partial.PartialFired(r.index, item, status, values))

    repeated_flags = staticmethod(partial.repeated_flags)

    def item_rules(self, lst: str, rules: list[RuleInfo]) -> None:
        items = self.facts[lst]
        if not partial.is_unknown(items):
            super().item_rules(lst, rules)
            return
        # the list itself is unknown: each coded rule may be raised for any of its items
        status = partial.Unknown(items.paths)
        for x in (x for r in rules for x in r.walk() if x.code is not None):
            holes = tuple(status for m in x.message if not isinstance(m, str))
            self.fired3.append(partial.PartialFired(x.index, partial.ANY_ITEM, status, holes))

    def item_output(self, o: Any, env: Env) -> Any:
        items = self.facts[o.binder.list_name]
        return partial.Unknown(items.paths) if partial.is_unknown(items) else super().item_output(o, env)

    def run3(self) -> partial.PartialResult:
        self.rules()
        return partial.PartialResult(self.ok3, self.rec3, self.outputs(self.ok3), self.fired3)


def interpret_partial(policy: CheckedPolicy, facts: dict[str, Any]) -> partial.PartialResult:
    """The three-valued meaning of the policy over facts some of which are `partial.Unknown`
    (`partial.PartialValidator`): what the generated three-valued evaluator returns."""
    return _PartialInterpreter(policy, facts).run3()
