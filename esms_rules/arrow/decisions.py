"""Decisions out: the rows decided over columns as an Arrow table of the decision schema
(`columnar_decisions`: reasons as Arrow lists cut by offsets, never grouped nor joined; amounts
as exact decimals by Arrow casts), and a per-record result as a row of that schema
(`_decision_row`)."""
from __future__ import annotations

from collections.abc import Callable
from decimal import MAX_PREC, ROUND_HALF_EVEN, Context, Decimal
from typing import TYPE_CHECKING, Any

from ..diagnostics import DossierError
from .messages import _messages
from .schema import PLACES, _libs, decision_schema

if TYPE_CHECKING:
    import polars
    import pyarrow

    from ..check import RuleInfo
    from ..columnar import Plan
    from ..columnar.run import Frames
    from ..decision import Decision

_WIDE = Context(prec=MAX_PREC)


def _reason_lists(pln: Plan, frame: polars.DataFrame, fired: list[tuple[RuleInfo, str]],
                  keep: Callable[[str | None], bool]) -> pyarrow.ListArray:
    """An Arrow list of reasons per row of `frame`: those of the rules of `fired` (in order)
    whose severity `keep` accepts, with their messages."""
    import numpy as np
    pl, pa = _libs()
    n = frame.height
    pos, msgs, which = [], [], []
    infos: list[RuleInfo] = []
    for r, col in fired:
        if not keep(r.severity):
            continue
        mask = frame.get_column(col)
        if not mask.any():
            continue
        where = mask.arg_true()
        needed = [m.col for m in pln.messages[r.index]]
        sub = frame.select(needed).gather(where) if needed else pl.DataFrame(height=len(where))
        msgs.append(_messages(pln, sub, r))
        pos.append(where.cast(pl.Int64).to_numpy())
        which.append(np.full(len(where), len(infos), dtype=np.int32))
        infos.append(r)
    reason_type = decision_schema(pa).field("reasons").type.value_type
    if not infos:
        return pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)), pa.array([], reason_type))
    at = np.concatenate(pos)
    order = np.argsort(at, kind="stable")      # by row; rules in their order within a row
    k = pa.array(np.concatenate(which)[order])
    message = pl.concat(msgs).to_arrow().take(pa.array(order))

    def const(attribute: str) -> pyarrow.Array:        # what a reason says of its rule
        return pa.array([getattr(r, attribute) or "" for r in infos], pa.string()).take(k)
    reasons = pa.StructArray.from_arrays([const("code"), const("name"), message.cast(pa.string()), const("source"),
                                          const("level"), const("severity")], fields=list(reason_type))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(at, minlength=n), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), reasons)


def _number(pln: Plan, frame: polars.DataFrame, col: str | None, scale: int | None) -> pyarrow.Array:
    """An output column as exact decimals of the decision schema (18 places): an integer of
    10**-scale becomes the integer of 10**-18 of the same value, by Arrow casts."""
    pl, pa = _libs()
    t = pa.decimal128(38, PLACES)
    if col is None:
        return pa.nulls(frame.height, t)
    k = frame.get_column(col).cast(pl.Int64).to_arrow()
    if hasattr(k, "combine_chunks"):
        k = k.combine_chunks()
    if not scale:
        return k.cast(t)
    if scale > PLACES:          # more places than the schema keeps: rounded half-even, per value
        return pa.array([None if v is None else _quantized(Decimal(v).scaleb(-scale)) for v in k.to_pylist()], t)
    # v (scale s) and v * 10**(18-s) (scale 18) are the same number: cast to scale 18-s, then
    # read the same 128-bit integers at scale 18
    wide = k.cast(pa.decimal128(38, 0)).cast(pa.decimal128(38, PLACES - scale))
    return pa.Array.from_buffers(t, len(wide), wide.buffers(), wide.null_count, wide.offset)


def _quantized(v: Decimal | int | None) -> Decimal | None:
    """A decision's decimal (or int) at the schema's 18 places (half-even beyond them)."""
    if v is None:
        return None
    return Decimal(v).quantize(Decimal(1).scaleb(-PLACES), rounding=ROUND_HALF_EVEN, context=_WIDE)


