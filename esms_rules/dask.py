"""Dask: decide dossiers on a cluster, partition by partition, over columns.

    pip install "esms-rules[dask]"        # dask[dataframe], distributed, polars, pyarrow

    from distributed import Client
    from esms_rules import load_policy
    from esms_rules.dask import evaluate_parquet, local_cluster

    with local_cluster(2) as cluster, Client(cluster):
        counts = evaluate_parquet(load_policy("esms-numerique-2025"), "dossiers/", "decisions/")

`evaluate_parquet(policy, source, target)`: one task per row group (or per k of them); each
task reads its own row groups from the Parquet files and writes its own part file
`target/part-NNNNN.parquet`, so no dossier or decision travels through the client or the
scheduler; the parts in name order are the decisions in the input's order.

`evaluate(dataframe_or_bag, policy)` maps every partition through `arrow.evaluate_arrow` (a
dask DataFrame, one decision row per dossier, the decision schema of docs/columnar.md,
partitions and their order kept) or through the per-record API (a dask Bag of JSON dossiers
gives a Bag of decision dicts, `Decision.to_dict(trace=False)` or the error's `to_dict()`).

A DataFrame must hold Arrow data: read it with `dtype_backend="pyarrow"`. With pandas' default
backend, lists of structures become Python objects and whole numbers with a missing value
become floats: such a frame is refused (`ValueError`) before anything runs, never decided.
The policy is shipped to the workers pickled: its source texts and sha256, rebuilt and checked
against that sha256 once per worker process (not once per task).
"""
from __future__ import annotations

import pickle

from .diagnostics import DossierError


class _PolicyRef:
    """A policy as it travels to the workers: pickled (`Policy.__reduce__`: its source texts
    and sha256, checked when rebuilt), rebuilt once per worker process however many tasks
    carry it."""

    def __init__(self, policy):
        self.policy = policy

    def __dask_tokenize__(self):
        return ("esms-rules policy", self.policy.sha256)

    def __reduce__(self):
        return (_policy_ref, (self.policy.sha256, pickle.dumps(self.policy)))


_LOADED: dict = {}      # sha256 -> Policy, in each worker process


def _policy_ref(sha256, blob):
    got = _LOADED.get(sha256)
    if got is None:
        got = pickle.loads(blob)        # parsed, checked and compiled here; PolicyError if forged
        if got.sha256 != sha256:
            raise ValueError(f"policy {got.id} arrived with sha256 {got.sha256[:12]}…, not {sha256[:12]}…")
        _LOADED[sha256] = got
    return _PolicyRef(got)


def _arrow_frame_or_refuse(df):
    """Refuse a dask/pandas frame whose columns are not Arrow-backed (see the module doc)."""
    import pandas as pd
    bad = [f"{name} ({dtype})" for name, dtype in df.dtypes.items()
           if not isinstance(dtype, pd.ArrowDtype)
           and not (isinstance(dtype, pd.StringDtype) and dtype.storage in ("pyarrow", "pyarrow_numpy"))]
    if bad:
        raise ValueError("esms_rules.dask.evaluate needs Arrow-backed columns (read with "
                         "dtype_backend=\"pyarrow\"); pandas' default backend turns lists of records into "
                         "objects and whole numbers with nulls into floats, which would be mis-read. "
                         "Columns not backed by Arrow: " + ", ".join(bad))


def _partition(pdf, ref):
    import pandas as pd
    import pyarrow as pa

    from .arrow import evaluate_arrow
    table = pa.Table.from_pandas(pdf, preserve_index=False)
    out = pa.Table.from_batches([evaluate_arrow(ref.policy, table)])
    res = out.to_pandas(types_mapper=pd.ArrowDtype)
    res.index = pdf.index
    return res


def _bag_partition(dossiers, ref):
    from .columnar import evaluate_dossiers
    out = []
    for r in evaluate_dossiers(ref.policy, list(dossiers)):
        out.append(r.to_dict() if isinstance(r, DossierError) else r.to_dict(trace=False))
    return out


def _meta():
    import pandas as pd
    import pyarrow as pa

    from .arrow import decision_schema
    return pa.Table.from_pylist([], schema=decision_schema(pa)).to_pandas(types_mapper=pd.ArrowDtype)


def _sources(source):
    """The Parquet files of `source` (a file, a directory of `*.parquet` files, or a list of
    files), in order: a directory's files sorted by name."""
    import os
    if isinstance(source, str | os.PathLike):
        path = os.fspath(source)
        if os.path.isdir(path):
            return sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".parquet"))
        return [path]
    return [os.fspath(f) for f in source]


def _pieces(files, row_groups_per_part):
    """(file, row groups) of every part, in the files' order: Parquet footers only."""
    import pyarrow.parquet as pq
    out = []
    for f in files:
        n = pq.ParquetFile(f).metadata.num_row_groups
        out += [(f, list(range(k, min(k + row_groups_per_part, n)))) for k in range(0, n, row_groups_per_part)]
    return out


