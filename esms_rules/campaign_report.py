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
of the HTML page (the `report` extra); importing this module does not import it.
"""
from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

from . import __version__, jsonio
from .decision import Decision
from .render import call_name, euros, h

__all__ = ["FORMATS", "STATUSES", "dossier_file", "report_text", "reports_dir", "summarise", "to_csv", "to_html",
           "to_json", "write"]

FORMATS = ("html", "json", "csv")
REPORT_VERSION = 1

#: The four outcomes of a row, in the order every table shows them.
STATUSES = ("eligible", "ineligible", "not_recevable", "invalid")
STATUS_LABELS = {"eligible": "éligibles", "ineligible": "non éligibles", "not_recevable": "non recevables",
                 "invalid": "invalides"}
STATUS_LABEL = {"eligible": "éligible", "ineligible": "non éligible", "not_recevable": "non recevable",
                "invalid": "invalide"}
MULTI, UNKNOWN = "multiregional", "unknown"
PLACE_LABELS = {MULTI: "Plusieurs régions", UNKNOWN: "Région inconnue"}
CALL_LABELS = {"regional": "Appel régional", "national": "Appel national", UNKNOWN: "Appel inconnu"}
TERRITORIES = ("metropole", "corse", "outre-mer")
TERRITORY_LABELS = {"metropole": "Métropole hors Corse", "corse": "Corse", "outre-mer": "Outre-mer",
                    UNKNOWN: "Territoire inconnu"}
SECTOR_LABELS = {"PA": "Personnes âgées (PA)", "PH": "Personnes handicapées (PH)", "domicile": "Domicile",
                 "AHI": "Accueil, hébergement, insertion (AHI)", "PJM": "Protection juridique des majeurs (PJM)",
                 "enfance": "Enfance", "autre": "Autre", UNKNOWN: "Secteur inconnu"}
SEVERITY_LABELS = {"warning": "avertissement", "info": "information"}


# ---- reading the inputs -----------------------------------------------------------------
def _sort_key(s: str) -> tuple[str, str]:
    """French alphabetical order, accents aside (Île-de-France among the I)."""
    plain = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    return plain.casefold(), s


class _Geography:
    """The region and territory of a department, from the policy's own tables (`region_of`,
    `territory_of` in policies/common.esms): the report never holds a second copy of them."""

    def __init__(self, policies: Mapping[str, Any] | None):
        self.policies = dict(policies or {})
        self.tables: dict[str | None, tuple[Mapping[str, str], Mapping[str, str]]] = {}

    def _load(self, policy_id: str | None) -> tuple[Mapping[str, str], Mapping[str, str]]:
        """The tables of the policy given for `policy_id`, or of the bundled policy of that id;
        for another id (and for invalid rows, which have none), those of the newest bundled policy."""
        from .registry import bundled_registry
        policy = self.policies.get(policy_id) if policy_id is not None else None
        if policy is None:
            registry = bundled_registry()
            newest = max((e for e in registry.entries if e.programme == "esms-numerique"),
                         key=lambda e: e.sort_key(), default=None)
            entry = next((e for e in registry.entries if e.id == policy_id), newest)
            policy = registry.load(entry) if entry is not None else None
        tables = getattr(getattr(policy, "checked", None), "tables", {})
        regions = tables["region_of"].mapping if "region_of" in tables else {}
        territories = tables["territory_of"].mapping if "territory_of" in tables else {}
        return regions, territories

    def of(self, policy_id: str | None) -> tuple[Mapping[str, str], Mapping[str, str]]:
        if policy_id not in self.tables:
            self.tables[policy_id] = self._load(policy_id)
        return self.tables[policy_id]


def _text(v: object) -> str | None:
    return v if isinstance(v, str) else None


def _problems(error: object) -> list[dict[str, str]]:
    """The problems of an error row, each {path, message}."""
    if isinstance(error, Mapping):
        items = error.get("problems") or [{"path": "$", "message": str(error.get("error", "erreur"))}]
        return [{"path": str(p.get("path", "$")), "message": str(p.get("message", ""))} for p in items]
    items = getattr(error, "problems", None) or []
    out = [{"path": str(getattr(p, "path", "$")), "message": str(getattr(p, "message", p))} for p in items]
    return out or [{"path": "$", "message": str(error)}]


def _error_id(error: object, dossier: object) -> str | None:
    ident = error.get("dossier") if isinstance(error, Mapping) else getattr(error, "dossier_id", None)
    if ident is None and isinstance(dossier, Mapping):
        ident = dossier.get("id")
    return _text(ident)


_FIELDS = ("code", "rule", "severity", "dossier", "finess", "others", "message", "source")


def _finding(f: object) -> dict[str, Any]:
    """A finding of `esms_rules.campaign` (an attrs object, or its dict) as a plain dict."""
    get = f.get if isinstance(f, Mapping) else (lambda k, d=None: getattr(f, k, d))
    d = {k: get(k) for k in _FIELDS}
    d["others"] = [str(o) for o in (d["others"] or ())]
    for k in ("code", "rule", "severity", "message", "source"):
        d[k] = "" if d[k] is None else str(d[k])
    for k in ("dossier", "finess"):
        d[k] = None if d[k] is None else str(d[k])
    return d


def _row(index: int, result: object, dossier: object, geo: _Geography) -> dict[str, Any]:
    """One input row, as the report sees it."""
    raw: Mapping[str, Any] = dossier if isinstance(dossier, Mapping) else {}
    structures: list[Any] = raw["structures"] if isinstance(raw.get("structures"), list) else []
    filed = raw.get("call") if raw.get("call") in ("regional", "national") else UNKNOWN
    row: dict[str, Any] = {"row": index, "call_filed": filed, "decision": None, "problems": [],
                           "counted": [], "n": None}
    if isinstance(result, Decision):
        d = result
        row["dossier"] = _text(d.dossier)
        row["decision"] = d
        row["status"] = ("not_recevable" if not d.recevable else "eligible" if d.eligible else "ineligible")
        regions_of, territory_of = geo.of(d.policy_id)
        counted = [s for s, r in zip(structures, d.structures, strict=False)
                   if r.eligible and isinstance(s, Mapping)]
        row["n"] = sum(1 for r in d.structures if r.eligible)
    else:
        row["dossier"] = _error_id(result, dossier)
        row["status"] = "invalid"
        row["problems"] = _problems(result)
        regions_of, territory_of = geo.of(None)
        counted = []
    places = counted or [s for s in structures if isinstance(s, Mapping)]
    regions = sorted({regions_of[dep] for s in places if isinstance(dep := s.get("department"), str)
                      and dep in regions_of}, key=_sort_key)
    row["regions"] = regions
    row["place"] = regions[0] if len(regions) == 1 else MULTI if regions else UNKNOWN
    for s in counted:
        dep = s.get("department")
        region = regions_of.get(dep) if isinstance(dep, str) else None
        territory = territory_of.get(region, UNKNOWN) if region is not None else UNKNOWN
        sector = s.get("sector") if isinstance(s.get("sector"), str) else UNKNOWN
        row["counted"].append((sector, territory))
    return row


# ---- the aggregates ----------------------------------------------------------------------
def _share(part: int, whole: int) -> Decimal:
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP) if whole else Decimal(0)


def _status_table(rows: list[dict], key: str, name: str, order: Callable[[str], Any]) -> list[dict[str, Any]]:
    counts: dict[str, Counter[str]] = {}
    for r in rows:
        counts.setdefault(r[key], Counter())[r["status"]] += 1
    out = []
    for k in sorted(counts, key=order):
        c = counts[k]
        out.append({name: k, **{s: c[s] for s in STATUSES}, "total": sum(c.values())})
    return out


def _place_order(p: str) -> tuple[int, tuple[str, str]]:
    return ({MULTI: 1, UNKNOWN: 2}.get(p, 0), _sort_key(p))


def _call_order(c: str) -> int:
    return {"regional": 0, "national": 1}.get(c, 2)


def _frequencies(rows: list[dict], decided: int, attr: str) -> list[dict[str, Any]]:
    """Codes by the number of dossiers they concern (then structures), most frequent first."""
    dossiers: Counter[tuple[str, str, str]] = Counter()
    structures: Counter[tuple[str, str, str]] = Counter()
    for r in rows:
        d = r["decision"]
        if d is None:
            continue
        seen = set()
        # a structure-level finding is in its structure's list, or (the campaign's findings) in
        # the dossier's, once per structure: either way it counts that structure
        for x in (*getattr(d, attr), *(x for s in d.structures for x in getattr(s, attr))):
            key = (x.code, x.rule, x.level)
            seen.add(key)
            if x.level == "structure":
                structures[key] += 1
        dossiers.update(seen)
    keys = sorted(dossiers, key=lambda k: (-dossiers[k], k))
    return [{"code": c, "rule": rule, "level": level, "dossiers": dossiers[(c, rule, level)],
             "share": _share(dossiers[(c, rule, level)], decided), "structures": structures[(c, rule, level)]}
            for c, rule, level in keys]


def _amounts(rows: list[dict]) -> dict[str, Any]:
    """The amounts of the dossiers that have one (a barème exists: 2021 regional calls)."""
    by_place: dict[str, list] = {}
    by_call: dict[str, list] = {}
    total, count = Decimal(0), 0
    for r in rows:
        d = r["decision"]
        if d is None or d.amount_eur is None:
            continue
        amount = Decimal(str(d.amount_eur))
        total += amount
        count += 1
        for table, k in ((by_place, r["place"]), (by_call, r["call_filed"])):
            entry = table.setdefault(k, [0, Decimal(0)])
            entry[0] += 1
            entry[1] += amount
    return {"dossiers": count, "total_eur": total if count else None,
            "by_region": [{"region": k, "dossiers": by_place[k][0], "amount_eur": by_place[k][1]}
                          for k in sorted(by_place, key=_place_order)],
            "by_call": [{"call": k, "dossiers": by_call[k][0], "amount_eur": by_call[k][1]}
                        for k in sorted(by_call, key=_call_order)]}


def _structures(rows: list[dict]) -> dict[str, Any]:
    """Counted structures by sector and territory: in every decided dossier, and in the eligible ones."""
    counted: Counter[tuple[str, str]] = Counter()
    eligible: Counter[tuple[str, str]] = Counter()
    for r in rows:
        counted.update(r["counted"])
        if r["status"] == "eligible":
            eligible.update(r["counted"])
    sectors = sorted({s for s, _ in counted}, key=lambda s: (list(SECTOR_LABELS).index(s)
                                                             if s in SECTOR_LABELS else len(SECTOR_LABELS), s))
    territories = [t for t in (*TERRITORIES, UNKNOWN) if any(k[1] == t for k in counted)]
    return {"territories": territories,
            "by_sector": [{"sector": s, "counted": {t: counted[(s, t)] for t in territories},
                           "total": sum(counted[(s, t)] for t in territories),
                           "in_eligible_dossiers": sum(eligible[(s, t)] for t in territories)} for s in sectors],
            "total": sum(counted.values()), "in_eligible_dossiers": sum(eligible.values())}


def _policies(rows: list[dict]) -> list[dict[str, Any]]:
    seen: dict[tuple[str, str, str], int] = {}
    for r in rows:
        d = r["decision"]
        if d is not None:
            key = (d.policy_id, d.sha256, d.engine)
            seen[key] = seen.get(key, 0) + 1
    return [{"id": i, "sha256": s, "engine": e, "dossiers": n} for (i, s, e), n in sorted(seen.items())]


def _rows(rows: Iterable[object], dossiers: Iterable[object] | None, findings: Iterable[object],
          policies: Mapping[str, Any] | None) -> tuple[list[dict], list[dict]]:
    geo = _Geography(policies)
    results = list(rows)
    inputs: list[object] = list(dossiers) if dossiers is not None else [None] * len(results)
    if len(inputs) != len(results):
        raise ValueError(f"{len(results)} results for {len(inputs)} dossiers: give one result per dossier")
    out = [_row(i, r, d, geo) for i, (r, d) in enumerate(zip(results, inputs, strict=True), start=1)]
    found = [_finding(f) for f in findings]
    by_id: dict[str, list[dict]] = {}
    for f in found:
        if f["dossier"] is not None:
            by_id.setdefault(f["dossier"], []).append(f)
    for r in out:
        r["findings"] = by_id.get(r["dossier"], []) if r["dossier"] is not None else []
    return out, found


def summarise(rows: Iterable[object], dossiers: Iterable[object] | None = None, findings: Iterable[object] = (),
              *, policies: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The campaign's aggregates, JSON-ready (decimals as `Decimal`; `jsonio.dumps` writes them exactly).

    `policies` maps a policy id to its `Policy` when the decisions come from a policy that is
    not bundled (its region tables are read there)."""
    table, found = _rows(rows, dossiers, findings, policies)
    return _summary(table, found, dossiers)


