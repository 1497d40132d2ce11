"""The policy test runner (`esms-rules test`): it cannot pass on nothing, never reads an arbitrary
file, and reports a malformed test file by JSON path, without a traceback."""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from esms_rules.testing import TEST_FILE_SCHEMA, TestFileError, load_cases

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
DRAFT = (POLICIES / "esms-numerique-2025.esms").read_text(encoding="utf-8")
TESTS = json.loads((POLICIES / "esms-numerique-2025.test.json").read_text(encoding="utf-8"))


def clean(result, code):
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    assert result.exit_code == code, result.output
    return result


def write_draft(tmp_path, tests=None, policy_text=DRAFT, name="esms-numerique-2026", **top):
    """A draft policy copied from 2025 and its test file, in tmp_path."""
    (tmp_path / f"{name}.esms").write_text(policy_text, encoding="utf-8")
    tests = tests if tests is not None else TESTS["tests"][:3]
    doc = {"policy": name, "fixtures": TESTS["fixtures"], "tests": tests}
    doc.update(top)
    path = tmp_path / f"{name}.test.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def problems(path) -> dict[str, str]:
    with pytest.raises(TestFileError) as info:
        load_cases(path)
    return {p.path: p.message for p in info.value.problems}


# ---- nothing to test is not a success ---------------------------------------------
def test_a_missing_path_is_an_input_error(run_cli, tmp_path):
    r = clean(run_cli("test", tmp_path / "nonexistent"), 2)
    assert "nonexistent" in r.stderr and "passed" not in r.stdout


def test_a_policy_without_a_test_file(run_cli, tmp_path):
    (tmp_path / "draft.esms").write_text(DRAFT, encoding="utf-8")
    r = clean(run_cli("test", tmp_path / "draft.esms"), 1)
    assert "nothing to test" in r.stdout and "draft.test.json" in r.stdout
    assert r.stdout.splitlines()[-1] == "0 passed, 0 failed"


def test_a_directory_without_test_files(run_cli, tmp_path):
    r = clean(run_cli("test", tmp_path), 1)
    assert "nothing to test" in r.stdout


def test_no_tests_in_the_file(run_cli, tmp_path):
    path = write_draft(tmp_path, tests={})
    r = clean(run_cli("test", path), 1)
    assert "tests: must be a list, found an object" in r.stdout
    path = write_draft(tmp_path, tests=[])
    assert "tests: must not be empty" in clean(run_cli("test", path), 1).stdout


def test_a_policy_that_fails_check_is_reported_once(run_cli, tmp_path):
    broken = DRAFT + "\ndef oops = undefined_thing + 1\n"
    path = write_draft(tmp_path, tests=TESTS["tests"][:10], policy_text=broken)
    r = clean(run_cli("test", path), 1)
    assert r.stdout.count("error[unknown-name]") == 1
    assert "does not pass `esms-rules check` (1 error): 10 tests not run" in r.stdout
    assert r.stdout.splitlines()[-1] == "0 passed, 0 failed"


# ---- which policy a test file names ------------------------------------------------
def test_a_draft_beside_its_test_file(run_cli, tmp_path):
    path = write_draft(tmp_path)
    renamed = DRAFT.replace('"esms-numerique-2025"', '"esms-numerique-2026"', 1)
    (tmp_path / "esms-numerique-2026.esms").write_text(renamed, encoding="utf-8")
    r = clean(run_cli("test", path), 0)
    assert r.stdout.splitlines()[-1] == "3 passed, 0 failed"
    assert "no-such-policy" not in r.stdout
    # the policy given to `test`: its NAME.test.json beside it
    clean(run_cli("test", tmp_path / "esms-numerique-2026.esms"), 0)


def test_a_policy_path_relative_to_the_test_file(run_cli, tmp_path):
    (tmp_path / "drafts").mkdir()
    (tmp_path / "drafts" / "mine.esms").write_text(DRAFT, encoding="utf-8")
    (tmp_path / "tests").mkdir()
    path = tmp_path / "tests" / "mine.test.json"
    path.write_text(json.dumps({"policy": "../drafts/mine.esms", "fixtures": TESTS["fixtures"],
                                "tests": TESTS["tests"][:2]}), encoding="utf-8")
    assert clean(run_cli("test", path), 0).stdout.splitlines()[-1] == "2 passed, 0 failed"


