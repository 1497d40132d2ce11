"""Arrow in, Arrow out: dossiers as Arrow record batches, decided over columns.

    pip install "esms-rules[batch]"      # polars and pyarrow

`evaluate_arrow(policy, record_batch) -> record_batch` and `evaluate_batches(policy, batches)`
(an iterator of record batches in, one out per batch, in order) have the shape that Spark's
`mapInArrow` and Ray's `map_batches` take; `evaluate_parquet(policy, source, target)` streams
a Parquet file of dossiers to a Parquet file of decisions (`esms-rules evaluate
dossiers.parquet -o decisions.parquet`). docs/columnar.md documents both schemas.

The dossier schema: one column per fact of the policy (`id`, `campaign`, `call`,
`submitted_at`…); records (`applicant`, `software`) as `struct`; lists of records
(`structures`, `other_eu_funding`) as `list<struct>`; lists of values as `list<…>`.
Accepted types: `bool`; integers; `float64`, integers or `decimal128` for decimals; strings
(or dictionary strings) for text and enums; ISO strings or `date32` for dates; ISO strings
or `timestamp[tz]` for date-times. A null is JSON's `null`, except for a fact with a default
(`programme`) and for a column the policy does not know, where it means "absent".

Each row is checked over columns; a row that breaks the schema, carries a field the policy
does not know, or has a value without an exact column form, is decided by the per-record
path (`Policy.evaluate`) from its JSON form — so it gets the validator's problems in order,
or its UNKNOWN_FIELD warnings — and put back at its place. No row is lost or reordered.
"""
from __future__ import annotations

import datetime as dt
import gc
from decimal import MAX_PREC, ROUND_HALF_EVEN, Context, Decimal

from . import types as T
from .batch import _DATE_SHAPE, _DATETIME_SHAPE
from .columnar import FACT_SCALE, _python, plan, run
from .diagnostics import DossierError
from .french import render_message

LIMIT = 2 ** 62
_WIDE = Context(prec=MAX_PREC)
PLACES = 18       # decimal places of `amount_eur` and `funded_share` in the decision schema


def _libs():
    from .batch import _polars
    pl = _polars()
    import pyarrow as pa
    return pl, pa


# ---- the decision schema -----------------------------------------------------------------
def decision_schema(pa):
    """The Arrow schema of decisions (docs/columnar.md). Amounts and shares are
    `decimal128(38, 18)`: the exact decimals of the decision, to 18 places."""
    number = pa.decimal128(38, PLACES)
    reason = pa.struct([("code", pa.string()), ("rule", pa.string()), ("message", pa.string()),
                        ("source", pa.string()), ("level", pa.string()), ("severity", pa.string())])
    structure = pa.struct([("finess", pa.string()), ("eligible", pa.bool_()), ("funded_share", number),
                           ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason))])
    problem = pa.struct([("path", pa.string()), ("message", pa.string())])
    return pa.schema([("dossier", pa.string()), ("eligible", pa.bool_()), ("recevable", pa.bool_()),
                      ("call", pa.string()), ("amount_eur", number), ("structures", pa.list_(structure)),
                      ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason)), ("errors", pa.list_(problem))])


# ---- input: typed frames and the rows that go per record ------------------------------------
class _In:
    """The masks of the rows (or items) that must go per record."""

    def __init__(self):
        self.bad = []            # row masks (expressions over the input frame)
        self.pre = []            # columns computed once before the masks and typed columns read them

    def flag(self, mask):
        self.bad.append(mask.fill_null(False))

    def once(self, e):
        """`e` computed once, as a column (a Python function over a column is never shared)."""
        name = f"__pre{len(self.pre)}"
        self.pre.append(e.alias(name))
        return _libs()[0].col(name)


