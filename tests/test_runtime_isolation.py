"""The runtime is independent of its surroundings: a policy travels to other processes
(pickled as its texts and hash), the caller's decimal context changes nothing, the policy
cache follows the files a policy imports, and NUL characters never reach a policy hash."""
from __future__ import annotations

import copy
import decimal
import json
import multiprocessing
import pickle
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import dossiers

import esms_rules
from esms_rules import Policy, PolicyError, load_policy
from esms_rules.load import link
from esms_rules.policy import from_sources

ROOT = Path(__file__).resolve().parents[1]


def _decisions(policy: Policy, batch: list[dict]) -> list[dict]:
    """Runs in a worker: the policy arrives pickled."""
    return [policy.evaluate(d).to_dict() for d in batch]


def _examples() -> list[dict]:
    found = [json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))]
    for f in sorted((ROOT.parent / "shared" / "spec" / "examples").glob("c25_*.json")):
        found.append(json.loads(f.read_text(encoding="utf-8"))["dossier"])
    return found


def test_a_policy_pickled_into_a_process_pool_gives_identical_decisions():
    policy = load_policy("esms-numerique-2025")
    batch = _examples()
    here = _decisions(policy, batch)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        there = pool.submit(_decisions, policy, batch).result(timeout=300)
    assert there == here


def test_pickling_is_by_texts_and_hash():
    policy = load_policy("esms-numerique-2024")
    copy_ = pickle.loads(pickle.dumps(policy))
    assert (copy_.id, copy_.sha256) == (policy.id, policy.sha256)
    program = copy_.checked.program
    assert set(program.sources) == {m.file for m in program.modules} >= {"esms_rules:policies/common.esms"}
    root, sources, sha = policy.__reduce__()[1]
    forged = tuple((f, t + "\n# forged\n" if f == root else t) for f, t in sources)
    from_sources.cache_clear()
    with pytest.raises(PolicyError) as info:
        from_sources(root, forged, sha)
    assert info.value.diagnostics[0].code == "sha256-mismatch"
    text_policy = Policy.from_text('policy "p" {}\nfact n: int\noutput o = n + 1\n')
    assert pickle.loads(pickle.dumps(text_policy)).decide({"n": 1}).outputs == {"o": 2}


def test_a_copied_checked_policy_has_its_own_types():
    policy = load_policy("esms-numerique-2025")
    dossier = _examples()[0]
    for checked in (copy.deepcopy(policy.checked), pickle.loads(pickle.dumps(policy.checked))):
        assert Policy(checked).evaluate(dossier).to_dict() == policy.evaluate(dossier).to_dict()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dossier=dossiers(policy="esms-numerique-2021"), prec=st.integers(1, 12),
       rounding=st.sampled_from([decimal.ROUND_DOWN, decimal.ROUND_UP, decimal.ROUND_HALF_DOWN]),
       inexact=st.booleans())
def test_the_callers_decimal_context_changes_nothing(dossier, prec, rounding, inexact):
    policy = load_policy("esms-numerique-2021")
    expected = policy.evaluate(dossier).to_dict()
    assert expected["trace"]
    verdict = policy.decide(dossier)
    caller = decimal.Context(prec=prec, rounding=rounding,
                             traps=[decimal.Inexact, decimal.Rounded] if inexact else [])
    with decimal.localcontext(caller) as mine:
        assert policy.evaluate(dossier).to_dict() == expected
        assert policy.decide(dossier) == verdict
        assert list(policy.evaluate_many([dossier], mode="decision")) == [verdict]
        assert esms_rules.evaluate(dossier, policy=policy, trace=False).to_dict(trace=False) == {
            k: v for k, v in expected.items() if k != "trace"}
        assert decimal.getcontext() is mine and mine.prec == prec   # given back as it was
        assert json.dumps(policy.evaluate(dossier).trace.to_dict()) == json.dumps(expected["trace"])


def test_the_cache_follows_imported_modules(tmp_path):
    shutil.copytree(ROOT / "policies", tmp_path / "policies")
    path = tmp_path / "policies" / "esms-numerique-2025.esms"
    common = tmp_path / "policies" / "common.esms"
    before = load_policy(path)
    assert load_policy(path) is before                      # unchanged files: the cached policy
    common.write_text(common.read_text(encoding="utf-8") + "\noutput imported_change = 1\n", encoding="utf-8")
    after = load_policy(path)
    assert after.sha256 != before.sha256 and "imported_change" in after.checked.outputs
    assert after.sha256 == Policy.from_text(path.read_text(encoding="utf-8"), str(path)).sha256


@settings(max_examples=30, deadline=None)
@given(where=st.floats(0, 1, exclude_max=True))
def test_a_nul_anywhere_in_a_module_is_refused_where_it_is(where):
    text = (ROOT / "policies" / "esms-numerique-2025.esms").read_text(encoding="utf-8")
    at = int(where * len(text))
    with pytest.raises(PolicyError) as info:
        link(text[:at] + "\0" + text[at:], "nul.esms", ROOT / "policies")
    (d,) = info.value.diagnostics
    line = text.count("\n", 0, at) + 1
    assert (d.code, d.span.line, d.span.column) == ("nul-character", line, at - (text.rfind("\n", 0, at) + 1) + 1)


def test_two_modules_cannot_share_a_hash_through_a_nul():
    # were NUL allowed, "a" + NUL + "b" in one file would hash like modules "a" and "b"
    with pytest.raises(PolicyError):
        link('policy "p" {}\n# x\0common\0\n', "p.esms", ROOT / "policies")
