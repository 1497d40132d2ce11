"""The campaign report's vocabulary: the outcomes of a row, the places, calls, territories and
sectors it counts by, and their French labels (shared by the figures, the charts and the page)."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from ..render import call_name

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


def place_label(p: str) -> str:
    return PLACE_LABELS.get(p, p)


def call_label(c: str) -> str:
    return CALL_LABELS.get(c, c)


def filed(c: str) -> str:
    return call_name(c) if c != UNKNOWN else "inconnu"


def percent(share: Decimal) -> str:
    return f"{(share * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)} %".replace(".", ",")
