"""Running a plan: frames of validated facts in, the plan's steps applied (batched
`with_columns`, joins of the dossier columns items read, one group-by per list), the
per-record evaluator's result tuples out; `evaluate_dossiers` puts them together."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from .. import types as T
from ..diagnostics import DossierError
from .plan import Plan, plan
from .values import FACT_SCALE, UTC, _dtype

if TYPE_CHECKING:
    import polars

    from ..check import RuleInfo
    from ..decision import Decision
    from ..policy import Policy

Frames: TypeAlias = "dict[str, polars.DataFrame]"      # list of records -> its item frame
# the per-record "reasons" evaluator's result: (eligible, recevable, outputs, fired rules as
# (rule index, item position or -1, the values its message shows))
Result: TypeAlias = "tuple[bool, bool, tuple[Any, ...], list[tuple[int, int, tuple[Any, ...]]]]"


# ---- running a plan ------------------------------------------------------------------------
def run(pln: Plan, d: polars.DataFrame, items: Frames) -> tuple[polars.DataFrame, Frames]:
    """Apply the plan's steps to the dossier frame `d` (with `__row`) and the item frames
    (with `__row`, `__i`, sorted by both). Returns the frames with every step's column.

    Steps are applied in order, batched: consecutive independent columns of a frame in one
    `with_columns`; a dossier column an item expression reads is joined into the item frame
    when first read (never when unread: constants are read in place); the aggregates of a list
    whose item columns exist are computed by one group-by and one join."""
    pl = pln.pl
    d = d.with_columns(pl.col("__row").set_sorted())
    items = {lst: f.with_columns(pl.col("__row").set_sorted()) for lst, f in items.items()}
    wanted: dict[str, list[str]] = {lst: [] for lst in items}     # dossier columns items may read
    joined: dict[str, set[str]] = {lst: set() for lst in items}
    pending_d: list[polars.Expr] = []
    pending_i: dict[str, list[polars.Expr]] = {lst: [] for lst in items}
    d_pending: set[str] = set()
    i_pending: dict[str, set[str]] = {lst: set() for lst in items}

    def flush() -> None:
        nonlocal d
        if pending_d:
            d = d.with_columns(pending_d)
            pending_d.clear()
            d_pending.clear()

    def flush_i(lst: str) -> None:
        if pending_i[lst]:
            items[lst] = items[lst].with_columns(pending_i[lst])
            pending_i[lst] = []
            i_pending[lst].clear()

    def reads(lst: str, e: polars.Expr) -> list[str]:
        """Join the dossier columns that item expression `e` reads and that are not there yet."""
        roots = e.meta.root_names()
        if not any(r.startswith("__D") and r[3:] not in joined[lst] for r in roots):
            return roots
        cols = [c for c in wanted[lst] if c not in joined[lst]]
        flush()
        flush_i(lst)
        items[lst] = items[lst].join(d.select(pl.col("__row"), *[pl.col(c).alias("__D" + c) for c in cols]),
                                     on="__row", how="left", maintain_order="left")
        joined[lst].update(cols)
        return roots

    done: set[int] = set()
    steps = pln.steps
    for at, step in enumerate(steps):
        kind = step[0]
        if kind == "d":
            _, col, e = step
            if col in d_pending or any(n in d_pending for n in e.meta.root_names()):
                flush()
            pending_d.append(e.alias(col))
            d_pending.add(col)
        elif kind == "need":
            if step[2] not in wanted[step[1]]:
                wanted[step[1]].append(step[2])
        elif kind == "i":
            _, lst, col, e = step
            if col in i_pending[lst] or any(n in i_pending[lst] for n in reads(lst, e)):
                flush_i(lst)
            pending_i[lst].append(e.alias(col))
            i_pending[lst].add(col)
        elif kind == "agg" and at not in done:
            lst = step[1]
            reads(lst, step[3])
            flush_i(lst)
            flush()
            have = set(items[lst].columns)
            batch = []
            for later in range(at, len(steps)):
                s = steps[later]
                if s[0] == "agg" and s[1] == lst and later not in done and set(s[3].meta.root_names()) <= have:
                    batch.append(s)
                    done.add(later)
            g = items[lst].group_by("__row").agg([s[3].alias(s[2]) for s in batch])
            d = d.join(g, on="__row", how="left", maintain_order="left")
            fills = []
            for _, _, col, _, fill in batch:
                if isinstance(fill, list):
                    fills.append(pl.col(col).fill_null(pl.lit([], dtype=d.schema[col])))
                elif fill is not None:
                    fills.append(pl.col(col).fill_null(fill))
            if fills:
                d = d.with_columns(fills)
    flush()
    for lst in items:
        flush_i(lst)
    return d, items


# ---- frames from validated facts (the per-record validator's output) ------------------------
def _cell(v: Any, t: T.Type) -> Any:
    """A validated value as its column value; raises _PerRecord when it has none."""
    if v is None:
        return None
    base = T.strip(t)
    if base == T.DECIMAL:
        k = v.scaleb(FACT_SCALE)
        if k != k.to_integral_value() or not -2**62 < k < 2**62:
            raise _PerRecord
        return int(k)
    if base == T.INT:
        if not -2**62 < v < 2**62:
            raise _PerRecord
        return v
    if base == T.DATETIME:
        return v.astimezone(UTC)
    if isinstance(base, T.Record):
        return {f.name: _cell(v[f.name], f.type) for f in base.fields}
    if isinstance(base, T.List):
        return [_cell(x, base.element) for x in v]
    return v


class _PerRecord(Exception):
    """This row is decided per record (a value without an exact column form)."""


def frames_from_facts(pln: Plan, facts: list[dict[str, Any]]
                      ) -> tuple[polars.DataFrame, Frames, list[int], list[int]]:
    """(dossier frame, item frames, rows to decide per record) of validated facts."""
    pl = pln.pl
    p = pln.p
    fields = [f for f in p.facts.fields if f.name not in pln.lists]
    cols: dict[str, list[Any]] = {f.name: [] for f in fields}
    raw: dict[str, list[Any]] = {name: [] for name in pln.raw_datetimes}
    items: dict[str, dict[str, list[Any]]] = {
        lst: {"__row": [], "__i": [], **{g.name: [] for g in rec.fields}} for lst, rec in pln.lists.items()}
    per_record: list[Any] = []
    rows: list[Any] = []
    for k, fx in enumerate(facts):
        try:
            values = [_cell(fx[f.name], f.type) for f in fields]
            its = {lst: [[_cell(it[g.name], g.type) for g in rec.fields] for it in fx[lst]]
                   for lst, rec in pln.lists.items()}
        except _PerRecord:
            per_record.append(k)
            continue
        row = len(rows)
        rows.append(k)
        for f, v in zip(fields, values, strict=True):
            cols[f.name].append(v)
        for name in raw:
            v = fx[name]
            raw[name].append(None if v is None else v.isoformat())
        for lst, rec in pln.lists.items():
            out = items[lst]
            for i, vals in enumerate(its[lst]):
                out["__row"].append(row)
                out["__i"].append(i)
                for g, v in zip(rec.fields, vals, strict=True):
                    out[g.name].append(v)
    n = len(rows)
    series = [pl.Series("__row", range(n), dtype=pl.Int64)]
    series += [pl.Series(f.name, cols[f.name], dtype=_dtype(pl, f.type)) for f in fields]
    series += [pl.Series("__raw." + name, raw[name], dtype=pl.String) for name in raw]
    d = pl.DataFrame(series, height=n)
    frames = {}
    for lst, rec in pln.lists.items():
        out = items[lst]
        frames[lst] = pl.DataFrame([pl.Series("__row", out["__row"], dtype=pl.Int64),
                                    pl.Series("__i", out["__i"], dtype=pl.Int64)]
                                   + [pl.Series(g.name, out[g.name], dtype=_dtype(pl, g.type)) for g in rec.fields])
    return d, frames, rows, per_record


# ---- results: the per-record evaluator's tuples, row by row ----------------------------------
def _python(v: Any, scale: int | None, kind: str) -> Any:
    """A column's value as the per-record evaluator has it (a Decimal, a date-time…)."""
    if v is None:
        return None
    if kind == "text":
        return v
    if kind == "datetime":
        return dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    if scale is not None:
        return Decimal(v).scaleb(-scale)
    return v


