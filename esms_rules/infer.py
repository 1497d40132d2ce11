"""Types of expressions: inference, null-narrowing and the built-in functions.

`ExprChecker` is the part of the checker that reads expressions; `check.Checker` adds the
stages over declarations. Every type error becomes a diagnostic with the span of the
expression at fault, and `types` records the type of each expression for the compiler.
"""
from __future__ import annotations

from typing import Callable

import attrs
from dateutil import tz as dateutil_tz

from . import ast
from . import types as T
from .diagnostics import did_you_mean

BUILTINS = ("count", "sum", "distinct", "any", "all", "min", "max", "end_of_day", "round",
            "coalesce", "passes", "repeated")


@attrs.frozen
class Read:
    """Something a rule reads, recorded in traces: a fact path, a definition or an item field."""

    label: str          # e.g. `software.segur_referenced`, `n`, `s.casf_item`
    expr: ast.Expr


class Env:
    """Variables in scope, null-narrowed paths and the innermost iteration."""

    __slots__ = ("vars", "narrowed", "iteration")

    def __init__(self, vars=None, narrowed=None, iteration=None):
        self.vars = vars or {}
        self.narrowed = narrowed or {}
        self.iteration = iteration

    def bind(self, name, type_, iteration=False):
        current = None if name == self.iteration else self.iteration   # shadowed by a generator
        narrowed = {p: v for p, v in self.narrowed.items() if p.split(".", 1)[0] != name}
        return Env({**self.vars, name: type_}, narrowed, name if iteration else current)

    def narrow(self, paths):
        if not paths:
            return self
        return Env(self.vars, {**self.narrowed, **paths}, self.iteration)


