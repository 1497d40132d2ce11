"""Generated code grows linearly with a rule's exceptions, and stays right (issue 13, item 14).

Timings are in bench/growth.py; here the sizes, and the meaning of both code shapes (the
`elif` chain up to compile.FLAT_AFTER exceptions, flat guarded `if`s beyond).
"""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esms_rules.compile import FLAT_AFTER, emit
from esms_rules.interpret import interpret
from esms_rules.policy import Policy
from esms_rules.runtime import NO_RULE, Outcome


def _text(n: int) -> str:
    """Rule `r` with n exceptions: x{i} applies when k == i; every third has no outcome (lifts
    the rule), the others fire code B, and x1 has an exception of its own (y, when j == 1)."""
    parts = ['policy "p" {}\ncodes { A B C }\nfact k: int\nfact j: int\n',
             'rule r {\n  code A\n  severity blocking\n  when k >= 0\n  message "k {k}"\n  source "s"\n}\n']
    for i in range(n):
        body = ('  source "s"\n' if i % 3 == 2 else
                '  code B\n  severity warning\n  when j >= 0\n  message "x {j}"\n  source "s"\n')
        parts.append(f'exception x{i} to r {{\n  priority {n - i}\n  applies k == {i}\n{body}}}\n')
    if n > 1:
        parts.append('exception y to x1 {\n  applies j == 1\n  code C\n  severity inadmissible\n'
                     '  message "y"\n  source "s"\n}\n')
    return "".join(parts)


_POLICIES: dict[int, Policy] = {}


def _policy(n: int) -> Policy:
    if n not in _POLICIES:
        _POLICIES[n] = Policy.from_text(_text(n))
    return _POLICIES[n]


@pytest.mark.parametrize("mode", ["decision", "reasons", "trace"])
def test_lines_grow_linearly(mode):
    lines = [emit(Policy.from_text(_text(n)).checked, mode)[0].count("\n") for n in (40, 80, 160)]
    assert lines[2] - lines[1] == pytest.approx(2 * (lines[1] - lines[0]), rel=0.05)   # constant per exception
    assert lines[2] < 5 * lines[0]


@settings(max_examples=120, deadline=None)
@given(st.sampled_from([1, 3, FLAT_AFTER, FLAT_AFTER + 1, 40]), st.integers(-1, 41), st.integers(-1, 2))
def test_both_shapes_mean_the_same(n, k, j):
    policy = _policy(n)
    facts = {"k": k, "j": j}
    want = interpret(policy.checked, facts)
    assert policy.compiled("reasons")(facts) == want
    assert policy.compiled("decision")(facts) == want[:3]
    traced = policy.compiled("trace")(facts)
    assert traced[:3] == want[:3]
    assert sorted(traced.fired()) == sorted(want.fired)
    # each exception before the one that applied: not applicable, once; the rule: overridden by it
    rules = policy.checked.all_rules
    outcome = {rules[t.rule].name: t for t in traced.trace_records()}
    assert len(outcome) == len(traced.records)
    applied = k if 0 <= k < n else None
    tested = range(n) if applied is None else range(applied)
    assert {name for name, t in outcome.items() if t.outcome == Outcome.NOT_APPLICABLE} == \
        {f"x{i}" for i in tested} | ({"y"} if applied == 1 and j != 1 else set())
    if applied is None:
        assert outcome["r"].outcome == (Outcome.FIRED if k >= 0 else Outcome.PASSED)
        assert outcome["r"].by == NO_RULE
    else:
        assert outcome["r"].outcome == Outcome.OVERRIDDEN and rules[outcome["r"].by].name == f"x{applied}"
