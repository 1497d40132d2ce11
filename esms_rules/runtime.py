"""The few helpers that compiled evaluators call. Pure functions of their arguments."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Context, Decimal
from functools import lru_cache

from dateutil import tz as dateutil_tz


@lru_cache(maxsize=4096)
def end_of_day(day: dt.date, zone: str) -> dt.datetime:
    """The instant that ends day `day` in `zone`: 00:00:00 of the next day there.

    "jusqu'au 15 septembre à minuit" is on time if and only if strictly before this instant.
    """
    if day == dt.date.max:  # no next day to start: the end of time, for comparisons
        return dt.datetime.max.replace(tzinfo=dt.timezone.utc)
    nxt = day + dt.timedelta(days=1)
    return dt.datetime(nxt.year, nxt.month, nxt.day, tzinfo=dateutil_tz.gettz(zone))


def round_half_up(x, places: int) -> Decimal:
    x = Decimal(x)
    # enough digits for the whole part and the decimals kept, whatever the size of x
    context = Context(prec=max(28, x.adjusted() + places + 2), rounding=ROUND_HALF_UP)
    return x.quantize(Decimal(1).scaleb(-places), context=context)


def distinct(items) -> list:
    """Distinct values in order of first appearance (deterministic, unlike a set)."""
    return list(dict.fromkeys(items))


def coalesce(value, fallback):
    return fallback if value is None else value


def repeated_flags(keys) -> list:
    """For each key, whether an earlier one was equal: one pass, linear time."""
    seen: set = set()
    out = []
    for k in keys:
        out.append(k in seen)
        seen.add(k)
    return out
