"""Arrow in, Arrow out: `esms_rules.arrow` against the per-record path, row for row."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esms_rules import load_policy
from esms_rules.diagnostics import DossierError

from strategies import POLICY_PAIRS
from test_columnar import ROOT, tweaked

pa = pytest.importorskip("pyarrow")
pytest.importorskip("polars")
from esms_rules import arrow as A  # noqa: E402

POLICIES = sorted(POLICY_PAIRS)


def expected_rows(policy, ds):
    out = []
    for d in ds:
        try:
            out.append(A._decision_row(policy.evaluate(d, trace=False)))
        except DossierError as e:
            out.append(A._decision_row(e))
    return out


def to_table(policy, ds):
    """The Arrow form of JSON dossiers; a dossier that does not fit the schema's types is kept
    as a row of nulls with its id (it is then a bad row, decided per record)."""
    schema = A.dossier_schema(policy)
    rows, tables = [], []
    for d in ds:
        try:
            tables.append(pa.Table.from_pylist([d], schema=schema))
            rows.append(d)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError):
            tables.append(pa.Table.from_pylist([{}], schema=schema))
            rows.append(None)
    return pa.concat_tables(tables).combine_chunks(), rows


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_arrow_same_as_per_record(name, data):
    policy = load_policy(name)
    ds = data.draw(st.lists(tweaked(name), min_size=1, max_size=8))
    table, rows = to_table(policy, ds)
    kept = [A._drop_absent(A._json_value(r), policy.checked.facts) for r in table.to_pylist()]
    got = A.evaluate_arrow(policy, table).to_pylist()
    assert got == expected_rows(policy, kept)
    for d, r, g in zip(ds, rows, got):   # rows that fit the schema: the JSON dossier's own decision
        if r is not None:
            assert g["dossier"] == (d.get("id") if isinstance(d.get("id"), str) else g["dossier"])


def test_arrow_native_types():
    policy = load_policy("esms-numerique-2025")
    d = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))
    for i, s in enumerate(d["structures"]):
        s["confort_share"] = [0.1234567, 0, 1, 0.5][i % 4]
    want = expected_rows(policy, [d])
    schema = A.dossier_schema(policy)
    paris = "Europe/Paris"
    fields = []
    for f in schema:
        if f.name == "submitted_at":
            f = pa.field(f.name, pa.timestamp("us", tz=paris))
        elif f.name == "convention_signed_on":
            f = pa.field(f.name, pa.date32())
        elif f.name == "structures":
            st_type = f.type.value_type
            inner = [pa.field("confort_share", pa.decimal128(12, 7)) if x.name == "confort_share" else x
                     for x in st_type]
            f = pa.field(f.name, pa.list_(pa.struct(inner)))
        fields.append(f)
    native = dict(d)
    native["submitted_at"] = dt.datetime.fromisoformat(d["submitted_at"])
    if d["convention_signed_on"] is not None:
        native["convention_signed_on"] = dt.date.fromisoformat(d["convention_signed_on"])
    native["structures"] = [{**s, "confort_share": Decimal(repr(float(s["confort_share"])))} for s in d["structures"]]
    got = A.evaluate_arrow(policy, pa.Table.from_pylist([native], schema=pa.schema(fields))).to_pylist()
    w = want[0]
    assert got[0]["eligible"] == w["eligible"] and got[0]["reasons"] == w["reasons"]
    assert got[0]["structures"] == w["structures"]


def test_bad_rows_keep_their_place(tmp_path):
    policy = load_policy("esms-numerique-2025")
    d = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))
    bad = json.loads(json.dumps(d))
    bad["id"] = "bad"
    bad["call"] = "nowhere"
    bad["structures"][0]["department"] = "00"
    unknown = json.loads(json.dumps(d))
    unknown["id"] = "unknown"
    unknown["note"] = "x"
    ds = [d, bad, unknown, d]
    schema = A.dossier_schema(policy)
    schema = schema.append(pa.field("note", pa.string()))
    table = pa.Table.from_pylist(ds, schema=schema)
    got = A.evaluate_arrow(policy, table).to_pylist()
    assert [g["dossier"] for g in got] == [d["id"], "bad", "unknown", d["id"]]
    assert [p["path"] for p in got[1]["errors"]] == ["call", "structures[0].department"]
    assert any(w["code"] == "UNKNOWN_FIELD" for w in got[2]["warnings"])
    assert got == expected_rows(policy, ds)


def test_cli_parquet_in_parquet_out(tmp_path):
    import subprocess
    import sys
    import pyarrow.parquet as pq
    policy = load_policy("esms-numerique-2025")
    d = json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))
    other = json.loads((ROOT / "examples" / "dossier-2025-ineligible.json").read_text(encoding="utf-8"))
    bad = dict(d, id="bad", call="nowhere")
    ds = [d, other, bad] * 5
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    A.write_dossiers_parquet(ds, src, policy)
    run = subprocess.run([sys.executable, "-m", "esms_rules", "evaluate", str(src), "-o", str(dst)],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 2, run.stderr          # bad rows: exit 2, as for JSON input
    assert "15 dossiers: 5 eligible, 5 ineligible, 5 errors" in run.stderr
    got = pq.read_table(dst).to_pylist()
    assert got == expected_rows(policy, ds)
    same_file = subprocess.run([sys.executable, "-m", "esms_rules", "evaluate", str(src), "-o", str(src)],
                               capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert same_file.returncode == 2 and pq.read_table(src).num_rows == 15


def test_message_values_rendered_over_columns_as_per_record():
    """Each value a message shows, rendered by polars expressions, reads as `french.french`
    reads it per record: instants around the Paris time changes and at every offset, decimals,
    dates, lists, booleans, and the null word of the placeholder."""
    import polars as pl

    from esms_rules.columnar import Shown
    from esms_rules.french import french
    instants = ["2025-03-30T00:59:59Z", "2025-03-30T01:00:00Z", "2025-03-30T03:00:00+02:00",
                "2025-10-26T00:59:00Z", "2025-10-26T01:00:00+00:00", "2025-10-26T02:30:00+01:00",
                "2025-10-26T02:30:00+02:00", "2025-09-15T23:59:59+04:00", "2025-09-15T21:59:59-00:00",
                "2025-06-01T00:00:00-04:00", "2025-06-01T00:00:00.250000+05:30", "1899-12-31T23:00:00+00:00",
                "2200-01-01T00:00:00+01:00", "0001-01-01T00:00:00+00:00", None]
    texts = A._shown_text(pl, pl.DataFrame({"t": instants}), Shown("t", None, "datetime", None), "non renseignée")
    assert texts.to_list() == [french(dt.datetime.fromisoformat(v) if v else None, "non renseignée")
                               for v in instants]
    scaled = [0, 1, -1, 10**9, -(10**9), 123456789, 1200000000, 7 * 10**8, None, 2**62]
    for scale in (0, 2, 9):
        texts = A._shown_text(pl, pl.DataFrame({"k": scaled}), Shown("k", scale, "decimal", None), "sans objet")
        assert texts.to_list() == [french(None if k is None else Decimal(k).scaleb(-scale), "sans objet")
                                   for k in scaled]
    values = {"d": [dt.date(2025, 1, 2), dt.date(1, 3, 4), None], "b": [True, False, None],
              "l": [["a", "b"], [], None], "i": [[1, 2], [], [3]], "s": ["x", "", None], "n": [5, -7, None]}
    frame = pl.DataFrame(values)
    for name, column in values.items():
        texts = A._shown_text(pl, frame, Shown(name, None, "value", None), "non renseigné")
        assert texts.to_list() == [french(v) for v in column], name


def test_overflow_and_decimals_are_exact_from_arrow():
    """Results that may pass 2**62 are decided per record from the Arrow row, never wrapped; a
    decimal read from a float is exact (`1 - 0.7 > 0.3` is false, as per record)."""
    from test_columnar import OVERFLOW

    from esms_rules.evaluate import Policy
    policy = Policy.from_text(OVERFLOW)
    big = 3037000500
    ds = [{"id": "a", "k": big, "ks": [{"k": big, "share": 0.7}]},
          {"id": "b", "k": 2, "ks": [{"k": 2**62, "share": 0.7000001}, {"k": 2**62, "share": 0.3}]},
          {"id": "c", "k": -big, "ks": []},
          {"id": "d", "k": 1, "ks": [{"k": 1, "share": 0.1234567}]},
          {"id": "e", "k": 2**63 - 1, "ks": [{"k": -(2**63), "share": 0.0000001}]}]
    table = pa.Table.from_pylist(ds, schema=A.dossier_schema(policy))
    got = A.evaluate_arrow(policy, table).to_pylist()
    assert got == expected_rows(policy, ds)
    assert [g["eligible"] for g in got] == [True, False, True, False, False]


@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_amounts_and_shares_are_the_exact_decimals(data):
    """`amount_eur` and `funded_share` are decimal128(38, 18): the decision's own Decimals (2021
    regional amounts in cents, shares of 7-place confort shares), never their nearest floats;
    a share with more than 18 places is rounded half-even to 18."""
    from test_columnar import tweaked
    policy = load_policy("esms-numerique-2021")
    ds = data.draw(st.lists(tweaked("esms-numerique-2021"), min_size=1, max_size=6))
    table, rows = to_table(policy, ds)
    got = A.evaluate_arrow(policy, table)
    assert got.schema.field("amount_eur").type == pa.decimal128(38, 18)
    for g, d in zip(got.to_pylist(), [A._drop_absent(A._json_value(r), policy.checked.facts)
                                      for r in table.to_pylist()], strict=True):
        try:
            want = policy.evaluate(d, trace=False)
        except DossierError:
            continue
        assert g["amount_eur"] == want.amount_eur
        for s, w in zip(g["structures"], want.structures, strict=True):
            exact = w.funded_share is None or -Decimal(w.funded_share).as_tuple().exponent <= 18
            # beyond 18 places (a share read from a float such as 5.960464477539063e-08): rounded
            assert s["funded_share"] == (w.funded_share if exact else A._quantized(w.funded_share))


# ---- the item checks of list columns (no `list.eval`) -------------------------------------
LISTS = '''policy "lists" { programme "x" campaign 1 effective 2025-01-01 instruction "i" }
enum kind { "a", "b", "" }
record item { tags: list of kind  ns: list of int }
codes { K "k"  N "n"  F "f"  T "t" }
fact id: text
fact kinds: list of kind
fact counts: list of int
fact flags: list of bool
fact items: list of item
rule k { code K severity blocking when count(kinds) > 1 message "{kinds} / {counts} / {flags}" source "s" }
rule n { code N severity warning when count(counts) > 0 message "{counts}" source "s" }
rule f { code F severity warning when count(flags) == 0 message "{flags}" source "s" }
rule t { code T severity warning when any(count(i.ns) > 1 for i in items) message "{kinds}" source "s" }
'''
ODD_KINDS = [["a"], ["zz"], ["a", None], [None], [], None, ["b", "", "a"], ["zz", None], ["", "zz"]]
ODD_COUNTS = [[1], [2**62], [-(2**62)], [2**62 - 1, -(2**62) + 1], [None], [], None, [-(2**63)], [2**63 - 1],
              [0, None, 5], [2**63, 1], [2**64 - 1], [2**31 - 1, -(2**31)]]
ODD_FLAGS = [[True], [True, None], [None], [], None, [False, False]]


def _odd_list_dossiers():
    """One dossier for each odd value of each list (the others plain), at the dossier level and
    inside the items."""
    plain = {"kinds": ["a", "b"], "counts": [3, 4], "flags": [True, False], "items": [{"tags": ["b"], "ns": [1, 2]}]}
    ds = [dict(plain, id="plain")]
    for name, odd in [("kinds", ODD_KINDS), ("counts", ODD_COUNTS), ("flags", ODD_FLAGS)]:
        ds += [dict(plain, id=f"{name}{j}", **{name: v}) for j, v in enumerate(odd)]
    for name, odd in [("tags", ODD_KINDS), ("ns", ODD_COUNTS)]:
        ds += [dict(plain, id=f"item.{name}{j}", items=[{"tags": ["a"], "ns": []}, {"tags": [], "ns": [], name: v}])
               for j, v in enumerate(odd)]
    return ds


def _needs_record(d):
    """What the list checks must send per record: a null list, a null item, an item out of the
    enum, an integer of magnitude 2**62 or more (Python's abs, which does not wrap)."""
    def bad(v, known=None):
        return v is None or any(x is None or (known is not None and x not in known)
                                or (isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 2**62) for x in v)
    kinds = {"a", "b", ""}
    return (bad(d["kinds"], kinds) or bad(d["counts"]) or bad(d["flags"])
            or any(bad(i["tags"], kinds) or bad(i["ns"]) for i in d["items"]))


@pytest.mark.parametrize("counts_type", ["int64", "uint64", "int32"])
def test_list_item_checks_send_exactly_the_odd_rows_per_record(counts_type):
    """Null lists, empty lists, null items, unknown enum values and integers at ±2**62 (and
    -2**63, where `abs` wraps): exactly the rows the per-record path must decide leave the
    columnar path, and every row's decision is the per-record one."""
    import pyarrow.compute as pc

    from esms_rules import columnar
    from esms_rules.evaluate import Policy
    policy = Policy.from_text(LISTS)
    lo, hi = {"int64": (-(2**63), 2**63), "uint64": (0, 2**64), "int32": (-(2**31), 2**31)}[counts_type]

    def fits(xs, lo=-(2**63), hi=2**63):
        return all(x is None or lo <= x < hi for x in xs or [])
    ds = [d for d in _odd_list_dossiers()      # the integers a column cannot hold are left out
          if fits(d["counts"], lo, hi) and all(fits(i["ns"]) for i in d["items"])]
    schema = A.dossier_schema(policy)
    schema = schema.set(schema.get_field_index("counts"), pa.field("counts", pa.list_(getattr(pa, counts_type)())))
    table = pa.Table.from_pylist(ds, schema=schema)
    assert pc.max(pc.list_value_length(table["counts"])).as_py() >= 1
    got = A.frames_from_arrow(columnar.plan(policy), table.to_batches()[0])
    assert got is not None
    per_record = [d["id"] for d in (ds[i] for i in got[3])]
    assert per_record == [d["id"] for d in ds if _needs_record(d)]
    assert len(got[2]) >= 10          # the plain rows stay columnar
    assert A.evaluate_arrow(policy, table).to_pylist() == expected_rows(policy, ds)


def test_list_item_masks_on_nulls_empties_and_nan():
    """The item tests of `batch.typed` (read by the Arrow frames too) row by row against Python:
    true where some item is so, false for an empty list, null for a null list; a null item is
    neither unknown nor non-finite; NaN of any sign and payload, +inf and -inf are non-finite,
    1e308 and -0.0 are not."""
    import math
    import struct

    import polars as pl

    from esms_rules.batch.typed import _non_finite_item, _null_item, _unknown_item
    other_nan = struct.unpack("<d", struct.pack("<Q", 0xFFF8000000000001))[0]
    floats = [[1.0, math.nan], [math.nan], [math.inf], [-math.inf, 1.0], [None, 2.0], [None], [], None, [1e308, 1e308],
              [-0.0], [-math.nan, None], [other_nan], [math.inf, -math.inf], [5e-324, -1.7976931348623157e308]]
    f = pl.DataFrame({"x": pl.Series(floats, dtype=pl.List(pl.Float64))})
    x = pl.col("x")
    got = f.select(n=_null_item(x), nf=_non_finite_item(x))
    assert got["n"].to_list() == [None if v is None else any(e is None for e in v) for v in floats]
    assert got["nf"].to_list() == [None if v is None else any(e is not None and not math.isfinite(e) for e in v)
                                   for v in floats]
    known = ["a", "b", ""]
    for dtype in (pl.String, pl.Categorical):
        s = pl.DataFrame({"s": pl.Series(ODD_KINDS + [["b"], ["A"], [" a"]], dtype=pl.List(dtype))})
        texts = pl.col("s").cast(pl.List(pl.String))       # as both callers have them
        got = s.select(u=_unknown_item(pl, texts, known), n=_null_item(texts))
        assert got["u"].to_list() == [None if v is None else any(e is not None and e not in known for e in v)
                                      for v in s["s"].to_list()]
        assert got["n"].to_list() == [None if v is None else None in v for v in s["s"].to_list()]
    empty = pl.DataFrame({"e": pl.Series([[None], [], None], dtype=pl.List(pl.Null))})
    assert empty.select(_null_item(pl.col("e"))).to_series().to_list() == [True, False, None]


def test_list_message_values_read_as_per_record():
    """A list a message shows reads as `french.french` reads it per record, for every item type
    with a columnar spelling and the others (per value): a null item reads « non renseigné »
    (not "non" for a boolean), an empty list « aucun », a null list the placeholder's word."""
    import polars as pl

    from esms_rules.columnar import Shown
    from esms_rules.french import french
    values = {
        "b": pl.Series([[True, None, False], None, [], [None], [False, True]], dtype=pl.List(pl.Boolean)),
        "n": pl.Series([[None, None], None, [], [None], []], dtype=pl.List(pl.Null)),
        "s": pl.Series([["a", None], None, [], [None], ["true", "false, x"]], dtype=pl.List(pl.String)),
        "d": pl.Series([[dt.date(2024, 1, 2), None], None, [], [None], [dt.date(1, 3, 4)]], dtype=pl.List(pl.Date)),
        "u": pl.Series([[2**64 - 1, None], None, [], [None], [0]], dtype=pl.List(pl.UInt64)),
        "i": pl.Series([[-(2**63), None], None, [], [None], [-7, 0]], dtype=pl.List(pl.Int64)),
        "f": pl.Series([[1.5, None], None, [], [None], [-0.25]], dtype=pl.List(pl.Float64)),
    }
    frame = pl.DataFrame(values)
    for name, column in values.items():
        texts = A._shown_text(pl, frame, Shown(name, None, "value", None), "sans objet")
        assert texts.to_list() == [french(v, "sans objet") for v in column.to_list()], name
