"""Dossiers still being written: evaluation with facts unknown, in three-valued (Kleene) logic.

A dossier evaluated with `partial=True` may leave a fact unknown: absent, or `null` where the
schema does not allow null (docs/partial.md). Such a fact is read as `Unknown`, a sentinel that
is never the language's `null` (`None`) and refuses to be used as a Python truth value. It
carries the JSON paths of the facts it stands for, so that every value computed from it says
which facts it still waits for; a count also carries the bounds it is known to lie between, so
that `n >= 15` is decided once 15 structures are certainly counted.

This module holds, in this order:
- the values: `Unknown`, `PartialList` (a list some of whose members are only possibly in it);
- the operations of the language on them (`AND`, `OR`, `NOT`, `cmp`, `member`, `arith`,
  `either`, the aggregates…): the one definition of three-valued meaning, which both the
  generated code and the reference interpreter's three-valued mode (`interpret.py`) call;
- `PartialValidator`: validation where a missing or null required fact becomes unknown;
- `PartialGen`: compile.py's generator, subclassed to generate three-valued Python;
- the result shapes (`PartialFired`, `PartialResult`).

A reason's *status* is its guard, three-valued: `True` (*acquis*: raised whatever the
unknown facts turn out to be), an `Unknown` (*dépend de* its paths), or `False`
(*exclu*: raised by no completion of the dossier; not recorded).
"""
from __future__ import annotations

import operator
import sys
import weakref
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import attrs

from . import ast, builtins, runtime
from . import types as T
from .check import CheckedPolicy, RuleInfo
from .compile import BUILTINS, Scope, _Gen, load_source
from .diagnostics import Problem
from .runtime import NO_ITEM, ReasonsResult
from .validate import Validator

__all__ = ["ANY_ITEM", "PartialFired", "PartialGen", "PartialList", "PartialResult", "PartialValidator", "Unknown",
           "compile_partial", "emit_partial", "is_unknown", "paths_of", "status_key"]

ANY_ITEM = -2
"""`PartialFired.item` of a rule `for s in L` when the list `L` itself is unknown: any of its items."""


# ---- values ------------------------------------------------------------------------------
class Unknown:
    """A value not known yet: the facts it depends on (`paths`), and for a whole number the
    bounds it is known to lie within (`lo`, `hi`; None: unbounded)."""

    __slots__ = ("paths", "lo", "hi")

    def __init__(self, paths: Iterable[str], lo: int | None = None, hi: int | None = None):
        self.paths = frozenset(paths)
        self.lo, self.hi = lo, hi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and (self.paths, self.lo, self.hi) == (other.paths, other.lo, other.hi)

    def __hash__(self) -> int:
        return hash((self.paths, self.lo, self.hi))

    def __bool__(self) -> bool:
        raise TypeError("an unknown value has no truth value: use the three-valued operations of esms_rules.partial")

    def __repr__(self) -> str:
        bounds = "" if self.lo is None and self.hi is None else f", {self.lo}..{self.hi}"
        return f"Unknown({sorted(self.paths)}{bounds})"


