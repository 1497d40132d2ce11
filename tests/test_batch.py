"""Batch evaluation over columns (esms_rules.batch) gives the per-record decisions, row for row.

On the benchmark's sample and on a flat policy that uses the whole supported subset, with
hypothesis-generated records; inputs as DataFrame, LazyFrame, Parquet file, string or typed
date columns; bad tables raise DossierError with row paths; policies outside the subset
raise BatchUnsupported (an EsmsError) before reading a row.
"""
from __future__ import annotations

import datetime as dt
import re
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pl = pytest.importorskip("polars")

import esms_rules  # noqa: E402
from esms_rules import DossierError, EsmsError, Policy  # noqa: E402
from esms_rules import batch  # noqa: E402
from esms_rules.batch import BatchUnsupported  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import workload  # noqa: E402

GROUPING = esms_rules.load_policy(workload.POLICY_FILE)
SAMPLE = workload.records(3000, seed=7)


def per_record(policy, records):
    """(eligible, recevable, outputs, reason codes, warning codes) by Policy.evaluate."""
    out = []
    for r in records:
        d = policy.evaluate(r, trace=False)
        out.append((d.eligible, d.recevable, dict(d.outputs), [x.code for x in d.reasons],
                    [x.code for x in d.warnings if x.code != "UNKNOWN_FIELD"]))
    return out


def rows(frame, output_names):
    return [(row["eligible"], row["recevable"], {k: row[k] for k in output_names}, row["reasons"], row["warnings"])
            for row in frame.iter_rows(named=True)]


def same_value(a, b) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal) or isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and abs(float(a) - float(b)) <= 1e-9
    return a == b


def assert_same(policy, records, frame):
    want = per_record(policy, records)
    got = rows(frame, list(policy.checked.outputs))
    assert len(got) == len(want)
    for i, (w, g) in enumerate(zip(want, got)):
        assert w[0] == g[0] and w[1] == g[1] and w[3] == g[3] and w[4] == g[4], (i, records[i], w, g)
        for k in w[2]:
            assert same_value(w[2][k], g[2][k]), (i, k, records[i], w[2][k], g[2][k])


# ---- the benchmark's policy --------------------------------------------------------------
def test_grouping_sample_from_dicts():
    assert_same(GROUPING, SAMPLE, batch.evaluate_dicts(GROUPING, SAMPLE))


def test_grouping_sample_from_typed_columns():
    typed = batch.typed_table(GROUPING, batch.table_from_dicts(GROUPING, SAMPLE))
    assert typed.schema["submitted_at"] == pl.Datetime("us", "UTC")
    assert typed.schema["deadline"] == pl.Date
    out = batch.evaluate_table(GROUPING, typed)
    assert out.columns == ["eligible", "recevable", "funded_share", "reasons", "warnings"]
    assert_same(GROUPING, SAMPLE, out)


def test_grouping_inputs_lazy_parquet_categorical(tmp_path):
    recs = SAMPLE[:300]
    table = batch.table_from_dicts(GROUPING, recs)
    want = batch.evaluate_table(GROUPING, table)
    assert batch.evaluate_table(GROUPING, table.lazy()).equals(want)
    path = tmp_path / "records.parquet"
    typed = batch.typed_table(GROUPING, table)
    typed.write_parquet(path)
    assert batch.evaluate_table(GROUPING, path).equals(want)
    assert batch.evaluate_table(GROUPING, str(path)).equals(want)
    cat = typed.with_columns(pl.col("sector").cast(pl.Categorical), pl.col("call").cast(pl.Enum(["regional", "national"])),
                             pl.col("n_structures").cast(pl.Int16), pl.col("extra_column").fill_null(1)
                             if "extra_column" in typed.columns else pl.lit(1).alias("extra_column"))
    assert batch.evaluate_table(GROUPING, cat).equals(want)
    # a date-time column in another zone is the same instants
    paris = typed.with_columns(pl.col("submitted_at").dt.convert_time_zone("Europe/Paris"))
    assert batch.evaluate_table(GROUPING, paris).equals(want)


def test_arrow_table():
    pa = pytest.importorskip("pyarrow")
    table = batch.typed_table(GROUPING, batch.table_from_dicts(GROUPING, SAMPLE[:100]))
    arrow = table.to_arrow()
    assert isinstance(arrow, pa.Table)
    assert batch.evaluate_table(GROUPING, arrow).equals(batch.evaluate_table(GROUPING, table))


