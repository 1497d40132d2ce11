"""Batch evaluation over columns: a checked policy translated to polars expressions.

    pip install "esms-rules[batch]"      # polars

`evaluate_table(policy, table)` takes a polars DataFrame or LazyFrame, an Arrow table, or
the path of a Parquet file, whose columns are the policy's facts (one row per dossier), and
returns a DataFrame with, per row, `eligible`, `recevable`, each output, and the codes of
the rules that fired: `reasons` (blocking, inadmissible) and `warnings`, in the order the
per-record path lists them. `evaluate_dicts(policy, records)` does the same for JSON-like
dicts. Record for record, the decisions are those of `Policy.decide` / `Policy.evaluate`.

The translation covers flat policies: facts that are scalars (bool, int, decimal, text,
enums, date, datetime, optional or not) or lists of scalars; literals, facts and
definitions, comparisons, `and`/`or`/`not`, `if`, `+ - *`, `in` a list of literals or a
list column, `count`/`distinct`/`any`/`all`/`sum`/`min`/`max` of a list column, table
lookups, `coalesce`, `end_of_day`, definitions with parameters (inlined), rules and
exceptions with priorities, outputs without `for`. Anything else (records, lists of
records, rules `for s in …`, `passes`, `repeated`, generators, `round`) raises
`BatchUnsupported`, an `EsmsError`, before any row is read: callers then evaluate per
record (`Policy.evaluate_many`), or use `esms_rules.columnar` / `esms_rules.arrow`, which run
every bundled policy over columns, exactly (docs/columnar.md). `supports(policy)` tells in
advance.

Representation: `decimal` is Float64 here (Decimal per record), `int` is Int64. So that no
decision reads a rounded or wrapped value, decimal `+ - *` is allowed only where its value is
shown (an output: agrees to ~1e-15), whole-number `+ - *` only where the facts' ranges bound
it below 2**63, and `sum` not at all; anything else is refused with its span (use
`esms_rules.columnar`, exact). Comparisons of a decimal fact with a literal agree exactly for
literals of up to 15 significant digits. `datetime` columns are instants in UTC (microseconds); `end_of_day`
is computed with the per-record runtime for each distinct day, so both paths use the same
time-zone rules. Validation is by column (types, nulls, enum values, constraints,
date strings); a table that breaks the schema raises `DossierError` with row paths
(`[12].confort_share`). Unknown columns are ignored (no UNKNOWN_FIELD warning).
"""
from __future__ import annotations

from .run import evaluate_dicts, evaluate_table
from .translate import (
    _PLANS,
    RESULT_COLUMNS,
    BatchUnsupported,
    _end_of_day,
    _polars,
    plan,
    supports,
)
from .typed import _DATE_SHAPE, _DATETIME_SHAPE, MAX_PROBLEMS, table_from_dicts, typed_table

__all__ = ["MAX_PROBLEMS", "RESULT_COLUMNS", "BatchUnsupported", "evaluate_dicts", "evaluate_table", "plan",
           "supports", "table_from_dicts", "typed_table",
           # used by the other columnar back ends (esms_rules.columnar, esms_rules.arrow, builtins)
           "_DATETIME_SHAPE", "_DATE_SHAPE", "_PLANS", "_end_of_day", "_polars"]
