"""The campaign report: one campaign's decisions summed up for the instructor, in French.

`summarise(rows, dossiers, findings)` computes the aggregates once (a JSON-ready dict, the
shape docs/campaign.md documents); `to_json`, `to_csv` and `to_html` write them:

- ``json``: the aggregates;
- ``csv``: one row per input dossier, for spreadsheets (Excel in French: `;` between cells,
  decimal comma, UTF-8 with a byte-order mark; a cell that a spreadsheet would read as a
  formula is prefixed with `'`);
- ``html``: one self-contained page (inline CSS, charts as inline SVG drawn by matplotlib, no
  script, no external asset), printable on A4, whose findings and dossier tables link to each
  dossier's own report (`render.render(decision, "html")`), written by `write` into a folder
  beside the page.

`rows` are the campaign's results in input order, one per input: a `Decision`, or an error
(`DossierError`, or any object with `problems`) for a dossier that could not be decided.
`dossiers` are the inputs in the same order (the regions and sectors of their structures are
read there; a decision does not carry them). `findings` are the cross-dossier findings of
`esms_rules.campaign` (objects or dicts with `code, rule, severity, dossier, finess, others,
message, source`).

Every string that comes from a dossier or a policy is untrusted: HTML escapes it, the CSV
neutralises formulas. Output is deterministic: the same input gives the same bytes (no clock;
the SVG's ids are salted with fixed strings). matplotlib is imported only to draw the charts
of the HTML page (the `report` extra); importing this package does not import it.

The package, one concern a module: `words` (the report's vocabulary and its French labels),
`figures` (the rows read, the aggregates), `spreadsheet` (CSV), `charts` (SVG), `html` (the
page); this module holds the entry points, which read the inputs once and write one format.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import jsonio
from .figures import aggregates, read_rows, summarise
from .html import page
from .spreadsheet import csv_text
from .words import STATUSES

__all__ = ["FORMATS", "STATUSES", "dossier_file", "report_text", "reports_dir", "summarise", "to_csv", "to_html",
           "to_json", "write"]

FORMATS = ("html", "json", "csv")


# ---- the formats, from the inputs ---------------------------------------------------------------
def to_json(summary: Mapping[str, Any]) -> str:
    """The aggregates as indented JSON (decimals exact), ending with a newline."""
    return jsonio.dumps(summary, indent=2) + "\n"


def to_csv(rows: Iterable[object], dossiers: Iterable[object] | None = None, findings: Iterable[object] = (),
           *, policies: Mapping[str, Any] | None = None) -> str:
    """One line per input dossier, for a spreadsheet in French: `;`-separated, CRLF line ends,
    decimal comma, oui/non; the caller writes it as UTF-8 with a byte-order mark (`write` does)."""
    table, _ = read_rows(rows, dossiers, findings, policies)
    return csv_text(table)



def to_html(rows: Iterable[object], dossiers: Iterable[object] | None = None, findings: Iterable[object] = (),
            *, policies: Mapping[str, Any] | None = None, link: Callable[[int, str | None], str | None] | None = None,
            summary: Mapping[str, Any] | None = None) -> str:
    """The campaign report as one self-contained HTML page in French.

    `link(row, dossier_id)` gives the (relative) address of a decided dossier's own report, or
    None (then the dossier links to its line in this page's table)."""
    table, found = read_rows(rows, dossiers, findings, policies)
    return page(table, summary if summary is not None else aggregates(table, found, dossiers), link)


# ---- writing files ---------------------------------------------------------------------------------
def dossier_file(row: int, dossier: object) -> str:
    """The file name of one dossier's own report: its input row, then its id made safe for any
    file system (letters, digits, `.`, `_`, `-` only; at most 40 characters)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", dossier if isinstance(dossier, str) else "").strip("._")[:40]
    return f"{row:05d}-{slug}.html" if slug else f"{row:05d}.html"


def reports_dir(path: Path) -> Path:
    """The folder of the dossiers' own reports, beside the page: `campagne.html` → `campagne.dossiers/`."""
    return path.with_name(path.stem + ".dossiers")


def report_text(fmt: str, rows: Sequence[object], dossiers: Sequence[object] | None = None,
                findings: Iterable[object] = (), *, policies: Mapping[str, Any] | None = None,
                reports: str | Path | None = None) -> str:
    """The report in `fmt` ("html", "json" or "csv") as text.

    html with `reports` (a folder beside the page, see `reports_dir`): each decided dossier's own
    report (`render.render(decision, "html")`) is written there as `dossier_file(row, id)` and
    the page links to it. csv starts with a byte-order mark (Excel in French reads UTF-8 so)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: one of {', '.join(FORMATS)}")
    table, found = read_rows(rows, dossiers, findings, policies)
    if fmt == "json":
        return to_json(aggregates(table, found, dossiers))
    if fmt == "csv":
        return "\ufeff" + csv_text(table)
    link = None
    if reports is not None:
        from ..render import render
        folder = Path(reports)
        folder.mkdir(parents=True, exist_ok=True)
        for r in table:
            if r["decision"] is not None:
                (folder / dossier_file(r["row"], r["dossier"])).write_text(render(r["decision"], "html"),
                                                                         encoding="utf-8")

        def link(row: int, ident: str | None) -> str:
            return f"{folder.name}/{dossier_file(row, ident)}"

    return page(table, aggregates(table, found, dossiers), link)


def write(path: str | Path, fmt: str, rows: Sequence[object], dossiers: Sequence[object] | None = None,
          findings: Iterable[object] = (), *, policies: Mapping[str, Any] | None = None,
          dossier_reports: bool = True) -> None:
    """Write the report in `fmt` to `path`; html with `dossier_reports`: the dossiers' own
    reports go to `reports_dir(path)`."""
    reports = reports_dir(Path(path)) if fmt == "html" and dossier_reports else None
    text = report_text(fmt, rows, dossiers, findings, policies=policies, reports=reports)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
