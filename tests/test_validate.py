"""The validator: its problems (paths and messages) for bad dossiers, the generated fast path
held to the precise validator, and linear time on a very large dossier.

`Validator.convert` runs a fast validator generated from the schema and falls back to the
precise one (`Validator.precise`, the specification) on any doubt; these tests pin the
problems reported for a range of bad dossiers and check, on generated dossiers and strings,
that the fast path never changes a result.
"""
from __future__ import annotations

import copy
import datetime as dt
import gc
import json
import re
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules import DossierError, Policy, Problem, jsonschema
from esms_rules.validate import Validator, build_fast, fast_source, fused_evaluator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from strategies import bad_dossiers, dossiers  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLICY = esms_rules.load_policy("esms-numerique-2025")


def example_dossier() -> dict:
    return json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))


def problems(dossier) -> list[tuple[str, str]]:
    with pytest.raises(DossierError) as info:
        POLICY.validator.convert(dossier)
    return [(p.path, p.message) for p in info.value.problems]


def edited(**changes) -> dict:
    """The example dossier with `path=value` changes; a value of ... deletes the key."""
    d = example_dossier()
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = d
        for key in parents:
            node = node[int(key)] if key.isdigit() else node[key]
        last = int(last) if last.isdigit() else last
        if value is ...:
            del node[last]
        else:
            node[last] = value
    return d


# ---- problems for bad dossiers (the precise validator's behaviour is the spec) ----------------
ENUM_CALL = "'regional', 'national'"