SHAPE_SAMPLES = ["2025-09-15", "2025-9-15", "2025-09-1٣", "2025-09-15\n", " 2025-09-15", "2025-09-15x", "",
                 "2025-09-15T23:59:59+02:00", "2025-09-15T23:59:59-00:00", "2025-09-15 23:59:59+02:00",
                 "2025-09-15T23:59:59Z", "2025-09-15T23:59+02:00", "2025-09-15T23:59:59.1+02:00",
                 "2025-09-15T23:59:59+0200", "2025-09-15T23:59:5٣+02:00", "2025-09-15T23:59:59+02:00\n",
                 "x2025-09-15T23:59:59+02:00", "2025-09-15T23:59:59"]


def test_polars_shapes_are_the_validator_shapes():
    """The shapes polars parses are validate.py's, in ASCII digits, whole strings only; the
    date-time one is the usual form only, a part of what the validator accepts."""
    from esms_rules.validate import DATE_RE, DATETIME_RE, DATETIME_USUAL_SHAPE
    s = pl.Series(SHAPE_SAMPLES)
    date = s.str.contains(batch._DATE_SHAPE).to_list()
    usual = s.str.contains(batch._DATETIME_SHAPE).to_list()
    for x, d, u in zip(SHAPE_SAMPLES, date, usual):
        assert d == (x.isascii() and DATE_RE.fullmatch(x) is not None), x
        assert u == (x.isascii() and re.fullmatch(DATETIME_USUAL_SHAPE, x) is not None), x
        assert not u or DATETIME_RE.fullmatch(x), x
    assert any(date) and any(usual)


def test_odd_date_time_strings_go_through_the_validator_rule():
    recs = [dict(SAMPLE[0]) for _ in range(4)]
    recs[0]["submitted_at"] = "2025-03-30T22:00:00Z"
    recs[1]["submitted_at"] = "2025-03-30 23:59:59.5+01:00"
    recs[2]["submitted_at"] = "2025-03-30T23:59+02:00"
    recs[3]["submitted_at"] = "2025-03-31T00:00:00+0200"
    for r in recs:
        r["deadline"] = "2025-03-30"
    assert_same(GROUPING, recs, batch.evaluate_dicts(GROUPING, recs))


RECORD = st.fixed_dictionaries({
    "n_structures": st.integers(0, 400) | st.sampled_from([7, 8, 14, 15, 49, 50]),
    "regions": st.lists(st.sampled_from(workload.METROPOLE[:4] + ["Corse", "Mayotte"]), max_size=4),
    "territory": st.sampled_from(["metropole", "corse", "outre-mer"]),
    "call": st.sampled_from(["regional", "national"]),
    "has_other_eu_funding": st.booleans(),
    "sector": st.sampled_from(workload.SECTORS),
    "dui_segur_referenced": st.booleans(),
    "dui_segur_candidate_date": st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)).map(str),
    "convention_date": st.none() | st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)).map(str),
    "confort_share": st.floats(0, 1) | st.sampled_from([0, 1, 0.0, 1.0, 0.5]),
    "submitted_at": st.datetimes(dt.datetime(2024, 1, 1), dt.datetime(2026, 12, 31),
                                 timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=2)),
                                                            dt.timezone(dt.timedelta(hours=-4, minutes=-30))]))
    .map(lambda x: x.isoformat(timespec="seconds")),
    "deadline": st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)).map(str),
})


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(RECORD, min_size=1, max_size=40))
def test_grouping_generated_records(records):
    out = batch.evaluate_dicts(GROUPING, records)
    assert_same(GROUPING, records, out)
    for (e, share), row in zip(map(workload.decide, records), out.iter_rows(named=True)):
        assert row["eligible"] == e and abs(row["funded_share"] - share) <= 1e-9


