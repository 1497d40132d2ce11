"""A hand-written reference reading of CONTRACT.md (v1.2), used to differential-test the engine.

This module is deliberately independent of ``esms_rules``: it is a second, plain-Python reading
of the contract's "Semantics the policies must follow", written to be checked line by line
against the contract. It assumes the dossier is VALID (no validation is done here) and ignores
unknown fields (so it never emits ``UNKNOWN_FIELD``).

``decide(dossier)`` returns::

    {"recevable": bool, "eligible": bool, "call": "regional" | "national" | None,
     "amount_eur": float | None, "codes": [...], "warnings": [...],
     "structures": [{"finess": str, "eligible": bool, "funded_share": float, "codes": [...]}]}

with every code list sorted and free of repeats.

Readings
========
Where the contract is open, this oracle reads it as follows (each is also marked where used).

R1  "Every counted structure is AHI or PJM" (2023-2025 software exceptions) requires n >= 1:
    with no counted structure no exception applies and the base rule (Ségur referencing) is
    judged, so an empty grouping can get DUI_NOT_SEGUR_REFERENCED next to GROUPING_TOO_SMALL.
R2  Structure-level codes accumulate: a structure gets every structure code that applies
    (e.g. NOT_ESSMS and DUPLICATE_STRUCTURE together). A FINESS is a duplicate when ANY earlier
    input structure carries it, whatever that earlier structure's own codes.
R3  mes-pilotes sectors: PA and PH are covered whatever their casf_item; `domicile` only with
    casf_item 6 or 7, so a `domicile` structure with casf_item null gets both NOT_ESSMS and
    SECTOR_NOT_ELIGIBLE. AHI, PJM, enfance and autre are not covered.
R4  Deadlines: a regional filing is "multiregional" only when its counted structures lie in
    >= 2 regions; with 0 or 1 region the "one region" column applies. The deadline is that of
    the call FILED TO (the dossier's `call`), not the call the grouping belongs to.
R5  mes-pilotes filed to the regional call: the table says "—" (no such call). We read it as
    "no deadline given by the sources": no LATE_SUBMISSION, a DEADLINE_UNKNOWN warning (the
    dossier is then ineligible anyway through WRONG_CALL when n = 1, or TOO_SMALL/TOO_LARGE).
R6  The deadline rule and the software rule are judged whatever the grouping size; lateness is
    both `recevable: false` and a blocking LATE_SUBMISSION reason.
R7  2025 AHI branch, in this order: referenced -> fine; convention_signed_on null -> warning
    CONVENTION_PENDING (whatever segur_candidate_on says); candidate date not null and on or
    before the convention date -> fine; otherwise (candidate null or later) AHI_CANDIDATE_TOO_LATE.
R8  GROUPING_TOO_SMALL: 2021 and pilots when n = 0; 2022-2025 whenever the call is null (which
    happens exactly when n < threshold). GROUPING_TOO_LARGE only for pilots with n > 1.
    WRONG_CALL only when the grouping's call is not null and differs from the filed call.
R9  BELOW_IDEAL_SIZE (2021) uses the same threshold as the other years (8 if n >= 1 and every
    counted structure is in Corsica/overseas, else 15), for 1 <= n < threshold.
R10 Money and shares: confort_share is read as Decimal(repr(value)) (so 0.4 is exactly 0.4);
    funded_share = 1 - that, returned as a float; amount_eur is the Decimal sum rounded
    ROUND_HALF_UP to the cent, returned as a float. 2021 regional only (R14), and only when eligible.
R11 submitted_at is an absolute instant: its own offset is honoured, and the instant is compared
    with 00:00:00 of D+1 in Europe/Paris (so 23:59:59 Paris is on time, 00:00:00 is late).
R12 (v1.2) CALL_NOT_OPEN looks at the call FILED TO, like the deadline: a 2024 regional filing
    (one region or several) before 00:00:00 Paris of 15 January 2024, a 2024 national filing
    before 00:00:00 Paris of 15 February 2024. Every other opening date is [GAP]: no warning.
R13 (v1.2) EU_FUNDING_TO_CHECK: esms-numerique only, once whatever the number of entries with
    `same_object: false`, next to OTHER_EU_FUNDING when both kinds are declared.
R14 (v1.2) The 2021 per-structure amounts are the ARS subsidies of the regional calls: an eligible
    dossier gets an amount only when filed to (hence belonging to) the regional call.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from dateutil import tz

PARIS = tz.gettz("Europe/Paris")
assert PARIS is not None, "the Europe/Paris time zone is needed"

# --- Territory -------------------------------------------------------------------------------

# Department -> ARS region: the 18 ARS (13 metropolitan including Corse, 5 overseas).
# 977 (Saint-Barthélemy) and 978 (Saint-Martin) belong to ARS Guadeloupe (contract, "Regions").
_REGION_DEPARTMENTS = {
    "Auvergne-Rhône-Alpes": "01 03 07 15 26 38 42 43 63 69 73 74",
    "Bourgogne-Franche-Comté": "21 25 39 58 70 71 89 90",
    "Bretagne": "22 29 35 56",
    "Centre-Val de Loire": "18 28 36 37 41 45",
    "Corse": "2A 2B",
    "Grand Est": "08 10 51 52 54 55 57 67 68 88",
    "Hauts-de-France": "02 59 60 62 80",
    "Île-de-France": "75 77 78 91 92 93 94 95",
    "Normandie": "14 27 50 61 76",
    "Nouvelle-Aquitaine": "16 17 19 23 24 33 40 47 64 79 86 87",
    "Occitanie": "09 11 12 30 31 32 34 46 48 65 66 81 82",
    "Pays de la Loire": "44 49 53 72 85",
    "Provence-Alpes-Côte d'Azur": "04 05 06 13 83 84",
    "Guadeloupe": "971 977 978",
    "Martinique": "972",
    "Guyane": "973",
    "La Réunion": "974",
    "Mayotte": "976",
}
REGION_OF = {dep: region for region, deps in _REGION_DEPARTMENTS.items() for dep in deps.split()}

# The contract's department list: 01-19, 21-95, 2A, 2B, 971-974, 976, 977, 978.
CONTRACT_DEPARTMENTS = (
    {f"{i:02d}" for i in range(1, 96) if i != 20}
    | {"2A", "2B", "971", "972", "973", "974", "976", "977", "978"}
)
assert set(REGION_OF) == CONTRACT_DEPARTMENTS, "region table must cover exactly the list"
assert len(_REGION_DEPARTMENTS) == 18

# Corsica and overseas (threshold 8); 977/978 "count as overseas".
CORSICA_OR_OVERSEAS = {"2A", "2B", "971", "972", "973", "974", "976", "977", "978"}

# --- Policy tables ---------------------------------------------------------------------------

POLICIES = {
    ("esms-numerique", 2021): "esms-numerique-2021",
    ("esms-numerique", 2022): "esms-numerique-2022",
    ("esms-numerique", 2023): "esms-numerique-2023",
    ("esms-numerique", 2024): "esms-numerique-2024",
    ("esms-numerique", 2025): "esms-numerique-2025",
    ("mes-pilotes", 2023): "mes-pilotes-2023",
}

D = dt.date
GAP = None  # a deadline the sources do not give: never invented
# policy -> {(call filed to, multiregional?): deadline day D}
DEADLINES = {
    "esms-numerique-2021": {("regional", False): D(2021, 10, 15), ("regional", True): D(2021, 10, 15),
                            ("national", False): GAP, ("national", True): GAP},
    "esms-numerique-2022": {("regional", False): D(2022, 9, 30), ("regional", True): D(2022, 9, 30),
                            ("national", False): D(2022, 7, 18), ("national", True): D(2022, 7, 18)},
    # 2023: every cell is [GAP] ("September", "mid-June"): no date is invented.
    "esms-numerique-2023": {("regional", False): GAP, ("regional", True): GAP,
                            ("national", False): GAP, ("national", True): GAP},
    "esms-numerique-2024": {("regional", False): D(2024, 9, 15), ("regional", True): D(2024, 6, 1),
                            ("national", False): GAP, ("national", True): GAP},
    # 2025 regional one-region date: an ARS page, applied to all regions [I, contract].
    "esms-numerique-2025": {("regional", False): D(2025, 9, 15), ("regional", True): D(2025, 6, 1),
                            ("national", False): D(2025, 6, 1), ("national", True): D(2025, 6, 1)},
    # Pilots: national is [GAP]; regional is "—" (no such call), read as unknown too (R5).
    "mes-pilotes-2023": {("regional", False): GAP, ("regional", True): GAP,
                         ("national", False): GAP, ("national", True): GAP},
}

# Known opening days of calls (v1.2) [C, 2024 seed]; others [GAP] (R12).
OPENINGS = {"esms-numerique-2024": {"regional": D(2024, 1, 15), "national": D(2024, 2, 15)}}

PER_STRUCTURE_EUR_2021 = {"acquisition": Decimal(25000), "mise_en_conformite": Decimal(10000)}
CENT = Decimal("0.01")


# --- Helpers ---------------------------------------------------------------------------------

def _on_time(submitted_at: str, deadline: dt.date) -> bool:
    """On time iff the instant is before 00:00:00 of D+1 in Europe/Paris (R11)."""
    instant = dt.datetime.fromisoformat(submitted_at)  # 3.11 accepts "Z" and any offset
    assert instant.tzinfo is not None, "valid dossiers carry an offset"
    day_after = deadline + dt.timedelta(days=1)
    limit = dt.datetime(day_after.year, day_after.month, day_after.day, tzinfo=PARIS)
    return instant < limit


def _before_opening(submitted_at: str, opening: dt.date) -> bool:
    """Filed before 00:00:00 of the opening day in Europe/Paris (R12)."""
    return _on_time(submitted_at, opening - dt.timedelta(days=1))


def _sector_covered(programme: str, structure: dict) -> bool:
    if programme == "esms-numerique":
        return True  # every L.312-1 ESSMS sector [C]
    # mes-pilotes: PA, PH, and domicile with casf_item 6 or 7 [I] (R3)
    sector = structure["sector"]
    return sector in ("PA", "PH") or (sector == "domicile" and structure["casf_item"] in (6, 7))


def _structure_codes(programme: str, structures: list[dict]) -> list[list[str]]:
    """Each structure's codes, in input order (R2: codes accumulate; duplicates vs all earlier)."""
    seen: set[str] = set()
    out = []
    for s in structures:
        codes = []
        if s["casf_item"] is None:
            codes.append("NOT_ESSMS")
        if Decimal(repr(s["confort_share"])) >= 1:
            codes.append("CONFORT_ONLY")
        if not _sector_covered(programme, s):
            codes.append("SECTOR_NOT_ELIGIBLE")
        if s["finess"] in seen:
            codes.append("DUPLICATE_STRUCTURE")
        seen.add(s["finess"])
        out.append(sorted(codes))
    return out


