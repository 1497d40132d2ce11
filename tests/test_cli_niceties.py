"""The CLI for newcomers and operators: bundled examples, stdin detection, arrays, --quiet,
colour and NO_COLOR, the campaign warning, `schema --decision`, `source`, the progress bar."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import jsonschema as jsonschema_lib
import pytest

import esms_rules

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "dossier-2025.json"
BATCH = ROOT / "examples" / "batch-2025.jsonl"


def ok(result, code=0):
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, result.output
    return result


# ---- examples -------------------------------------------------------------------------
def test_examples_lists_and_copies(run_cli, tmp_path):
    listed = ok(run_cli("examples")).stdout
    assert "dossier-2025 " in listed and "batch-2025" in listed
    r = ok(run_cli("examples", "--copy", tmp_path / "ex"))
    copied = sorted(p.name for p in (tmp_path / "ex").iterdir())
    assert copied == ["batch-2025.jsonl", "dossier-2025-consistency.json", "dossier-2025-ineligible.json",
                      "dossier-2025.json"]
    assert (tmp_path / "ex" / "dossier-2025.json").read_bytes() == EXAMPLE.read_bytes()
    (tmp_path / "ex" / "dossier-2025.json").write_text("mine", encoding="utf-8")
    r = ok(run_cli("examples", "--copy", tmp_path / "ex"))
    assert "left as it is" in r.stderr and (tmp_path / "ex" / "dossier-2025.json").read_text() == "mine"


def test_explain_and_evaluate_take_an_example_by_name(run_cli):
    text = ok(run_cli("explain", "--example", "dossier-2025")).stdout
    assert "HDF-2025-0042" in text and "éligible" in text
    same = ok(run_cli("evaluate", "--no-trace", "--example", "dossier-2025.json")).stdout
    assert json.loads(same) == esms_rules.evaluate(json.loads(EXAMPLE.read_text()), trace=False).to_dict(False)
    r = ok(run_cli("explain", "--example", "nope"), 2)
    assert "no bundled example named 'nope'" in r.stderr and "dossier-2025" in r.stderr
    ok(run_cli("explain"), 2)
    ok(run_cli("evaluate"), 2)


# ---- stdin detection and arrays ----------------------------------------------------------
def test_stdin_json_lines_without_format(run_cli):
    r = ok(run_cli("evaluate", "--no-trace", "-", input=BATCH.read_text()))
    assert [json.loads(line)["dossier"] for line in r.stdout.splitlines()] == ["HDF-2025-0042", "HDF-2025-0001"]


def test_stdin_pretty_object_and_array(run_cli):
    one = ok(run_cli("evaluate", "--no-trace", "-", input=EXAMPLE.read_text()))
    assert json.loads(one.stdout)["dossier"] == "HDF-2025-0042"
    rows = [json.loads(line) for line in BATCH.read_text().splitlines()]
    many = ok(run_cli("evaluate", "--no-trace", "-", input=json.dumps(rows, indent=2)))
    assert [d["dossier"] for d in json.loads(many.stdout)] == ["HDF-2025-0042", "HDF-2025-0001"]


def test_stdin_json_lines_with_a_bad_first_line_keeps_every_row(run_cli):
    good = json.dumps(json.loads(EXAMPLE.read_text()))
    r = ok(run_cli("evaluate", "--no-trace", "-", input="{oops\n" + good + "\n"), 2)
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert records[0]["error"] == "invalid_json" and records[0]["line"] == 1
    assert records[1]["dossier"] == "HDF-2025-0042" and "error" not in records[1]


def test_json_array_file_gives_an_array_with_an_indexed_error(run_cli, tmp_path):
    rows = [json.loads(EXAMPLE.read_text()), {"id": "X"}, 7]
    path = tmp_path / "several.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    r = ok(run_cli("evaluate", "--no-trace", path), 2)
    out = json.loads(r.stdout)
    assert len(out) == 3 and out[0]["eligible"] is True
    assert out[1]["index"] == 1 and out[1]["error"] == "invalid_dossier" and out[1]["dossier"] == "X"
    assert out[2]["index"] == 2 and out[2]["problems"][0]["path"] == "$"
    assert "several.json[1]: invalid_dossier" in r.stderr
    assert "3 dossiers: 1 eligible, 0 ineligible, 2 errors" in r.stderr


# ---- quiet, colour, the campaign warning ---------------------------------------------------
def test_quiet_silences_stderr(run_cli, tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(BATCH.read_text() + "{bad\n", encoding="utf-8")
    assert ok(run_cli("evaluate", "--no-trace", path), 2).stderr
    assert ok(run_cli("evaluate", "--no-trace", "--quiet", path), 2).stderr == ""


def test_warning_when_the_policy_is_not_the_one_in_force(run_cli):
    r = ok(run_cli("evaluate", "--no-trace", "--policy", "esms-numerique-2024", EXAMPLE))
    assert "warning:" in r.stderr and "esms-numerique-2025" in r.stderr and "esms-numerique-2024" in r.stderr
    assert ok(run_cli("evaluate", "--no-trace", "--policy", "esms-numerique-2025", EXAMPLE)).stderr == ""
    r = ok(run_cli("explain", "--policy", "esms-numerique-2024", EXAMPLE))
    assert "the policy in force for it is esms-numerique-2025" in r.stderr
    assert ok(run_cli("evaluate", "-q", "--no-trace", "-p", "esms-numerique-2024", EXAMPLE)).stderr == ""


def _tty_run(args, env_extra):
    """The CLI with stderr on a pseudo-terminal: what a person at a terminal sees."""
    import fcntl
    import pty
    import struct
    import termios
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))   # a 100-column terminal
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update({"PYTHONPATH": str(ROOT), **env_extra})
    proc = subprocess.run([sys.executable, "-m", "esms_rules", *args], stdout=subprocess.PIPE, stderr=slave,
                          env=env, timeout=120, cwd=ROOT)
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    return proc, b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_and_no_color(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_text(BATCH.read_text() + "{bad\n", encoding="utf-8")
    proc, err = _tty_run(["evaluate", "--no-trace", str(path)], {})
    assert proc.returncode == 2 and "\x1b[31m1 error" in err
    proc, err = _tty_run(["evaluate", "--no-trace", str(path)], {"NO_COLOR": "1"})
    assert proc.returncode == 2 and "\x1b[3" not in err and "1 error" in err


def test_progress_bar_on_a_terminal_for_a_long_batch(tmp_path):
    pytest.importorskip("tqdm")
    row = json.dumps(json.loads(EXAMPLE.read_text()))
    path = tmp_path / "long.jsonl"
    path.write_text((row + "\n") * 300, encoding="utf-8")
    proc, err = _tty_run(["evaluate", "--no-trace", str(path), "-o", str(tmp_path / "out.jsonl")],
                         {"NO_COLOR": "1", "ESMS_RULES_PROGRESS_DELAY": "0"})
    assert proc.returncode == 0, err
    assert re.search(r"\r[1-9]\d* dossiers \[", err), err   # tqdm's counter, redrawn in place
    assert "300 dossiers: 300 eligible" in err
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 300
    # not a terminal: no bar at all
    piped = subprocess.run([sys.executable, "-m", "esms_rules", "evaluate", "--no-trace", str(path)],
                           capture_output=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT), "ESMS_RULES_PROGRESS_DELAY": "0"})
    assert b"\r" not in piped.stderr


# ---- schema --decision, source -------------------------------------------------------------------
def test_schema_decision_validates_real_decisions(run_cli):
    schema = json.loads(ok(run_cli("schema", "--decision")).stdout)
    validator = jsonschema_lib.Draft202012Validator(schema)
    for path in (EXAMPLE, ROOT / "examples" / "dossier-2025-ineligible.json"):
        decision = esms_rules.evaluate(json.loads(path.read_text()))
        validator.validate(json.loads(decision.to_json()))
        validator.validate(json.loads(decision.to_json(trace=False)))
    error_schema = json.loads(ok(run_cli("schema", "--error")).stdout)
    try:
        esms_rules.evaluate({"id": "X", "campaign": 2025})
    except esms_rules.DossierError as e:
        jsonschema_lib.Draft202012Validator(error_schema).validate(e.to_dict())


def test_source_prints_a_bundled_span(run_cli):
    lines = (ROOT / "policies" / "common.esms").read_text(encoding="utf-8").splitlines()
    r = ok(run_cli("source", "esms_rules:policies/common.esms:10", "-C", "1"))
    assert r.stdout.splitlines() == [f"   9 | {lines[8]}", f"> 10 | {lines[9]}", f"  11 | {lines[10]}"]
    r2 = ok(run_cli("source", "policies/common.esms:10:3", "--context", "1"))
    assert r2.stdout == r.stdout
    path = ok(run_cli("source", "--path", "esms_rules:policies/common.esms:10")).stdout.strip()
    assert Path(path) == (ROOT / "policies" / "common.esms").resolve()
    assert "no bundled module" in ok(run_cli("source", "esms_rules:policies/nope.esms:1"), 2).stderr
    assert "lines, not 99999" in ok(run_cli("source", "esms_rules:policies/common.esms:99999"), 2).stderr
