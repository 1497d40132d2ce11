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


@settings(max_examples=9, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
@pytest.mark.parametrize("evaluator", ["interpreter", "compiled"])
@pytest.mark.parametrize("name", POLICIES)
def test_soundness(name, evaluator, data):
    """Every completion of the knocked-out facts agrees with the partial verdict, for the
    interpreter's three-valued mode and for the generated three-valued code alike."""
    policy = _policy(name)
    dossier = data.draw(strategies.dossiers(name))
    partial_dossier, kept, knocked = _knocked(data, policy, dossier)
    rnd = random.Random(data.draw(st.integers(0, 2 ** 32)))
    evaluate3 = interpret_partial if evaluator == "interpreter" else \
        (lambda checked, facts: _compiled(policy)(facts))
    _check_sound(policy, dossier, partial_dossier, kept, knocked, rnd, evaluate3)


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


def test_extremum_of_possible_members():
    u = Unknown(["s"])
    assert partial.extremum(partial.PartialList([(15, True), (15, u), (8, u)]), max) == 15
    assert partial.extremum(partial.PartialList([(8, True), (15, u)]), max) == u
    assert partial.extremum(partial.PartialList([(15, u)]), max) == u
    assert partial.extremum([3, 1], min) == 1 and partial.extremum([], min) is None


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


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
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


# ---- the decision, the API and the command line -------------------------------------------
def _draft():
    d = json.loads(EXAMPLE.read_text())
    d["software"]["segur_referenced"] = None
    del d["submitted_at"]
    del d["structures"][3]["casf_item"]
    return d


def _schema_valid(doc):
    jsonschema = pytest.importorskip("jsonschema")
    from esms_rules.jsonio import dumps
    from esms_rules.jsonschema import decision_schema
    jsonschema.validate(json.loads(dumps(doc)), decision_schema())


def test_partial_decision_shape():
    decision = esms_rules.evaluate(_draft(), partial=True)
    assert decision.eligible is None and decision.recevable is None
    assert decision.call == "regional"     # 15 or 16 structures counted: regional either way
    info = decision.partial
    assert info.needed == ("submitted_at", "software.segur_referenced", "structures[3].casf_item")
    doc = decision.to_dict()
    assert "trace" in doc and doc["trace"] == {} and list(doc)[-2:] == ["partial", "trace"]
    _schema_valid(decision.to_dict(trace=False))
    p = doc["partial"]
    assert p["complete"] is False
    assert p["recevable"] == {"status": "depends", "on": ["submitted_at"]}
    assert p["amount_eur"] == p["call"] == {"status": "certain"}
    assert p["eligible"] == {"status": "depends", "on": ["submitted_at", "software.segur_referenced"]}
    assert p["structures"] == [{"index": 3, "finess": "020000030", "status": "depends",
                                "on": ["structures[3].casf_item"]}]
    by_code = {(r["code"], r.get("structure", {}).get("index")): r for r in p["reasons"]}
    assert by_code[("LATE_SUBMISSION", None)]["status"] == "depends"
    assert by_code[("OTHER_EU_FUNDING", None)]["status"] == "excluded"
    assert by_code[("EU_FUNDING_TO_CHECK", None)]["status"] == "certain"
    # 15 or 16 structures counted, a threshold of 15 either way: not too small
    assert by_code[("GROUPING_TOO_SMALL", None)]["status"] == "excluded"
    assert [r.code for r in decision.warnings] == ["EU_FUNDING_TO_CHECK"] and decision.reasons == ()
    assert decision.structures[3].eligible is None and decision.structures[2].eligible is True


def test_complete_dossier_partial_decision_is_the_decision():
    d = json.loads(EXAMPLE.read_text())
    normal = esms_rules.evaluate(d, trace=False).to_dict(trace=False)
    got = esms_rules.evaluate(d, partial=True).to_dict(trace=False)
    part = got.pop("partial")
    assert got == normal
    assert "partial" not in normal
    assert part["complete"] is True and part["needed"] == [] and part["unknown"] == []
    assert {r["status"] for r in part["reasons"]} <= {"certain", "excluded"}


def test_bad_type_is_still_an_error():
    d = _draft()
    d["structures"][0]["confort_share"] = "beaucoup"
    with pytest.raises(DossierError) as err:
        esms_rules.evaluate(d, partial=True)
    assert [p.path for p in err.value.problems] == ["structures[0].confort_share"]
    with pytest.raises(DossierError):          # without partial, unknown facts are errors, as before
        esms_rules.evaluate(_draft())


def _cli(*args, stdin=None):
    import subprocess
    return subprocess.run([sys.executable, "-m", "esms_rules", *args], input=stdin, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def test_cli_partial(tmp_path):
    draft = tmp_path / "draft.json"
    draft.write_text(json.dumps(_draft()))
    run = _cli("evaluate", "--partial", str(draft))
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["eligible"] is None and "trace" not in doc
    assert doc["partial"]["needed"] == ["submitted_at", "software.segur_referenced", "structures[3].casf_item"]
    run = _cli("evaluate", str(draft))
    assert run.returncode == 2 and "submitted_at" in run.stdout
    run = _cli("explain", "--partial", str(draft))
    assert run.returncode == 0, run.stderr
    assert "Éligible : dépend de submitted_at, software.segur_referenced\n" in run.stdout
    assert "exclu — motif OTHER_EU_FUNDING" in run.stdout
    assert "acquis — avertissement EU_FUNDING_TO_CHECK" in run.stdout
    assert "Faits encore nécessaires pour décider : submitted_at" in run.stdout
    bad = _draft()
    bad["call"] = "européen"
    draft.write_text(json.dumps(bad))
    run = _cli("evaluate", "--partial", str(draft))
    assert run.returncode == 2 and "call" in run.stdout


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
@pytest.mark.parametrize("name", ["esms-numerique-2025", "mes-pilotes-2023", "esms-numerique-2021"])
def test_giving_the_needed_facts_completes_the_decision(name, data):
    """`needed` is enough: with the facts it names given back (the others left unknown), the
    decision is complete, and it is the decision of the whole dossier."""
    policy = _policy(name)
    dossier = data.draw(strategies.dossiers(name))
    partial_dossier, kept, _ = _knocked(data, policy, dossier)
    needed = policy.evaluate(partial_dossier, partial=True).partial.needed
    refilled = support.knock_out(partial_dossier, [])[0]
    by_path = {support.path_text(k): k for k in kept}
    for path in needed:
        keys = by_path[path]
        support.get(refilled, keys[:-1])[keys[-1]] = support.get(dossier, keys)
    again = policy.evaluate(refilled, partial=True)
    assert again.partial.complete, again.partial.needed
    whole = policy.evaluate(dossier, trace=False).to_dict(trace=False)
    got = again.to_dict(trace=False)
    for field in ("recevable", "eligible", "call", "amount_eur"):
        assert got[field] == whole[field], field
    for field in ("reasons", "warnings"):   # (a message may still show an unknown name: compare codes)
        assert [r["code"] for r in got[field]] == [r["code"] for r in whole[field]], field