def _grouping_call(policy: str, n: int, n_regions: int, threshold: int) -> str | None:
    """The call the grouping belongs to (contract table); None when it fits none."""
    if policy == "esms-numerique-2021":
        # national: n >= 50 [I: "plus de 50", the regional call stops at 49]
        return "national" if n >= 50 else "regional" if n >= 1 else None
    if policy == "mes-pilotes-2023":
        return "national" if n == 1 else None
    # 2022-2025 (national in >= 2 regions: [C 2024, I others])
    if n >= 50 and n_regions >= 2:
        return "national"
    if n >= threshold:  # one region (any n), or >= 2 regions with n < 50
        return "regional"
    return None


def _software(policy: str, d: dict, counted: list[dict]) -> tuple[list[str], list[str]]:
    """(codes, warnings) of the software rule of the policy."""
    sw = d["software"]
    segur = sw["segur_referenced"]
    sectors = {s["sector"] for s in counted}
    # R1: "every counted structure is X" needs at least one counted structure.
    all_pjm = bool(counted) and sectors == {"PJM"}
    all_ahi_or_pjm = bool(counted) and sectors <= {"AHI", "PJM"}

    if policy == "esms-numerique-2021":
        # Resah referencing; no sector exception known [GAP]
        return ([] if sw["resah_referenced"] else ["EDITOR_NOT_REFERENCED"]), []
    if policy == "esms-numerique-2022":
        # Resah or Ségur [I: Resah dropped from 2023]
        return ([] if sw["resah_referenced"] or segur else ["EDITOR_NOT_REFERENCED"]), []
    if policy in ("esms-numerique-2023", "esms-numerique-2024"):
        # AHI/PJM exception [C 2023; I 2024]
        if all_ahi_or_pjm or segur:
            return [], []
        return ["DUI_NOT_SEGUR_REFERENCED"], []
    if policy == "esms-numerique-2025":
        if all_pjm:
            return [], []  # all PJM: no requirement [C]
        if all_ahi_or_pjm:  # hence at least one AHI [C]; branch order is R7
            if segur:
                return [], []
            convention = d["convention_signed_on"]
            if convention is None:
                return [], ["CONVENTION_PENDING"]
            candidate = sw["segur_candidate_on"]
            if candidate is not None and D.fromisoformat(candidate) <= D.fromisoformat(convention):
                return [], []
            return ["AHI_CANDIDATE_TOO_LATE"], []
        return ([] if segur else ["DUI_NOT_SEGUR_REFERENCED"]), []
    # mes-pilotes: Ségur referenced (being installed) or MES-compatible [C]
    return ([] if segur or sw["mes_compatible"] else ["DUI_NOT_SEGUR_REFERENCED"]), []


