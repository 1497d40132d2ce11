"""Speed of `esms-rules diff` and `esms-rules check --analyze` against the issue's budgets.

    /work/main/.venv/bin/python bench/diff_bench.py [--searches 3000] [--analyze-searches 800]

1. `diff` of every pair of consecutive bundled esms-numerique policies, with the command's
   defaults (search, shrinking, causes, verification): seconds, and the ratio to the
   budget of 30 s per pair.
2. `check --analyze` of every bundled policy: seconds each, the total, and the ratio to the
   budget of 60 s for all of them.

Wall-clock `time.perf_counter`, one run (the search is seeded: the work is the same every
run). The machine is shared: the process CPU time is printed beside the wall time.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from esms_rules import load_policy  # noqa: E402
from esms_rules.analyze import analyze  # noqa: E402
from esms_rules.diff import diff  # noqa: E402
from esms_rules.load import bundled_names  # noqa: E402

DIFF_BUDGET, ANALYZE_BUDGET = 30.0, 60.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--searches", type=int, default=3000)
    ap.add_argument("--analyze-searches", type=int, default=800)
    args = ap.parse_args()
    names = [n for n in bundled_names() if n.startswith("esms-numerique-")]
    policies = {n: load_policy(n) for n in bundled_names() if n != "common"}
    print(f"{'diff':<48}{'wall s':>8}{'cpu s':>8}{'classes':>9}{'/ 30 s':>8}")
    for old, new in zip(names, names[1:], strict=False):
        t, c = time.perf_counter(), time.process_time()
        r = diff(policies[old], policies[new], searches=args.searches)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        print(f"{old + ' -> ' + new:<48}{wall:>8.1f}{cpu:>8.1f}{len(r.differences):>9}{wall / DIFF_BUDGET:>8.2f}")
    print()
    print(f"{'check --analyze':<48}{'wall s':>8}{'cpu s':>8}{'warnings':>9}")
    total_wall = total_cpu = 0.0
    for name, p in policies.items():
        t, c = time.perf_counter(), time.process_time()
        w = analyze(p.checked, searches=args.analyze_searches)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        total_wall, total_cpu = total_wall + wall, total_cpu + cpu
        print(f"{name:<48}{wall:>8.1f}{cpu:>8.1f}{len(w):>9}")
    print(f"{'all bundled policies':<48}{total_wall:>8.1f}{total_cpu:>8.1f}{'':>9}"
          f"  ratio to 60 s: {total_wall / ANALYZE_BUDGET:.2f}")


if __name__ == "__main__":
    main()
