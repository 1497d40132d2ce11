"""Replay of recorded decisions (esms_rules/replay.py)."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

import esms_rules
from esms_rules.replay import STATUSES, ReplayResult, replay

INPUTS = Path(__file__).resolve().parent / "golden" / "render" / "inputs"
POLICIES = Path(__file__).resolve().parents[1] / "policies"


def case(name: str = "ahi_candidate_too_late_2025"):
    dossier = json.loads((INPUTS / f"{name}.json").read_text(encoding="utf-8"))
    recorded = json.loads(esms_rules.evaluate(dossier).to_json())   # as stored: through JSON
    return recorded, dossier


@pytest.mark.parametrize("name", ["eligible_regional_2025", "ahi_candidate_too_late_2025", "late_submission_2025",
                                  "structure_reasons_confort_2025"])
def test_same_decision_replays_the_same(name):
    recorded, dossier = case(name)
    r = replay(recorded, dossier)
    assert isinstance(r, ReplayResult)
    assert (r.status, r.same, r.outcome_same, r.fields) == ("same", True, True, ())
    assert r.policy_id == recorded["policy"]["id"] and r.sha256 == recorded["policy"]["sha256"]
    assert any("même hash" in line for line in r.lines)
    summary = next(line for line in r.lines if line.startswith("résultat identique : "))
    assert "appel régional" in summary and "montant non renseigné" in summary   # French, not JSON
    assert "null" not in summary and "regional" not in summary


def test_without_trace_too():
    recorded, dossier = case()
    del recorded["trace"]
    assert replay(recorded, dossier).status == "same"


@pytest.mark.parametrize("field,value,line", [
    ("eligible", True, "eligible : oui → non"),
    ("recevable", False, "recevable : non → oui"),
    ("call", "national", "call : national → régional"),
    ("amount_eur", 1000, "amount_eur : 1000 → non renseigné"),
    ("dossier", "OTHER-ID", "dossier : OTHER-ID → P25-03"),
])
def test_tampered_outcome_is_named(field, value, line):
    recorded, dossier = case()
    recorded[field] = value
    r = replay(recorded, dossier)
    assert (r.status, r.same, r.outcome_same) == ("outcome-changed", False, False)
    assert r.fields == (field,)
    assert line in r.lines


def test_tampered_reasons_and_structures():
    recorded, dossier = case()
    recorded["reasons"] = [dict(recorded["reasons"][0], code="LATE_SUBMISSION")]
    recorded["structures"][3]["eligible"] = False
    recorded["structures"][3]["funded_share"] = 0.5
    r = replay(recorded, dossier)
    assert r.status == "outcome-changed"
    assert r.fields == ("reasons", "structures")
    assert "reasons : LATE_SUBMISSION → AHI_CANDIDATE_TOO_LATE" in r.lines
    assert "structures[3] (130005309).eligible : non → oui" in r.lines
    assert "structures[3] (130005309).funded_share : 0.5 → 1.0" in r.lines


def test_lists_and_nulls_in_french():
    recorded, dossier = case("eligible_regional_2025")
    recorded["reasons"] = [{"code": "LATE_SUBMISSION", "rule": "r", "message": "m", "source": "s"}]
    recorded["call"] = None
    recorded["structures"][0]["reasons"] = ["X", "Y"]
    r = replay(recorded, dossier)
    assert "reasons : LATE_SUBMISSION → aucun" in r.lines
    assert "call : non renseigné → régional" in r.lines
    assert f"structures[0] ({recorded['structures'][0]['finess']}).reasons : X, Y → aucun" in r.lines


def test_tampered_message():
    recorded, dossier = case()
    recorded["reasons"][0]["message"] = "autre"
    r = replay(recorded, dossier)
    assert r.status == "outcome-changed" and r.fields == ("reasons",)
    assert any(line.startswith("reasons : message de AHI_CANDIDATE_TOO_LATE : « autre »") for line in r.lines)


def test_amount_compared_as_numbers():
    recorded, dossier = case("eligible_regional_2025")
    assert recorded["amount_eur"] is None
    recorded2, _ = case("eligible_regional_2025")
    recorded2["structures"][0]["funded_share"] = 1          # 1 == 1.0
    assert replay(recorded2, dossier).status == "same"


def test_unknown_hash_is_policy_not_found():
    recorded, dossier = case()
    bundled = recorded["policy"]["sha256"]
    recorded["policy"]["sha256"] = "0" * 64
    r = replay(recorded, dossier)
    assert (r.status, r.same, r.outcome_same) == ("policy-not-found", False, None)
    assert f"aucune politique livrée n'a le hash {'0' * 64} (décision rendue avec esms-numerique-2025)" in r.lines
    assert f"sous l'identifiant esms-numerique-2025, la politique livrée a maintenant le hash {bundled}" in r.lines


def test_unknown_policy_id():
    recorded, dossier = case()
    recorded["policy"] = {"id": "esms-numerique-1999", "sha256": "1" * 64, "engine": esms_rules.__version__}
    r = replay(recorded, dossier)
    assert r.status == "policy-not-found"
    assert "aucune politique livrée ne porte l'identifiant esms-numerique-1999" in r.lines


def test_engine_changed():
    recorded, dossier = case()
    recorded["policy"]["engine"] = "0.0.1"
    r = replay(recorded, dossier)
    assert (r.status, r.same, r.outcome_same) == ("engine-changed", False, True)
    assert f"moteur : la décision a été rendue par esms-rules 0.0.1, rejouée avec {esms_rules.__version__}" in r.lines


def test_engine_and_outcome_changed_reports_the_outcome():
    recorded, dossier = case()
    recorded["policy"]["engine"] = "0.0.1"
    recorded["eligible"] = True
    r = replay(recorded, dossier)
    assert r.status == "outcome-changed" and r.fields == ("eligible",)
    assert any(line.startswith("moteur :") for line in r.lines)


def test_replay_against_a_policy_file(tmp_path):
    recorded, dossier = case()
    same = replay(recorded, dossier, policy=POLICIES / "esms-numerique-2025.esms")
    assert same.status == "same"
    # an edited copy of the policy (deadline moved): another hash, and the outcome follows
    text = (POLICIES / "esms-numerique-2025.esms").read_text(encoding="utf-8")
    edited = tmp_path / "esms-numerique-2025.esms"
    edited.write_text(text.replace("def regional_deadline = 2025-09-15", "def regional_deadline = 2025-09-01"),
                      encoding="utf-8")
    r = replay(recorded, dossier, policy=edited)
    assert r.status == "policy-changed" and not r.same
    assert r.sha256 != recorded["policy"]["sha256"]
    assert r.lines[0].startswith("politique fournie : esms-numerique-2025 de hash ")
    assert "recevable : oui → non" in r.lines


def test_other_bundled_years_replay():
    for policy in esms_rules.bundled_policies():
        if policy.id == "esms-numerique-2025":
            continue
        _, dossier = case("eligible_regional_2025")
        dossier.update(programme=policy.programme, campaign=policy.campaign)
        recorded = json.loads(policy.evaluate(dossier).to_json())
        assert replay(recorded, dossier).status == "same", policy.id


def test_statuses_and_to_dict():
    recorded, dossier = case()
    r = replay(recorded, dossier)
    assert r.status in STATUSES
    d = r.to_dict()
    assert json.loads(json.dumps(d))["status"] == "same"
    assert copy.deepcopy(d) == d


# ---- forgery anywhere is found (issue 13): generated, not listed ---------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_RECORDS = {name: case(name) for name in ("ahi_candidate_too_late_2025", "structure_reasons_confort_2025")}


def _leaves(v, path=()):
    """Paths to every value of a JSON tree but the root (objects and lists included)."""
    if isinstance(v, dict):
        for k, x in v.items():
            yield path + (k,)
            yield from _leaves(x, path + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v):
            yield path + (i,)
            yield from _leaves(x, path + (i,))


def _forged(v):
    """Values that no JSON reader would take for `v`."""
    others = [None, True, False, 0, 7, "forgé", [], {}, 0.25]
    return [o for o in others if not (type(o) is type(v) and o == v)
            and not (isinstance(o, (int, float)) and not isinstance(o, bool)
                     and isinstance(v, (int, float)) and not isinstance(v, bool) and o == v)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_RECORDS)), st.data())
def test_any_forged_field_is_found(name, data):
    recorded, dossier = copy.deepcopy(_RECORDS[name])
    paths = [p for p in _leaves(recorded) if p[:2] != ("policy", "sha256") and p[:2] != ("policy", "engine")]
    path = data.draw(st.sampled_from(paths))
    parent = recorded
    for k in path[:-1]:
        parent = parent[k]
    # a record may leave its trace out (`--no-trace`): deleting the whole trace is no forgery
    deletable = isinstance(parent, dict) and path != ("trace",)
    how = data.draw(st.sampled_from(["replace", "delete"] if deletable else ["replace"]))
    if how == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = data.draw(st.sampled_from(_forged(parent[path[-1]])))
    r = replay(recorded, dossier)
    assert r.status != "same" and not r.same, (path, how)
    # a forged policy object names no bundled policy: nothing is re-evaluated, so no field
    assert r.fields or r.status == "policy-not-found", (path, how)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(_RECORDS)), st.text(min_size=1, max_size=5))
def test_an_added_field_is_found(name, key):
    recorded, dossier = copy.deepcopy(_RECORDS[name])
    if key in recorded:
        return
    recorded[key] = 1
    assert replay(recorded, dossier).status == "outcome-changed"


def test_another_dossier_than_the_one_decided_is_named():
    recorded, dossier = case()
    recorded["dossier_sha256"] = "sha256:" + "0" * 64
    r = replay(recorded, dossier)
    assert r.status == "outcome-changed" and "dossier_sha256" in r.fields
