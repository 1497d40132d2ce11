"""Types of expressions: inference, null-narrowing and the built-in functions.

`ExprChecker` is the part of the checker that reads expressions; `check.Checker` adds the
stages over declarations. Every type error becomes a diagnostic with the span of the
expression at fault, and `types` records the type of each expression for the compiler.
"""
from __future__ import annotations

import abc
from typing import Any, Callable, Iterable, Optional

import attrs

from . import ast
from . import types as T
from .builtins import NAMES as BUILTINS
from .builtins import TABLE
from .diagnostics import did_you_mean
from .span import Span


@attrs.frozen
class Read:
    """Something a rule reads, recorded in traces: a fact path, a definition or an item field."""

    label: str          # e.g. `software.segur_referenced`, `n`, `s.casf_item`
    expr: ast.Expr


class Env:
    """Variables in scope, null-narrowed paths and the innermost iteration."""

    __slots__ = ("vars", "narrowed", "iteration")

    def __init__(self, vars: dict[str, T.Type] | None = None, narrowed: dict[str, None] | None = None,
                 iteration: str | None = None):
        self.vars = vars or {}
        self.narrowed = narrowed or {}
        self.iteration = iteration

    def bind(self, name: str, type_: T.Type, iteration: bool = False) -> Env:
        current = None if name == self.iteration else self.iteration   # shadowed by a generator
        narrowed = {p: v for p, v in self.narrowed.items() if p.split(".", 1)[0] != name}
        return Env({**self.vars, name: type_}, narrowed, name if iteration else current)

    def narrow(self, paths: dict[str, None]) -> Env:
        if not paths:
            return self
        return Env(self.vars, {**self.narrowed, **paths}, self.iteration)


def path_of(expr: ast.Expr) -> str | None:
    if isinstance(expr, ast.Name):
        return expr.name
    if isinstance(expr, ast.Attribute):
        base = path_of(expr.obj)
        return None if base is None else f"{base}.{expr.name}"
    return None


def null_tests(cond: ast.Expr) -> tuple[dict[str, None], dict[str, None]]:
    """Paths known non-null when `cond` is true, and when it is false."""
    if isinstance(cond, ast.Binary):
        if cond.op in ("==", "!=") and ast.is_null(cond.right):
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


def _show(e: ast.Expr) -> str:
    p = path_of(e)
    return f"`{p}`" if p else "this expression"


def _ordered(t: T.Type) -> bool:
    return T.is_numeric(t) or t in (T.DATE, T.DATETIME) or T.is_textual(t)


_LITERAL_TYPES: dict[str, T.Type] = {"string": T.TEXT, "int": T.INT, "decimal": T.DECIMAL, "date": T.DATE,
                                     "datetime": T.DATETIME, "bool": T.BOOL, "null": T.NULL}