@pytest.mark.parametrize("changes, expected", [
    # wrong JSON types
    ({"campaign": "2025"}, [("campaign", "expected a whole number, found a string")]),
    ({"campaign": True}, [("campaign", "expected a whole number, found a boolean")]),
    ({"campaign": 2025.0}, [("campaign", "expected a whole number, found a number")]),
    ({"id": 42}, [("id", "expected a string, found a number")]),
    ({"applicant": []}, [("applicant", "expected an object, found a list")]),
    ({"structures": {}}, [("structures", "expected a list, found an object")]),
    ({"applicant__gcsms": 1}, [("applicant.gcsms", "expected true or false, found a number")]),
    ({"structures__0": "590000000"}, [("structures[0]", "expected an object, found a string")]),
    ({"structures__1__casf_item": "2"}, [("structures[1].casf_item", "expected a whole number, found a string")]),
    ({"structures__0__confort_share": "0.5"},
     [("structures[0].confort_share", "expected a number, found a string")]),
    ({"structures__0__confort_share": True},
     [("structures[0].confort_share", "expected a number, found a boolean")]),
    ({"structures__0__confort_share": float("nan")}, [("structures[0].confort_share", "expected a finite number")]),
    ({"structures__0__confort_share": float("inf")}, [("structures[0].confort_share", "expected a finite number")]),
    # missing fields
    ({"call": ...}, [("call", "missing field")]),
    ({"convention_signed_on": ...}, [("convention_signed_on", "missing field (write null when unknown)")]),
    ({"software__segur_candidate_on": ...},
     [("software.segur_candidate_on", "missing field (write null when unknown)")]),
    ({"structures__0__sector": ...}, [("structures[0].sector", "missing field")]),
    # enum values
    ({"call": "regionale"}, [("call", f"unknown value 'regionale', expected one of {ENUM_CALL}")]),
    ({"call": None}, [("call", f"expected one of {ENUM_CALL}, found null")]),
    ({"structures__0__financed_by": ["ARS", "Region"]},
     [("structures[0].financed_by[1]", "unknown value 'Region', expected one of 'ARS', 'CD', 'Etat', 'autre'")]),
    ({"structures__0__department": "975"},
     [("structures[0].department", "unknown value '975', expected one of '01', '02', '03', '04', '05', "
                                   "'06', '07', '08', '09', '10', '11', '12', …")]),
    # dates and date-times
    ({"convention_signed_on": "2025-02-30"}, [("convention_signed_on", "'2025-02-30' is not a real date")]),
    ({"convention_signed_on": "01/12/2025"},
     [("convention_signed_on", "expected a date YYYY-MM-DD, found '01/12/2025'")]),
    ({"convention_signed_on": "2025-12-01T00:00:00+01:00"},
     [("convention_signed_on", "expected a date YYYY-MM-DD, found '2025-12-01T00:00:00+01:00'")]),
    ({"convention_signed_on": 20251201},
     [("convention_signed_on", "expected a date YYYY-MM-DD, found a number")]),
    ({"software__segur_candidate_on": "2025-1-5"},
     [("software.segur_candidate_on", "expected a date YYYY-MM-DD, found '2025-1-5'")]),
    ({"submitted_at": "2025-09-15T22:10:00"},
     [("submitted_at", "'2025-09-15T22:10:00' has no UTC offset: write e.g. 2025-09-15T22:10:00+02:00")]),
    ({"submitted_at": "2025-09-15"},
     [("submitted_at", "expected an ISO 8601 date-time with offset, found '2025-09-15'")]),
    ({"submitted_at": "2025-09-15 22:10"},
     [("submitted_at", "'2025-09-15 22:10' has no UTC offset: write e.g. 2025-09-15 22:10+02:00")]),
    ({"submitted_at": "2025-09-31T22:10:00+02:00"},
     [("submitted_at", "'2025-09-31T22:10:00+02:00' is not a real date-time")]),
    ({"submitted_at": "2025-09-15T22:10:00+24:00"},
     [("submitted_at", "'2025-09-15T22:10:00+24:00' is not a real date-time")]),
    ({"submitted_at": "2025-09-15T22:10+02:00:00"},
     [("submitted_at", "expected an ISO 8601 date-time with offset, found '2025-09-15T22:10+02:00:00'")]),
    ({"submitted_at": "15/09/2025 22:10"},
     [("submitted_at", "expected an ISO 8601 date-time with offset, found '15/09/2025 22:10'")]),
    ({"submitted_at": None}, [("submitted_at", "expected an ISO 8601 date-time with offset, found null")]),
    # constraints
    ({"structures__0__finess": "59000000"},
     [("structures[0].finess", "must be 9 characters long, found 8 ('59000000')")]),
    ({"structures__0__finess": "5900000001"},
     [("structures[0].finess", "must be 9 characters long, found 10 ('5900000001')")]),
    ({"structures__0__finess": 590000000}, [("structures[0].finess", "expected a string, found a number")]),
    ({"structures__0__confort_share": 1.5}, [("structures[0].confort_share", "must be between 0 and 1, found 1.5")]),
    ({"structures__0__confort_share": -0.1},
     [("structures[0].confort_share", "must be between 0 and 1, found -0.1")]),
    ({"structures__0__confort_share": 2}, [("structures[0].confort_share", "must be between 0 and 1, found 2")]),
    ({"structures__0__casf_item": 0}, [("structures[0].casf_item", "must be between 1 and 17, found 0")]),
    ({"structures__0__casf_item": 18}, [("structures[0].casf_item", "must be between 1 and 17, found 18")]),
])
def test_problems(changes, expected):
    assert problems(edited(**changes)) == expected


def test_every_problem_is_listed_in_order():
    d = edited(campaign="x", call="nope", structures__0__finess="1", structures__1__casf_item=99,
               software__action=...)
    assert [p for p, _ in problems(d)] == ["campaign", "call", "software.action", "structures[0].finess",
                                         "structures[1].casf_item"]


def test_not_an_object():
    assert problems([1, 2]) == [("$", "a dossier is a JSON object, not a list")]
    assert problems(None) == [("$", "a dossier is a JSON object, not null")]


def test_dossier_id_is_kept_on_the_error():
    with pytest.raises(DossierError) as info:
        POLICY.validator.convert(edited(call="x"))
    assert info.value.dossier_id == "HDF-2025-0042"


