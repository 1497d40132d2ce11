"""Every test written next to the bundled policies (policies/*.test.json) as a pytest item."""
from pathlib import Path

import pytest

from esms_rules.testing import collect_test_files, load_cases, run_case, run_tests

POLICIES = Path(__file__).resolve().parents[1] / "policies"
CASES = [c for f in collect_test_files([POLICIES]) for c in load_cases(f)]


@pytest.mark.parametrize("case", CASES, ids=[f"{Path(c.file).stem}::{c.name}" for c in CASES])
def test_policy_case(case):
    errors, _ = run_case(case)
    assert not errors, "\n".join(errors)


def test_every_bundled_policy_has_tests():
    policies = {p.stem for p in POLICIES.glob("*.esms") if "policy \"" in p.read_text(encoding="utf-8")}
    tested = {f.name.removesuffix(".test.json") for f in collect_test_files([POLICIES])}
    assert policies <= tested, f"policies without tests: {sorted(policies - tested)}"


def test_runner_reports_counts_and_coverage():
    report = run_tests([POLICIES])
    assert report.failed == 0, "\n".join(report.failures)
    assert report.passed == len(CASES)
    assert report.summary().endswith(f"{report.passed} passed, 0 failed")
    assert 0 < report.rules_covered <= report.rules_total
