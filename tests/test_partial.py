"""Partial evaluation (dossiers still being written, docs/partial.md): three-valued logic.

- on a complete dossier, the three-valued evaluation is the ordinary one;
- soundness: for a dossier with facts knocked out, every completion of the unknown facts over
  small domains decides consistently with the partial verdict (a certain reason is raised in
  every completion, an excluded one in none, a known eligibility is every completion's);
- the generated three-valued evaluator equals the reference interpreter's three-valued mode;
- validation: a missing or null required fact is unknown, a bad value is still an error.
"""
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules import partial
from esms_rules.diagnostics import DossierError
from esms_rules.interpret import interpret, interpret_partial
from esms_rules.partial import ANY_ITEM, PartialValidator, Unknown

sys.path.insert(0, str(Path(__file__).resolve().parent))
strategies = pytest.importorskip("strategies")
support = pytest.importorskip("partial_support")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "dossier-2025.json"
POLICIES = sorted(strategies.POLICY_PAIRS)


def _policy(name):
    return esms_rules.load_policy(name)


def _partial_facts(policy, dossier):
    return PartialValidator(policy.checked.facts).convert_partial(dossier)


# ---- complete dossiers: three-valued == two-valued ----------------------------------------
def _same_as_normal(policy, dossier):
    facts, _, unknown = _partial_facts(policy, dossier)
    assert unknown == []
    p_ok, p_rec, p_outs, p_fired = interpret_partial(policy.checked, facts)
    ok, rec, outs, fired = interpret(policy.checked, facts)
    assert (p_ok, p_rec, p_outs) == (ok, rec, outs)
    assert all(f.status is True for f in p_fired)
    assert [(f.rule, f.item, f.values) for f in p_fired] == [tuple(f) for f in fired]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_complete_dossier_is_decided_as_usual(data):
    name = data.draw(st.sampled_from(POLICIES))
    _same_as_normal(_policy(name), data.draw(strategies.dossiers(name)))


# ---- soundness -------------------------------------------------------------------------------
def _knocked(data, policy, dossier):
    places = support.leaves(dossier, policy.checked.facts)
    picks = data.draw(st.lists(st.sampled_from(places), min_size=1, max_size=4, unique_by=lambda p: p[0]))
    # a fact of the policy header's own choice (which policy applies) stays known
    picks = [p for p in picks if p[0][0] not in ("campaign", "programme")]
    partial_dossier, kept = support.knock_out(dossier, picks)
    by_keys = {keys: (field, t) for keys, field, t in places}
    knocked = [(k, support.domain(support.get(dossier, k), *by_keys[k], dossier, k)) for k in kept]
    return partial_dossier, kept, knocked


def _check_sound(policy, dossier, partial_dossier, kept, knocked, rnd, evaluate3):
    facts, _, unknown = _partial_facts(policy, partial_dossier)
    assert sorted(unknown) == sorted(support.path_text(k) for k in kept)
    result = evaluate3(policy.checked, facts)
    named = set(unknown)
    for f in result.fired:
        if f.status is not True:
            assert f.status.paths <= named
    for completion in support.completions(partial_dossier, knocked, rnd):
        full, _ = policy.validator.convert(completion)
        errors = support.consistent(result, policy.compiled("reasons")(full), ANY_ITEM)
        assert not errors, (errors, completion)
    return result


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
@pytest.mark.parametrize("name", POLICIES)
def test_soundness_interpreter(name, data):
    policy = _policy(name)
    dossier = data.draw(strategies.dossiers(name))
    partial_dossier, kept, knocked = _knocked(data, policy, dossier)
    rnd = random.Random(data.draw(st.integers(0, 2 ** 32)))
    _check_sound(policy, dossier, partial_dossier, kept, knocked, rnd, interpret_partial)


# ---- the operations ---------------------------------------------------------------------
def test_kleene_tables():
    u, v = Unknown(["a"]), Unknown(["b"])
    assert partial.AND(False, u) is False and partial.AND(u, False) is False
    assert partial.AND(True, u) == u and partial.AND(u, v) == Unknown(["a", "b"])
    assert partial.OR(True, u) is True and partial.OR(u, True) is True
    assert partial.OR(False, u) == u and partial.OR(u, v) == Unknown(["a", "b"])
    assert partial.NOT(u) == u and partial.NOT(True) is False
    with pytest.raises(TypeError):
        bool(u)
    assert u != None  # noqa: E711  (never the language's null)


