"""The two Arrow schemas: of the dossiers a policy reads (`dossier_schema`) and of decisions
(`decision_schema`), docs/columnar.md; and `_libs`, the one place polars and pyarrow are
imported (on first use: `import esms_rules.arrow` imports neither)."""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from .. import types as T
from ..batch import _polars

if TYPE_CHECKING:
    import pyarrow

    from ..policy import Policy

PLACES = 18       # decimal places of `amount_eur` and `funded_share` in the decision schema


def _libs() -> tuple[ModuleType, ModuleType]:
    pl = _polars()
    import pyarrow as pa
    return pl, pa


def decision_schema(pa: ModuleType) -> pyarrow.Schema:
    """The Arrow schema of decisions (docs/columnar.md). Amounts and shares are
    `decimal128(38, 18)`: the exact decimals of the decision, to 18 places."""
    number = pa.decimal128(38, PLACES)
    reason = pa.struct([("code", pa.string()), ("rule", pa.string()), ("message", pa.string()),
                        ("source", pa.string()), ("level", pa.string()), ("severity", pa.string())])
    structure = pa.struct([("finess", pa.string()), ("eligible", pa.bool_()), ("funded_share", number),
                           ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason))])
    problem = pa.struct([("path", pa.string()), ("message", pa.string())])
    return pa.schema([("dossier", pa.string()), ("eligible", pa.bool_()), ("recevable", pa.bool_()),
                      ("call", pa.string()), ("amount_eur", number), ("structures", pa.list_(structure)),
                      ("reasons", pa.list_(reason)), ("warnings", pa.list_(reason)), ("errors", pa.list_(problem))])



def dossier_schema(policy: Policy) -> pyarrow.Schema:
    """The Arrow schema of the policy's dossiers, with ISO strings for dates and date-times and
    float64 for decimals (docs/columnar.md lists the other accepted types)."""
    _, pa = _libs()

    def arrow(t: T.Type) -> Any:        # a pyarrow DataType
        base = T.strip(t)
        if isinstance(base, T.Record):
            return pa.struct([(f.name, arrow(f.type)) for f in base.fields])
        if isinstance(base, T.List):
            return pa.list_(arrow(base.element))
        if isinstance(base, T.Enum):
            return pa.string()
        assert isinstance(base, T.Scalar)     # a fact's type: no null, no never
        return {"bool": pa.bool_(), "int": pa.int64(), "decimal": pa.float64(), "text": pa.string(),
                "date": pa.string(), "datetime": pa.string()}[base.name]
    return pa.schema([(f.name, arrow(f.type)) for f in policy.checked.facts.fields])
