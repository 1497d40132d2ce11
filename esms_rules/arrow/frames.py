"""Dossiers in: an Arrow batch as the frames a columnar plan reads (`frames_from_arrow`),
each column checked and typed over columns, with the rows that must go per record; and the
JSON form of those rows (`json_rows`), as a JSON decoder gives them to `Policy.evaluate`."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import ast
from .. import types as T
from ..batch import _DATE_SHAPE, _DATETIME_SHAPE
from ..batch.typed import _null_item, _unknown_item
from ..columnar import FACT_SCALE, _dtype
from .schema import _libs

if TYPE_CHECKING:
    import polars
    import pyarrow

    from ..columnar import Plan
    from ..columnar.run import Frames
    from ..policy import Policy

LIMIT = 2 ** 62


class _In:
    """The masks of the rows (or items) that must go per record."""

    def __init__(self) -> None:
        self.bad: list[polars.Expr] = []   # row masks (expressions over the input frame)
        self.pre: list[polars.Expr] = []   # columns computed once before the masks and typed columns read them

    def flag(self, mask: polars.Expr) -> None:
        self.bad.append(mask.fill_null(False))

    def once(self, e: polars.Expr) -> polars.Expr:
        """`e` computed once, as a column (a Python function over a column is never shared)."""
        name = f"__pre{len(self.pre)}"
        self.pre.append(e.alias(name))
        return _libs()[0].col(name)


def _typed(pl: ModuleType, col: polars.Expr, t: T.Type, constraint: ast.Constraint | None, chk: _In,
           dtype: Any) -> polars.Expr | None:
    """`col` (an expression of dtype `dtype`) typed for the plan, flagging bad rows in `chk`.
    Returns None when the column's type cannot hold `t` (every row then goes per record)."""
    optional = isinstance(t, T.Optional)
    base = T.strip(t)
    if not optional:
        chk.flag(col.is_null())
    if dtype == pl.Null:
        return None if not optional else pl.lit(None, dtype=_dtype(pl, base))
    if isinstance(base, T.Enum) or base == T.TEXT:
        if not (dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))):
            return None
        out = col.cast(pl.String)
        if isinstance(base, T.Enum):
            chk.flag(~out.is_in(pl.Series(list(base.values), dtype=pl.String).implode()) & out.is_not_null())
    elif base == T.BOOL:
        if dtype != pl.Boolean:
            return None
        out = col
    elif base == T.INT:
        if not dtype.is_integer():
            return None
        out = col.cast(pl.Int64, strict=False)
        chk.flag(out.is_null() & col.is_not_null())
        chk.flag((out >= LIMIT) | (out <= -LIMIT))      # not abs(): it wraps at -2**63
    elif base == T.DECIMAL:
        if dtype.is_integer():
            k = col.cast(pl.Int64, strict=False)
            chk.flag((k.is_null() & col.is_not_null()) | (k.cast(pl.Float64).abs() * 10 ** FACT_SCALE >= LIMIT))
            out = k * 10 ** FACT_SCALE
        elif dtype.is_float():
            f = col.cast(pl.Float64)
            out = chk.once(f.map_batches(_float_to_scaled, return_dtype=pl.Int64))
            chk.flag(out.is_null() & f.is_not_null())
        elif isinstance(dtype, pl.Decimal):
            if dtype.scale > FACT_SCALE:
                shifted = col.cast(pl.Decimal(38, dtype.scale)).to_physical()
                k = 10 ** (dtype.scale - FACT_SCALE)
                chk.flag((shifted % k) != 0)
                phys = shifted // k
            else:
                phys = col.cast(pl.Decimal(38, FACT_SCALE)).to_physical()
            chk.flag(phys.abs() >= LIMIT)
            out = pl.when(phys.abs() < LIMIT).then(phys).otherwise(None).cast(pl.Int64)
        else:
            return None
    elif base == T.DATE:
        if dtype == pl.Date:
            out = col
        elif dtype == pl.String:
            usual = col.str.contains(_DATE_SHAPE)
            out = pl.when(usual).then(col.str.to_date("%Y-%m-%d", strict=False)).otherwise(None)
            chk.flag(out.is_null() & col.is_not_null())
        else:
            return None
    elif base == T.DATETIME:
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                return None
            out = col.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        elif dtype == pl.String:
            iso = col.str.replace(r"Z$", "+00:00")       # as the validator reads it
            usual = iso.str.contains(_DATETIME_SHAPE)
            out = pl.when(usual).then(iso.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC", time_unit="us",
                                                            strict=False)).otherwise(None)
            chk.flag(out.is_null() & col.is_not_null())
        else:
            return None
    elif isinstance(base, T.List):
        if not isinstance(dtype, pl.List):
            return None
        el = T.strip(base.element)
        inner = dtype.inner
        if isinstance(el, T.Enum) or el == T.TEXT:
            if not (inner == pl.String or isinstance(inner, (pl.Categorical, pl.Enum)) or inner == pl.Null):
                return None
            out = col.cast(pl.List(pl.String))
            if isinstance(el, T.Enum):
                chk.flag(_unknown_item(pl, out, el.values))
        elif el == T.BOOL and inner in (pl.Boolean, pl.Null):
            out = col.cast(pl.List(pl.Boolean))
        elif el == T.INT and (inner.is_integer() or inner == pl.Null):
            out = col.cast(pl.List(pl.Int64), strict=False)
            chk.flag((out.list.max() >= LIMIT) | (out.list.min() <= -LIMIT))
        else:
            return None
        chk.flag(_null_item(out))
    else:
        return None
    if constraint is not None:
        if isinstance(constraint, ast.LengthConstraint):
            chk.flag(out.str.len_chars() != constraint.length)
        elif isinstance(constraint, ast.RangeConstraint):
            lo, hi = constraint.low.value, constraint.high.value
            if base == T.DECIMAL:
                lo, hi = (int(Decimal(str(lo)).scaleb(FACT_SCALE)), int(Decimal(str(hi)).scaleb(FACT_SCALE)))
            chk.flag((out < lo) | (out > hi))
    return out


