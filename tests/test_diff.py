"""The semantic diff (`esms_rules.diff`): mutations of every bundled policy are found, with a
witness that both policies decide differently; reformatted or renamed copies show none."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import attrs
import pytest

from esms_rules import load_policy
from esms_rules.cli import main
from esms_rules.diff import change, class_key, corpus_impact, diff, render_json, render_text
from esms_rules.fmt import format_source
from esms_rules.load import bundled_dir

CONVENTION_PENDING = re.compile(r"\nexception convention_pending to ahi_candidate \{.*?\n\}\n", re.S)


def _copy(tmp_path: Path, name: str, edits: dict[str, list[tuple]]) -> Path:
    """A copy of bundled policy `name` (and its imports) in tmp_path, with text edits per file."""
    for f in bundled_dir().glob("*.esms"):
        shutil.copy(f, tmp_path / f.name)
    for file, subs in edits.items():
        p = tmp_path / file
        text = p.read_text(encoding="utf-8")
        for old, new in subs:
            if isinstance(old, re.Pattern):
                text, n = old.subn(new, text)
            else:
                n = text.count(old)
                text = text.replace(old, new)
            assert n >= 1, f"mutation {old!r} does not apply to {file}"
        p.write_text(text, encoding="utf-8")
    return tmp_path / f"{name}.esms"


def _verified(report, old, new):
    for x in report.differences:
        a, b = old.evaluate(x.witness), new.evaluate(x.witness)
        assert change(a, b) == x.atoms and class_key(x.atoms) == x.key and x.atoms, x.summary
        assert sum(len(v) for v in x.witness.values() if isinstance(v, list)) <= 60


SWAP = [("priority 2\n  applies  only_pjm", "priority 1\n  applies  only_pjm"),
        ("priority 1\n  applies  only_ahi_or_pjm", "priority 2\n  applies  only_ahi_or_pjm")]
AHI_PJM_ONLY = re.compile(r"\nexception ahi_pjm_only .*?\n\}\n", re.S)
EDITOR = "when     not (software.resah_referenced or software.segur_referenced)"
C21, C22, C23, C24, C25, PIL = ("esms-numerique-2021", "esms-numerique-2022", "esms-numerique-2023",
                                "esms-numerique-2024", "esms-numerique-2025", "mes-pilotes-2023")
COMMON = "common"

# (policy, file changed (a module name), [(old text, new text)], a declaration the diff must name as a cause)
MUTATIONS = [
    (C25, C25, [("= 2025-09-15", "= 2025-09-16")], "regional_deadline"),                  # deadline + 1 day
    (C25, C25, SWAP, "pjm_only"),                                                           # priorities swapped
    (C25, C25, [("national_deadline = 2025-06-01", "national_deadline = 2025-05-31")], "national_deadline"),
    (C25, COMMON, [('"corse": 8', '"corse": 9')], "minimum_size"),                          # a table row
    (C25, COMMON, [("if n >= 50 and multiregional", "if n >= 49 and multiregional")], "expected_call"),
    (C25, C25, [(CONVENTION_PENDING, "\n")], "convention_pending"),                        # an exception removed
    (C25, COMMON, [("when     s.confort_share >= 1", "when     not (s.confort_share >= 1)")], "confort_only"),
    (C25, C25, [('s.sector in ["AHI", "PJM"]', 's.sector in ["AHI", "PJM", "PA"]')], "only_ahi_or_pjm"),
    (C24, C24, [("= 2024-06-01", "= 2024-06-02")], "multiregional_deadline"),
    (C23, C23, [(AHI_PJM_ONLY, "\n")], "ahi_pjm_only"),
    (C23, C23, [('s.sector in ["AHI", "PJM"]', 's.sector in ["AHI", "PJM", "PH"]')], "only_ahi_or_pjm"),
    (C22, C22, [(EDITOR, "when     software.resah_referenced or software.segur_referenced")], "editor_not_referenced"),
    (C22, C22, [("national_deadline = 2022-07-18", "national_deadline = 2022-07-17")], "national_deadline"),
    (C21, C21, [('"acquisition": 25000', '"acquisition": 25001')], "forfait"),
    (C21, C21, [("if n >= 50 then", "if n >= 51 then")], "expected_call"),
    (C21, C21, [("= 2021-10-15\n  source", "= 2021-10-14\n  source")], "regional_deadline"),
    (PIL, PIL, [('s.sector in ["PA", "PH"]', 's.sector in ["PA", "PH", "AHI"]')], "covered"),
    (PIL, PIL, [("when     n > 1\n", "when     n > 2\n")], "grouping_too_large"),     # a threshold + 1
]
FAST = {0, 1, 16}   # deadline, priorities, a function (read through the interpreter); the rest: slow


@pytest.mark.parametrize("i", [pytest.param(i, marks=() if i in FAST else pytest.mark.slow)
                               for i in range(len(MUTATIONS))])
def test_mutation_is_found_with_a_verified_witness(tmp_path, i):
    name, module, subs, cause = MUTATIONS[i]
    edits = {module + ".esms": subs}
    old, new = load_policy(name), load_policy(_copy(tmp_path, name, edits))
    report = diff(old, new, searches=1200, shrink_budget=150)
    assert report.differences, f"no difference found for {edits}"
    _verified(report, old, new)
    named = {c.name for x in report.differences for c in x.causes}
    assert cause in named, (cause, named)
    assert any(c.old_span or c.new_span for x in report.differences for c in x.causes)


def test_reformatted_renamed_recited_copy_has_no_difference(tmp_path):
    src = (bundled_dir() / "esms-numerique-2025.esms").read_text(encoding="utf-8")
    text = format_source(src)
    text = re.sub(r"\bonly_pjm\b", "seulement_pjm", text)          # a definition renamed
    text = text.replace("Projet AHI : la convention", "Projet AHI : convention")   # a message
    text = text.replace("ANS FAQ (PE", "FAQ de l'ANS (PE")                         # a citation
    text = "# un commentaire\n" + text
    p = tmp_path / "esms-numerique-2025.esms"
    p.write_text(text, encoding="utf-8")
    report = diff("esms-numerique-2025", p, searches=600)
    assert report.differences == ()
    assert "aucune différence trouvée par 600 recherches" in report.guarantee
    out = json.loads(render_json(report))
    assert out["differences"] == [] and out["complete"] is False and out["method"] == "search"


def test_real_difference_2024_2025_json_and_text():
    old, new = load_policy("esms-numerique-2024"), load_policy("esms-numerique-2025")
    report = diff(old, new, searches=800, shrink_budget=150)
    _verified(report, old, new)
    out = json.loads(render_json(report))
    assert out["bound"] == {"searches": 800, "max_structures": 60, "invalid": 0}
    for x in out["differences"]:
        assert {"summary", "causes", "witness", "old", "new"} <= set(x)
        for side in ("old", "new"):
            assert {"eligible", "recevable", "call", "amount_eur", "reasons", "warnings"} <= set(x[side])
        for c in x["causes"]:
            assert c["old_span"] or c["new_span"]
    text = render_text(report)
    assert "Méthode : recherche guidée" in text and "regional_deadline" in text
    assert any("AHI_CANDIDATE_TOO_LATE" in x["summary"] for x in out["differences"])


def test_corpus_every_changed_dossier_is_explained(tmp_path):
    from esms_rules.search import Space
    old, new = load_policy("esms-numerique-2024"), load_policy("esms-numerique-2025")
    report = diff(old, new, searches=1500, shrink_budget=100)
    space = Space([old.checked, new.checked], seed=12345)
    corpus = [{**space.draw(), "id": f"C{i}"} for i in range(150)]
    impact = corpus_impact(report, old, new, corpus)
    assert impact["dossiers"] == 150 and not impact["invalid"]
    assert impact["unexplained"] == []
    counted = sum(c["count"] for c in impact["classes"]) + len(impact["combined"]) + impact["unchanged"]
    assert counted == 150
    # and the command line reads the corpus
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus[:20]), encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["diff", "esms-numerique-2024", "esms-numerique-2025", "--searches", "300", "--format", "json",
              "--corpus", str(path), "-o", str(tmp_path / "out.json")])
    assert e.value.code == 1
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
    assert out["corpus"]["dossiers"] == 20
    # Parquet gives the same impact as JSON Lines
    pa, pq = pytest.importorskip("pyarrow"), pytest.importorskip("pyarrow.parquet")
    from esms_rules.diff import read_corpus
    pq.write_table(pa.Table.from_pylist(corpus[:20]), tmp_path / "corpus.parquet")
    rows = read_corpus(str(tmp_path / "corpus.parquet"))
    assert corpus_impact(report, old, new, rows) == corpus_impact(report, old, new, corpus[:20])


def test_cli_no_difference_exit_0_and_text(capsys):
    with pytest.raises(SystemExit) as e:
        main(["diff", "esms-numerique-2025", "esms-numerique-2025", "--searches", "100"])
    assert e.value.code == 0
    assert "Aucune différence trouvée" in capsys.readouterr().out


def test_html_is_self_contained_and_escaped(tmp_path):
    from esms_rules.diff import render_html
    report = diff("esms-numerique-2022", "esms-numerique-2023", searches=200, shrink_budget=50)
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and "Content-Security-Policy" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert page.count('class="sides"') == len(report.differences) >= 1
    hostile = report.differences[0]
    import attrs
    bad = attrs.evolve(report, differences=(attrs.evolve(hostile, witness={**hostile.witness, "id": "<b>x</b>"}),))
    assert "<b>x</b>" not in render_html(bad) and "&lt;b&gt;x&lt;/b&gt;" in render_html(bad)


def test_html_in_chromium_logs_nothing_and_shows_both_decisions(tmp_path):
    from test_html_browser import CHROMIUM, chromium, console_lines
    if CHROMIUM is None:
        pytest.skip("no Chromium at /usr/bin/chromium")
    page = tmp_path / "diff.html"
    with pytest.raises(SystemExit):
        main(["diff", "esms-numerique-2024", "esms-numerique-2025", "--searches", "300",
              "--format", "html", "-o", str(page)])
    dom = chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    assert "esms-numerique-2024 → esms-numerique-2025" in dom.stdout
    assert dom.stdout.count('<div class="sides">') >= 1 and "AHI_CANDIDATE_TOO_LATE" in dom.stdout


def test_cli_unknown_policy_or_corpus_is_an_input_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["diff", "esms-numerique-2025", "no-such-policy"])
    assert e.value.code == 2 and "no-such-policy" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["diff", "esms-numerique-2025", "esms-numerique-2025", "--searches", "10", "--corpus", str(bad)])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "bad.jsonl:1" in err and "Traceback" not in err


# ---- campaign rules ----------------------------------------------------------------------------
CAMPAIGN_EDITS = {
    "common.esms": [("group by s.finess", "group by s.name"),
                    ("f.programme == programme\n",
                     "f.programme == programme and f.software_action == software.action\n")],
    "mes-pilotes-2023.esms": [("def pilots: int = 56", "def pilots: int = 57"),
                              ("where eligible and passes(s)", "where eligible")],
}


def test_campaign_rules_changed_are_reported_with_what_changed_and_their_citation(tmp_path, capsys):
    edited = _copy(tmp_path, PIL, CAMPAIGN_EDITS)
    old, new = load_policy(PIL), load_policy(edited)
    report = diff(old, new, searches=40, shrink_budget=20)
    by = {c.name: c for c in report.campaign_changes}
    assert set(by) == {"finess_in_other_dossier", "already_funded", "pilots_over_cap"}
    assert by["finess_in_other_dossier"].detail == "regroupement `group by` `s.finess` → `s.name`"
    assert "jointure `on`" in by["already_funded"].detail and "f.software_action == software.action" \
        in by["already_funded"].detail
    cap = by["pilots_over_cap"].detail         # the threshold moved through the constant it reads
    assert "condition `where` des lignes `eligible and passes(s)` → `eligible`" in cap
    assert "lit la définition `pilots` (valeur 56 → 57)" in cap
    assert "« Au nombre de 56" in by["pilots_over_cap"].source
    assert all(c.old_span and c.new_span for c in by.values())
    # never the cause of a dossier's difference: a dossier's decision does not read them
    assert not any(c.kind == "campaign rule" for x in report.differences for c in x.causes)
    out = json.loads(render_json(report))
    assert [c["name"] for c in out["campaign_rules_changed"]] == list(by)
    assert all(c["source"] for c in out["campaign_rules_changed"])
    text = render_text(report)
    assert "Règles de campagne" in text and "règle de campagne `pilots_over_cap`" in text and "source : [C]" in text
    with pytest.raises(SystemExit) as e:         # a campaign rule changed is a difference: exit 1
        main(["diff", PIL, str(edited), "--searches", "20"])
    assert e.value.code == 1


def test_campaign_rule_added_or_removed_and_the_threshold(tmp_path):
    removed = re.compile(r"\ncampaign rule pilots_over_cap .*?\n\}\n", re.S)
    new = load_policy(_copy(tmp_path, PIL, {"mes-pilotes-2023.esms": [(removed, "\n")]}))
    (gone,) = diff(PIL, new, searches=20).campaign_changes
    assert (gone.name, gone.detail, gone.new_span) == ("pilots_over_cap", "supprimée", None)
    assert "« Au nombre de 56" in gone.source
    (added,) = diff(new, PIL, searches=20).campaign_changes
    assert (added.detail, added.old_span) == ("ajoutée", None)
    literal = load_policy(_copy(tmp_path, PIL, {"mes-pilotes-2023.esms": [("total > pilots", "total > 60")]}))
    (threshold,) = diff(PIL, literal, searches=20).campaign_changes
    assert threshold.detail == "condition `when` `total > pilots` → `total > 60`"


def test_campaign_rule_messages_and_citations_are_not_a_change(tmp_path):
    edits = {"mes-pilotes-2023.esms": [("ESMS pilotes sont retenus", "ESMS pilotes retenus"),
                                       ("plafond des pilotes :", "plafond :")]}
    report = diff(PIL, load_policy(_copy(tmp_path, PIL, edits)), searches=20)
    assert report.campaign_changes == () and not report.differs


def test_corpus_lists_the_campaign_findings_that_change(tmp_path):
    example = json.loads((Path(__file__).resolve().parents[1] / "examples" / "dossier-2025.json")
                         .read_text(encoding="utf-8"))
    corpus = [{**example, "id": "A"}, {**example, "id": "B"}]       # the same 16 structures twice
    stricter = {"common.esms": [("when     count(others) > 0", "when     count(others) > 1")]}
    old, new = load_policy(C25), load_policy(_copy(tmp_path, C25, stricter))
    report = diff(old, new, searches=20)
    history = [{"finess": example["structures"][0]["finess"], "programme": "esms-numerique", "campaign": "2023",
                "software_action": "acquisition", "dossier": "OLD-1"}]
    found = corpus_impact(report, old, new, corpus, history)["campaign"]
    assert (found["old"], found["new"]) == (34, 2)        # 2 × 16 FINESS in the other dossier, 2 already funded
    assert len(found["lost"]) == 32 and found["gained"] == [] and found["changed"] == []
    assert {f["code"] for f in found["lost"]} == {"FINESS_IN_OTHER_DOSSIER"}
    assert found["lost"][0]["others"] == ["B"] and found["lost"][0]["dossier"] == "A"
    text = render_text(attrs.evolve(report, corpus=corpus_impact(report, old, new, corpus)))
    assert "Constats entre dossiers (règles de campagne) : 32 selon esms-numerique-2025, 0 selon" in text
    assert "disparu : FINESS_IN_OTHER_DOSSIER (finess_in_other_dossier), dossier A, structure" in text
    # the command: --history goes with --corpus
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in corpus), encoding="utf-8")
    funded = tmp_path / "funded.csv"
    funded.write_text("finess,programme,campaign,software_action,dossier\n"
                      f"{example['structures'][0]['finess']},esms-numerique,2023,acquisition,OLD-1\n", encoding="utf-8")
    with pytest.raises(SystemExit) as e:
        main(["diff", C25, str(_copy(tmp_path, C25, stricter)), "--searches", "20", "--format", "json",
              "--corpus", str(path), "--history", str(funded), "-o", str(tmp_path / "out.json")])
    assert e.value.code == 1
    out = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["corpus"]["campaign"]
    assert (out["old"], out["new"], len(out["lost"])) == (34, 2, 32)
    with pytest.raises(SystemExit) as e:
        main(["diff", C25, C25, "--searches", "5", "--history", str(funded)])
    assert e.value.code == 2
