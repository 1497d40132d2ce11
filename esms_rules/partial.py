"""Dossiers still being written: evaluation with facts unknown, in three-valued (Kleene) logic.

A dossier evaluated with `partial=True` may leave a fact unknown: absent, or `null` where the
schema does not allow null (docs/partial.md). Such a fact becomes an `Unknown`, and the decision
says of each value and reason whether it is certain (*acquis*), excluded (*exclu*), or depends
on (*dépend de*) the facts it names. The stages of a partial evaluation, one module each:

- partial_logic.py: the values (`Unknown`, `PartialList`) and the operations of the language
  on them, the one definition of three-valued meaning (`AND`, `count`…);
- this module: `PartialValidator`, validation where a missing or null required fact becomes
  unknown, and `evaluate_partial`, the decision of a partial evaluation;
- partial_compile.py: `PartialGen`, compile.py's generator subclassed to generate three-valued
  Python (`compile_partial`);
- partial_decision.py: the partial part of a decision (`PartialInfo`, `PartialReason`), its
  JSON Schema and its French text (`render_text`).

Every public name of these modules is importable from here (`from esms_rules.partial import …`).

A reason's *status* is its guard, three-valued: `True` (*acquis*: raised whatever the
unknown facts turn out to be), an `Unknown` (*dépend de* its paths), or `False`
(*exclu*: raised by no completion of the dossier; not recorded).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import attrs

from . import runtime
from . import types as T
from .diagnostics import Problem
from .partial_compile import PartialGen, compile_partial, emit_partial
from .partial_decision import STATUS_WORDS, PartialInfo, PartialReason, partial_schema, render_text, status_key
from .partial_logic import (
    AND,
    ANY_ITEM,
    NOT,
    OR,
    PartialFired,
    PartialList,
    PartialResult,
    Unknown,
    all_of,
    and_then,
    any_of,
    arith,
    attr,
    call_builtin,
    cmp,
    coalesce,
    comprehension,
    count,
    distinct,
    either,
    end_of_day,
    extremum,
    fail,
    has_unknown,
    if_then,
    is_unknown,
    lookup,
    member,
    neg,
    or_else,
    passes,
    paths_of,
    repeated_flags,
    round_half_up,
    total,
    unknown,
    unknown_items,
)
from .validate import Validator

__all__ = [
    # partial_logic: the values and their operations
    "AND", "ANY_ITEM", "NOT", "OR", "PartialFired", "PartialList", "PartialResult", "Unknown", "all_of", "and_then",
    "any_of", "arith", "attr", "call_builtin", "cmp", "coalesce", "comprehension", "count", "distinct", "either",
    "end_of_day", "extremum", "fail", "has_unknown", "if_then", "is_unknown", "lookup", "member", "neg", "or_else",
    "passes", "paths_of", "repeated_flags", "round_half_up", "total", "unknown", "unknown_items",
    # partial_compile, partial_decision
    "PartialGen", "compile_partial", "emit_partial",
    "STATUS_WORDS", "PartialInfo", "PartialReason", "partial_schema", "render_text", "status_key",
    # this module
    "PartialValidator", "evaluate_partial", "partial_evaluator",
]


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


# ---- the decision of a partial evaluation --------------------------------------------------
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
