"""Consistency warnings (#18 items 4, 5): the `luhn_valid` built-in and the two warnings of the
bundled policies, SECTOR_ITEM_MISMATCH and FINESS_KEY.

The built-in is held to one meaning in its four forms (the runtime function the generated
Python calls, the interpreter, the columnar polars expression, and a plain re-statement of the
formula here); the rules are checked on every bundled policy, per record and over columns.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import POLICY_PAIRS, finess

from esms_rules import load_policy
from esms_rules.evaluate import Policy
from esms_rules.interpret import interpret
from esms_rules.runtime import luhn_key, luhn_valid

ROOT = Path(__file__).resolve().parents[1]
POLICIES = sorted(POLICY_PAIRS)


def luhn_by_hand(text: str) -> bool:
    """The formula as written in the docs: double every second digit from the right, sum the digits."""
    if len(text) < 2 or any(c not in "0123456789" for c in text):
        return False
    total = 0
    for k, c in enumerate(reversed(text)):
        d = int(c) * (2 if k % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


# ---- the built-in ------------------------------------------------------------------------
@pytest.mark.parametrize("text", [
    "750712184", "690781810",           # keys as they are in the FINESS directory's numbers
    "590000014", "350000014",           # synthetic numbers with their computed key
    "79927398713", "4539319503436467",  # the usual Luhn examples
    "00", "0000000000000000000000000",  # zeros: a sum of 0 ends in 0
])
def test_valid_keys(text):
    assert luhn_valid(text) and luhn_by_hand(text)


@pytest.mark.parametrize("text", [
    "750712185", "590000001", "590000015",   # ninth digit wrong
    "8273123273520569",                      # the usual invalid example
    "", "0", "7",                            # nothing to be the key of
    "2A0000001", "2B0000013",                # Corsica: letters are not digits (the policies skip them)
    "59000001X", " 59000001", "59000001 ", "+59000001", "-59000001", "5900.0014",
    "٥٩٠٠٠٠٠١٤",                             # Arabic-Indic digits: not ASCII
    "５９００００００１４",                    # full-width digits
])
def test_invalid_keys(text):
    assert not luhn_valid(text) and not luhn_by_hand(text)


@given(st.text(alphabet="0123456789", min_size=1, max_size=30))
@settings(max_examples=300, deadline=None)
def test_the_key_luhn_key_computes_is_the_one_luhn_valid_accepts(digits):
    key = luhn_key(digits)
    assert luhn_valid(digits + key)
    assert [luhn_valid(digits + str(k)) for k in range(10)].count(True) == 1


@given(st.text(alphabet="0123456789", max_size=30) | st.text(max_size=12))
@settings(max_examples=300, deadline=None)
def test_runtime_agrees_with_the_formula(text):
    assert luhn_valid(text) == luhn_by_hand(text)


# A policy calling the built-in on items and on the dossier: every back end must agree.
LUHN_POLICY = '''policy "luhn" {}
codes { A B }
record item { key: text }
fact items: list of item
fact top: text
rule bad for s in items {
  code A
  severity warning
  when not luhn_valid(s.key)
  message "clé {s.key}"
  source "s"
}
rule top_ok {
  code B
  severity warning
  when luhn_valid(top)
  message "{top}"
  source "s"
}
'''

TEXTS = (st.text(alphabet="0123456789", max_size=40)
         | st.builds(lambda d: d + luhn_key(d), st.text(alphabet="0123456789", min_size=1, max_size=30))
         | st.text(alphabet="0123456789AB +-٣", max_size=20))


@pytest.fixture(scope="module")
def luhn_policy():
    return Policy.from_text(LUHN_POLICY)


@given(keys=st.lists(TEXTS, max_size=6), top=TEXTS)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_interpreter_compiled_and_columnar_agree(luhn_policy, keys, top):
    facts = {"items": [{"key": k} for k in keys], "top": top}
    want = interpret(luhn_policy.checked, facts)
    assert luhn_policy.compiled("reasons")(facts) == want
    fired = {(f.rule, f.item) for f in want.fired}
    assert fired == ({(0, i) for i, k in enumerate(keys) if not luhn_by_hand(k)}
                     | ({(1, -1)} if luhn_by_hand(top) else set()))
    pytest.importorskip("polars")
    from esms_rules import columnar
    dossier = {"items": facts["items"], "top": top}
    got = columnar.evaluate_dossiers(luhn_policy, [dossier])[0]
    assert got.to_json(trace=False) == luhn_policy.evaluate(dossier, trace=False).to_json(trace=False)


def test_luhn_valid_wants_one_text():
    from esms_rules.diagnostics import PolicyError
    for bad, code in (("luhn_valid(n)", "type-mismatch"), ("luhn_valid(t, t)", "wrong-arity"),
                      ("luhn_valid(o)", "maybe-null")):
        text = f'policy "p" {{}}\nfact n: int\nfact t: text\nfact o: text?\ndef x = {bad}\n'
        with pytest.raises(PolicyError) as e:
            Policy.from_text(text)
        assert code in str(e.value), (bad, str(e.value))


# ---- the rules of the bundled policies ---------------------------------------------------
def _dossier(name: str) -> dict:
    """The first fixture of the policy's own tests, with its structures written out."""
    from esms_rules import testing
    doc = json.loads((ROOT / "policies" / f"{name}.test.json").read_text(encoding="utf-8"))
    d = copy.deepcopy(doc["fixtures"]["base"])
    d["structures"] = testing.expand_structures(d["structures"], [0])
    return d


def _structure_warnings(decision) -> list[list[str]]:
    return [[w.code for w in s.warnings] for s in decision.structures]


