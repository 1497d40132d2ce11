"""What compiled evaluators use and return: a few pure helpers, and the named shapes of
their results.

The generated function of each mode (`compile.compile_policy(checked, mode)`) takes the
validated facts and returns
- "decision": `DecisionResult(eligible, recevable, outputs)`;
- "reasons":  `ReasonsResult(eligible, recevable, outputs, fired)`, `fired` a list of `Fired`;
- "trace":    `TraceResult(eligible, recevable, outputs, records, def_values)`, `records` one
  tuple per rule or exception evaluated, laid out as `TraceRecord` with the `Outcome`'s code
  (plain tuples: building a NamedTuple per record would cost more than the rest of a traced
  evaluation); `TraceResult.trace_records()` gives them as `TraceRecord`s;
- "compact":  the same `TraceResult`, with the records of the deciding path only.

`outputs` are in the order of `CheckedPolicy.outputs`; `rule` indexes `CheckedPolicy.all_rules`;
`item` is the index in the policy's item list, or -1 for a rule on the whole dossier. These
classes are tuples (NamedTuple): cheap to build in generated code, and unpacking still works.
"""
from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Hashable, Iterable
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache
from typing import Any, NamedTuple

from dateutil import tz as dateutil_tz


class Outcome(enum.IntEnum):
    """What became of one rule or exception in an evaluation (traces record it)."""

    PASSED = 0           # its condition was false: nothing fired
    FIRED = 1            # its outcome (code, severity, message) applies
    OVERRIDDEN = 2       # an exception of it applied instead
    NOT_APPLICABLE = 3   # an exception whose `applies` was false, or beaten by a higher priority
    LIFTED = 4           # an exception without outcome applied: the rule is simply lifted

    @property
    def label(self) -> str:
        """The name used in trace JSON and renderings: `passed`, `not-applicable`…"""
        return self.name.lower().replace("_", "-")


NO_ITEM = -1     # `Fired.item` / `TraceRecord.item` of a rule on the whole dossier
NO_RULE = -1     # `TraceRecord.by` when no exception overrode the rule


class Fired(NamedTuple):
    """A rule that fired, in mode "reasons": what its reason and message need."""

    rule: int                 # index in CheckedPolicy.all_rules
    item: int                 # index in the item list, or NO_ITEM
    values: tuple[Any, ...]   # the values of the message's interpolations, in order


class TraceRecord(NamedTuple):
    """One evaluation of a rule or an exception, in mode "trace"."""

    rule: int                        # index in CheckedPolicy.all_rules
    item: int                        # index in the item list, or NO_ITEM
    outcome: Outcome
    reads: tuple[Any, ...]           # the values of RuleInfo.reads, in order
    values: tuple[Any, ...] | None   # message values when FIRED, else None
    by: int                          # the overriding exception (all_rules index) when OVERRIDDEN, else NO_RULE


class DecisionResult(NamedTuple):
    eligible: bool
    recevable: bool
    outputs: tuple[Any, ...]


class ReasonsResult(NamedTuple):
    eligible: bool
    recevable: bool
    outputs: tuple[Any, ...]
    fired: list[Fired]


def as_trace_record(raw: tuple[Any, ...]) -> TraceRecord:
    """One record of mode "trace", as generated code appends it, with its fields named."""
    rule, item, outcome, reads, values, by = raw
    return TraceRecord(rule, item, Outcome(outcome), reads, values, by)


class TraceResult(NamedTuple):
    eligible: bool
    recevable: bool
    outputs: tuple[Any, ...]
    records: list[tuple[Any, ...]]   # each laid out as TraceRecord: see trace_records()
    def_values: tuple[Any, ...]      # in the order of CheckedPolicy.value_defs

    def trace_records(self) -> list[TraceRecord]:
        return [as_trace_record(r) for r in self.records]

    def fired(self) -> list[Fired]:
        """The records of rules that fired, as mode "reasons" gives them."""
        return [Fired(rule, item, values) for rule, item, outcome, _, values, _ in self.records
                if outcome == Outcome.FIRED]


RESULTS: dict[str, type] = {"decision": DecisionResult, "reasons": ReasonsResult, "trace": TraceResult,
                             "compact": TraceResult}
"""The result class of each mode."""


@lru_cache(maxsize=4096)
def end_of_day(day: dt.date, zone: str) -> dt.datetime:
    """The instant that ends day `day` in `zone`: 00:00:00 of the next day there.

    "jusqu'au 15 septembre à minuit" is on time if and only if strictly before this instant.
    Where a clock change repeats midnight (America/Havana in November) the day ends at the
    first one; where it skips midnight (Havana in March) the next day starts when the clocks
    resume (01:00). The result carries the fixed UTC offset the local clocks showed, so that
    it compares, `==` included, as the instant it is (Python never finds an aware datetime
    whose offset depends on `fold` equal to one in another zone).
    """
    if day == dt.date.max:  # no next day to start: the end of time, for comparisons
        return dt.datetime.max.replace(tzinfo=dt.UTC)
    nxt = day + dt.timedelta(days=1)
    local = dateutil_tz.resolve_imaginary(dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=dateutil_tz.gettz(zone)))
    offset = local.utcoffset()
    assert offset is not None
    return local.replace(tzinfo=dt.timezone(offset))


def round_half_up(x: int | Decimal, places: int) -> Decimal:
    x = Decimal(x)
    # enough digits for the whole part and the decimals kept, whatever the size of x
    context = Context(prec=max(28, x.adjusted() + places + 2), rounding=ROUND_HALF_UP)
    return x.quantize(Decimal(1).scaleb(-places), context=context)


def distinct(items: Iterable[Hashable]) -> list[Any]:
    """Distinct values in order of first appearance (deterministic, unlike a set)."""
    return list(dict.fromkeys(items))


def coalesce(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)   # digit d doubled, its two digits added
# the same by byte: b"0".."9" -> their doubled digit's sum (`bytes.translate` table)
_LUHN_DOUBLED_BYTES = bytes(_LUHN_DOUBLED[b - 48] if 48 <= b <= 57 else 0 for b in range(256))


def luhn_valid(text: str) -> bool:
    """Whether `text` is two or more ASCII digits whose last is the Luhn key of the others.

    From the right, the key counts as is, the digit before it doubled (its two digits
    added), and so on alternately; the number is valid when the sum ends in 0. Anything
    else than the digits 0 to 9 (a letter, a space, a sign, another script's digits) is not
    valid; neither is a single digit, which would be a key of nothing.
    """
    if len(text) < 2 or not text.isascii() or not text.isdigit():
        return False
    # speed (a FINESS number per structure): sums over byte slices, no loop in Python
    b = text.encode("ascii")
    kept = b[-1::-2]
    return (sum(kept) - 48 * len(kept) + sum(b[-2::-2].translate(_LUHN_DOUBLED_BYTES))) % 10 == 0


def luhn_key(digits: str) -> str:
    """The digit that, written after `digits` (ASCII digits), makes a number `luhn_valid` accepts."""
    total = sum(_LUHN_DOUBLED[ord(c) - 48] if k % 2 == 0 else ord(c) - 48 for k, c in enumerate(reversed(digits)))
    return str(-total % 10)


def repeated_flags(keys: Iterable[Hashable]) -> list[bool]:
    """For each key, whether an earlier one was equal: one pass, linear time."""
    keys = list(keys)
    if len(set(keys)) == len(keys):       # speed: most lists have no repeated key
        return [False] * len(keys)
    seen: set[Hashable] = set()
    out: list[bool] = []
    for k in keys:
        out.append(k in seen)
        seen.add(k)
    return out
