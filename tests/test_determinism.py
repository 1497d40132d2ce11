"""Same policy and dossier, same bytes: across runs, and across processes whose string hashing
differs (PYTHONHASHSEED 0, 1, 12345). Covers `Decision.to_json()` (with its compact and its full trace) and the
generated evaluator source (`compile.emit`) of every bundled policy in every mode."""
from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"

# The script each process runs: it prints one digest per policy source and per decision.
SCRIPT = r'''
import copy, hashlib, json, sys
from pathlib import Path
import esms_rules
from esms_rules.check import check
from esms_rules.compile import MODES, emit
from esms_rules.evaluate import Policy, bundled_policies
from esms_rules.load import load_program

dossiers = json.loads(sys.stdin.read())
out = {}
for policy in bundled_policies():
    fresh = Policy(check(load_program(policy.id)))          # not the cached object
    for mode in MODES:
        out[f"emit {policy.id} {mode}"] = hashlib.sha256(emit(fresh.checked, mode)[0].encode()).hexdigest()
    for k, d in enumerate(dossiers):
        try:
            text = fresh.evaluate(copy.deepcopy(d)).to_json()
        except esms_rules.DossierError as e:
            text = e.to_json()
        out[f"decision {policy.id} {k}"] = hashlib.sha256(text.encode()).hexdigest()
        try:
            text = fresh.evaluate(copy.deepcopy(d), trace="full").to_json()
        except esms_rules.DossierError as e:
            text = e.to_json()
        out[f"full {policy.id} {k}"] = hashlib.sha256(text.encode()).hexdigest()
print(json.dumps(out, sort_keys=True))
'''


def _structure(i, department="59", **changes):
    s = {"finess": f"{department[:2]}{i:07d}", "name": f"ESSMS {i}", "department": department,
         "category": "EHPAD", "casf_item": 6, "sector": "PA", "financed_by": ["ARS", "CD"], "confort_share": 0.0}
    s.update(changes)
    return s


def dossiers() -> list[dict]:
    base = {"id": "DET-1", "campaign": 2025, "call": "regional", "submitted_at": "2025-09-15T22:10:00+02:00",
            "convention_signed_on": None,
            "applicant": {"name": "Association", "legal_form": "private", "gcsms": False},
            "software": {"action": "acquisition", "segur_referenced": False, "segur_candidate_on": None,
                         "resah_referenced": False, "mes_compatible": False},
            "other_eu_funding": [{"programme": "FEDER", "same_object": True}],
            "structures": []}
    many_regions = [_structure(i, d, sector=s) for i, (d, s) in enumerate(
        [("59", "PA"), ("2A", "AHI"), ("974", "PJM"), ("35", "PH"), ("75", "domicile"), ("13", "autre")] * 10)]
    out = [
        base,
        dict(base, structures=many_regions, call="national"),
        dict(base, structures=many_regions[:16] + [many_regions[3]], extra_b=1, extra_a={"z": 1, "y": 2}),
        dict(base, structures=[_structure(i, "2A", sector="AHI", casf_item=None if i == 3 else 8,
                                          confort_share=0.25) for i in range(9)],
             convention_signed_on="2025-10-01",
             software=dict(base["software"], segur_candidate_on="2025-11-01")),
        dict(base, campaign=2021, structures=[_structure(i, "62", confort_share=0.125) for i in range(18)],
             software=dict(base["software"], resah_referenced=True, action="mise_en_conformite")),
        dict(base, campaign=2019),
        dict(base, structures="none"),
    ]
    for path in sorted((SHARED / "spec" / "examples").glob("*.json")):
        out.append(json.loads(path.read_text(encoding="utf-8"))["dossier"])
    return out


def run(seed: int) -> dict:
    env = dict(os.environ, PYTHONHASHSEED=str(seed), PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", SCRIPT], input=json.dumps(dossiers()), capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_same_bytes_in_one_process():
    import esms_rules
    from esms_rules.check import check
    from esms_rules.evaluate import Policy, bundled_policies
    from esms_rules.load import load_program

    for policy in bundled_policies():
        other = Policy(check(load_program(policy.id)))
        for d in dossiers():
            try:
                first = policy.evaluate(copy.deepcopy(d)).to_json()
            except esms_rules.DossierError as e:
                assert e.to_json() == esms_rules.DossierError(e.problems, e.dossier_id).to_json()
                continue
            assert other.evaluate(copy.deepcopy(d)).to_json() == first
            assert policy.evaluate(copy.deepcopy(d)).to_json() == first


def test_same_bytes_across_hash_seeds():
    with __import__("concurrent.futures").futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(run, (0, 1, 12345)))
    assert results[0], "nothing was compared"
    assert len({json.dumps(r, sort_keys=True) for r in results}) == 1, [
        k for k in results[0] if len({r.get(k) for r in results}) > 1]
    from esms_rules.evaluate import bundled_policies
    policies = len(bundled_policies())
    from esms_rules.compile import MODES
    assert sum(k.startswith("emit") for k in results[0]) == len(MODES) * policies
    assert sum(k.startswith("decision") for k in results[0]) == len(dossiers()) * policies