def path_of(expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.name
    if isinstance(expr, ast.Attribute):
        base = path_of(expr.obj)
        return None if base is None else f"{base}.{expr.name}"
    return None


def null_tests(cond) -> tuple[dict, dict]:
    """Paths known non-null when `cond` is true, and when it is false."""
    if isinstance(cond, ast.Binary):
        if cond.op in ("==", "!=") and isinstance(cond.right, ast.Literal) and cond.right.kind == "null":
            p = path_of(cond.left)
            if p is not None:
                return ({}, {p: None}) if cond.op == "==" else ({p: None}, {})
        if cond.op == "and":
            a, b = null_tests(cond.left)[0], null_tests(cond.right)[0]
            return {**a, **b}, {}
        if cond.op == "or":
            a, b = null_tests(cond.left)[1], null_tests(cond.right)[1]
            return {}, {**a, **b}
    if isinstance(cond, ast.Unary) and cond.op == "not":
        yes, no = null_tests(cond.operand)
        return no, yes
    return {}, {}


def _show(e) -> str:
    p = path_of(e)
    return f"`{p}`" if p else "this expression"


def _ordered(t):
    return T.is_numeric(t) or t in (T.DATE, T.DATETIME) or T.is_textual(t)


class ExprChecker:
    """Infers and checks the types of expressions; needs the tables filled by the checker."""

    def literal_type(self, lit: ast.Literal) -> T.Type:
        return {"string": T.TEXT, "int": T.INT, "decimal": T.DECIMAL, "date": T.DATE,
                "datetime": T.DATETIME, "bool": T.BOOL, "null": T.NULL}[lit.kind]

    def literal_fits(self, lit: ast.Literal, t: T.Type, what: str) -> bool:
        base = T.strip(t)
        if isinstance(base, T.Enum) and lit.kind == "string":
            if lit.value not in base.values:
                self.error("unknown-enum-value", f"{what}: `\"{lit.value}\"` is not a value of `{base.name}`",
                           lit.span, did_you_mean(lit.value, base.values))
                return False
            return True
        if not T.fits(self.literal_type(lit), t):
            self.error("type-mismatch", f"{what} must be {t}, found {self.literal_type(lit)}", lit.span)
            return False
        return True

    def literals_fit_enum(self, expr, declared) -> bool:
        """`def call: call_kind? = if … then "national" else null`: string leaves typed by the declaration."""
        base = T.strip(declared)
        if not isinstance(base, T.Enum):
            return False
        if isinstance(expr, ast.If):
            return self.literals_fit_enum(expr.then, declared) and self.literals_fit_enum(expr.otherwise, declared)
        if isinstance(expr, ast.Literal) and expr.kind == "string":
            return self.literal_fits(expr, base, "this value")
        t = self.types.get(id(expr))
        return t is not None and T.fits(t, declared)

    def infer(self, e, env: Env) -> T.Type | None:
        t = self._infer(e, env)
        if t is not None and env.narrowed and isinstance(e, (ast.Name, ast.Attribute)) and path_of(e) in env.narrowed:
            t = T.strip(t)  # a path tested `!= null` on the way here
        if t is not None:
            self.types[id(e)] = t
        return t

    def expect(self, e, env, want: Callable[[T.Type], bool], what: str) -> T.Type | None:
        t = self.infer(e, env)
        if t is None or isinstance(t, T.Never):   # nothing: an unknown type or a cycle, reported already
            return None
        if isinstance(t, T.Optional) and want(t.inner):
            p = path_of(e)
            self.error("maybe-null", f"{_show(e)} may be null here", e.span,
                       f"test `{p} != null` first (e.g. `{p} != null and …`)" if p else None)
            return None
        if not want(t):
            self.error("type-mismatch", f"expected {what}, found {_show(e)} of type {t}", e.span)
            return None
        return t

    def _record(self, label, e):
        if self._reads is not None and label not in self._reads:
            self._reads[label] = Read(label, e)

    def _infer(self, e, env: Env):
        if isinstance(e, ast.Literal):
            return self.literal_type(e)
        if isinstance(e, ast.Name):
            return self.infer_name(e, env)
        if isinstance(e, ast.Attribute):
            ot = self.infer(e.obj, env)
            if ot is None:
                return None
            if isinstance(ot, T.Optional) and isinstance(ot.inner, T.Record):
                self.error("maybe-null", f"{_show(e.obj)} may be null here", e.obj.span)
                return None
            if not isinstance(ot, T.Record):
                self.error("not-a-record", f"{_show(e.obj)} is {ot}, it has no field `{e.name}`", e.span)
                return None
            f = ot.field(e.name)
            if f is None:
                self.error("unknown-field", f"record `{ot.name}` has no field `{e.name}`", e.span,
                           did_you_mean(e.name, [x.name for x in ot.fields]))
                return None
            self._record_path(e, env)
            return f.type
        if isinstance(e, ast.Lookup):
            return self.infer_lookup(e, env)
        if isinstance(e, ast.Call):
            return self.infer_call(e, env)
        if isinstance(e, ast.ListExpr):
            t = T.NEVER
            for item in e.items:
                it = self.infer(item, env)
                if it is None:
                    return None
                j = T.join(t, it)
                if j is None:
                    self.error("type-mismatch", f"list items mix {t} and {it}", item.span)
                    return None
                t = j
            return T.List(t)
        if isinstance(e, ast.Comprehension):
            el = self.infer_generator(e.generator, env)
            return None if el is None else T.List(el)
        if isinstance(e, ast.Generator):
            el = self.infer_generator(e, env)
            return None if el is None else T.List(el)
        if isinstance(e, ast.Unary):
            if e.op == "not":
                return self.expect(e.operand, env, lambda t: t == T.BOOL, "a condition (bool)") and T.BOOL
            return self.expect(e.operand, env, T.is_numeric, "a number")
        if isinstance(e, ast.If):
            self.expect(e.condition, env, lambda t: t == T.BOOL, "a condition (bool)")
            yes, no = null_tests(e.condition)
            a = self.infer(e.then, env.narrow(yes))
            b = self.infer(e.otherwise, env.narrow(no))
            if a is None or b is None:
                return None
            j = T.join(a, b)
            if j is None:
                self.error("type-mismatch", f"the branches of `if` give {a} and {b}", e.span)
            return j
        if isinstance(e, ast.Binary):
            return self.infer_binary(e, env)
        raise AssertionError(f"unknown expression {e!r}")

    def _record_path(self, e, env):
        p = path_of(e)
        if p is None:
            return
        root = p.split(".", 1)[0]
        if root == env.iteration or (root in self.facts and root not in env.vars):
            self._record(p, e)

    def infer_name(self, e: ast.Name, env: Env):
        n = e.name
        if n in env.vars:
            return env.vars[n]
        if n in self.facts:
            self._record_path(e, env)
            return self.facts[n].type
        if n in self.def_decls:
            info = self.use_def(n)
            if info is None:
                return None
            if info.params:
                self.error("missing-arguments", f"`{n}` takes {len(info.params)} argument(s): write `{n}(…)`", e.span)
                return None
            self._record(n, e)
            return info.type
        if n in self.tables:
            self.error("bare-table", f"table `{n}` must be looked up with a key: `{n}[…]`", e.span)
            return None
        if n in BUILTINS:
            self.error("bare-builtin", f"`{n}` is a function: write `{n}(…)`", e.span)
            return None
        known = list(env.vars) + list(self.facts) + list(self.def_decls) + list(self.tables)
        self.error("unknown-name", f"unknown name `{n}`", e.span, did_you_mean(n, known))
        return None

    def use_def(self, name):
        if self._deps is not None:
            self._deps.add(name)
        if name in self._inferring and name not in self.defs:
            return None
        return self.def_info(name)

    def infer_lookup(self, e: ast.Lookup, env):
        if not isinstance(e.obj, ast.Name) or e.obj.name not in self.tables:
            what = _show(e.obj)
            self.error("not-a-table", f"only tables can be looked up with `[…]`, not {what}", e.obj.span,
                       did_you_mean(e.obj.name, self.tables) if isinstance(e.obj, ast.Name) else None)
            return None
        table = self.tables[e.obj.name]
        kt = self.infer(e.key, env)
        if kt is None:
            return None
        if isinstance(kt, T.Optional):
            self.error("maybe-null", f"the key {_show(e.key)} may be null here", e.key.span)
            return None
        if not (T.fits(kt, table.key_type) or (T.is_textual(kt) and T.is_textual(table.key_type))):
            self.error("type-mismatch", f"table `{table.name}` is keyed by {table.key_type}, not {kt}", e.key.span)
            return None
        if isinstance(e.key, ast.Literal) and e.key.value not in table.mapping:
            self.error("unknown-table-key", f"table `{table.name}` has no key `{e.key.value}`", e.key.span,
                       did_you_mean(str(e.key.value), [str(k) for k in table.mapping]))
            return None
        if table.total and T.fits(kt, table.key_type):
            return table.value_type
        if isinstance(kt, T.Enum) and all(v in table.mapping for v in kt.values):
            return table.value_type
        return T.optional(table.value_type)

    def infer_generator(self, g: ast.Generator, env):
        st = self.infer(g.source, env)
        if st is None:
            return None
        if not isinstance(st, T.List):
            self.error("not-a-list", f"`for … in` needs a list, found {_show(g.source)} of type {st}", g.source.span)
            return None
        inner = env.bind(g.var, st.element)
        if g.condition is not None:
            self.expect(g.condition, inner, lambda t: t == T.BOOL, "a condition (bool)")
            inner = inner.narrow(null_tests(g.condition)[0])
        return self.infer(g.element, inner)

    def infer_call(self, e: ast.Call, env):
        f, args = e.func, e.args
        if f in self.def_decls:
            info = self.use_def(f)
            if info is None:
                return None
            if len(args) != len(info.params):
                self.error("wrong-arity", f"`{f}` takes {len(info.params)} argument(s), {len(args)} given", e.span)
                return None
            for a, (pname, pt) in zip(args, info.params):
                at = self.infer(a, env)
                if at is not None and not T.fits(at, pt):
                    self.error("type-mismatch", f"argument `{pname}` of `{f}` must be {pt}, found {at}", a.span)
            return info.type
        if f not in BUILTINS:
            self.error("unknown-function", f"unknown function `{f}`", e.span,
                       did_you_mean(f, list(BUILTINS) + [n for n, d in self.def_decls.items()
                                                        if getattr(d, "params", ())]))
            return None
        if f == "end_of_day":
            return self.infer_end_of_day(e, env)
        if f == "round":
            if len(args) != 2 or not isinstance(args[1], ast.Literal) or args[1].kind != "int" \
                    or not 0 <= args[1].value <= 10:   # more decimals than that fail at run time
                self.error("wrong-arity", "`round` takes a number and a whole number of decimals (0 to 10): "
                           "`round(x, 2)`", e.span)
                return None
            return self.expect(args[0], env, T.is_numeric, "a number") and T.DECIMAL
        if f == "coalesce":
            if len(args) != 2:
                self.error("wrong-arity", "`coalesce` takes a value that may be null and a fallback", e.span)
                return None
            a, b = self.infer(args[0], env), self.infer(args[1], env)
            if a is None or b is None:
                return None
            j = T.join(T.strip(a), b)
            if j is None:
                self.error("type-mismatch", f"`coalesce` mixes {a} and {b}", e.span)
            return j
        if len(args) != 1:
            self.error("wrong-arity", f"`{f}` takes one argument, {len(args)} given", e.span)
            return None
        a = args[0]
        if f == "passes":
            t = self.infer(a, env)
            if t is not None and not isinstance(t, T.Record):
                self.error("type-mismatch", f"`passes` needs an item of a list checked by `rule … for`, found {t}", a.span)
                return None
            if self._deps is not None and t is not None:
                self._deps.add(("passes", t.name))
            return T.BOOL
        if f == "repeated":
            if env.iteration is None or self._repeated is None:
                self.error("repeated-outside-rule", "`repeated` can only be used in a rule or exception with `for`",
                           e.span, "it tells whether an earlier item of the rule's list had the same key")
                return None
            kt = self.infer(a, env)
            if kt is not None and not (T.is_textual(kt) or kt == T.INT):
                self.error("type-mismatch", f"`repeated` needs a text or number key, found {kt}", a.span)
            if self._repeated is not None:
                self._repeated.append(a)
            return T.BOOL
        lt = self.infer(a, env)
        if lt is None:
            return None
        if not isinstance(lt, T.List):
            self.error("not-a-list", f"`{f}` needs a list, found {_show(a)} of type {lt}", a.span)
            return None
        el = lt.element
        if f == "count":
            return T.INT
        if f in ("any", "all"):
            if not (el == T.BOOL or isinstance(el, T.Never)):
                self.error("type-mismatch", f"`{f}` needs a list of conditions (bool), found {lt}", a.span)
                return None
            return T.BOOL
        if f == "sum":
            if not (T.is_numeric(el) or isinstance(el, T.Never)):
                self.error("type-mismatch", f"`sum` needs a list of numbers, found {lt}", a.span)
                return None
            return T.INT if isinstance(el, T.Never) else el
        if f == "distinct":
            return lt
        if f in ("min", "max"):
            if not (T.is_numeric(el) or el in (T.DATE, T.DATETIME, T.TEXT)):
                self.error("type-mismatch", f"`{f}` needs a list of numbers, dates or texts, found {lt}", a.span)
                return None
            return T.optional(el)
        raise AssertionError(f)

    def infer_end_of_day(self, e, env):
        args = e.args
        if len(args) != 2:
            self.error("wrong-arity", "`end_of_day` takes a date and a time zone: `end_of_day(2025-09-15, \"Europe/Paris\")`", e.span)
            return None
        self.expect(args[0], env, lambda t: t == T.DATE, "a date")
        z = args[1]
        if not (isinstance(z, ast.Literal) and z.kind == "string"):
            self.error("bad-time-zone", "the time zone must be written as a string, e.g. `\"Europe/Paris\"`", z.span)
            return None
        if not z.value or "/" not in z.value or dateutil_tz.gettz(z.value) is None:
            self.error("bad-time-zone", f"unknown time zone `{z.value}`", z.span,
                       did_you_mean(z.value, ["Europe/Paris", "Indian/Reunion", "America/Guadeloupe",
                                              "America/Martinique", "America/Cayenne", "Indian/Mayotte", "UTC"]))
            return None
        return T.DATETIME

    def infer_binary(self, e: ast.Binary, env):
        op = e.op
        if op in ("and", "or"):
            self.expect(e.left, env, lambda t: t == T.BOOL, "a condition (bool)")
            yes, no = null_tests(e.left)
            self.expect(e.right, env.narrow(yes if op == "and" else no), lambda t: t == T.BOOL, "a condition (bool)")
            return T.BOOL
        if op in ("==", "!="):
            a, b = self.infer(e.left, env), self.infer(e.right, env)
            if a is None or b is None:
                return T.BOOL
            for lit, other in ((e.right, a), (e.left, b)):
                base = T.strip(other)
                if isinstance(lit, ast.Literal) and lit.kind == "string" and isinstance(base, T.Enum):
                    self.literal_fits(lit, base, f"the comparison with {_show(e.left if lit is e.right else e.right)}")
                    return T.BOOL
            if T.join(a, b) is None or (isinstance(a, T.Null) and not isinstance(b, (T.Optional, T.Null))) \
                    or (isinstance(b, T.Null) and not isinstance(a, (T.Optional, T.Null))):
                self.error("type-mismatch", f"cannot compare {a} with {b}", e.span,
                           "a value that is never null is not compared with `null`" if T.NULL in (a, b) else None)
            return T.BOOL
        if op in ("<", "<=", ">", ">="):
            a = self.expect(e.left, env, _ordered, "a number, a date or a date-time")
            b = self.expect(e.right, env, _ordered, "a number, a date or a date-time")
            if a is not None and b is not None and not (T.is_numeric(a) and T.is_numeric(b)) and a != b \
                    and not (T.is_textual(a) and T.is_textual(b)):
                self.error("type-mismatch", f"cannot compare {a} with {b}", e.span,
                           "use `end_of_day(date, \"Europe/Paris\")` to compare a date with a date-time"
                           if {a, b} == {T.DATE, T.DATETIME} else None)
            return T.BOOL
        if op in ("in", "not in"):
            lt = self.infer(e.right, env)
            a = self.infer(e.left, env)
            if lt is None or a is None:
                return T.BOOL
            if not isinstance(lt, T.List):
                self.error("not-a-list", f"`{op}` needs a list on its right, found {lt}", e.right.span)
                return T.BOOL
            base = T.strip(a)
            if isinstance(base, T.Enum) and isinstance(e.right, ast.ListExpr):
                for item in e.right.items:
                    if isinstance(item, ast.Literal) and item.kind == "string":
                        self.literal_fits(item, base, f"the list compared with {_show(e.left)}")
                return T.BOOL
            if T.join(a, lt.element) is None:
                self.error("type-mismatch", f"cannot look for {a} in a {lt}", e.span)
            return T.BOOL
        if op in ("+", "-", "*"):
            a = self.expect(e.left, env, T.is_numeric, "a number")
            b = self.expect(e.right, env, T.is_numeric, "a number")
            if a is None or b is None:
                return None
            return T.INT if a == b == T.INT else T.DECIMAL
        raise AssertionError(op)