# ---- a flat policy using the whole supported subset -------------------------------------
FLAT = Policy.from_text('''policy "flat" { campaign 1 }
enum kind { "a", "b", "c" }

fact k: kind
fact flag: bool
fact n: int (0..1000)
fact share: decimal (0..1)
fact label: text?
fact tags: list of text
fact kinds: list of kind
fact amounts: list of decimal
fact flags: list of bool
fact counts: list of int
fact day: date
fact due: date?
fact at: datetime
fact level: int? (-100..100)
fact mode: kind = "b"

codes { A "a" B "b" C "c" D "d" E "e" F "f" G "g" H "h" }

table weight: kind -> decimal { "a": 0.5  "b": 1.5  "c": 2 } source "t"
table bonus: text -> int { "x": 1  "y": 2 } source "t"

def double(x: int): int = x * 2
def late = at >= end_of_day(day, "Europe/Paris")
def early = at < end_of_day(2025-01-01, "Europe/Paris")
def before_noon = at < 2025-06-01T12:00:00+02:00
def score = double(n) + count(tags) - count(distinct(tags))
def top = coalesce(max(counts), 0)
def extra = coalesce(bonus[coalesce(label, "z")], 0)
def spread: decimal? = if count(amounts) > 0 then coalesce(max(amounts), 0) - coalesce(min(amounts), 0) else null

rule late_rule {
  code A
  severity inadmissible
  when late and not flag
  message "late {at} {day}"
  source "s"
}
rule overdue {
  code B
  severity blocking
  when due != null and due < day
  message "due {due}"
  source "s"
}
rule labelled {
  code C
  severity warning
  when label == null or label in ["x", "y"] or label not in tags
  message "label {label}"
  source "s"
}
rule tagged {
  code D
  severity blocking
  when ("x" in tags and k not in ["c"]) or "b" in kinds
  message "tags {tags}"
  source "s"
}
exception lifted to tagged {
  priority 2
  applies any(flags) and mode == k
  source "s"
}
exception heavy to tagged {
  priority 1
  applies k == "b" or all(flags) and count(flags) > 1
  code E
  severity blocking
  when coalesce(max(amounts), 0) > 1.5 or count(counts) >= 5
  message "heavy"
  source "s"
}
exception light to heavy {
  applies extra == 2
  code F
  severity warning
  message "light"
  source "s"
}
rule scored {
  code G
  severity blocking
  when score > weight[k] or (level != null and level > top)
  message "score {score}"
  source "s"
}
rule shared {
  code H
  severity warning
  when (share >= 0.5 and not before_noon) or (early and spread != null and count(amounts) >= 2)
  message "share {share}"
  source "s"
}

output funded = if eligible then 1 - share else 0
output kind_out = if eligible then mode else null
output lvl = coalesce(level, -1) + count(counts) + extra
output when_due = if late then due else day
output total = spread
output smallest = min(amounts)
output is_early = early
output n_kinds = count(distinct(kinds))
''', "<flat>")

QUARTERS = st.sampled_from([0, 0.25, 0.5, 0.75, 1, 1.25, 0.0])   # sums are exact in binary too
FLAT_RECORD = st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b", "c"]),
    "flag": st.booleans(),
    "n": st.integers(0, 1000),
    "share": st.floats(0, 1) | QUARTERS.filter(lambda x: x <= 1),
    "label": st.none() | st.sampled_from(["x", "y", "z", "w", ""]),
    "tags": st.lists(st.sampled_from(["x", "y", "z", "", "é"]), max_size=4),
    "kinds": st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    "amounts": st.lists(QUARTERS, max_size=4),
    "flags": st.lists(st.booleans(), max_size=3),
    "counts": st.lists(st.integers(-3, 5), max_size=3),
    "day": st.dates(dt.date(2024, 12, 25), dt.date(2025, 1, 5)).map(str),
    "due": st.none() | st.dates(dt.date(2024, 12, 25), dt.date(2025, 1, 5)).map(str),
    "at": st.datetimes(dt.datetime(2024, 12, 24), dt.datetime(2025, 1, 6),
                       timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=1))]))
    .map(lambda x: x.isoformat(timespec="seconds")),
    "level": st.none() | st.integers(-2, 12),
}, optional={"mode": st.sampled_from(["a", "b", "c"])})


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(FLAT_RECORD, min_size=1, max_size=30))
def test_flat_policy_generated_records(records):
    assert_same(FLAT, records, batch.evaluate_dicts(FLAT, records))