def test_unknown_fields_are_paths_not_errors():
    d = edited(extra=1, applicant__nickname="x", structures__1__colour="blue")
    d["other_eu_funding"][0]["note"] = None
    facts, unknown = POLICY.validator.convert(d)
    assert unknown == ["applicant.nickname", "other_eu_funding[0].note", "structures[1].colour", "extra"]
    assert "extra" not in facts and "nickname" not in facts["applicant"]
    decision = POLICY.evaluate(d, trace=False)
    assert [w.code for w in decision.warnings].count("UNKNOWN_FIELD") == 4


def test_typed_facts():
    d = edited(submitted_at="2025-09-15T22:10:00Z", software__segur_candidate_on="2025-03-01")
    d["structures"][0]["confort_share"] = 0.25
    d["structures"][1]["confort_share"] = 1
    del d["programme"]                                          # has a default
    facts, unknown = POLICY.validator.convert(d)
    assert unknown == []
    assert facts["programme"] == "esms-numerique"
    assert facts["submitted_at"] == dt.datetime(2025, 9, 15, 22, 10, tzinfo=dt.UTC)
    assert facts["software"]["segur_candidate_on"] == dt.date(2025, 3, 1)
    shares = [s["confort_share"] for s in facts["structures"][:2]]
    assert shares == [Decimal("0.25"), Decimal(1)] and all(type(x) is Decimal for x in shares)
    assert str(shares[0]) == "0.25"


# ---- the fast path never changes a result --------------------------------------------------
def outcome(fn, dossier):
    try:
        facts, unknown = fn(dossier)
    except DossierError as e:
        return "error", [(p.path, p.message) for p in e.problems], e.dossier_id
    return "ok", _typed(facts), unknown


def _typed(v):
    """Values with their exact types and representations (Decimal('1.0') is not Decimal('1'))."""
    if isinstance(v, dict):
        return {k: _typed(x) for k, x in v.items()}, list(v)
    if isinstance(v, list):
        return [_typed(x) for x in v]
    return type(v).__name__, repr(v), str(v.tzinfo) if isinstance(v, dt.datetime) else None


def same_as_precise(policy, dossier):
    v = policy.validator
    assert outcome(v.convert, dossier) == outcome(v.precise, dossier)
    fast = v.fast(dossier)
    if fast is not None:
        assert outcome(v.precise, dossier)[0] == "ok"


SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(dossiers())
def test_fast_path_on_valid_dossiers(dossier):
    same_as_precise(POLICY, dossier)
    assert POLICY.validator.fast(dossier) is not None       # valid, no unknown field: no fallback


@SETTINGS
@given(bad_dossiers())
def test_fast_path_on_bad_dossiers(case):
    dossier, _ = case
    same_as_precise(POLICY, dossier)


def test_fast_path_is_taken_for_the_example():
    assert POLICY.validator.fast(example_dossier()) is not None
    d = edited(extra=1)
    assert POLICY.validator.fast(d) is None      # unknown field: the precise validator lists it


# Strings close to the accepted shapes: the fast path inlines YYYY-MM-DD and
# YYYY-MM-DDTHH:MM:SS±HH:MM checks and must agree with the precise regular expressions.
DATEISH = st.text(alphabet="0123456789-T:+Z. W,٣", min_size=0, max_size=27)
VALID_DT = st.datetimes(dt.datetime(1, 1, 1), dt.datetime(9999, 12, 30),
                        timezones=st.timezones() | st.just(dt.timezone(dt.timedelta(hours=5, minutes=30))))


def _mutations(s: str):
    return st.integers(0, max(0, len(s) - 1)).flatmap(
        lambda i: st.sampled_from(list("0123456789-T:+Z. W٣")).map(lambda c: s[:i] + c + s[i + 1:]))


