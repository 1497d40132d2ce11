"""The French words of a rendering: outcomes, severities, calls, amounts, values, rule heads.

Shared by the text, Markdown and HTML renderings (and by the other reports of the engine:
`call_name`, `euros`); each takes an optional formatter where a rendering marks words up.
"""
from __future__ import annotations

import re
from decimal import Decimal

from ..french import french

OUTCOME_LABELS = {
    ("rule", "passed"): "non déclenchée",
    ("rule", "fired"): "déclenchée",
    ("rule", "overridden"): "écartée par l'exception",
    ("exception", "passed"): "applicable, non déclenchée",
    ("exception", "fired"): "applicable, déclenchée",
    ("exception", "overridden"): "écartée par l'exception",
    ("exception", "not-applicable"): "non applicable",
    ("exception", "lifted"): "applicable : lève la règle",
}
OUTCOME_MARKS = {"passed": "✓", "fired": "✗", "overridden": "⤳", "not-applicable": "·", "lifted": "↑"}
SEVERITY_LABELS = {"blocking": "bloquant", "warning": "avertissement", "inadmissible": "irrecevabilité"}
CALL_LABELS = {"regional": "régional", "national": "national"}


def outcome_label(node, *, text=str, name=str) -> str:
    """The outcome in French, with the overriding exception; `text` and `name` format them (markup)."""
    label = text(OUTCOME_LABELS.get((node.kind, node.outcome), node.outcome))
    if node.outcome == "overridden" and node.overridden_by:
        label = f"{label} {name(node.overridden_by)}"
    return label


def call_name(call) -> str:
    """A call's French name (`regional` → « régional »); any other value the French way."""
    return CALL_LABELS.get(call, french(call)) if isinstance(call, str) else french(call)


def call_label(call) -> str:
    if call is None:
        return "aucun : le dossier ne relève d'aucun appel"
    return call_name(call)


def euros(v) -> str:
    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    s = f"{d:,.2f}".replace(",", " ").replace(".", ",")
    return f"{s} €"


def amount_label(v, eligible: bool = True) -> str:
    """The amount granted; null means « no barème » on an eligible dossier, « sans objet » otherwise."""
    if v is None:
        return "sans barème pour cette campagne" if eligible else "sans objet (dossier non éligible)"
    return euros(v)


def share_label(v) -> str:
    if v is None:
        return "—"
    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    return f"{french(d * 100)} %"


def value_label(v, null: str = "non renseigné", *, longest: int | None = None) -> str:
    """A value read by a rule or held by a definition, the French way (dates, decimals, booleans).

    `null` says what a null is (see `explain.null_word`); `longest` shortens long lists.
    """
    if v is None:
        return null
    if isinstance(v, str) and v == "":
        return "« »"
    if isinstance(v, (list, tuple)):
        if not v:
            return "aucun"
        if longest is not None and len(v) > longest:
            head = ", ".join(value_label(x) for x in v[:longest])
            return f"{head}, … ({len(v)} au total)"
        return ", ".join(value_label(x) for x in v)
    if isinstance(v, dict):
        return value_label(next(iter(v.values()), None), null)
    return french(v)


def span_label(span) -> str:
    return f"{span.file}:{span.line}" if span is not None else ""


def one_line(s) -> str:
    """Untrusted text on one line: control characters and line breaks become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(s))


def _severity(node) -> str:
    """The severity of a rule or coded exception; an exception without code has none (it only lifts)."""
    if node.kind == "exception" and not node.code:
        return ""
    return SEVERITY_LABELS.get(node.severity, node.severity)


def head_parts(node, *, text=str, code=str) -> str:
    """What a rule head says after its name: « exception », the code, the severity (`text`, `code` format them)."""
    severity = _severity(node)
    parts = (["exception"] if node.kind == "exception" else []) + ([code(node.code)] if node.code else []) \
        + ([text(severity)] if severity else [])
    return ", ".join(parts)