def _typed(pl, col, t, constraint, chk: _In, dtype, unknown_ok=False):
    """`col` (an expression of dtype `dtype`) typed for the plan, flagging bad rows in `chk`.
    Returns None when the column's type cannot hold `t` (every row then goes per record)."""
    optional = isinstance(t, T.Optional)
    base = T.strip(t)
    if not optional:
        chk.flag(col.is_null())
    if dtype == pl.Null:
        return None if not optional else pl.lit(None, dtype=_target(pl, base))
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
        chk.flag(out.abs() >= LIMIT)
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
                allowed = pl.Series(list(el.values), dtype=pl.String).implode()
                chk.flag(~out.list.eval(pl.element().is_in(allowed)).list.all())
        elif el == T.BOOL and inner in (pl.Boolean, pl.Null):
            out = col.cast(pl.List(pl.Boolean))
        elif el == T.INT and (inner.is_integer() or inner == pl.Null):
            out = col.cast(pl.List(pl.Int64), strict=False)
            chk.flag(out.list.eval(pl.element().abs() >= LIMIT).list.any())
        else:
            return None
        chk.flag(out.list.eval(pl.element().is_null()).list.any())
    else:
        return None
    if constraint is not None:
        from . import ast
        if isinstance(constraint, ast.LengthConstraint):
            chk.flag(out.str.len_chars() != constraint.length)
        elif isinstance(constraint, ast.RangeConstraint):
            lo, hi = constraint.low.value, constraint.high.value
            if base == T.DECIMAL:
                lo, hi = (int(Decimal(str(lo)).scaleb(FACT_SCALE)), int(Decimal(str(hi)).scaleb(FACT_SCALE)))
            chk.flag((out < lo) | (out > hi))
    return out


def _float_to_scaled(s):
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


def _target(pl, base):
    from .columnar import _dtype
    return _dtype(pl, base)


def _struct_fields(pl, col, rec: T.Record, dtype, chk: _In):
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


def _compact(batch):
    """`batch` itself, or a compact copy when it is a slice of much larger buffers (a Dask or
    Spark partition, `table.slice`): polars reads the whole buffers of a sliced nested column,
    so that ten rows of a large table cost as much as the table."""
    if batch.num_rows and batch.get_total_buffer_size() > 2 * batch.nbytes + (1 << 20):
        _, pa = _libs()
        return batch.take(pa.array(range(batch.num_rows), pa.int64()))
    return batch


def frames_from_arrow(pln, batch):
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
        if f.name not in schema:
            if f.has_default:
                d_cols.append(pl.lit(f.default.value).alias(f.name))
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
            col = pl.coalesce(col, pl.lit(f.default.value))
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
def _json_value(v):
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_value(x) for x in v]
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _drop_absent(d: dict, rec: T.Record) -> dict:
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


def json_rows(policy, batch, rows):
    """The JSON dossiers (dicts, as a JSON decoder gives them) of some rows of an Arrow batch."""
    facts = policy.checked.facts
    out = []
    for k in rows:
        row = batch.slice(k, 1).to_pylist()[0]
        out.append(_drop_absent(_json_value(row), facts))
    return out


# ---- output ---------------------------------------------------------------------------------
# Messages are rendered over columns: each value a message shows becomes its French text
# (`french.french`, the null word of its placeholder included) by polars expressions where its
# type has one, by the per-record function for each distinct value otherwise; the reasons of a
# row (or an item) are then Arrow lists cut by offsets, never grouped nor joined.
_USUAL_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def _two(e):
    return e.cast(_libs()[0].String).str.zfill(2)


def _day_text(pl, year, month, day):
    """`french._day`: dd/mm/yyyy."""
    return pl.concat_str([_two(day), pl.lit("/"), _two(month), pl.lit("/"), year.cast(pl.String).str.zfill(4)])


