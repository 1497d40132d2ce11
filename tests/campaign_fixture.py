"""A hand-made campaign for the campaign report's tests: eight rows whose every count is known.

| row | id | what | outcome |
| --- | --- | --- | --- |
| 1 | A-BRE | 2025 regional, 16 PA in Bretagne (29) | eligible |
| 2 | B-HDF | 2025 filed national, 16 PH in 59, filed 20 Sep | not recevable (LATE_SUBMISSION, WRONG_CALL) |
| 3 | C-REU | 2025 regional, 3 PA in La Réunion | ineligible (GROUPING_TOO_SMALL) |
| 4 | D-2021 | 2021 regional, 18 PA in Bretagne, mise en conformité | eligible, 180 000 € |
| 5 | E-BAD | 2025, one structure in 975 (no ARS), one in 29 | invalid, region Bretagne |
| 6 | HOSTILE | 2025 regional, 2 PH in Paris, one not an ESSMS; markup and formulas everywhere | ineligible |
| 7 | G-MULTI | 2025 regional, 8 domicile in 29 and 8 in 59, filed 20 May | eligible, multiregional |
| 8 | (none) | a JSON array, not a dossier | invalid, region unknown |
"""
from __future__ import annotations

import copy
from typing import Any

import esms_rules
from esms_rules.runtime import luhn_key

HOSTILE_ID = "<script>alert('id')</script>\"'&"
HOSTILE_NAME = '=HYPERLINK("http://evil.example/x","clic")'


def structure(dep: str, k: int, sector: str = "PA", item: Any = "auto") -> dict[str, Any]:
    # an item of art. L.312-1 that has this sector, and a valid check key: no consistency warning
    item = {"PH": 7, "AHI": 8, "PJM": 14}.get(sector, 6) if item == "auto" else item
    body = f"{dep}{k:0{8 - len(dep)}d}"
    finess = body + (luhn_key(body) if body.isdigit() else "0")
    return {"finess": finess, "name": f"{sector} {dep} {k}", "department": dep,
            "category": "EHPAD", "casf_item": item, "sector": sector, "financed_by": ["ARS", "CD"],
            "confort_share": 0.0}


def dossier(ident: object, structures: list[dict], *, campaign: int = 2025, call: str = "regional",
            submitted: str = "2025-09-10T11:00:00+02:00", action: str = "acquisition") -> dict[str, Any]:
    return {"id": ident, "campaign": campaign, "programme": "esms-numerique", "call": call, "submitted_at": submitted,
            "convention_signed_on": f"{campaign}-12-01",
            "applicant": {"name": f"Porteur {ident}", "legal_form": "private", "gcsms": False},
            "software": {"action": action, "segur_referenced": True, "segur_candidate_on": None,
                         "resah_referenced": True, "mes_compatible": False},
            "other_eu_funding": [], "structures": structures}


def campaign_dossiers() -> list[Any]:
    hostile = dossier(HOSTILE_ID, [structure("75", 1, "PH"), structure("75", 2, "PH", None)])
    hostile["applicant"]["name"] = HOSTILE_NAME
    hostile["structures"][0]["name"] = "<img src=x onerror=alert(1)>"
    return [
        dossier("A-BRE", [structure("29", k) for k in range(16)]),
        dossier("B-HDF", [structure("59", k, "PH") for k in range(16)], call="national",
                submitted="2025-09-20T10:00:00+02:00"),
        dossier("C-REU", [structure("974", k) for k in range(3)]),
        dossier("D-2021", [structure("29", 100 + k) for k in range(18)], campaign=2021,
                submitted="2021-10-10T10:00:00+02:00", action="mise_en_conformite"),
        dossier("E-BAD", [structure("975", 1), structure("29", 200)]),
        hostile,
        dossier("G-MULTI", [structure("29", 300 + k, "domicile") for k in range(8)]
                + [structure("59", 300 + k, "domicile") for k in range(8)], submitted="2025-05-20T10:00:00+02:00"),
        ["not", "a", "dossier"],
    ]


def decide(dossiers: list[Any]) -> list[Any]:
    """One result per dossier, as the campaign gives them: a Decision or a DossierError."""
    rows: list[Any] = []
    for d in dossiers:
        try:
            rows.append(esms_rules.evaluate(d))
        except esms_rules.DossierError as e:
            rows.append(e)
    return rows


FINDINGS = [
    {"code": "FINESS_IN_OTHER_DOSSIER", "rule": "finess_in_other_dossier", "severity": "warning",
     "dossier": "A-BRE", "finess": "290000017", "others": [HOSTILE_ID, "G-MULTI"],
     "message": "Le FINESS 290000017 figure aussi dans un autre dossier <b>de la campagne</b>.",
     "source": "[I] esms-rules-lecture, doublons entre dossiers"},
    {"code": "PILOTS_CAP", "rule": "pilots_cap", "severity": "info", "dossier": None, "finess": None, "others": [],
     "message": "Plus de 56 ESMS passent.", "source": "[C] instruction"},
]


def campaign() -> tuple[list[Any], list[Any], list[dict]]:
    """(dossiers, results, findings), fresh copies each call."""
    dossiers = campaign_dossiers()
    return dossiers, decide(dossiers), copy.deepcopy(FINDINGS)
