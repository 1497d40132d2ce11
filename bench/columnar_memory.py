"""Peak memory of the command line from Parquet to Parquet (issue 15): a figure, nothing asserted.

    PYTHONPATH=. .venv/bin/python bench/columnar_memory.py [--n 1000000] [--dir /tmp]

1. Writes N dossiers of `esms-numerique-2025` (about 24 structures each, the generator of
   `bench/columnar.py`: 20,000 generated, written again under new ids) to a Parquet file,
   20,000 at a time, so that this process never holds the file in memory.
2. Runs `esms-rules evaluate big.parquet -o decisions.parquet --policy esms-numerique-2025` as a
   child process and prints its wall time, rows per second, and its peak resident memory two
   ways: `resource.getrusage(RUSAGE_CHILDREN).ru_maxrss` (the largest child this process
   waited for; on Linux it may include the pages of this process at the moment of the
   child's exec, so this process stays small), and the child's own `VmHWM` (the high-water
   mark of its address space, read by the child from /proc/self/status as it exits).
   Target: under 2 GB for 1,000,000 dossiers.
3. Deletes both files (unless `--keep`).
"""
from __future__ import annotations

import argparse
import functools
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from columnar import dossier  # noqa: E402  (bench/columnar.py: the generator)

from esms_rules import arrow, load_policy  # noqa: E402

print = functools.partial(print, flush=True)   # noqa: A001  (progress shows in a log file as it comes)

# the command line in a fresh interpreter that prints its own high-water mark as it exits
_CHILD = ("import runpy, sys\n"
          "sys.argv = ['esms-rules'] + sys.argv[1:]\n"
          "try:\n    runpy.run_module('esms_rules', run_name='__main__')\n"
          "finally:\n"
          "    for line in open('/proc/self/status'):\n"
          "        if line.startswith('VmHWM'):\n"
          "            print('child', line.strip(), file=sys.stderr)\n")


def write(path: Path, n: int, seed: int = 16, distinct: int = 20_000) -> float:
    """N dossiers to `path`, in row groups of 20,000: `distinct` generated dossiers, written
    again and again under new ids (generating a million dossiers in Python would take the
    better part of an hour; the engine caches nothing across rows, so repeats cost the same)."""
    policy = load_policy("esms-numerique-2025")
    schema = arrow.dossier_schema(policy)
    rng = random.Random(seed)
    start = time.perf_counter()
    base = pa.Table.from_pylist([dossier(rng, k) for k in range(min(n, distinct))], schema=schema)
    at = schema.get_field_index("id")
    with pq.ParquetWriter(path, schema) as w:
        for lo in range(0, n, base.num_rows):
            part = base.slice(0, min(base.num_rows, n - lo))
            ids = pa.array([f"D{k:07d}" for k in range(lo, lo + part.num_rows)], pa.string())
            w.write_table(part.set_column(at, schema.field(at), ids))
    return time.perf_counter() - start


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dir", default=None, help="where to write the two files (a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the files")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="esms-memory-", dir=args.dir))
    src, dst = tmp / "big.parquet", tmp / "decisions.parquet"
    try:
        took = write(src, args.n)
        size = src.stat().st_size / 2**20
        print(f"wrote {args.n} dossiers in {took:.0f} s: {src} ({size:.0f} MB); "
              f"this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB peak")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-c", _CHILD, "evaluate", str(src), "-o", str(dst),
                              "--policy", "esms-numerique-2025"], capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        hwm = [line for line in run.stderr.splitlines() if line.startswith("child VmHWM")]
        rows = pq.ParquetFile(dst).metadata.num_rows if dst.exists() else 0
        print(f"esms-rules evaluate big.parquet -o decisions.parquet: exit {run.returncode}, {wall:.0f} s, "
              f"{rows} rows written, {rows / wall:.0f} dossiers/s")
        print(f"peak RSS of the child: getrusage(RUSAGE_CHILDREN).ru_maxrss = {peak:.0f} MB; "
              f"its own VmHWM = {int(hwm[0].split()[2]) / 1024 if hwm else float('nan'):.0f} MB (target < 2048 MB)")
        for line in run.stderr.splitlines():
            if not line.startswith("child VmHWM"):
                print("  child:", line)
    finally:
        if not args.keep:
            for f in (src, dst):
                f.unlink(missing_ok=True)
            tmp.rmdir() if not any(tmp.iterdir()) else None


if __name__ == "__main__":
    main()
