"""A hand-written evaluator of `esms-numerique-2025`, the baseline of `bench/real.py`.

Written from the contract's semantics (docs/contract.md), not from the engine: plain dicts in,
ISO strings parsed here, zoneinfo for Paris midnight, `Decimal` for shares. Two entry points:

- `decide(dossier)`: trusts its input (no validation), the fastest reasonable Python;
- `decide_validated(dossier)`: checks every field the contract defines first (types, enums,
  ranges, date shapes; unknown fields ignored, as the contract says), raising `ValueError` on the
  first problem, as a careful hand-written service would.

Both return `Result(eligible, recevable, call, amount_eur, reasons, warnings, structures)` with
`structures = ((finess, eligible, funded_share, codes, warning codes), …)`, which
`tests/test_bench_real.py` holds equal to the engine's decision on generated dossiers. Every rule
of the policy is here, the structures' consistency warnings included (the FINESS check key, the
sector an item of art. L.312-1 can have). Only tables are read from the bundled policy (the
department → region table, the item → sector tables: data, not logic).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


class Result(NamedTuple):
    eligible: bool
    recevable: bool
    call: str | None
    amount_eur: Decimal | None
    reasons: tuple[str, ...]
    warnings: tuple[str, ...]
    structures: tuple[tuple[str, bool, Decimal, tuple[str, ...], tuple[str, ...]], ...]


@lru_cache(maxsize=1)
def _tables() -> tuple[dict[str, str], frozenset[str]]:
    import esms_rules
    checked = esms_rules.load_policy("esms-numerique-2025").checked
    region_of = dict(checked.tables["region_of"].mapping)
    territory = checked.tables["territory_of"].mapping
    small = frozenset(r for r, t in territory.items() if t != "metropole")
    return region_of, small


@lru_cache(maxsize=1)
def _item_sectors() -> dict[int, tuple[str, str | None]]:
    """Item of art. L.312-1 -> (its sector, the other sector it may have)."""
    import esms_rules
    tables = esms_rules.load_policy("esms-numerique-2025").checked.tables
    other = tables["casf_item_other_sector"].mapping
    return {item: (sector, other.get(item)) for item, sector in tables["casf_item_sector"].mapping.items()}


# by ASCII byte: a digit doubled, its two digits added (a `bytes.translate` table)
DOUBLED = bytes((2 * (b - 48)) % 9 if b != 57 else 9 for b in range(256))


def luhn_ok(finess: str) -> bool:
    """The last digit is the Luhn key of the others (two digits at least, ASCII only)."""
    if len(finess) < 2 or not finess.isascii() or not finess.isdigit():
        return False
    b = finess.encode()
    kept = b[-1::-2]
    return (sum(kept) - 48 * len(kept) + sum(b[-2::-2].translate(DOUBLED))) % 10 == 0


@lru_cache(maxsize=64)
def _midnight_after(day: str) -> dt.datetime:
    d = dt.date.fromisoformat(day) + dt.timedelta(days=1)
    return dt.datetime(d.year, d.month, d.day, tzinfo=PARIS)


REGIONAL_DEADLINE = "2025-09-15"
MULTIREGIONAL_DEADLINE = NATIONAL_DEADLINE = "2025-06-01"
ONE = Decimal(1)
ZERO = Decimal(0)


def decide(d: dict) -> Result:
    region_of, small = _tables()
    item_sectors = _item_sectors()
    seen: set[str] = set()
    structures = []
    regions: set[str] = set()
    n = 0
    all_small = True
    all_pjm = all_ahi_pjm = True
    for s in d["structures"]:
        codes = []
        if s["casf_item"] is None:
            codes.append("NOT_ESSMS")
        share = s["confort_share"]
        if share >= 1:
            codes.append("CONFORT_ONLY")
        finess = s["finess"]
        if finess in seen:
            codes.append("DUPLICATE_STRUCTURE")
        seen.add(finess)
        warnings_ = []
        item, sector = s["casf_item"], s["sector"]
        if item in item_sectors and sector not in item_sectors[item]:
            warnings_.append("SECTOR_ITEM_MISMATCH")
        if s["department"] not in ("2A", "2B") and not luhn_ok(finess):
            warnings_.append("FINESS_KEY")
        if codes:
            structures.append((finess, False, ZERO, tuple(codes), tuple(warnings_)))
            continue
        n += 1
        region = region_of[s["department"]]
        regions.add(region)
        all_small = all_small and region in small
        all_pjm = all_pjm and sector == "PJM"
        all_ahi_pjm = all_ahi_pjm and sector in ("AHI", "PJM")
        structures.append((finess, True, ONE - Decimal(repr(share)), (), tuple(warnings_)))
    multiregional = len(regions) >= 2
    threshold = 8 if n and all_small else 15
    call = "national" if n >= 50 and multiregional else "regional" if n >= threshold else None
    reasons, warnings = [], []
    if call is None:
        reasons.append("GROUPING_TOO_SMALL")
    elif call != d["call"]:
        reasons.append("WRONG_CALL")
    deadline = (NATIONAL_DEADLINE if d["call"] == "national" else
                MULTIREGIONAL_DEADLINE if multiregional else REGIONAL_DEADLINE)
    late = dt.datetime.fromisoformat(d["submitted_at"].replace("Z", "+00:00")) >= _midnight_after(deadline)
    if late:
        reasons.append("LATE_SUBMISSION")
    software = d["software"]
    if not software["segur_referenced"] and not (n and all_pjm):
        if n and all_ahi_pjm:
            convention = d["convention_signed_on"]
            candidate = software["segur_candidate_on"]
            if convention is None:
                warnings.append("CONVENTION_PENDING")
            elif candidate is None or candidate > convention:      # ISO dates compare as text
                reasons.append("AHI_CANDIDATE_TOO_LATE")
        else:
            reasons.append("DUI_NOT_SEGUR_REFERENCED")
    funding = d["other_eu_funding"]
    if any(f["same_object"] for f in funding):
        reasons.append("OTHER_EU_FUNDING")
    if any(not f["same_object"] for f in funding):       # v1.2: a warning, never a block
        warnings.append("EU_FUNDING_TO_CHECK")
    return Result(not reasons, not late, call, None, tuple(sorted(reasons)), tuple(sorted(warnings)),
                  tuple(structures))


# ---- validation, as a careful hand-written service does it ------------------------------------
TOP = {"id", "campaign", "programme", "call", "submitted_at", "convention_signed_on", "applicant", "software",
       "other_eu_funding", "structures"}
SOFTWARE = {"action", "segur_referenced", "segur_candidate_on", "resah_referenced", "mes_compatible"}
APPLICANT = {"name", "legal_form", "gcsms"}
STRUCTURE = {"finess", "name", "department", "category", "casf_item", "sector", "financed_by", "confort_share"}
SECTORS = {"PA", "PH", "domicile", "AHI", "PJM", "enfance", "autre"}
FUNDERS = {"ARS", "CD", "Etat", "autre"}


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(what)


def _date(v, what: str, optional: bool = False) -> None:
    if v is None and optional:
        return
    _need(type(v) is str and len(v) == 10, what)
    dt.date.fromisoformat(v)


def decide_validated(d: dict) -> Result:
    region_of, _ = _tables()
    _need(type(d) is dict and TOP - {"programme"} <= d.keys(), "dossier fields")
    _need(type(d["id"]) is str and type(d["campaign"]) is int, "id, campaign")
    _need(d.get("programme", "esms-numerique") in ("esms-numerique", "mes-pilotes"), "programme")
    _need(d["call"] in ("regional", "national"), "call")
    at = d["submitted_at"]
    _need(type(at) is str and dt.datetime.fromisoformat(at.replace("Z", "+00:00")).tzinfo is not None,
          "submitted_at")
    _date(d["convention_signed_on"], "convention_signed_on", optional=True)
    a = d["applicant"]
    _need(type(a) is dict and APPLICANT <= a.keys() and type(a["name"]) is str
          and a["legal_form"] in ("public", "private") and type(a["gcsms"]) is bool, "applicant")
    s = d["software"]
    _need(type(s) is dict and SOFTWARE <= s.keys() and s["action"] in ("acquisition", "mise_en_conformite")
          and type(s["segur_referenced"]) is bool and type(s["resah_referenced"]) is bool
          and type(s["mes_compatible"]) is bool, "software")
    _date(s["segur_candidate_on"], "software.segur_candidate_on", optional=True)
    funding = d["other_eu_funding"]
    _need(type(funding) is list, "other_eu_funding")
    for f in funding:
        _need(type(f) is dict and {"programme", "same_object"} <= f.keys() and type(f["programme"]) is str
              and type(f["same_object"]) is bool, "other_eu_funding[]")
    structures = d["structures"]
    _need(type(structures) is list, "structures")
    for x in structures:
        _need(type(x) is dict and STRUCTURE <= x.keys(), "structure fields")
        _need(type(x["finess"]) is str and len(x["finess"]) == 9 and type(x["name"]) is str
              and x["department"] in region_of and type(x["category"]) is str, "structure")
        item = x["casf_item"]
        _need(item is None or (type(item) is int and 1 <= item <= 17), "casf_item")
        _need(x["sector"] in SECTORS, "sector")
        _need(type(x["financed_by"]) is list and all(f in FUNDERS for f in x["financed_by"]), "financed_by")
        share = x["confort_share"]
        _need(type(share) in (int, float) and 0 <= share <= 1, "confort_share")
    return decide(d)


def engine_result(decision) -> Result:
    """The engine's decision in the baseline's shape, for agreement tests."""
    return Result(decision.eligible, decision.recevable, decision.call, decision.amount_eur,
                  tuple(sorted(r.code for r in decision.reasons)),
                  tuple(sorted(w.code for w in decision.warnings if w.code != "UNKNOWN_FIELD")),
                  tuple((s.finess, s.eligible, s.funded_share, tuple(r.code for r in s.reasons),
                         tuple(w.code for w in s.warnings)) for s in decision.structures))