def test_flat_policy_columns():
    recs = [{"k": "b", "flag": False, "n": 3, "share": 0.25, "label": None, "tags": ["x", "x"], "kinds": ["b"],
             "amounts": [1, 2], "flags": [], "counts": [], "day": "2024-12-31", "due": "2024-12-30",
             "at": "2025-01-01T00:00:00+01:00", "level": None}]
    out = batch.evaluate_dicts(FLAT, recs)
    assert_same(FLAT, recs, out)
    assert out.columns == ["eligible", "recevable", "funded", "kind_out", "lvl", "when_due", "total", "smallest",
                           "is_early", "n_kinds", "reasons", "warnings"]
    row = out.row(0, named=True)
    assert row["reasons"] == ["A", "B", "E", "G"] and row["warnings"] == ["C", "H"]
    assert (row["eligible"], row["recevable"], row["kind_out"], row["when_due"]) == (False, False, None,
                                                                                    dt.date(2024, 12, 30))
    assert batch.supports(FLAT)


# ---- bad tables --------------------------------------------------------------------------
def test_bad_rows_are_dossier_errors():
    table = batch.table_from_dicts(GROUPING, SAMPLE[:5]).with_columns(
        pl.Series("sector", ["PA", "XX", "PA", None, "PH"]),
        pl.Series("confort_share", [0.5, 1.5, 0.2, 0.1, float("nan")]))
    with pytest.raises(DossierError) as info:
        batch.evaluate_table(GROUPING, table)
    got = [(p.path, p.message) for p in info.value.problems]
    assert ("[1].sector", "unknown value 'XX', expected one of 'PA', 'PH', 'AHI', 'PJM', 'domicile'") in got
    assert ("[3].sector", "expected one of 'PA', 'PH', 'AHI', 'PJM', 'domicile', found null") in got
    assert ("[1].confort_share", "must be between 0 and 1, found 1.5") in got
    assert ("[4].confort_share", "expected a finite number") in got


def test_bad_list_items_are_dossier_errors_row_by_row():
    """The item checks of list columns, each on its rows only: a null item, a value out of the
    enum (a null item is not one), NaN of either sign, +inf and -inf (1e308, -0.0 and a null item
    are finite enough); a null list is a missing value, an empty list is fine."""
    import math
    nan, inf = math.nan, math.inf
    plain = {"k": "b", "flag": False, "n": 3, "share": 0.25, "label": None, "tags": ["x"], "kinds": ["b"],
             "amounts": [1], "flags": [True], "counts": [1], "day": "2024-12-31", "due": None,
             "at": "2025-01-01T00:00:00+01:00", "level": None}
    odd = {
        "kinds": [["a"], ["zz"], ["a", None], [None], [], None, ["zz", None], ["b", "c", "a"], ["A"], [""]],
        "amounts": [[1.0, nan], [nan], [inf], [-inf, None], [None], [], None, [1e308, 1e308], [-0.0], [-nan, 2.0],
                    [2.5]],
        "counts": [[1, None], [None], [], None, [2**62, -(2**63)]],
        "tags": [["x", None], [None, None], [], None, [""]],
        "flags": [[True, None], [None], [], None, [False]],
    }

    def wanted(name, v):
        if v is None:
            return {"found null"}
        out = {"a list item is null: " + repr(v)} if None in v else set()
        if name == "kinds" and any(x is not None and x not in ("a", "b", "c") for x in v):
            out.add(f"unknown value in {v!r}, expected values of kind")
        if name == "amounts" and any(x is not None and not math.isfinite(x) for x in v):
            out.add("expected finite numbers")
        return out

    base = batch.table_from_dicts(FLAT, [plain])
    for name, values in odd.items():
        dtypes = [base.schema[name], pl.List(pl.Categorical)] if name == "kinds" else [base.schema[name]]
        for dtype in dtypes:
            table = pl.concat([base] * len(values)).with_columns(pl.Series(name, values, dtype=dtype))
            with pytest.raises(DossierError) as info:
                batch.evaluate_table(FLAT, table)
            got = [set() for _ in values]
            for p in info.value.problems:
                row, field = re.fullmatch(r"\[(\d+)\]\.(\w+)", p.path).groups()
                assert field == name, p
                got[int(row)].add("found null" if p.message.endswith("found null") else p.message)
            assert got == [wanted(name, v) for v in values], (name, dtype)


