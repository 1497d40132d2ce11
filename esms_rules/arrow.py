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
from decimal import Decimal

from . import types as T
from .batch import _DATE_SHAPE, _DATETIME_SHAPE
from .columnar import FACT_SCALE, _python, plan, run
from .diagnostics import DossierError
from .french import render_message

LIMIT = 2 ** 62


def _libs():
    from .batch import _polars
    pl = _polars()
    import pyarrow as pa
    return pl, pa


# ---- the decision schema -----------------------------------------------------------------
def decision_schema(pa):
    reason = pa.struct([("code", pa.string()), ("rule", pa.string()), ("message", pa.string()),
                        ("source", pa.string()), ("level", pa.string()), ("severity", pa.string())])
    structure = pa.struct([("finess", pa.string()), ("eligible", pa.bool_()), ("funded_share", pa.float64()),
                           ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason))])
    problem = pa.struct([("path", pa.string()), ("message", pa.string())])
    return pa.schema([("dossier", pa.string()), ("eligible", pa.bool_()), ("recevable", pa.bool_()),
                      ("call", pa.string()), ("amount_eur", pa.float64()), ("structures", pa.list_(structure)),
                      ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason)), ("errors", pa.list_(problem))])


# ---- input: typed frames and the rows that go per record ------------------------------------
class _In:
    """The masks of the rows (or items) that must go per record."""

    def __init__(self):
        self.bad = []            # row masks (expressions over the input frame)

    def flag(self, mask):
        self.bad.append(mask.fill_null(False))


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
            out = f.map_batches(_float_to_scaled, return_dtype=pl.Int64)
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


def frames_from_arrow(pln, batch):
    """(dossier frame, item frames, columnar rows, per-record rows) of an Arrow batch."""
    pl = pln.pl
    p = pln.p
    df = pl.from_arrow(batch) if not isinstance(batch, pl.DataFrame) else batch
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
        it = ex.select(pl.col("__row"), pl.col("__i"), *[e.alias(k) for k, e in fields.items()],
                       pl.any_horizontal(ich.bad).alias("__bad") if ich.bad else pl.lit(False).alias("__bad"))
        item_bad.append(it.filter(pl.col("__bad")).get_column("__row").unique())
        frames[lst] = it.drop("__bad")
    bad = pl.any_horizontal(chk.bad) if chk.bad else pl.lit(False)
    d = df.select(*d_cols, bad.alias("__bad"))
    bad_rows = d.get_column("__bad")
    for rows in item_bad:
        if len(rows):
            bad_rows = bad_rows | d.get_column("__row").is_in(rows.implode())
    per_record = bad_rows.arg_true().to_list()
    if per_record:
        keep = ~bad_rows
        d = d.filter(keep)
        good = d.get_column("__row")
        for lst in frames:
            frames[lst] = frames[lst].filter(pl.col("__row").is_in(good.implode()))
    rows = d.get_column("__row").to_list()
    # the plan reads rows 0..k-1: renumber
    remap = pl.DataFrame({"__row": d.get_column("__row"), "__new": pl.int_range(d.height, dtype=pl.Int64, eager=True)})
    d = d.drop("__bad").with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("__row"))
    for lst in frames:
        frames[lst] = frames[lst].join(remap, on="__row", how="inner", maintain_order="left") \
            .drop("__row").rename({"__new": "__row"}).select(["__row", "__i", *[g.name for g in pln.lists[lst].fields]])
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
def _reason_struct(pl, r, message):
    return pl.struct(code=pl.lit(r.code), rule=pl.lit(r.name), message=message, source=pl.lit(r.source or ""),
                     level=pl.lit(r.level), severity=pl.lit(r.severity))


def _messages(sub, r, values) -> list:
    """The rendered messages of rule `r` on the rows `sub` where it fired, rendered by the
    per-record function, once per distinct tuple of values."""
    pl = _libs()[0]
    if not values:
        return [render_message(r.message, ())] * sub.height
    if all(k == "text" for _, _, k in values):       # plain values: rendered over columns
        parts, it = [], iter(values)
        for part in r.message:
            if isinstance(part, str):
                parts.append(pl.lit(part))
                continue
            c = pl.col(next(it)[0])
            if sub.schema[c.meta.output_name()] == pl.Boolean:
                c = pl.when(c).then(pl.lit("oui")).otherwise(pl.lit("non"))
            parts.append(c.cast(pl.String).fill_null("non renseigné"))
        return sub.select(pl.concat_str(parts) if parts else pl.lit("")).to_series().to_list()
    cols = [sub.get_column(c).to_list() for c, _, _ in values]
    cache: dict = {}
    texts = []
    for j in range(sub.height):
        raw = tuple(c[j] for c in cols)
        key = tuple(tuple(v) if isinstance(v, list) else v for v in raw)
        t = cache.get(key)
        if t is None:
            t = cache[key] = render_message(r.message, tuple(_python(v, s, k) for v, (_, s, k) in zip(raw, values)))
        texts.append(t)
    return texts


def _with_reasons(pl, frame, keys, fired, pln, name, severity_ok, dtype_reason):
    """`frame` with a column `name`: the list of reasons of each row (rules in order), built
    long (one row per fired rule) and grouped, never row by row."""
    parts = []
    for k, (r, col) in enumerate(fired):
        if not severity_ok(r.severity):
            continue
        sub = frame.filter(pl.col(col))
        if not sub.height:
            continue
        msgs = pl.Series("__msg", _messages(sub, r, pln.messages[r.index]), dtype=pl.String)
        parts.append(sub.select(*keys, pl.lit(k, dtype=pl.Int64).alias("__k"),
                                _reason_struct(pl, r, msgs).alias(name)))
    if not parts:
        return frame.with_columns(pl.lit([], dtype=pl.List(dtype_reason)).alias(name))
    long = pl.concat(parts).sort([*keys, "__k"]).drop("__k")
    grouped = long.group_by(keys, maintain_order=True).agg(pl.col(name))
    out = frame.join(grouped, on=keys, how="left", maintain_order="left")
    return out.with_columns(pl.col(name).fill_null(pl.lit([], dtype=out.schema[name])))


