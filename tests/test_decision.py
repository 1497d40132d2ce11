"""The decision model: every output a policy declares reaches the decision JSON, the
contract's fields keep their names and order, and outputs without a field of their own
go to `outputs`."""
from __future__ import annotations

import json
from decimal import Decimal

from esms_rules.decision import CONTRACT_OUTPUTS, extra_outputs
from esms_rules.policy import Policy

POLICY = """policy "outputs" {}
codes { SMALL }
record item {
  finess: text
  size: int
}
fact id: text
fact start: date
fact structures: list of item
def total = sum(s.size for s in structures)
rule small for s in structures {
  code SMALL
  severity blocking
  when s.size < 2
  message "trop petit : {s.size}"
  source "test"
}
output call = if total > 3 then "regional" else null
output amount_eur = total * 1.5
output funded_share for s in structures = if s.size < 2 then 0 else 1
output total_size = total
output sizes for s in structures = s.size
output opening = start
"""

DOSSIER = {"id": "D1", "start": "2025-01-02",
           "structures": [{"finess": "A", "size": 1}, {"finess": "B", "size": 4}]}


def test_every_declared_output_is_in_the_decision_json():
    policy = Policy.from_text(POLICY, "outputs.esms")
    decision = policy.evaluate(DOSSIER)
    d = json.loads(decision.to_json())
    assert list(d) == ["dossier", "dossier_sha256", "policy", "recevable", "eligible", "call", "amount_eur",
                       "structures", "reasons", "warnings", "outputs", "trace"]
    assert d["call"] == "regional" and d["amount_eur"] == 7.5
    assert decision.amount_eur == Decimal("7.5")
    assert [(s["finess"], s["funded_share"]) for s in d["structures"]] == [("A", 0.0), ("B", 1.0)]
    assert d["outputs"] == {"total_size": 5, "sizes": [1, 4], "opening": "2025-01-02"}
    declared = set(policy.checked.outputs)
    assert declared == set(CONTRACT_OUTPUTS) | set(d["outputs"])
    assert decision.to_dict(trace=False) == {k: v for k, v in d.items() if k != "trace"}


def test_a_policy_with_only_the_contract_outputs_has_no_outputs_object(example_dossier):
    import esms_rules
    d = esms_rules.evaluate(example_dossier).to_dict(trace=False)
    assert "outputs" not in d and set(CONTRACT_OUTPUTS) == {"call", "amount_eur", "funded_share"}
    assert extra_outputs({"call": 1, "x": 2}) == {"x": 2}