def test_bad_columns_are_dossier_errors():
    table = batch.table_from_dicts(GROUPING, SAMPLE[:3])
    with pytest.raises(DossierError) as info:
        batch.evaluate_table(GROUPING, table.drop("call").with_columns(pl.col("n_structures").cast(pl.Float64)))
    got = {(p.path, p.message) for p in info.value.problems}
    assert got == {("call", "missing column"), ("n_structures", "column of type Float64, expected a whole number")}
    with pytest.raises(DossierError) as info:
        batch.evaluate_table(GROUPING, table.with_columns(pl.Series("deadline", ["2025-02-30", "x", None])))
    got = [(p.path, p.message) for p in info.value.problems]
    assert got == [("[0].deadline", "expected a date YYYY-MM-DD, found '2025-02-30'"),
                   ("[1].deadline", "expected a date YYYY-MM-DD, found 'x'"),
                   ("[2].deadline", "expected a date YYYY-MM-DD, found null")]
    naive = batch.typed_table(GROUPING, table).with_columns(pl.col("submitted_at").dt.replace_time_zone(None))
    with pytest.raises(DossierError, match="without a UTC offset"):
        batch.evaluate_table(GROUPING, naive)


def test_bad_dicts_name_the_record():
    recs = [dict(r) for r in SAMPLE[:3]]
    recs[2]["call"] = "both"
    del recs[1]["deadline"]
    with pytest.raises(DossierError) as info:
        batch.evaluate_dicts(GROUPING, recs)
    assert [(p.path, p.message) for p in info.value.problems] == [
        ("[1].deadline", "missing field"), ("[2].call", "unknown value 'both', expected one of 'regional', 'national'")]


def test_defaults_fill_missing_columns():
    recs = [{k: v for k, v in r.items() if k != "mode"} for r in
            [{"k": "a", "flag": True, "n": 1, "share": 0.5, "label": "x", "tags": [], "kinds": [], "amounts": [],
              "flags": [], "counts": [], "day": "2025-01-01", "due": None, "at": "2025-01-01T10:00:00Z",
              "level": 1}]]
    table = batch.table_from_dicts(FLAT, recs).drop("mode")
    assert_same(FLAT, recs, batch.evaluate_table(FLAT, table))


# ---- outside the subset ------------------------------------------------------------------
def test_bundled_policy_is_unsupported():
    policy = esms_rules.load_policy("esms-numerique-2025")
    assert not batch.supports(policy)
    with pytest.raises(BatchUnsupported, match="records|per record"):
        batch.evaluate_table(policy, pl.DataFrame({"id": ["x"]}))
    assert issubclass(BatchUnsupported, EsmsError)


HEAD = 'policy "p" { campaign 1 }\ncodes { A "a" }\n'


@pytest.mark.parametrize("body, match", [
    ('record r { x: int }\nfact f: r\nrule a { code A severity blocking when f.x > 1 message "m" source "s" }',
     "records"),
    ('fact xs: list of int\nrule a { code A severity blocking when count(x for x in xs where x > 1) > 0 '
     'message "m" source "s" }', "generator"),
    ('fact d: decimal\nrule a { code A severity blocking when round(d, 2) > 1 message "m" source "s" }', "round"),
    ('fact ds: list of date\nrule a { code A severity blocking when count(ds) > 1 message "m" source "s" }',
     "list of date"),
    ('fact n: int\nrule a { code A severity blocking when n in [1, n] message "m" source "s" }',
     "list of expressions"),
    # issue 13 item 1: Int64 would wrap, Float64 would round: refused where a decision reads them
    ('fact k: int\nrule a { code A severity blocking when k * k < 0 message "m" source "s" }', r"<p>:\d+:\d+: whole"),
    ('fact s: decimal\nrule a { code A severity blocking when 1 - s > 0.3 message "m" source "s" }',
     r"<p>:\d+:\d+: a decision would read decimal arithmetic"),
    ('fact s: decimal\ndef t = s + 1\nrule a { code A severity blocking when t > 1 message "m" source "s" }',
     "decimal arithmetic"),
    ('fact xs: list of int\nrule a { code A severity blocking when sum(xs) > 1 message "m" source "s" }', "sum"),
])
def test_unsupported_constructs(body, match):
    policy = Policy.from_text(HEAD + body, "<p>")
    with pytest.raises(BatchUnsupported, match=match):
        batch.plan(policy)
    assert not batch.supports(policy)
    # per record, of course, it runs
    assert policy.evaluate_many([], mode="decision") is not None