def columnar_decisions(pln, d, items, dtype_reason):
    """The decision columns of the rows decided over columns (a polars frame, in row order)."""
    pl = pln.pl
    p = pln.p
    blocking = lambda s: s != "warning"    # noqa: E731
    warning = lambda s: s == "warning"     # noqa: E731
    cols = [pl.col("__row"), pl.col("id").cast(pl.String).alias("dossier") if "id" in d.columns
            else pl.lit(None, dtype=pl.String).alias("dossier"),
            pl.col("__ok").alias("eligible"), pl.col("__rec").alias("recevable")]
    outs = {name: (col, scale, lst) for name, col, scale, lst in pln.outputs}

    def number(col, scale):
        return pl.col(col).cast(pl.Float64) if not scale else pl.col(f"{col}.float")
    for col, scale, lst in outs.values():
        if scale:      # float(Decimal): exact division (polars multiplies by the inverse)
            frame = items[lst] if lst is not None else d
            frame = frame.with_columns(_as_float(pl, frame.get_column(col), scale).alias(f"{col}.float"))
            if lst is None:
                d = frame
            else:
                items = {**items, lst: frame}
    cols.append(pl.col(outs["call"][0]).cast(pl.String).alias("call") if "call" in outs
                else pl.lit(None, dtype=pl.String).alias("call"))
    cols.append(number(outs["amount_eur"][0], outs["amount_eur"][1]).alias("amount_eur") if "amount_eur" in outs
                else pl.lit(None, dtype=pl.Float64).alias("amount_eur"))
    for kind, ok in (("reasons", blocking), ("warnings", warning)):
        d = _with_reasons(pl, d, ["__row"], pln.fired_d, pln, kind, ok, dtype_reason)
        cols.append(pl.col(kind))
    out = d.select(cols)
    lsts = p.item_lists
    if lsts:
        lst = lsts[0]
        frame = items[lst]
        key = p.key_field(lst)
        share = outs.get("funded_share")
        fired = pln.fired_i.get(lst, [])
        frame = _with_reasons(pl, frame, ["__row", "__i"], fired, pln, "__reasons", blocking, dtype_reason)
        frame = _with_reasons(pl, frame, ["__row", "__i"], fired, pln, "__warnings", warning, dtype_reason)
        st = pl.struct(finess=pl.col(key).cast(pl.String),
                       eligible=~pl.col(pln.failed[lst]) if pln.failed.get(lst) else pl.lit(True),
                       funded_share=number(share[0], share[1]) if share and share[2] == lst
                       else pl.lit(None, dtype=pl.Float64),
                       reasons=pl.col("__reasons"), warnings=pl.col("__warnings"))
        g = frame.select(pl.col("__row"), st.alias("structures")).group_by("__row", maintain_order=True) \
            .agg(pl.col("structures"))
        out = out.join(g, on="__row", how="left", maintain_order="left")
        out = out.with_columns(pl.col("structures").fill_null(pl.lit([], dtype=out.schema["structures"])))
    else:
        out = out.with_columns(pl.lit([], dtype=pl.List(pl.Struct({"finess": pl.String}))).alias("structures"))
    return out


def _as_float(pl, s, scale):
    """A scaled-integer column as the nearest floats, exactly as float(Decimal) rounds."""
    values = s.cast(pl.Float64).to_numpy() / float(10 ** scale)
    return pl.Series(s.name, values, dtype=pl.Float64, nan_to_null=True)


def _decision_row(result):
    """A per-record result (Decision or DossierError) as a row of the decision schema."""
    if isinstance(result, DossierError):
        return {"dossier": result.dossier_id if isinstance(getattr(result, "dossier_id", None), str) else None,
                "eligible": None, "recevable": None, "call": None, "amount_eur": None,
                "structures": None, "reasons": None, "warnings": None,
                "errors": [{"path": p.path, "message": p.message} for p in result.problems]}
    d = result.to_dict(trace=False)
    for s in d["structures"]:
        s.setdefault("warnings", [])
        if s["funded_share"] is not None:      # Parquet holds floats (docs/columnar.md)
            s["funded_share"] = float(s["funded_share"])
        s["finess"] = None if s["finess"] is None else str(s["finess"])
    d["dossier"] = None if d["dossier"] is None else str(d["dossier"])
    amount = d["amount_eur"]
    d["amount_eur"] = None if amount is None else float(amount)
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
            dtype_reason = pl.from_arrow(pa.array([], schema.field("reasons").type.value_type)).dtype
            parts = columnar_decisions(pln, d, items, dtype_reason)
            parts = parts.with_columns(pl.Series("__in", rows, dtype=pl.Int64)).filter(~ovf)
        tables = []
        if parts is not None and parts.height:
            t = parts.drop("__row").with_columns(pl.lit(None).alias("errors"))
            tables.append((t.get_column("__in").to_list(),
                           pa.Table.from_arrays([_arrow_col(pa, t, f) for f in schema], schema=schema)))
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


def _arrow_col(pa, frame, field):
    s = frame.get_column(field.name)
    arr = s.to_arrow()
    if arr.type != field.type:
        arr = arr.cast(field.type)
    return arr


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
