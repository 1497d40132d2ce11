"""Input: a table (polars, Arrow, Parquet) or JSON-like dicts as the fact columns a `_Plan`
reads, typed (decimals as Float64, dates as Date, date-times as Datetime in UTC) and checked
like the per-record validator: a bad column or row is a `DossierError` with row paths."""
from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

from .. import ast
from .. import types as T
from ..diagnostics import DossierError, Problem
from ..validate import DATE_RE, DATE_SHAPE, DATETIME_USUAL_SHAPE, EXPECTED, _datetime_general, expected
from .translate import UTC, BatchUnsupported, _dtype, _Plan, _value, plan

if TYPE_CHECKING:
    import polars

    from ..policy import Policy

MAX_PROBLEMS = 100
# what evaluate_table reads: a polars DataFrame or LazyFrame, an Arrow table, a Parquet path
Table: TypeAlias = "polars.DataFrame | polars.LazyFrame | str | Path | Any"


def _polars_shape(shape: str) -> str:
    """A shape of validate.py for polars' `str.contains` (Rust regex): anchored, as `contains`
    matches anywhere, and with ASCII digits, as Rust's `\\d` is any Unicode digit, which
    `%Y-%m-%d` would not parse (such strings then take the per-record rule, in `_parse`)."""
    return "^" + shape.replace(r"\d", "[0-9]") + "$"


# the strings polars parses itself (`_parse`); any other goes through validate.py's rule
_DATE_SHAPE = _polars_shape(DATE_SHAPE)
_DATETIME_SHAPE = _polars_shape(DATETIME_USUAL_SHAPE)


# Tests of the items of a list column by the list methods, no expression run on each item:
# true where some item is so, false for an empty list, null for a null list.
def _null_item(col: polars.Expr) -> polars.Expr:
    """Some item is null (not of a categorical list: polars does not compare those with null)."""
    return col.list.count_matches(None) > 0


def _unknown_item(pl: ModuleType, col: polars.Expr, values: Sequence[str]) -> polars.Expr:
    """Some item of a list of strings is neither null nor one of `values`: the cast to the enum
    of `values` makes exactly those items null (counted on the codes: an enum is not compared
    with null)."""
    known = col.cast(pl.List(pl.Enum(list(values))), strict=False).to_physical()
    return known.list.count_matches(None) != col.list.count_matches(None)


def _non_finite_item(col: polars.Expr) -> polars.Expr:
    """Some item of a list of floats is NaN, +inf or -inf (`contains` finds a NaN)."""
    return col.list.contains(math.nan) | col.list.contains(math.inf) | col.list.contains(-math.inf)


class _Problems:
    """The problems of a table, the first MAX_PROBLEMS of them kept, the others counted."""

    def __init__(self) -> None:
        self.items: list[Problem] = []
        self.more = 0

    def add(self, path: str, message: str) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(path, message))
        else:
            self.more += 1

    def rows(self, mask: polars.Series, values: polars.Series, field: str, message: Callable[[Any], str]) -> None:
        """A problem for each row where `mask` holds; `message(value)`."""
        if not mask.any():
            return
        idx = mask.arg_true()
        for i in idx.head(MAX_PROBLEMS).to_list():     # the Python value (`values[i]` of a list is a Series)
            self.add(f"[{i}].{field}", message(values.slice(i, 1).to_list()[0]))
        self.more += max(0, len(idx) - MAX_PROBLEMS)

    def raise_if_any(self) -> None:
        if self.items:
            items = list(self.items)
            if self.more:
                items.append(Problem("$", f"… and {self.more} more problem(s)"))
            raise DossierError(items)


class _Check(NamedTuple):
    """A check of a typed column, run with every other in one query (see `_prepare`)."""
    any_bad: polars.Expr        # a scalar: does some row fail?
    mask: polars.Expr           # the rows that fail
    field: str
    message: Callable[[Any], str]     # the problem, from the row's value


