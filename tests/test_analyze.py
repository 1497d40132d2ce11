"""`esms-rules check --analyze`: overlapping exceptions with a witness, rules that never fire,
conditions always true, and the comment that silences one."""
from __future__ import annotations

import json
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
