"""Campaign rules evaluated: small hand-made campaigns, the history file, the pilots' cap, the
order of rows and error rows, the API over an Arrow table, and `esms-rules campaign`."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from esms_rules import load_policy
from esms_rules.campaign import CampaignResult, Finding, HistoryError, evaluate_campaign, read_history
from esms_rules.decision import Decision
from esms_rules.diagnostics import DossierError

ROOT = Path(__file__).resolve().parents[1]
BASE = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))

PILOT = {
    "id": "PM-00", "campaign": 2023, "programme": "mes-pilotes", "call": "national",
    "submitted_at": "2023-10-02T10:00:00+02:00", "convention_signed_on": "2023-12-01",
    "applicant": {"name": "Porteur", "legal_form": "private", "gcsms": False},
    "software": {"action": "acquisition", "segur_referenced": False, "segur_candidate_on": None,
                 "resah_referenced": True, "mes_compatible": True},
    "other_eu_funding": [],
    "structures": [{"finess": "290000980", "name": "FAM", "department": "29", "category": "FAM", "casf_item": 7,
                    "sector": "PH", "financed_by": ["ARS", "CD"], "confort_share": 0.0}],
}
HEADER = "finess,programme,campaign,software_action,dossier\n"


def dossier(ident: str, finesses: list[str], campaign: int = 2025) -> dict:
    """The example 2025 dossier (16 EHPAD), renamed, its first structures given these FINESS."""
    d = copy.deepcopy(BASE)
    d["id"], d["campaign"] = ident, campaign
    for s, f in zip(d["structures"], finesses, strict=False):
        s["finess"] = f
    for k, s in enumerate(d["structures"][len(finesses):]):
        s["finess"] = f"{ident[-2:]}{k:07d}"[-9:].rjust(9, "0")
    return d


def pilot(k: int, eligible: bool = True) -> dict:
    d = copy.deepcopy(PILOT)
    d["id"] = f"PM-{k:02d}"
    d["structures"][0]["finess"] = f"{290000000 + k}"
    if not eligible:
        d["software"]["mes_compatible"] = False
    return d


def codes(row, code: str) -> list:
    """The warnings of `code` on the dossier, then on its structures (where a structure's are)."""
    return [w for w in (*row.warnings, *(w for st in row.structures for w in st.warnings)) if w.code == code]


def warning_codes(record: dict) -> list[str]:
    """The warning codes of a decision's JSON: the dossier's, then its structures'."""
    return [w["code"] for w in (*record["warnings"], *(w for st in record["structures"]
                                                        for w in st.get("warnings", ())))]


# ---- FINESS_IN_OTHER_DOSSIER ---------------------------------------------------------------
def test_same_finess_in_two_dossiers_warns_on_each_naming_the_other():
    result = evaluate_campaign([dossier("D-01", ["750000001"]), dossier("D-02", ["750000001"])])
    a, b = result.rows
    assert isinstance(a, Decision) and isinstance(b, Decision)
    (wa,), (wb,) = codes(a, "FINESS_IN_OTHER_DOSSIER"), codes(b, "FINESS_IN_OTHER_DOSSIER")
    assert "750000001" in wa.message and "D-02" in wa.message and "D-01" not in wa.message
    assert "D-01" in wb.message and wb.rule == "finess_in_other_dossier" and wb.severity == "warning"
    assert wa.level == "structure" and "interprétation" in wa.source and "[I]" in wa.source
    found = [f for f in result.findings if f.code == "FINESS_IN_OTHER_DOSSIER"]
    assert [(f.dossier, f.finess, f.others) for f in found] == [("D-01", "750000001", ("D-02",)),
                                                                 ("D-02", "750000001", ("D-01",))]
    assert found[0].programme == "esms-numerique" and found[0].campaign == 2025
    # the decision itself is unchanged: eligible as alone, the warning added at the end of the
    # structure's own warnings, where the engine lists every structure-level warning
    alone = load_policy("esms-numerique-2025").evaluate(dossier("D-01", ["750000001"]), trace=False)
    assert a.eligible == alone.eligible and a.reasons == alone.reasons and a.warnings == alone.warnings
    assert a.structures[0].warnings[:-1] == alone.structures[0].warnings
    assert a.to_dict(trace=False)["structures"][0]["warnings"][-1] == {
        "code": "FINESS_IN_OTHER_DOSSIER", "rule": "finess_in_other_dossier", "message": wa.message,
        "source": wa.source, "level": "structure", "severity": "warning"}


def test_three_dossiers_and_a_repeat_inside_one_dossier():
    a = dossier("D-01", ["750000001", "750000001"])      # a duplicate inside D-01 is not another dossier
    b = dossier("D-02", ["750000002"])
    c = dossier("D-03", ["750000001", "750000002"])
    result = evaluate_campaign([a, b, c])
    by = {(f.dossier, f.finess): f.others for f in result.findings if f.code == "FINESS_IN_OTHER_DOSSIER"}
    assert by == {("D-01", "750000001"): ("D-03",), ("D-02", "750000002"): ("D-03",),
                  ("D-03", "750000001"): ("D-01",), ("D-03", "750000002"): ("D-02",)}
    assert len(codes(result.rows[0], "FINESS_IN_OTHER_DOSSIER")) == 2    # once per listed structure


def test_only_within_one_programme_and_campaign():
    result = evaluate_campaign([dossier("D-01", ["750000001"]), dossier("D-02", ["750000001"], campaign=2024)])
    assert not [f for f in result.findings if f.code == "FINESS_IN_OTHER_DOSSIER"]
    assert [r.policy_id for r in result.rows] == ["esms-numerique-2025", "esms-numerique-2024"]


def test_no_finding_alone():
    result = evaluate_campaign([dossier("D-01", [])])
    assert result.findings == [] and isinstance(result, CampaignResult)


# ---- ALREADY_FUNDED --------------------------------------------------------------------------
def test_history_names_the_earlier_dossier(tmp_path):
    funded = tmp_path / "funded.csv"
    funded.write_text(HEADER + "750000001,esms-numerique,2023,acquisition,OLD-2023-7\n"
                      "750000001,esms-numerique,2025,acquisition,SAME-YEAR\n"     # not earlier
                      "750000002,mes-pilotes,2023,acquisition,PILOT-1\n"          # another programme
                      "750000003,esms-numerique,2024,mise_en_conformite,OLD-2024-1\n", encoding="utf-8")
    result = evaluate_campaign([dossier("D-01", ["750000001", "750000002", "750000003"])], history=funded)
    found = [(f.finess, f.others) for f in result.findings if f.code == "ALREADY_FUNDED"]
    assert found == [("750000001", ("OLD-2023-7",)), ("750000003", ("OLD-2024-1",))]
    (first, second) = codes(result.rows[0], "ALREADY_FUNDED")
    assert "OLD-2023-7" in first.message and "SAME-YEAR" not in first.message and "2023" in first.message
    assert "mise_en_conformite" in second.message or "mise en conformité" in second.message
    assert first.level == "structure" and first.severity == "warning"


def test_history_as_rows_and_without_history():
    rows = [{"finess": "750000001", "programme": "esms-numerique", "campaign": "2022",
             "software_action": "acquisition", "dossier": "OLD-1"}]
    d = dossier("D-01", ["750000001"])
    assert [f.others for f in evaluate_campaign([d], history=rows).findings] == [("OLD-1",)]
    assert evaluate_campaign([d]).findings == []


@pytest.mark.parametrize("text, line, column, words", [
    (HEADER + "750000001,esms-numerique,20x3,acquisition,OLD\n", 2, 3, "`campaign`: `20x3` is not a whole number"),
    (HEADER + "7500,esms-numerique,2023,acquisition,OLD\n", 2, 1, "`finess`: `7500` is not 9 characters long"),
    (HEADER + "750000001,esms-numerique,2023,acquisition,OLD\n750000002,esms,2023,acquisition,OLD\n", 3, 2,
     "`programme`: `esms` is not one of"),
    (HEADER + "750000001,esms-numerique,2023,acquisition\n", 2, None, "4 cells, but the header names 5"),
    (HEADER + "750000001,esms-numerique,2023,acquisition,\n", 2, 5, "`dossier`: is empty"),
    ("finess,programme,campaign,dossier\n", 1, None, "missing column(s) `software_action`"),
    ("", 1, None, "the history file is empty"),
])
def test_bad_history_rows_name_line_and_column(tmp_path, text, line, column, words):
    funded = tmp_path / "funded.csv"
    funded.write_text(text, encoding="utf-8")
    with pytest.raises(HistoryError) as info:
        evaluate_campaign([dossier("D-01", [])], history=funded)
    e = info.value
    assert (e.line, e.column) == (line, column) and words in e.message, str(e)
    assert str(e).startswith(f"{funded}:{line}" + (f":{column}:" if column else ":"))


def test_history_header_is_read_loosely():
    record = load_policy("esms-numerique-2025").checked.history
    assert record is not None
    rows = read_history(["Finess,Programme,Campaign,Software action,Dossier,Amount\n",
                         "750000001,esms-numerique,2023,acquisition,OLD,25000\n"], record)
    assert rows == [{"finess": "750000001", "programme": "esms-numerique", "campaign": 2023,
                     "software_action": "acquisition", "dossier": "OLD"}]


# ---- the pilots' cap ---------------------------------------------------------------------------
def test_pilots_cap_is_an_information_above_56():
    over = evaluate_campaign([pilot(k) for k in range(57)] + [pilot(99, eligible=False)])
    (finding,) = over.campaign_findings
    assert finding.code == "PILOTS_OVER_CAP" and finding.severity == "info" and finding.dossier is None
    assert finding.message.startswith("57 ESMS pilotes") and "« Au nombre de 56" in finding.source
    assert finding.policy == "mes-pilotes-2023" and finding.campaign == 2023
    assert all(not codes(r, "PILOTS_OVER_CAP") for r in over.rows)    # about the campaign, not a dossier
    at_cap = evaluate_campaign([pilot(k) for k in range(56)] + [pilot(k, eligible=False) for k in range(60, 70)])
    assert at_cap.findings == []
    assert "au-delà des 56 de l'expérimentation" in finding.message


def test_the_pilots_cap_is_the_policys_definition(tmp_path):
    """The count rule reads `pilots` (cited once, where the 56 is): a copy of the policy with
    another value moves the cap, with no other edit."""
    from esms_rules.load import bundled_dir
    checked = load_policy("mes-pilotes-2023").checked
    rule = next(r for r in checked.campaign_rules if r.name == "pilots_over_cap")
    assert "pilots" in {n.name for n in _names(rule.when)} and "« Au nombre de 56" in checked.defs["pilots"].source
    for f in bundled_dir().glob("*.esms"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    copy_ = tmp_path / "mes-pilotes-2023.esms"
    text = copy_.read_text(encoding="utf-8")
    assert text.count("def pilots: int = 56\n") == 1
    copy_.write_text(text.replace("def pilots: int = 56\n", "def pilots: int = 2\n"), encoding="utf-8")
    three = evaluate_campaign([pilot(k) for k in range(3)], policy=copy_)
    (finding,) = three.campaign_findings
    assert finding.message.startswith("3 ESMS pilotes") and "au-delà des 2 de l'expérimentation" in finding.message
    assert evaluate_campaign([pilot(k) for k in range(2)], policy=copy_).findings == []


def _names(e):
    from esms_rules import ast
    stack, out = [e], []
    while stack:
        x = stack.pop()
        if isinstance(x, ast.Name):
            out.append(x)
        stack += ast.children(x)
    return out


# ---- order, error rows, several policies ---------------------------------------------------
def test_rows_keep_input_order_and_errors_take_no_part():
    bad = dossier("D-BAD", ["750000001"])
    bad["call"] = "départemental"
    rows = [dossier("D-01", ["750000001"]), bad, "not a dossier", pilot(1), dossier("D-02", ["750000009"])]
    result = evaluate_campaign(rows)
    kinds = [type(r).__name__ for r in result.rows]
    assert kinds == ["Decision", "DossierError", "DossierError", "Decision", "Decision"]
    assert [getattr(r, "dossier", None) for r in result.rows] == ["D-01", None, None, "PM-01", "D-02"]
    assert isinstance(result.rows[1], DossierError) and result.rows[1].dossier_id == "D-BAD"
    assert [f for f in result.findings if f.code == "FINESS_IN_OTHER_DOSSIER"] == []
    assert result.rows[3].policy_id == "mes-pilotes-2023"


def test_a_given_policy_decides_every_dossier():
    result = evaluate_campaign([dossier("D-01", ["750000001"]), dossier("D-02", ["750000001"], campaign=2024)],
                               policy="esms-numerique-2025")
    assert {r.policy_id for r in result.rows} == {"esms-numerique-2025"}
    # the programme and campaign still come from each dossier: two campaigns, no finding
    assert result.findings == []


def test_arrow_table():
    pa = pytest.importorskip("pyarrow")
    pending = dossier("D-02", ["750000001"])
    pending["convention_signed_on"] = None          # a null the contract allows stays a null
    table = pa.Table.from_pylist([dossier("D-01", ["750000001"]), pending])
    result = evaluate_campaign(table)
    assert [f.dossier for f in result.findings] == ["D-01", "D-02"]
    assert all(isinstance(r, Decision) for r in result.rows)


def test_finding_to_dict():
    f = Finding("X", "r", "warning", "D", "750000001", ("E",), "m", "s", "p", "esms-numerique", 2025)
    assert f.to_dict() == {"code": "X", "rule": "r", "severity": "warning", "dossier": "D", "finess": "750000001",
                           "others": ["E"], "message": "m", "source": "s", "policy": "p",
                           "programme": "esms-numerique", "campaign": 2025}


def test_bundled_policies_declare_the_campaign_rules():
    for name in ("esms-numerique-2021", "esms-numerique-2025", "mes-pilotes-2023"):
        rules = {r.name: r for r in load_policy(name).checked.campaign_rules}
        assert {"finess_in_other_dossier", "already_funded"} <= set(rules)
        assert all(r.severity in ("warning", "info") for r in rules.values())
    assert "pilots_over_cap" in {r.name for r in load_policy("mes-pilotes-2023").checked.campaign_rules}
    assert "pilots_over_cap" not in {r.name for r in load_policy("esms-numerique-2025").checked.campaign_rules}


# ---- esms-rules campaign ------------------------------------------------------------------------
def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "esms_rules", "campaign", *args], capture_output=True,
                          text=True, cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def test_cli_end_to_end(tmp_path):
    lines = [json.dumps(dossier("D-01", ["750000001"])), "{not json", json.dumps(dossier("D-02", ["750000001"])),
             json.dumps({"id": "D-03"})] + [json.dumps(pilot(k)) for k in range(57)]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "funded.csv").write_text(HEADER + "750000001,esms-numerique,2022,acquisition,OLD-1\n",
                                         encoding="utf-8")
    out = run("c.jsonl", "--history", "funded.csv", "-o", "out.jsonl", cwd=tmp_path)
    assert out.returncode == 2, out.stderr          # error rows: exit 2, every row still written
    records = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(records) == len(lines) + 1
    assert records[1]["error"] == "invalid_json" and records[1]["line"] == 2
    assert records[3]["dossier"] == "D-03" and records[3]["line"] == 4 and "problems" in records[3]
    d1 = records[0]
    assert [c for c in warning_codes(d1) if c in ("FINESS_IN_OTHER_DOSSIER", "ALREADY_FUNDED")] \
        == ["FINESS_IN_OTHER_DOSSIER", "ALREADY_FUNDED"]
    assert "trace" not in d1
    assert records[-1]["campaign_finding"]["code"] == "PILOTS_OVER_CAP"
    assert "1 about a whole campaign" in out.stderr and "c.jsonl:2" in out.stderr


