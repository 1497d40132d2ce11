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
- the result shapes (`PartialFired`, `PartialResult`).

A reason's *status* is its guard, three-valued: `True` (« acquis »: raised whatever the
unknown facts turn out to be), an `Unknown` (« dépend de » its paths), or `False`
(« exclu »: raised by no completion of the dossier; not recorded).
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from . import runtime
from . import types as T
from .diagnostics import Problem
from .validate import Validator

__all__ = ["ANY_ITEM", "PartialFired", "PartialList", "PartialResult", "PartialValidator", "Unknown",
           "is_unknown", "paths_of", "status_key"]

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
