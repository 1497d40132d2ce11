"""Values as French readers see them in messages, explanations and reports.

A leaf module (it imports nothing of the package), so that every stage that shows a value
(`policy`, `explain`, `render`, `replay`, `counterfactual`) shares one spelling of it:
`french(value)` for one value, `render_message(parts, values)` for a rule's message.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import MAX_PREC, Context, Decimal

__all__ = ["french", "render_message"]

_EXACT = Context(prec=MAX_PREC)   # the caller's decimal context never rounds a value shown


def french(v: object) -> str:
    """One value in French: `non renseigné` for null, `oui`/`non`, dd/mm/yyyy, decimal comma."""
    if v is None:
        return "non renseigné"
    if isinstance(v, bool):
        return "oui" if v else "non"
    if isinstance(v, dt.datetime):
        off = v.strftime("%z")
        return v.strftime("%d/%m/%Y à %H:%M") + (f" (UTC{off[:3]}:{off[3:]})" if off else "")
    if isinstance(v, dt.date):
        return v.strftime("%d/%m/%Y")
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


def render_message(parts: Iterable[object], values: Iterable[object]) -> str:
    """A message from its parts (text, and one placeholder per `{…}`) and the placeholders' values.

    Every part that is not a `str` is a placeholder, filled with the next value, in French.
    """
    out, it = [], iter(values)
    for part in parts:
        out.append(part if isinstance(part, str) else french(next(it)))
    return "".join(out)
