"""The compiled evaluator agrees with the reference interpreter, mode by mode."""
import json
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import esms_rules
from esms_rules.interpret import interpret

sys.path.insert(0, str(Path(__file__).resolve().parent))
strategies = pytest.importorskip("strategies")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "spec" / "examples"


def _fired_key(fired):
    return sorted((idx, item) for idx, item, _ in fired)


def _agree(dossier):
    policy = esms_rules.policy_for(dossier)
    facts, _ = policy.validator.convert(dossier)
    ok, rec, outs, fired = interpret(policy.checked, facts)
    c_ok, c_rec, c_outs, c_fired = policy.compiled("reasons")(facts)
    assert (ok, rec, outs) == (c_ok, c_rec, c_outs)
    assert _fired_key(fired) == _fired_key(c_fired)
    assert sorted(map(repr, fired)) == sorted(map(repr, c_fired))  # same message values too
    d_ok, d_rec, d_outs = policy.compiled("decision")(facts)
    assert (d_ok, d_rec, d_outs) == (ok, rec, outs)
    t_ok, t_rec, t_outs, records, _ = policy.compiled("trace")(facts)
    assert (t_ok, t_rec, t_outs) == (ok, rec, outs)
    assert sorted((r[0], r[1]) for r in records if r[2] == 1) == _fired_key(fired)


@pytest.mark.parametrize("path", sorted(SHARED.glob("*.json")) if SHARED.is_dir() else [],
                         ids=lambda p: p.stem)
def test_examples(path):
    _agree(json.loads(path.read_text())["dossier"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(strategies.dossiers())
def test_generated_dossiers(dossier):
    _agree(dossier)