def columnar_decisions(pln: Plan, d: polars.DataFrame, items: Frames) -> pyarrow.Table:
    """The decisions of the rows decided over columns, as an Arrow table of the decision schema
    in row order (`__row` of `d`)."""
    import numpy as np
    pl, pa = _libs()
    p = pln.p
    schema = decision_schema(pa)
    n = d.height
    blocking = lambda s: s != "warning"    # noqa: E731
    warning = lambda s: s == "warning"     # noqa: E731
    outs = {name: (col, scale, lst) for name, col, scale, lst in pln.outputs}
    none = (None, None, None)
    cols = {
        "dossier": d.get_column("id").cast(pl.String).to_arrow() if "id" in d.columns else pa.nulls(n, pa.string()),
        "eligible": d.get_column("__ok").to_arrow(),
        "recevable": d.get_column("__rec").to_arrow(),
        "call": d.get_column(outs["call"][0]).cast(pl.String).to_arrow() if "call" in outs
        else pa.nulls(n, pa.string()),
        "amount_eur": _number(pln, d, *outs.get("amount_eur", none)[:2]),
        "reasons": _reason_lists(pln, d, pln.fired_d, blocking),
        "warnings": _reason_lists(pln, d, pln.fired_d, warning),
        "errors": pa.nulls(n, schema.field("errors").type),
    }
    structure_type = schema.field("structures").type
    lsts = p.item_lists
    if lsts:
        lst = lsts[0]
        frame = items[lst]
        fired = pln.fired_i.get(lst, [])
        share = outs.get("funded_share", none)
        failed = pln.failed.get(lst)
        children = [
            frame.get_column(p.key_field(lst)).cast(pl.String).to_arrow(),
            pa.array(np.ones(frame.height, dtype=bool)) if not failed else (~frame.get_column(failed)).to_arrow(),
            _number(pln, frame, *share[:2]) if share[2] == lst else pa.nulls(frame.height, pa.decimal128(38, PLACES)),
            _reason_lists(pln, frame, fired, blocking),
            _reason_lists(pln, frame, fired, warning)]
        fields = list(structure_type.value_type)
        st = pa.StructArray.from_arrays([_cast(c, f.type) for c, f in zip(children, fields, strict=True)],
                                        fields=fields)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(frame.get_column("__row").to_numpy(), minlength=n), out=offsets[1:])
        cols["structures"] = pa.ListArray.from_arrays(pa.array(offsets), st)
    else:
        cols["structures"] = pa.ListArray.from_arrays(pa.array(np.zeros(n + 1, dtype=np.int32)),
                                                      pa.array([], structure_type.value_type))
    return pa.Table.from_arrays([_cast(cols[f.name], f.type) for f in schema], schema=schema)


def _cast(arr: Any, t: pyarrow.DataType) -> pyarrow.Array:
    """An Arrow array (a polars column's, maybe chunked) as one array of type `t`."""
    if hasattr(arr, "combine_chunks"):
        arr = arr.combine_chunks()
    return arr if arr.type == t else arr.cast(t)


def _decision_row(result: Decision | DossierError) -> dict[str, Any]:
    """A per-record result (Decision or DossierError) as a row of the decision schema."""
    if isinstance(result, DossierError):
        return {"dossier": result.dossier_id if isinstance(getattr(result, "dossier_id", None), str) else None,
                "eligible": None, "recevable": None, "call": None, "amount_eur": None,
                "structures": None, "reasons": None, "warnings": None,
                "errors": [{"path": p.path, "message": p.message} for p in result.problems]}
    d = result.to_dict(trace=False)
    for s, exact in zip(d["structures"], result.structures, strict=True):
        s.setdefault("warnings", [])
        s["funded_share"] = _quantized(exact.funded_share)     # the Decimal, not JSON's float
        s["finess"] = None if s["finess"] is None else str(s["finess"])
    d["dossier"] = None if d["dossier"] is None else str(d["dossier"])
    d["amount_eur"] = _quantized(result.amount_eur)
    d["errors"] = None
    return {k: d[k] for k in ("dossier", "eligible", "recevable", "call", "amount_eur", "structures",
                              "reasons", "warnings", "errors")}