def _column_values(frame: polars.DataFrame, col: str, scale: int | None, kind: str) -> list[Any]:
    vals = frame.get_column(col).to_list()
    if scale is None and kind in ("value", "text"):
        return vals
    return [_python(v, scale, kind) for v in vals]


def _fired_rows(pln: Plan, frame: polars.DataFrame, r: RuleInfo, col: str) -> list[tuple[int, tuple[Any, ...]]]:
    """(row position, message values) where rule `r` fired in `frame`."""
    mask = frame.get_column(col)
    if not mask.any():
        return []
    where = mask.arg_true()
    sub = frame[where]
    vals = [_column_values(sub, m.col, m.scale, m.kind) for m in pln.messages[r.index]]
    return [(pos, tuple(v[j] for v in vals)) for j, pos in enumerate(where.to_list())]


def results(pln: Plan, d: polars.DataFrame, items: Frames) -> list[Result | None]:
    """For each row of the dossier frame, the per-record "reasons" evaluator's result:
    `(ok, rec, outputs, fired)` (see docs/architecture.md), or None for a row to decide per
    record (a result may not be exact over columns)."""
    n = d.height
    ok = d.get_column("__ok").to_list()
    rec = d.get_column("__rec").to_list()
    ovf = d.get_column("__ovf").to_list()
    outs = []
    for name, col, scale, lst in pln.outputs:
        frame = d if lst is None else items[lst]
        vals = _column_values(frame, col, scale, "value")
        isint = pln.output_int.get(name)
        if scale is not None and isint is not False:
            flags = frame.get_column(isint).to_list() if isinstance(isint, str) else [True] * frame.height
            vals = [v if v is None or not f else int(v) for v, f in zip(vals, flags, strict=True)]
        if lst is None:
            outs.append(vals)
        else:
            per: list[list[Any]] = [[] for _ in range(n)]
            for r, v in zip(items[lst].get_column("__row").to_list(), vals, strict=True):
                per[r].append(v)
            outs.append(per)
    fired: list[list[tuple[int, int, Any]]] = [[] for _ in range(n)]
    # item rules run before the dossier rules that read `passes`, item by item, in rule order;
    # a decision keeps dossier and item reasons apart, so items first is the same decision
    for lst, rules in pln.fired_i.items():
        frame = items[lst]
        rws = frame.get_column("__row").to_list()
        idx = frame.get_column("__i").to_list()
        per_item = []
        for r, col in rules:
            for pos, values in _fired_rows(pln, frame, r, col):
                per_item.append((rws[pos], idx[pos], r.index, values))
        per_item.sort(key=lambda x: (x[0], x[1]))      # stable: rule order kept within an item
        for row, i, index, values in per_item:
            fired[row].append((index, i, values))
    for r, col in pln.fired_d:
        for pos, values in _fired_rows(pln, d, r, col):
            fired[pos].append((r.index, -1, values))
    out: list[Any] = []
    for k in range(n):
        if ovf[k]:
            out.append(None)
        else:
            out.append((ok[k], rec[k], tuple(o[k] for o in outs), fired[k]))
    return out


