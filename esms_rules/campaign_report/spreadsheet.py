"""The campaign report as CSV, one line per input dossier, for a spreadsheet in French: `;` between
cells, CRLF line ends, decimal comma, oui/non; a cell a spreadsheet would read as a formula is
prefixed with `'`."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from .words import STATUS_LABEL, UNKNOWN

CSV_COLUMNS = ("row", "dossier", "status", "policy", "recevable", "eligible", "call_filed", "call", "amount_eur",
               "regions", "n_counted", "reasons", "warnings", "findings", "problems")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(v: object) -> str:
    """One cell: oui/non, decimal comma, and text a spreadsheet would run as a formula made inert."""
    if v is None:
        s = ""
    elif isinstance(v, bool):
        s = "oui" if v else "non"
    elif isinstance(v, Decimal):
        s = format(v, "f").replace(".", ",")
    else:
        s = str(v)
    return "'" + s if s.startswith(_FORMULA) else s


def _codes(reasons: Iterable[Any], structures: Iterable[Any], attr: str) -> str:
    codes = [r.code for r in reasons]
    for s in structures:
        codes.extend(f"{r.code}@{s.finess}" for r in getattr(s, attr))
    return ", ".join(codes)


def _csv_rows(table: list[dict]) -> Iterable[list[str]]:
    yield list(CSV_COLUMNS)
    for r in table:
        d = r["decision"]
        findings = ", ".join(f["code"] + (f" ({' '.join(f['others'])})" if f["others"] else "") for f in r["findings"])
        values: list[object] = [r["row"], r["dossier"], STATUS_LABEL[r["status"]]]
        if d is not None:
            values += [d.policy_id, d.recevable, d.eligible, r["call_filed"] if r["call_filed"] != UNKNOWN else None,
                       d.call, d.amount_eur, " | ".join(r["regions"]), r["n"],
                       _codes(d.reasons, d.structures, "reasons"), _codes(d.warnings, d.structures, "warnings"),
                       findings, None]
        else:
            values += [None, None, None, r["call_filed"] if r["call_filed"] != UNKNOWN else None, None, None,
                       " | ".join(r["regions"]), None, None, None, findings,
                       " ; ".join(f"{p['path']}: {p['message']}" for p in r["problems"])]
        yield [_cell(v) for v in values]



def csv_text(table: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerows(_csv_rows(table))
    return buf.getvalue()

