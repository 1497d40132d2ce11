"""The campaign report (esms_rules.campaign_report): exact aggregates on a hand-made campaign,
escaping of hostile dossier text, CSV formula injection, the JSON shape, determinism, the CLI."""
from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from campaign_fixture import FINDINGS, HOSTILE_ID, campaign, decide, dossier, structure  # noqa: E402

from esms_rules import campaign_report as cr  # noqa: E402

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def made():
    return campaign()


@pytest.fixture(scope="module")
def summary(made):
    dossiers, rows, findings = made
    return cr.summarise(rows, dossiers, findings)


@pytest.fixture(scope="module")
def page(made):
    dossiers, rows, findings = made
    return cr.to_html(rows, dossiers, findings)


# ---- aggregates ------------------------------------------------------------------------------
def test_totals(summary):
    assert summary["totals"] == {"dossiers": 8, "decided": 6, "eligible": 3, "ineligible": 2, "not_recevable": 1,
                                 "invalid": 2}


def test_by_region(summary):
    got = {r["region"]: (r["eligible"], r["ineligible"], r["not_recevable"], r["invalid"], r["total"])
           for r in summary["by_region"]}
    assert got == {"Bretagne": (2, 0, 0, 1, 3), "Hauts-de-France": (0, 0, 1, 0, 1), "Île-de-France": (0, 1, 0, 0, 1),
                   "La Réunion": (0, 1, 0, 0, 1), "multiregional": (1, 0, 0, 0, 1), "unknown": (0, 0, 0, 1, 1)}
    # French alphabetical order, accents aside; then the several-regions and unknown rows
    assert [r["region"] for r in summary["by_region"]] == ["Bretagne", "Hauts-de-France", "Île-de-France",
                                                           "La Réunion", "multiregional", "unknown"]


def test_by_call(summary):
    got = {r["call"]: (r["eligible"], r["ineligible"], r["not_recevable"], r["invalid"]) for r in summary["by_call"]}
    assert got == {"regional": (3, 2, 0, 1), "national": (0, 0, 1, 0), "unknown": (0, 0, 0, 1)}


def test_reasons_by_frequency(summary):
    got = [(r["code"], r["level"], r["dossiers"], r["share"], r["structures"]) for r in summary["reasons"]]
    third, sixth = Decimal("0.3333"), Decimal("0.1667")
    assert got == [("GROUPING_TOO_SMALL", "dossier", 2, third, 0), ("LATE_SUBMISSION", "dossier", 1, sixth, 0),
                   ("NOT_ESSMS", "structure", 1, sixth, 1), ("WRONG_CALL", "dossier", 1, sixth, 0)]
    assert summary["warnings"] == []


def test_counted_structures_by_sector_and_territory(summary):
    st = summary["structures"]
    assert st["territories"] == ["metropole", "outre-mer"]
    got = {r["sector"]: (r["counted"], r["total"], r["in_eligible_dossiers"]) for r in st["by_sector"]}
    assert got == {"PA": ({"metropole": 34, "outre-mer": 3}, 37, 34),
                   "PH": ({"metropole": 17, "outre-mer": 0}, 17, 0),
                   "domicile": ({"metropole": 16, "outre-mer": 0}, 16, 16)}
    assert (st["total"], st["in_eligible_dossiers"]) == (70, 50)


def test_amounts_where_a_bareme_exists(summary):
    am = summary["amounts"]
    assert am["dossiers"] == 1 and am["total_eur"] == Decimal("180000")
    assert am["by_region"] == [{"region": "Bretagne", "dossiers": 1, "amount_eur": Decimal("180000")}]
    assert am["by_call"] == [{"call": "regional", "dossiers": 1, "amount_eur": Decimal("180000")}]


def test_policies_and_invalid_rows(summary):
    assert [(p["id"], p["dossiers"]) for p in summary["policies"]] == [("esms-numerique-2021", 1),
                                                                        ("esms-numerique-2025", 5)]
    assert all(re.fullmatch(r"[0-9a-f]{64}", p["sha256"]) for p in summary["policies"])
    assert [(r["row"], r["dossier"]) for r in summary["invalid"]] == [(5, "E-BAD"), (8, None)]
    assert summary["invalid"][0]["problems"][0]["path"] == "structures[0].department"


