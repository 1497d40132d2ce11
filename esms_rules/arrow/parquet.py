"""Parquet files: dossiers streamed batch by batch to a file of decisions (`evaluate_parquet`,
the `esms-rules evaluate x.parquet -o y.parquet` branch), and dossiers written as Parquet."""
from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from ..diagnostics import DossierError
from .decisions import _decision_row
from .run import evaluate_arrow
from .schema import _libs, decision_schema, dossier_schema

if TYPE_CHECKING:
    import pyarrow

    from ..policy import Policy


def evaluate_parquet(policy: Policy | None, source: str | os.PathLike[str], target: str | os.PathLike[str], *,
                     batch_size: int = 20_000) -> dict[str, int]:
    """Decide a Parquet file of dossiers into a Parquet file of decisions, batch by batch, so
    that memory stays flat whatever the file's size; the target is written to a temporary file
    moved into place at the end. `policy=None`: each row with the bundled policy in force for
    its programme and campaign. Returns counts: rows, eligible, ineligible, errors."""
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


def _by_policy(batch: pyarrow.RecordBatch) -> pyarrow.RecordBatch:
    """`evaluate_arrow` with the bundled policy in force for each row's programme and campaign."""
    from ..evaluate import policy_for
    _, pa = _libs()
    import pyarrow.compute as pc
    n = batch.num_rows
    names = batch.schema.names
    programme = batch.column("programme").to_pylist() if "programme" in names else [None] * n
    campaign = batch.column("campaign").to_pylist() if "campaign" in names else [None] * n
    groups: dict = {}
    for k, pair in enumerate(zip(programme, campaign, strict=True)):
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


def evaluate_parquet_cli(dossiers: Sequence[str], policy: Policy | None,
                         output: str | None) -> tuple[dict[str, int], str | None]:
    """The `esms-rules evaluate x.parquet -o y.parquet` branch: (counts, or an error message)."""
    if len(dossiers) != 1:
        return {}, "a Parquet input is decided alone: give one .parquet file"
    if not output or not str(output).endswith(".parquet"):
        return {}, "a Parquet input needs `-o FILE.parquet` (decisions are written as Parquet)"
    if os.path.exists(output) and os.path.samefile(output, dossiers[0]):
        return {}, "-o names the input file"
    try:
        return evaluate_parquet(policy, dossiers[0], output), None
    except OSError as e:
        return {}, str(e)
    except Exception as e:         # pyarrow: not a Parquet file, unreadable column types…
        return {}, f"cannot read {dossiers[0]} as Parquet ({type(e).__name__}: {e})"


def write_dossiers_parquet(dossiers: Iterable[dict[str, Any]], path: Any, policy: Policy) -> None:
    """JSON dossiers to a Parquet file of the dossier schema (for tests and benchmarks)."""
    pl, pa = _libs()
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(list(dossiers), schema=dossier_schema(policy)), path)

