"""`end_of_day` at midnights that a time-zone change repeats or skips (issue 13, item 18).

America/Havana changes its clocks at midnight: in November 00:00 comes twice (01:00 back to
00:00), in March it never comes (00:00 jumps to 01:00). The day ends at the first instant whose
local date is the next day; the interpreter and the compiled evaluator must agree on every
comparison with it, `==` included.
"""
import datetime as dt

import pytest
from dateutil import tz
from hypothesis import given, settings
from hypothesis import strategies as st

from esms_rules import runtime
from esms_rules.interpret import interpret
from esms_rules.policy import Policy

ZONES = ["America/Havana", "Europe/Paris", "America/Santiago", "Asia/Tehran", "America/Asuncion",
         "Indian/Reunion", "Etc/UTC"]
UTC = dt.UTC


def _policy_text(zone: str) -> str:
    rules = []
    for k, op in enumerate(["==", "!=", "<", "<=", ">", ">="]):
        rules.append(f'rule r{k} {{\n  code C{k}\n  severity warning\n  when at {op} end_of_day(day, "{zone}")\n'
                     f'  message "{{end_of_day(day, \\"{zone}\\")}}"\n  source "s"\n}}\n')
    return ('policy "eod" {}\ncodes { C0 C1 C2 C3 C4 C5 }\nfact day: date\nfact at: datetime\n'
            + "".join(rules) + f'output end = end_of_day(day, "{zone}")\n')


_POLICIES: dict[str, Policy] = {}


def _policy(zone: str) -> Policy:
    if zone not in _POLICIES:
        _POLICIES[zone] = Policy.from_text(_policy_text(zone))
    return _POLICIES[zone]


# Days around each zone's clock changes (2020-2030), and any day.
def _changes(zone: str) -> list[dt.date]:
    z = tz.gettz(zone)
    out = []
    day = dt.date(2020, 1, 1)
    while day < dt.date(2031, 1, 1):
        a = dt.datetime(day.year, day.month, day.day, 12, tzinfo=z)
        b = a + dt.timedelta(days=1)
        if a.utcoffset() != b.utcoffset():
            out += [day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)]
        day += dt.timedelta(days=1)
    return out


_CHANGES = {zone: _changes(zone) for zone in ZONES}


@st.composite
def cases(draw):
    zone = draw(st.sampled_from(ZONES))
    near = _CHANGES[zone]
    day = draw(st.sampled_from(near) if near and draw(st.booleans()) else
               st.dates(dt.date(1990, 1, 1), dt.date(2040, 12, 31)))
    end = runtime.end_of_day(day, zone)
    delta = draw(st.sampled_from([0, 0, 1, -1, 3600, -3600, 1800, -1800]) | st.integers(-200_000, 200_000))
    offset = draw(st.sampled_from([0, -5 * 60, -4 * 60, 60, 120, 210, 330]))
    at = (end + dt.timedelta(seconds=delta)).astimezone(dt.timezone(dt.timedelta(minutes=offset)))
    return zone, day, at


@settings(max_examples=200, deadline=None)
@given(cases())
def test_interpreter_and_compiled_agree_at_every_midnight(case):
    zone, day, at = case
    policy = _policy(zone)
    facts = {"day": day, "at": at}
    want = interpret(policy.checked, facts)
    assert policy.compiled("reasons")(facts) == want
    assert policy.compiled("decision")(facts) == want[:3]
    assert policy.compiled("trace")(facts)[:3] == want[:3]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES).flatmap(
    lambda z: st.tuples(st.just(z), st.sampled_from(_CHANGES[z]) if _CHANGES[z] else st.dates())))
def test_the_day_ends_at_the_first_instant_of_the_next_local_date(case):
    zone, day = case
    z = tz.gettz(zone)
    end = runtime.end_of_day(day, zone)
    assert end.astimezone(z).date() == day + dt.timedelta(days=1)
    assert (end - dt.timedelta(microseconds=1)).astimezone(z).date() == day
    assert end.utcoffset() == end.astimezone(z).utcoffset()   # shown with the offset local clocks had


@pytest.mark.parametrize("day, shown", [
    (dt.date(2025, 11, 1), "2025-11-02T00:00:00-04:00"),   # 00:00 comes twice: the first one
    (dt.date(2025, 3, 8), "2025-03-09T01:00:00-04:00"),    # 00:00 never comes: clocks resume at 01:00
])
def test_havana(day, shown):
    end = runtime.end_of_day(day, "America/Havana")
    assert end.isoformat() == shown
    policy = _policy("America/Havana")
    facts = {"day": day, "at": end.astimezone(UTC)}
    want = interpret(policy.checked, facts)
    assert [policy.checked.all_rules[f.rule].code for f in want.fired] == ["C0", "C3", "C5"]   # ==, <=, >=
    assert policy.compiled("reasons")(facts) == want
