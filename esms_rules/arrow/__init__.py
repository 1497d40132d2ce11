"""Arrow in, Arrow out: dossiers as Arrow record batches, decided over columns.

    pip install "esms-rules[batch]"      # polars and pyarrow

`evaluate_arrow(policy, record_batch) -> record_batch` and `evaluate_batches(policy, batches)`
(an iterator of record batches in, one out per batch, in order) have the shape that Spark's
`mapInArrow` and Ray's `map_batches` take; `evaluate_parquet(policy, source, target)` streams
a Parquet file of dossiers to a Parquet file of decisions (`esms-rules evaluate
dossiers.parquet -o decisions.parquet`). docs/columnar.md documents both schemas.

The dossier schema: one column per fact of the policy (`id`, `campaign`, `call`,
`submitted_at`…); records (`applicant`, `software`) as `struct`; lists of records
(`structures`, `other_eu_funding`) as `list<struct>`; lists of values as `list<…>`.
Accepted types: `bool`; integers; `float64`, integers or `decimal128` for decimals; strings
(or dictionary strings) for text and enums; ISO strings or `date32` for dates; ISO strings
or `timestamp[tz]` for date-times. A null is JSON's `null`, except for a fact with a default
(`programme`) and for a column the policy does not know, where it means "absent".

Each row is checked over columns; a row that breaks the schema, carries a field the policy
does not know, or has a value without an exact column form, is decided by the per-record
path (`Policy.evaluate`) from its JSON form — so it gets the validator's problems in order,
or its UNKNOWN_FIELD warnings — and put back at its place. No row is lost or reordered.
"""
from __future__ import annotations

from .decisions import _decision_row, _quantized, columnar_decisions
from .frames import _drop_absent, _json_value, frames_from_arrow, json_rows
from .messages import _shown_text
from .parquet import evaluate_parquet, evaluate_parquet_cli, write_dossiers_parquet
from .run import evaluate_arrow, evaluate_batches
from .schema import PLACES, decision_schema, dossier_schema

__all__ = ["PLACES", "columnar_decisions", "decision_schema", "dossier_schema", "evaluate_arrow", "evaluate_batches",
           "evaluate_parquet", "evaluate_parquet_cli", "frames_from_arrow", "json_rows", "write_dossiers_parquet",
           # read by campaign.py (rows of a Parquet campaign) and the tests
           "_decision_row", "_drop_absent", "_json_value", "_quantized", "_shown_text"]
