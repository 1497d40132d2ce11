"""Helpers for the tests of partial evaluation: knocking facts out of a dossier, and the
completions of a partial dossier over small domains (every value a knocked-out fact may take
back), for the soundness property (tests/test_partial.py)."""
from __future__ import annotations

import copy
import datetime as dt
import itertools
import random
from typing import Any

from esms_rules import types as T
from esms_rules.ast import LengthConstraint, RangeConstraint
from esms_rules.runtime import NO_ITEM

Keys = tuple[Any, ...]


def path_text(keys: Keys) -> str:
    out = ""
    for k in keys:
        out += f"[{k}]" if isinstance(k, int) else (f".{k}" if out else k)
    return out


def leaves(dossier: dict, facts: T.Record) -> list[tuple[Keys, T.Field | None, T.Type]]:
    """Every place a fact of the schema sits in the dossier: (keys, its field or None for a list
    element, its type), records and lists included, depth first in schema order."""
    out: list[tuple[Keys, T.Field | None, T.Type]] = []

    def walk(value: Any, t: T.Type, keys: Keys, field: T.Field | None) -> None:
        if keys:
            out.append((keys, field, t))
        inner = T.strip(t)
        if isinstance(inner, T.Record) and isinstance(value, dict):
            for f in inner.fields:
                if f.name in value:
                    walk(value[f.name], f.type, keys + (f.name,), f)
        elif isinstance(inner, T.List) and isinstance(value, list):
            for i, x in enumerate(value):
                walk(x, inner.element, keys + (i,), None)

    walk(dossier, facts, (), None)
    return out


def get(d: Any, keys: Keys) -> Any:
    for k in keys:
        d = d[k]
    return d


def knock_out(dossier: dict, picks: list[tuple[Keys, T.Field | None, T.Type]]) -> tuple[dict, list[Keys]]:
    """The dossier with each picked fact made unknown (absent, or null where null is not a value
    of its type), and the picks kept (one inside another already knocked out is dropped)."""
    d = copy.deepcopy(dossier)
    kept: list[Keys] = []
    for keys, field, t in sorted(picks, key=lambda p: len(p[0])):   # a list before its items
        if any(keys[:len(k)] == k for k in kept):
            continue
        parent = get(d, keys[:-1])
        if isinstance(t, T.Optional) or (field is not None and field.has_default):
            if field is None or field.has_default:
                continue            # a list element or a defaulted field: cannot be made unknown here
            del parent[keys[-1]]
        else:
            parent[keys[-1]] = None
        kept.append(keys)
    return d, kept


def domain(original: Any, field: T.Field | None, t: T.Type, dossier: dict, keys: Keys) -> list[Any]:
    """A few values a knocked-out fact may take, its own first; every one valid for its type."""
    vals: list[Any] = [original]
    inner = T.strip(t)
    c = field.constraint if field is not None else None
    if isinstance(t, T.Optional):
        vals.append(None)
    if isinstance(inner, T.Enum):
        vals += list(inner.values)
    elif isinstance(inner, T.Scalar):
        name = inner.name
        if name == "bool":
            vals += [True, False]
        elif name == "int":
            if isinstance(c, RangeConstraint):
                vals += [c.low.value, c.high.value, 6]
            else:
                vals += [original + 1 if isinstance(original, int) else 0]
        elif name == "decimal":
            if isinstance(c, RangeConstraint):
                vals += [float(c.low.value), float(c.high.value), 0.5]
        elif name == "text":
            if isinstance(c, LengthConstraint) and isinstance(keys[-2], int):
                # another item's key: a repeated FINESS
                others = [x.get(keys[-1]) for x in get(dossier, keys[:-2]) if isinstance(x, dict)]
                vals += [o for o in others if isinstance(o, str) and len(o) == c.length][:2]
        elif name == "date" and isinstance(original, str):
            day = dt.date.fromisoformat(original)
            vals += [(day + dt.timedelta(days=n)).isoformat() for n in (-200, 200)]
        elif name == "datetime" and isinstance(original, str):
            when = dt.datetime.fromisoformat(original)
            vals += [(when + dt.timedelta(days=n)).isoformat() for n in (-120, 120)]
    elif isinstance(inner, T.List):
        vals += [[], original[:1]] if isinstance(original, list) else [[]]
    out: list[Any] = []
    for v in vals:
        if v not in out or any(type(v) is not type(o) for o in out if o == v):
            out.append(v)
    return out


def completions(dossier: dict, knocked: list[tuple[Keys, list[Any]]], rnd: random.Random,
                limit: int = 40) -> list[dict]:
    """Dossiers where each knocked-out fact takes a value of its domain: all combinations when
    there are at most `limit`, else the all-originals one and `limit - 1` drawn at random."""
    domains = [vals for _, vals in knocked]
    size = 1
    for vals in domains:
        size *= len(vals)
    if size <= limit:
        choices = list(itertools.product(*domains))
    else:
        choices = [tuple(vals[0] for vals in domains)]
        choices += [tuple(rnd.choice(vals) for vals in domains) for _ in range(limit - 1)]
    out = []
    for choice in choices:
        d = copy.deepcopy(dossier)
        for (keys, _), v in sorted(zip(knocked, choice, strict=True), key=lambda kv: len(kv[0][0])):
            parent = get(d, keys[:-1])
            parent[keys[-1]] = copy.deepcopy(v)
        out.append(d)
    return out


def consistent(partial_result: Any, full_result: Any, any_item: int) -> list[str]:
    """What of the partial verdict one completion's verdict contradicts (empty: consistent)."""
    from esms_rules.partial import has_unknown
    errors = []
    p_ok, p_rec, p_outs, p_fired = partial_result
    ok, rec, outs, fired = full_result
    if isinstance(p_ok, bool) and p_ok != ok:
        errors.append(f"eligible {p_ok} but {ok} in a completion")
    if isinstance(p_rec, bool) and p_rec != rec:
        errors.append(f"recevable {p_rec} but {rec} in a completion")
    got = {(f.rule, f.item) for f in fired}
    maybe = {(f.rule, f.item) for f in p_fired}
    any_rules = {f.rule for f in p_fired if f.item == any_item}
    for f in p_fired:
        if f.status is True and (f.rule, f.item) not in got:
            errors.append(f"rule {f.rule} item {f.item} certain but not raised in a completion")
    for r, i in got:
        if (r, i) not in maybe and not (i != NO_ITEM and r in any_rules):
            errors.append(f"rule {r} item {i} raised in a completion but excluded")
    for k, (p, v) in enumerate(zip(p_outs, outs, strict=True)):
        if isinstance(p, list) and isinstance(v, list) and len(p) == len(v):
            for j, (a, b) in enumerate(zip(p, v, strict=True)):
                if not has_unknown(a) and a != b:
                    errors.append(f"output {k}[{j}] {a!r} but {b!r} in a completion")
        elif not has_unknown(p) and p != v:
            errors.append(f"output {k} {p!r} but {v!r} in a completion")
    return errors