def _decide_piece(ref, file, row_groups, target, batch_size):
    """On a worker: read these row groups itself, decide them batch by batch, write them to
    `target` itself (a temporary name moved into place). Returns the counts of the part."""
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .arrow import decision_schema, evaluate_arrow
    counts = {"rows": 0, "eligible": 0, "ineligible": 0, "errors": 0}
    tmp = f"{target}.{os.getpid()}.tmp"
    try:
        with pq.ParquetWriter(tmp, decision_schema(pa)) as writer:
            for batch in pq.ParquetFile(file).iter_batches(batch_size=batch_size, row_groups=row_groups):
                out = evaluate_arrow(ref.policy, batch)
                writer.write_batch(out)
                eligible = out.column("eligible")
                counts["rows"] += out.num_rows
                counts["errors"] += out.column("errors").is_valid().true_count
                counts["eligible"] += eligible.true_count
                counts["ineligible"] += eligible.false_count
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return counts


def _total(parts):
    return {k: sum(p[k] for p in parts) for k in ("rows", "eligible", "ineligible", "errors")}


def evaluate_parquet(policy, source, target, *, row_groups_per_part: int = 1, batch_size: int = 20_000,
                     overwrite: bool = False, compute: bool = True):
    """Parquet dossiers to a directory of Parquet decisions, on the current Dask scheduler
    (a `distributed.Client` if one is open): one task per `row_groups_per_part` row groups of
    each file; every task reads its own row groups and writes its own
    `target/part-00000.parquet`, … (the parts in the input's order: files, then row groups;
    each part's rows in order). The policy is one key of the graph, sent once to each worker
    and rebuilt there once. Returns the counts (`rows`, `eligible`, `ineligible`, `errors`),
    or with `compute=False` the `dask.delayed` of them. A target already holding parts is
    refused (`FileExistsError`) unless `overwrite=True`, which removes them first."""
    import os

    import dask
    if row_groups_per_part < 1:
        raise ValueError("row_groups_per_part must be at least 1")
    pieces = _pieces(_sources(source), row_groups_per_part)
    target = os.fspath(target)
    os.makedirs(target, exist_ok=True)
    old = [f for f in os.listdir(target) if f.startswith("part-") and f.endswith(".parquet")]
    if old and not overwrite:
        raise FileExistsError(f"{target} already holds {len(old)} part files (overwrite=True replaces them)")
    for f in old:
        os.unlink(os.path.join(target, f))
    width = max(5, len(str(len(pieces) - 1)))
    ref = dask.delayed(_PolicyRef(policy), pure=True)
    decide = dask.delayed(_decide_piece, pure=False)
    parts = [decide(ref, f, rgs, os.path.join(target, f"part-{k:0{width}d}.parquet"), batch_size)
             for k, (f, rgs) in enumerate(pieces)]
    counts = dask.delayed(_total, pure=False)(parts)
    return counts.compute() if compute else counts


# Dask settings for workers that decide dossiers: distributed's statistical profiler samples
# every worker thread's stack every 10 ms; it cost 10-40 % more CPU than the decisions
# themselves took on the 2-core machine (bench/columnar.py), and 0.04 core per idle worker.
WORKER_CONFIG = {"distributed.worker.profile.enabled": False}


def local_cluster(n_workers: int = 2, **kwargs):
    """A `distributed.LocalCluster` sized for `evaluate_parquet`: `n_workers` processes of one
    thread each, one polars thread per worker (`POLARS_MAX_THREADS=1` in the workers'
    environment, set before they import polars), the profiler off (`WORKER_CONFIG`). Keyword
    arguments go to `LocalCluster` and win over these."""
    import dask
    import distributed
    options = {"n_workers": n_workers, "threads_per_worker": 1, "processes": True, "dashboard_address": ":0",
               "env": {"POLARS_MAX_THREADS": "1"}}
    options.update(kwargs)
    with dask.config.set(WORKER_CONFIG):     # the workers' processes start with this configuration
        return distributed.LocalCluster(**options)


def evaluate(data, policy):
    """Decisions of a dask DataFrame (Arrow-backed) or a dask Bag of JSON dossiers, lazily."""
    import dask.bag as db
    import dask.dataframe as dd
    ref = _PolicyRef(policy)
    if isinstance(data, db.Bag):
        return data.map_partitions(_bag_partition, ref)
    if isinstance(data, dd.DataFrame):
        _arrow_frame_or_refuse(data)
        return data.map_partitions(_partition, ref, meta=_meta())
    raise TypeError(f"esms_rules.dask.evaluate takes a dask DataFrame or Bag, not {type(data).__name__}")
