"""The values of a columnar plan: `V` (a translated expression, the frame it belongs to, and
its scale), exact decimals as scaled Int64 integers, the polars types of the language's types,
and `ColumnarUnsupported`. A leaf of the package: the other modules build on it."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from .. import types as T
from ..batch import BatchUnsupported

if TYPE_CHECKING:
    import polars

    from ..batch.translate import DType
    from ..span import Span

# a number's Python type per record: True (an int), False (a Decimal), or a boolean expression
IsInt: TypeAlias = "bool | polars.Expr"

FACT_SCALE = 9            # decimal places kept for decimal facts
LIMIT = float(2 ** 62)     # beyond this magnitude (Float64 estimate), a row goes per record
UTC = dt.UTC


class ColumnarUnsupported(BatchUnsupported):
    """A construct of the policy has no columnar form: evaluate per record."""

    def __init__(self, message: str, span: Span | None = None) -> None:
        self.span = span
        super().__init__(f"{span}: {message}" if span is not None else message)


# ---- values known at compile time --------------------------------------------------------
class V:
    """A translated expression: a polars expression of one frame (the dossier frame when
    `lst` is None, else the item frame of list `lst`), and what it holds."""

    __slots__ = ("e", "isint", "kind", "lst", "mask", "scale", "via")

    def __init__(self, e: Any, scale: int | None = None, lst: str | None = None, kind: str = "value",
                 mask: V | None = None, isint: IsInt | None = None,
                 via: tuple[V, dict[Any, Any]] | None = None) -> None:
        self.e = e            # a polars expression (None for kind "item" and "rows")
        self.scale = scale    # decimal places of a decimal (scaled integer), else None
        self.lst = lst        # frame: None (dossier) or the name of a list of records
        self.kind = kind      # "value" | "item" (the current item of `lst`) | "rows" (items of `lst` where `mask`)
        self.mask = mask      # for "rows": an item expression, or None for every item
        # a number's Python type per record, which decision JSON shows (0 and 0.0): True (an
        # int), False (a Decimal), or a boolean expression; None: int when not scaled
        self.isint = isint
        # a table lookup: (its key V, the table as a dict), so that a lookup of a lookup
        # (`minimum_size[territory_of[region_of[d]]]`) is one replacement of `d`
        self.via = via

    @property
    def items(self) -> str:
        """The list of records whose item frame holds `self` (kinds "item" and "rows", item values)."""
        assert self.lst is not None, "a dossier value"
        return self.lst


def _ii(v: V) -> IsInt:
    return v.isint if v.isint is not None else v.scale is None


def _all_int(pl: ModuleType, a: V, b: V) -> IsInt:
    x, y = _ii(a), _ii(b)
    if isinstance(x, bool) and isinstance(y, bool):
        return x and y
    return (pl.lit(x) if isinstance(x, bool) else x) & (pl.lit(y) if isinstance(y, bool) else y)


def _pick(pl: ModuleType, c: polars.Expr, a: V, b: V) -> IsInt:
    x, y = _ii(a), _ii(b)
    if isinstance(x, bool) and isinstance(y, bool) and x == y:
        return x
    return pl.when(c).then(pl.lit(x) if isinstance(x, bool) else x).otherwise(pl.lit(y) if isinstance(y, bool) else y)


def _scale_of_decimal(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _scaled(d: Decimal, scale: int) -> int:
    return int(d.scaleb(scale))


class Shown(NamedTuple):
    """A value a rule's message shows: its column, its scale (a decimal), how it is read back
    (`"text"`: as is; `"decimal"`; `"datetime"`: the column holds its ISO text; `"value"`:
    anything else), and its type."""
    col: str
    scale: int | None
    kind: str
    type: T.Type



def _lit_dtype(pl: ModuleType, vals: list[Any]) -> DType:
    v = vals[0]
    if isinstance(v, bool):
        return pl.Boolean
    if isinstance(v, int):
        return pl.Int64
    if isinstance(v, dt.datetime):
        return pl.Datetime("us", "UTC")
    if isinstance(v, dt.date):
        return pl.Date
    return pl.String


def _dtype(pl: ModuleType, t: T.Type, span: Span | None = None) -> DType:
    t = T.strip(t)
    if isinstance(t, T.Enum) or t == T.TEXT:
        return pl.String
    if isinstance(t, T.List):
        return pl.List(_dtype(pl, t.element, span))
    if isinstance(t, T.Scalar):
        return {"bool": pl.Boolean, "int": pl.Int64, "decimal": pl.Int64, "date": pl.Date,
                "datetime": pl.Datetime("us", "UTC")}[t.name]
    if isinstance(t, (T.Null, T.Never)):
        return pl.Null
    if isinstance(t, T.Record):
        return pl.Struct({f.name: _dtype(pl, f.type, span) for f in t.fields})
    raise ColumnarUnsupported(f"values of type {t} have no columnar form", span)