def evaluate_dossiers(policy: Policy, dossiers: Iterable[Any]) -> list[Decision | DossierError]:
    """`Policy.evaluate_many(dossiers, mode="reasons")` over columns: one `Decision` or
    `DossierError` per dossier, in order, the same ones. Each dossier is checked by the
    per-record validator (so bad dossiers get its problems, in its order); the valid ones are
    decided together over columns, and a row whose values have no exact column form (see the
    module's docstring) is decided per record."""
    pln = plan(policy)
    dossiers = list(dossiers)
    out: list = [None] * len(dossiers)
    facts, where, unknowns = [], [], []
    for k, dos in enumerate(dossiers):
        try:
            fx, unknown = policy.validator.convert(dos)
        except DossierError as e:
            out[k] = e
            continue
        facts.append(fx)
        where.append(k)
        unknowns.append(unknown)
    d, items, rows, per_record = frames_from_facts(pln, facts)
    d, items = run(pln, d, items)
    res = results(pln, d, items)
    for j in per_record:
        rows.append(j)
        res.append(None)
    for j, r in zip(rows, res, strict=True):
        k = where[j]
        if r is None:
            try:
                out[k] = policy.evaluate(dossiers[k], trace=False)
            except DossierError as e:
                out[k] = e
            continue
        ok, rec, outs, fired = r
        out[k] = policy._decision(dossiers[k], facts[j], unknowns[j], ok, rec, outs, fired, None, None)
    return out
