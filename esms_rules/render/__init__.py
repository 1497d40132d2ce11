"""Renderings of a decision for people: plain text, Markdown, HTML, and the contract's JSON.

`render(decision, fmt)` writes, in French and in this order:

1. the policy (id, sha256) and the engine version, so that an auditor can reproduce the run;
2. the verdict: recevable, éligible, appel, montant;
3. every blocking reason (message, citation, the rule and its `policies/…:line`), then warnings;
4. optionally (``suggestions=``, see `counterfactual.suggest`) « Ce qui changerait la décision »;
5. the full tree of dossier-level rule evaluations: outcome, code, the facts read with their
   values, which exception overrode which rule, citation and span;
6. the definitions with their values;
7. the structures as a table (FINESS, éligible, part financée, motifs), their reasons, and each
   structure's rule evaluations.

Output is deterministic: the same decision gives the same bytes (no clock, no randomness).
Every string that comes from a policy or a dossier (messages, citations, names, values) is
untrusted: HTML escapes it with `html.escape`, Markdown escapes its markup characters. The
HTML page is self-contained (inline CSS, no external asset, no network) and printable.

The package, one concern a module: `words` (the French words of values, outcomes, rule heads),
`conditions` (a rule's conditions in French with the values read), `view` (what every rendering
shows, computed once), then one module per format: `text`, `markdown`, `html`.
"""
from __future__ import annotations

import json

from . import html, markdown, text
from .conditions import condition_parts, condition_text
from .html import CSS as _CSS  # noqa: F401 - diff.py's page borrows the decision page's style
from .html import csp_hash as _csp_hash  # noqa: F401
from .html import h
from .markdown import md
from .view import COMPACT_NOTE, NO_DECIDING_RULE, PROGRAMME_TITLES, View
from .words import (
    CALL_LABELS,
    OUTCOME_LABELS,
    OUTCOME_MARKS,
    SEVERITY_LABELS,
    amount_label,
    call_label,
    call_name,
    euros,
    outcome_label,
    share_label,
    span_label,
    value_label,
)

__all__ = ["CALL_LABELS", "COMPACT_NOTE", "FORMATS", "NO_DECIDING_RULE", "OUTCOME_LABELS", "OUTCOME_MARKS",
           "PROGRAMME_TITLES", "SEVERITY_LABELS", "amount_label", "call_label", "call_name", "condition_parts",
           "condition_text", "euros", "h", "md", "outcome_label", "render", "share_label", "span_label",
           "value_label"]

FORMATS = ("text", "markdown", "html", "json")
_RENDERERS = {"text": text.render, "markdown": markdown.render, "html": html.render}


def render(decision, fmt: str = "text", *, suggestions=None) -> str:
    """The decision rendered as `text`, `markdown`, `html` or `json` (the contract's decision).

    With `suggestions` (a list of `counterfactual.Suggestion`), the renderings add a section
    « Ce qui changerait la décision » (and the JSON a `suggestions` key).
    """
    if fmt == "json":
        d = decision.to_dict()
        if suggestions is not None:
            d["suggestions"] = [s.to_dict() for s in suggestions]
        return json.dumps(d, ensure_ascii=False, indent=2)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return _RENDERERS[fmt](View(decision, suggestions))
