"""Speed without changing a byte: lazy decisions, the fused reasons path and the JSON writer.

`Policy.evaluate(trace=False)` runs the fast validator fused with the compiled "reasons"
evaluator, and its `Decision` builds reasons, warnings and structures only when read (its
`to_dict` writes them straight from the fired rules). These tests hold all of that to the
eager, unfused construction on generated dossiers: same JSON bytes, same objects, same errors.
`jsonio` writes decimals through `json`'s `default` hook instead of copying the value first:
held to the copying writer on generated values.
"""
from __future__ import annotations

import copy
import hashlib
import json
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules import DossierError, jsonio, registry

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import bad_dossiers, dossiers  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


def eager(decision: esms_rules.Decision) -> esms_rules.Decision:
    """The same decision built the eager way: its reasons, warnings and structures as tuples."""
    return attrs.evolve(decision, structures=decision.structures, reasons=decision.reasons,
                        warnings=decision.warnings, findings=None)


def policy_for(dossier: dict) -> esms_rules.Policy:
    return registry.policy_for(dossier)


@SETTINGS
@given(dossiers())
def test_a_lazy_decision_writes_the_eager_bytes(dossier):
    policy = policy_for(dossier)
    lazy = policy.evaluate(copy.deepcopy(dossier), trace=False)
    text = lazy.to_json(trace=False)
    assert lazy._findings is not None and lazy._reasons is None      # nothing built yet
    assert eager(lazy).to_json(trace=False) == text
    assert lazy.to_json(trace=False, indent=2) == eager(lazy).to_json(trace=False, indent=2)
    # the traced run (unfused: precise facts, "trace" evaluator) decides to the same bytes
    assert policy.evaluate(copy.deepcopy(dossier)).to_json(trace=False) == text
    assert policy.decide(copy.deepcopy(dossier)) == (lazy.eligible, lazy.recevable,
                                                     {k: lazy.outputs[k] for k in lazy.outputs})


@SETTINGS
@given(dossiers(), st.dictionaries(st.text(min_size=1, max_size=8), st.integers(), min_size=1, max_size=3))
def test_unknown_fields_take_the_precise_path_to_the_same_bytes(dossier, extra):
    dossier = {**dossier, **{f"x-{k}": v for k, v in extra.items()}}
    policy = policy_for(dossier)
    quick = policy.evaluate(copy.deepcopy(dossier), trace=False)
    assert {w.code for w in quick.warnings} >= {"UNKNOWN_FIELD"}
    assert quick.to_json(trace=False) == policy.evaluate(copy.deepcopy(dossier)).to_json(trace=False)


def outcome(fn, dossier):
    try:
        fn(copy.deepcopy(dossier))
        return "ok"
    except DossierError as e:
        return e.dossier_id, [(p.path, p.message) for p in e.problems]


@SETTINGS
@given(bad_dossiers())
def test_bad_dossiers_get_the_precise_validators_errors_on_every_path(case):
    dossier, _ = case
    policy = esms_rules.load_policy("esms-numerique-2025")
    expected = outcome(policy.validator.precise, dossier)
    for fn in (lambda d: policy.evaluate(d, trace=False), policy.evaluate, policy.decide):
        assert outcome(fn, dossier) == expected


def test_the_fused_reasons_path_is_taken_and_falls_back_on_a_doubt(example_dossier):
    policy = esms_rules.load_policy("esms-numerique-2025")
    policy.evaluate(example_dossier, trace=False)
    assert getattr(policy._reasons_fast, "__name__", "") == "evaluate"
    (ok, rec, outs, fired), values = policy._reasons_fast(example_dossier)
    assert len(values) == len(policy.checked.facts.fields)
    assert policy._reasons_fast({**example_dossier, "extra": 1}) is None
    assert policy._reasons_fast([]) is None


def test_reading_a_lazy_decision_builds_each_part_once(example_dossier):
    example_dossier["structures"][0]["casf_item"] = None
    decision = esms_rules.evaluate(example_dossier, trace=False)
    first = decision.structures
    assert decision.structures is first and decision.reasons is decision.reasons
    assert not first[0].eligible and first[0].reasons[0].code == "NOT_ESSMS"
    assert decision.to_dict(trace=False)["structures"][0] == first[0].to_dict()


# ---- jsonio: decimals through the `default` hook --------------------------------------------
def copying_dumps(value, **options) -> str:
    """The writer as it was: copy `value` with every decimal marked, dump, unmark."""
    text = json.dumps(jsonio._exact(value), allow_nan=False, **options)
    return jsonio._MARKED.sub(lambda m: m.group(1), text)


