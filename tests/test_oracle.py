"""Tests of the oracle (tests/oracle.py) and of the strategies it is fed with.

(a) the oracle meets the `expect` of every worked example in ../shared/spec/examples;
(b) hand-computed cases pin the contract's key semantics;
(c) properties: the oracle never raises on generated dossiers and its output is consistent.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

# oracle.py and strategies.py sit beside this file; make them importable whatever pytest's
# import mode (prepend puts this folder on sys.path already, importlib does not).
if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from oracle import POLICIES, decide  # noqa: E402
from strategies import POLICY_PAIRS, bad_dossiers, dossiers  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = sorted((SHARED / "spec" / "examples").glob("*.json"))


# --- (a) worked examples ---------------------------------------------------------------------

def check_expect(decision: dict, expect: dict) -> None:
    """Apply the `expect` keys of examples/README.md to an oracle decision."""
    for key in ("eligible", "recevable", "call"):
        if key in expect:
            assert decision[key] == expect[key], key
    if "amount_eur" in expect:
        want, got = expect["amount_eur"], decision["amount_eur"]
        assert (want is None) == (got is None), "amount_eur"
        if want is not None:
            assert round(got * 100) == round(want * 100), "amount_eur to the cent"
    codes, warnings = set(decision["codes"]), set(decision["warnings"])
    assert set(expect.get("codes_all", [])) <= codes, "codes_all"
    if "codes_any" in expect:
        assert codes & set(expect["codes_any"]), "codes_any"
    assert set(expect.get("warnings_all", [])) <= warnings, "warnings_all"
    assert not warnings & set(expect.get("warnings_none", [])), "warnings_none"
    # With a repeated FINESS, "that structure" is read as: some structure with that FINESS
    # has every listed code; funded_share is read on the first (the only countable) one.
    for finess, wanted in expect.get("structure_codes", {}).items():
        assert any(set(wanted) <= set(s["codes"])
                   for s in decision["structures"] if s["finess"] == finess), finess
    if "structure_codes_any" in expect:
        assert any(set(s["codes"]) & set(expect["structure_codes_any"])
                   for s in decision["structures"]), "structure_codes_any"
    for finess, share in expect.get("funded_share", {}).items():
        first = next(s for s in decision["structures"] if s["finess"] == finess)
        assert abs(first["funded_share"] - share) <= 1e-9, finess
    if not decision["eligible"]:
        assert decision["codes"], "an ineligible decision carries at least one reason"


@pytest.mark.skipif(not EXAMPLES, reason=f"no shared examples under {SHARED}")
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples(path):
    case = json.loads(path.read_text(encoding="utf-8"))
    check_expect(decide(case["dossier"]), case["expect"])


# --- (b) hand-computed cases -----------------------------------------------------------------

def struct(finess, department, sector="PA", casf=6, confort=0.0):
    return {"finess": finess, "name": f"S {finess}", "department": department,
            "category": "EHPAD", "casf_item": casf, "sector": sector,
            "financed_by": ["ARS", "CD"], "confort_share": confort}


def many(count, departments, sector="PA", casf=6, start=0):
    """`count` distinct structures, departments taken in turn; FINESS = department + digits."""
    out = []
    for i in range(count):
        dep = departments[i % len(departments)]
        out.append(struct(dep + str(start + i).zfill(9 - len(dep)), dep, sector, casf))
    return out


SUBMITTED = {2021: "2021-10-01T10:00:00+02:00", 2022: "2022-07-01T10:00:00+02:00",
             2023: "2023-06-01T10:00:00+02:00", 2024: "2024-05-15T10:00:00+02:00",
             2025: "2025-05-15T10:00:00+02:00"}


def dossier(campaign, call, structures, programme="esms-numerique", **over):
    d = {
        "id": "T-1", "campaign": campaign, "programme": programme, "call": call,
        "submitted_at": SUBMITTED[campaign], "convention_signed_on": f"{campaign}-12-01",
        "applicant": {"name": "P", "legal_form": "private", "gcsms": False},
        "software": {"action": "acquisition", "segur_referenced": True,
                     "segur_candidate_on": None, "resah_referenced": True,
                     "mes_compatible": False},
        "other_eu_funding": [], "structures": structures,
    }
    for key, value in over.items():
        if key in d["software"]:
            d["software"][key] = value
        else:
            d[key] = value
    return d


BRE = ["22", "29", "35", "56"]
IDF = ["75", "92", "93", "94"]
HDF = ["59", "62"]


@pytest.mark.parametrize("count, call, codes", [
    (7, None, ["GROUPING_TOO_SMALL"]),
    (8, "regional", []),
])
def test_threshold_8_reunion(count, call, codes):
    r = decide(dossier(2025, "regional", many(count, ["974"])))
    assert (r["call"], r["codes"]) == (call, codes)


@pytest.mark.parametrize("count, call, codes", [
    (14, None, ["GROUPING_TOO_SMALL"]),
    (15, "regional", []),
])
def test_threshold_15_bretagne(count, call, codes):
    r = decide(dossier(2025, "regional", many(count, BRE)))
    assert (r["call"], r["codes"]) == (call, codes)


def test_threshold_mix_corsica_overseas_and_mainland():
    # 4 in Corse + 4 in Guadeloupe: threshold 8 [I: mix included], 2 regions, 8 <= n < 50.
    mixed = many(4, ["2A", "2B"]) + many(4, ["971", "977", "978"], start=50)
    r = decide(dossier(2025, "regional", mixed))
    assert (r["call"], r["codes"]) == ("regional", [])
    # One mainland structure makes the threshold 15 again.
    r = decide(dossier(2025, "regional", mixed[:7] + [struct("130000001", "13")]))
    assert (r["call"], r["codes"]) == (None, ["GROUPING_TOO_SMALL"])


@pytest.mark.parametrize("count, departments, filed, call, codes", [
    (49, IDF + HDF, "regional", "regional", []),           # 2 regions, < 50: regional
    (50, IDF + HDF, "regional", "national", ["WRONG_CALL"]),
    (50, IDF + HDF, "national", "national", ["DEADLINE_UNKNOWN"]),  # 2024 national: [GAP]
    (50, IDF, "regional", "regional", []),                  # one region: regional at any size
    (60, IDF, "national", "regional", ["WRONG_CALL", "DEADLINE_UNKNOWN"]),
])
def test_49_50_boundary_2024(count, departments, filed, call, codes):
    r = decide(dossier(2024, filed, many(count, departments)))
    assert r["call"] == call
    assert r["codes"] + r["warnings"] == codes


@pytest.mark.parametrize("count, call", [(49, "regional"), (50, "national"), (1, "regional"),
                                         (0, None)])
def test_call_2021(count, call):
    r = decide(dossier(2021, "regional", many(count, BRE)))
    assert r["call"] == call
    assert ("WRONG_CALL" in r["codes"]) == (call == "national")
    assert ("GROUPING_TOO_SMALL" in r["codes"]) == (count == 0)
    assert ("BELOW_IDEAL_SIZE" in r["warnings"]) == (1 <= count < 15)


@pytest.mark.parametrize("submitted_at, late", [
    ("2025-09-15T23:59:59+02:00", False),
    ("2025-09-16T00:00:00+02:00", True),
    ("2025-09-16T01:59:59+04:00", False),   # La Réunion: 23:59:59 in Paris
    ("2025-09-16T02:00:00+04:00", True),
    ("2025-09-15T21:59:59Z", False),
    ("2025-09-15T22:00:00Z", True),
    ("2025-09-15T17:59:59-04:00", False),
    ("2025-09-15T18:00:00-04:00", True),
])
def test_deadline_2025_regional_one_region(submitted_at, late):
    r = decide(dossier(2025, "regional", many(15, BRE), submitted_at=submitted_at))
    assert r["recevable"] is not late
    assert ("LATE_SUBMISSION" in r["codes"]) is late
    assert r["eligible"] is not late


@pytest.mark.parametrize("submitted_at, late", [
    ("2025-06-01T23:59:59+02:00", False),
    ("2025-06-02T00:00:00+02:00", True),
    ("2025-09-10T10:00:00+02:00", True),    # fine for one region, late for multiregional
])
def test_deadline_2025_regional_multiregional(submitted_at, late):
    r = decide(dossier(2025, "regional", many(16, IDF + HDF), submitted_at=submitted_at))
    assert ("LATE_SUBMISSION" in r["codes"]) is late


def test_deadline_2021_winter_offset():
    # 15 Oct 2021 is still summer time in Paris (+02:00): 22:59:59+01:00 is 23:59:59 Paris,
    # and 23:00:00+01:00 is already midnight in Paris.
    for at, late in [("2021-10-15T22:59:59+01:00", False), ("2021-10-15T23:00:00+01:00", True)]:
        r = decide(dossier(2021, "regional", many(15, BRE), submitted_at=at))
        assert r["recevable"] is not late


def test_deadline_gap_2023():
    r = decide(dossier(2023, "regional", many(15, BRE), submitted_at="2023-12-31T23:00:00+01:00"))
    assert r["recevable"] and r["eligible"] and r["warnings"] == ["DEADLINE_UNKNOWN"]


@pytest.mark.parametrize("sectors, software, codes, warnings", [
    (["PJM"], {}, [], []),                                           # all PJM: none
    (["AHI", "PJM"], {"segur_candidate_on": "2025-11-30"}, [], []),  # candidate before
    (["AHI"], {"segur_candidate_on": "2025-12-01"}, [], []),         # on the day
    (["AHI"], {"segur_candidate_on": "2025-12-02"}, ["AHI_CANDIDATE_TOO_LATE"], []),
    (["AHI"], {"segur_candidate_on": None}, ["AHI_CANDIDATE_TOO_LATE"], []),
    (["AHI"], {"convention_signed_on": None, "segur_candidate_on": "2026-01-01"},
     [], ["CONVENTION_PENDING"]),
    (["AHI", "PA"], {"segur_candidate_on": "2025-01-01"}, ["DUI_NOT_SEGUR_REFERENCED"], []),
    (["PJM", "PA"], {}, ["DUI_NOT_SEGUR_REFERENCED"], []),
])
def test_software_2025_exceptions(sectors, software, codes, warnings):
    structures = [s for i, sector in enumerate(sectors) for s in many(15, BRE, sector, start=100 * i)]
    r = decide(dossier(2025, "regional", structures, segur_referenced=False, **software))
    assert (r["codes"], r["warnings"]) == (codes, warnings)


def test_software_2023_2024_and_empty_grouping():
    for year in (2023, 2024):
        ahi = decide(dossier(year, "regional", many(15, BRE, "AHI", 8), segur_referenced=False))
        assert "DUI_NOT_SEGUR_REFERENCED" not in ahi["codes"]
        pa = decide(dossier(year, "regional", many(15, BRE), segur_referenced=False))
        assert "DUI_NOT_SEGUR_REFERENCED" in pa["codes"]
    # Reading R1: with n = 0, "every counted structure is AHI or PJM" is false.
    r = decide(dossier(2025, "regional", [], segur_referenced=False))
    assert r["codes"] == ["DUI_NOT_SEGUR_REFERENCED", "GROUPING_TOO_SMALL"]


def test_software_2021_2022():
    r = decide(dossier(2021, "regional", many(15, BRE), resah_referenced=False))
    assert r["codes"] == ["EDITOR_NOT_REFERENCED"]              # Ségur does not help in 2021
    r = decide(dossier(2022, "regional", many(15, BRE), resah_referenced=False))
    assert r["codes"] == []                                     # Ségur suffices in 2022
    r = decide(dossier(2022, "regional", many(15, BRE), resah_referenced=False,
                       segur_referenced=False))
    assert r["codes"] == ["EDITOR_NOT_REFERENCED"]


def test_mes_pilotes():
    one = [struct("290000001", "29", "PH", 7)]
    r = decide(dossier(2023, "national", one, "mes-pilotes", segur_referenced=False,
                       mes_compatible=True))
    assert (r["eligible"], r["call"], r["warnings"]) == (True, "national", ["DEADLINE_UNKNOWN"])
    r = decide(dossier(2023, "national", one, "mes-pilotes", segur_referenced=False))
    assert r["codes"] == ["DUI_NOT_SEGUR_REFERENCED"]
    two = one + [struct("290000002", "29", "domicile", 6)]
    r = decide(dossier(2023, "national", two, "mes-pilotes"))
    assert (r["call"], r["codes"]) == (None, ["GROUPING_TOO_LARGE"])
    r = decide(dossier(2023, "regional", one, "mes-pilotes"))
    assert (r["call"], r["codes"]) == ("national", ["WRONG_CALL"])
    # Sectors: AHI and domicile item 16 are not covered; n = 0 is too small.
    r = decide(dossier(2023, "national", [struct("290000003", "29", "AHI", 8),
                                          struct("290000004", "29", "domicile", 16)],
                       "mes-pilotes"))
    assert r["codes"] == ["GROUPING_TOO_SMALL"]
    assert [s["codes"] for s in r["structures"]] == [["SECTOR_NOT_ELIGIBLE"]] * 2


def test_duplicates_and_structure_codes():
    base = many(15, BRE)
    extra = [
        copy.deepcopy(base[0]),                         # plain duplicate
        struct("290999999", "29", casf=None),           # not an ESSMS (first occurrence)
        struct("290999999", "29"),                      # duplicate of a not-counted one
        struct(base[1]["finess"], "29", casf=None),     # duplicate AND not an ESSMS
    ]
    r = decide(dossier(2025, "regional", base + extra))
    assert (r["call"], r["codes"]) == ("regional", [])  # 15 counted
    assert [s["codes"] for s in r["structures"][15:]] == [
        ["DUPLICATE_STRUCTURE"], ["NOT_ESSMS"], ["DUPLICATE_STRUCTURE"],
        ["DUPLICATE_STRUCTURE", "NOT_ESSMS"]]
    assert [s["funded_share"] for s in r["structures"][15:]] == [0.0] * 4
    # Without the first base structure, the plain duplicate counts again: still 15.
    r = decide(dossier(2025, "regional", base[1:] + extra))
    assert r["structures"][14]["codes"] == [] and r["codes"] == []


def test_confort_shares_and_amount_2021():
    structures = many(3, BRE)
    structures[0]["confort_share"] = 1.0
    structures[1]["confort_share"] = 0.25
    r = decide(dossier(2021, "regional", structures))
    assert [s["codes"] for s in r["structures"]] == [["CONFORT_ONLY"], [], []]
    assert [s["funded_share"] for s in r["structures"]] == [0.0, 0.75, 1.0]
    assert r["amount_eur"] == 43750.0                   # 25000 × (0.75 + 1)
    assert r["warnings"] == ["BELOW_IDEAL_SIZE"]
    # Decimal, half-up: 10000 × (1 - 0.1234575) = 8765.425 -> 8765.43 (half-even would say .42)
    one = [struct("290000001", "29", confort=0.1234575)]
    r = decide(dossier(2021, "regional", one, action="mise_en_conformite"))
    assert r["amount_eur"] == 8765.43
    # Ineligible, or another year: no amount.
    assert decide(dossier(2021, "regional", one, resah_referenced=False))["amount_eur"] is None
    assert decide(dossier(2025, "regional", many(15, BRE)))["amount_eur"] is None


def test_other_eu_funding():
    same = [{"programme": "FEDER", "same_object": True}]
    other = [{"programme": "FSE+", "same_object": False}]
    assert decide(dossier(2025, "regional", many(15, BRE), other_eu_funding=same))["codes"] == \
        ["OTHER_EU_FUNDING"]
    r = decide(dossier(2025, "regional", many(15, BRE), other_eu_funding=other))
    assert r["codes"] == [] and r["warnings"] == ["EU_FUNDING_TO_CHECK"]      # v1.2: a warning
    r = decide(dossier(2025, "regional", many(15, BRE), other_eu_funding=same + other))
    assert r["codes"] == ["OTHER_EU_FUNDING"] and r["warnings"] == ["EU_FUNDING_TO_CHECK"]
    pilot = dossier(2023, "national", many(1, BRE), programme="mes-pilotes", other_eu_funding=other)
    assert "EU_FUNDING_TO_CHECK" not in decide(pilot)["warnings"]   # « ayant le même objet »


@pytest.mark.parametrize("call, submitted_at, warned", [
    ("regional", "2024-01-14T23:59:59+01:00", True),
    ("regional", "2024-01-15T00:00:00+01:00", False),
    ("regional", "2024-01-15T02:59:59+04:00", True),      # 23:59:59 in Paris
    ("national", "2024-02-14T23:59:59+01:00", True),
    ("national", "2024-01-20T10:00:00+01:00", True),      # regional calls open, national not
    ("national", "2024-02-15T00:00:00+01:00", False),
])
def test_call_not_open_2024(call, submitted_at, warned):
    structures = many(30, BRE) + many(20, IDF) if call == "national" else many(15, BRE)
    r = decide(dossier(2024, call, structures, submitted_at=submitted_at))
    assert ("CALL_NOT_OPEN" in r["warnings"]) == warned
    assert r["eligible"] and r["recevable"]                                # never a block


def test_call_not_open_unknown_elsewhere():
    assert "CALL_NOT_OPEN" not in decide(dossier(2025, "regional", many(15, BRE),
                                                 submitted_at="2025-01-02T10:00:00+01:00"))["warnings"]


def test_2021_national_call_has_no_amount():
    r = decide(dossier(2021, "national", many(50, BRE)))
    assert r["eligible"] and r["call"] == "national" and r["amount_eur"] is None   # v1.2 [GAP]


def test_programme_defaults_to_esms_numerique():
    d = dossier(2025, "regional", many(15, BRE))
    del d["programme"]
    assert decide(d)["eligible"]


# --- (c) properties --------------------------------------------------------------------------

@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dossiers())
def test_decide_is_total_and_consistent(d):
    snapshot = copy.deepcopy(d)
    r = decide(d)
    assert d == snapshot, "decide must not mutate its input"
    json.dumps(d)  # generated dossiers are plain JSON
    assert r["eligible"] == (not r["codes"])
    assert r["recevable"] == ("LATE_SUBMISSION" not in r["codes"])
    assert len(r["structures"]) == len(d["structures"])
    assert [s["finess"] for s in r["structures"]] == [s["finess"] for s in d["structures"]]
    for s in r["structures"]:
        assert s["eligible"] == (not s["codes"])
        assert 0 <= s["funded_share"] <= 1
        assert s["eligible"] or s["funded_share"] == 0
    assert r["codes"] == sorted(set(r["codes"])) and r["warnings"] == sorted(set(r["warnings"]))
    assert (r["amount_eur"] is not None) == (d["campaign"] == 2021 and d["call"] == "regional"
                                             and r["eligible"])
    assert (r["call"] is None) <= bool({"GROUPING_TOO_SMALL", "GROUPING_TOO_LARGE"} & set(r["codes"]))


@pytest.mark.parametrize("policy", sorted(POLICY_PAIRS))
def test_dossiers_pin_the_policy(policy):
    assert POLICY_PAIRS[policy] in POLICIES

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(dossiers(policy))
    def check(d):
        assert (d.get("programme", "esms-numerique"), d["campaign"]) == POLICY_PAIRS[policy]
        assert all(len(s["finess"]) == 9 for s in d["structures"])
        r = decide(d)
        assert r["eligible"] == (not r["codes"])

    check()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_dossiers())
def test_bad_dossiers_are_well_formed(case):
    d, paths = case
    json.dumps(d)
    assert paths and all(isinstance(p, str) and p for p in paths)
