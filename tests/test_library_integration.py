"""The library for integrators: exact decimals, pandas DataFrames in the batch API, logging."""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from pathlib import Path

import pytest

import esms_rules

ROOT = Path(__file__).resolve().parents[1]
TEXT = (ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8")
ROWS = [json.loads(line) for line in (ROOT / "examples" / "batch-2025.jsonl").read_text().splitlines()]


def test_exact_decimals_give_the_same_decision():
    exact = json.loads(TEXT, parse_float=Decimal)
    assert any(isinstance(s["confort_share"], Decimal) for s in exact["structures"])
    def without_digest(decision):      # the digest is of the input as given: Decimal and float differ
        return {k: v for k, v in json.loads(decision.to_json()).items() if k != "dossier_sha256"}
    assert without_digest(esms_rules.evaluate(exact)) == without_digest(esms_rules.evaluate(json.loads(TEXT)))
    exact["structures"][0]["confort_share"] = Decimal("1.5")
    with pytest.raises(esms_rules.DossierError) as e:
        esms_rules.evaluate(exact)
    assert e.value.problems[0].path == "structures[0].confort_share"


def test_pandas_dataframe_is_a_batch():
    pd = pytest.importorskip("pandas")
    policy = esms_rules.load_policy("esms-numerique-2025")
    frame = pd.DataFrame(ROWS + [dict(ROWS[0], id=7)])
    results = list(policy.evaluate_many(frame, mode="reasons"))
    expected = [policy.evaluate(r, trace=False).to_json(trace=False) for r in ROWS]
    assert [r.to_json(trace=False) for r in results[:2]] == expected
    assert isinstance(results[2], esms_rules.DossierError) and results[2].problems[0].path == "id"
    verdicts = list(policy.evaluate_many(frame.iloc[:2], mode="decision"))
    assert [v.eligible for v in verdicts] == [True, False]


def test_a_polars_frame_is_refused_with_a_clear_message():
    pl = pytest.importorskip("polars")
    policy = esms_rules.load_policy("esms-numerique-2025")
    with pytest.raises(TypeError, match="to_dicts"):
        policy.evaluate_many(pl.DataFrame({"id": ["a"]}))


def test_logging_is_silent_by_default_and_tells_loads_and_batches(caplog):
    assert any(isinstance(h, logging.NullHandler) for h in logging.getLogger("esms_rules").handlers)
    with caplog.at_level(logging.INFO, logger="esms_rules"):
        policy = esms_rules.Policy.from_text((ROOT / "policies" / "esms-numerique-2025.esms").read_text(),
                                             str(ROOT / "policies" / "esms-numerique-2025.esms"))
        list(policy.evaluate_many(ROWS + [{"id": "bad"}], mode="reasons"))
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("policy esms-numerique-2025 built") and policy.sha256 in m for m in messages)
    assert any("batch of 3 dossiers with esms-numerique-2025: 1 eligible, 1 ineligible, 1 errors" in m
               for m in messages)
    assert not any("Hauts-de-France" in m for m in messages)
