"""The campaign report's figures: each input row read once (status, regions, counted structures,
findings), then the aggregates, a JSON-ready dict (the shape docs/campaign.md documents).

The regions and territories come from the policy's own tables (`region_of`, `territory_of`);
the report never holds a second copy of them."""
from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .. import __version__, jsonio
from ..decision import Decision
from .words import MULTI, SECTOR_LABELS, STATUSES, TERRITORIES, UNKNOWN

REPORT_VERSION = 1


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
        from ..registry import bundled_registry
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


def read_rows(rows: Iterable[object], dossiers: Iterable[object] | None, findings: Iterable[object],
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
    table, found = read_rows(rows, dossiers, findings, policies)
    return aggregates(table, found, dossiers)


def aggregates(table: list[dict], found: list[dict], dossiers: Iterable[object] | None) -> dict[str, Any]:
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

