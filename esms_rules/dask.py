"""Dask: decide dossiers on a cluster, partition by partition, over columns.

    pip install "esms-rules[dask]"        # dask[dataframe], distributed, polars, pyarrow

    import dask.dataframe as dd
    from esms_rules import load_policy
    from esms_rules.dask import evaluate

    dossiers = dd.read_parquet("dossiers/*.parquet", dtype_backend="pyarrow")
    decisions = evaluate(dossiers, load_policy("esms-numerique-2025"))
    decisions.to_parquet("decisions/")

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
