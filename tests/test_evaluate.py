"""The public API: loading, selection, decisions, batches, errors and traces."""
import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

import esms_rules
from esms_rules import DossierError, EsmsError, PolicyError

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"
POLICIES = Path(__file__).resolve().parents[1] / "policies"


def _example(stem):
    path = EXAMPLES / f"{stem}.json"
    if not path.is_file():
        pytest.skip("shared examples not available")
    return json.loads(path.read_text())["dossier"]


CONTRACT_FIELDS = {"dossier", "policy", "recevable", "eligible", "call", "amount_eur", "structures",
                   "reasons", "warnings", "trace"}


def test_bundled_policies_cover_the_contract_table():
    pairs = {(p.programme, p.campaign) for p in esms_rules.bundled_policies()}
    assert pairs == {("esms-numerique", y) for y in range(2021, 2026)} | {("mes-pilotes", 2023)}


def test_load_policy_by_name_and_by_path_give_the_same_policy():
    by_name = esms_rules.load_policy("esms-numerique-2025")
    by_path = esms_rules.load_policy(POLICIES / "esms-numerique-2025.esms")
    assert by_name.sha256 == by_path.sha256 and by_name.id == "esms-numerique-2025"


def test_unknown_policy_name_is_a_policy_error_with_a_suggestion():
    with pytest.raises(PolicyError) as e:
        esms_rules.load_policy("esms-numerique-2052")
    assert "did you mean" in e.value.render()


def test_decision_has_every_contract_field():
    d = esms_rules.evaluate(_example("c25_regional_16_bre")).to_dict()
    assert CONTRACT_FIELDS <= set(d)
    assert d["policy"]["id"] == "esms-numerique-2025" and len(d["policy"]["sha256"]) == 64
    assert d["policy"]["engine"] == esms_rules.__version__
    assert d["eligible"] is True and d["recevable"] is True and d["call"] == "regional"
    assert [s["finess"] for s in d["structures"]] == [
        s["finess"] for s in _example("c25_regional_16_bre")["structures"]]


def test_reasons_carry_code_rule_french_message_and_source():
    dossier = _example("c25_ahi_candidate_after_pub")
    d = esms_rules.evaluate(dossier).to_dict()
    (reason,) = d["reasons"]
    assert reason["code"] == "AHI_CANDIDATE_TOO_LATE" and reason["rule"] == "ahi_candidate"
    assert "20/12/2025" in reason["message"] and "10/01/2026" in reason["message"]
    assert "convention" in reason["source"]


def test_trace_says_which_exception_overrode_which_rule():
    decision = esms_rules.evaluate(_example("c25_ahi_candidate_after_pub"), trace="full")
    base = next(n for n in decision.trace.rules if n.rule == "dui_not_segur_referenced")
    assert base.outcome == "overridden" and base.overridden_by == "ahi_candidate"
    outcomes = {c.rule: c.outcome for c in base.children}
    assert outcomes == {"pjm_only": "not-applicable", "ahi_candidate": "fired"}
    fired = next(c for c in base.children if c.rule == "ahi_candidate")
    assert {r.name for r in fired.reads} >= {"convention_signed_on", "software.segur_candidate_on"}
    assert fired.span.file == "esms_rules:policies/esms-numerique-2025.esms" and fired.span.line > 0
    defs = {d.name: d.value for d in decision.trace.definitions}
    assert defs["n"] == 16 and defs["only_ahi_or_pjm"] is True


def test_decision_and_trace_write_numbers_alike():
    # determinism across processes is tests/test_determinism.py; here: one JSON form per number
    d = json.loads(esms_rules.evaluate(_example("c21_conformite_18_pub")).to_json())
    grant = next(x["value"] for x in d["trace"]["definitions"] if x["name"] == "grant")
    assert d["amount_eur"] == grant == 180000 and isinstance(grant, int)


def test_decide_is_the_fast_path_with_the_same_verdict():
    policy = esms_rules.load_policy("esms-numerique-2025")
    dossier = _example("c25_confort_partial_pub")
    verdict = policy.decide(dossier)
    decision = policy.evaluate(dossier)
    assert (verdict.eligible, verdict.recevable) == (decision.eligible, decision.recevable)
    assert verdict.outputs["call"] == decision.call


def test_evaluate_many_gives_one_result_per_input_with_errors_as_results():
    policy = esms_rules.load_policy("esms-numerique-2025")
    good = _example("c25_regional_16_bre")
    bad = dict(good, submitted_at="hier")
    results = list(policy.evaluate_many([good, bad, "not a dossier", good], mode="reasons"))
    assert [type(r).__name__ for r in results] == ["Decision", "DossierError", "DossierError", "Decision"]
    assert results[1].problems[0].path == "submitted_at"
    assert [type(r).__name__ for r in policy.evaluate_many([good, bad], mode="decision")] == ["Verdict", "DossierError"]


def test_dossier_error_lists_every_problem_by_json_path():
    dossier = copy.deepcopy(_example("c25_regional_16_bre"))
    dossier["structures"][2]["finess"] = "12"
    dossier["structures"][3]["sector"] = "EHPA"
    dossier["software"]["segur_referenced"] = "oui"
    del dossier["call"]
    with pytest.raises(DossierError) as e:
        esms_rules.evaluate(dossier)
    paths = [p.path for p in e.value.problems]
    assert sorted(paths) == sorted(["structures[2].finess", "structures[3].sector",
                                    "software.segur_referenced", "call"])
    assert isinstance(e.value, EsmsError)
    assert e.value.to_dict()["problems"]


def test_no_policy_in_force_is_reported_on_campaign():
    dossier = dict(_example("c25_regional_16_bre"), campaign=2019)
    with pytest.raises(DossierError) as e:
        esms_rules.evaluate(dossier)
    assert [p.path for p in e.value.problems] == ["campaign"]


def test_unknown_fields_are_warnings_naming_their_path():
    dossier = copy.deepcopy(_example("c25_regional_16_bre"))
    dossier["structures"][0]["couleur"] = "bleu"
    d = esms_rules.evaluate(dossier).to_dict()
    assert d["eligible"] is True
    assert [w["code"] for w in d["warnings"]] == ["UNKNOWN_FIELD"]
    assert "structures[0].couleur" in d["warnings"][0]["message"]


def test_explicit_policy_overrides_selection():
    dossier = _example("c25_regional_16_bre")
    d = esms_rules.evaluate(dossier, policy="esms-numerique-2024").to_dict()
    assert d["policy"]["id"] == "esms-numerique-2024"


def test_policy_from_text_with_its_own_schema():
    policy = esms_rules.Policy.from_text('''
policy "mini" { programme "x" campaign 1 }
codes { TOO_LOW "trop bas" }
fact amount: decimal
rule too_low {
  code TOO_LOW
  severity blocking
  when amount < 10.5
  message "Montant {amount} inférieur à 10,5."
  source "test"
}
output doubled = amount * 2
''', "mini.esms")
    d = policy.evaluate({"amount": 3.25})
    assert not d.eligible and d.reasons[0].message == "Montant 3,25 inférieur à 10,5."
    assert d.outputs["doubled"] == Decimal("6.50")
    assert policy.decide({"amount": 11}).eligible
