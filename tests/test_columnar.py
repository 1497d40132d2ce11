"""The columnar path against the per-record path: every bundled policy, generated dossiers.

Each generated batch is decided per record (`Policy.evaluate(trace=False)`) and over columns
(`columnar.evaluate_dossiers`); the decision JSON must be the same, byte for byte, row for
row, and bad dossiers must give the same problems.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esms_rules import columnar, load_policy
from esms_rules.diagnostics import DossierError
from esms_rules.evaluate import Policy

from strategies import POLICY_PAIRS, bad_dossiers, dossiers

pl = pytest.importorskip("polars")

POLICIES = sorted(POLICY_PAIRS)
ROOT = Path(__file__).resolve().parent.parent


def per_record(policy, ds):
    out = []
    for d in ds:
        try:
            out.append(policy.evaluate(d, trace=False))
        except DossierError as e:
            out.append(e)
    return out


def same(policy, ds, got=None):
    got = columnar.evaluate_dossiers(policy, ds) if got is None else got
    want = per_record(policy, ds)
    assert len(got) == len(want)
    for k, (g, w) in enumerate(zip(got, want)):
        if isinstance(w, DossierError):
            assert isinstance(g, DossierError), k
            assert [(p.path, p.message) for p in g.problems] == [(p.path, p.message) for p in w.problems]
        else:
            assert not isinstance(g, DossierError), (k, g)
            assert g.to_json(trace=False) == w.to_json(trace=False), k


@st.composite
def tweaked(draw, name):
    """A dossier of policy `name`, sometimes with decimals at 7 places, unknown fields, empty
    lists, duplicate structures, whole numbers past 64 bits, or broken."""
    d = draw(dossiers(name))
    how = draw(st.sampled_from(["plain", "plain", "places", "unknown", "bad", "empty", "duplicate", "huge"]))
    if how == "places" and d["structures"]:
        for s in d["structures"]:
            s["confort_share"] = draw(st.integers(0, 10**7)) / 10**7
    elif how == "empty":
        d["structures"] = []
        d["other_eu_funding"] = []
    elif how == "duplicate" and d["structures"]:
        twin = copy.deepcopy(draw(st.sampled_from(d["structures"])))
        d["structures"].insert(draw(st.integers(0, len(d["structures"]))), twin)
    elif how == "huge":      # an error per record: the same error over columns (never a wrap)
        if d["structures"] and draw(st.booleans()):
            d["structures"][0]["casf_item"] = draw(st.sampled_from([2**62, 2**63 + 5, -(2**64)]))
        else:
            d["campaign"] = draw(st.sampled_from([2**62 + 1, 2**63, 2**70]))
    elif how == "unknown":
        d["note"] = "x"
        if d["structures"]:
            d["structures"][0]["extra"] = 1
    elif how == "bad":
        d = draw(bad_dossiers())[0]
    return d


@pytest.mark.parametrize("name", POLICIES)
def test_plan_builds_for_every_bundled_policy(name):
    p = columnar.plan(load_policy(name))
    assert p.steps and p.fired_d


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_same_decisions_as_per_record(name, data):
    policy = load_policy(name)
    ds = data.draw(st.lists(tweaked(name), min_size=1, max_size=8))
    same(policy, ds)


def test_empty_batch_and_empty_lists():
    policy = load_policy("esms-numerique-2025")
    assert columnar.evaluate_dossiers(policy, []) == []
    d = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))
    d["structures"] = []
    d["other_eu_funding"] = []
    same(policy, [d, copy.deepcopy(d)])


OVERFLOW = '''policy "toy" { programme "x" campaign 1 effective 2025-01-01 instruction "i" }
record item { k: int  share: decimal }
codes { SQUARE "s"  SHARE "s" }
fact id: text
fact ks: list of item
fact k: int
rule square {
  code SQUARE
  severity blocking
  when k * k < 0 or sum(i.k * i.k for i in ks) < 0
  message "{k}"
  source "s"
}
rule share {
  code SHARE
  severity blocking
  when any(1 - i.share > 0.3 for i in ks)
  message "{k}"
  source "s"
}
output total = sum(i.k for i in ks)
'''


def test_overflow_and_decimals_are_exact():
    policy = Policy.from_text(OVERFLOW)
    big = 3037000500
    ds = [{"id": "a", "k": big, "ks": [{"k": big, "share": 0.7}]},
          {"id": "b", "k": 2, "ks": [{"k": 2**62, "share": 0.7000001}, {"k": 2**62, "share": 0.3}]},
          {"id": "c", "k": -big, "ks": []},
          {"id": "d", "k": 1, "ks": [{"k": 1, "share": 0.1234567}]}]
    got = columnar.evaluate_dossiers(policy, ds)
    same(policy, ds, got)
    assert got[0].eligible and got[0].outputs["total"] == big


def test_unsupported_construct_is_refused_with_its_span():
    text = OVERFLOW.replace("output total = sum(i.k for i in ks)",
                            "output total = sum(j.k for j in ks where any(i.k > j.k for i in ks))")
    with pytest.raises(columnar.ColumnarUnsupported, match=r":\d+:\d+"):
        columnar.plan(Policy.from_text(text))


@pytest.mark.slow
@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_thousands_of_generated_dossiers(name, data):
    """About 900 dossiers a policy (60 batches of up to 30): the larger differential run."""
    policy = load_policy(name)
    same(policy, data.draw(st.lists(tweaked(name), min_size=1, max_size=30)))
