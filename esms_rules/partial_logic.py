"""The meaning of the language in three-valued (Kleene) logic, for dossiers still being written.

A fact the dossier leaves unknown (docs/partial.md) is read as `Unknown`, a sentinel that is
never the language's `null` (`None`) and refuses to be used as a Python truth value. It
carries the JSON paths of the facts it stands for, so that every value computed from it says
which facts it still waits for; a count also carries the bounds it is known to lie between, so
that `n >= 15` is decided once 15 structures are certainly counted.

This module is the one definition of three-valued meaning: the values (`Unknown`,
`PartialList`, a list some of whose members are only possibly in it), the operations of the
language on them (`AND`, `OR`, `NOT`, `cmp`, `member`, `arith`, `either`, the aggregates…),
and what a three-valued evaluation returns (`PartialFired`, `PartialResult`). The generated
evaluator (partial_compile.py, where it is `_p`) and the reference interpreter's three-valued
mode (`interpret.py`) both call it; `esms_rules.partial` re-exports it.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from . import runtime

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


def _connective(a: Any, b: Any, absorbing: bool) -> Any:
    """`a and b` (`absorbing` False) or `a or b` (`absorbing` True), both evaluated: the absorbing
    value decides, the neutral one gives the other operand (generated code and the interpreter
    short-circuit an absorbing `a` themselves: `and_then`, `or_else`)."""
    if a is absorbing or b is absorbing:
        return absorbing
    if a is (not absorbing):
        return b
    if b is (not absorbing):
        return a
    return Unknown(a.paths | b.paths)


def AND(a: Any, b: Any) -> Any:
    return _connective(a, b, False)


def OR(a: Any, b: Any) -> Any:
    return _connective(a, b, True)


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


def unknown_items(items: Unknown, rules: list[tuple[int, int]]) -> list[PartialFired]:
    """The reasons of the rules `for s in L` when the list `L` is unknown: (rule, placeholders) each."""
    status = Unknown(items.paths)
    return [PartialFired(r, ANY_ITEM, status, (status,) * holes) for r, holes in rules]