def _instant_texts(pl, raw):
    """`french.datetime_label` of ISO instants (a String series: the raw text a dossier gave),
    over columns, in stages (each intermediate column computed once); null where the text is
    not of the usual shape or the year is outside 1900–2199 (the time zone tables of polars
    and dateutil agree there): those are rendered per value."""
    c = pl.col
    f = raw.to_frame("raw").with_columns(
        usual=c("raw").str.contains(_USUAL_INSTANT) & c("raw").str.slice(0, 4).is_between(pl.lit("1900"), pl.lit("2199")),
        zulu=c("raw").str.ends_with("Z"), tail=c("raw").str.slice(-6))
    sign = pl.when(c("tail").str.slice(0, 1) == "-").then(-1).otherwise(1)
    f = f.with_columns(
        own=pl.when(c("zulu")).then(0).otherwise(sign * (c("tail").str.slice(1, 2).cast(pl.Int32, strict=False) * 60
                                                        + c("tail").str.slice(4, 2).cast(pl.Int32, strict=False))),
        instant=pl.when(c("usual")).then(pl.when(c("zulu")).then(c("raw").str.replace("Z$", "+00:00")).otherwise(c("raw")))
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False))
    f = f.with_columns(paris=c("instant").dt.convert_time_zone("Europe/Paris"))
    paris = c("paris")
    f = f.with_columns(
        off=pl.concat_str([pl.lit("UTC"), pl.when(c("own") < 0).then(pl.lit("-")).otherwise(pl.lit("+")),
                           _two(c("own").abs() // 60), pl.lit(":"), _two(c("own").abs() % 60)]),
        local=pl.concat_str([c("raw").str.slice(8, 2), pl.lit("/"), c("raw").str.slice(5, 2), pl.lit("/"),
                             c("raw").str.slice(0, 4), pl.lit(" à "), c("raw").str.slice(11, 2), pl.lit(":"),
                             c("raw").str.slice(14, 2)]),
        shown=pl.concat_str([_day_text(pl, paris.dt.year(), paris.dt.month(), paris.dt.day()), pl.lit(" à "),
                             _two(paris.dt.hour()), pl.lit(":"), _two(paris.dt.minute()), pl.lit(" heure de Paris")]),
        paris_off=(paris.dt.base_utc_offset() + paris.dt.dst_offset()).dt.total_minutes())
    text = pl.when(c("paris_off") == c("own")).then(pl.concat_str([c("shown"), pl.lit(" ("), c("off"), pl.lit(")")])) \
        .otherwise(pl.concat_str([c("shown"), pl.lit(" ("), c("local"), pl.lit(" en "), c("off"), pl.lit(")")]))
    return f.select(pl.when(c("usual") & c("instant").is_not_null()).then(text).alias(raw.name)).to_series()


def _decimal_text(pl, k, scale):
    """`french.french` of a decimal held as an integer of 10**-scale: digits without trailing
    zeros, a decimal comma, "0" for zero."""
    if not scale:
        return k.cast(pl.String)
    a = k.abs()
    whole = (a // 10 ** scale).cast(pl.String)
    frac = (a % 10 ** scale).cast(pl.String).str.zfill(scale).str.strip_chars_end("0")
    body = pl.when(frac == "").then(whole).otherwise(pl.concat_str([whole, pl.lit(","), frac]))
    return pl.when(k == 0).then(pl.lit("0")).when(k < 0).then(pl.concat_str([pl.lit("-"), body])).otherwise(body)


def _plain_text(pl, e, dtype):
    """`french.french` over columns for the types that have a columnar spelling, else None."""
    if dtype == pl.Boolean:
        return pl.when(e).then(pl.lit("oui")).otherwise(pl.lit("non"))
    if dtype == pl.String or dtype.is_integer():
        return e.cast(pl.String)
    if dtype == pl.Date:
        return _day_text(pl, e.dt.year(), e.dt.month(), e.dt.day())
    if isinstance(dtype, pl.List):
        inner = _plain_text(pl, pl.element(), dtype.inner) if dtype.inner != pl.Null else pl.lit("")
        if inner is None or isinstance(dtype.inner, pl.List):
            return None
        joined = e.list.eval(inner.fill_null(pl.lit("non renseigné"))).list.join(", ")
        return pl.when(e.list.len() == 0).then(pl.lit("aucun")).otherwise(joined)
    return None


def _shown_text(pl, sub, m, null):
    """The French text of message value `m` on the rows of `sub`: a String series."""
    s = sub.get_column(m.col)
    e = pl.col(m.col)
    if m.kind == "datetime":
        text = pl.lit(_instant_texts(pl, s))
    elif m.scale is not None:
        text = _decimal_text(pl, e, m.scale)
    else:
        text = _plain_text(pl, e, s.dtype)
    if text is None:
        text = pl.lit(None, dtype=pl.String)
    out = sub.select(pl.when(e.is_null()).then(pl.lit(null)).otherwise(text).alias("__t")).to_series()
    missing = out.is_null()
    if missing.any():          # no columnar spelling: the per-record function, once per value
        from .french import french
        where = missing.arg_true()
        cache: dict = {}
        texts = []
        for v in s.gather(where).to_list():
            key = repr(v)
            t = cache.get(key)
            if t is None:
                t = cache[key] = french(_python(v, m.scale, m.kind), null)
            texts.append(t)
        out = out.scatter(where, pl.Series(texts, dtype=pl.String))
    return out


def _messages(pln, sub, r):
    """The rendered message of rule `r` on each row of `sub` (the rows where it fired)."""
    pl = pln.pl
    shown = pln.messages[r.index]
    nulls = pln.policy._message_nulls[r.index]
    if not shown:
        return pl.Series("__msg", [render_message(r.message, ())] * sub.height, dtype=pl.String)
    texts = pl.DataFrame([_shown_text(pl, sub, m, null).alias(f"__t{j}")
                          for j, (m, null) in enumerate(zip(shown, nulls, strict=True))])
    j = iter(range(len(shown)))
    parts = [pl.lit(part) if isinstance(part, str) else pl.col(f"__t{next(j)}") for part in r.message]
    return texts.select(pl.concat_str(parts).alias("__msg")).to_series()


def _reason_lists(pln, frame, fired, keep):
    """An Arrow list of reasons per row of `frame`: those of the rules of `fired` (in order)
    whose severity `keep` accepts, with their messages."""
    import numpy as np
    pl, pa = _libs()
    n = frame.height
    pos, msgs, which, infos = [], [], [], []
    for r, col in fired:
        if not keep(r.severity):
            continue
        mask = frame.get_column(col)
        if not mask.any():
            continue
        where = mask.arg_true()
        needed = [m.col for m in pln.messages[r.index]]
        sub = frame.select(needed).gather(where) if needed else pl.DataFrame(height=len(where))
        msgs.append(_messages(pln, sub, r))
        pos.append(where.cast(pl.Int64).to_numpy())
        which.append(np.full(len(where), len(infos), dtype=np.int32))
        infos.append(r)
    reason_type = decision_schema(pa).field("reasons").type.value_type
    if not infos:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], reason_type))
    at = np.concatenate(pos)
    order = np.argsort(at, kind="stable")      # by row; rules in their order within a row
    k = pa.array(np.concatenate(which)[order])
    message = pl.concat(msgs).to_arrow().take(pa.array(order))

    def const(attribute):        # what a reason says of its rule
        return pa.array([getattr(r, attribute) or "" for r in infos], pa.string()).take(k)
    reasons = pa.StructArray.from_arrays([const("code"), const("name"), message.cast(pa.string()), const("source"),
                                          const("level"), const("severity")], fields=list(reason_type))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(at, minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), reasons)


