"""`esms-rules check --analyze`: overlapping exceptions with a witness, rules that never fire,
conditions always true, and the comment that silences one."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from esms_rules import load_policy
from esms_rules.analyze import analyze
from esms_rules.check import check
from esms_rules.cli import main
from esms_rules.load import bundled_dir, load_program


def test_overlap_in_2025_has_a_witness_where_both_exceptions_apply():
    policy = load_policy("esms-numerique-2025")
    warnings = analyze(policy.checked, searches=300)
    assert all(w.severity == "warning" for w in warnings)
    overlap = [w for w in warnings if w.code == "exception-overlap"]
    assert len(overlap) == 1 and "`pjm_only`" in overlap[0].message and "`ahi_candidate`" in overlap[0].message
    witness = json.loads(overlap[0].help.split("witness: ", 1)[1].split("; add", 1)[0])
    # both exceptions' conditions hold on the witness: every counted structure is PJM, at least one
    decision = policy.evaluate(witness)
    counted = [s for s in decision.structures if s.eligible]
    assert counted and all(s["sector"] == "PJM" for s in witness["structures"] if s["finess"] in
                           {c.finess for c in counted})


def test_never_fires_and_always_true_state_their_bound():
    warnings = analyze(load_policy("esms-numerique-2023").checked, searches=300)
    by = {(w.code, w.message.split("`")[1]) for w in warnings}
    assert ("never-fires", "late_submission") in by         # every 2023 deadline is null
    always = [w for w in warnings if w.code == "always-true"]
    assert any("deadline_unknown" in w.message and "300 dossiers tried" in w.message for w in always)


def test_comment_annotation_silences_one_warning(tmp_path):
    for f in bundled_dir().glob("*.esms"):
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / "esms-numerique-2025.esms"
    text = p.read_text(encoding="utf-8")
    annotated = text.replace("exception pjm_only to", "# analyze: allow overlap\nexception pjm_only to")
    p.write_text(annotated, encoding="utf-8")
    warnings = analyze(check(load_program(p)), searches=300)
    assert not [w for w in warnings if w.code == "exception-overlap"]
    assert [w for w in warnings if w.code == "never-fires"]       # the others remain


def test_check_analyze_warns_without_failing(capsys):
    with pytest.raises(SystemExit) as e:
        main(["check", "--analyze", "--format", "json", "esms-numerique-2025"])
    assert e.value.code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["errors"] == 0
    assert {d["code"] for d in out["diagnostics"]} >= {"exception-overlap", "never-fires"}
    assert all(d["severity"] == "warning" for d in out["diagnostics"])


# ---- campaign rules ----------------------------------------------------------------------------
def _copy_with(tmp_path, file: str, edits: list[tuple[str, str]]) -> None:
    for f in bundled_dir().glob("*.esms"):
        shutil.copy(f, tmp_path / f.name)
    p = tmp_path / file
    text = p.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    p.write_text(text, encoding="utf-8")


def test_bundled_campaign_rules_fire_and_not_always():
    for name in ("esms-numerique-2025", "mes-pilotes-2023"):
        warnings = analyze(load_policy(name).checked, searches=300)
        assert not [w for w in warnings if "campaign rule" in w.message], name


def test_campaign_rules_that_never_fire_or_always_hold(tmp_path):
    _copy_with(tmp_path, "common.esms",
                        [("when     count(others) > 0", "when     count(others) > 500"),     # a group of 500
                         ("when     count(matches) > 0", "when     count(matches) >= 0")])   # always
    pilots = tmp_path / "mes-pilotes-2023.esms"
    pilots.write_text(pilots.read_text(encoding="utf-8").replace("when     total > pilots", "when     total >= 0"),
                      encoding="utf-8")
    policy = check(load_program(pilots))
    warnings = analyze(policy, searches=300)
    by = {(w.code, re.search(r"campaign rule `(\w+)`", w.message).group(1)) for w in warnings
          if "campaign rule" in w.message}
    assert by == {("never-fires", "finess_in_other_dossier"), ("always-true", "already_funded"),
                  ("always-true", "pilots_over_cap")}, by
    never = next(w for w in warnings if "finess_in_other_dossier" in w.message)
    assert "dossiers in campaigns of 1 to 21 dossiers" in never.message and never.span.file.endswith("common.esms")
    total = next(w for w in warnings if "pilots_over_cap" in w.message)
    assert "totals 0, 1, 2" in total.message and "55, 56, 57" in total.message
    # the comment silences one, as for the rules of a dossier
    pilots.write_text(pilots.read_text(encoding="utf-8").replace(
        "campaign rule pilots_over_cap", "# analyze: allow always\ncampaign rule pilots_over_cap"), encoding="utf-8")
    again = analyze(check(load_program(pilots)), searches=300)
    assert not [w for w in again if "pilots_over_cap" in w.message]
    assert [w for w in again if "finess_in_other_dossier" in w.message]
