"""A short reference interpreter over the checked AST.

It is the executable definition of the language's meaning: slow, obvious, and written
independently of `compile.py`, which the tests hold to the same results
(`interpret(policy, facts) == compiled reasons-mode output`). Nothing here is used on the
evaluation path.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import ast, builtins, runtime
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

    def run(self) -> ReasonsResult:
        p = self.p
        for lst in p.item_lists:
            rules = p.item_rules(lst)
            var = {r.index: r.binder.var for r in rules if r.binder is not None}
            keys = {id(k): runtime.repeated_flags([self.value_of(k, {var[r.index]: s}) for s in self.facts[lst]])
                    for r in rules for x in r.walk() for k in x.repeated}
            for i, s in enumerate(self.facts[lst]):
                for r in rules:
                    self.rule(r, {var[r.index]: s, "#repeated": {k: v[i] for k, v in keys.items()}}, i)
        for r in p.rules:
            if r.binder is None:
                self.rule(r, {}, -1)
        outs = []
        for o in p.outputs.values():
            env: Env = {"eligible": self.ok}
            if o.binder is None:
                outs.append(self.value_of(o.expr, env))
            else:
                outs.append([self.value_of(o.expr, {**env, o.binder.var: s}) for s in self.facts[o.binder.list_name]])
        return ReasonsResult(self.ok, self.rec, tuple(outs), self.fired)


def interpret(policy: CheckedPolicy, facts: dict[str, Any]) -> ReasonsResult:
    """What the compiled evaluator's "reasons" mode returns, computed by walking the checked AST."""
    return _Interpreter(policy, facts).run()