DECIMALS = st.decimals(allow_nan=False, allow_infinity=False) | st.builds(
    lambda digits, exp: Decimal(digits).scaleb(exp), st.integers(-10**40, 10**40), st.integers(-5000, 5000))
SCALARS = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
           | st.text() | DECIMALS | st.integers(4290, 4400).map(lambda n: 10 ** n - 7) | st.just(14290).map(lambda n: -(2 ** n)))
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner)
                      | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(VALUES)
def test_dumps_and_digest_write_the_copying_writers_bytes(value):
    assert jsonio.dumps(value) == copying_dumps(value, ensure_ascii=False)
    assert jsonio.dumps(value, indent=2) == copying_dumps(value, ensure_ascii=False, indent=2)
    assert jsonio.dumps(value, ascii_only=True) == copying_dumps(value, ensure_ascii=True)
    canonical = copying_dumps(value, ensure_ascii=True, sort_keys=True, separators=(",", ":"))

    assert jsonio.digest(value) == "sha256:" + hashlib.sha256(canonical.encode("ascii")).hexdigest()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(VALUES | st.dictionaries(st.text(alphabet=st.characters(codec="utf-8"), max_size=3),
                                st.floats(-1e-3, 1e-3) | st.text(alphabet="a\x7f\x1f\u00e9\U0001f600e-.0"),
                                max_size=6))
def test_the_checked_digest_writes_json_s_bytes(value):
    # a checked dossier's digest may be written by orjson: the same bytes, or json's path
    assert jsonio.digest(value, checked=True) == jsonio.digest(value)


SMALL_AND_ODD = {"tiny": [1e-5, -1.5e-7, 9.999999999999999e-05, 5e-324, 1e-4, 0.00012], "big": [1e16, 1.5e300],
                 "ints": [2**63 - 1, -(2**63), 2**64 - 1], "text": ["\x7f", "é", "\U0001f600", "\n\t\x00\"\\", "1e-5"],
                 "decimals": [Decimal("1E-7"), Decimal("0.10"), Decimal("12345678901234567890.5"), Decimal("2.50")]}


@pytest.mark.parametrize("key", sorted(SMALL_AND_ODD))
def test_the_checked_digest_on_numbers_and_text_json_writes_otherwise(key):
    value = {key: SMALL_AND_ODD[key], "n": None, "ok": True}
    assert jsonio.digest(value, checked=True) == jsonio.digest(value)
    assert jsonio.digest(value, checked=True) == jsonio.digest(value | {key: list(SMALL_AND_ODD[key])})


def test_the_checked_digest_is_written_by_orjson_where_installed(example_dossier, monkeypatch):
    pytest.importorskip("orjson")
    example_dossier["name"] = "Établissement « Les Tilleuls » 😀"
    expected = json.dumps(example_dossier, ensure_ascii=True, sort_keys=True, separators=(",", ":"))
    assert jsonio._orjson() is not None
    assert jsonio._canonical_fast(example_dossier) == expected.encode("ascii")     # orjson's path, not a fallback
    assert jsonio._canonical_fast({"x": 1e-5}) is None and jsonio._canonical_fast({1: 2}) is None
    assert jsonio._canonical_fast({"x": 2**64}) is None
    decision = esms_rules.evaluate(example_dossier, trace=False)
    assert decision.dossier_sha256 == "sha256:" + hashlib.sha256(expected.encode("ascii")).hexdigest()
    monkeypatch.setattr(jsonio, "_ORJSON", False)        # without orjson: json's encoder, the same digest
    assert jsonio.digest(example_dossier, checked=True) == decision.dossier_sha256


def test_a_dossier_with_unknown_fields_is_digested_by_json(example_dossier):
    # orjson would write NaN as null: an unchecked value never takes its path
    example_dossier["note"] = float("nan")
    decision = esms_rules.evaluate(example_dossier, trace=False)
    assert "UNKNOWN_FIELD" in [w.code for w in decision.warnings]
    with pytest.raises(ValueError):
        decision.dossier_sha256     # noqa: B018 (json refuses NaN, as it always did)