def _summary(table: list[dict], found: list[dict], dossiers: Iterable[object] | None) -> dict[str, Any]:
    decided = sum(1 for r in table if r["decision"] is not None)
    totals = Counter(r["status"] for r in table)
    inputs = list(dossiers) if dossiers is not None else None
    return {
        "report": "esms-rules campaign report",
        "version": REPORT_VERSION,
        "engine": __version__,
        "policies": _policies(table),
        "dossiers_sha256": jsonio.digest(inputs) if inputs is not None else None,
        "totals": {"dossiers": len(table), "decided": decided, **{s: totals[s] for s in STATUSES}},
        "by_region": _status_table(table, "place", "region", _place_order),
        "by_call": _status_table(table, "call_filed", "call", _call_order),
        "reasons": _frequencies(table, decided, "reasons"),
        "warnings": _frequencies(table, decided, "warnings"),
        "structures": _structures(table),
        "amounts": _amounts(table),
        "findings": found,
        "invalid": [{"row": r["row"], "dossier": r["dossier"], "problems": r["problems"]}
                    for r in table if r["status"] == "invalid"],
    }


# ---- JSON ------------------------------------------------------------------------------------
def to_json(summary: Mapping[str, Any]) -> str:
    """The aggregates as indented JSON (decimals exact), ending with a newline."""
    return jsonio.dumps(summary, indent=2) + "\n"