SHAPES = Policy.from_text('''policy "shapes" { campaign 1 }
fact d: date
fact o: date?
fact t: datetime
fact x: decimal (0..0.5)
fact n: int? (-3..3)
fact l: list of text
''', "<shapes>")


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fast_path_on_strings_and_numbers(data):
    d = data.draw(DATEISH | st.dates().map(str).flatmap(lambda s: st.just(s) | _mutations(s)))
    t = data.draw(DATEISH | VALID_DT.map(lambda x: x.isoformat(timespec="seconds"))
                  .flatmap(lambda s: st.just(s) | _mutations(s)))
    x = data.draw(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.5, -0.0, 0.0, 0, 1, 0.25])
                  | st.integers(-2, 2) | st.booleans() | st.none())
    n = data.draw(st.integers(-5, 5) | st.none() | st.booleans() | st.floats(-4, 4))
    lst = data.draw(st.lists(st.text(max_size=2) | st.integers(0, 1), max_size=3))
    same_as_precise(SHAPES, {"d": d, "o": None, "t": t, "x": x, "n": n, "l": lst})


DATE_SAMPLES = ["2025-09-15", "2025-W38-1", "20250915", "2025-9-15", "2025-09-1٣", "2025-02-29",
                "2024-02-29", "2025-13-01", " 2025-09-1", "+2025-09-1", "2025-09-15\n", ""]
DATETIME_SAMPLES = ["2025-09-15T23:59:59+02:00", "2025-09-15T23:59+02:00:00", "2025-09-15T23:59:59.1+02:00",
                    "2025-09-15 23:59:59+02:00", "2025-09-15T23:59:59Z", "2025-09-15T23:59:59+0200",
                    "2025-09-15T23:59:59-00:00", "2025-09-15X23:59:59+02:00", "2025-W38-1T23:59:59+02:00",
                    "2025-09-15T23:59:59+24:00", "2025-09-15T23:59:5٣+02:00", "2025-09-15T23:59:59",
                    "2025-09-15T24:00:00+02:00", "20250915T235959+02:00:"]


@pytest.mark.parametrize("d", DATE_SAMPLES)
@pytest.mark.parametrize("t", DATETIME_SAMPLES)
def test_fast_path_on_shapes(d, t):
    same_as_precise(SHAPES, {"d": d, "o": d, "t": t, "x": 0.5, "n": None, "l": []})


DATES = Policy.from_text('''policy "dates" { campaign 1 }
fact d: date
fact t: datetime
''', "<dates>")
# the problems that only a parse finds: a JSON Schema pattern cannot check the calendar
NOT_REAL = re.compile(r"'.*' is not a real date(-time)?")


def _ecma(pattern: str):
    """A JSON Schema pattern read as ECMA-262 does: `\\d` is an ASCII digit, `$` the very end."""
    assert pattern.startswith("^") and pattern.endswith("$")
    return re.compile(pattern[:-1] + r"\Z", re.ASCII)


@pytest.mark.parametrize("kind, samples", [("d", DATE_SAMPLES + DATETIME_SAMPLES[:3]),
                                           ("t", DATETIME_SAMPLES + DATE_SAMPLES[:3] + ["2025-09-15T23:59:59\n"])])
@pytest.mark.parametrize("python", [False, True])
def test_json_schema_patterns_agree_with_the_validator(kind, samples, python):
    """The schema's pattern accepts every string the validator accepts, and refuses every
    string the validator refuses for its shape (not for its calendar). Read as ECMA-262 (the
    JSON Schema dialect), and as Python's `re.search` (python-jsonschema, test_render.py)
    except for a trailing newline, which Python's `$` lets through."""
    pattern = jsonschema.DATE_PATTERN if kind == "d" else jsonschema.DATETIME_PATTERN
    match = re.compile(pattern).search if python else _ecma(pattern).search
    other = {"d": "2025-09-15", "t": "2025-09-15T23:59:59+02:00"}
    for s in samples:
        if python and s.endswith("\n"):
            continue
        try:
            DATES.validator.precise({**other, kind: s})
            messages = []
        except DossierError as e:
            messages = [p.message for p in e.problems]
        if match(s):
            assert all(NOT_REAL.fullmatch(m) for m in messages), (s, messages)
        else:
            assert messages, s