def test_cli_bad_history_and_parquet(tmp_path):
    (tmp_path / "c.jsonl").write_text(json.dumps(dossier("D-01", [])) + "\n", encoding="utf-8")
    (tmp_path / "funded.csv").write_text(HEADER + "750000001,esms-numerique,x,acquisition,OLD\n", encoding="utf-8")
    out = run("c.jsonl", "--history", "funded.csv", cwd=tmp_path)
    assert out.returncode == 2 and "funded.csv:2:3: column `campaign`" in out.stderr
    assert "Traceback" not in out.stderr
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.Table.from_pylist([dossier("D-01", ["750000001"]), dossier("D-02", ["750000001"])]),
                   tmp_path / "c.parquet")
    out = run("c.parquet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    records = [json.loads(x) for x in out.stdout.splitlines()]
    assert [r["dossier"] for r in records] == ["D-01", "D-02"]
    assert all("FINESS_IN_OTHER_DOSSIER" in warning_codes(r) for r in records)


def test_fast_path_agrees_with_the_interpreter():
    """Campaign rules evaluate paths, comparisons and `count` as closures (campaign._closure),
    the rest with the interpreter: both give the same values."""
    from esms_rules.campaign import _closure, _dossier
    from esms_rules.parse import parse_expression
    policy = load_policy("esms-numerique-2025")
    d = dossier("D-01", ["750000001"])
    d["structures"][1]["confort_share"] = 1.0
    row = _dossier(policy, 0, d, policy.evaluate(d, trace=False))
    texts = ['s.finess == "750000001" and not eligible', "count(others) > 0 or recevable", "n >= 15",
             "s.casf_item != null and s.casf_item in [6, 7]", 'programme == "esms-numerique"',
             "s.confort_share * 2 + 1", "if eligible then 1 else 2", "count(s.financed_by)", "passes(s)",
             "not passes(s) or s.sector in [\"PA\"]", "count(x for x in others where x != \"Y\")", "-s.confort_share"]
    exprs = [parse_expression(t) for t in texts]
    seen = set()
    for s in row.interp.facts["structures"]:
        env = {**row.env, "s": s, "others": ["X", "Y"]}
        for e, text in zip(exprs, texts, strict=True):
            got = _closure(e)(row.interp, env)
            assert got == row.interp.value_of(e, env), text
            seen.add((text, got))
    assert ("passes(s)", False) in seen and ("passes(s)", True) in seen


def test_decisions_with_campaign_warnings_fit_the_decision_schema():
    jsonschema = pytest.importorskip("jsonschema")
    from esms_rules.jsonschema import decision_schema
    result = evaluate_campaign([dossier("D-01", ["750000001"]), dossier("D-02", ["750000001"])],
                               history=[{"finess": "750000001", "programme": "esms-numerique", "campaign": 2021,
                                         "software_action": "acquisition", "dossier": "OLD"}])
    validator = jsonschema.Draft202012Validator(decision_schema())
    for row in result.rows:
        record = json.loads(row.to_json(trace=False))
        assert {"FINESS_IN_OTHER_DOSSIER", "ALREADY_FUNDED"} <= set(warning_codes(record))
        validator.validate(record)
