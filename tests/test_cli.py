"""The `esms-rules` command line: every command, its exit codes, and no traceback on user errors."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

import esms_rules
from esms_rules.cli import cli, main

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = sorted(cli.commands)
GOOD_POLICY = ROOT / "policies" / "esms-numerique-2025.esms"


def clean(result, code=None):
    """The run ended by its own exit code, never by an uncaught exception or a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if code is not None:
        assert result.exit_code == code, result.output
    return result


def bundled_for(dossier: dict) -> bool:
    programme = dossier.get("programme", "esms-numerique")
    return any(p.programme == programme and p.campaign == dossier.get("campaign")
               for p in esms_rules.bundled_policies())


# ---- help and version ----------------------------------------------------------------
def test_commands_are_all_there():
    assert {"check", "fmt", "test", "evaluate", "explain", "replay", "schema", "policies", "compile"} <= set(COMMANDS)


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help(run_cli, command):
    args = ([command] if command else []) + ["--help"]
    r = clean(run_cli(*args), 0)
    assert "Usage: esms-rules" in r.stdout
    if command:
        assert command in r.stdout.splitlines()[0]


def test_version(run_cli):
    r = clean(run_cli("--version"), 0)
    assert esms_rules.__version__ in r.stdout


def test_unknown_command_is_a_usage_error(run_cli):
    clean(run_cli("frobnicate"), 2)


