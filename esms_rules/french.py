"""Values as French readers see them in messages, explanations and reports.

A leaf module (it imports nothing of the package), so that every stage that shows a value
(`policy`, `explain`, `render`, `replay`, `counterfactual`) shares one spelling of it:
`french(value)` for one value, `render_message(parts, values)` for a rule's message.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import MAX_PREC, Context, Decimal

from dateutil import tz

__all__ = ["datetime_label", "french", "render_message"]

PARIS = tz.gettz("Europe/Paris")

_EXACT = Context(prec=MAX_PREC)   # the caller's decimal context never rounds a value shown


def _day(v: dt.date) -> str:
    """dd/mm/yyyy with four-digit years (the platform's strftime writes year 999 as `999`)."""
    return f"{v.day:02d}/{v.month:02d}/{v.year:04d}"


def _day_time(v: dt.datetime) -> str:
    return f"{_day(v)} à {v.hour:02d}:{v.minute:02d}"


def datetime_label(v: dt.datetime) -> str:
    """An instant at Paris time (the deadlines are Paris midnights), its own offset beside it:
    `16/10/2021 à 00:30 heure de Paris (15/10/2021 à 23:30 en UTC+01:00)`."""
    if v.tzinfo is None or v.utcoffset() is None:
        return _day_time(v)
    off = v.strftime("%z")
    off = f"UTC{off[:3]}:{off[3:5]}"
    try:
        paris = v.astimezone(PARIS)
    except (OverflowError, ValueError):   # at the edges of the calendar: as filed
        return f"{_day_time(v)} ({off})"
    shown = _day_time(paris) + " heure de Paris"
    if paris.utcoffset() == v.utcoffset():
        return f"{shown} ({off})"
    return f"{shown} ({_day_time(v)} en {off})"


def french(v: object, null: str = "non renseigné") -> str:
    """One value in French: `null` for null (« non renseigné », what the dossier left empty, unless
    told otherwise), `oui`/`non`, dd/mm/yyyy, instants at Paris time, decimal comma."""
    if v is None:
        return null
    if isinstance(v, bool):
        return "oui" if v else "non"
    if isinstance(v, dt.datetime):
        return datetime_label(v)
    if isinstance(v, dt.date):
        return _day(v)
    if isinstance(v, Decimal):
        s = format(v.normalize(_EXACT), "f") if v != 0 else "0"
        return s.replace(".", ",")
    if isinstance(v, (list, tuple)):
        return ", ".join(french(x) for x in v) if v else "aucun"
    if isinstance(v, dict):
        return french(next(iter(v.values()), None))
    if isinstance(v, int) and v.bit_length() > 14000:
        return str(Decimal(v))          # past the digits `str(int)` writes: the same digits
    return str(v)


def render_message(parts: Iterable[object], values: Iterable[object], nulls: Iterable[str] = ()) -> str:
    """A message from its parts (text, and one placeholder per `{…}`) and the placeholders' values.

    Every part that is not a `str` is a placeholder, filled with the next value, in French;
    `nulls` says, placeholder by placeholder, how a null reads (see `explain.null_word`;
    « non renseigné » when not given).
    """
    out, it, words = [], iter(values), iter(nulls)
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        else:
            out.append(french(next(it), next(words, "non renseigné")))
    return "".join(out)
