"""Columnar evaluation of checked policies, records and lists of records included.

    pip install "esms-rules[batch]"      # polars

A policy is compiled once into a *plan*: a list of steps over polars frames.

- The **dossier frame** has one row per dossier (`__row` is its position): scalar facts as
  columns, record facts as struct columns.
- An **item frame** per list of records (`structures`, `other_eu_funding`…) has one row per
  item, keyed by `__row` (its dossier) and `__i` (its position in the list), the item's
  fields as columns.
- Rules `for s in …`, and every expression about one item, are item columns; definitions and
  dossier rules are dossier columns; aggregates (`count`, `distinct`, `any`, `all`, `sum`,
  `min`, `max`, comprehensions `where`) are group-bys of an item frame joined back to the
  dossier frame; `passes(s)` is the absence of a blocking item reason; `repeated(k)` is
  "not the first of its key in its dossier"; tables are replacements.
- Which rule fired is a boolean column per rule (exceptions with their priorities decide it
  as per record); the values that a rule's message interpolates are columns too, read only
  for the rows where the rule fired.

Arithmetic is exact. Whole numbers are Int64; **decimals are scaled integers** (Int64
holding `value × 10**scale`, the scale fixed per expression at compile time: a fact's scale
is `FACT_SCALE` = 9 places, a literal's its own digits, `+ -` align scales, `*` adds them,
`round(x, p)` rounds half up to `p` places). Every `+ - *`, unary `-`, rescaling and `sum`
is checked: a row where a result may pass 2**62 in magnitude (estimated in Float64), or a
decimal fact with more than 9 places, is *not* decided over columns: it is decided by the
per-record path instead (Python integers and `Decimal`s: exact), so no value ever wraps and
no row is decided differently. A construct that has no columnar form is refused when the
plan is built (`ColumnarUnsupported`, with the construct's file:line:col), never while rows
are read.
"""
from __future__ import annotations

from .lower import Lowering
from .plan import _PLANS, Plan, plan
from .run import _python, evaluate_dossiers, frames_from_facts, results, run
from .values import FACT_SCALE, LIMIT, UTC, ColumnarUnsupported, Shown, V, _dtype, _ii, _pick

__all__ = ["FACT_SCALE", "LIMIT", "UTC", "ColumnarUnsupported", "Lowering", "Plan", "Shown", "V", "evaluate_dossiers",
           "frames_from_facts", "plan", "results", "run",
           # read by builtins' columnar forms, esms_rules.arrow and bench/columnar.py
           "_PLANS", "_dtype", "_ii", "_pick", "_python"]
