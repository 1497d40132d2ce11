"""pandas DataFrames as dossiers, for the batch API (`Policy.evaluate_many`).

A DataFrame whose columns are the dossier's top-level fields (nested records and lists held in
object columns, as `pandas.json_normalize(..., max_level=0)` or `pd.DataFrame(list_of_dicts)`
make them) gives one dossier per row, in order. pandas is never imported here: a DataFrame is
recognised by its type's module, so `import esms_rules` stays free of it.

What pandas changes in values is undone, so that the validator sees what JSON would give it:
numpy scalars become Python ones (`.item()`), numpy arrays lists, a timestamp its ISO 8601
text (the validator then asks for an offset where the contract needs one). A top-level cell
holding NaN is a field the row does not have (pandas fills the keys a dict lacked with NaN),
so the field is left out; None, NA and NaT are null.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Iterator


def is_dataframe(obj) -> bool:
    return type(obj).__name__ == "DataFrame" and type(obj).__module__.split(".")[0] == "pandas"


def rows(obj) -> Iterable:
    """The dossiers of a batch: a pandas DataFrame's rows as dicts, anything else as it is."""
    if not is_dataframe(obj):
        if type(obj).__name__ == "DataFrame":       # polars and others: say what to do
            raise TypeError(f"evaluate_many takes dossiers (dicts) or a pandas DataFrame, not a "
                            f"{type(obj).__module__}.DataFrame: for polars use `frame.to_dicts()`, "
                            "or `esms_rules.batch.evaluate_table` for the columnar engine")
        return obj
    return _frame_rows(obj)


def _frame_rows(frame) -> Iterator[dict]:
    columns = [str(c) for c in frame.columns]
    for values in frame.itertuples(index=False, name=None):
        yield {c: plain(v) for c, v in zip(columns, values, strict=True) if not _nan(v)}


def _nan(v) -> bool:
    return isinstance(v, float) and math.isnan(v)


def plain(v):
    """A value from a DataFrame cell as the JSON reader would have given it."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return None if math.isnan(v) else v
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    kind = type(v).__name__
    if kind in ("NAType", "NaTType"):
        return None
    if kind == "Timestamp":
        return v.isoformat()
    if kind == "ndarray":
        return [plain(x) for x in v.tolist()]
    if hasattr(v, "item") and type(v).__module__ == "numpy":
        return plain(v.item())
    return v
