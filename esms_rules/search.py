"""Dossiers drawn from a policy's schema and its own constants: the search space of `diff` and `analyze`.

A policy decides at its constants: the thresholds it compares counts with, the dates of its
deadlines, the keys of its tables, the strings it tests. `Space` collects those constants from
every expression and table of one or more checked policies, and draws valid dossiers whose
values sit on them and one unit either side:

- whole numbers: every integer constant (literals and table values) and ± 1, within the
  field's range; list sizes (of the list the rules go over) are drawn from the same set;
- dates: every date constant and ± 1 day;
- date-times: for every `end_of_day(D, zone)` (D a date constant) and every date-time
  constant, that instant ± 1 second, ± 1 minute, ± 1 hour and ± 1 day, written with several
  UTC offsets (+02:00, +01:00, Z, +04:00, −04:00);
- enum values: drawn by class, two values being in one class when every table maps them
  alike and no expression names either (one department per region, say);
- decimals: the bounds of the field's range, its middle, and the decimal constants.

Draws mix a plain base dossier with a few changed fields (one factor at a time) and fully
random ones; items of a list share a template, with a split (a second value from item k on),
an odd item, or a repeated key. `shrink` then makes a dossier smaller while a predicate holds.
Everything is driven by a seeded `random.Random`: the same policies give the same draws.
"""
from __future__ import annotations

import copy
import datetime as dt
import random
from collections.abc import Callable, Iterable
from decimal import Decimal

from . import ast
from . import types as T
from .check import CheckedPolicy
from .runtime import end_of_day

OFFSETS = (2, 1, 0, 4, -4)                    # hours: Paris summer and winter, UTC, Réunion, Antilles
STEPS = (-86400, -3600, -60, -1, 0, 1, 60, 3600, 86400)   # seconds around an end of day


def expressions(policy: CheckedPolicy) -> Iterable:
    """Every expression node of a checked policy: definitions, rules, exceptions, outputs."""
    roots = [d.expr for d in policy.defs.values()]
    for r in policy.all_rules:
        roots += [e for e in (r.when, r.applies) if e is not None]
    roots += [o.expr for o in policy.outputs.values()]
    stack = list(roots)
    while stack:
        e = stack.pop()
        yield e
        stack.extend(ast.children(e))


class Constants:
    """The constants that one or more policies decide at."""

    def __init__(self, policies: Iterable[CheckedPolicy]):
        self.ints: set[int] = {0, 1}
        self.decimals: set[Decimal] = set()
        self.dates: set[dt.date] = set()
        self.zones: set[str] = set()
        self.deadlines: set[tuple[dt.date, str]] = set()
        self.instants: set[dt.datetime] = set()
        self.strings: set[str] = set()
        for p in policies:
            for e in expressions(p):
                if isinstance(e, ast.Literal):
                    self._add(e.value)
                elif isinstance(e, ast.Call) and e.func == "end_of_day" and len(e.args) == 2 \
                        and isinstance(e.args[1], ast.Literal):
                    self.zones.add(str(e.args[1].value))
            for t in p.tables.values():   # table keys and values: numbers and dates only
                for k, v in t.mapping.items():
                    for x in (k, v):
                        if not isinstance(x, str):
                            self._add(x)
        self.zones = self.zones or {"Europe/Paris"}
        self.deadlines = {(d, z) for d in self.dates for z in self.zones}

    def _add(self, v):
        if isinstance(v, bool) or v is None:
            return
        if isinstance(v, int):
            self.ints.add(v)
        elif isinstance(v, Decimal):
            self.decimals.add(v)
            if v == v.to_integral_value():
                self.ints.add(int(v))
        elif isinstance(v, dt.datetime):
            self.instants.add(v)
            self.dates.add(v.date())
        elif isinstance(v, dt.date):
            self.dates.add(v)
        elif isinstance(v, str):
            self.strings.add(v)

    def near_ints(self, low=None, high=None) -> list[int]:
        out = {c + d for c in self.ints for d in (-1, 0, 1)}
        return sorted(x for x in out if (low is None or x >= low) and (high is None or x <= high))


def _bounds(field: T.Field):
    c = field.constraint
    if isinstance(c, ast.RangeConstraint):
        return c.low.value, c.high.value
    return None, None


def _instant(t: dt.datetime, hours: int) -> str:
    text = t.astimezone(dt.timezone(dt.timedelta(hours=hours))).isoformat(timespec="seconds")
    return text.replace("+00:00", "Z")


