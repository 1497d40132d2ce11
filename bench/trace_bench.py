"""Traces on the real `esms-numerique-2025` policy (issue 14 item 3), against named baselines.

    python bench/trace_bench.py                      # per-record ratios, then the CLI on 100,000 lines
    python bench/trace_bench.py --n 1000 --rounds 5 --cli-lines 0     # per-record only, quick
    python bench/trace_bench.py --baseline /tmp/trace-baseline        # main's CLI before compact traces

Per record (median of interleaved rounds over `bench/real.py`'s generated dossiers, µs per
dossier, ratio to `bench/handwritten_2025.py`'s validating evaluator, measured in the same run):
`Policy.evaluate(d).to_json()` (the compact trace, the default), `Policy.evaluate(d,
trace="full").to_json()` and `.trace` (the full tree's nodes), and without trace for reference.
Targets: compact serialised ≥ 0.2×, full ≥ 0.05×.

The CLI: `esms-rules evaluate FILE.jsonl` with its default output, run as a child process
writing to /dev/null, on a JSON Lines file of generated dossiers (`--cli-lines`, and the first
`--small-lines` of it), and the CLI of the baseline checkout (`--baseline`: a worktree of the
commit before compact traces, `git worktree add /tmp/trace-baseline ce60624`; run with
PYTHONPATH) on the small file. Prints dossiers per second (whole run, start-up included) and each
child's peak RSS (`os.wait4`, from a small launcher: see `LAUNCHER`): the target is ≥ 4× the
baseline's dossiers per second, with a peak RSS that does not grow with the number of lines.
"""
from __future__ import annotations

import argparse
import gc
import hashlib
import inspect
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import handwritten_2025 as hw  # noqa: E402
import real  # noqa: E402

import esms_rules  # noqa: E402


def per_record(n: int, rounds: int, seed: int) -> None:
    policy = esms_rules.load_policy("esms-numerique-2025")
    data = real.dossiers(n, seed)
    paths: list[tuple[str, Callable[[dict], object]]] = [
        ("hand-written decide with validation", hw.decide_validated),
        ("evaluate(d, trace=False).to_json(trace=False)",
         lambda d: policy.evaluate(d, trace=False).to_json(trace=False)),
        ("evaluate(d).to_json()  [compact trace]", lambda d: policy.evaluate(d).to_json()),
        ('evaluate(d, trace="full").to_json()', lambda d: policy.evaluate(d, trace="full").to_json()),
        ('evaluate(d, trace="full").trace  [nodes]', lambda d: policy.evaluate(d, trace="full").trace.rules),
    ]
    for _, fn in paths:
        for d in data[:30]:
            fn(d)
    times: dict[str, list[float]] = {name: [] for name, _ in paths}
    for _ in range(rounds):
        for name, fn in paths:
            gc.collect()
            t = time.perf_counter()
            for d in data:
                fn(d)
            times[name].append((time.perf_counter() - t) / len(data) * 1e6)
    med = {name: statistics.median(v) for name, v in times.items()}
    base = med[paths[0][0]]
    sizes = [len(policy.evaluate(d).to_json()) for d in data[:200]]
    full_sizes = [len(policy.evaluate(d, trace="full").to_json()) for d in data[:200]]
    print(f"esms-numerique-2025, {len(data)} dossiers, median of {rounds} interleaved rounds")
    print(f"{'path':52} {'µs':>9} {'× validating':>13}")
    for name, _ in paths:
        print(f"{name:52} {med[name]:9.1f} {base / med[name]:13.3f}")
    print(f"decision JSON: {statistics.mean(sizes) / 1000:.1f} kB with the compact trace, "
          f"{statistics.mean(full_sizes) / 1000:.1f} kB with the full one (mean of 200)")
    print("targets: compact ≥ 0.2×, full ≥ 0.05×")