def _frame(pl: ModuleType, table: Table, columns: list[str]) -> polars.DataFrame:
    if isinstance(table, (str, Path)):
        path = Path(table)
        present = set(pl.read_parquet_schema(path)) if hasattr(pl, "read_parquet_schema") else None
        cols = [c for c in columns if present is None or c in present]
        return pl.read_parquet(path, columns=cols)
    if isinstance(table, pl.LazyFrame):
        names = table.collect_schema().names()
        return table.select([c for c in columns if c in names]).collect()
    if isinstance(table, pl.DataFrame):
        return table
    if hasattr(table, "__arrow_c_stream__") or type(table).__module__.startswith("pyarrow"):
        return pl.from_arrow(table)
    raise TypeError(f"evaluate_table takes a polars DataFrame or LazyFrame, an Arrow table or a Parquet "
                    f"path, not {type(table).__name__}")


def _prepare(plan: _Plan, table: Table) -> polars.DataFrame:
    """The fact columns, typed as the plan expects, or DossierError.

    Types are checked per column; values (nulls, enum values, constraints…) by one query of
    every check at once, and the rows are looked for only when a check fails."""
    pl = plan.pl
    df = _frame(pl, table, [f.name for f in plan.facts])
    n = df.height
    problems = _Problems()
    checks: list[_Check] = []
    out: dict[str, polars.Series] = {}
    for f in plan.facts:
        if f.name not in df.columns:
            if f.has_default:
                default = _value(f.default.value) if f.default is not None else None
                out[f.name] = pl.Series(f.name, [default] * n, dtype=_dtype(pl, f.type))
            else:
                problems.add(f.name, "missing column")
            continue
        s = _column(pl, df.get_column(f.name), f, problems, checks)
        if s is not None:
            out[f.name] = s
    typed = pl.DataFrame(out, height=n) if out else pl.DataFrame(height=n)
    checks = [c for c in checks if c.field in out]      # not the columns of a wrong type
    if checks and n:
        flags = typed.select([c.any_bad.alias(f"__check{i}") for i, c in enumerate(checks)]).row(0)
        for flag, c in zip(flags, checks, strict=True):
            if flag:
                mask = typed.select(c.mask.alias("m")).to_series()
                problems.rows(mask, typed.get_column(c.field), c.field, c.message)
    problems.raise_if_any()
    return typed


