"""A short reference interpreter over the checked AST.

It is the executable definition of the language's meaning: slow, obvious, and written
independently of `compile.py`, which the tests hold to the same results
(`interpret(policy, facts) == compiled reasons-mode output`). Nothing here is used on the
evaluation path.
"""
from __future__ import annotations

from . import ast, runtime
from .runtime import Fired, ReasonsResult
from .check import CheckedPolicy, RuleInfo

_CMP = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
        "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
        "in": lambda a, b: a in b, "not in": lambda a, b: a not in b}


class _Interpreter:
    def __init__(self, policy: CheckedPolicy, facts: dict):
        self.p, self.facts = policy, facts
        self.values: dict[str, object] = {}
        self.failed: set[int] = set()
        self.fired: list[tuple] = []
        self.ok = self.rec = True

    def definition(self, name):
        if name not in self.values:
            self.values[name] = self.value_of(self.p.defs[name].expr, {})
        return self.values[name]

    def value_of(self, e, env: dict):
        if isinstance(e, ast.Literal):
            return e.value
        if isinstance(e, ast.Name):
            if e.name in env:
                return env[e.name]
            return self.facts[e.name] if e.name in self.facts else self.definition(e.name)
        if isinstance(e, ast.Attribute):
            return self.value_of(e.obj, env)[e.name]
        if isinstance(e, ast.Lookup):
            return self.p.tables[e.obj.name].mapping.get(self.value_of(e.key, env))
        if isinstance(e, ast.ListExpr):
            return [self.value_of(i, env) for i in e.items]
        if isinstance(e, (ast.Comprehension, ast.Generator)):
            g = e.generator if isinstance(e, ast.Comprehension) else e
            return [self.value_of(g.element, {**env, g.var: x}) for x in self.value_of(g.source, env)
                    if g.condition is None or self.value_of(g.condition, {**env, g.var: x})]
        if isinstance(e, ast.Unary):
            v = self.value_of(e.operand, env)
            return (not v) if e.op == "not" else -v
        if isinstance(e, ast.If):
            return self.value_of(e.then if self.value_of(e.condition, env) else e.otherwise, env)
        if isinstance(e, ast.Binary):
            if e.op == "and":
                return self.value_of(e.left, env) and self.value_of(e.right, env)
            if e.op == "or":
                return self.value_of(e.left, env) or self.value_of(e.right, env)
            return _CMP[e.op](self.value_of(e.left, env), self.value_of(e.right, env))
        if isinstance(e, ast.Call):
            return self.call(e, env)
        raise AssertionError(e)

    def call(self, e: ast.Call, env):
        f, args = e.func, e.args
        if f in self.p.defs:
            info = self.p.defs[f]
            return self.value_of(info.expr, {**env, **{n: self.value_of(a, env) for (n, _), a in zip(info.params, args)}})
        if f == "end_of_day":
            return runtime.end_of_day(self.value_of(args[0], env), args[1].value)
        if f == "round":
            return runtime.round_half_up(self.value_of(args[0], env), args[1].value)
        if f == "coalesce":
            return runtime.coalesce(self.value_of(args[0], env), self.value_of(args[1], env))
        if f == "passes":
            return id(self.value_of(args[0], env)) not in self.failed
        if f == "repeated":
            return env["#repeated"][id(args[0])]
        items = self.value_of(args[0], env)
        return {"count": len, "any": any, "all": all, "distinct": runtime.distinct,
                "sum": lambda xs: sum(xs, 0), "min": lambda xs: min(xs, default=None),
                "max": lambda xs: max(xs, default=None)}[f](items)

    def rule(self, r: RuleInfo, env, item):
        for x in r.exceptions:  # sorted by priority, highest first
            if self.value_of(x.applies, env):
                if x.code is not None:
                    self.rule(x, env, item)
                return
        if r.when is None or self.value_of(r.when, env):
            self.fire(r, env, item)

    def fire(self, r: RuleInfo, env, item):
        if r.severity != "warning":
            if item >= 0:
                self.failed.add(id(env[r.binder.var]))
            else:
                self.ok = False
            if r.severity == "inadmissible":
                self.rec = False
        values = tuple(self.value_of(p, env) for p in r.message if not isinstance(p, str))
        self.fired.append(Fired(r.index, item, values))

    def run(self):
        p = self.p
        for lst in p.item_lists:
            rules = p.item_rules(lst)
            keys = {id(k): runtime.repeated_flags([self.value_of(k, {r.binder.var: s}) for s in self.facts[lst]])
                    for r in rules for x in r.walk() for k in x.repeated}
            for i, s in enumerate(self.facts[lst]):
                for r in rules:
                    self.rule(r, {r.binder.var: s, "#repeated": {k: v[i] for k, v in keys.items()}}, i)
        for r in p.rules:
            if r.binder is None:
                self.rule(r, {}, -1)
        outs = []
        for o in p.outputs.values():
            env = {"eligible": self.ok}
            if o.binder is None:
                outs.append(self.value_of(o.expr, env))
            else:
                outs.append([self.value_of(o.expr, {**env, o.binder.var: s}) for s in self.facts[o.binder.list_name]])
        return ReasonsResult(self.ok, self.rec, tuple(outs), self.fired)


def interpret(policy: CheckedPolicy, facts: dict):
    """`(ok, recevable, outputs, fired)`, as the compiled evaluator's "reasons" mode returns."""
    return _Interpreter(policy, facts).run()