def jsonl_path(workdir: Path, lines: int, seed: int) -> Path:
    """Where `lines` generated dossiers are kept between runs: named after the generator's source
    too, so that a file written by an older `real.dossiers` is never timed as if it were current."""
    generator = hashlib.sha256(inspect.getsource(real).encode()).hexdigest()[:12]
    return workdir / f"dossiers-{lines}-{seed}-{generator}.jsonl"


def write_jsonl(path: Path, lines: int, seed: int) -> None:
    """`lines` generated dossiers, written 1,000 at a time (memory stays small)."""
    if path.exists() and sum(1 for _ in path.open("rb")) == lines:
        return
    with path.open("w", encoding="utf-8") as f:
        for start in range(0, lines, 1000):
            chunk = real.dossiers(min(1000, lines - start), seed + start)
            for k, d in enumerate(chunk):
                d["id"] = f"BENCH-{start + k:07d}"
                f.write(json.dumps(d) + "\n")


# Linux carries a process's peak RSS across exec, so a child spawned from this (large) process
# would report this process's peak as its own: the CLI is forked from a small launcher instead,
# which writes the CLI's peak (kB) to the file named by its first argument.
LAUNCHER = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, *sys.argv[2:]])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    f.write(str(usage.ru_maxrss))
sys.exit(os.waitstatus_to_exitcode(status))
"""


def run_cli(pythonpath: Path, path: Path, cwd: Path) -> tuple[float, int, int]:
    """(seconds, peak RSS in MB, exit code) of `esms-rules evaluate path -q > /dev/null`."""
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    peak = cwd / "peak-rss-kb"
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", LAUNCHER, str(peak), "-m", "esms_rules", "evaluate", str(path), "-q"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{pythonpath}: exit {proc.returncode}: {proc.stderr.decode()[-2000:]}")
    return seconds, int(peak.read_text()) // 1024, proc.returncode


def cli(lines: int, small: int, baseline: Path | None, workdir: Path, seed: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    big, little = jsonl_path(workdir, lines, seed), jsonl_path(workdir, small, seed)
    write_jsonl(big, lines, seed)
    write_jsonl(little, small, seed)
    here = HERE.parent
    rows = []
    if baseline is not None:
        if not (baseline / "esms_rules").is_dir():
            raise SystemExit(f"no checkout at {baseline}: git worktree add {baseline} ce60624")
        rows.append(("baseline CLI (" + baseline.name + ")", small, *run_cli(baseline, little, workdir)))
    rows.append(("this CLI", small, *run_cli(here, little, workdir)))
    rows.append(("this CLI", lines, *run_cli(here, big, workdir)))
    print(f"{'esms-rules evaluate FILE.jsonl (default output)':52} {'lines':>8} {'s':>8} {'dossiers/s':>11} "
          f"{'peak RSS MB':>12}")
    for name, n, seconds, rss, _ in rows:
        print(f"{name:52} {n:8d} {seconds:8.1f} {n / seconds:11.0f} {rss:12d}")
    if baseline is not None:
        base_rate = rows[0][1] / rows[0][2]
        print(f"× baseline dossiers/s: {rows[1][1] / rows[1][2] / base_rate:.2f} on {small} lines, "
              f"{rows[2][1] / rows[2][2] / base_rate:.2f} on {lines} lines (target ≥ 4)")
    print(f"peak RSS {rows[-1][3]} MB on {lines} lines vs {rows[-2][3]} MB on {small} (target: flat)")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--cli-lines", type=int, default=100_000, help="0: skip the CLI")
    ap.add_argument("--small-lines", type=int, default=10_000)
    ap.add_argument("--baseline", type=Path, default=Path("/tmp/trace-baseline"),
                    help="checkout of the commit before compact traces (ce60624); 'none' to skip")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/trace-bench"))
    args = ap.parse_args(argv)
    if args.n:
        per_record(args.n, args.rounds, args.seed)
    if args.cli_lines:
        baseline = None if str(args.baseline) == "none" else args.baseline
        cli(args.cli_lines, args.small_lines, baseline, args.workdir, args.seed)


if __name__ == "__main__":
    main()
