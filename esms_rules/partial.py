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

A reason's *status* is its guard, three-valued: `True` (« acquis »: raised whatever the
unknown facts turn out to be), an `Unknown` (« dépend de » its paths), or `False`
(« exclu »: raised by no completion of the dossier; not recorded).
"""
from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

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
    """The stable name of a status: `certain` (« acquis »), `depends` (« dépend de »), `excluded` (« exclu »)."""
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
