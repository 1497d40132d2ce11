"""An Arrow batch through the columnar plan: the rows decided over columns, the others per
record from their JSON form, put back at their place (`evaluate_arrow`, `evaluate_batches`)."""
from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..columnar import plan, run
from ..diagnostics import DossierError
from .decisions import _decision_row, columnar_decisions
from .frames import frames_from_arrow, json_rows
from .schema import _libs, decision_schema

if TYPE_CHECKING:
    import pyarrow

    from ..policy import Policy


def evaluate_arrow(policy: Policy, record_batch: Any) -> pyarrow.RecordBatch:
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
        rows: list[int] = []
        if got is None:        # the columns are not the schema's: every row per record
            parts, per_record = None, list(range(n))
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


def evaluate_batches(policy: Policy, batches: Iterable[Any]) -> Iterator[pyarrow.RecordBatch]:
    """`evaluate_arrow` over an iterator of record batches: one batch of decisions each, in order."""
    for b in batches:
        yield evaluate_arrow(policy, b)