def _number(pln, frame, col, scale):
    """An output column as exact decimals of the decision schema (18 places): an integer of
    10**-scale becomes the integer of 10**-18 of the same value, by Arrow casts."""
    pl, pa = _libs()
    t = pa.decimal128(38, PLACES)
    if col is None:
        return pa.nulls(frame.height, t)
    k = frame.get_column(col).cast(pl.Int64).to_arrow()
    if hasattr(k, "combine_chunks"):
        k = k.combine_chunks()
    if not scale:
        return k.cast(t)
    if scale > PLACES:          # more places than the schema keeps: rounded half-even, per value
        return pa.array([None if v is None else _quantized(Decimal(v).scaleb(-scale)) for v in k.to_pylist()], t)
    # v (scale s) and v * 10**(18-s) (scale 18) are the same number: cast to scale 18-s, then
    # read the same 128-bit integers at scale 18
    wide = k.cast(pa.decimal128(38, 0)).cast(pa.decimal128(38, PLACES - scale))
    return pa.Array.from_buffers(t, len(wide), wide.buffers(), wide.null_count, wide.offset)


def _quantized(v):
    """A decision's decimal (or int) at the schema's 18 places (half-even beyond them)."""
    if v is None:
        return None
    return Decimal(v).quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_EVEN, context=_WIDE)


