"""Differential test: the bundled policies, run by the engine, against the hand-written oracle.

For Hypothesis-generated VALID dossiers (``strategies.dossiers(policy)``, for every policy in
force) the engine (``esms_rules.evaluate(d).to_dict()``) and the oracle (``oracle.decide(d)``,
a plain-Python reading of CONTRACT.md v1.1) must agree on:

- ``recevable``, ``eligible``, ``call``;
- ``amount_eur``, to the cent (both null, or both the same number of cents);
- the sorted reason codes, and the sorted warning codes without ``UNKNOWN_FIELD`` (the oracle
  never emits it; generated dossiers carry no unknown field anyway);
- per structure, in input order: the FINESS, ``eligible``, the sorted codes and ``funded_share``
  (to 1e-9).

The engine is also asked which policy it chose (``policy.id``), and its fast path
(``Policy.decide``) and no-trace path (``evaluate(trace=False)``) must agree with the traced one.

For Hypothesis-generated INVALID dossiers (``strategies.bad_dossiers()``), ``esms_rules.evaluate``
must raise ``DossierError`` whose problem paths are exactly the expected ones (when ``programme``
is invalid the engine names only ``programme``, never ``campaign``: the strategies already expect
that).

Budget: ~300 generated examples in all (``VALID_PER_POLICY`` x 6 policies + ``INVALID``), well
under a minute. The number actually run is checked and reported at the end of the module
(``-s`` shows it; it is also recorded as the ``examples`` property of each test for JUnit XML).
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

# oracle.py and strategies.py sit beside this file; import them whatever pytest's import mode.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

from oracle import decide  # noqa: E402
from strategies import POLICY_PAIRS, bad_dossiers, dossiers  # noqa: E402

import esms_rules  # noqa: E402

VALID_PER_POLICY = 42          # x 6 policies = 252
INVALID = 48                   # total: 300
POLICIES = sorted(POLICY_PAIRS)

SETTINGS = {"deadline": None, "print_blob": True,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large,
                                      HealthCheck.filter_too_much]}

RUN: Counter = Counter()       # examples actually run, per test


@pytest.fixture(scope="module", autouse=True)
def _report_count(request):
    yield
    total = sum(RUN.values())
    if not total:
        return
    detail = ", ".join(f"{k}: {v}" for k, v in sorted(RUN.items()))
    line = f"engine vs oracle: {total} generated examples ({detail})"
    capture = request.config.pluginmanager.getplugin("capturemanager")
    reporter = request.config.pluginmanager.getplugin("terminalreporter")
    if capture is None or reporter is None:  # pragma: no cover
        print(line)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        reporter.write_line(line)


# --- normalising both sides ------------------------------------------------------------------

def _cents(value):
    return None if value is None else round(float(value) * 100)


def engine_view(decision: dict) -> dict:
    return {
        "recevable": decision["recevable"],
        "eligible": decision["eligible"],
        "call": decision["call"],
        "amount_cents": _cents(decision["amount_eur"]),
        "codes": sorted(r["code"] for r in decision["reasons"]),
        "warnings": sorted(w["code"] for w in decision["warnings"] if w["code"] != "UNKNOWN_FIELD"),
        "structures": [(s["finess"], s["eligible"], sorted(r["code"] for r in s["reasons"]))
                       for s in decision["structures"]],
        # to_dict gives the exact Decimal where no float holds the share; the oracle computes in floats
        "shares": [None if s["funded_share"] is None else float(s["funded_share"]) for s in decision["structures"]],
    }


def oracle_view(verdict: dict) -> dict:
    return {
        "recevable": verdict["recevable"],
        "eligible": verdict["eligible"],
        "call": verdict["call"],
        "amount_cents": _cents(verdict["amount_eur"]),
        "codes": sorted(verdict["codes"]),
        "warnings": sorted(verdict["warnings"]),
        "structures": [(s["finess"], s["eligible"], sorted(s["codes"])) for s in verdict["structures"]],
        "shares": [s["funded_share"] for s in verdict["structures"]],
    }


def assert_agree(dossier: dict, policy: str) -> None:
    decision = esms_rules.evaluate(dossier)
    got = decision.to_dict()
    assert got["policy"]["id"] == policy, "the engine chose another policy"
    engine, oracle = engine_view(got), oracle_view(decide(dossier))

    shares_e, shares_o = engine.pop("shares"), oracle.pop("shares")
    diffs = {k: (engine[k], oracle[k]) for k in engine if engine[k] != oracle[k]}
    assert len(shares_e) == len(shares_o)
    for i, (a, b) in enumerate(zip(shares_e, shares_o, strict=True)):
        if a is None or abs(a - b) > 1e-9:
            diffs[f"structures[{i}].funded_share"] = (a, b)
    assert not diffs, "engine != oracle (engine, oracle): " + repr(diffs)

    # The other evaluation paths of the engine say the same thing.
    quick = esms_rules.evaluate(dossier, trace=False).to_dict(trace=False)
    assert engine_view(quick) | {"shares": None} == engine | {"shares": None}
    verdict = esms_rules.load_policy(policy).decide(dossier)
    assert (verdict.eligible, verdict.recevable) == (got["eligible"], got["recevable"])
    assert verdict.outputs.get("call") == got["call"]
    assert _cents(verdict.outputs.get("amount_eur")) == engine["amount_cents"]


# --- valid dossiers: engine == oracle ---------------------------------------------------------

@pytest.mark.parametrize("policy", POLICIES)
def test_engine_agrees_with_oracle(policy, record_property):
    key = f"valid {policy}"
    RUN[key] = 0

    @settings(max_examples=VALID_PER_POLICY, **SETTINGS)
    @given(dossiers(policy))
    def check(dossier):
        RUN[key] += 1
        assert_agree(dossier, policy)

    check()
    record_property("examples", RUN[key])
    assert RUN[key] >= VALID_PER_POLICY // 2, f"only {RUN[key]} examples were generated"


# --- invalid dossiers: DossierError with exactly the expected paths ---------------------------

def test_bad_dossiers_raise_with_expected_paths(record_property):
    key = "invalid"
    RUN[key] = 0

    @settings(max_examples=INVALID, **SETTINGS)
    @given(bad_dossiers())
    def check(case):
        dossier, expected = case
        RUN[key] += 1
        with pytest.raises(esms_rules.DossierError) as caught:
            esms_rules.evaluate(dossier)
        got = {p.path for p in caught.value.problems}
        assert got == set(expected), f"paths {sorted(got)}, expected {sorted(expected)}"

    check()
    record_property("examples", RUN[key])
    assert RUN[key] >= INVALID // 2, f"only {RUN[key]} examples were generated"


# --- a few pinned dossiers, so the comparison itself is known to bite --------------------------

def _dossier(policy: str, **changes) -> dict:
    programme, campaign = POLICY_PAIRS[policy]
    d = {
        "id": "PIN", "campaign": campaign, "programme": programme,
        "call": "national" if programme == "mes-pilotes" else "regional",
        "submitted_at": f"{campaign}-05-10T10:00:00+02:00", "convention_signed_on": None,
        "applicant": {"name": "Porteur", "legal_form": "private", "gcsms": False},
        "software": {"action": "acquisition", "segur_referenced": False, "segur_candidate_on": None,
                     "resah_referenced": False, "mes_compatible": False},
        "other_eu_funding": [],
        "structures": [],
    }
    d.update(changes)
    return d


def _structure(i: int, department="35", sector="PA", casf=6, confort=0.0) -> dict:
    return {"finess": f"{department}{i:0{9 - len(department)}d}", "name": f"S{i}", "department": department,
            "category": "EHPAD", "casf_item": casf, "sector": sector, "financed_by": ["ARS"],
            "confort_share": confort}


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("shape", ["empty", "one", "sixteen_mixed", "fifty_two_regions"])
def test_pinned_dossiers_agree(policy, shape):
    structures = {
        "empty": [],
        "one": [_structure(1, confort=0.3333333)],
        "sixteen_mixed": [_structure(i, sector=s, casf=c) for i, (s, c) in
                          enumerate([("AHI", 8), ("PJM", 14)] * 7 + [("PA", None), ("domicile", 16)])],
        "fifty_two_regions": [_structure(i, "35" if i % 2 else "974") for i in range(50)],
    }[shape]
    assert_agree(_dossier(policy, structures=structures), policy)