def test_fast_validator_source_is_built_from_types_only():
    source, consts = fast_source(POLICY.checked.facts)
    assert "def fast(d):" in source
    # names of fields appear only as string literals; enum values only as constants
    assert "'structures'" in source and "Auvergne" not in source
    assert all(name.startswith(("V", "_v_")) for name in consts)


def test_recursive_record_defers_to_the_precise_validator():
    from esms_rules import types as T
    node = T.Record("node", ())
    object.__setattr__(node, "fields", (T.Field("next", T.Optional(node)),))
    fast = build_fast(T.Record("dossier", (T.Field("head", node),)))
    assert fast({"head": {"next": None}}) is None
    assert Validator(T.Record("dossier", (T.Field("head", node),))).convert({"head": {"next": None}}) == \
        ({"head": {"next": None}}, [])


# ---- the fused decision path (fast validator + compiled evaluator) -----------------------
@SETTINGS
@given(st.one_of(dossiers(), bad_dossiers().map(lambda c: c[0])))
def test_decide_is_the_unfused_path(dossier):
    def run(fn):
        try:
            return fn(copy.deepcopy(dossier))
        except DossierError as e:
            return [(p.path, p.message) for p in e.problems]
    assert run(POLICY.decide) == run(POLICY._decide_slow)


def test_fused_evaluator_is_used():
    from esms_rules import Verdict
    fused = fused_evaluator(POLICY.checked, verdict=(Verdict, tuple(POLICY.checked.outputs)))
    assert fused is not None
    assert fused(example_dossier()) == POLICY._decide_slow(example_dossier())
    assert fused({"not": "a dossier"}) is None          # a doubt: the caller validates precisely
    POLICY.decide(example_dossier())
    assert getattr(POLICY._decide_fast, "__name__", "") == "evaluate"


# ---- linear time on a very large dossier ---------------------------------------------------
def big_dossier(n: int) -> dict:
    d = example_dossier()
    deps = ["59", "62", "80", "02", "60"]
    d["structures"] = [{"finess": f"{deps[i % 5]}{i:07d}", "name": f"S{i}", "department": deps[i % 5],
                        "category": "EHPAD", "casf_item": 6, "sector": "PA", "financed_by": ["ARS"],
                        "confort_share": (i % 10) / 10} for i in range(n)]
    return d


def test_large_dossier_in_linear_time():
    # CPU time, best of three, the collector paused: what grows with n is then the work itself,
    # not how busy the machine is nor how many objects the collector walks
    timings = {}
    for n in (10_000, 100_000):
        d = big_dossier(n)
        best = float("inf")
        gc.collect()
        gc.disable()
        try:
            for _ in range(3):
                t = time.process_time()
                facts, _ = POLICY.validator.convert(d)
                decision = POLICY.evaluate(d, trace=False)
                best = min(best, time.process_time() - t)
        finally:
            gc.enable()
        timings[n] = best
        assert len(facts["structures"]) == n
        # one region (Hauts-de-France): a regional grouping at any size
        assert len(decision.structures) == n and decision.eligible is True
        assert decision.call == "regional" and decision.outputs["funded_share"][3] == Decimal("0.7")
    assert timings[100_000] / timings[10_000] < 30, timings
    # a broken structure deep in the list is found and named
    d = big_dossier(100_000)
    d["structures"][99_999]["finess"] = "x"
    assert problems(d) == [("structures[99999].finess", "must be 9 characters long, found 1 ('x')")]


def test_problem_type():
    assert Problem("a", "b") == Problem("a", "b")