def columnar_decisions(pln, d, items):
    """The decisions of the rows decided over columns, as an Arrow table of the decision schema
    in row order (`__row` of `d`)."""
    import numpy as np
    pl, pa = _libs()
    p = pln.p
    schema = decision_schema(pa)
    n = d.height
    blocking = lambda s: s != "warning"    # noqa: E731
    warning = lambda s: s == "warning"     # noqa: E731
    outs = {name: (col, scale, lst) for name, col, scale, lst in pln.outputs}
    none = (None, None, None)
    cols = {
        "dossier": d.get_column("id").cast(pl.String).to_arrow() if "id" in d.columns else pa.nulls(n, pa.string()),
        "eligible": d.get_column("__ok").to_arrow(),
        "recevable": d.get_column("__rec").to_arrow(),
        "call": d.get_column(outs["call"][0]).cast(pl.String).to_arrow() if "call" in outs
        else pa.nulls(n, pa.string()),
        "amount_eur": _number(pln, d, *outs.get("amount_eur", none)[:2]),
        "reasons": _reason_lists(pln, d, pln.fired_d, blocking),
        "warnings": _reason_lists(pln, d, pln.fired_d, warning),
        "errors": pa.nulls(n, schema.field("errors").type),
    }
    structure_type = schema.field("structures").type
    lsts = p.item_lists
    if lsts:
        lst = lsts[0]
        frame = items[lst]
        fired = pln.fired_i.get(lst, [])
        share = outs.get("funded_share", none)
        failed = pln.failed.get(lst)
        children = [
            frame.get_column(p.key_field(lst)).cast(pl.String).to_arrow(),
            pa.array(np.ones(frame.height, dtype=bool)) if not failed else (~frame.get_column(failed)).to_arrow(),
            _number(pln, frame, *share[:2]) if share[2] == lst else pa.nulls(frame.height, pa.decimal128(38, PLACES)),
            _reason_lists(pln, frame, fired, blocking),
            _reason_lists(pln, frame, fired, warning)]
        fields = list(structure_type.value_type)
        st = pa.StructArray.from_arrays([_cast(c, f.type) for c, f in zip(children, fields, strict=True)],
                                        fields=fields)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(frame.get_column("__row").to_numpy(), minlength=n), out=offsets[1:])
        cols["structures"] = pa.ListArray.from_arrays(pa.array(offsets), st)
    else:
        cols["structures"] = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)),
                                                      pa.array([], structure_type.value_type))
    return pa.Table.from_arrays([_cast(cols[f.name], f.type) for f in schema], schema=schema)


def _cast(arr, t):
    """An Arrow array (a polars column's, maybe chunked) as one array of type `t`."""
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    return arr if arr.type == t else arr.cast(t)