def _column(pl: ModuleType, s: polars.Series, f: T.Field, problems: _Problems,
            checks: list[_Check]) -> polars.Series | None:
    """Column `s` of fact `f` typed as the plan reads it, its value checks added to `checks`;
    None (its problem added) when the column's type cannot hold the fact's."""
    t, name = f.type, f.name
    optional = isinstance(t, T.Optional)
    base = T.strip(t)
    dtype = s.dtype
    if dtype == pl.Null:
        s = s.cast(_dtype(pl, base))
        dtype = s.dtype
    col = pl.col(name)

    def check(mask: polars.Expr, message: Callable[[Any], str], any_: polars.Expr | None = None) -> None:
        checks.append(_Check(mask.any() if any_ is None else any_, mask, name, message))

    def bad_type() -> polars.Series | None:
        """The column's type cannot hold the fact's: a problem, and no column."""
        problems.add(name, f"column of type {dtype}, expected {expected(t)}")
        return None
    if not optional:
        if dtype == pl.String and base in (T.DATE, T.DATETIME):
            missing = s.is_null()   # before parsing: a string that is no date is reported as such
            check(pl.lit(missing), lambda v: f"expected {expected(t)}, found null", pl.lit(bool(missing.any())))
        else:
            check(col.is_null(), lambda v: f"expected {expected(t)}, found null")
    if isinstance(base, T.List):
        if not isinstance(dtype, pl.List):
            return bad_type()
        el = base.element
        inner = dtype.inner
        if isinstance(el, T.Enum) or el == T.TEXT:
            if inner not in (pl.String, pl.Categorical, pl.Null) and not isinstance(inner, (pl.Categorical, pl.Enum)):
                return bad_type()
        elif el == T.BOOL and inner not in (pl.Boolean, pl.Null):
            return bad_type()
        elif el == T.INT and not (inner.is_integer() or inner == pl.Null):
            return bad_type()
        elif el == T.DECIMAL and (inner == pl.Boolean or not (inner.is_numeric() or inner == pl.Null)):
            return bad_type()
        s = s.cast(_dtype(pl, base))
        # an empty or a null list explodes to one null too
        check(_null_item(col).fill_null(False),
              lambda v: f"a list item is null: {v!r}",
              col.explode().null_count() > (col.list.len() == 0).sum() + col.null_count())
        if isinstance(el, T.Enum):
            check(_unknown_item(pl, col, el.values).fill_null(False),
                  lambda v: f"unknown value in {v!r}, expected values of {el.name}",
                  ~col.explode().drop_nulls().unique().is_in(list(el.values)).all())
        if el == T.DECIMAL:
            check(_non_finite_item(col).fill_null(False),
                  lambda v: "expected finite numbers", (~col.explode().is_finite()).fill_null(False).any())
    elif isinstance(base, T.Enum) or base == T.TEXT:
        if dtype != pl.String and not isinstance(dtype, (pl.Categorical, pl.Enum)):
            return bad_type()
        s = s.cast(pl.String)
        if isinstance(base, T.Enum):
            shown = ", ".join(map(repr, base.values[:12])) + (", …" if len(base.values) > 12 else "")
            check(~col.is_in(list(base.values)).fill_null(True),
                  lambda v: f"unknown value {v!r}, expected one of {shown}",
                  ~col.drop_nulls().unique().is_in(list(base.values)).all())
    elif base == T.BOOL:
        if dtype != pl.Boolean:
            return bad_type()
    elif base == T.INT:
        if not dtype.is_integer():
            return bad_type()
        try:
            s = s.cast(pl.Int64)
        except Exception:
            raise BatchUnsupported(f"`{name}`: whole numbers beyond 64 bits run per record") from None
    elif base == T.DECIMAL:
        if not (dtype.is_numeric()) or dtype == pl.Boolean:
            return bad_type()
        s = s.cast(pl.Float64)
        check((~col.is_finite()).fill_null(False), lambda v: "expected a finite number")
    elif base == T.DATE:
        if dtype == pl.String:
            s = _parse(pl, s, "date", name, problems)
        elif dtype != pl.Date:
            return bad_type()
    elif base == T.DATETIME:
        if dtype == pl.String:
            s = _parse(pl, s, "datetime", name, problems)
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                problems.add(name, "date-times without a UTC offset (a column without time zone)")
                return None
            s = s.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        else:
            return bad_type()
    c = f.constraint
    if isinstance(c, ast.LengthConstraint):
        check((col.str.len_chars() != c.length).fill_null(False),
              lambda v: f"must be {c.length} characters long, found {len(v)} ({v!r})")
    elif isinstance(c, ast.RangeConstraint):
        lo, hi = _value(c.low.value), _value(c.high.value)
        check(((col < lo) | (col > hi)).fill_null(False),
              lambda v: f"must be between {c.low.value} and {c.high.value}, found {v}")
    return s.alias(name)


