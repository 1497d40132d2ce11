"""Every exit code docs/cli.md documents, one case (at least) for each cause it lists."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOSSIER = ROOT / "examples" / "dossier-2025.json"
INELIGIBLE = ROOT / "examples" / "dossier-2025-ineligible.json"
POLICY = ROOT / "policies" / "esms-numerique-2025.esms"
TESTS = ROOT / "policies" / "esms-numerique-2025.test.json"


def documented_codes() -> set[int]:
    doc = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    table = doc.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    return {int(c) for c in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}


@pytest.fixture
def files(tmp_path):
    bad = tmp_path / "bad.esms"
    bad.write_text("def x = undefined_thing + 1\n", encoding="utf-8")
    messy = tmp_path / "messy.esms"
    messy.write_text("def   x = 1\n", encoding="utf-8")
    not_json = tmp_path / "x.json"
    not_json.write_text("{", encoding="utf-8")
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"id": "X"}), encoding="utf-8")
    failing = tmp_path / "esms-numerique-2025.test.json"
    doc = json.loads(TESTS.read_text(encoding="utf-8"))
    doc["policy"] = "esms-numerique-2025"
    first = doc["tests"][0]
    doc["tests"] = [dict(first, expect={"eligible": not first["expect"].get("eligible", True)})]
    failing.write_text(json.dumps(doc), encoding="utf-8")
    decision = tmp_path / "decision.json"
    return {"bad": bad, "messy": messy, "not_json": not_json, "invalid": invalid, "failing": failing,
            "decision": decision, "tmp": tmp_path}


CASES = {
    0: [("check", "{POLICY}"), ("fmt", "--check", "{POLICY}"), ("test", "{POLICY}"), ("evaluate", "{DOSSIER}"),
        ("explain", "{DOSSIER}"), ("policies",), ("schema",), ("compile", "esms-numerique-2025"), ("--version",)],
    1: [("check", "{bad}"), ("fmt", "--check", "{messy}"), ("test", "{failing}"), ("test", "{bad}"),
        ("evaluate", "--fail-on-ineligible", "{INELIGIBLE}")],
    2: [("frobnicate",), ("check", "--format", "xml"), ("check", "{tmp}/missing.esms"), ("test", "/nonexistent"),
        ("evaluate", "{not_json}"), ("evaluate", "{invalid}"),
        ("evaluate", "--policy", "esms-numerique-1999", "{DOSSIER}"),
        ("evaluate", "--policy", "{bad}", "{DOSSIER}"), ("explain", "{missing}"), ("schema", "--policy", "{bad}"),
        ("compile", "{bad}")],
}


def _args(args, files):
    names = {**{k: str(v) for k, v in files.items()}, "POLICY": str(POLICY), "DOSSIER": str(DOSSIER),
             "INELIGIBLE": str(INELIGIBLE), "missing": str(files["tmp"] / "missing.json")}
    return [a.format(**names) for a in args]


def test_every_documented_code_is_tested():
    assert documented_codes() == set(CASES) | {3, 130}


@pytest.mark.parametrize("code,args", [(c, a) for c, cases in CASES.items() for a in cases],
                         ids=lambda v: v if isinstance(v, int) else " ".join(v))
def test_exit_code(run_cli, files, code, args):
    r = run_cli(*_args(args, files))
    assert r.exit_code == code, r.output
    assert "Traceback" not in r.output


def test_replay_same_and_different(run_cli, files):
    r = run_cli("evaluate", "--no-trace", str(DOSSIER))
    files["decision"].write_text(r.stdout, encoding="utf-8")
    assert run_cli("replay", str(files["decision"]), str(DOSSIER)).exit_code == 0
    changed = json.loads(r.stdout)
    changed["eligible"] = not changed["eligible"]
    files["decision"].write_text(json.dumps(changed), encoding="utf-8")
    assert run_cli("replay", str(files["decision"]), str(DOSSIER)).exit_code == 1


def test_lsp_without_its_extra_is_2(run_cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "pygls.lsp.server", None)
    monkeypatch.delitem(sys.modules, "esms_rules.lsp", raising=False)
    r = run_cli("lsp")
    assert r.exit_code == 2 and "esms-rules[lsp]" in r.stderr


def test_internal_error_is_3_with_a_traceback(run_cli, monkeypatch):
    import esms_rules.check
    monkeypatch.setattr(esms_rules.check, "check", lambda program: 1 / 0)
    r = run_cli("check", str(POLICY))
    assert r.exit_code == 3
    assert "ZeroDivisionError" in r.stderr and "internal error" in r.stderr


def test_interrupted_is_130(run_cli, monkeypatch):
    import esms_rules.check

    def interrupt(program):
        raise KeyboardInterrupt
    monkeypatch.setattr(esms_rules.check, "check", interrupt)
    assert run_cli("check", str(POLICY)).exit_code == 130


def test_exit_codes_of_the_installed_program():
    """The console entry point passes the code through to the process (not only click's runner)."""
    run = [sys.executable, "-m", "esms_rules"]
    assert subprocess.run(run + ["test", "/nonexistent"], capture_output=True).returncode == 2
    assert subprocess.run(run + ["check", str(POLICY)], capture_output=True).returncode == 0