def _decision_row(result):
    """A per-record result (Decision or DossierError) as a row of the decision schema."""
    if isinstance(result, DossierError):
        return {"dossier": result.dossier_id if isinstance(getattr(result, "dossier_id", None), str) else None,
                "eligible": None, "recevable": None, "call": None, "amount_eur": None,
                "structures": None, "reasons": None, "warnings": None,
                "errors": [{"path": p.path, "message": p.message} for p in result.problems]}
    d = result.to_dict(trace=False)
    for s, exact in zip(d["structures"], result.structures, strict=True):
        s.setdefault("warnings", [])
        s["funded_share"] = _quantized(exact.funded_share)     # the Decimal, not JSON's float
        s["finess"] = None if s["finess"] is None else str(s["finess"])
    d["dossier"] = None if d["dossier"] is None else str(d["dossier"])
    d["amount_eur"] = _quantized(result.amount_eur)
    d["errors"] = None
    return {k: d[k] for k in ("dossier", "eligible", "recevable", "call", "amount_eur", "structures",
                              "reasons", "warnings", "errors")}


def evaluate_arrow(policy, record_batch):
    """The decisions of an Arrow record batch (or table) of dossiers: one row per dossier, in
    order, in the decision schema (docs/columnar.md). The garbage collector is paused meanwhile."""
    pl, pa = _libs()
    pln = plan(policy)
    schema = decision_schema(pa)
    enabled = gc.isenabled()
    gc.disable()
    try:
        n = record_batch.num_rows
        got = frames_from_arrow(pln, record_batch)
        if got is None:        # the columns are not the schema's: every row per record
            parts, rows, per_record = None, [], list(range(n))
        else:
            d, items, rows, per_record = got
            d, items = run(pln, d, items)
            ovf = d.get_column("__ovf")
            if ovf.any():      # a result may pass 2**62: those rows per record
                extra = [rows[k] for k in ovf.arg_true().to_list()]
                per_record = sorted(per_record + extra)
            table = columnar_decisions(pln, d, items).append_column("__in", pa.array(rows, pa.int64()))
            if ovf.any():
                table = table.filter((~ovf).to_arrow())
            parts = table
        tables = []
        if parts is not None and parts.num_rows:
            tables.append((parts.column("__in").to_pylist(), parts.drop_columns(["__in"])))
        if per_record:
            dossiers = json_rows(policy, record_batch, per_record)
            results = []
            for dos in dossiers:
                try:
                    results.append(_decision_row(policy.evaluate(dos, trace=False)))
                except DossierError as e:
                    results.append(_decision_row(e))
            tables.append((per_record, pa.Table.from_pylist(results, schema=schema)))
        if not tables:
            return pa.RecordBatch.from_pylist([], schema=schema)
        if len(tables) == 1:
            table = tables[0][1]
        else:
            order = [k for idx, _ in tables for k in idx]
            table = pa.concat_tables([t for _, t in tables])
            import pyarrow.compute as pc
            table = table.take(pc.sort_indices(pa.array(order)))
        table = table.combine_chunks()
        batches = table.to_batches()
        return batches[0] if batches else pa.RecordBatch.from_pylist([], schema=schema)
    finally:
        if enabled:
            gc.enable()


def evaluate_batches(policy, batches):
    """`evaluate_arrow` over an iterator of record batches: one batch of decisions each, in order."""
    for b in batches:
        yield evaluate_arrow(policy, b)


def evaluate_parquet(policy, source, target, *, batch_size: int = 20_000) -> dict:
    """Decide a Parquet file of dossiers into a Parquet file of decisions, batch by batch, so
    that memory stays flat whatever the file's size; the target is written to a temporary file
    moved into place at the end. `policy=None`: each row with the bundled policy in force for
    its programme and campaign. Returns counts: rows, eligible, ineligible, errors."""
    import os
    pl, pa = _libs()
    import pyarrow.parquet as pq
    src = pq.ParquetFile(source)
    counts = {"rows": 0, "eligible": 0, "ineligible": 0, "errors": 0}
    target = os.fspath(target)
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with pq.ParquetWriter(tmp, decision_schema(pa)) as writer:
            for b in src.iter_batches(batch_size=batch_size):
                out = evaluate_arrow(policy, b) if policy is not None else _by_policy(b)
                writer.write_batch(out)
                counts["rows"] += out.num_rows
                errors = out.column("errors").is_valid()
                eligible = out.column("eligible")
                counts["errors"] += errors.true_count if hasattr(errors, "true_count") else sum(errors.to_pylist())
                counts["eligible"] += sum(1 for x in eligible.to_pylist() if x is True)
                counts["ineligible"] += sum(1 for x in eligible.to_pylist() if x is False)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return counts


