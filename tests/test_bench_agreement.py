"""Every evaluation mode the benchmark times agrees with the hand-written function, record for
record, on eligible and funded share (bench/grouping.esms, a seeded sample of bench/workload.py).

No timing here: bench/run.py measures; this file checks that what it measures is right.
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest

import esms_rules

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import workload  # noqa: E402

POLICY = esms_rules.load_policy(workload.POLICY_FILE)
RECORDS = workload.records(3000, seed=11)
WANT = [workload.decide(r) for r in RECORDS]


def check(results):
    """results: (eligible, funded_share) per record, in order."""
    results = list(results)
    assert len(results) == len(RECORDS)
    for i, ((eligible, share), (e, s)) in enumerate(zip(results, WANT, strict=True)):
        assert eligible == e and abs(float(share) - s) <= 1e-9, (i, RECORDS[i], (eligible, share), (e, s))


def test_the_sample_covers_every_branch():
    share = sum(e for e, _ in WANT) / len(WANT)
    assert 0.4 < share < 0.6
    codes = Counter(c for r in RECORDS for c in (x.code for x in POLICY.evaluate(r, trace=False).reasons))
    assert set(codes) == {"OTHER_EU_FUNDING", "LATE_SUBMISSION", "GROUPING_TOO_SMALL", "WRONG_CALL",
                          "DUI_NOT_SEGUR_REFERENCED", "AHI_CANDIDATE_TOO_LATE"}
    sectors = Counter(r["sector"] for r in RECORDS)
    assert set(sectors) == set(workload.SECTORS)
    offsets = {r["submitted_at"][19:] for r in RECORDS}
    assert {"Z", "+02:00", "+01:00", "-04:00", "+05:30"} <= offsets
    assert any(r["confort_share"] in (0, 1) and type(r["confort_share"]) is int for r in RECORDS)


def test_decision():
    check((v.eligible, v.outputs["funded_share"]) for v in map(POLICY.decide, RECORDS))


def test_decision_unfused():
    check((v.eligible, v.outputs["funded_share"]) for v in map(POLICY._decide_slow, RECORDS))


@pytest.mark.parametrize("mode", ["decision", "reasons", "trace"])
def test_compiled_modes(mode):
    fn = POLICY.compiled(mode)
    convert = POLICY.validator.convert
    check((r[0], r[2][0]) for r in (fn(convert(d)[0]) for d in RECORDS))


@pytest.mark.parametrize("trace", [False, True])
def test_policy_evaluate(trace):
    decisions = [POLICY.evaluate(r, trace=trace) for r in RECORDS]
    check((d.eligible, d.outputs["funded_share"]) for d in decisions)
    if trace:
        assert all(d.trace is not None for d in decisions[:50])


@pytest.mark.parametrize("mode", ["decision", "reasons", "trace"])
def test_evaluate_many(mode):
    results = list(POLICY.evaluate_many(RECORDS, mode=mode))
    check((r.eligible, r.outputs["funded_share"]) for r in results)


def test_batch():
    batch = pytest.importorskip("esms_rules.batch")
    pytest.importorskip("polars")
    from_dicts = batch.evaluate_dicts(POLICY, RECORDS)
    check(zip(from_dicts["eligible"], from_dicts["funded_share"], strict=True))
    typed = batch.typed_table(POLICY, batch.table_from_dicts(POLICY, RECORDS))
    from_columns = batch.evaluate_table(POLICY, typed)
    check(zip(from_columns["eligible"], from_columns["funded_share"], strict=True))
    assert from_columns.equals(from_dicts)