def test_count_bounds_decide_comparisons():
    maybe = Unknown(["structures[3].sector"])
    counted = partial.PartialList([(i, True) for i in range(15)] + [(99, maybe)])
    n = partial.count(counted)
    assert (n.lo, n.hi) == (15, 16)
    assert partial.cmp(">=", n, 15) is True
    assert partial.cmp("<", n, 15) is False
    assert partial.cmp(">=", n, 16) == Unknown(["structures[3].sector"])
    assert partial.cmp("<=", 17, n) is False
    assert partial.cmp("==", n, 50) is False
    assert partial.cmp(">=", partial.arith("+", n, 1), 16) is True


def test_membership_and_distinct():
    u = Unknown(["s.department"])
    assert partial.member("PA", ["PA", u]) is True
    assert partial.member("PH", ["PA", u]) == u
    assert partial.member("PH", ["PA"]) is False
    assert partial.member(u, []) is False
    regions = partial.distinct(["BRE", "BRE", u])
    assert isinstance(regions, partial.PartialList)
    n = partial.count(regions)
    assert (n.lo, n.hi) == (1, 2)
    assert partial.repeated_flags(["a", u, "a", "b"]) == [False, u, True, u]


def test_any_all_over_unknown_members():
    u = Unknown(["x"])
    assert partial.any_of([False, u]) == u
    assert partial.any_of([u, True]) is True
    assert partial.all_of([True, u]) == u
    assert partial.all_of([u, False]) is False
    assert partial.all_of(partial.PartialList([(False, u)])) == u
    assert partial.all_of(partial.PartialList([(True, u)])) is True


# ---- validation ----------------------------------------------------------------------------
def test_validation_unknown_paths_and_errors_kept():
    policy = _policy("esms-numerique-2025")
    d = json.loads(EXAMPLE.read_text())
    d["software"]["segur_referenced"] = None
    d["structures"][1]["sector"] = None
    del d["submitted_at"]
    del d["convention_signed_on"]          # optional: absent is unknown, null would be known
    facts, _, unknown = _partial_facts(policy, d)
    assert unknown == ["submitted_at", "convention_signed_on", "software.segur_referenced",
                       "structures[1].sector"]
    assert facts["software"]["segur_referenced"] == Unknown(["software.segur_referenced"])
    d["convention_signed_on"] = None
    facts, _, unknown = _partial_facts(policy, d)
    assert facts["convention_signed_on"] is None and "convention_signed_on" not in unknown
    d["structures"][0]["casf_item"] = "six"
    d["structures"][0]["confort_share"] = 3
    with pytest.raises(DossierError) as err:
        _partial_facts(policy, d)
    assert [p.path for p in err.value.problems] == ["structures[0].casf_item", "structures[0].confort_share"]


def test_unknown_list_gives_any_item_reasons():
    policy = _policy("esms-numerique-2025")
    d = json.loads(EXAMPLE.read_text())
    del d["structures"]
    facts, _, unknown = _partial_facts(policy, d)
    assert unknown == ["structures"]
    result = interpret_partial(policy.checked, facts)
    assert result.eligible == Unknown(["structures"])
    anys = {policy.checked.all_rules[f.rule].code for f in result.fired if f.item == ANY_ITEM}
    assert {"NOT_ESSMS", "DUPLICATE_STRUCTURE"} <= anys


# ---- the generated three-valued evaluator == the interpreter's three-valued mode -----------
def _compiled(policy):
    fn = getattr(policy, "_test_partial_fn", None)
    if fn is None:
        fn = policy._test_partial_fn = partial.compile_partial(policy.checked)
    return fn


def _key(fired):
    return sorted((f.rule, f.item, repr(f.status), repr(f.values)) for f in fired)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
@pytest.mark.parametrize("name", POLICIES)
def test_compiled_equals_interpreter(name, data):
    policy = _policy(name)
    dossier = data.draw(strategies.dossiers(name))
    if data.draw(st.booleans()):
        dossier, _, _ = _knocked(data, policy, dossier)
    facts, _, _ = _partial_facts(policy, dossier)
    want = interpret_partial(policy.checked, facts)
    got = _compiled(policy)(facts)
    assert (got.eligible, got.recevable, got.outputs) == (want.eligible, want.recevable, want.outputs)
    assert _key(got.fired) == _key(want.fired)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
@pytest.mark.parametrize("name", POLICIES)
def test_soundness_compiled(name, data):
    policy = _policy(name)
    dossier = data.draw(strategies.dossiers(name))
    partial_dossier, kept, knocked = _knocked(data, policy, dossier)
    rnd = random.Random(data.draw(st.integers(0, 2 ** 32)))
    _check_sound(policy, dossier, partial_dossier, kept, knocked, rnd, lambda checked, facts: _compiled(policy)(facts))