@pytest.mark.parametrize("spec", ["/etc/passwd", "../../../../../../etc/passwd", "/etc/x.esms", "nope"])
def test_never_reads_an_arbitrary_file(run_cli, tmp_path, spec):
    path = write_draft(tmp_path, policy=spec)
    found = problems(path)
    assert set(found) == {"policy"}
    r = clean(run_cli("test", path), 1)
    assert "root:" not in r.output
    assert "policy: " in r.stdout and "not a valid test file (1 problem)" in r.stdout


# ---- malformed test files: every problem by JSON path ----------------------------------
def test_a_top_level_list(tmp_path):
    path = tmp_path / "x.test.json"
    path.write_text("[]", encoding="utf-8")
    assert problems(path) == {"$": "must be an object, found a list"}


def test_not_json(tmp_path):
    path = tmp_path / "x.test.json"
    path.write_text("{", encoding="utf-8")
    assert list(problems(path)) == ["$"]


def test_every_problem_at_once(tmp_path):
    tests = [dict(TESTS["tests"][0], given="nowhere"),
             dict(TESTS["tests"][0], set={"structures[99].finess": "123"}),
             dict(TESTS["tests"][0], set={"structures": [{"repeat": -5}]}),
             {"name": "x", "expect": {"eligble": True}},
             {"expect": {}}]
    path = write_draft(tmp_path, tests=tests, policy=5)
    found = problems(path)
    assert found["policy"] == "must be a string, found a number"
    assert found["tests[3].expect.eligble"].startswith("is not a known key")
    assert found["tests[4].name"] == "is required"
    path = write_draft(tmp_path, tests=tests[:3])     # the shape is right: now the contents
    found = problems(path)
    assert found["tests[0].given"].startswith("no fixture named `nowhere`")
    assert found['tests[1].set["structures[99].finess"]'] == "`structures` has no item 99 (it has 16)"
    assert found["tests[2].set.structures[0].repeat"] == "must be a whole number from 0 to 1000, found -5"


def test_repeat_is_bounded(run_cli, tmp_path):
    tests = [dict(TESTS["tests"][0], set={"structures": [{"repeat": 10_000_000}]})]
    path = write_draft(tmp_path, tests=tests)
    start = time.monotonic()
    r = clean(run_cli("test", path), 1)
    assert time.monotonic() - start < 10
    assert "tests[0].set.structures[0].repeat: must be a whole number from 0 to 1000" in r.stdout


# ---- the schema in docs/testing.md --------------------------------------------------------
def test_the_documented_schema_is_the_runner_s():
    doc = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    block = doc.split("```json\n", 1)[1].split("\n```", 1)[0]
    assert json.loads(block) == json.loads(json.dumps(TEST_FILE_SCHEMA))


def test_bundled_test_files_follow_the_schema():
    jsonschema = pytest.importorskip("jsonschema")
    for path in sorted(POLICIES.glob("*.test.json")):
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), TEST_FILE_SCHEMA)
        assert load_cases(path)


@pytest.mark.parametrize("doc", [[], {"tests": {}}, {"tests": [{"name": 5}]}, {"policy": 5, "tests": [{"name": "a"}]},
                                 {"tests": [{"name": "a", "expect": {"eligible": "yes"}}]}])
def test_schema_and_runner_refuse_the_same_files(tmp_path, doc):
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, TEST_FILE_SCHEMA)
    path = tmp_path / "x.test.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert problems(path)


def test_the_default_policy_is_the_file_s_stem(tmp_path):
    (tmp_path / "orphan.test.json").write_text(json.dumps({"tests": [{"name": "a"}]}), encoding="utf-8")
    found = problems(tmp_path / "orphan.test.json")
    assert list(found) == ["$"] and found["$"].startswith("no policy `orphan`")
    # each test names its own policy: the stem is not needed
    (tmp_path / "orphan.test.json").write_text(json.dumps(
        {"fixtures": TESTS["fixtures"], "tests": [dict(TESTS["tests"][0], policy="esms-numerique-2025")]}),
        encoding="utf-8")
    assert len(load_cases(tmp_path / "orphan.test.json")) == 1
