"""Evaluation: a typed table through a `_Plan` in one polars query; which rules fired as bit
masks, turned into lists of codes once per distinct combination."""
from __future__ import annotations

from collections.abc import Iterable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .translate import Fired, _Plan, plan
from .typed import Table, _prepare, table_from_dicts

if TYPE_CHECKING:
    import polars

    from ..policy import Policy


def evaluate_table(policy: Policy, table: Table) -> polars.DataFrame:
    """Eligible, recevable, the outputs and the reason codes of every row of `table`.

    Raises BatchUnsupported (policy outside the subset: evaluate per record), or
    DossierError (a column or row breaks the policy's schema).
    """
    pl_plan = plan(policy)
    pl = pl_plan.pl
    facts = _prepare(pl_plan, table)
    lf = facts.lazy()
    for level in pl_plan.levels:       # the definitions of a level are independent: in parallel
        lf = lf.with_columns([e.alias(col) for col, e in level])
    lf = lf.with_columns(pl_plan.ok.alias("__ok"), pl_plan.rec.alias("recevable"))
    cols = [pl.col("__ok").alias("eligible"), pl.col("recevable")]
    for name, e, dtype in pl_plan.outputs:
        cols.append(e.cast(dtype).alias(name) if dtype != pl.Null else e.alias(name))
    kinds = (("reasons", pl_plan.reasons), ("warnings", pl_plan.warnings))
    for kind, fired in kinds:
        if fired:
            cols += _masks(pl, fired, kind)
        else:  # no rule of that kind: an empty list on every row, broadcast
            cols.append(pl.lit(pl.Series(kind, [[]], dtype=pl.List(pl.String))).first().alias(kind))
    out = lf.select(cols).collect()
    codes = [_codes(pl, pl_plan, out, fired, kind).alias(kind) for kind, fired in kinds if fired]
    if codes:
        out = out.with_columns(codes)
    return out.select(["eligible", "recevable"] + [name for name, _, _ in pl_plan.outputs] + ["reasons", "warnings"])


def _masks(pl: ModuleType, fired: Fired, name: str) -> list[polars.Expr]:
    """Which rules fired, as bits of integers (63 rules a column): cheap to compute, and
    few distinct values to turn into lists of codes (`_codes`)."""
    out = []
    for k in range(0, len(fired), 63):
        chunk = fired[k:k + 63]
        out.append(pl.sum_horizontal([c.cast(pl.Int64) * (1 << i) for i, (_, c) in enumerate(chunk)])
                   .alias(f"__{name}{k // 63}"))        # names start with __: dropped at the end
    return out


_ALL_MASKS = 12      # up to 2**12 combinations of fired rules: a table of every list of codes


def _codes(pl: ModuleType, pl_plan: _Plan, out: polars.DataFrame, fired: Fired, kind: str) -> polars.Series:
    """The list of codes of each row, from its bit masks (see `_masks`), in rule order."""
    cols = [c for c in out.columns if c.startswith(f"__{kind}")]
    if len(fired) <= _ALL_MASKS:
        every = pl_plan.code_tables.get(kind)
        if every is None:
            lists = [[r.code for i, (r, _) in enumerate(fired) if mask >> i & 1] for mask in range(1 << len(fired))]
            every = pl_plan.code_tables[kind] = pl.Series(kind, lists, dtype=pl.List(pl.String))
        return every.gather(out.get_column(cols[0]))
    key = out.select(cols)
    uniq = key.unique(maintain_order=True)
    lists = []
    for row in uniq.iter_rows():
        codes = []
        for k, mask in enumerate(row):
            codes += [r.code for i, (r, _) in enumerate(fired[k * 63:(k + 1) * 63]) if mask >> i & 1]
        lists.append(codes)
    table = uniq.with_columns(pl.Series("__codes", lists, dtype=pl.List(pl.String)),
                              pl.int_range(pl.len(), dtype=pl.UInt32).alias("__pos"))
    if len(cols) == 1:
        pos = key.get_column(cols[0]).replace_strict(table.get_column(cols[0]), table.get_column("__pos"))
    else:
        pos = key.join(table, on=cols, how="left", maintain_order="left").get_column("__pos")
    return table.get_column("__codes").gather(pos)


def evaluate_dicts(policy: Policy, records: Iterable[dict[str, Any]]) -> polars.DataFrame:
    """`evaluate_table` over JSON-like dicts (see `table_from_dicts`)."""
    return evaluate_table(policy, table_from_dicts(policy, records))
