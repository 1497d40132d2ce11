"""The decision's JSON written fast, to the same bytes (issue 14, the compact trace serialised).

`Decision.to_json()` assembles the decision from JSON fragments worked out once per policy
(`CompiledFindings.json`, `Decision._line`) instead of building dicts and encoding them. These
tests hold it to `jsonio.dumps(decision.to_dict())` (the encoder it replaces) and to the eager
decision (reasons, warnings and structures built as objects) on every bundled policy, the worked
examples, generated dossiers and small policies with unusual keys, shares and warnings.
"""
from __future__ import annotations

import copy
import functools
import json
import math
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules import jsonio, registry
from esms_rules.policy import Policy
from esms_rules.runtime import luhn_valid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import dossiers  # noqa: E402
from test_consistency import luhn_by_hand  # noqa: E402

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
SHAPES = (True, False, "full")


def slow_bytes(decision: esms_rules.Decision, trace: bool = True) -> str:
    """The decision's JSON as the generic encoder writes it."""
    return jsonio.dumps(decision.to_dict(trace))


def eager(decision: esms_rules.Decision) -> esms_rules.Decision:
    return attrs.evolve(decision, structures=decision.structures, reasons=decision.reasons,
                        warnings=decision.warnings, findings=None)


def assert_same_bytes(policy: Policy, dossier: dict) -> None:
    for shape in SHAPES:
        decision = policy.evaluate(copy.deepcopy(dossier), trace=shape)
        text = decision.to_json()
        assert text == slow_bytes(decision)
        assert decision.to_json(trace=False) == slow_bytes(decision, trace=False)
        assert json.loads(text) == json.loads(eager(decision).to_json())


@SETTINGS
@given(dossiers())
def test_generated_dossiers_are_written_to_the_encoders_bytes(dossier):
    assert_same_bytes(registry.policy_for(dossier), dossier)


@SETTINGS
@given(dossiers(), st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), min_size=1, max_size=2))
def test_unknown_fields_warnings_are_written_to_the_encoders_bytes(dossier, extra):
    dossier = {**dossier, **{f"x-{k}\u00e9": v for k, v in extra.items()}}   # odd keys too
    assert_same_bytes(registry.policy_for(dossier), dossier)


def test_every_bundled_policy_on_the_worked_examples(shared_examples, example_dossier):
    cases = [json.loads(f.read_text(encoding="utf-8"))["dossier"] for f in shared_examples]
    cases.append(example_dossier)
    for root in (Path(__file__).resolve().parents[1] / "examples").glob("dossier-*.json"):
        cases.append(json.loads(root.read_text(encoding="utf-8")))
    seen = set()
    for policy in registry.bundled_policies():
        for dossier in cases:
            try:
                assert_same_bytes(policy, dossier)
            except esms_rules.DossierError:
                continue       # a dossier of another programme or campaign
            seen.add(policy.id)
    assert len(seen) == len(registry.bundled_policies())


KEYS = """policy "keys" {}
codes { SMALL ODD }
record item {
  ref: int
  size: decimal
}
fact id: text
fact structures: list of item
def total = sum(s.size for s in structures)
rule small for s in structures {
  code SMALL
  severity blocking
  when s.size < 2
  message "trop petit : {s.size}"
  source "test « cité »"
}
rule odd for s in structures {
  code ODD
  severity warning
  when s.size > 5
  message "grand : {s.size}"
  source "test"
}
output call = if total > 3 then "regional" else null
output amount_eur = total * 1.1234567
output funded_share for s in structures = if s.size < 2 then 0 else s.size * 0.0131
output total_size = total
"""


@functools.lru_cache(maxsize=1)
def keys_policy() -> Policy:
    return Policy.from_text(KEYS, "keys.esms")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(st.integers(-2**70, 2**70),
                          st.decimals(0, 10**6, places=3) | st.integers(0, 10) | st.sampled_from([0.5, 1e-7, 7.0])),
                max_size=6))
def test_int_keys_warnings_and_long_decimals_are_written_to_the_encoders_bytes(items):
    policy = keys_policy()
    dossier = {"id": "K\u00e9\n", "structures": [{"ref": ref, "size": size} for ref, size in items]}
    assert_same_bytes(policy, dossier)


# ---- the writers of single values ---------------------------------------------------------
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text() | st.decimals(allow_nan=False, allow_infinity=False)
           | st.integers(4290, 4400).map(lambda n: 10 ** n - 7))


@settings(max_examples=300, deadline=None)
@given(SCALARS, st.booleans())
def test_value_json_and_number_json_write_what_dumps_writes(value, whole_as_int):
    assert jsonio.value_json(value) == jsonio.dumps(value)
    expected = jsonio.dumps(jsonio.json_number(value, whole_as_int))
    assert jsonio.number_json(value, whole_as_int) == expected
    assert jsonio.number_json(value, whole_as_int) == expected      # remembered: the same text


def test_value_json_refuses_what_dumps_refuses():
    for bad in (math.nan, math.inf, Decimal("NaN")):
        with pytest.raises(ValueError):
            jsonio.value_json(bad)


def test_equal_numbers_of_other_types_are_not_confused():
    # 1 == Decimal(1) == True and -0 == 0 in a dict: the remembered texts must not mix them
    for whole_as_int in (False, True):
        for v in (Decimal(1), Decimal("1.00"), 1, True, Decimal("-0"), Decimal(0), 0, 0.0, -0.0, Decimal("1E+2")):
            assert jsonio.number_json(v, whole_as_int) == jsonio.dumps(jsonio.json_number(v, whole_as_int))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789", max_size=20) | st.text(max_size=12))
def test_luhn_valid_is_the_formula(text):
    assert luhn_valid(text) == luhn_by_hand(text)


def test_a_message_is_worded_once_for_the_decision_and_its_trace(example_dossier):
    example_dossier["structures"][0]["casf_item"] = None
    policy = esms_rules.load_policy("esms-numerique-2025")
    decision = policy.evaluate(example_dossier)
    reason = decision.structures[0].reasons[0]
    node = decision.trace.fired(reason.rule, 0)
    assert node is not None and node.message is reason.message


def test_a_trace_value_of_another_type_than_its_read_is_still_written_as_json_writes_it(example_dossier):
    # text reads are written by json's C function directly; anything else there falls back
    decision = esms_rules.load_policy("esms-numerique-2025").evaluate(example_dossier, trace="full")
    run = decision.trace._run
    plan = run.plan
    text_read = next(k for k, r in enumerate(run.records) if plan.json_writers[r[0]] is not None and len(r[3]) >= 2)
    i, item, outcome, reads, values, by = run.records[text_read]
    run.records[text_read] = (i, item, outcome, (None, 12, *reads[2:]), values, by)
    assert run.json() == json.dumps(run.dicts(), ensure_ascii=False)[1:-1]
    assert '"value": 12}' in run.json()