def test_findings_as_given(summary):
    assert [f["code"] for f in summary["findings"]] == ["FINESS_IN_OTHER_DOSSIER", "PILOTS_CAP"]
    assert summary["findings"][0]["others"] == [HOSTILE_ID, "G-MULTI"]


def test_campaign_warnings_on_decisions_count_their_structures(made):
    """The campaign adds its findings to the decisions' warnings (structure level, one per structure)."""
    import attrs

    from esms_rules import Reason
    dossiers, rows, _ = made
    found = [Reason("FINESS_IN_OTHER_DOSSIER", "finess_in_other_dossier", "…", "…", "structure", "warning")] * 2
    rows = [attrs.evolve(r, warnings=(*r.warnings, *found)) if k in (0, 6) else r for k, r in enumerate(rows)]
    warnings = cr.summarise(rows, dossiers)["warnings"]
    assert [(w["code"], w["level"], w["dossiers"], w["structures"]) for w in warnings] == [
        ("FINESS_IN_OTHER_DOSSIER", "structure", 2, 4)]


def test_results_and_dossiers_must_pair():
    with pytest.raises(ValueError, match="one result per dossier"):
        cr.summarise([], [{}])


# ---- JSON ---------------------------------------------------------------------------------------
def test_json_shape(made):
    dossiers, rows, findings = made
    doc = json.loads(cr.report_text("json", rows, dossiers, findings))
    assert set(doc) == {"report", "version", "engine", "policies", "dossiers_sha256", "totals", "by_region",
                        "by_call", "reasons", "warnings", "structures", "amounts", "findings", "invalid"}
    assert doc["version"] == 1 and re.fullmatch(r"sha256:[0-9a-f]{64}", doc["dossiers_sha256"])
    assert set(doc["by_region"][0]) == {"region", "eligible", "ineligible", "not_recevable", "invalid", "total"}
    assert set(doc["reasons"][0]) == {"code", "rule", "level", "dossiers", "share", "structures"}
    assert doc["reasons"][0]["share"] == 0.3333
    assert doc["amounts"]["total_eur"] == 180000
    assert set(doc["findings"][0]) == {"code", "rule", "severity", "dossier", "finess", "others", "message", "source"}


# ---- CSV ------------------------------------------------------------------------------------------
def read_csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:], newline=""), delimiter=";"))


def test_csv_one_row_per_dossier(made):
    dossiers, rows, findings = made
    text = cr.report_text("csv", rows, dossiers, findings)
    assert "\r\n" in text
    table = read_csv(text)
    assert [r["row"] for r in table] == [str(i) for i in range(1, 9)]
    a, b, d, hostile, g = table[0], table[1], table[3], table[5], table[6]
    assert (a["dossier"], a["status"], a["eligible"], a["call"], a["n_counted"]) == ("A-BRE", "éligible", "oui",
                                                                                     "regional", "16")
    assert a["findings"] == f"FINESS_IN_OTHER_DOSSIER ({HOSTILE_ID} G-MULTI)"
    assert (b["recevable"], b["call_filed"], b["call"], b["reasons"]) == ("non", "national", "regional",
                                                                          "WRONG_CALL, LATE_SUBMISSION")
    assert d["amount_eur"] == "180000,00" and d["policy"] == "esms-numerique-2021"
    assert hostile["dossier"] == HOSTILE_ID and hostile["reasons"] == "GROUPING_TOO_SMALL, NOT_ESSMS@750000028"
    assert g["regions"] == "Bretagne | Hauts-de-France"
    assert table[4]["status"] == "invalide" and table[4]["problems"].startswith("structures[0].department:")
    assert table[7]["problems"] == "$: a dossier is a JSON object, not a list"


@pytest.mark.parametrize("ident", ["=1+2", "+33 1 23", "-2", "@SUM(A1)", "\tx", "=HYPERLINK(\"http://x\";\"y\")"])
def test_csv_neutralises_formulas(ident):
    d = dossier(ident, [structure("29", k) for k in range(16)])
    table = read_csv(cr.report_text("csv", decide([d]), [d]))
    assert table[0]["dossier"] == "'" + ident


