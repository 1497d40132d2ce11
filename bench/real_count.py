"""Instructions per dossier of the paths of `bench/real.py`, counted by valgrind: a figure that a
busy machine does not change (wall times on the shared 2-core machine vary threefold from one
second to the next; instruction counts by about 2 %).

    python bench/real_count.py                      # every path below, about a minute each
    python bench/real_count.py hw json digest       # some of them

Each path runs in its own `valgrind --tool=cachegrind --cache-sim=no` process (no address
randomisation, `PYTHONHASHSEED=0`) over the same dossiers after the same warm-up; a run of
the empty path gives what loading and warming cost, subtracted from every other. Instructions
are not time (C code such as json's encoder or sha256 runs more instructions per cycle than
the interpreter), but their ratios move with the work each path does, whatever the load.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
N, WARM = 250, 10

PATHS = {
    "none": "nothing (loading and warm-up only)",
    "hw": "hand-written decide with validation",
    "decide": "Policy.decide",
    "evalnt": "Policy.evaluate(trace=False)",
    "eval": "Policy.evaluate() (compact trace recorded)",
    "digest": "jsonio.digest of a checked dossier (dossier_sha256)",
    "jsonnt": "Policy.evaluate(trace=False).to_json(trace=False)",
    "json": "Policy.evaluate().to_json() (compact trace)",
    "full": 'Policy.evaluate(trace="full").to_json()',
}


def paths() -> dict:
    sys.path.insert(0, str(HERE))
    import handwritten_2025 as hw

    import esms_rules
    from esms_rules import jsonio
    policy = esms_rules.load_policy("esms-numerique-2025")
    return {
        "none": lambda d: None,
        "hw": hw.decide_validated,
        "decide": policy.decide,
        "evalnt": lambda d: policy.evaluate(d, trace=False),
        "eval": policy.evaluate,
        "digest": lambda d: jsonio.digest(d, checked=True),
        "jsonnt": lambda d: policy.evaluate(d, trace=False).to_json(trace=False),
        "json": lambda d: policy.evaluate(d).to_json(),
        "full": lambda d: policy.evaluate(d, trace="full").to_json(),
    }


def child(name: str) -> None:
    """Inside valgrind: warm every path up on the first dossiers, then run `name` on the rest."""
    import real
    fns = paths()
    data = real.dossiers(N + WARM, 2025)
    for d in data[:WARM]:
        for fn in fns.values():
            fn(d)
    fn = fns[name]
    for d in data[WARM:]:
        fn(d)


def count(name: str) -> int:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    cmd = ["setarch", "-R", "valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, __file__, "--child", name]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stderr
    found = re.search(r"I\s+refs:\s+([\d,]+)", out)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind for {name}:\n{out[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str]) -> None:
    if argv[:1] == ["--child"]:
        child(argv[1])
        return
    names = argv or [n for n in PATHS if n != "none"]
    unknown = [n for n in names if n not in PATHS]
    if unknown:
        raise SystemExit(f"unknown path(s) {unknown}: choose among {', '.join(PATHS)}")
    base = count("none")
    per = {n: (count(n) - base) / N for n in names}
    print(f"esms-numerique-2025, {N} dossiers after {WARM} of warm-up; instructions per dossier (valgrind)")
    ref = per.get("hw")
    print(f"{'path':52} {'instructions':>13} {'hw / path':>10}")
    for n in names:
        ratio = f"{ref / per[n]:10.3f}" if ref and n != "none" else ""
        print(f"{PATHS[n]:52} {per[n]:13,.0f} {ratio}")


if __name__ == "__main__":
    main(sys.argv[1:])