class ExprChecker(ast.ExprVisitor[Env, Optional[T.Type]]):
    """Infers and checks the types of expressions; needs the tables filled by the checker.

    It is the type-checking back end of `ast.ExprVisitor`: `infer(e, env)` visits `e` and
    records its type in `types` (id of the node -> type) for the compiler. Built-in
    functions take their type rules from `builtins.TABLE`. The subclass (`check.Checker`)
    provides the declarations read here and `error`/`def_info`, declared below.
    """

    types: dict[int, T.Type]
    facts: dict[str, T.Field]
    tables: dict[str, Any]                       # name -> check.TableInfo
    defs: dict[str, Any]                         # name -> check.DefInfo, once inferred
    def_decls: dict[str, ast.DefDecl | ast.ParamDecl]
    _inferring: list[str]
    _deps: set[Any] | None = None                # what the definition or rule being checked uses
    _reads: dict[str, Read] | None = None        # what the rule being checked reads (traces)
    _repeated: list[ast.Expr] | None = None      # keys of `repeated(…)` in the rule being checked

    @abc.abstractmethod
    def error(self, code: str, message: str, span: Span, help: str | None = None,
              related: Iterable[Any] = ()) -> None: ...

    @abc.abstractmethod
    def def_info(self, name: str) -> Any: ...   # check.DefInfo | None

    show = staticmethod(_show)

    def literal_type(self, lit: ast.Literal) -> T.Type:
        return _LITERAL_TYPES[lit.kind]

    def literal_fits(self, lit: ast.Literal, t: T.Type, what: str) -> bool:
        base = T.strip(t)
        if isinstance(base, T.Enum) and lit.kind == "string":
            if lit.value not in base.values:
                self.error("unknown-enum-value", f"{what}: `\"{lit.value}\"` is not a value of `{base.name}`",
                           lit.span, did_you_mean(str(lit.value), base.values))
                return False
            return True
        if not T.fits(self.literal_type(lit), t):
            self.error("type-mismatch", f"{what} must be {t}, found {self.literal_type(lit)}", lit.span)
            return False
        return True

    def literals_fit_enum(self, expr: ast.Expr, declared: T.Type) -> bool:
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

    def infer(self, e: ast.Expr, env: Env) -> T.Type | None:
        t = self.visit(e, env)
        if t is not None and env.narrowed and isinstance(e, (ast.Name, ast.Attribute)) and path_of(e) in env.narrowed:
            t = T.strip(t)  # a path tested `!= null` on the way here
        if t is not None:
            self.types[id(e)] = t
        return t

    def expect(self, e: ast.Expr, env: Env, want: Callable[[T.Type], bool], what: str) -> T.Type | None:
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

    def _record(self, label: str, e: ast.Expr) -> None:
        if self._reads is not None and label not in self._reads:
            self._reads[label] = Read(label, e)

    # ---- the visitor: one method per node class
    def visit_Literal(self, e: ast.Literal, env: Env) -> T.Type | None:
        return self.literal_type(e)

    def visit_Attribute(self, e: ast.Attribute, env: Env) -> T.Type | None:
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

    def visit_ListExpr(self, e: ast.ListExpr, env: Env) -> T.Type | None:
        t: T.Type = T.NEVER
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

    def visit_Comprehension(self, e: ast.Comprehension, env: Env) -> T.Type | None:
        return self.visit_Generator(e.generator, env)

    def visit_Generator(self, e: ast.Generator, env: Env) -> T.Type | None:
        el = self.infer_generator(e, env)
        return None if el is None else T.List(el)

    def visit_Unary(self, e: ast.Unary, env: Env) -> T.Type | None:
        if e.op == "not":
            return self.expect(e.operand, env, lambda t: t == T.BOOL, "a condition (bool)") and T.BOOL
        return self.expect(e.operand, env, T.is_numeric, "a number")

    def visit_If(self, e: ast.If, env: Env) -> T.Type | None:
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

    def _record_path(self, e: ast.Expr, env: Env) -> None:
        p = path_of(e)
        if p is None:
            return
        root = p.split(".", 1)[0]
        if root == env.iteration or (root in self.facts and root not in env.vars):
            self._record(p, e)

    def visit_Name(self, e: ast.Name, env: Env) -> T.Type | None:
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

    def use_def(self, name: str) -> Any:
        if self._deps is not None:
            self._deps.add(name)
        if name in self._inferring and name not in self.defs:
            return None
        return self.def_info(name)

    def visit_Lookup(self, e: ast.Lookup, env: Env) -> T.Type | None:
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

    def infer_generator(self, g: ast.Generator, env: Env) -> T.Type | None:
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

    def visit_Call(self, e: ast.Call, env: Env) -> T.Type | None:
        f, args = e.func, e.args
        if f in self.def_decls:
            info = self.use_def(f)
            if info is None:
                return None
            if len(args) != len(info.params):
                self.error("wrong-arity", f"`{f}` takes {len(info.params)} argument(s), {len(args)} given", e.span)
                return None
            for a, (pname, pt) in zip(args, info.params, strict=True):
                at = self.infer(a, env)
                if at is not None and not T.fits(at, pt):
                    self.error("type-mismatch", f"argument `{pname}` of `{f}` must be {pt}, found {at}", a.span)
            return info.type
        builtin = TABLE.get(f)
        if builtin is None:
            self.error("unknown-function", f"unknown function `{f}`", e.span,
                       did_you_mean(f, list(BUILTINS) + [n for n, d in self.def_decls.items()
                                                        if getattr(d, "params", ())]))
            return None
        return builtin.infer(self, e, env)

    def visit_Binary(self, e: ast.Binary, env: Env) -> T.Type | None:
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