# ---- HTML -------------------------------------------------------------------------------------------
class Elements(HTMLParser):
    """Every start tag and attribute of a page, for assertions on its structure."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(page: str) -> list[tuple[str, dict]]:
    p = Elements()
    p.feed(page)
    return p.tags


def test_html_is_french_self_contained_and_runs_no_script(page):
    assert page.startswith("<!DOCTYPE html>\n<html lang=\"fr\">")
    tags = elements(page)
    names = {t for t, _ in tags}
    assert "script" not in names and "img" not in names and "iframe" not in names and "object" not in names
    for tag, attrs in tags:
        assert not any(k.startswith("on") for k in attrs), (tag, attrs)
        for k in ("src", "href", "xlink:href"):
            v = attrs.get(k)
            if v is not None:
                assert not re.match(r"(?i)\s*(https?:|//|javascript:)", v), (tag, k, v)
    assert "@import" not in page and "url(http" not in page
    csp = next(a["content"] for t, a in tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src" not in csp


def test_html_sections_and_charts(page):
    for heading in ("Dossiers par région", "Dossiers par appel à projets", "Motifs et avertissements par fréquence",
                    "Structures comptées par secteur et territoire", "Montants", "Constats entre dossiers (2)",
                    "Dossiers (8)", "Reproductibilité"):
        assert heading in page
    assert page.count('<svg class="chart"') == 4
    assert "180 000,00 €" in page
    assert "33,3 %" in page
    ids = [a["id"] for _, a in elements(page) if "id" in a]
    assert len(ids) == len(set(ids)), "ids repeated across the inline SVGs"
    assert "<style" not in page.split("</head>", 1)[1], "an SVG's global style leaked into the body"


def test_html_escapes_every_dossier_string(page):
    assert "<script>alert" not in page and "<b>de la campagne</b>" not in page
    assert "&lt;script&gt;alert(&#x27;id&#x27;)&lt;/script&gt;&quot;&#x27;&amp;" in page
    assert "&lt;b&gt;de la campagne&lt;/b&gt;" in page
    # the only elements are the report's own: none comes from a dossier or a finding
    assert {t for t, _ in elements(page)} <= {
        "html", "head", "meta", "link", "title", "style", "body", "h1", "h2", "h3", "p", "ul", "li", "strong",
        "section", "figure", "figcaption", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "span", "code",
        "a", "br", "svg", "defs", "g", "path", "use", "clippath", "pattern", "rect", "text"}


def test_html_links_each_dossier_to_its_own_report(made, tmp_path):
    dossiers, rows, findings = made
    out = tmp_path / "campagne.html"
    cr.write(out, "html", rows, dossiers, findings)
    folder = tmp_path / "campagne.dossiers"
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["00001-A-BRE.html", "00002-B-HDF.html", "00003-C-REU.html", "00004-D-2021.html",
                     "00006-script_alert_id_script.html", "00007-G-MULTI.html"]
    page = out.read_text(encoding="utf-8")
    hrefs = [a["href"] for t, a in elements(page) if t == "a"]
    for href in hrefs:
        if not href.startswith("#"):
            assert (tmp_path / href).is_file(), href
    # the findings table links the dossier and the others to their reports; invalid rows to their line
    assert "campagne.dossiers/00001-A-BRE.html" in hrefs
    assert "campagne.dossiers/00006-script_alert_id_script.html" in hrefs
    assert "#dossier-5" in hrefs and "#dossier-8" in hrefs
    assert "Dossier recevable, éligible." in (folder / "00001-A-BRE.html").read_text(encoding="utf-8")


def test_dossier_file_names_are_safe():
    assert cr.dossier_file(3, "../../etc/passwd") == "00003-etc_passwd.html"
    assert cr.dossier_file(12, None) == "00012.html"
    assert cr.dossier_file(1, "é" * 80) == "00001.html"
    assert len(cr.dossier_file(1, "x" * 500)) == len("00001-") + 40 + len(".html")


# ---- determinism, imports ------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", cr.FORMATS)
def test_same_input_same_bytes(fmt):
    first, second = campaign(), campaign()
    assert cr.report_text(fmt, first[1], first[0], first[2]) == cr.report_text(fmt, second[1], second[0], second[2])


def test_importing_esms_rules_does_not_import_matplotlib():
    code = ("import sys, esms_rules, esms_rules.campaign_report, esms_rules.cli; "
            "print(any(m.split('.')[0] == 'matplotlib' for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- CLI ------------------------------------------------------------------------------------------------
def test_campaign_command_writes_the_report(made, tmp_path, run_cli):
    """`esms-rules campaign --format html|json|csv`: every input row in the report, the campaign's
    findings with it, exit code 2 for the invalid rows (the report written all the same)."""
    dossiers = made[0]
    src = tmp_path / "campagne.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in dossiers) + "{pas du json\n", encoding="utf-8")
    res = run_cli("campaign", src, "--format", "json", "-o", tmp_path / "c.json")
    assert res.exit_code == 2, res.output
    doc = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert doc["totals"]["dossiers"] == 9 and doc["totals"]["invalid"] == 3
    assert doc["invalid"][-1]["row"] == 9 and "JSON" in doc["invalid"][-1]["problems"][0]["message"]
    # the hostile dossier and G-MULTI share no FINESS with the others: the campaign finds nothing here
    assert doc["totals"]["eligible"] == 3
    res = run_cli("campaign", src, "--format", "csv", "-o", tmp_path / "c.csv")
    assert res.exit_code == 2, res.output
    assert len(read_csv((tmp_path / "c.csv").read_bytes().decode("utf-8"))) == 9
    res = run_cli("campaign", src, "--format", "html", "-o", tmp_path / "c.html")
    assert res.exit_code == 2, res.output
    report = (tmp_path / "c.dossiers" / "00001-A-BRE.html").read_text(encoding="utf-8")
    assert "Trace non disponible" not in report          # the dossiers' reports have their trace
    res = run_cli("campaign", src, "--format", "html", "--no-dossier-reports", "-o", tmp_path / "d.html")
    assert res.exit_code == 2 and not (tmp_path / "d.dossiers").exists()


def test_campaign_findings_reach_the_report(tmp_path, run_cli):
    """Two dossiers sharing a FINESS: the campaign's FINESS_IN_OTHER_DOSSIER is in the findings table,
    linked to both dossiers' reports, and counted among the warnings."""
    a = dossier("X-1", [structure("29", k) for k in range(16)])
    b = dossier("X-2", [structure("29", k) for k in range(15)] + [structure("35", 99)])
    src = tmp_path / "deux.jsonl"
    src.write_text(json.dumps(a) + "\n" + json.dumps(b) + "\n", encoding="utf-8")
    res = run_cli("campaign", src, "--format", "json", "-o", tmp_path / "deux.json")
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "deux.json").read_text(encoding="utf-8"))
    shared = [f for f in doc["findings"] if f["code"] == "FINESS_IN_OTHER_DOSSIER"]
    assert len(shared) == 30 and {f["dossier"] for f in shared} == {"X-1", "X-2"}
    assert [(w["code"], w["dossiers"], w["structures"]) for w in doc["warnings"]
            if w["code"] == "FINESS_IN_OTHER_DOSSIER"] == [("FINESS_IN_OTHER_DOSSIER", 2, 30)]
    res = run_cli("campaign", src, "--format", "html", "-o", tmp_path / "deux.html")
    page = (tmp_path / "deux.html").read_text(encoding="utf-8")
    assert 'href="deux.dossiers/00002-X-2.html"' in page and "Constats entre dossiers (30)" in page


def test_findings_as_objects_read_like_dicts(made):
    import attrs

    @attrs.frozen
    class Finding:
        code: str
        rule: str
        severity: str
        dossier: str | None
        finess: str | None
        others: tuple[str, ...]
        message: str
        source: str

    dossiers, rows, _ = made
    objects = [Finding(**{**f, "others": tuple(f["others"])}) for f in FINDINGS]
    assert cr.summarise(rows, dossiers, objects)["findings"] == cr.summarise(rows, dossiers, FINDINGS)["findings"]
