"""The benchmark's hand-written `esms-numerique-2025` (bench/handwritten_2025.py) decides as the
engine does, so that bench/real.py compares like with like."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from strategies import dossiers

import esms_rules

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import handwritten_2025 as hw  # noqa: E402


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dossiers("esms-numerique-2025"))
def test_the_hand_written_2025_decides_as_the_engine(dossier):
    engine = hw.engine_result(esms_rules.load_policy("esms-numerique-2025").evaluate(dossier, trace=False))
    assert hw.decide(dossier) == engine
    assert hw.decide_validated(dossier) == engine


@pytest.mark.parametrize("change", [
    lambda d: d.update(call="ailleurs"),
    lambda d: d["structures"].append({"finess": 1}),
    lambda d: d["software"].update(segur_referenced="oui"),
])
def test_the_validating_baseline_refuses_what_the_contract_refuses(example_dossier, change):
    change(example_dossier)
    with pytest.raises((ValueError, KeyError, TypeError)):
        hw.decide_validated(example_dossier)
    with pytest.raises(esms_rules.DossierError):
        esms_rules.load_policy("esms-numerique-2025").decide(example_dossier)