def _float_to_scaled(s: polars.Series) -> polars.Series:
    """Floats as integers of 10**-9, where that is exactly `Decimal(repr(x))` (the per-record
    reading of a JSON number), else null: the nearest multiple of 10**-9 must round back to
    the float, and be the only one within its precision (|x| < 2**23). numpy divides exactly
    (polars multiplies by the inverse)."""
    import numpy as np
    pl = _libs()[0]
    a = s.cast(pl.Float64).to_numpy()
    scaled = np.round(a * 10.0 ** FACT_SCALE)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(a) < 2.0 ** 23) & (scaled / 10.0 ** FACT_SCALE == a)
    return pl.Series(s.name, np.where(ok, scaled, np.nan), dtype=pl.Float64, nan_to_null=True).cast(pl.Int64)


def _struct_fields(pl: ModuleType, col: polars.Expr, rec: T.Record, dtype: Any,
                   chk: _In) -> dict[str, polars.Expr] | None:
    """The typed fields of a struct column, or None when its shape is not the record's."""
    if not isinstance(dtype, pl.Struct):
        return None
    present = {f.name: f.dtype for f in dtype.fields}
    out = {}
    for f in rec.fields:
        if f.name not in present:
            if f.has_default:
                out[f.name] = pl.lit(f.default.value if f.default is not None else None)
                continue
            return None
        typed = _typed(pl, col.struct.field(f.name), f.type, f.constraint, chk, present[f.name])
        if typed is None:
            return None
        out[f.name] = typed
    for name in present:
        if rec.field(name) is None:       # a field the policy does not know: per record
            chk.flag(col.struct.field(name).is_not_null())
    return out


def _compact(batch: pyarrow.RecordBatch) -> pyarrow.RecordBatch:
    """`batch` itself, or a compact copy when it is a slice of much larger buffers (a Dask or
    Spark partition, `table.slice`): polars reads the whole buffers of a sliced nested column,
    so that ten rows of a large table cost as much as the table."""
    if batch.num_rows and batch.get_total_buffer_size() > 2 * batch.nbytes + (1 << 20):
        _, pa = _libs()
        return batch.take(pa.array(range(batch.num_rows), pa.int64()))
    return batch