# ---- CSV ---------------------------------------------------------------------------------------
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


def to_csv(rows: Iterable[object], dossiers: Iterable[object] | None = None, findings: Iterable[object] = (),
           *, policies: Mapping[str, Any] | None = None) -> str:
    """One line per input dossier, for a spreadsheet in French: `;`-separated, CRLF line ends,
    decimal comma, oui/non; the caller writes it as UTF-8 with a byte-order mark (`write` does)."""
    table, _ = _rows(rows, dossiers, findings, policies)
    return _csv_text(table)


def _csv_text(table: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    w.writerows(_csv_rows(table))
    return buf.getvalue()


# ---- charts (matplotlib, SVG) ---------------------------------------------------------------------
# Four fills that stay apart in black and white: lightness and hatching both differ.
STATUS_STYLE = {"eligible": ("#2f6b3a", ""), "ineligible": ("#f0c27b", "///"), "not_recevable": ("#9e2a2a", "xx"),
                "invalid": ("#d9d9d9", "---")}
TERRITORY_STYLE = {"metropole": ("#4a6fa5", ""), "corse": ("#c9d8ef", "\\\\\\"), "outre-mer": ("#f2e3b3", "++"),
                   UNKNOWN: ("#d9d9d9", "---")}
_RC: Any = {"svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 9, "hatch.linewidth": 0.6,
       "axes.spines.top": False, "axes.spines.right": False, "svg.image_inline": True}


def _svg(fig: Any, key: str, title: str) -> str:
    """The figure as an inline <svg>: no XML prologue, no global style, ids prefixed by `key`
    (several charts share one page), sized by CSS from its viewBox, titled for screen readers."""
    import matplotlib
    buf = io.StringIO()
    rc: Any = {**_RC, "svg.hashsalt": f"esms-rules-{key}"}
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.S)
    svg = re.sub(r">\s+<", "><", re.sub(r"\s*\n\s*", " ", svg))     # a fifth smaller, the same drawing
    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{key}-{m.group(2)}", svg)
    head_end = svg.index(">") + 1
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    head = head.replace("<svg", f'<svg class="chart" role="img" aria-labelledby="{key}-title"', 1)
    return f'{head}<title id="{key}-title">{h(title)}</title>{svg[head_end:]}'


