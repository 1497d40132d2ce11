"""Spark `mapInArrow` through `esms_rules.arrow.evaluate_batches`, on a local SparkSession
(`local[2]`, a real JVM), against the single-process result, row for row.

This is the recipe of docs/columnar.md ("Spark"), run as written there. Skipped when there is
no Java or no pyspark (`pip install "esms-rules[spark]"`; `.ci/run` installs it where Java is).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from test_dask import dossiers

from esms_rules import load_policy

pa = pytest.importorskip("pyarrow")
pytest.importorskip("polars")


def _java_missing() -> str | None:
    java = shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin")) \
        if os.environ.get("JAVA_HOME") else shutil.which("java")
    if not java:
        return "no Java runtime (java not on PATH, no JAVA_HOME): Spark needs a JVM"
    try:
        subprocess.run([java, "-version"], capture_output=True, check=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        return f"`java -version` failed ({e}): Spark needs a working JVM"
    return None


if _java_missing():
    pytest.skip(_java_missing(), allow_module_level=True)
pytest.importorskip("pyspark", reason="pyspark is not installed (pip install 'esms-rules[spark]')")

from esms_rules import arrow as A  # noqa: E402

pytestmark = [pytest.mark.slow,    # a JVM start and a Spark job: 30 s to 2 minutes on 2 busy cores
              pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning")]


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession
    # the Python workers Spark starts must import this esms_rules (PYTHONPATH is inherited)
    before = os.environ.get("PYSPARK_PYTHON")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (SparkSession.builder.master("local[2]").appName("esms-rules-test")
               .config("spark.ui.enabled", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.memory", "1g")
               .config("spark.sql.files.maxPartitionBytes", "8k")   # a partition per row group or so
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)


def test_map_in_arrow_same_as_single_process(spark, tmp_path):
    from pyspark.sql.pandas.types import from_arrow_schema

    policy = load_policy("esms-numerique-2025")
    ds = dossiers(60)                      # every third one ineligible, some error rows
    table = pa.Table.from_pylist(ds, schema=A.dossier_schema(policy))
    want = A.evaluate_arrow(policy, table).to_pylist()

    # the recipe of docs/columnar.md, as written there
    path = tmp_path / "dossiers.parquet"
    import pyarrow.parquet as pq
    pq.write_table(table, path, row_group_size=20)
    frame = spark.read.parquet(str(path))
    schema = from_arrow_schema(A.decision_schema(pa))
    assert frame.rdd.getNumPartitions() > 1
    decided = frame.mapInArrow(lambda batches: A.evaluate_batches(policy, batches), schema)
    got = decided.toArrow()

    assert got.schema.names == A.decision_schema(pa).names
    rows = got.to_pylist()
    assert len(rows) == len(ds)
    assert [r["dossier"] for r in rows] == [d["id"] for d in ds]
    assert rows == want
    assert any(r["errors"] for r in rows) and any(r["eligible"] for r in rows) \
        and any(r["eligible"] is False for r in rows)
