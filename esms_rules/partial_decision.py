"""The partial part of a decision (`Decision.partial`, the decision JSON's `partial`): its
classes, its JSON Schema, and its French text, where each status reads *acquis*, *exclu* or
*dépend de* the facts it names (docs/partial.md).
"""
from __future__ import annotations

from typing import Any

import attrs

STATUS_WORDS = {"certain": "acquis", "excluded": "exclu", "depends": "dépend de"}
"""The French word each stable status key is rendered with."""


def status_key(status: Any) -> str:
    """The stable name of a status: `certain` (*acquis*), `depends` (*dépend de*), `excluded` (*exclu*)."""
    return "certain" if status is True else "excluded" if status is False else "depends"


@attrs.frozen
class PartialReason:
    """One reason of a partial decision, with its status."""

    code: str
    rule: str
    level: str
    severity: str
    status: str                      # certain | depends | excluded (STATUS_WORDS: *acquis*…)
    on: tuple[str, ...] = ()         # the unknown facts it depends on (status depends)
    item: int | None = None          # index in the item list; None: the dossier (or any item, see any_item)
    finess: Any = None               # the item's key, when known
    any_item: bool = False           # a rule `for s in L` whose list L is unknown
    message: str | None = None       # the message, unknown placeholders read *inconnu*

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": self.code, "rule": self.rule, "level": self.level, "severity": self.severity,
                             "status": self.status}
        if self.on:
            d["on"] = list(self.on)
        if self.level == "structure":
            d["structure"] = {"index": self.item, "finess": self.finess}
        if self.message is not None:
            d["message"] = self.message
        return d


@attrs.frozen
class PartialInfo:
    """What a partial decision adds (`Decision.partial`, the decision JSON's `partial`)."""

    unknown: tuple[str, ...]             # every fact the dossier left unknown, in schema order
    needed: tuple[str, ...]              # those the decision still waits for, in the same order
    values: dict[str, dict[str, Any]]    # recevable, eligible, call, amount_eur -> status (and on)
    structures: tuple[dict[str, Any], ...]   # the items whose eligibility is not known yet, with its status
    reasons: tuple[PartialReason, ...]

    @property
    def complete(self) -> bool:
        return not self.needed

    def to_dict(self) -> dict[str, Any]:
        return {"complete": self.complete, "unknown": list(self.unknown), "needed": list(self.needed),
                **self.values, "structures": list(self.structures), "reasons": [r.to_dict() for r in self.reasons]}


def render_text(decision: Any) -> str:
    """A partial decision for people, in French: each value and reason acquis, exclu or
    dépend de the facts it names, then the facts still needed to decide."""
    from .french import french
    info: PartialInfo = decision.partial
    data = info.to_dict()
    lines = [f"Dossier {decision.dossier or '(sans identifiant)'} — politique {decision.policy_id} — "
             "évaluation partielle (dossier en cours de rédaction)", ""]

    def value_line(label: str, name: str, value: Any) -> None:
        status = data.get(name)
        if status is None:
            return
        if status["status"] == "certain":
            lines.append(f"{label} : {french(value, 'aucun')} ({STATUS_WORDS['certain']})")
        else:
            lines.append(f"{label} : {STATUS_WORDS['depends']} {', '.join(status['on'])}")

    value_line("Recevable", "recevable", decision.recevable)
    value_line("Éligible", "eligible", decision.eligible)
    value_line("Appel", "call", decision.call)
    value_line("Montant (euros)", "amount_eur", decision.amount_eur)
    lines += ["", "Motifs et avertissements :"]
    for r in info.reasons:
        where = ""
        if r.level == "structure":
            where = " (toutes les structures)" if r.any_item else f" (structure {r.finess or r.item})"
        head = f"  {STATUS_WORDS[r.status]}"
        if r.on:
            head += " " + ", ".join(r.on)
        kind = "avertissement" if r.severity == "warning" else "motif"
        lines.append(f"{head} — {kind} {r.code}{where}" + (f" : {r.message}" if r.message else ""))
    lines.append("")
    if info.needed:
        lines.append("Faits encore nécessaires pour décider : " + ", ".join(info.needed) + ".")
    else:
        lines.append("Décision complète : aucun fait inconnu ne la change.")
    lines.append("Tout motif de structure qui n'est pas listé est exclu.")
    return "\n".join(lines) + "\n"


def partial_schema() -> dict[str, Any]:
    """The JSON Schema of a decision's `partial` part (jsonschema.decision_schema refers to it)."""
    paths = {"type": "array", "items": {"type": "string"}}
    status = {
        "type": "object",
        "properties": {"status": {"enum": ["certain", "depends"]}, "on": paths},
        "required": ["status"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "description": "only in a partial decision (partial=True, --partial): what is certain, what depends on "
                       "which unknown facts, the facts still needed (docs/partial.md)",
        "properties": {
            "complete": {"type": "boolean", "description": "nothing is needed: the decision is final"},
            "unknown": {**paths, "description": "the facts the dossier leaves unknown, by JSON path, schema order"},
            "needed": {**paths, "description": "those the decision still waits for, same order"},
            "recevable": status, "eligible": status, "call": status, "amount_eur": status,
            "structures": {"type": "array", "description": "the structures whose eligibility is not known yet",
                           "items": {"type": "object",
                                     "properties": {"index": {"type": "integer"},
                                                    "finess": {"type": ["string", "null"]},
                                                    "status": {"const": "depends"}, "on": paths},
                                     "required": ["index", "finess", "status", "on"],
                                     "additionalProperties": False}},
            "reasons": {"type": "array", "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$"},
                    "rule": {"type": "string"},
                    "level": {"enum": ["dossier", "structure"]},
                    "severity": {"enum": ["blocking", "inadmissible", "warning"]},
                    "status": {"enum": list(STATUS_WORDS), "description": "certain (acquis), excluded (exclu), "
                                                                           "depends (dépend de) the facts in `on`"},
                    "on": {**paths, "minItems": 1},
                    "structure": {"type": "object", "properties": {"index": {"type": ["integer", "null"]},
                                                                   "finess": {"type": ["string", "null"]}},
                                  "required": ["index", "finess"], "additionalProperties": False},
                    "message": {"type": "string"},
                },
                "required": ["code", "rule", "level", "severity", "status"],
                "additionalProperties": False,
            }},
        },
        "required": ["complete", "unknown", "needed", "recevable", "eligible", "structures", "reasons"],
        "additionalProperties": False,
    }