def _figure(rows: int, width: float = 7.2) -> Any:
    from matplotlib.figure import Figure
    return Figure(figsize=(width, 0.9 + 0.32 * max(rows, 1)), layout="constrained")


def _stacked(key: str, title: str, labels: list[str], series: list[tuple[str, list[int], tuple[str, str]]]) -> str:
    """Horizontal stacked bars, one per label (top to bottom), each segment's count written in it."""
    import matplotlib
    with matplotlib.rc_context(_RC):
        fig = _figure(len(labels))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        left = [0] * len(labels)
        biggest = max((sum(v[i] for _, v, _ in series) for i in range(len(labels))), default=0) or 1
        for name, values, (color, hatch) in series:
            bars = ax.barh(y, values, left=left, color=color, hatch=hatch, edgecolor="#1b1b1b", linewidth=0.6,
                           label=name, height=0.66)
            dark = color in ("#2f6b3a", "#9e2a2a", "#4a6fa5")
            for bar, v in zip(bars, values, strict=True):
                if v and v >= biggest * 0.06:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2, str(v),
                            ha="center", va="center", fontsize=8, color="white" if dark else "#1b1b1b",
                            bbox=None if dark or not hatch else {"facecolor": "white", "edgecolor": "none",
                                                                  "pad": 0.8})
            left = [a + b for a, b in zip(left, values, strict=True)]
        for yy, total in zip(y, left, strict=True):
            ax.text(total + biggest * 0.01, yy, str(total), va="center", fontsize=8, fontweight="bold")
        ax.set_yticks(y, labels)
        ax.set_xlim(0, biggest * 1.1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series), frameon=False, fontsize=8)
        return _svg(fig, key, title)