def frames_from_arrow(pln: Plan, batch: Any) -> tuple[polars.DataFrame, Frames, list[int], list[int]] | None:
    """(dossier frame, item frames, columnar rows, per-record rows) of an Arrow batch."""
    pl = pln.pl
    p = pln.p
    df = pl.from_arrow(_compact(batch)) if not isinstance(batch, pl.DataFrame) else batch
    if isinstance(df, pl.Series):
        df = df.to_frame()
    df = df.with_row_index("__in")
    schema = df.schema
    chk = _In()
    d_cols = [pl.col("__in").cast(pl.Int64).alias("__row")]
    item_chk = {}
    for f in p.facts.fields:
        default = f.default.value if f.default is not None else None     # when f.has_default
        if f.name not in schema:
            if f.has_default:
                d_cols.append(pl.lit(default).alias(f.name))
                continue
            return None
        col = pl.col(f.name)
        dtype = schema[f.name]
        if f.name in pln.lists:
            if not isinstance(dtype, pl.List):
                return None
            item_chk[f.name] = dtype
            chk.flag(col.is_null())
            continue
        base = T.strip(f.type)
        if f.has_default:
            col = pl.coalesce(col, pl.lit(default))
        if isinstance(base, T.Record):
            if not isinstance(f.type, T.Optional):
                chk.flag(col.is_null())
            fields = _struct_fields(pl, col, base, dtype, chk)
            if fields is None:
                return None
            typed = pl.when(col.is_not_null()).then(pl.struct(**fields))
        else:
            typed = _typed(pl, col, f.type, f.constraint, chk, dtype)
            if typed is None:
                return None
        d_cols.append(typed.alias(f.name))
        if f.name in pln.raw_datetimes:      # the text of a date-time, for messages
            raw = col.dt.to_string("%Y-%m-%dT%H:%M:%S%:z") if isinstance(dtype, pl.Datetime) else col
            d_cols.append(raw.alias("__raw." + f.name))
    for name in schema:
        if name != "__in" and p.facts.field(name) is None:
            chk.flag(pl.col(name).is_not_null())
    frames = {}
    item_bad = []
    for lst, dtype in item_chk.items():
        rec = pln.lists[lst]
        inner = dtype.inner
        ex = df.select(pl.col("__in").cast(pl.Int64).alias("__row"), pl.col(lst),
                       pl.int_ranges(0, pl.col(lst).list.len(), dtype=pl.Int64).alias("__i")) \
            .explode([lst, "__i"]).filter(pl.col("__i").is_not_null())
        ich = _In()
        ich.flag(pl.col(lst).is_null())
        fields = _struct_fields(pl, pl.col(lst), rec, inner, ich)
        if fields is None:
            return None
        it = ex.with_columns(ich.pre).select(pl.col("__row"), pl.col("__i"), *[e.alias(k) for k, e in fields.items()],
                       pl.any_horizontal(ich.bad).alias("__bad") if ich.bad else pl.lit(False).alias("__bad"))
        item_bad.append(it.filter(pl.col("__bad")).get_column("__row").unique())
        frames[lst] = it.drop("__bad")
    bad = pl.any_horizontal(chk.bad) if chk.bad else pl.lit(False)
    d = df.with_columns(chk.pre).select(*d_cols, bad.alias("__bad"))
    bad_rows = d.get_column("__bad")
    for rows in item_bad:
        if len(rows):
            bad_rows = bad_rows | d.get_column("__row").is_in(rows.implode())
    per_record = bad_rows.arg_true().to_list()
    if not per_record:
        return d.drop("__bad"), frames, list(range(d.height)), per_record
    good = ~bad_rows
    # the plan reads rows 0..k-1: renumbered, the new number of an old row read from a table
    renumber = (good.cast(pl.Int64).cum_sum() - 1).cast(pl.Int64)
    d = d.filter(good)
    rows = d.get_column("__row").to_list()
    d = d.drop("__bad").with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"))
    for lst in frames:
        frames[lst] = frames[lst].filter(pl.lit(good).gather(pl.col("__row"))) \
            .with_columns(pl.lit(renumber).gather(pl.col("__row")).alias("__row"))
    return d, frames, rows, per_record


# ---- JSON form of one Arrow row (rows decided per record) ------------------------------------
def _json_value(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _drop_absent(d: dict[str, Any], rec: T.Record) -> dict[str, Any]:
    """Nulls that mean "absent": unknown keys, and facts with a default."""
    out = {}
    for k, v in d.items():
        f = rec.field(k)
        if v is None and (f is None or f.has_default):
            continue
        base = T.strip(f.type) if f is not None else None
        if isinstance(base, T.Record) and isinstance(v, dict):
            v = _drop_absent(v, base)
        elif isinstance(base, T.List) and isinstance(T.strip(base.element), T.Record) and isinstance(v, list):
            element = T.strip(base.element)
            assert isinstance(element, T.Record)
            v = [_drop_absent(x, element) if isinstance(x, dict) else x for x in v]
        out[k] = v
    return out


def json_rows(policy: Policy, batch: Any, rows: Iterable[int]) -> list[dict[str, Any]]:
    """The JSON dossiers (dicts, as a JSON decoder gives them) of some rows of an Arrow batch."""
    facts = policy.checked.facts
    out = []
    for k in rows:
        row = batch.slice(k, 1).to_pylist()[0]
        out.append(_drop_absent(_json_value(row), facts))
    return out