class Space:
    """Valid dossiers for the schema of `policies[0]`, at the constants of all of them."""

    def __init__(self, policies: list[CheckedPolicy], *, seed: int = 0, max_items: int = 60):
        self.policies = policies
        self.schema: T.Record = policies[0].facts
        self.constants = Constants(policies)
        self.rng = random.Random(seed)
        self.max_items = max_items
        self.item_lists = set().union(*(p.item_lists for p in policies))
        self._classes: dict[str, list[list[str]]] = {}
        tables = [t for p in policies for t in p.tables.values()]
        self._tables = tables
        self.base = self.plain(self.schema)

    # ---- candidate values ------------------------------------------------------------
    def enum_classes(self, e: T.Enum) -> list[list[str]]:
        """The values of `e` grouped by what the policies can tell apart."""
        if e.name not in self._classes:
            groups: dict = {}
            for v in e.values:
                groups.setdefault(self._signature(e, v), []).append(v)
            self._classes[e.name] = list(groups.values())
        return self._classes[e.name]

    def _signature(self, e: T.Enum, v: str):
        named = v if v in self.constants.strings else None
        return (named, tuple(t.mapping.get(v) for t in self._tables if T.strip(t.key_type) == e))

    def candidates(self, field: T.Field, t: T.Type | None = None) -> list:
        """The values a scalar field is drawn from (null first when it is optional)."""
        t = field.type if t is None else t
        if isinstance(t, T.Optional):
            return [None] + self.candidates(field, t.inner)
        c = self.constants
        if isinstance(t, T.Enum):
            return list(t.values)
        name = getattr(t, "name", None)
        low, high = _bounds(field)
        if name == "bool":
            return [True, False]
        if name == "int":
            if low is None and high is None:   # a free number, such as a campaign: the policies' own first
                return self.campaigns() + [x for x in c.near_ints() if x not in self.campaigns()]
            return sorted(set(c.near_ints(low, high)) | {low, high})
        if name == "decimal":
            lo = Decimal(str(low)) if low is not None else Decimal(0)
            hi = Decimal(str(high)) if high is not None else lo + 1
            vals = {lo, hi, (lo + hi) / 2} | {d for d in c.decimals if lo <= d <= hi}
            return sorted(vals)
        if name == "text":
            n = field.constraint.length if isinstance(field.constraint, ast.LengthConstraint) else None
            if n is not None:
                return ["1" * n]
            return ["X"] + sorted(s for s in c.strings if len(s) < 40)[:10]
        if name == "date":
            return sorted({d + dt.timedelta(days=k) for d in c.dates for k in (-1, 0, 1)}) or [dt.date(2000, 1, 1)]
        if name == "datetime":
            return self.instants()
        raise ValueError(f"no candidates for type {t}")

    def campaigns(self) -> list[int]:
        found = [p.header.get("campaign") for p in reversed(self.policies)]
        return list(dict.fromkeys(x for x in found if isinstance(x, int) and not isinstance(x, bool)))

    def instants(self) -> list[str]:
        """Around every end of day of a date constant, and every date-time constant."""
        c = self.constants
        marks = [end_of_day(day, zone) for day, zone in sorted(c.deadlines)] + sorted(c.instants)
        out = [_instant(m + dt.timedelta(seconds=step), h) for m in marks for step in STEPS for h in OFFSETS]
        return out or ["2000-01-01T12:00:00+02:00"]

    # ---- dossiers --------------------------------------------------------------------
    def plain(self, t: T.Type, field: T.Field | None = None):
        """The base value: the first candidate, or a record of base values, or an empty list."""
        t0 = T.strip(t)
        if isinstance(t0, T.Record):
            return {f.name: self.plain(f.type, f) for f in t0.fields}
        if isinstance(t0, T.List):
            return []
        cands = self.candidates(field or T.Field("_", t), t0)
        if getattr(t0, "name", None) == "bool":
            return True
        if getattr(t0, "name", None) in ("date", "datetime") and isinstance(t, T.Optional):
            return None
        if getattr(t0, "name", None) == "datetime":
            return cands[len(cands) // 2]
        return _jsonable(cands[0])

    def scalar(self, field: T.Field, t: T.Type | None = None):
        t = field.type if t is None else t
        inner = T.strip(t)
        if isinstance(inner, T.Enum):
            v = self.rng.choice(self.rng.choice(self.enum_classes(inner)))
            return None if isinstance(t, T.Optional) and self.rng.random() < 0.2 else v
        return _jsonable(self.rng.choice(self.candidates(field, t)))

    def value(self, field: T.Field, list_name: str | None = None):
        t = field.type
        inner = T.strip(t)
        if isinstance(inner, T.Record):
            return {f.name: self.value(f) for f in inner.fields}
        if isinstance(inner, T.List):
            return self.items(field, inner.element)
        return self.scalar(field)

    def items(self, field: T.Field, element: T.Type) -> list:
        rng = self.rng
        if field.name in self.item_lists:
            size = rng.choice([n for n in self.constants.near_ints(0, self.max_items)])
        else:
            size = rng.choice([0, 0, 1, 2])
        element = T.strip(element)
        if not isinstance(element, T.Record):
            pool = self.candidates(T.Field("_", element))
            return list(dict.fromkeys(_jsonable(rng.choice(pool)) for _ in range(size)))
        template = {f.name: self.value(f) for f in element.fields}
        out = [copy.deepcopy(template) for _ in range(size)]
        if size:
            for f in element.fields[1:]:
                if isinstance(T.strip(f.type), (T.List, T.Record)):
                    continue
                pattern = rng.random()
                if pattern < 0.2:      # a split: another value from item k on
                    other, k = self.value(f), rng.randrange(size)
                    for it in out[k:]:
                        it[f.name] = other
                elif pattern < 0.3:    # one odd item
                    out[rng.randrange(size)][f.name] = self.value(f)
        if field.name not in self.item_lists:
            return out
        self.keys(element, out)
        if size >= 2 and rng.random() < 0.1:   # a repeated key
            i = rng.randrange(1, size)
            out[i][element.fields[0].name] = out[rng.randrange(i)][element.fields[0].name]
        return out

    @staticmethod
    def keys(element: T.Record, items: list) -> None:
        """Distinct keys (the record's first field, when it is text) for the items, in place."""
        key = element.fields[0]
        if getattr(T.strip(key.type), "name", None) != "text":
            return
        width = key.constraint.length if isinstance(key.constraint, ast.LengthConstraint) else 9
        for i, it in enumerate(items):
            it[key.name] = str(i + 1).zfill(width)[-width:]

    def draw(self) -> dict:
        """A dossier: the base with a few fields changed, or one drawn field by field."""
        if self.rng.random() < 0.5:
            return {f.name: self.value(f) for f in self.schema.fields}
        d = copy.deepcopy(self.base)
        fields = list(self.schema.fields)
        for f in self.rng.sample(fields, k=min(len(fields), self.rng.randint(1, 4))):
            d[f.name] = self.value(f)
        return d


def _jsonable(v):
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


# ---- shrinking ---------------------------------------------------------------------------
def shrink(dossier: dict, keep: Callable[[dict], bool], space: Space, budget: int = 400) -> dict:
    """A smaller dossier for which `keep` still holds: shorter lists, base values, in a few passes."""
    best = copy.deepcopy(dossier)
    tries = [0]

    def attempt(candidate) -> bool:
        nonlocal best
        if tries[0] >= budget:
            return False
        tries[0] += 1
        if keep(candidate):
            best = candidate
            return True
        return False

    changed = True
    while changed and tries[0] < budget:
        changed = False
        for name, value in list(best.items()):
            if isinstance(value, list) and value:
                sizes = [n for n in space.constants.near_ints(0, len(value) - 1)]
                for n in sizes:                       # shortest first
                    if attempt({**best, name: renumber(space, name, value[:n])}):
                        changed = True
                        break
                value = best[name]
                i = 0
                while i < len(value) and len(value) <= 30:
                    if attempt({**best, name: renumber(space, name, value[:i] + value[i + 1:])}):
                        changed, value = True, best[name]
                    else:
                        i += 1
        for path, base in _leaves(space.base, ()):
            cur = _get(best, path)
            if cur is not _MISSING and cur != base:
                if attempt(_set(best, path, base)):
                    changed = True
        # items of lists toward the first item's values (a homogeneous grouping reads best)
        for name, value in list(best.items()):
            if isinstance(value, list) and len(value) >= 2 and isinstance(value[0], dict):
                for i in range(1, len(value)):
                    for k, v in value[0].items():
                        if k != next(iter(value[0])) and best[name][i].get(k) != v:
                            items = copy.deepcopy(best[name])
                            items[i][k] = v
                            if attempt({**best, name: items}):
                                changed = True
    return best


def renumber(space: Space, name: str, items: list) -> list:
    """A copy of the items of list `name`, keyed 1, 2, 3… (unless a key repeats on purpose)."""
    items = copy.deepcopy(items)
    f = space.schema.field(name)
    t = T.strip(f.type) if f is not None else None
    element = T.strip(t.element) if isinstance(t, T.List) else None
    if isinstance(element, T.Record) and name in space.item_lists:
        keys = [it.get(element.fields[0].name) for it in items]
        if len(set(keys)) == len(keys):        # keep a repeated key repeated
            space.keys(element, items)
    return items


_MISSING = object()


def _leaves(value, path):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, path + (k,))
    elif not isinstance(value, list):
        yield path, value


def _get(d, path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return _MISSING
        d = d[k]
    return d


def _set(d, path, value):
    out = copy.deepcopy(d)
    target = out
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    return out