def _by_policy(batch):
    """`evaluate_arrow` with the bundled policy in force for each row's programme and campaign."""
    from .evaluate import policy_for
    _, pa = _libs()
    import pyarrow.compute as pc
    n = batch.num_rows
    names = batch.schema.names
    programme = batch.column("programme").to_pylist() if "programme" in names else [None] * n
    campaign = batch.column("campaign").to_pylist() if "campaign" in names else [None] * n
    groups: dict = {}
    for k, pair in enumerate(zip(programme, campaign)):
        groups.setdefault(pair, []).append(k)
    parts, order = [], []
    for (prog, camp), rows in groups.items():
        key = {"campaign": camp} if prog is None else {"programme": prog, "campaign": camp}
        sub = batch.take(pa.array(rows))
        try:
            policy = policy_for(key)
        except DossierError as e:       # no policy in force: an error row each, with its id
            ids = sub.column("id").to_pylist() if "id" in names else [None] * len(rows)
            out = pa.Table.from_pylist([_decision_row(DossierError(e.problems, i if isinstance(i, str) else None))
                                        for i in ids], schema=decision_schema(pa))
        else:
            out = pa.Table.from_batches([evaluate_arrow(policy, sub)])
        parts.append(out)
        order += rows
    table = pa.concat_tables(parts).take(pc.sort_indices(pa.array(order)))
    return table.combine_chunks().to_batches()[0] if n else pa.RecordBatch.from_pylist([], schema=decision_schema(pa))


def evaluate_parquet_cli(dossiers, policy, output) -> tuple[dict, str | None]:
    """The `esms-rules evaluate x.parquet -o y.parquet` branch: (counts, or an error message)."""
    if len(dossiers) != 1:
        return {}, "a Parquet input is decided alone: give one .parquet file"
    if not output or not str(output).endswith(".parquet"):
        return {}, "a Parquet input needs `-o FILE.parquet` (decisions are written as Parquet)"
    import os
    if os.path.exists(output) and os.path.samefile(output, dossiers[0]):
        return {}, "-o names the input file"
    try:
        return evaluate_parquet(policy, dossiers[0], output), None
    except OSError as e:
        return {}, str(e)
    except Exception as e:         # pyarrow: not a Parquet file, unreadable column types…
        return {}, f"cannot read {dossiers[0]} as Parquet ({type(e).__name__}: {e})"


def write_dossiers_parquet(dossiers, path, policy):
    """JSON dossiers to a Parquet file of the dossier schema (for tests and benchmarks)."""
    pl, pa = _libs()
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(list(dossiers), schema=dossier_schema(policy)), path)


def dossier_schema(policy):
    """The Arrow schema of the policy's dossiers, with ISO strings for dates and date-times and
    float64 for decimals (docs/columnar.md lists the other accepted types)."""
    _, pa = _libs()

    def arrow(t):
        base = T.strip(t)
        if isinstance(base, T.Record):
            return pa.struct([(f.name, arrow(f.type)) for f in base.fields])
        if isinstance(base, T.List):
            return pa.list_(arrow(base.element))
        if isinstance(base, T.Enum):
            return pa.string()
        return {"bool": pa.bool_(), "int": pa.int64(), "decimal": pa.float64(), "text": pa.string(),
                "date": pa.string(), "datetime": pa.string()}[base.name]
    return pa.schema([(f.name, arrow(f.type)) for f in policy.checked.facts.fields])
