"""Columnar benchmark (issue 15): ratios measured in one run, nothing asserted.

    PYTHONPATH=. .venv/bin/python bench/columnar.py [--n 100000] [--per-record 5000] [--cli-n 0]

1. `esms-numerique-2025` over N generated dossiers of about 24 structures, read from Parquet:
   - columnar: `arrow.evaluate_arrow` on the table (decisions with reasons, messages
     rendered, structures), Parquet reading included;
   - per record: the compiled path (`Policy.evaluate(trace=False)`, reasons included) on the
     same rows read from Parquet as dicts, on the first `--per-record` rows (its rate is per
     row, so a subset keeps the run short: the figure says so);
   - hand-written polars: `hand_2025` below, the same policy written by hand over the
     exploded structures (eligible, recevable, call, reason codes, per-structure eligibility);
   the columnar verdicts are first checked against the hand translation on every row.
2. Time to build the columnar plan of every bundled policy (target < 50 ms).
3. With `--cli-n M`: M dossiers from Parquet to Parquet through `esms-rules evaluate`, peak
   resident memory of the process (target < 2 GB for 1,000,000).
4. With `--dask-n M` (or `--dask-input FILE`): M dossiers Parquet to Parquet in one process
   (polars' default threads, then one polars thread: fresh processes) and on Dask,
   `esms_rules.dask.local_cluster(2)` (`evaluate_parquet`, and `evaluate(...).to_parquet`),
   in `--dask-rounds` interleaved rounds: medians, ratios (target >= 1.5 over the default
   single process), CPU times, the load average, and every output row checked.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

import polars as pl  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from esms_rules import arrow, columnar, load_policy  # noqa: E402
from esms_rules.diagnostics import DossierError  # noqa: E402
from esms_rules.runtime import luhn_key  # noqa: E402

REGIONS = {  # a few ARS regions and their departments (enough for groupings)
    "HDF": ["02", "59", "60", "62", "80"], "IDF": ["75", "77", "78", "91", "92", "93", "94", "95"],
    "BRE": ["22", "29", "35", "56"], "OCC": ["09", "11", "12", "30", "31", "32", "34"],
    "COR": ["2A", "2B"], "REU": ["974"], "GLP": ["971", "977"],
}
SECTORS = ["PA", "PH", "domicile", "AHI", "PJM", "enfance", "autre"]
OFFSETS = ["+02:00", "+01:00", "Z", "-04:00", "+04:00"]


def dossier(rng: random.Random, k: int) -> dict:
    regions = rng.sample(sorted(REGIONS), rng.choice([1, 1, 1, 2]))
    deps = [d for r in regions for d in REGIONS[r]]
    n = max(0, int(rng.gauss(24, 6)))
    sectors = rng.choice([SECTORS, ["AHI", "PJM"], ["PJM"], ["PA", "PH"]])
    structures = []
    for i in range(n):
        dep = rng.choice(deps)
        finess = dep + str(k * 100 + i).zfill(8 - len(dep))[-(8 - len(dep)):]
        finess += luhn_key(finess) if finess.isdigit() else "0"   # a valid check key (FINESS_KEY)
        if structures and rng.random() < 0.02:
            finess = rng.choice(structures)["finess"]
        structures.append({
            "finess": finess, "name": f"ESSMS {k}-{i}", "department": dep, "category": "EHPAD",
            "casf_item": None if rng.random() < 0.03 else rng.randint(1, 17),
            "sector": rng.choice(sectors), "financed_by": rng.sample(["ARS", "CD", "Etat"], rng.randint(0, 2)),
            "confort_share": rng.choice([0, 0.25, 0.5, 0.1234567, 1.0, 0.3]) if rng.random() < 0.9 else 1,
        })
    day = dt.date(2025, 9, 15) + dt.timedelta(days=rng.randint(-120, 3))
    conv = None if rng.random() < 0.3 else (dt.date(2025, 1, 1) + dt.timedelta(days=rng.randint(0, 300))).isoformat()
    return {
        "id": f"D{k:07d}", "campaign": 2025, "call": rng.choice(["regional", "regional", "national"]),
        "submitted_at": f"{day.isoformat()}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00{rng.choice(OFFSETS)}",
        "convention_signed_on": conv,
        "applicant": {"name": "Association", "legal_form": rng.choice(["public", "private"]), "gcsms": False},
        "software": {"action": rng.choice(["acquisition", "mise_en_conformite"]),
                     "segur_referenced": rng.random() < 0.8,
                     "segur_candidate_on": None if rng.random() < 0.5 else "2025-03-01",
                     "resah_referenced": True, "mes_compatible": False},
        "other_eu_funding": [{"programme": "FEDER", "same_object": rng.random() < 0.3}] if rng.random() < 0.1 else [],
        "structures": structures,
    }


def write_dossiers(policy, n: int, path: Path, seed: int = 15, group: int = 20_000, distinct: int = 20_000) -> None:
    """N dossiers to a Parquet file, in row groups of `group` rows: `distinct` generated ones,
    written again under new ids past that (generating is the slow part of a large run; the
    engine caches nothing across rows)."""
    rng = random.Random(seed)
    schema = arrow.dossier_schema(policy)
    base = pa.Table.from_pylist([dossier(rng, k) for k in range(min(n, distinct))], schema=schema)
    at = schema.get_field_index("id")
    with pq.ParquetWriter(path, schema) as w:
        for start in range(0, n, group):
            size = min(group, n - start)
            part = base.take(pa.array([k % base.num_rows for k in range(start, start + size)], pa.int64()))
            ids = pa.array([f"D{k:07d}" for k in range(start, start + size)], pa.string())
            w.write_table(part.set_column(at, schema.field(at), ids))


# ---- the hand-written polars translation of esms-numerique-2025 ----------------------------
def hand_2025(table, region_of: dict, minimum_of: dict):
    """eligible, recevable, call, blocking dossier codes, per-structure eligibility: by hand."""
    df = pl.from_arrow(table).with_row_index("row")
    s = df.select("row", pl.col("structures")).explode("structures").filter(pl.col("structures").is_not_null()) \
        .unnest("structures").with_columns(pl.int_range(pl.len()).over("row").alias("i"))
    region = pl.col("department").replace_strict(region_of, default=None)
    s = s.with_columns(region.alias("region"))
    s = s.with_columns(((pl.col("casf_item").is_null()) | (pl.col("confort_share") >= 1)
                        | ~pl.struct("row", "finess").is_first_distinct()).alias("failed"))
    s = s.with_columns(pl.col("region").replace_strict(minimum_of, default=None).alias("min"))
    c = s.filter(~pl.col("failed")).group_by("row").agg(
        pl.len().alias("n"), pl.col("region").n_unique().alias("nreg"), pl.col("min").max().alias("thr"),
        (pl.col("sector") == "PJM").all().alias("pjm"), pl.col("sector").is_in(["AHI", "PJM"]).all().alias("ahi"))
    d = df.select("row", "call", "submitted_at", "convention_signed_on", "software", "other_eu_funding") \
        .join(c, on="row", how="left").with_columns(
        pl.col("n").fill_null(0).cast(pl.Int64), pl.col("nreg").fill_null(0), pl.col("thr").fill_null(15),
        pl.col("pjm").fill_null(True), pl.col("ahi").fill_null(True))
    n = pl.col("n")
    expected = pl.when((n >= 50) & (pl.col("nreg") >= 2)).then(pl.lit("national")) \
        .when(n >= pl.col("thr")).then(pl.lit("regional")).otherwise(None)
    submitted = pl.col("submitted_at").str.replace("Z$", "+00:00").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC")
    deadline = pl.when(pl.col("call") == "national").then(pl.lit(dt.datetime(2025, 6, 1, 22, tzinfo=dt.timezone.utc))) \
        .when(pl.col("nreg") >= 2).then(pl.lit(dt.datetime(2025, 6, 1, 22, tzinfo=dt.timezone.utc))) \
        .otherwise(pl.lit(dt.datetime(2025, 9, 15, 22, tzinfo=dt.timezone.utc)))
    ref = pl.col("software").struct.field("segur_referenced")
    cand = pl.col("software").struct.field("segur_candidate_on").str.to_date()
    conv = pl.col("convention_signed_on").str.to_date()
    small = expected.is_null() & (n < pl.col("thr"))
    wrong = expected.is_not_null() & (expected != pl.col("call"))
    eu = pl.col("other_eu_funding").list.eval(pl.element().struct.field("same_object")).list.any().fill_null(False)
    pjm = (n >= 1) & pl.col("pjm")
    ahi = (n >= 1) & pl.col("ahi")
    dui = ~pjm & ~ahi & ~ref
    ahi_late = ~pjm & ahi & ~(conv.is_null() & ~ref) & ~ref & conv.is_not_null() & (cand.is_null() | (cand > conv))
    codes = pl.concat_list(
        pl.when(small).then(pl.lit("GROUPING_TOO_SMALL")), pl.when(wrong).then(pl.lit("WRONG_CALL")),
        pl.when(submitted >= deadline).then(pl.lit("LATE_SUBMISSION")),
        pl.when(eu).then(pl.lit("OTHER_EU_FUNDING")), pl.when(dui).then(pl.lit("DUI_NOT_SEGUR_REFERENCED")),
        pl.when(ahi_late).then(pl.lit("AHI_CANDIDATE_TOO_LATE"))).list.drop_nulls()
    out = d.select("row", (codes.list.len() == 0).alias("eligible"), (submitted < deadline).alias("recevable"),
                   expected.alias("call"), codes.alias("codes"))
    per = s.group_by("row", maintain_order=True).agg((~pl.col("failed")).alias("structures"))
    return out.join(per, on="row", how="left").sort("row")


def best(fn, repeat=2):
    """(wall seconds, CPU seconds of this process, all threads) of `fn`, the least of `repeat`
    runs each: on a machine shared with other jobs, CPU time moves less than wall time."""
    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--per-record", type=int, default=5_000)
    ap.add_argument("--cli-n", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--skip-throughput", action="store_true", help="only the CLI and Dask parts")
    ap.add_argument("--dask-n", type=int, default=0, help="also time Dask (2 worker processes) on this many dossiers")
    ap.add_argument("--dask-partitions", type=int, default=4, help="row groups of the Dask input (one task each)")
    ap.add_argument("--dask-input", help="a Parquet file of dossiers for the Dask part (instead of --dask-n generated)")
    ap.add_argument("--dask-rounds", type=int, default=3, help="interleaved rounds (medians are printed)")
    ap.add_argument("--dask-gather", action="store_true", help="also time .compute() into the client")
    args = ap.parse_args(argv)
    policy = load_policy("esms-numerique-2025")
    tmp = Path(tempfile.mkdtemp(prefix="esms-columnar-"))
    if args.skip_throughput:
        cli(args, policy, tmp)
        dask_part(args, policy, tmp)
        return
    path = tmp / "dossiers.parquet"
    t = time.perf_counter()
    write_dossiers(policy, args.n, path)
    print(f"generated {args.n} dossiers in {time.perf_counter() - t:.1f} s ({path})")

    # 2. plan build times
    print("\ncolumnar plan build, per bundled policy (target < 50 ms), least of 3 builds:")
    from esms_rules.registry import bundled_policies
    columnar.plan(load_policy("esms-numerique-2025"))       # polars imported once, before timing
    for p in bundled_policies():
        def build(p=p):
            columnar._PLANS.pop(p, None)
            columnar.plan(p)
        wall, cpu = best(build, 3)
        print(f"  {p.id:24s} wall {1000 * wall:6.1f} ms, cpu {1000 * cpu:6.1f} ms")

    # 1. throughput
    table = pq.read_table(path)
    structures = sum(len(x) for x in table.column("structures").to_pylist()[:1000]) / min(1000, args.n)
    columnar_out = {}

    def run_columnar():
        columnar_out["t"] = arrow.evaluate_arrow(policy, pq.read_table(path))
    tc, cc = best(run_columnar, args.repeat)
    out = columnar_out["t"]
    region_of = policy.checked.tables["region_of"].mapping
    territory = policy.checked.tables["territory_of"].mapping
    minimum = policy.checked.tables["minimum_size"].mapping
    min_by_region = {r: minimum[territory[r]] for r in territory}
    hand_out = {}

    def run_hand():
        hand_out["t"] = hand_2025(pq.read_table(path), region_of, min_by_region)
    th, ch = best(run_hand, args.repeat)
    h = hand_out["t"]
    got = pl.from_arrow(out)
    ok_rows = got.get_column("errors").is_null()
    codes = got.select(pl.col("reasons").list.eval(pl.element().struct.field("code")).alias("c")).get_column("c")
    dis = 0
    hs, hc = h.get_column("structures").to_list(), h.get_column("codes").to_list()
    he, hr, hcall = h.get_column("eligible").to_list(), h.get_column("recevable").to_list(), h.get_column("call").to_list()
    ge, gr, gcall = got.get_column("eligible").to_list(), got.get_column("recevable").to_list(), got.get_column("call").to_list()
    gs = got.select(pl.col("structures").list.eval(pl.element().struct.field("eligible"))).to_series().to_list()
    for k in range(args.n):
        if not ok_rows[k]:
            continue
        if (ge[k], gr[k], gcall[k], sorted(codes[k]), gs[k] or []) != (he[k], hr[k], hcall[k], sorted(hc[k]), hs[k] or []):
            dis += 1
    rows = pq.read_table(path, columns=None).slice(0, args.per_record)
    dicts = arrow.json_rows(policy, rows, range(rows.num_rows))

    def run_per_record():
        for d in arrow.json_rows(policy, rows, range(rows.num_rows)):
            try:
                policy.evaluate(d, trace=False)
            except DossierError:
                pass
    tp, cp = best(run_per_record, 1)
    del dicts
    rate_c, rate_h, rate_p = args.n / tc, args.n / th, args.per_record / tp
    cpu_c, cpu_h, cpu_p = args.n / cc, args.n / ch, args.per_record / cp
    print(f"\nesms-numerique-2025, {args.n} dossiers, {structures:.1f} structures each on average, from Parquet"
          " (wall: elapsed; cpu: this process's CPU time, all threads):")
    print(f"  columnar (evaluate_arrow, reasons+messages): wall {tc:7.2f} s {rate_c:8.0f}/s   "
          f"cpu {cc:7.2f} s {cpu_c:8.0f}/s")
    print(f"  hand-written polars translation:             wall {th:7.2f} s {rate_h:8.0f}/s   "
          f"cpu {ch:7.2f} s {cpu_h:8.0f}/s")
    print(f"  per record (compiled, reasons), {args.per_record} rows:  wall {tp:7.2f} s {rate_p:8.0f}/s   "
          f"cpu {cp:7.2f} s {cpu_p:8.0f}/s")
    print(f"  columnar / per record = {rate_c / rate_p:.1f}x wall, {cpu_c / cpu_p:.1f}x cpu (target >= 15)")
    print(f"  columnar / hand-written = {rate_c / rate_h:.2f} wall, {cpu_c / cpu_h:.2f} cpu (goal >= 0.7)")
    print(f"  disagreements with the hand translation: {dis} of {int(ok_rows.sum())} valid rows")

    cli(args, policy, tmp)
    dask_part(args, policy, tmp)


# the CLI in a fresh interpreter that reports its own peak RSS: the high-water mark of its own
# address space (`VmHWM`), since Linux carries `ru_maxrss` across exec, so that a child spawned
# from this process would report this process's peak as its own, by RUSAGE_SELF as by RUSAGE_CHILDREN
_PEAK = ("import runpy, sys\n"
         "sys.argv = ['esms-rules'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('esms_rules', run_name='__main__')\n"
         "finally:\n"
         "    hwm = [line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')]\n"
         "    print('peak-rss-kb', hwm[0], file=sys.stderr)\n")


def cli(args, policy, tmp):
    """3. the CLI, Parquet to Parquet, peak memory."""
    if args.cli_n:
        big = tmp / "big.parquet"
        write_dossiers(policy, args.cli_n, big, seed=16)
        dst = tmp / "decisions.parquet"
        t = time.perf_counter()
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, "-c", _PEAK, "evaluate", str(big), "-o", str(dst),
                              "--policy", "esms-numerique-2025"], capture_output=True, text=True, env=env)
        took = time.perf_counter() - t
        peak = int(run.stderr.rsplit("peak-rss-kb", 1)[1].split()[0]) / 1024
        print(f"\nCLI Parquet -> Parquet, {args.cli_n} dossiers: {took:.1f} s, exit {run.returncode}, "
              f"peak RSS {peak:.0f} MB (target < 2048 MB); {run.stderr.strip()}")
        print(f"  rows written: {pq.ParquetFile(dst).metadata.num_rows}")


def dask_part(args, policy, tmp):
    """4. Dask on a LocalCluster of 2 worker processes vs one process, same Parquet input and
    output, in interleaved rounds (the machine is shared: medians, and CPU times beside)."""
    if not args.dask_n and not args.dask_input:
        return
    import statistics

    import dask.dataframe as dd
    import distributed

    from esms_rules import dask as edask
    if args.dask_input:
        path = Path(args.dask_input)
        meta = pq.ParquetFile(path).metadata
        args.dask_n, args.dask_partitions = meta.num_rows, meta.num_row_groups
    else:
        path = tmp / "dask.parquet"
        # one row group per partition, each worker reads its own
        write_dossiers(policy, args.dask_n, path, seed=17, group=-(-args.dask_n // args.dask_partitions))
    load_before = os.getloadavg()
    single_out, direct_out, frame_out = tmp / "single.parquet", tmp / "dask-direct", tmp / "dask-frame"
    times: dict = {k: [] for k in ("default", "pinned", "direct", "frame")}
    # 2 worker processes of one thread, one polars thread each, distributed's profiler off
    with edask.local_cluster(2, silence_logs=40) as cluster, distributed.Client(cluster) as client:
        client.run(_warm, pickle.dumps(edask._PolicyRef(policy)), str(path))   # every worker: policy, plan, a run

        def on_workers(fn):
            """(wall, CPU of both workers, CPU of the busier worker) of fn()"""
            before = client.run(time.process_time)
            t = time.perf_counter()
            fn()
            wall = time.perf_counter() - t
            used = [c - before[w] for w, c in client.run(time.process_time).items()]
            return wall, sum(used), max(used)

        def frame_run():
            frame = dd.read_parquet(str(path), dtype_backend="pyarrow", split_row_groups=True)
            edask.evaluate(frame, policy).to_parquet(str(frame_out), write_index=False, overwrite=True)
        for _ in range(args.dask_rounds):
            times["default"].append(_single(path, single_out, None))
            times["pinned"].append(_single(path, single_out, "1"))
            times["direct"].append(on_workers(lambda: edask.evaluate_parquet(policy, path, direct_out,
                                                                             overwrite=True)))
            times["frame"].append(on_workers(frame_run))
        gathered = None
        if args.dask_gather:
            t = time.perf_counter()
            gathered = edask.evaluate(dd.read_parquet(str(path), dtype_backend="pyarrow", split_row_groups=True),
                                      policy).compute()
            t_gather = time.perf_counter() - t
    want = pq.read_table(single_out).to_pylist()
    same_direct = pq.read_table(sorted(direct_out.glob("part-*.parquet"))).to_pylist() == want
    frame_parts = sorted(frame_out.glob("part.*.parquet"), key=lambda f: int(f.name.split(".")[1]))  # part.10 > part.9
    same_frame = pq.read_table(frame_parts).to_pylist() == want
    med = {k: tuple(statistics.median(x) for x in zip(*v, strict=True)) for k, v in times.items()}
    print(f"\nDask, {args.dask_n} dossiers, Parquet ({args.dask_partitions} row groups) to Parquet, "
          f"median of {args.dask_rounds} interleaved rounds (wall: elapsed; cpu: all threads of the process(es)):")
    rows = [("one process, polars' default threads (evaluate_parquet)", "default"),
            ("one process, one polars thread (POLARS_MAX_THREADS=1)", "pinned"),
            ("Dask, 2 worker processes x 1 thread: esms_rules.dask.evaluate_parquet", "direct"),
            ("Dask, 2 worker processes x 1 thread: evaluate(read_parquet).to_parquet", "frame")]
    for label, k in rows:
        wall, cpu = med[k][:2]
        print(f"  {label:72s} wall {wall:6.2f} s  cpu {cpu:6.2f} s  (cpu/wall {cpu / wall:.2f})  "
              f"rounds: {', '.join(f'{t[0]:.2f}' for t in times[k])}")
    for k in ("direct", "frame"):
        print(f"  {k}: {med['default'][0] / med[k][0]:.2f}x one process (target >= 1.5), "
              f"{med['pinned'][0] / med[k][0]:.2f}x one process on one thread")
    share = {k: med[k][1] / med[k][0] for k in med}
    print(f"  load average (1 min) {load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after; CPU the runs got: "
          f"one process {share['default']:.2f} core, Dask {share['direct']:.2f} core(s) "
          f"(one process's CPU over Dask's: {med['default'][1] / med['direct'][1]:.2f})")
    if _autogroup():
        print("  sched_autogroup is on: Linux shares the CPU between sessions, not processes, so on a busy machine "
              "the two workers together get no more CPU than one process, and Dask can be no faster than the CPU "
              "ratio above; the 1.5x needs a second core that is free")
    # From CPU times, which a busy machine changes far less than wall times: on two free cores,
    # one process takes at least its busiest thread's CPU (and half its CPU) and at most all of
    # it; Dask takes about its busier worker's CPU.
    cpu, busiest = med["default"][1], med["default"][2]
    worker = med["direct"][2]
    print(f"  one process: its busiest thread did {busiest:.2f} s of its {cpu:.2f} s of CPU, so on two free cores it "
          f"could use at most {cpu / max(busiest, cpu / 2):.2f} cores; the busier Dask worker did {worker:.2f} s. "
          f"Projected from these CPU times for two free cores (not measured): Dask "
          f"{max(busiest, cpu / 2) / worker:.2f}x to {cpu / worker:.2f}x one process")
    print(f"  same rows as one process: direct {same_direct}, frame {same_frame}")
    if gathered is not None:
        same = pa.Table.from_pandas(gathered, preserve_index=False).to_pylist() == want
        print(f"  gathering every decision into the client instead (.compute()): {t_gather:.2f} s; same rows: {same}")


def _autogroup():
    try:
        return Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1"
    except OSError:
        return False


_SINGLE = ("import json, os, sys, time\n"
           "import pyarrow.parquet as pq\n"
           "from esms_rules import arrow, load_policy\n"
           "def threads():  # CPU seconds of each thread of this process (Linux)\n"
           "    tick, out = os.sysconf('SC_CLK_TCK'), {}\n"
           "    for t in os.listdir('/proc/self/task'):\n"
           "        f = open(f'/proc/self/task/{t}/stat').read().rsplit(')', 1)[1].split()\n"
           "        out[t] = (int(f[11]) + int(f[12])) / tick\n"
           "    return out\n"
           "p = load_policy('esms-numerique-2025')\n"
           "arrow.evaluate_arrow(p, pq.ParquetFile(sys.argv[1]).read_row_group(0).slice(0, 200))  # warm: plan\n"
           "before = threads() if os.path.isdir('/proc/self/task') else {}\n"
           "t, c = time.perf_counter(), time.process_time()\n"
           "arrow.evaluate_parquet(p, sys.argv[1], sys.argv[2])\n"
           "wall, cpu = time.perf_counter() - t, time.process_time() - c\n"
           "after = threads() if before else {}\n"
           "busiest = max((after[k] - before.get(k, 0) for k in after), default=cpu)\n"
           "print(json.dumps([wall, cpu, busiest]))\n")


def _single(path, out, threads):
    """(wall, cpu, cpu of its busiest thread) of `arrow.evaluate_parquet` in a fresh process,
    polars' thread pool pinned to `threads` (it is sized when polars is imported) or left to
    its default."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("POLARS_MAX_THREADS", None)
    if threads:
        env["POLARS_MAX_THREADS"] = threads
    run = subprocess.run([sys.executable, "-c", _SINGLE, str(path), str(out)], env=env,
                         capture_output=True, text=True, check=True)
    return tuple(json.loads(run.stdout.strip().splitlines()[-1]))


def _warm(blob, path):
    """On a Dask worker, as in the single process before it is timed: the policy unpickled
    into esms_rules.dask's cache, its plan built and run once on 200 dossiers."""
    import pickle as pk

    arrow.evaluate_arrow(pk.loads(blob).policy, pq.ParquetFile(path).read_row_group(0).slice(0, 200))
    return True


if __name__ == "__main__":
    main()