def _bars(key: str, title: str, labels: list[str], values: list[int], kinds: list[str]) -> str:
    """Horizontal bars, one per label (most frequent on top); `kinds` "reason" solid, "warning" hatched."""
    import matplotlib
    from matplotlib.patches import Patch
    with matplotlib.rc_context(_RC):
        fig = _figure(len(labels))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        biggest = max(values, default=0) or 1
        styles = {"reason": ("#9e2a2a", ""), "warning": ("#f0c27b", "///")}
        for yy, v, k in zip(y, values, kinds, strict=True):
            color, hatch = styles[k]
            ax.barh([yy], [v], color=color, hatch=hatch, edgecolor="#1b1b1b", linewidth=0.6, height=0.66)
            ax.text(v + biggest * 0.01, yy, str(v), va="center", fontsize=8, fontweight="bold")
        ax.set_yticks(y, labels, fontfamily="DejaVu Sans Mono", fontsize=8)
        ax.set_xlim(0, biggest * 1.12)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("dossiers concernés")
        ax.legend(handles=[Patch(facecolor=c, hatch=hh, edgecolor="#1b1b1b", label=n) for n, (c, hh) in
                           (("motif bloquant", styles["reason"]), ("avertissement", styles["warning"]))],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=8)
        return _svg(fig, key, title)


_CHARTED = 15   # codes drawn in the frequency chart; its table lists them all


def _charts(s: Mapping[str, Any]) -> dict[str, str]:
    charts: dict[str, str] = {}
    status = [(STATUS_LABELS[k], k, STATUS_STYLE[k]) for k in STATUSES]
    for key, table, name, label in (("regions", s["by_region"], "region", _place_label),
                                    ("calls", s["by_call"], "call", _call_label)):
        if table:
            charts[key] = _stacked(f"chart-{key}", f"Dossiers par {'région' if key == 'regions' else 'appel'}",
                                   [label(r[name]) for r in table],
                                   [(n, [r[k] for r in table], style) for n, k, style in status])
    codes = sorted([(r["dossiers"], "reason", r["code"]) for r in s["reasons"]]
                   + [(r["dossiers"], "warning", r["code"]) for r in s["warnings"]],
                   key=lambda t: (-t[0], t[1], t[2]))[:_CHARTED]
    if codes:
        charts["codes"] = _bars("chart-codes", "Motifs et avertissements par fréquence", [c for _, _, c in codes],
                                [n for n, _, _ in codes], [k for _, k, _ in codes])
    st = s["structures"]
    if st["by_sector"]:
        charts["structures"] = _stacked(
            "chart-structures", "Structures comptées par secteur et territoire",
            [SECTOR_LABELS.get(r["sector"], r["sector"]) for r in st["by_sector"]],
            [(TERRITORY_LABELS[t], [r["counted"][t] for r in st["by_sector"]], TERRITORY_STYLE[t])
             for t in st["territories"]])
    return charts


# ---- HTML ---------------------------------------------------------------------------------------
def _place_label(p: str) -> str:
    return PLACE_LABELS.get(p, p)


def _call_label(c: str) -> str:
    return CALL_LABELS.get(c, c)


def _filed(c: str) -> str:
    return call_name(c) if c != UNKNOWN else "inconnu"


