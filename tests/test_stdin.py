"""`-` reads standard input: `check -`, `fmt -` (formatted text on stdout), `evaluate -`, `explain -`."""
from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POLICY = (ROOT / "policies" / "esms-numerique-2025.esms").read_text(encoding="utf-8")
DOSSIER = (ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8")


def clean(result, code):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    return result


def test_check_stdin(run_cli):
    r = clean(run_cli("check", "-", input=POLICY), 0)
    assert "checked 1 file: no errors" in r.stdout
    r = clean(run_cli("check", "-", input="def x = y\n"), 1)
    assert r.stdout.startswith("<stdin>:1:9: error[unknown-name]")
    r = clean(run_cli("check", "--format", "json", "-", input="def x = y\n"), 1)
    assert json.loads(r.stdout)["files"][0]["file"] == "<stdin>"


def test_check_stdin_not_utf8(run_cli):
    r = clean(run_cli("check", "-", input=b"def x = \xff\n"), 2)
    assert "<stdin>: not UTF-8" in r.stderr


def test_fmt_stdin_writes_the_formatted_text(run_cli, tmp_path):
    from esms_rules.fmt import format_source
    messy = POLICY.replace("\n\n", "\n\n\n").replace("  ", "    ")
    r = clean(run_cli("fmt", "-", input=messy), 0)
    assert r.stdout == format_source(POLICY)
    assert clean(run_cli("fmt", "-", input=r.stdout), 0).stdout == r.stdout
    r = clean(run_cli("fmt", "-", input="def x = 1 +\n"), 1)
    assert r.stdout == "" and "<stdin>:" in r.stderr and "error[syntax]" in r.stderr
    assert clean(run_cli("fmt", "--check", "-", input=messy), 1).stdout.startswith("would reformat")
    clean(run_cli("fmt", "--check", "-", input=format_source(POLICY)), 0)


def test_evaluate_and_explain_stdin(run_cli):
    r = clean(run_cli("evaluate", "--no-trace", "-", input=DOSSIER), 0)
    assert json.loads(r.stdout)["dossier"] == json.loads(DOSSIER)["id"]
    r = clean(run_cli("explain", "-", input=DOSSIER), 0)
    assert "esms-numerique-2025" in r.stdout
    r = clean(run_cli("evaluate", "-", input="{"), 2)
    assert json.loads(r.stdout)["error"] == "invalid_json"
    clean(run_cli("explain", "-", input="[1]"), 2)