def test_main_exits_with_the_command_code(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert esms_rules.__version__ in capsys.readouterr().out


def test_python_dash_m(tmp_path):
    r = subprocess.run([sys.executable, "-m", "esms_rules", "policies"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "esms-numerique-2025" in r.stdout


# ---- check ------------------------------------------------------------------------------
def test_check_bundled_policies(run_cli):
    r = clean(run_cli("check"), 0)
    assert "no errors" in r.stdout


@pytest.mark.parametrize("target", [str(GOOD_POLICY), "esms-numerique-2025", str(ROOT / "policies"),
                                    str(ROOT / "policies" / "common.esms")])
def test_check_good(run_cli, target):
    clean(run_cli("check", target), 0)


BROKEN = "# a library module with one mistake\ndef x = undefined_thing + 1\n"


def test_check_broken_policy(run_cli, tmp_path):
    bad = tmp_path / "bad.esms"
    bad.write_text(BROKEN, encoding="utf-8")
    r = clean(run_cli("check", bad), 1)
    out = r.stdout
    assert "bad.esms:2:9: error[unknown-name]" in out            # file:line:col
    assert "def x = undefined_thing + 1" in out                   # the source line
    caret = next(line for line in out.splitlines() if "^" in line)
    assert caret.index("^") == out.splitlines()[out.splitlines().index(caret) - 1].index("undefined_thing")
    assert "1 error" in out


def test_check_syntax_error(run_cli, tmp_path):
    bad = tmp_path / "syntax.esms"
    bad.write_text('policy "p" {\n  campaign 2025\n}\ndef = 3\n', encoding="utf-8")
    r = clean(run_cli("check", bad), 1)
    assert "syntax.esms:4:" in r.stdout and "^" in r.stdout


def test_check_directory_with_good_and_bad(run_cli, tmp_path):
    (tmp_path / "bad.esms").write_text(BROKEN, encoding="utf-8")
    (tmp_path / "ok.esms").write_text("def y = 1 + 2\n", encoding="utf-8")
    r = clean(run_cli("check", tmp_path), 1)
    assert "checked 2 files: 1 error in 1 file" in r.stdout


def test_check_gnu_and_json_formats(run_cli, tmp_path):
    bad = tmp_path / "bad.esms"
    bad.write_text(BROKEN, encoding="utf-8")
    r = clean(run_cli("check", "--format", "gnu", bad), 1)
    assert r.stdout.strip().endswith("bad.esms:2:9: error: unknown name `undefined_thing` [unknown-name]")
    r = clean(run_cli("check", "--format", "json", bad), 1)
    data = json.loads(r.stdout)
    assert data["errors"] == 1 and data["files"][0]["ok"] is False
    d = data["diagnostics"][0]
    assert (d["line"], d["column"], d["code"]) == (2, 9, "unknown-name")


def test_check_missing_path(run_cli, tmp_path):
    r = clean(run_cli("check", tmp_path / "nope.esms"), 2)
    assert "nope.esms" in r.stderr


# ---- evaluate -----------------------------------------------------------------------------
def test_evaluate_shared_examples(run_cli, shared_examples, tmp_path):
    ran = 0
    for file in shared_examples:
        case = json.loads(file.read_text(encoding="utf-8"))
        if "eligible" not in case.get("expect", {}) or not bundled_for(case["dossier"]):
            continue
        path = tmp_path / file.name
        path.write_text(json.dumps(case["dossier"], ensure_ascii=False), encoding="utf-8")
        r = clean(run_cli("evaluate", path), 0)
        decision = json.loads(r.stdout)
        assert decision["eligible"] is case["expect"]["eligible"], file.name
        assert decision["dossier"] == case["dossier"]["id"]
        assert decision["policy"]["sha256"] and "trace" in decision
        ran += 1
    assert ran, "no shared example has a bundled policy"


def test_evaluate_example_and_stdin(run_cli, example_dossier):
    r = clean(run_cli("evaluate", ROOT / "examples" / "dossier-2025.json"), 0)
    from_file = json.loads(r.stdout)
    assert from_file["eligible"] is True and from_file["policy"]["id"] == "esms-numerique-2025"
    r = clean(run_cli("evaluate", "-", input=json.dumps(example_dossier)), 0)
    assert json.loads(r.stdout) == from_file


def test_evaluate_no_trace_and_policy_option(run_cli):
    path = ROOT / "examples" / "dossier-2025-ineligible.json"
    r = clean(run_cli("evaluate", "--no-trace", "--policy", "esms-numerique-2025", path), 0)
    d = json.loads(r.stdout)
    assert "trace" not in d and d["eligible"] is False
    assert {x["code"] for x in d["reasons"]} == {"GROUPING_TOO_SMALL", "OTHER_EU_FUNDING"}
    clean(run_cli("evaluate", "--policy", GOOD_POLICY, path), 0)


def test_evaluate_fail_on_ineligible(run_cli):
    clean(run_cli("evaluate", "--fail-on-ineligible", ROOT / "examples" / "dossier-2025.json"), 0)
    clean(run_cli("evaluate", "--fail-on-ineligible", ROOT / "examples" / "dossier-2025-ineligible.json"), 1)


def _batch(example_dossier) -> tuple[list[str], list]:
    """Input lines and, per row, the expected id (str) or error kind."""
    good = [dict(example_dossier, id=f"ROW-{i}") for i in range(3)]
    wrong_types = dict(example_dossier, id="BAD-TYPES", campaign="2025", structures="none")
    lines = [json.dumps(good[0]), "{this is not json", json.dumps(wrong_types), json.dumps(good[1]),
             "[1, 2, 3]", json.dumps(good[2]), "\"just a string\""]
    expected = ["ROW-0", ("invalid_json", None), ("invalid_dossier", "BAD-TYPES"), "ROW-1",
                ("invalid_dossier", None), "ROW-2", ("invalid_dossier", None)]
    return lines, expected


def _check_batch_output(records: list[dict], expected: list) -> None:
    assert len(records) == len(expected)
    for n, (rec, want) in enumerate(zip(records, expected, strict=True), start=1):
        if isinstance(want, str):
            assert rec["dossier"] == want and "error" not in rec and isinstance(rec["eligible"], bool)
        else:
            assert rec["line"] == n and rec["error"] == want[0] and rec["dossier"] == want[1]
            assert rec["problems"] and all(set(p) == {"path", "message"} for p in rec["problems"])


def test_evaluate_jsonl_batch_keeps_every_row_in_order(run_cli, tmp_path, example_dossier):
    lines, expected = _batch(example_dossier)
    batch = tmp_path / "batch.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    r = clean(run_cli("evaluate", "--no-trace", batch), 2)
    records = [json.loads(line) for line in r.stdout.splitlines()]
    _check_batch_output(records, expected)
    assert {x["problems"][0]["path"] for x in records if x.get("dossier") == "BAD-TYPES"} <= {"campaign", "structures"}
    assert "batch.jsonl:2: invalid_json" in r.stderr


def test_evaluate_jsonl_from_stdin(run_cli, example_dossier):
    lines, expected = _batch(example_dossier)
    r = clean(run_cli("evaluate", "--format", "jsonl", "-", input="\n".join(lines) + "\n"), 2)
    _check_batch_output([json.loads(line) for line in r.stdout.splitlines()], expected)


def test_evaluate_valid_batch_exits_0_and_json_array(run_cli):
    batch = ROOT / "examples" / "batch-2025.jsonl"
    r = clean(run_cli("evaluate", batch), 0)
    assert len(r.stdout.splitlines()) == 2
    r = clean(run_cli("evaluate", "--format", "json", "--no-trace", batch, ROOT / "examples" / "dossier-2025.json"), 0)
    decisions = json.loads(r.stdout)
    assert [d["eligible"] for d in decisions] == [True, False, True]


def test_evaluate_output_is_atomic(run_cli, tmp_path, example_dossier, monkeypatch):
    lines, expected = _batch(example_dossier)
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "decisions.jsonl"
    r = clean(run_cli("evaluate", "--no-trace", "--output", out, batch), 2)
    assert r.stdout == ""
    _check_batch_output([json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()], expected)
    assert sorted(p.name for p in out_dir.iterdir()) == ["decisions.jsonl"]

    # An interrupted run leaves the previous output as it was, and no temporary file.
    out.write_text("previous\n", encoding="utf-8")
    real, calls = esms_rules.Policy.evaluate, []

    def interrupted(self, dossier, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, dossier, **kw)
    monkeypatch.setattr(esms_rules.Policy, "evaluate", interrupted)
    r = clean(run_cli("evaluate", "--no-trace", "--output", out, batch), 130)
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in out_dir.iterdir()) == ["decisions.jsonl"]


def test_evaluate_output_to_missing_directory(run_cli, tmp_path):
    r = clean(run_cli("evaluate", "-o", tmp_path / "no" / "such" / "dir.json",
                      ROOT / "examples" / "dossier-2025.json"), 2)
    assert "cannot write" in r.stderr


# ---- user errors: clean messages, exit 2 ------------------------------------------------------
def test_missing_dossier_file(run_cli, tmp_path):
    r = clean(run_cli("evaluate", tmp_path / "missing.json"), 2)
    assert "missing.json" in r.stderr


def test_non_json_dossier(run_cli, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text("this is not JSON at all\n", encoding="utf-8")
    r = clean(run_cli("evaluate", bad), 2)
    assert "not valid JSON" in r.stderr
    assert json.loads(r.stdout)["error"] == "invalid_json"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    r = clean(run_cli("evaluate", binary), 2)
    assert "UTF-8" in r.stderr


def test_invalid_dossier_lists_problems(run_cli, tmp_path, example_dossier):
    example_dossier["structures"][0]["finess"] = "123"
    example_dossier["submitted_at"] = "yesterday"
    path = tmp_path / "d.json"
    path.write_text(json.dumps(example_dossier), encoding="utf-8")
    r = clean(run_cli("evaluate", path), 2)
    record = json.loads(r.stdout)
    assert {p["path"] for p in record["problems"]} == {"structures[0].finess", "submitted_at"}


def test_unknown_policy_name(run_cli):
    r = clean(run_cli("evaluate", "--policy", "esms-numerique-2099", ROOT / "examples" / "dossier-2025.json"), 2)
    assert "esms-numerique-2099" in r.stderr and "esms-numerique-2025" in r.stderr
    for args in (["schema", "--policy", "nope"], ["compile", "nope"],
                 ["explain", "--policy", "nope", ROOT / "examples" / "dossier-2025.json"]):
        clean(run_cli(*args), 2)


def test_broken_policy_given_to_evaluate(run_cli, tmp_path):
    bad = tmp_path / "bad.esms"
    bad.write_text(BROKEN, encoding="utf-8")
    r = clean(run_cli("evaluate", "--policy", bad, ROOT / "examples" / "dossier-2025.json"), 2)
    assert "unknown name `undefined_thing`" in r.stderr


def test_internal_error_is_exit_3(run_cli, monkeypatch):
    import esms_rules.cli as cli_module

    def boom():
        raise RuntimeError("a bug")
    monkeypatch.setattr(cli_module, "default_policy", boom)
    r = run_cli("schema")
    assert r.exit_code == 3
    assert "internal error" in r.stderr and "RuntimeError: a bug" in r.stderr


# ---- schema, policies, compile -----------------------------------------------------------------
def test_schema_shape(run_cli):
    r = clean(run_cli("schema"), 0)
    s = json.loads(r.stdout)
    assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"id", "campaign", "call", "submitted_at", "structures"} <= set(s["required"])
    assert "programme" not in s["required"]                 # it has a default
    assert s["properties"]["submitted_at"]["format"] == "date-time"
    assert s["properties"]["convention_signed_on"]["type"] == ["string", "null"]
    structure = s["$defs"]["record.structure"]
    assert structure["additionalProperties"] is True
    assert structure["properties"]["finess"] == {"type": "string", "minLength": 9, "maxLength": 9}
    assert structure["properties"]["confort_share"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert structure["properties"]["casf_item"]["type"] == ["integer", "null"]
    assert "2A" in s["$defs"]["enum.department"]["enum"]


@pytest.mark.parametrize("policy", [p.id for p in esms_rules.bundled_policies()])
def test_schema_validates_the_examples(run_cli, policy):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(clean(run_cli("schema", "--policy", policy), 0).stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    shared = sorted((ROOT.parent / "shared" / "spec" / "examples").glob("*.json"))
    dossiers = [json.loads(f.read_text(encoding="utf-8"))["dossier"] for f in shared]
    dossiers += [json.loads((ROOT / "examples" / n).read_text(encoding="utf-8"))
                 for n in ("dossier-2025.json", "dossier-2025-ineligible.json")]
    for d in dossiers:
        assert not list(validator.iter_errors(d)), d["id"]
    broken = dict(dossiers[-1], campaign="2025")
    assert list(validator.iter_errors(broken))


def test_policies_lists_the_bundled_policies(run_cli):
    r = clean(run_cli("policies"), 0)
    assert r.stdout.splitlines()[0].split()[:4] == ["id", "programme", "campaign", "effective"]
    row = next(line for line in r.stdout.splitlines() if line.startswith("esms-numerique-2025 "))
    policy = esms_rules.load_policy("esms-numerique-2025")
    assert policy.sha256[:12] in row and "2025-04-16" in row
    rows = json.loads(clean(run_cli("policies", "--format", "json"), 0).stdout)
    assert {r["id"] for r in rows} == {p.id for p in esms_rules.bundled_policies()}
    assert "common" not in {r["id"] for r in rows}


@pytest.mark.parametrize("mode", ["decision", "reasons", "trace"])
def test_compile_emits_python(run_cli, mode):
    r = clean(run_cli("compile", "esms-numerique-2025", "--emit", "python", "--mode", mode), 0)
    assert "def evaluate(" in r.stdout
    compile(r.stdout, "<emitted>", "exec")


# ---- commands backed by separately written modules: fmt, test, explain, replay ---------------------
@pytest.mark.parametrize("command, module, args", [
    ("fmt", "fmt", ["--check"]),
    ("test", "testing", []),
    ("explain", "render", [str(ROOT / "examples" / "dossier-2025.json")]),
    ("replay", "replay", [str(ROOT / "examples" / "dossier-2025.json")] * 2),
])
def test_missing_feature_module_is_a_clean_error(run_cli, monkeypatch, command, module, args):
    monkeypatch.setitem(sys.modules, f"esms_rules.{module}", None)   # import fails as if absent
    r = clean(run_cli(command, *args), 2)
    assert "not available" in r.stderr and f"esms_rules.{module}" in r.stderr


def _fake(monkeypatch, module: str, **attrs) -> None:
    monkeypatch.setitem(sys.modules, f"esms_rules.{module}", types.SimpleNamespace(**attrs))


def test_fmt_check_and_rewrite(run_cli, monkeypatch, tmp_path):
    def format_source(text, file):
        if "syntax error" in text:
            raise esms_rules.PolicyError([esms_rules.Diagnostic(
                "syntax", "unexpected text", __import__("esms_rules.span").span.Span(file, 1, 1, 1, 7))],
                {file: text})
        return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"
    _fake(monkeypatch, "fmt", format_source=format_source)
    messy, tidy = tmp_path / "messy.esms", tmp_path / "tidy.esms"
    messy.write_text("def a = 1   \n", encoding="utf-8")
    tidy.write_text("def b = 2\n", encoding="utf-8")
    os.chmod(messy, 0o640)
    r = clean(run_cli("fmt", "--check", "--diff", tmp_path), 1)
    assert "would reformat" in r.stdout and "messy.esms" in r.stdout and "tidy.esms" not in r.stdout
    assert "-def a = 1   " in r.stdout
    assert messy.read_text() == "def a = 1   \n"
    r = clean(run_cli("fmt", tmp_path), 0)
    assert messy.read_text() == "def a = 1\n" and (messy.stat().st_mode & 0o777) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.esms", "tidy.esms"]
    clean(run_cli("fmt", "--check", tmp_path), 0)
    (tmp_path / "broken.esms").write_text("syntax error\n", encoding="utf-8")
    r = clean(run_cli("fmt", "--check", tmp_path), 1)
    assert "error[syntax]" in r.stderr


def test_test_command_output(run_cli, monkeypatch):
    seen = {}

    class Report:
        passed, failed = 3, 1
        failures = ["FAIL policies/x.test.json :: a case\n    eligible: True, expected False"]
        rules_covered, rules_total, uncovered = 9, 12, ["x: r1", "x: r2", "x: r3"]
        ok = property(lambda self: not self.failed)

        def summary(self):
            return "rule coverage: 9/12 rules (75%)\n  not exercised: x: r1\n3 passed, 1 failed"

    def run_tests(paths):
        seen["paths"] = paths
        return Report()
    _fake(monkeypatch, "testing", run_tests=run_tests)
    r = clean(run_cli("test", "some/dir"), 1)
    lines = r.stdout.splitlines()
    assert lines[-1] == "3 passed, 1 failed" and lines.count("3 passed, 1 failed") == 1
    assert any(line.startswith("rule coverage: 9/12") for line in lines)
    assert "FAIL policies/x.test.json :: a case" in r.stdout
    assert seen["paths"] == ["some/dir"]
    Report.failed, Report.failures = 0, []
    Report.summary = lambda self: "rule coverage: 9/12 rules (75%)\n3 passed, 0 failed"
    assert clean(run_cli("test"), 0).stdout.splitlines()[-1] == "3 passed, 0 failed"


@pytest.mark.skipif(importlib.util.find_spec("esms_rules.testing") is None, reason="esms_rules.testing not there yet")
def test_test_command_on_bundled_policies(run_cli):
    r = clean(run_cli("test"))
    assert r.exit_code in (0, 1)
    last = r.stdout.splitlines()[-1]
    passed, failed = (int(w) for w in last.replace(",", "").split()[::2])
    assert last == f"{passed} passed, {failed} failed" and passed > 0
    assert r.exit_code == (1 if failed else 0)


def test_replay_command(run_cli, monkeypatch, tmp_path):
    calls = []

    def replay(decision, dossier, policy=None):
        calls.append((decision, dossier, policy))
        same = decision.get("eligible") is True
        return types.SimpleNamespace(same=same, lines=["same decision" if same else "eligible: differs"])
    _fake(monkeypatch, "replay", replay=replay)
    dossier = ROOT / "examples" / "dossier-2025.json"
    decision = tmp_path / "decision.json"
    decision.write_text(clean(run_cli("evaluate", dossier), 0).stdout, encoding="utf-8")
    r = clean(run_cli("replay", decision, dossier), 0)
    assert r.stdout.strip() == "same decision"
    assert calls[0][1]["id"] == "HDF-2025-0042"
    decision.write_text(json.dumps({"eligible": False}), encoding="utf-8")
    clean(run_cli("replay", decision, dossier), 1)
    decision.write_text("[]", encoding="utf-8")
    clean(run_cli("replay", decision, dossier), 2)
    clean(run_cli("replay", tmp_path / "nope.json", dossier), 2)
    decision.write_text(json.dumps({"eligible": True}), encoding="utf-8")
    clean(run_cli("replay", "--policy", GOOD_POLICY, decision, dossier), 0)
    assert calls[-1][2].id == "esms-numerique-2025"
    clean(run_cli("replay", "--policy", "nope", decision, dossier), 2)


def test_explain_command(run_cli, monkeypatch):
    dossier = ROOT / "examples" / "dossier-2025-ineligible.json"
    r = clean(run_cli("explain", "--format", "json", dossier), 0)
    trace = json.loads(r.stdout)
    assert trace["policy"] == "esms-numerique-2025" and trace["eligible"] is False and trace["rules"]
    got = {}

    def render(decision, fmt, suggestions=None):
        got["fmt"] = fmt
        return f"{decision.dossier}: {fmt}"
    _fake(monkeypatch, "render", render=render)
    for fmt in ("text", "markdown", "html"):
        r = clean(run_cli("explain", "--format", fmt, dossier), 0)
        assert r.stdout == f"HDF-2025-0001: {fmt}\n"
    monkeypatch.delitem(sys.modules, "esms_rules.render")
    if importlib.util.find_spec("esms_rules.render") is not None:     # the real renderer, once it is there
        r = clean(run_cli("explain", dossier), 0)
        assert "HDF-2025-0001" in r.stdout and "GROUPING_TOO_SMALL" in r.stdout


def test_explain_suggest(run_cli, monkeypatch):
    dossier = ROOT / "examples" / "dossier-2025-ineligible.json"
    suggestion = types.SimpleNamespace(to_dict=lambda: {"code": "GROUPING_TOO_SMALL", "text": "add 14"})
    def suggest(policy, d, decision=None):   # explain hands over its decision: no second evaluation
        assert decision is not None and decision.policy_id == policy.id
        return [suggestion]
    _fake(monkeypatch, "counterfactual", suggest=suggest)
    _fake(monkeypatch, "render", render=lambda decision, fmt, suggestions=None: f"{fmt} {len(suggestions or [])}")
    assert clean(run_cli("explain", "--suggest", dossier), 0).stdout == "text 1\n"
    trace = json.loads(clean(run_cli("explain", "--suggest", "--format", "json", dossier), 0).stdout)
    assert trace["suggestions"] == [{"code": "GROUPING_TOO_SMALL", "text": "add 14"}]