def _percent(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %".replace(".", ",")


def dossier_file(row: int, dossier: object) -> str:
    """The file name of one dossier's own report: its input row, then its id made safe for any
    file system (letters, digits, `.`, `_`, `-` only; at most 40 characters)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", dossier if isinstance(dossier, str) else "").strip("._")[:40]
    return f"{row:05d}-{slug}.html" if slug else f"{row:05d}.html"


_CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #c8c8c8; --ok: #2f6b3a; --ko: #9e2a2a; --warn: #7a5200; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin: 1.8rem 0 .5rem; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.identity { color: var(--muted); font-size: .85em; }
.identity td, .identity th { word-break: break-all; }
.totals { display: flex; flex-wrap: wrap; gap: .5rem; margin: .8rem 0; padding: 0; list-style: none; }
.totals li { border: 2px solid var(--line); border-radius: 6px; padding: .3rem .8rem; min-width: 9rem; }
.totals strong { display: block; font-size: 1.4rem; }
.totals .eligible { border-color: var(--ok); }
.totals .not_recevable, .totals .ineligible { border-color: var(--ko); }
figure { margin: .6rem 0 1rem; }
figcaption { font-size: .9em; color: var(--muted); }
svg.chart { display: block; width: 100%; max-width: 46rem; height: auto; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .15rem .4rem; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
td.id { overflow-wrap: anywhere; min-width: 6em; }
td.nowrap, .mono.nowrap { white-space: nowrap; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; white-space: nowrap; overflow-wrap: normal; }
tfoot td { font-weight: 700; }
.badge { display: inline-block; border: 1px solid var(--ko); color: var(--ko); border-radius: 3px; padding: 0 .3em;
         margin: 0 .2em .1em 0; font-size: .8em;
         font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.badge.warning { border-color: var(--warn); color: var(--warn); border-style: dashed; }
.status-eligible { color: var(--ok); font-weight: 600; }
.status-ineligible, .status-not_recevable, .status-invalid { color: var(--ko); font-weight: 600; }
.note { color: var(--muted); font-size: .9em; }
@page { size: A4; margin: 12mm 11mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 8.5pt; line-height: 1.3; }
  h1 { font-size: 13pt; }
  h2 { font-size: 10.5pt; margin: .9rem 0 .3rem; break-after: avoid; }
  .totals li { padding: .1rem .5rem; min-width: 0; }
  .totals strong { font-size: 11pt; }
  figure, tr, .totals { break-inside: avoid; }
  svg.chart { max-width: 100%; }
  thead { display: table-header-group; }
  th, td { padding: 0 .3rem; }
  section.break { break-before: page; }
  a { color: inherit; text-decoration: none; }
}
""".strip()

#: The page runs no script and loads nothing; inline styles are allowed (matplotlib's SVG
#: styles its shapes with `style` attributes), nothing else.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _num(n: object) -> str:
    return f'<td class="num">{h(n)}</td>'


def _amount(v: object) -> str:
    return f'<td class="num">{h(euros(v))}</td>' if v is not None else '<td class="num">—</td>'


def to_html(rows: Iterable[object], dossiers: Iterable[object] | None = None, findings: Iterable[object] = (),
            *, policies: Mapping[str, Any] | None = None, link: Callable[[int, str | None], str | None] | None = None,
            summary: Mapping[str, Any] | None = None) -> str:
    """The campaign report as one self-contained HTML page in French.

    `link(row, dossier_id)` gives the (relative) address of a decided dossier's own report, or
    None (then the dossier links to its line in this page's table)."""
    table, found = _rows(rows, dossiers, findings, policies)
    return _html(table, summary if summary is not None else _summary(table, found, dossiers), link)


def _html(table: list[dict], s: Mapping[str, Any], link: Callable[[int, str | None], str | None] | None) -> str:
    charts = _charts(s)
    out: list[str] = []
    w = out.append
    rows_of: dict[str, int] = {}
    for r in table:
        if r["dossier"] is not None:
            rows_of.setdefault(r["dossier"], r["row"])
    by_row = {r["row"]: r for r in table}

    def dossier_ref(ident: str | None, row: int | None = None) -> str:
        """A dossier id, linked to its own report (or its line in the table)."""
        row = row if row is not None else rows_of.get(ident) if ident is not None else None
        label = h(ident) if ident is not None else "(sans identifiant)"
        if row is None:
            return f'<span class="mono">{label}</span>'
        target = link(row, ident) if link is not None and by_row[row]["decision"] is not None else None
        href = quote(target, safe="/.-_~") if target is not None else f"#dossier-{row}"
        return f'<a class="mono" href="{h(href)}">{label}</a>'

    def status_rows(items: list[dict], name: str, label: Callable[[str], str], title: str) -> None:
        w(f"<table><thead><tr><th>{h(title)}</th>" + "".join(f'<th class="num">{h(STATUS_LABELS[k])}</th>'
                                                            for k in STATUSES) + '<th class="num">total</th></tr>'
          "</thead><tbody>")
        for r in items:
            w(f"<tr><td>{h(label(r[name]))}</td>" + "".join(_num(r[k]) for k in STATUSES) + _num(r["total"]) + "</tr>")
        t = s["totals"]
        w("</tbody><tfoot><tr><td>Total</td>" + "".join(_num(t[k]) for k in STATUSES) + _num(t["dossiers"])
          + "</tr></tfoot></table>")

    def figure(key: str, caption: str) -> None:
        if key in charts:
            w(f"<figure>{charts[key]}<figcaption>{h(caption)}</figcaption></figure>")

    title = "Rapport de campagne ESMS numérique"
    w("<!DOCTYPE html>")
    w('<html lang="fr">')
    w("<head>")
    w('<meta charset="utf-8">')
    w(f'<meta http-equiv="Content-Security-Policy" content="{h(CSP)}">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w('<link rel="icon" href="data:,">')
    w(f"<title>{h(title)}</title>")
    w(f"<style>{_CSS}</style>")
    w("</head>")
    w("<body>")
    w(f"<h1>{h(title)}</h1>")
    t = s["totals"]
    w(f"<p>{t['dossiers']} dossier(s) examiné(s), {t['decided']} décidé(s) ; "
      f"{len(s['findings'])} constat(s) entre dossiers.</p>")
    w('<ul class="totals" id="totaux">' + "".join(f'<li class="{k}"><strong>{t[k]}</strong>{h(STATUS_LABELS[k])}</li>'
                                                  for k in STATUSES) + "</ul>")

    w('<section id="reproductibilite">')
    w("<h2>Reproductibilité</h2>")
    w('<table class="identity"><thead><tr><th>politique</th><th>sha256</th><th>moteur</th>'
      '<th class="num">dossiers</th></tr></thead><tbody>')
    for p in s["policies"]:
        w(f'<tr><td class="mono">{h(p["id"])}</td><td class="mono">{h(p["sha256"])}</td>'
          f'<td class="mono">esms-rules {h(p["engine"])}</td>{_num(p["dossiers"])}</tr>')
    w("</tbody></table>")
    digest = s["dossiers_sha256"]
    w(f'<p class="identity">Rapport produit par esms-rules {h(s["engine"])}'
      + (f' ; sha256 des dossiers (JSON canonique) : <span class="mono">{h(digest)}</span>' if digest else "")
      + ".</p>")
    w("</section>")

    w('<section id="regions">')
    w("<h2>Dossiers par région</h2>")
    figure("regions", "Dossiers par région et par issue. Un dossier est rattaché à la région de ses structures "
                      "comptées (à défaut, de toutes ses structures) ; la ligne Plusieurs régions compte les "
                      "regroupements multirégionaux.")
    status_rows(s["by_region"], "region", _place_label, "région")
    w("</section>")

    w('<section id="appels">')
    w("<h2>Dossiers par appel à projets (appel de dépôt)</h2>")
    figure("calls", "Dossiers par appel de dépôt et par issue.")
    status_rows(s["by_call"], "call", _call_label, "appel")
    w("</section>")

    w('<section id="motifs" class="break">')
    w("<h2>Motifs et avertissements par fréquence</h2>")
    figure("codes", f"Les {_CHARTED} codes les plus fréquents, en nombre de dossiers concernés "
                    "(motifs bloquants pleins, avertissements hachurés).")
    for name, items, kind in (("Motifs bloquants", s["reasons"], "badge"),
                              ("Avertissements", s["warnings"], "badge warning")):
        w(f"<h3>{h(name)} ({len(items)})</h3>")
        if not items:
            w("<p>Aucun.</p>")
            continue
        w('<table><thead><tr><th>code</th><th>règle</th><th>niveau</th><th class="num">dossiers</th>'
          '<th class="num">part des dossiers décidés</th><th class="num">structures</th></tr></thead><tbody>')
        for r in items:
            w(f'<tr><td><span class="{kind}">{h(r["code"])}</span></td><td><code>{h(r["rule"])}</code></td>'
              f'<td>{h(r["level"])}</td>{_num(r["dossiers"])}<td class="num">{h(_percent(r["share"]))}</td>'
              f'{_num(r["structures"] if r["level"] == "structure" else "—")}</tr>')
        w("</tbody></table>")
    w("</section>")

    st = s["structures"]
    w('<section id="structures">')
    w("<h2>Structures comptées par secteur et territoire</h2>")
    figure("structures", "Structures comptées (sans motif de niveau structure) de tous les dossiers décidés, "
                         "par secteur et territoire.")
    if st["by_sector"]:
        w("<table><thead><tr><th>secteur</th>" + "".join(f'<th class="num">{h(TERRITORY_LABELS[k])}</th>'
                                                        for k in st["territories"])
          + '<th class="num">total</th><th class="num">dont dossiers éligibles</th></tr></thead><tbody>')
        for r in st["by_sector"]:
            w(f"<tr><td>{h(SECTOR_LABELS.get(r['sector'], r['sector']))}</td>"
              + "".join(_num(r["counted"][k]) for k in st["territories"])
              + _num(r["total"]) + _num(r["in_eligible_dossiers"]) + "</tr>")
        w('</tbody><tfoot><tr><td>Total</td>' + "".join(
            _num(sum(r["counted"][k] for r in st["by_sector"])) for k in st["territories"])
          + _num(st["total"]) + _num(st["in_eligible_dossiers"]) + "</tr></tfoot></table>")
    else:
        w("<p>Aucune structure comptée.</p>")
    w("</section>")

    am = s["amounts"]
    w('<section id="montants">')
    w("<h2>Montants</h2>")
    if not am["dossiers"]:
        w("<p>Aucun dossier éligible de cette campagne ne relève d'un barème : seules les instructions qui "
          "fixent un montant par structure (2021, appels régionaux) en donnent un.</p>")
    else:
        w(f"<p>Montant maximal des {am['dossiers']} dossier(s) éligible(s) relevant d'un barème : "
          f"<strong>{h(euros(am['total_eur']))}</strong>.</p>")
        for title_, items, name, label in (("région", am["by_region"], "region", _place_label),
                                           ("appel", am["by_call"], "call", _call_label)):
            w(f'<table><thead><tr><th>{h(title_)}</th><th class="num">dossiers</th><th class="num">montant</th>'
              "</tr></thead><tbody>")
            for r in items:
                w(f"<tr><td>{h(label(r[name]))}</td>{_num(r['dossiers'])}{_amount(r['amount_eur'])}</tr>")
            w("</tbody></table>")
    w("</section>")

    w('<section id="constats" class="break">')
    w(f"<h2>Constats entre dossiers ({len(s['findings'])})</h2>")
    if not s["findings"]:
        w("<p>Aucun constat.</p>")
    else:
        w("<table><thead><tr><th>niveau</th><th>code</th><th>dossier</th><th>FINESS</th><th>autres dossiers</th>"
          "<th>message et source</th></tr></thead><tbody>")
        for f in s["findings"]:
            others = ", ".join(dossier_ref(o) for o in f["others"]) or "—"
            w(f'<tr><td class="nowrap">{h(SEVERITY_LABELS.get(f["severity"], f["severity"]))}</td>'
              f'<td><span class="badge warning">{h(f["code"])}</span></td>'
              f'<td class="id">{dossier_ref(f["dossier"]) if f["dossier"] is not None else "campagne"}</td>'
              f'<td class="mono nowrap">{h(f["finess"] or "—")}</td><td class="id">{others}</td>'
              f'<td>{h(f["message"])}<br><span class="note">{h(f["source"])}</span></td></tr>')
        w("</tbody></table>")
    w("</section>")

    w('<section id="dossiers" class="break">')
    w(f"<h2>Dossiers ({len(table)})</h2>")
    w('<table><thead><tr><th class="num">ligne</th><th>dossier</th><th>issue</th><th>appel (déposé → retenu)</th>'
      '<th>région(s)</th><th class="num">comptées</th><th class="num">montant</th>'
      "<th>motifs, avertissements, problèmes</th></tr></thead><tbody>")
    for r in table:
        d = r["decision"]
        if d is not None:
            codes = "".join(f'<span class="badge">{h(x.code)}</span>' for x in d.reasons)
            codes += "".join(f'<span class="badge">{h(c)}</span>' for c in sorted(
                {x.code for st_ in d.structures for x in st_.reasons}))
            codes += "".join(f'<span class="badge warning">{h(x.code)}</span>' for x in d.warnings)
            call = f"{h(_filed(r['call_filed']))} → {h(call_name(d.call) if d.call is not None else 'aucun')}"
            amount = _amount(d.amount_eur)
            n = _num(r["n"])
        else:
            codes = "<br>".join(f'<code>{h(p["path"])}</code> : {h(p["message"])}' for p in r["problems"])
            call, amount, n = h(_filed(r["call_filed"])), '<td class="num">—</td>', '<td class="num">—</td>'
        w(f'<tr id="dossier-{r["row"]}">{_num(r["row"])}<td class="id">{dossier_ref(r["dossier"], r["row"])}</td>'
          f'<td class="nowrap status-{r["status"]}">{h(STATUS_LABEL[r["status"]])}</td><td>{call}</td>'
          f'<td>{h(", ".join(r["regions"]) or "—")}</td>{n}{amount}<td>{codes or "—"}</td></tr>')
    w("</tbody></table>")
    w("</section>")
    w("</body>")
    w("</html>")
    return "\n".join(out) + "\n"


# ---- writing files ---------------------------------------------------------------------------------
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
    table, found = _rows(rows, dossiers, findings, policies)
    if fmt == "json":
        return to_json(_summary(table, found, dossiers))
    if fmt == "csv":
        return "\ufeff" + _csv_text(table)
    link = None
    if reports is not None:
        from .render import render
        folder = Path(reports)
        folder.mkdir(parents=True, exist_ok=True)
        for r in table:
            if r["decision"] is not None:
                (folder / dossier_file(r["row"], r["dossier"])).write_text(render(r["decision"], "html"),
                                                                         encoding="utf-8")

        def link(row: int, ident: str | None) -> str:
            return f"{folder.name}/{dossier_file(row, ident)}"

    return _html(table, _summary(table, found, dossiers), link)


def write(path: str | Path, fmt: str, rows: Sequence[object], dossiers: Sequence[object] | None = None,
          findings: Iterable[object] = (), *, policies: Mapping[str, Any] | None = None,
          dossier_reports: bool = True) -> None:
    """Write the report in `fmt` to `path`; html with `dossier_reports`: the dossiers' own
    reports go to `reports_dir(path)`."""
    reports = reports_dir(Path(path)) if fmt == "html" and dossier_reports else None
    text = report_text(fmt, rows, dossiers, findings, policies=policies, reports=reports)
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(text)