def _parse(pl: ModuleType, s: polars.Series, kind: str, name: str, problems: _Problems) -> polars.Series:
    """ISO strings -> Date / Datetime(UTC), exactly as the per-record validator reads them:
    the usual shape by polars, every other string by the validator's own rule."""
    if kind == "date":
        usual = s.str.contains(_DATE_SHAPE).fill_null(False)
        parsed = s.str.to_date("%Y-%m-%d", strict=False)
        target = pl.Date
    else:
        usual = s.str.contains(_DATETIME_SHAPE).fill_null(False)
        parsed = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC", time_unit="us", strict=False)
        target = pl.Datetime("us", "UTC")
    parsed = pl.select(pl.when(usual).then(parsed).otherwise(None).alias(name)).to_series()
    odd = parsed.is_null() & s.is_not_null()
    if not odd.any():
        return parsed
    idx = odd.arg_true().to_list()
    raw = s.to_list()
    fixed = []
    for i in idx:
        v = raw[i]
        if kind == "date":
            try:
                value = dt.date.fromisoformat(v) if DATE_RE.fullmatch(v) else None
            except ValueError:
                value = None
            if value is None:
                problems.add(f"[{i}].{name}", f"expected {EXPECTED['date']}, found {v!r}")
        else:
            value = _datetime_general(v)
            if value is None:
                problems.add(f"[{i}].{name}", f"expected {EXPECTED['datetime']}, found {v!r}")
            else:
                value = value.astimezone(UTC)
        fixed.append(value)
    patch = pl.Series(name, fixed, dtype=target)
    return parsed.scatter(idx, patch)


def typed_table(policy: Policy, table: Table) -> polars.DataFrame:
    """The policy's fact columns of `table`, checked and typed as `evaluate_table` reads them
    (dates as Date, date-times as Datetime in UTC, enums as String); DossierError if bad."""
    return _prepare(plan(policy), table)


def table_from_dicts(policy: Policy, records: Iterable[dict[str, Any]]) -> polars.DataFrame:
    """The fact columns of JSON-like dicts (dates as ISO strings), each checked first by the
    per-record validator; DossierError lists the problems of every bad record."""
    pl_plan = plan(policy)
    pl = pl_plan.pl
    if not isinstance(records, list):
        records = list(records)
    convert = policy.validator.convert
    problems = _Problems()
    for i, r in enumerate(records):
        try:
            convert(r)
        except DossierError as e:
            for prob in e.problems:
                problems.add(f"[{i}]" + ("" if prob.path == "$" else "." + prob.path), prob.message)
    problems.raise_if_any()
    columns: dict[str, polars.Series] = {}
    for f in pl_plan.facts:
        base = T.strip(f.type)
        raw = pl.String if base in (T.DATE, T.DATETIME) else _dtype(pl, base)
        values: list[Any]
        if f.has_default:
            default = f.default.value if f.default is not None else None
            values = [r.get(f.name, default) for r in records]
        else:
            values = [r[f.name] for r in records]
        try:
            if isinstance(base, T.List) and (isinstance(base.element, T.Enum) or base.element == T.TEXT):
                columns[f.name] = _text_lists(pl, f.name, values)
            else:
                columns[f.name] = pl.Series(f.name, values, dtype=raw, strict=raw != pl.Float64)
        except BatchUnsupported:
            raise
        except Exception as e:  # e.g. a whole number beyond 64 bits
            raise BatchUnsupported(f"`{f.name}`: {e}") from None
    return pl.DataFrame(columns, height=len(records))


_SEP = "\x1f"


def _text_lists(pl: ModuleType, name: str, values: list[list[str]]) -> polars.Series:
    """A List(String) column from Python lists of str, by joining and splitting (polars builds
    lists from Python objects slowly); the plain way when a text holds the separator."""
    joined = pl.Series(name, [_SEP.join(v) for v in values], dtype=pl.String)
    lengths = pl.Series([len(v) for v in values], dtype=pl.Int64)
    if (joined.str.count_matches(_SEP, literal=True) != (lengths - 1).clip(lower_bound=0)).any():
        return pl.Series(name, values, dtype=pl.List(pl.String))
    split = joined.str.split(_SEP, inclusive=False)
    empty = pl.Series([[]], dtype=pl.List(pl.String)).new_from_index(0, len(values))
    return pl.select(pl.when(lengths == 0).then(empty).otherwise(split).alias(name)).to_series()