# --- The decision ----------------------------------------------------------------------------

def decide(dossier: dict) -> dict:
    programme = dossier.get("programme", "esms-numerique")  # default programme
    policy = POLICIES[(programme, dossier["campaign"])]
    structures = dossier["structures"]

    # Counted structures, n, regions.
    s_codes = _structure_codes(programme, structures)
    counted = [s for s, c in zip(structures, s_codes) if not c]
    n = len(counted)
    regions = {REGION_OF[s["department"]] for s in counted}
    threshold = 8 if n >= 1 and all(s["department"] in CORSICA_OR_OVERSEAS for s in counted) else 15

    codes: set[str] = set()
    warnings: set[str] = set()

    # Call and size.
    call = _grouping_call(policy, n, len(regions), threshold)
    if call is None:
        if policy == "mes-pilotes-2023" and n > 1:
            codes.add("GROUPING_TOO_LARGE")
        else:
            codes.add("GROUPING_TOO_SMALL")  # R8
    elif call != dossier["call"]:
        codes.add("WRONG_CALL")
    if policy == "esms-numerique-2021" and 1 <= n < threshold:
        warnings.add("BELOW_IDEAL_SIZE")  # "idéalement" 15 (8): never a block (R9)

    # Deadline of the call filed to (R4, R5, R6, R11).
    multiregional = dossier["call"] == "regional" and len(regions) >= 2
    deadline = DEADLINES[policy][(dossier["call"], multiregional)]
    if deadline is GAP:
        warnings.add("DEADLINE_UNKNOWN")
    elif not _on_time(dossier["submitted_at"], deadline):
        codes.add("LATE_SUBMISSION")

    # Calls not yet open (v1.2, R12): a warning, never a block [I].
    opening = OPENINGS.get(policy, {}).get(dossier["call"])
    if opening is not None and _before_opening(dossier["submitted_at"], opening):
        warnings.add("CALL_NOT_OPEN")

    # Software.
    sw_codes, sw_warnings = _software(policy, dossier, counted)
    codes.update(sw_codes)
    warnings.update(sw_warnings)

    # Single EU funding [C pilots; I esms-numerique].
    if any(f["same_object"] for f in dossier["other_eu_funding"]):
        codes.add("OTHER_EU_FUNDING")
    # v1.2: another object only warns, in esms-numerique (the pilots say « ayant le même objet »).
    if programme == "esms-numerique" and any(not f["same_object"] for f in dossier["other_eu_funding"]):
        warnings.add("EU_FUNDING_TO_CHECK")

    eligible = not codes

    # Shares and amounts (R10).
    out_structures = []
    amount = Decimal(0)
    for s, c in zip(structures, s_codes):
        share = Decimal(0) if c else 1 - Decimal(repr(s["confort_share"]))
        if policy == "esms-numerique-2021" and not c:
            amount += PER_STRUCTURE_EUR_2021[dossier["software"]["action"]] * share
        out_structures.append({"finess": s["finess"], "eligible": not c,
                               "funded_share": float(share), "codes": c})
    amount_eur = None
    # [I: prorated]; the 2021 national call and other years: null [GAP] (R14)
    if policy == "esms-numerique-2021" and dossier["call"] == "regional" and eligible:
        amount_eur = float(amount.quantize(CENT, rounding=ROUND_HALF_UP))

    return {
        "recevable": "LATE_SUBMISSION" not in codes,
        "eligible": eligible,
        "call": call,
        "amount_eur": amount_eur,
        "codes": sorted(codes),
        "warnings": sorted(warnings),
        "structures": out_structures,
    }