@pytest.mark.parametrize("name", POLICIES)
def test_both_warnings_on_every_policy(name):
    policy = load_policy(name)
    d = _dossier(name)
    before = policy.evaluate(d, trace=False)
    assert not any(_structure_warnings(before))
    s = d["structures"][0]
    s["finess"] = s["finess"][:8] + str((int(s["finess"][8]) + 3) % 10)
    s["sector"], s["casf_item"] = "PJM", 8             # a CHRS declared PJM
    after = policy.evaluate(d, trace=False)
    assert sorted(_structure_warnings(after)[0]) == ["FINESS_KEY", "SECTOR_ITEM_MISMATCH"]
    assert not any(_structure_warnings(after)[1:])
    for w in after.structures[0].warnings:       # warnings: never blocking, say « interprétation »
        assert w.severity == "warning" and w.level == "structure"
        assert "interprétation" in w.message and "[I]" in w.source
    assert [r.code for r in after.warnings] == [r.code for r in before.warnings]


@pytest.mark.parametrize("department, number, warned", [
    ("2A", "2A0000001", False), ("2B", "2B0000017", False),   # Corsica: not checked [GAP]
    ("2A", "200000019", False),                              # a Corsican structure: skipped, whatever its number
    ("59", "2A0000001", True),                                # the 2A prefix outside Corsica: checked, and wrong
])
def test_corsica_is_not_checked(department, number, warned):
    policy = load_policy("esms-numerique-2025")
    d = _dossier("esms-numerique-2025")
    d["structures"][0].update(department=department, finess=number)
    got = _structure_warnings(policy.evaluate(d, trace=False))[0]
    assert ("FINESS_KEY" in got) == warned


# (item, sector) pairs: every sector the table admits for an item, and a few it refuses.
@pytest.mark.parametrize("item, sector, warned", [
    (1, "enfance", False), (2, "PH", False), (3, "PH", False), (4, "enfance", False), (5, "PH", False),
    (6, "PA", False), (6, "domicile", False), (7, "PH", False), (7, "domicile", False),
    (8, "AHI", False), (9, "autre", False), (10, "AHI", False), (10, "autre", False),
    (13, "AHI", False), (14, "PJM", False), (15, "PJM", False), (15, "enfance", False),
    (16, "domicile", False), (16, "enfance", False),
    (11, "AHI", False), (12, "PJM", False), (17, "PA", False),   # transversal or unknown: any sector
    (6, "AHI", True), (6, "PH", True), (7, "PA", True), (8, "PJM", True), (14, "AHI", True),
    (9, "AHI", True), (1, "PJM", True), (13, "PA", True),
])
def test_sector_item_table(item, sector, warned):
    policy = load_policy("esms-numerique-2024")
    d = _dossier("esms-numerique-2024")
    d["structures"][0].update(casf_item=item, sector=sector)
    got = _structure_warnings(policy.evaluate(d, trace=False))[0]
    assert got == (["SECTOR_ITEM_MISMATCH"] if warned else [])


def test_the_warning_does_not_lift_the_ahi_exception():
    """An EHPAD declared AHI in an all-AHI 2025 project: the exception still decides (the
    warning only tells the instructor to look), and the warning names the structure."""
    policy = load_policy("esms-numerique-2025")
    doc = json.loads((ROOT / "policies" / "esms-numerique-2025.test.json").read_text(encoding="utf-8"))
    from esms_rules import testing
    d = copy.deepcopy(doc["fixtures"]["ahi"])
    d["structures"] = testing.expand_structures(d["structures"], [0])
    before = policy.evaluate(d, trace=False)
    d["structures"][0].update(casf_item=6, category="EHPAD")
    after = policy.evaluate(d, trace=False)
    assert (after.eligible, [r.code for r in after.reasons]) == (before.eligible, [r.code for r in before.reasons])
    w = after.structures[0].warnings
    assert [x.code for x in w] == ["SECTOR_ITEM_MISMATCH"] and d["structures"][0]["finess"] in w[0].message


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_columnar_decides_the_warnings_as_per_record(name, data):
    pytest.importorskip("polars")
    from strategies import dossiers

    from esms_rules import columnar
    policy = load_policy(name)
    ds = data.draw(st.lists(dossiers(name), min_size=1, max_size=4))
    for d in ds:   # a few FINESS with a wrong key and a few items with another sector
        for s in d["structures"][::3]:
            s["finess"] = data.draw(finess(s["department"], data.draw(st.integers(0, 10**6)), valid=False))
            s["sector"] = data.draw(st.sampled_from(["PA", "AHI", "PJM"]))
    got = columnar.evaluate_dossiers(policy, ds)
    for g, d in zip(got, ds, strict=True):
        assert g.to_json(trace=False) == policy.evaluate(d, trace=False).to_json(trace=False)


def test_bundled_examples_show_the_warnings():
    from esms_rules.cli import examples_dir
    d = json.loads((examples_dir() / "dossier-2025-consistency.json").read_text(encoding="utf-8"))
    decision = load_policy("esms-numerique-2025").evaluate(d, trace=False)
    expected = json.loads((ROOT / "examples" / "expected" / "dossier-2025-consistency.decision.json")
                          .read_text(encoding="utf-8"))
    got = json.loads(decision.to_json(trace=False))
    jsonschema = pytest.importorskip("jsonschema")
    from esms_rules.jsonschema import decision_schema
    jsonschema.validate(got, decision_schema())     # structure warnings are in the decision's schema
    for key in ("policy", "dossier_sha256"):
        got.pop(key), expected.pop(key)
    assert got == expected
