"""esms_rules.dask on a local cluster of 2 worker processes, against the single-process result."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import POLICY_PAIRS
from test_columnar import ROOT

from esms_rules import load_policy

pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
pa = pytest.importorskip("pyarrow")
pd = pytest.importorskip("pandas")

from esms_rules import arrow as A  # noqa: E402
from esms_rules import dask as D  # noqa: E402


def dossiers(n):
    base = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))
    other = json.loads((ROOT / "examples" / "dossier-2025-ineligible.json").read_text(encoding="utf-8"))
    out = []
    for k in range(n):
        d = json.loads(json.dumps(base if k % 3 else other))
        d["id"] = f"D{k:04d}"
        d["structures"] = d["structures"][: (k * 7) % (len(d["structures"]) + 1)]
        if k % 11 == 5:
            d["call"] = "nowhere"          # a bad row: an error row at its place
        out.append(d)
    return out


@pytest.fixture(scope="module")
def client():
    cluster = D.local_cluster(2, silence_logs=40)
    c = distributed.Client(cluster)
    assert len(c.scheduler_info()["workers"]) == 2
    # what local_cluster promises each worker: one polars thread, no profiler
    assert set(c.run(_worker_settings).values()) == {("1", False)}
    yield c
    c.close()
    cluster.close()


def _worker_settings():
    import os

    import dask
    return os.environ.get("POLARS_MAX_THREADS"), dask.config.get("distributed.worker.profile.enabled")


def test_dataframe_on_two_workers_same_as_single_process(client, tmp_path):
    import dask.dataframe as dd
    policy = load_policy("esms-numerique-2025")
    ds = dossiers(120)
    path = tmp_path / "d.parquet"
    table = pa.Table.from_pylist(ds, schema=A.dossier_schema(policy))
    import pyarrow.parquet as pq
    pq.write_table(table, path, row_group_size=25)
    frame = dd.read_parquet(str(path), dtype_backend="pyarrow", split_row_groups=True)
    assert frame.npartitions > 1
    got = D.evaluate(frame, policy).compute()
    want = A.evaluate_arrow(policy, table).to_pylist()
    rows = pa.Table.from_pandas(got, preserve_index=False).to_pylist()
    assert rows == want
    assert [r["dossier"] for r in rows] == [d["id"] for d in ds]


def test_parquet_parts_written_by_the_workers(client, tmp_path):
    """evaluate_parquet: each task reads its own row groups and writes its own part; the parts,
    read in name order, are the single-process decisions in order; the counts add up."""
    import pyarrow.parquet as pq
    policy = load_policy("esms-numerique-2025")
    ds = dossiers(90)
    table = pa.Table.from_pylist(ds, schema=A.dossier_schema(policy))
    src = tmp_path / "in"
    src.mkdir()
    pq.write_table(table.slice(0, 50), src / "a.parquet", row_group_size=10)     # 5 row groups
    pq.write_table(table.slice(50), src / "b.parquet", row_group_size=25)        # 2 row groups
    out = tmp_path / "out"
    counts = D.evaluate_parquet(policy, src, out, row_groups_per_part=2)
    parts = sorted(out.glob("part-*.parquet"))
    assert [p.name for p in parts] == [f"part-{k:05d}.parquet" for k in range(4)]   # 3 + 1 tasks
    assert [pq.ParquetFile(p).metadata.num_rows for p in parts] == [20, 20, 10, 40]
    want = A.evaluate_arrow(policy, table).to_pylist()
    assert pq.read_table(parts).to_pylist() == want
    assert counts == {"rows": 90, "errors": sum(1 for r in want if r["errors"]),
                      "eligible": sum(1 for r in want if r["eligible"] is True),
                      "ineligible": sum(1 for r in want if r["eligible"] is False)}
    assert counts["errors"] and counts["eligible"] and counts["ineligible"]
    with pytest.raises(FileExistsError, match="overwrite"):
        D.evaluate_parquet(policy, src, out)
    # the policy is one key of the graph, which every task depends on: sent once per worker
    graph = dict(D.evaluate_parquet(policy, src, tmp_path / "lazy", compute=False).__dask_graph__())
    refs = [k for k, v in graph.items() if isinstance(getattr(v, "value", None), D._PolicyRef)]
    assert len(refs) == 1
    assert sum(1 for v in graph.values() if refs[0] in getattr(v, "dependencies", ())) == 7    # 7 row groups
    assert D.evaluate_parquet(policy, [src / "b.parquet"], out, overwrite=True)["rows"] == 40
    assert sorted(p.name for p in out.glob("part-*.parquet")) == ["part-00000.parquet", "part-00001.parquet"]


def test_bag_on_two_workers(client):
    import dask.bag as db
    policy = load_policy("esms-numerique-2025")
    ds = dossiers(30)
    got = D.evaluate(db.from_sequence(ds, npartitions=4), policy).compute()
    want = []
    for d in ds:
        try:
            want.append(policy.evaluate(d, trace=False).to_dict(trace=False))
        except Exception as e:
            want.append(e.to_dict())
    assert json.dumps(got, default=str) == json.dumps(want, default=str)


@pytest.mark.parametrize("backend", [None, "numpy_nullable"])
def test_default_pandas_backend_is_refused(tmp_path, backend):
    """pandas' own backends (the default, and numpy_nullable) turn lists of structures into
    Python objects and nullable whole numbers into floats: refused before anything runs."""
    import dask.dataframe as dd
    policy = load_policy("esms-numerique-2025")
    path = tmp_path / "d.parquet"
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist(dossiers(5), schema=A.dossier_schema(policy)), path)
    frame = dd.read_parquet(str(path)) if backend is None else dd.read_parquet(str(path), dtype_backend=backend)
    with pytest.raises(ValueError, match="dtype_backend"):
        D.evaluate(frame, policy)


@pytest.mark.parametrize("name", sorted(POLICY_PAIRS))
@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_policy_per_record_columnar_and_dask_agree(client, name, data):
    """Generated dossiers (bad, unknown fields, decimals at 7 places included): the per-record
    decision, the single-process columnar row and the Dask row are the same."""
    import dask.dataframe as dd
    from test_arrow import expected_rows, to_table
    from test_columnar import tweaked
    policy = load_policy(name)
    ds = data.draw(st.lists(tweaked(name), min_size=2, max_size=10))
    table, _ = to_table(policy, ds)
    single = A.evaluate_arrow(policy, table).to_pylist()
    kept = [A._drop_absent(A._json_value(r), policy.checked.facts) for r in table.to_pylist()]
    assert single == expected_rows(policy, kept)
    frame = dd.from_pandas(table.to_pandas(types_mapper=pd.ArrowDtype), npartitions=2)
    got = D.evaluate(frame, policy).compute()
    assert pa.Table.from_pandas(got, preserve_index=False).to_pylist() == single


def test_policy_travels_pickled_rebuilt_once_per_process_and_checked():
    import pickle

    from esms_rules.diagnostics import PolicyError
    policy = load_policy("esms-numerique-2025")
    blob = pickle.dumps(D._PolicyRef(policy))
    D._LOADED.clear()
    first, second = pickle.loads(blob).policy, pickle.loads(blob).policy
    assert first is second and first is not policy and first.sha256 == policy.sha256
    D._LOADED.clear()
    # another deadline, same length: a valid pickle of a valid policy, but not the one sent
    forged = blob.replace(b"def regional_deadline = 2025-09-15", b"def regional_deadline = 2025-09-16")
    assert forged != blob
    with pytest.raises(PolicyError, match="sha256"):
        pickle.loads(forged)