class PartialList:
    """A list some of whose members are only possibly in it: `items` pairs each value with its
    membership, `True` or an `Unknown`. Built only when one membership is unknown."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Any, Any]]):
        self.items = items

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PartialList) and self.items == other.items

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"PartialList({self.items!r})"


def is_unknown(v: object) -> bool:
    return type(v) is Unknown


def paths_of(*values: object) -> frozenset[str]:
    """Every fact the values wait for: those of their unknowns, looked for inside lists and records."""
    out: set[str] = set()
    stack = list(values)
    while stack:
        v = stack.pop()
        if type(v) is Unknown:
            out |= v.paths
        elif type(v) is PartialList:
            for x, m in v.items:
                stack.append(x)
                stack.append(m)
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
    return frozenset(out)


def unknown(*values: object) -> Unknown:
    return Unknown(paths_of(*values))


def has_unknown(v: object) -> bool:
    if type(v) in (Unknown, PartialList):
        return True
    if isinstance(v, (list, tuple)):
        return any(has_unknown(x) for x in v)
    if isinstance(v, dict):
        return any(has_unknown(x) for x in v.values())
    return False


def _pairs(lst: Any) -> list[tuple[Any, Any]]:
    """The (value, membership) pairs of a known list or a PartialList."""
    if type(lst) is PartialList:
        return lst.items
    return [(x, True) for x in lst]


def _list_of(pairs: list[tuple[Any, Any]]) -> Any:
    """A plain list when every membership is certain, else a PartialList."""
    if all(m is True for _, m in pairs):
        return [x for x, _ in pairs]
    return PartialList(pairs)


# ---- Kleene logic ----------------------------------------------------------------------
def NOT(a: Any) -> Any:
    return Unknown(a.paths) if type(a) is Unknown else not a


def AND(a: Any, b: Any) -> Any:
    """`a and b`, both evaluated (generated code and the interpreter short-circuit a False `a` themselves)."""
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return Unknown(a.paths | b.paths)


def OR(a: Any, b: Any) -> Any:
    """`a or b`, both evaluated (generated code and the interpreter short-circuit a True `a` themselves)."""
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return Unknown(a.paths | b.paths)


def either(c: Unknown, then: Any, otherwise: Any) -> Any:
    """`if c then a else b` with `c` unknown: the common value of both branches, if they agree."""
    if not has_unknown(then) and not has_unknown(otherwise) and type(then) is type(otherwise) and then == otherwise:
        return then
    return Unknown(c.paths | paths_of(then, otherwise))


_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "+": operator.add, "-": operator.sub, "*": operator.mul}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def cmp(op: str, a: Any, b: Any) -> Any:
    """A comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`); a count known within bounds may decide it."""
    ua, ub = type(a) is Unknown, type(b) is Unknown
    if not ua and not ub:
        return _OPS[op](a, b)
    if ua and not ub and _bounded(a, b):
        return _decide(op, a, b)
    if ub and not ua and _bounded(b, a):
        return _decide(_FLIP[op], b, a)
    return unknown(a, b)


def _bounded(u: Unknown, x: Any) -> bool:
    return (u.lo is not None or u.hi is not None) and type(x) is int


def _decide(op: str, u: Unknown, x: int) -> Any:
    """`u op x` where `lo <= u <= hi`: True or False when every value in the bounds agrees."""
    lo = u.lo if u.lo is not None else None
    hi = u.hi
    always = never = False
    if op in ("<", "<="):
        always = hi is not None and (hi < x if op == "<" else hi <= x)
        never = lo is not None and (lo >= x if op == "<" else lo > x)
    elif op in (">", ">="):
        always = lo is not None and (lo > x if op == ">" else lo >= x)
        never = hi is not None and (hi <= x if op == ">" else hi < x)
    else:
        outside = (lo is not None and lo > x) or (hi is not None and hi < x)
        single = lo is not None and lo == hi == x
        always, never = (single, outside) if op == "==" else (outside, single)
    if always:
        return True
    if never:
        return False
    return Unknown(u.paths)


def arith(op: str, a: Any, b: Any) -> Any:
    """`+`, `-`, `*`; a bounded whole number plus or minus a known one keeps its bounds."""
    ua, ub = type(a) is Unknown, type(b) is Unknown
    if not ua and not ub:
        return _OPS[op](a, b)
    if op in ("+", "-") and ua and not ub and type(b) is int:
        d = b if op == "+" else -b
        return Unknown(a.paths, None if a.lo is None else a.lo + d, None if a.hi is None else a.hi + d)
    if op == "+" and ub and not ua and type(a) is int:
        return Unknown(b.paths, None if b.lo is None else b.lo + a, None if b.hi is None else b.hi + a)
    return unknown(a, b)


def neg(a: Any) -> Any:
    if type(a) is Unknown:
        return Unknown(a.paths, None if a.hi is None else -a.hi, None if a.lo is None else -a.lo)
    return -a


def member(x: Any, lst: Any) -> Any:
    """`x in lst`: True if a certain member equals `x`, False if no member can, else unknown."""
    if type(lst) is Unknown:
        return Unknown(lst.paths | paths_of(x))
    pairs = _pairs(lst)
    if type(x) is Unknown:
        return Unknown(x.paths | paths_of(lst)) if pairs else False
    doubt: set[str] = set()
    for v, m in pairs:
        if type(v) is Unknown:
            doubt |= v.paths | paths_of(m)
        elif v == x:
            if m is True:
                return True
            doubt |= m.paths
    return Unknown(doubt) if doubt else False


def attr(obj: Any, name: str) -> Any:
    return Unknown(obj.paths) if type(obj) is Unknown else obj[name]


def lookup(mapping: dict[Any, Any], key: Any, total: bool) -> Any:
    if type(key) is Unknown:
        return Unknown(key.paths)
    return mapping[key] if total else mapping.get(key)


def comprehension(src: Any, cond: Callable[[Any], Any] | None, element: Callable[[Any], Any]) -> Any:
    """`[element(x) for x in src where cond(x)]`, each member's membership kept three-valued."""
    if type(src) is Unknown:
        return Unknown(src.paths)
    out = []
    for x, m in _pairs(src):
        if cond is not None:
            c = cond(x)
            if c is False:
                continue
            m = AND(m, c)
        out.append((element(x), m))
    return _list_of(out)


# ---- aggregates ------------------------------------------------------------------------
def count(lst: Any) -> Any:
    if type(lst) is Unknown:
        return Unknown(lst.paths, 0, None)
    if type(lst) is not PartialList:
        return len(lst)
    sure = sum(1 for _, m in lst.items if m is True)
    return Unknown(paths_of(lst), sure, len(lst.items))


def total(lst: Any) -> Any:
    if has_unknown(lst):
        return unknown(lst)
    return sum(lst, 0)


def extremum(lst: Any, fn: Callable[..., Any]) -> Any:
    """`min` or `max` (`fn`); over known values whose membership only is unknown, known when the
    members certainly in already reach it."""
    if type(lst) is PartialList and not any(has_unknown(v) for v, _ in lst.items):
        sure = [v for v, m in lst.items if m is True]
        if sure and fn(sure) == fn(v for v, _ in lst.items):
            return fn(sure)
    if has_unknown(lst):
        return unknown(lst)
    return fn(lst, default=None)


def any_of(lst: Any) -> Any:
    if type(lst) is Unknown:
        return Unknown(lst.paths)
    out: Any = False
    for v, m in _pairs(lst):
        t = AND(m, v)
        out = OR(out, t)
        if out is True:
            return True
    return out


def all_of(lst: Any) -> Any:
    if type(lst) is Unknown:
        return Unknown(lst.paths)
    out: Any = True
    for v, m in _pairs(lst):
        t = OR(NOT(m), v)
        out = AND(out, t)
        if out is False:
            return False
    return out


def distinct(lst: Any) -> Any:
    """Distinct values in order of first appearance. A value only possibly present, or not
    known, becomes a member whose presence (as a new value) is unknown."""
    if type(lst) is Unknown:
        return Unknown(lst.paths)
    if not has_unknown(lst):
        return runtime.distinct(lst)
    pairs = _pairs(lst)
    sure = runtime.distinct(v for v, m in pairs if m is True and not has_unknown(v))
    seen = set(sure)
    maybe: dict[Any, Any] = {}
    unknowns: list[tuple[Any, Any]] = []
    for v, m in pairs:
        if has_unknown(v):
            unknowns.append((v, unknown(v, m)))
        elif v not in seen:
            maybe[v] = m if v not in maybe else Unknown(maybe[v].paths | paths_of(m))
    return _list_of([(v, True) for v in sure] + list(maybe.items()) + unknowns)


def coalesce(value: Any, fallback: Any) -> Any:
    if type(value) is Unknown:
        return Unknown(value.paths | paths_of(fallback))
    return fallback if value is None else value


def end_of_day(day: Any, zone: str) -> Any:
    return Unknown(day.paths) if type(day) is Unknown else runtime.end_of_day(day, zone)


def round_half_up(x: Any, places: int) -> Any:
    return Unknown(x.paths) if type(x) is Unknown else runtime.round_half_up(x, places)


def passes(failed: dict[int, Any], item: Any) -> Any:
    """`passes(s)`: not failed, where `failed[id(s)]` is True or unknown for an item with a
    (possible) blocking reason."""
    return NOT(failed.get(id(item), False))


def fail(failed: dict[int, Any], item: Any, status: Any) -> None:
    failed[id(item)] = OR(failed.get(id(item), False), status)


def repeated_flags(keys: list[Any]) -> list[Any]:
    """For each key, whether an earlier one was equal: True, False, or unknown when an earlier
    key or this one is not known."""
    seen: set[Any] = set()
    doubt: set[str] = set()
    out: list[Any] = []
    for k in keys:
        if type(k) is Unknown:
            out.append(Unknown(k.paths | doubt) if (seen or doubt) else False)
            doubt |= k.paths
            continue
        if k in seen:
            out.append(True)
        else:
            out.append(Unknown(doubt) if doubt else False)
        seen.add(k)
    return out


def call_builtin(fn: Callable[..., Any], *args: Any) -> Any:
    """A built-in without a three-valued form of its own: unknown as soon as an argument is."""
    if any(has_unknown(a) for a in args):
        return unknown(*args)
    return fn(*args)


def status_key(status: Any) -> str:
    """The stable name of a status: `certain` (*acquis*), `depends` (*dépend de*), `excluded` (*exclu*)."""
    return "certain" if status is True else "excluded" if status is False else "depends"


# ---- results -----------------------------------------------------------------------------
class PartialFired(NamedTuple):
    """A rule that fired, or may fire: `status` True (certain) or an `Unknown` (depends on its paths)."""

    rule: int
    item: int           # index in the item list, NO_ITEM for the dossier, ANY_ITEM when the list is unknown
    status: Any
    values: tuple[Any, ...]


class PartialResult(NamedTuple):
    eligible: Any       # True, False or an Unknown
    recevable: Any
    outputs: tuple[Any, ...]
    fired: list[PartialFired]


# ---- validation --------------------------------------------------------------------------
_MISSING = object()   # a field the dossier leaves out, on its way through PartialValidator.value


class PartialValidator(Validator):
    """The precise validator, where a fact the schema requires but the dossier leaves out
    (absent, or `null` where null is not allowed) becomes an `Unknown` of its JSON path instead
    of a problem. Every other problem (a wrong type, a value out of range, an unknown enum
    value) stays a problem. A field with a default takes its default when absent, as always;
    an optional field (`T?`) that is absent is unknown, `null` being one of its values."""

    def convert_partial(self, dossier: Any) -> tuple[dict[str, Any], list[str], list[str]]:
        """(facts, unknown fields of the dossier, the paths of the unknown facts in schema order)."""
        self._unknown_facts: list[str] = []
        facts, extra = self.precise(dossier)
        return facts, extra, self._unknown_facts

    def _unknown(self, path: str) -> Unknown:
        self._unknown_facts.append(path)
        return Unknown((path,))

    def record(self, value: dict[str, Any], rec: T.Record, path: str, problems: list[Problem],
               unknown: list[str], depth: int = 0) -> dict[str, Any]:
        missing = [f for f in rec.fields if f.name not in value and not f.has_default]
        if not missing:
            return super().record(value, rec, path, problems, unknown, depth)
        # the missing fields go through `value` as _MISSING, so that their unknowns come in schema order
        return super().record({**value, **{f.name: _MISSING for f in missing}}, rec, path, problems, unknown, depth)

    def value(self, v: Any, t: T.Type, path: str, problems: list[Problem], unknown: list[str],
              constraint: Any = None, depth: int = 0) -> Any:
        if v is _MISSING or (v is None and not isinstance(t, T.Optional)):
            return self._unknown(path)
        return super().value(v, t, path, problems, unknown, constraint, depth)


# ---- the generated three-valued evaluator -------------------------------------------------
class _Runtime:
    """What `_rt.…` means in three-valued generated code: the helpers compile.py's generator
    and the built-ins' Python forms call, in their three-valued versions."""

    repeated_flags = staticmethod(repeated_flags)
    end_of_day = staticmethod(end_of_day)
    round_half_up = staticmethod(round_half_up)
    coalesce = staticmethod(coalesce)
    distinct = staticmethod(distinct)
    luhn_valid = staticmethod(runtime.luhn_valid)   # called only with known values (call_builtin)


def and_then(a: Any, b: Callable[[], Any]) -> Any:
    return False if a is False else AND(a, b())


def or_else(a: Any, b: Callable[[], Any]) -> Any:
    return True if a is True else OR(a, b())


def if_then(c: Any, then: Callable[[], Any], otherwise: Callable[[], Any]) -> Any:
    if c is True:
        return then()
    if c is False:
        return otherwise()
    return either(c, then(), otherwise())


def unknown_items(items: Unknown, rules: list[tuple[int, int]]) -> list[PartialFired]:
    """The reasons of the rules `for s in L` when the list `L` is unknown: (rule, placeholders) each."""
    status = Unknown(items.paths)
    return [PartialFired(r, ANY_ITEM, status, (status,) * holes) for r, holes in rules]


_BUILTIN_FORMS = {
    "count": "_p.count({})", "sum": "_p.total({})", "any": "_p.any_of({})", "all": "_p.all_of({})",
    "distinct": "_p.distinct({})", "min": "_p.extremum({}, min)", "max": "_p.extremum({}, max)",
}


class PartialGen(_Gen):
    """compile.py's generator, three-valued: every operation where an unknown value matters goes
    through this module's functions (`_p.…`); rules are evaluated under a guard (whether the
    evaluation reaches them), and fire with it as their status. The generated function takes
    facts from `PartialValidator` and returns a `PartialResult`."""

    FAILED_INIT = "{}"

    def __init__(self, policy: CheckedPolicy):
        super().__init__(policy, "reasons")
        self.consts["_rt"] = _Runtime
        self.consts["_p"] = sys.modules[__name__]

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


# ---- the decision of a partial evaluation --------------------------------------------------
STATUS_WORDS = {"certain": "acquis", "excluded": "exclu", "depends": "dépend de"}
"""The French word each stable status key is rendered with."""


def _on(status: Any, order: dict[str, int]) -> list[str]:
    return sorted(status.paths, key=lambda p: (order.get(p, len(order)), p)) if type(status) is Unknown else []


def _value_status(value: Any, order: dict[str, int]) -> dict[str, Any]:
    if has_unknown(value):
        return {"status": "depends", "on": _on(unknown(value), order)}
    return {"status": "certain"}


def _shown(v: Any) -> Any:
    """A value as a message or a contract field shows it: an unknown one is None (placeholders
    read it *inconnu*), a possibly-absent member is left out."""
    if type(v) is Unknown:
        return None
    if type(v) is PartialList:
        return [_shown(x) for x, m in v.items if m is True]
    if isinstance(v, list):
        return [_shown(x) for x in v]
    return v


def _message_value(v: Any) -> Any:
    """A message placeholder's value: an unknown one reads `(inconnu)`, or its bounds (`14 à 15`)."""
    if type(v) is Unknown:
        return f"{v.lo} à {v.hi}" if v.lo is not None and v.hi is not None else "(inconnu)"
    return _shown(v)


@attrs.frozen
class PartialReason:
    """One reason of a partial decision, with its status."""

    code: str
    rule: str
    level: str
    severity: str
    status: str                      # certain | depends | excluded (STATUS_WORDS: *acquis*…)
    on: tuple[str, ...] = ()         # the unknown facts it depends on (status depends)
    item: int | None = None          # index in the item list; None: the dossier (or any item, see any_item)
    finess: Any = None               # the item's key, when known
    any_item: bool = False           # a rule `for s in L` whose list L is unknown
    message: str | None = None       # the message, unknown placeholders read *inconnu*

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "rule": self.rule, "level": self.level, "severity": self.severity,
                             "status": self.status}
        if self.on:
            d["on"] = list(self.on)
        if self.level == "structure":
            d["structure"] = {"index": self.item, "finess": self.finess}
        if self.message is not None:
            d["message"] = self.message
        return d


@attrs.frozen
class PartialInfo:
    """What a partial decision adds (`Decision.partial`, the decision JSON's `partial`)."""

    unknown: tuple[str, ...]             # every fact the dossier left unknown, in schema order
    needed: tuple[str, ...]              # those the decision still waits for, in the same order
    values: dict[str, dict[str, Any]]    # recevable, eligible, call, amount_eur -> status (and on)
    structures: tuple[dict[str, Any], ...]   # the items whose eligibility is not known yet, with its status
    reasons: tuple[PartialReason, ...]

    @property
    def complete(self) -> bool:
        return not self.needed

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "unknown": list(self.unknown), "needed": list(self.needed),
                **self.values, "structures": list(self.structures), "reasons": [r.to_dict() for r in self.reasons]}


_PARTIAL_FNS: weakref.WeakKeyDictionary[Any, Callable[[dict[str, Any]], PartialResult]] = weakref.WeakKeyDictionary()


def partial_evaluator(policy: Any) -> Callable[[dict[str, Any]], PartialResult]:
    """The three-valued evaluator of a `Policy`, compiled once."""
    fn = _PARTIAL_FNS.get(policy)
    if fn is None:
        fn = _PARTIAL_FNS[policy] = compile_partial(policy.checked)
    return fn


def evaluate_partial(policy: Any, dossier: dict[str, Any]) -> Any:
    """`Policy.evaluate(dossier, partial=True)`: the decision, three-valued (docs/partial.md).

    Its contract fields hold what is certain (`eligible`, `recevable`, `call`, `amount_eur` and
    each structure's `eligible` are null while unknown; `reasons` and `warnings` list the reasons
    *acquis*); `Decision.partial` (JSON `partial`) gives the status of each value and reason
    and the facts still needed. No trace."""
    from .explain import message_nulls
    from .french import render_message
    checked = policy.checked
    facts, extra, unknown_facts = PartialValidator(checked.facts).convert_partial(dossier)
    ok, rec, outs, fired = partial_evaluator(policy)(facts)
    order = {p: i for i, p in enumerate(unknown_facts)}
    rules = checked.all_rules
    lst = checked.item_lists[0] if checked.item_lists else None
    items = facts[lst] if lst is not None else []
    key = checked.key_field(lst) if lst is not None else None

    def finess(i: int) -> Any:
        if i < 0 or type(items) is Unknown or type(items[i]) is Unknown:
            return None
        return _shown(items[i][key])

    reasons: list[PartialReason] = []
    seen: set[int] = set()
    failed: dict[int, Any] = {}
    for f in fired:
        r = rules[f.rule]
        seen.add(f.rule)
        if f.item >= 0 and r.severity != "warning":
            failed[f.item] = OR(failed.get(f.item, False), f.status)
        message = render_message(r.message, [_message_value(v) for v in f.values], message_nulls(checked, r))
        reasons.append(PartialReason(r.code, r.name, r.level, r.severity, status_key(f.status),
                                     tuple(_on(f.status, order)), None if f.item < 0 else f.item, finess(f.item),
                                     f.item == ANY_ITEM, message))
    # the dossier-level reasons raised by no completion of the dossier: *exclu*
    for r in rules:
        if r.code is not None and r.binder is None and r.index not in seen:
            reasons.append(PartialReason(r.code, r.name, r.level, r.severity or "blocking", "excluded"))
    # the contract's decision, from what is certain
    certain = [runtime.Fired(f.rule, f.item, tuple(_message_value(v) for v in f.values)) for f in fired
               if f.status is True and f.item != ANY_ITEM]
    shown_items = [] if type(items) is Unknown else [
        {key: None} if type(it) is Unknown else {**it, key: _shown(it[key])} for it in items]
    shown_facts = {**facts, lst: shown_items} if lst is not None else facts
    base = policy._decision(dossier, shown_facts, extra, ok is True, rec is True, tuple(_shown(o) for o in outs),
                            certain, None, None)
    built = base.structures, base.reasons, base.warnings     # the lazy decision's findings, built now
    names = tuple(checked.outputs)
    out_of = dict(zip(names, outs, strict=True))
    values = {"recevable": _value_status(rec, order), "eligible": _value_status(ok, order)}
    for name in ("call", "amount_eur"):
        if name in out_of:
            values[name] = _value_status(out_of[name], order)
    structures = []
    struct_status = []
    for i, s in enumerate(base.structures):
        st = NOT(failed.get(i, False))
        structures.append(attrs.evolve(s, eligible=st if type(st) is bool else None))
        if type(st) is Unknown:
            struct_status.append({"index": i, "finess": s.finess, **_value_status(st, order)})
    needed = set(paths_of(ok, rec, *outs)) | {p for f in fired if type(f.status) is Unknown for p in f.status.paths}
    needed |= {p for s in struct_status for p in s.get("on", ())}
    info = PartialInfo(tuple(unknown_facts), tuple(sorted(needed, key=lambda p: (order.get(p, len(order)), p))),
                       values, tuple(struct_status), tuple(reasons))
    return attrs.evolve(base, eligible=ok if type(ok) is bool else None, recevable=rec if type(rec) is bool else None,
                        call=_shown(out_of.get("call")), amount_eur=_shown(out_of.get("amount_eur")),
                        structures=tuple(structures), reasons=built[1], warnings=built[2], findings=None,
                        partial=info)


# ---- in French ---------------------------------------------------------------------------
def render_text(decision: Any) -> str:
    """A partial decision for people, in French: each value and reason acquis, exclu or
    dépend de the facts it names, then the facts still needed to decide."""
    from .french import french
    info: PartialInfo = decision.partial
    data = info.to_dict()
    lines = [f"Dossier {decision.dossier or '(sans identifiant)'} — politique {decision.policy_id} — "
             "évaluation partielle (dossier en cours de rédaction)", ""]

    def value_line(label: str, name: str, value: Any) -> None:
        status = data.get(name)
        if status is None:
            return
        if status["status"] == "certain":
            lines.append(f"{label} : {french(value, 'aucun')} ({STATUS_WORDS['certain']})")
        else:
            lines.append(f"{label} : {STATUS_WORDS['depends']} {', '.join(status['on'])}")

    value_line("Recevable", "recevable", decision.recevable)
    value_line("Éligible", "eligible", decision.eligible)
    value_line("Appel", "call", decision.call)
    value_line("Montant (euros)", "amount_eur", decision.amount_eur)
    lines += ["", "Motifs et avertissements :"]
    for r in info.reasons:
        where = ""
        if r.level == "structure":
            where = " (toutes les structures)" if r.any_item else f" (structure {r.finess or r.item})"
        head = f"  {STATUS_WORDS[r.status]}"
        if r.on:
            head += " " + ", ".join(r.on)
        kind = "avertissement" if r.severity == "warning" else "motif"
        lines.append(f"{head} — {kind} {r.code}{where}" + (f" : {r.message}" if r.message else ""))
    lines.append("")
    if info.needed:
        lines.append("Faits encore nécessaires pour décider : " + ", ".join(info.needed) + ".")
    else:
        lines.append("Décision complète : aucun fait inconnu ne la change.")
    lines.append("Tout motif de structure qui n'est pas listé est exclu.")
    return "\n".join(lines) + "\n"


def partial_schema() -> dict[str, Any]:
    """The JSON Schema of a decision's `partial` part (jsonschema.decision_schema refers to it)."""
    paths = {"type": "array", "items": {"type": "string"}}
    status = {
        "type": "object",
        "properties": {"status": {"enum": ["certain", "depends"]}, "on": paths},
        "required": ["status"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "only in a partial decision (partial=True, --partial): what is certain, what depends on "
                       "which unknown facts, the facts still needed (docs/partial.md)",
        "properties": {
            "complete": {"type": "boolean", "description": "nothing is needed: the decision is final"},
            "unknown": {**paths, "description": "the facts the dossier leaves unknown, by JSON path, schema order"},
            "needed": {**paths, "description": "those the decision still waits for, same order"},
            "recevable": status, "eligible": status, "call": status, "amount_eur": status,
            "structures": {"type": "array", "description": "the structures whose eligibility is not known yet",
                           "items": {"type": "object",
                                     "properties": {"index": {"type": "integer"},
                                                    "finess": {"type": ["string", "null"]},
                                                    "status": {"const": "depends"}, "on": paths},
                                     "required": ["index", "finess", "status", "on"],
                                     "additionalProperties": False}},
            "reasons": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                    "rule": {"type": "string"},
                    "level": {"enum": ["dossier", "structure"]},
                    "severity": {"enum": ["blocking", "inadmissible", "warning"]},
                    "status": {"enum": list(STATUS_WORDS), "description": "certain (acquis), excluded (exclu), "
                                                                           "depends (dépend de) the facts in `on`"},
                    "on": {**paths, "minItems": 1},
                    "structure": {"type": "object", "properties": {"index": {"type": ["integer", "null"]},
                                                                   "finess": {"type": ["string", "null"]}},
                                  "required": ["index", "finess"], "additionalProperties": False},
                    "message": {"type": "string"},
                },
                "required": ["code", "rule", "level", "severity", "status"],
                "additionalProperties": False,
            }},
        },
        "required": ["complete", "unknown", "needed", "recevable", "eligible", "structures", "reasons"],
        "additionalProperties": False,
    }
