"""Campaign benchmark: dossiers per second of `evaluate_campaign`, the share of the time spent
across dossiers, and linearity (the same campaign at N and 2N dossiers).

    PYTHONPATH=. python bench/campaign.py            # 10,000 and 20,000 dossiers
    PYTHONPATH=. python bench/campaign.py --n 2000   # quicker

The campaign is seeded: 2025 dossiers of 15 to 20 structures (the example dossier's, given
fresh FINESS numbers), one in ten sharing a structure with an earlier dossier, and a history
file that funded one structure in twenty before (2023). Baselines, in the same run: each
dossier decided alone (`Policy.evaluate`, no campaign), which is the floor the campaign adds to.
Times are CPU seconds of this process (`time.process_time`), steady on a shared machine.
"""
from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from esms_rules import load_policy  # noqa: E402
from esms_rules.campaign import evaluate_campaign  # noqa: E402

BASE = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))


def campaign(n: int, seed: int = 18) -> tuple[list[dict], list[dict]]:
    rng = random.Random(seed)
    dossiers, history, used = [], [], []
    for k in range(n):
        d = copy.deepcopy(BASE)
        d["id"] = f"HDF-2025-{k:06d}"
        size = rng.randint(15, 20)
        template = d["structures"]
        d["structures"] = [dict(template[j % len(template)]) for j in range(size)]
        for j, s in enumerate(d["structures"]):
            s["finess"] = f"{(k * 20 + j) % 10**9:09d}"
            if rng.random() < 0.05:
                history.append({"finess": s["finess"], "programme": "esms-numerique", "campaign": 2023,
                                "software_action": "acquisition", "dossier": f"HDF-2023-{k:06d}"})
        if used and rng.random() < 0.1:
            d["structures"][0]["finess"] = rng.choice(used)
        used.append(d["structures"][-1]["finess"])
        dossiers.append(d)
    return dossiers, history


def run(n: int) -> dict[str, float]:
    dossiers, history = campaign(n)
    policy = load_policy("esms-numerique-2025")
    start = time.process_time()
    for d in dossiers:
        policy.evaluate(d, trace=False)
    alone = time.process_time() - start
    start = time.process_time()
    result = evaluate_campaign(dossiers, history=history)
    total = time.process_time() - start
    t = result.timings
    return {"n": n, "alone": alone, "total": total, "decide": t["decide"], "prepare": t["prepare"],
            "campaign": t["campaign"], "findings": len(result.findings)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    args = ap.parse_args()
    load_policy("esms-numerique-2025").evaluate(BASE, trace=False)    # compile before timing
    rows = [run(args.n), run(2 * args.n)]
    print(f"{'dossiers':>9} {'dossiers/s':>11} {'total s':>8} {'alone s':>8} {'across s':>9} {'share':>6} "
          f"{'pass s':>7} {'findings':>9}")
    for r in rows:
        across = r["prepare"] + r["campaign"]
        print(f"{r['n']:>9} {r['n'] / r['total']:>11.0f} {r['total']:>8.2f} {r['alone']:>8.2f} {across:>9.2f} "
              f"{across / r['total']:>6.1%} {r['campaign']:>7.2f} {r['findings']:>9}")
    a, b = rows
    print(f"2N/N time ratio: total {b['total'] / a['total']:.2f}, cross-dossier pass "
          f"{b['campaign'] / a['campaign']:.2f}, with its preparation "
          f"{(b['campaign'] + b['prepare']) / (a['campaign'] + a['prepare']):.2f} (linear: 2.00)")
    print(f"campaign / dossiers decided alone (baseline): {a['total'] / a['alone']:.2f}x at N={a['n']}")


if __name__ == "__main__":
    main()
