"""Counterfactuals (esms_rules/counterfactual.py).

Unit tests pin each code's concrete French text and patch. The properties re-check the
module's guarantee independently: every suggestion, applied with this file's own JSON Patch
code and evaluated again, no longer has its reason; and for 2025 every blocking reason gets a
suggestion.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules.counterfactual import GENERATORS, Candidate, Suggestion, apply_patch, describe_patch, suggest

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
INPUTS = HERE / "golden" / "render" / "inputs"
SHARED = HERE.parents[1] / "shared" / "spec" / "examples"
P2025 = "esms-numerique-2025"


def base(name: str = "eligible_regional_2025") -> dict:
    return json.loads((INPUTS / f"{name}.json").read_text(encoding="utf-8"))


def policy(name: str):
    try:
        return esms_rules.load_policy(name)
    except esms_rules.PolicyError:
        pytest.skip(f"policy {name} is not bundled")


def only(sugs, code) -> Suggestion:
    found = [s for s in sugs if s.code == code]
    assert len(found) == 1, [(s.code, s.text) for s in sugs]
    return found[0]


# ---- an independent check ------------------------------------------------------------------
def my_apply(dossier: dict, patch) -> dict:
    """RFC 6902 replace / add / remove, written again here on purpose."""
    d = copy.deepcopy(dossier)
    for op in patch:
        keys = op["path"].split("/")[1:]
        obj = d
        for k in keys[:-1]:
            obj = obj[int(k)] if isinstance(obj, list) else obj[k]
        last = keys[-1]
        if op["op"] == "add" and isinstance(obj, list):
            obj.append(op["value"]) if last == "-" else obj.insert(int(last), op["value"])
        elif op["op"] == "remove":
            del obj[int(last) if isinstance(obj, list) else last]
        else:
            obj[int(last) if isinstance(obj, list) else last] = op["value"]
    return d


def reason_gone(s: Suggestion, before, after) -> bool:
    if s.level == "dossier":
        return s.code not in [r.code for r in after.reasons]
    if len(after.structures) == len(before.structures):
        assert after.structures[s.index].finess == s.finess
        return s.code not in [r.code for r in after.structures[s.index].reasons]
    def n(d):
        return sum(1 for x in d.structures if x.finess == s.finess and s.code in [r.code for r in x.reasons])
    return n(after) < n(before)


def check_all(p, dossier) -> list[Suggestion]:
    before = p.evaluate(dossier)
    sugs = suggest(p, dossier)
    for s in sugs:
        changed = my_apply(dossier, s.patch)
        assert changed == s.dossier
        after = p.evaluate(changed)
        assert reason_gone(s, before, after), (s.code, s.text, s.patch)
        new = ({r.code for r in after.reasons} | {r.code for x in after.structures for r in x.reasons}) - (
            {r.code for r in before.reasons} | {r.code for x in before.structures for r in x.reasons})
        assert set(s.introduces) == new
    return sugs


# ---- concrete French text, per code (2025) -------------------------------------------------------
def test_no_suggestion_for_an_eligible_dossier():
    assert suggest(P2025, base()) == []


def test_grouping_too_small_adds_the_fewest_structures_in_the_most_represented_region():
    d = base()
    d["structures"] = d["structures"][:12]           # 12 in Bretagne, 3 missing
    d["structures"][0]["department"] = "59"          # one in Hauts-de-France: 11 + 1
    s = only(check_all(policy(P2025), d), "GROUPING_TOO_SMALL")
    assert s.text.startswith("3 ESSMS éligibles de plus en Bretagne")
    assert len(s.patch) == 3 and all(op["op"] == "add" and op["path"] == "/structures/-" for op in s.patch)
    finess = [op["value"]["finess"] for op in s.patch]
    assert len(set(finess)) == 3 and not set(finess) & {x["finess"] for x in d["structures"]}
    assert all(len(f) == 9 for f in finess)
    # minimal: two more do not lift it
    two = apply_patch(d, s.patch[:2])
    assert "GROUPING_TOO_SMALL" in [r.code for r in policy(P2025).evaluate(two).reasons]


def test_grouping_too_small_one_more_singular():
    d = base()
    d["structures"] = d["structures"][:14]
    s = only(check_all(policy(P2025), d), "GROUPING_TOO_SMALL")
    assert s.text.startswith("1 ESSMS éligible de plus en Bretagne (le dossier en compterait 15")


def test_grouping_too_small_overseas_threshold():
    d = json.loads((SHARED / "c25_reunion_9_public.json").read_text())["dossier"] if (
        SHARED / "c25_reunion_9_public.json").exists() else pytest.skip("shared examples absent")
    d["structures"] = d["structures"][:5]
    s = only(check_all(policy(P2025), d), "GROUPING_TOO_SMALL")
    assert s.text.startswith("3 ESSMS éligibles de plus en La Réunion")


def test_late_submission_moves_to_2359_paris_on_the_deadline_day():
    s = only(check_all(policy(P2025), base("late_submission_2025")), "LATE_SUBMISSION")
    assert s.text == ("déposer au plus tard le 15/09/2025 à 23:59 heure de Paris "
                      "(date limite de l'appel à projets régional)")
    assert s.patch == ({"op": "replace", "path": "/submitted_at", "value": "2025-09-15T23:59:00+02:00"},)


def test_late_submission_multiregional_deadline_winter_offset():
    d = base()
    for x in d["structures"][:8]:
        x["department"] = "59"                       # two regions: the multiregional deadline
    d["submitted_at"] = "2025-06-02T09:00:00+02:00"
    s = only(check_all(policy(P2025), d), "LATE_SUBMISSION")
    assert "01/06/2025 à 23:59 heure de Paris" in s.text
    assert s.patch[0]["value"] == "2025-06-01T23:59:00+02:00"


def test_dui_not_segur_referenced():
    d = base()
    d["software"]["segur_referenced"] = False
    s = only(check_all(policy(P2025), d), "DUI_NOT_SEGUR_REFERENCED")
    assert s.text == "utiliser un logiciel référencé Ségur (DSR vague 1 de son domaine)"
    assert s.patch == ({"op": "replace", "path": "/software/segur_referenced", "value": True},)


def test_ahi_candidate_too_late():
    s = only(check_all(policy(P2025), base("ahi_candidate_too_late_2025")), "AHI_CANDIDATE_TOO_LATE")
    assert s.text == ("logiciel référencé Ségur, ou candidat au référencement Ségur au plus tard le 20/12/2025 "
                      "(date de signature de la convention)")
    assert s.patch == ({"op": "replace", "path": "/software/segur_candidate_on", "value": "2025-12-20"},)


def test_other_eu_funding_names_the_programmes():
    d = base()
    d["other_eu_funding"] = [{"programme": "FEDER", "same_object": True},
                             {"programme": "FSE", "same_object": False}]
    s = only(check_all(policy(P2025), d), "OTHER_EU_FUNDING")
    assert s.text == "retirer le financement européen FEDER portant sur le même objet"
    assert s.patch == ({"op": "replace", "path": "/other_eu_funding/0/same_object", "value": False},)
    d["other_eu_funding"][1]["same_object"] = True
    s = only(check_all(policy(P2025), d), "OTHER_EU_FUNDING")
    assert s.text == "retirer les financements européens FEDER et FSE portant sur le même objet"


def test_wrong_call():
    d = base()
    d["call"] = "national"
    d["submitted_at"] = "2025-05-10T10:00:00+02:00"
    s = only(check_all(policy(P2025), d), "WRONG_CALL")
    assert s.text == ("déposer au titre de l'appel à projets régional (et non de l'appel à projets national) : "
                      "un dossier de 16 structures sur 1 région en relève")
    assert s.patch == ({"op": "replace", "path": "/call", "value": "regional"},)


def test_grouping_too_small_says_what_it_makes_appear():
    d = base()
    d["structures"] = d["structures"][:10]
    d["call"] = "national"
    d["submitted_at"] = "2025-05-10T10:00:00+02:00"
    s = only(check_all(policy(P2025), d), "GROUPING_TOO_SMALL")
    assert s.introduces == ("WRONG_CALL",)
    assert s.text.endswith("; cela ferait apparaître : WRONG_CALL")


def test_structure_codes():
    sugs = check_all(policy(P2025), base("structure_reasons_confort_2025"))
    assert [(s.code, s.level, s.finess, s.index) for s in sugs] == [
        ("NOT_ESSMS", "structure", "640006045", 1),
        ("CONFORT_ONLY", "structure", "330006057", 2),
        ("DUPLICATE_STRUCTURE", "structure", "640006060", 17)]
    not_essms, confort, dup = sugs
    assert not_essms.text.startswith("640006045 (USLD NAQ 1) : n'est finançable que si elle relève d'un item "
                                     "de l'article L.312-1 I du CASF (par exemple l'item 6)")
    assert not_essms.patch == ({"op": "replace", "path": "/structures/1/casf_item", "value": 6},)
    assert confort.text.startswith("330006057 (domicile NAQ 2) : déclarer une part d'activités essentielles")
    assert confort.patch[0]["path"] == "/structures/2/confort_share" and confort.patch[0]["value"] < 1
    assert dup.text == "retirer le doublon du FINESS 640006060 (structure n° 18, déjà listée en n° 4)"
    assert dup.patch == ({"op": "remove", "path": "/structures/17"},)


# ---- other policies (when bundled) -----------------------------------------------------------------
def test_editor_not_referenced_2021():
    p = policy("esms-numerique-2021")
    d = base()
    d["campaign"] = 2021
    d["submitted_at"] = "2021-10-01T10:00:00+02:00"
    d["convention_signed_on"] = "2021-12-01"
    d["software"]["resah_referenced"] = False
    s = only(check_all(p, d), "EDITOR_NOT_REFERENCED")
    assert s.text.startswith("choisir un éditeur référencé par le Resah")
    assert s.patch == ({"op": "replace", "path": "/software/resah_referenced", "value": True},)


def test_editor_not_referenced_2022_names_the_segur_route():
    p = policy("esms-numerique-2022")
    d = base()
    d["campaign"] = 2022
    d["submitted_at"] = "2022-09-01T10:00:00+02:00"
    d["software"]["resah_referenced"] = False
    d["software"]["segur_referenced"] = False
    s = only(check_all(p, d), "EDITOR_NOT_REFERENCED")
    assert s.text == "choisir un éditeur référencé par le Resah (ou un logiciel référencé Ségur)"


def pilot_dossier(n: int) -> dict:
    d = base()
    d.update(programme="mes-pilotes", campaign=2023, call="national", submitted_at="2023-10-02T10:00:00+02:00")
    d["structures"] = d["structures"][:n]
    return d


def test_grouping_too_large_pilots_keep_one():
    s = only(check_all(policy("mes-pilotes-2023"), pilot_dossier(3)), "GROUPING_TOO_LARGE")
    assert s.text == "ne garder qu'une structure : retirer 2 structures du dossier (350000170, 220000186)"
    assert s.patch == ({"op": "remove", "path": "/structures/2"}, {"op": "remove", "path": "/structures/1"})


def test_sector_not_eligible_pilots():
    d = pilot_dossier(1)
    d["structures"][0]["sector"] = "AHI"
    d["structures"][0]["casf_item"] = 8
    sugs = check_all(policy("mes-pilotes-2023"), d)
    s = only(sugs, "SECTOR_NOT_ELIGIBLE")
    assert s.text == "290000165 (PA BRE 0) : structure d'un secteur couvert par le programme (PA, PH), et non AHI"
    assert only(sugs, "GROUPING_TOO_SMALL").text.startswith("1 ESSMS éligible de plus en Bretagne")


def test_dui_pilots_names_mon_espace_sante():
    d = pilot_dossier(1)
    d["software"]["segur_referenced"] = False
    d["software"]["mes_compatible"] = False
    s = only(check_all(policy("mes-pilotes-2023"), d), "DUI_NOT_SEGUR_REFERENCED")
    assert s.text == ("utiliser un logiciel référencé Ségur (DSR vague 1 de son domaine) "
                      "(ou un logiciel compatible avec Mon espace santé)")


# ---- the API ---------------------------------------------------------------------------------------------
def test_never_returns_a_candidate_that_does_not_lift(monkeypatch):
    """A generator proposing a useless change gets no suggestion; the next candidate is tried."""
    useless = Candidate("changer le nom du porteur", [{"op": "replace", "path": "/applicant/name", "value": "X"}])
    good = Candidate("bon", [{"op": "replace", "path": "/software/segur_referenced", "value": True}])
    monkeypatch.setitem(GENERATORS, "DUI_NOT_SEGUR_REFERENCED", [lambda ctx: iter([useless])])
    d = base()
    d["software"]["segur_referenced"] = False
    assert suggest(P2025, d) == []
    monkeypatch.setitem(GENERATORS, "DUI_NOT_SEGUR_REFERENCED", [lambda ctx: iter([useless, good])])
    assert [s.text for s in suggest(P2025, d)] == ["bon"]


def test_an_invalid_patch_is_skipped(monkeypatch):
    bad = Candidate("invalide", [{"op": "replace", "path": "/software/segur_referenced", "value": "oui"}])
    monkeypatch.setitem(GENERATORS, "DUI_NOT_SEGUR_REFERENCED", [lambda ctx: iter([bad])])
    d = base()
    d["software"]["segur_referenced"] = False
    assert suggest(P2025, d) == []


def test_policy_in_force_by_default_and_dossier_untouched():
    d = base("late_submission_2025")
    snapshot = copy.deepcopy(d)
    assert [s.code for s in suggest(None, d)] == ["LATE_SUBMISSION"]
    assert d == snapshot


def test_a_given_decision_is_not_evaluated_again(monkeypatch):
    """With `decision=` (and its full trace), the dossier is not evaluated again; every candidate still is."""
    p = esms_rules.load_policy(P2025)
    d = base("ahi_candidate_too_late_2025")
    decision = p.evaluate(d, trace="full")
    expected = suggest(p, d)
    calls = []
    real = type(p).evaluate

    def counting(self, dossier, *args, **kwargs):
        calls.append(kwargs.get("trace", True))
        return real(self, dossier, *args, **kwargs)
    monkeypatch.setattr(type(p), "evaluate", counting)
    got = suggest(p, d, decision=decision)
    assert got == expected and [s.code for s in got] == ["AHI_CANDIDATE_TOO_LATE"]
    assert calls and True not in calls          # only the candidates' checks (trace=False)
    calls.clear()
    assert suggest(p, d) == expected
    assert calls[0] == "full"                   # without it: evaluated first, with its full trace
    calls.clear()
    assert suggest(p, d, decision=p.evaluate(d, trace=False)) == expected   # no trace: evaluated again
    assert calls.count("full") == 1
    calls.clear()
    assert suggest(p, d, decision=p.evaluate(d)) == expected   # a compact trace: evaluated again
    assert calls.count("full") == 1


def test_a_decision_from_another_policy_is_refused():
    d = base("late_submission_2025")
    other = next((b for b in esms_rules.bundled_policies() if b.id != P2025), None)
    if other is None:
        pytest.skip("one bundled policy only")
    with pytest.raises(ValueError, match="rendered by policy"):
        suggest(P2025, d, decision=other.evaluate(dict(d, campaign=other.campaign, programme=other.programme)))


def test_describe_and_to_dict():
    s = only(suggest(P2025, base("structure_reasons_confort_2025")), "DUPLICATE_STRUCTURE")
    assert s.changes == ["retirer /structures/17"]
    assert json.loads(json.dumps(s.to_dict()))["patch"] == [{"op": "remove", "path": "/structures/17"}]
    assert describe_patch([{"op": "add", "path": "/structures/-", "value": {"finess": "1", "name": "n",
                                                                           "department": "29"}}]) == [
        "ajouter à /structures : 1 (n, département 29)"]


# ---- properties ---------------------------------------------------------------------------------------
def shared_2025() -> list[dict]:
    out = []
    for f in sorted(SHARED.glob("c25_*.json")):
        out.append(json.loads(f.read_text(encoding="utf-8"))["dossier"])
    for f in sorted(INPUTS.glob("*_2025.json")):
        out.append(json.loads(f.read_text(encoding="utf-8")))
    return out


BASES = shared_2025()
LATE = ["2025-09-16T00:00:00+02:00", "2025-09-15T23:30:00-05:00", "2025-06-02T00:00:01+02:00",
        "2025-10-01T08:00:00Z", "2025-09-15T22:00:00Z", "2025-06-01T21:59:59Z"]
EARLY = ["2025-05-31T12:00:00+02:00", "2025-09-15T23:59:59+02:00"]
DEPARTMENTS = ["59", "29", "13", "2A", "974", "75", "33"]


@st.composite
def failing_dossiers(draw):
    d = copy.deepcopy(draw(st.sampled_from(BASES)))
    structures = d["structures"]
    keep = draw(st.integers(0, len(structures)))
    if draw(st.booleans()):                                             # drop structures
        structures[:] = structures[:keep]
    for _ in range(draw(st.integers(0, 3))):                            # structure-level defects
        if not structures:
            break
        s = structures[draw(st.integers(0, len(structures) - 1))]
        kind = draw(st.sampled_from(["casf", "confort", "dup", "dept", "sector", "share"]))
        if kind == "casf":
            s["casf_item"] = None
        elif kind == "confort":
            s["confort_share"] = 1.0
        elif kind == "dup":
            structures.append(copy.deepcopy(s))
        elif kind == "dept":
            s["department"] = draw(st.sampled_from(DEPARTMENTS))
        elif kind == "sector":
            s["sector"] = draw(st.sampled_from(["AHI", "PJM", "PA"]))
        else:
            s["confort_share"] = draw(st.sampled_from([0.0, 0.5, 0.99]))
    if draw(st.booleans()):                                             # grow beyond 50, several regions
        n = draw(st.integers(1, 45))
        for k in range(n):
            src = copy.deepcopy(structures[k % len(structures)]) if structures else None
            if src is None:
                break
            src["finess"] = f"{k:03d}{777000 + k:06d}"
            src["department"] = draw(st.sampled_from(DEPARTMENTS))
            structures.append(src)
    d["submitted_at"] = draw(st.sampled_from(LATE + EARLY + [d["submitted_at"]]))
    d["call"] = draw(st.sampled_from(["regional", "national", d["call"]]))
    sw = d["software"]
    sw["segur_referenced"] = draw(st.booleans())
    sw["mes_compatible"] = draw(st.booleans())
    sw["resah_referenced"] = draw(st.booleans())
    sw["segur_candidate_on"] = draw(st.sampled_from([None, "2025-01-10", "2025-12-20", "2026-03-01"]))
    d["convention_signed_on"] = draw(st.sampled_from([None, "2025-12-01", d["convention_signed_on"]]))
    d["other_eu_funding"] = draw(st.lists(
        st.fixed_dictionaries({"programme": st.sampled_from(["FEDER", "FSE+", "<b>Interreg</b>"]),
                               "same_object": st.booleans()}), max_size=3))
    return d


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(failing_dossiers())
def test_property_every_suggestion_lifts_its_reason_2025(dossier):
    p = esms_rules.load_policy(P2025)
    sugs = check_all(p, dossier)
    # completeness for 2025: every blocking reason gets a suggestion
    decision = p.evaluate(dossier)
    want = [("dossier", r.code, None) for r in decision.reasons] + [
        ("structure", r.code, i) for i, s in enumerate(decision.structures) for r in s.reasons]
    assert sorted(want, key=str) == sorted(((s.level, s.code, s.index) for s in sugs), key=str)
    for code in sorted({s.code for s in sugs}) or ["(eligible)"]:
        event(code)


@pytest.mark.parametrize("policy_id", ["esms-numerique-2021", "esms-numerique-2022", "esms-numerique-2023",
                                       "esms-numerique-2024", "mes-pilotes-2023"])
def test_property_other_policies(policy_id):
    """Generated dossiers (tests/strategies.py) for every other bundled policy: same guarantee."""
    from strategies import dossiers
    p = policy(policy_id)

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(dossiers(policy=policy_id))
    def run(dossier):
        check_all(p, dossier)
    run()
