"""The per-record paths on the real `esms-numerique-2025` policy, against a hand-written evaluator.

    python bench/real.py                 # 10,000 dossiers of about 24 structures, 7 rounds
    python bench/real.py --n 2000 --rounds 3

Prints µs per dossier (median of interleaved rounds: every path runs once per round, in turn,
so that a busy machine slows them alike) and each path's ratio to the two baselines of
`bench/handwritten_2025.py`: `decide` (no validation) and `decide_validated`. The targets of
docs/performance.md are ratios to the validating baseline (printed beside them). The paths with
a trace (compact or full, serialised; the trace tree; `esms_rules.evaluate(d).to_json()` as the
CLI prints by default) run on the first `--slow-n` dossiers of each round only; their figures
are per dossier all the same.

Dossiers are generated from a fixed seed (`--seed`): valid contract dossiers for 2025 with
departments from the policy's own table, mostly metropolitan, sectors mostly PA and PH; 2 % of
the structures have a mistyped FINESS check key and 2 % an item of art. L.312-1 that their
sector cannot have, so that every per-structure rule of the policy fires now and then.
"""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import handwritten_2025 as hw  # noqa: E402

import esms_rules  # noqa: E402
from esms_rules.runtime import luhn_key  # noqa: E402

SECTORS = ["PA"] * 5 + ["PH"] * 4 + ["domicile", "AHI", "PJM", "enfance"]
ITEMS = {"PA": [6], "PH": [7, 2], "domicile": [6, 7], "AHI": [8], "PJM": [14], "enfance": [1]}


def dossiers(n: int, seed: int, size: int = 24) -> list[dict]:
    rnd = random.Random(seed)
    region_of, small = hw._tables()
    by_region: dict[str, list[str]] = {}
    for dep, reg in region_of.items():
        by_region.setdefault(reg, []).append(dep)
    metro = sorted(r for r in by_region if r not in small)
    out = []
    for i in range(n):
        regions = [rnd.choice(metro)] if rnd.random() < 0.8 else rnd.sample(sorted(by_region), 2)
        k = max(1, int(rnd.gauss(size, 6)))
        structures = []
        for j in range(k):
            dep = rnd.choice(by_region[rnd.choice(regions)])
            body = f"{dep[:2].replace('A', '0').replace('B', '0')}{rnd.randrange(10**6):06d}"
            sector = rnd.choice(SECTORS)   # and an item of art. L.312-1 that has this sector (2 %: another's)
            items = ITEMS[sector] if rnd.random() >= 0.02 else ITEMS[rnd.choice([x for x in ITEMS if x != sector])]
            key = luhn_key(body) if rnd.random() >= 0.02 else str((int(luhn_key(body)) + 1) % 10)  # 2 %: a typo
            structures.append({
                "finess": body + key,
                "name": f"Structure {j}", "department": dep, "category": "EHPAD",
                "casf_item": rnd.choice([*items, None]) if rnd.random() < 0.05 else rnd.choice(items),
                "sector": sector, "financed_by": ["ARS"],
                "confort_share": rnd.choice([0.0, 0.0, 0.0, 0.2, 0.35, 1.0]),
            })
        day = dt.date(2025, 5, 1) + dt.timedelta(days=rnd.randrange(160))
        convention = None if rnd.random() < 0.3 else (day + dt.timedelta(days=rnd.randrange(90))).isoformat()
        out.append({
            "id": f"BENCH-{i:06d}", "campaign": 2025, "call": rnd.choice(["regional"] * 4 + ["national"]),
            "submitted_at": f"{day.isoformat()}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00+02:00",
            "convention_signed_on": convention,
            "applicant": {"name": "Association", "legal_form": "private", "gcsms": False},
            "software": {"action": "acquisition", "segur_referenced": rnd.random() < 0.85,
                         "segur_candidate_on": None if rnd.random() < 0.5 else day.isoformat(),
                         "resah_referenced": True, "mes_compatible": False},
            "other_eu_funding": [] if rnd.random() < 0.9 else [{"programme": "FEDER",
                                                                 "same_object": rnd.random() < 0.5}],
            "structures": structures,
        })
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--slow-n", type=int, default=1_000)
    ap.add_argument("--seed", type=int, default=2025)
    args = ap.parse_args(argv)

    policy = esms_rules.load_policy("esms-numerique-2025")
    data = dossiers(args.n, args.seed)
    slow = data[: args.slow_n]
    mismatches = sum(hw.decide(d) != hw.engine_result(policy.evaluate(d, trace=False)) for d in data[:500])
    # (name, dossiers, function, target: the least ratio to the validating baseline, issue 14)
    paths: list[tuple[str, list[dict], Callable[[dict], object], float | None]] = [
        ("hand-written decide (no validation)", data, hw.decide, None),
        ("hand-written decide with validation", data, hw.decide_validated, None),
        ("Policy.decide", data, policy.decide, 0.8),
        ("  of which the fast validator alone", data, policy.validator.fast, None),
        ("Policy.evaluate(trace=False)", data, lambda d: policy.evaluate(d, trace=False), 0.5),
        ("Policy.evaluate(trace=False).to_json(trace=False)", data,
         lambda d: policy.evaluate(d, trace=False).to_json(trace=False), None),
        ("Policy.evaluate().to_json() (compact trace)", slow, lambda d: policy.evaluate(d).to_json(), 0.2),
        ('Policy.evaluate(trace="full").to_json()', slow,
         lambda d: policy.evaluate(d, trace="full").to_json(), 0.05),
        ("Policy.evaluate().trace", slow, lambda d: policy.evaluate(d).trace, None),
        ("esms_rules.evaluate(d).to_json()", slow, lambda d: esms_rules.evaluate(d).to_json(), None),
    ]
    for _, rows, fn, _ in paths:      # warm up: compile every mode, fill caches
        for d in rows[:50]:
            fn(d)
    times: dict[str, list[float]] = {name: [] for name, _, _, _ in paths}
    for _ in range(args.rounds):
        for name, rows, fn, _ in paths:
            gc.collect()
            t = time.perf_counter()
            for d in rows:
                fn(d)
            times[name].append((time.perf_counter() - t) / len(rows) * 1e6)
    med = {name: statistics.median(v) for name, v in times.items()}
    base, validating = med[paths[0][0]], med[paths[1][0]]
    structures = sum(len(d["structures"]) for d in data) / len(data)
    print(f"esms-numerique-2025, {len(data)} dossiers ({structures:.1f} structures on average), "
          f"median of {args.rounds} interleaved rounds; slow paths on {len(slow)} dossiers")
    print(f"hand-written vs engine on the first 500 dossiers: {mismatches} disagreements")
    print(f"{'path':52} {'µs':>9} {'× hand-written':>15} {'× validating':>13}  target")
    for name, _, _, target in paths:
        ratio = validating / med[name]
        verdict = "" if target is None else f"  ≥ {target}: {'met' if ratio >= target else 'NOT MET'}"
        print(f"{name:52} {med[name]:9.1f} {base / med[name]:15.3f} {ratio:13.3f}{verdict}")
    for peer in ("zen", "rule_engine", "json_logic", "business_rules", "cedarpy"):
        try:
            __import__(peer)
        except ImportError:
            print(f"peer {peer}: not installed, not measured")


if __name__ == "__main__":
    main()