def test_dumps_refuses_what_json_cannot_hold():

    for bad in (float("nan"), [Decimal("NaN")], {"x": Decimal("-Infinity")}):
        with pytest.raises(ValueError):
            jsonio.dumps(bad)
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsonio.dumps({"x": {1}})


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(DECIMALS | st.sampled_from([Decimal("0"), Decimal("-0"), Decimal("0.0"), Decimal("-0.00")]),
                max_size=6))
def test_json_numbers_remembered_by_value_are_written_as_computed(values):
    # the same values again, written with other exponents: equal Decimals, other digits
    values = values + [v.normalize() for v in values] + [v.quantize(Decimal("0.000")) for v in values
                                                        if v.is_finite() and abs(v.adjusted()) < 20]
    for whole_as_int in (True, False):
        for v in values + values:
            got, fresh = jsonio.json_number(v, whole_as_int), jsonio._number(v, whole_as_int)
            assert (type(got), jsonio.dumps(got)) == (type(fresh), jsonio.dumps(fresh))


@SETTINGS
@given(dossiers())
def test_messages_are_worded_as_render_message_words_them(dossier):
    from esms_rules.explain import message_nulls
    from esms_rules.french import render_message
    policy = policy_for(dossier)
    rules = policy.checked.all_rules
    decision = policy.evaluate(dossier, trace=False)
    for idx, _, values in decision._findings.fired:
        assert policy.message(idx, values) == render_message(rules[idx].message, values,
                                                             message_nulls(policy.checked, rules[idx]))


# ---- one pass: item rules inside the fused validator's loop --------------------------------
ONE_PASS = """policy "one-pass" {}
codes { SMALL TWICE BIG }
record item {
  finess: text
  size: int
  ratio: decimal
}
fact id: text
fact items: list of item
fact limit: int
def big(s: item): bool = s.size > 100 and s.ratio > 0.5
rule small for s in items {
  code SMALL
  severity blocking
  when s.size < 2
  message "{s.finess} : trop petit ({s.size}, {s.ratio})"
  source "test"
}
rule twice for s in items {
  code TWICE
  severity blocking
  when repeated(s.finess)
  message "{s.finess} deux fois"
  source "test"
}
rule big for s in items {
  code BIG
  severity warning
  when big(s)
  message "{s.finess} : grand"
  source "test"
}
RULE
output funded_share for s in items = if passes(s) then 1 - s.ratio else 0
output count = count([s for s in items where passes(s)])
"""
READS_A_FACT = """rule over for s in items {
  code BIG
  severity blocking
  when s.size > limit
  message "{s.finess} : au-delà de {limit}"
  source "test"
}"""

ITEMS = st.lists(st.fixed_dictionaries({
    "finess": st.sampled_from(["A", "B", "C", "D"]), "size": st.integers(0, 200),
    "ratio": st.sampled_from([0, 0.25, 0.5, 0.75, 1])}), max_size=6)


def one_pass_policy(extra: str) -> esms_rules.Policy:
    return esms_rules.Policy.from_text(ONE_PASS.replace("RULE", extra), "<one-pass>")


def test_rules_reading_only_their_item_run_in_the_validators_loop():
    from esms_rules.compile import _Gen
    from esms_rules.validate import fast_prologue
    for extra, fused in (("", {"items"}), (READS_A_FACT, set())):
        checked = one_pass_policy(extra).checked
        for mode in ("decision", "reasons"):
            g = _Gen(checked, mode, fast_prologue(checked.facts), facts_out=mode == "reasons")
            g.function()
            assert g.fused_items == fused


@SETTINGS
@given(ITEMS, st.integers(0, 150), st.sampled_from(["", READS_A_FACT]),
       st.sampled_from([None, ("limit", "beaucoup"), ("items", 3), ("id", 1)]))
def test_one_pass_decides_as_the_unfused_evaluator(items, limit, extra, broken):
    policy = one_pass_policy(extra)
    dossier = {"id": "D", "items": items, "limit": limit}
    if broken is not None:      # a field checked after the items, or the items themselves
        dossier[broken[0]] = broken[1]
    expected = outcome(policy.validator.precise, dossier)
    for fn in (lambda d: policy.evaluate(d, trace=False), policy.evaluate, policy.decide):
        assert outcome(fn, dossier) == expected
    if expected == "ok":
        assert policy.evaluate(copy.deepcopy(dossier), trace=False).to_json(trace=False) == \
            policy.evaluate(copy.deepcopy(dossier)).to_json(trace=False)
        assert policy.decide(copy.deepcopy(dossier)) == policy._decide_slow(copy.deepcopy(dossier))
