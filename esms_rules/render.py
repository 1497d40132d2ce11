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
HTML page is self-contained (inline CSS, no external asset, no network) and printable; its
Content-Security-Policy allows only its own style and its one inline script (which opens
every `<details>` before printing), by hash.
"""
from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from decimal import Decimal

from .french import french

FORMATS = ("text", "markdown", "html", "json")

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


# ---- values ------------------------------------------------------------------
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
        return "aucun (le regroupement ne relève d'aucun appel)"
    return call_name(call)


def amount_label(v) -> str:
    if v is None:
        return "aucun"
    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    s = f"{d:,.2f}".replace(",", " ").replace(".", ",")
    return f"{s} €"


def share_label(v) -> str:
    if v is None:
        return "—"
    d = Decimal(str(v)) if not isinstance(v, Decimal) else v
    return f"{french(d * 100)} %"


def value_label(v) -> str:
    """A value read by a rule or held by a definition, the French way (dates, decimals, booleans)."""
    if isinstance(v, str) and v == "":
        return "« »"
    return french(v)


def span_label(span) -> str:
    return f"{span.file}:{span.line}" if span is not None else ""


def _one_line(s) -> str:
    """Untrusted text on one line: control characters and line breaks become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(s))


# ---- what a rendering shows ------------------------------------------------------
class _View:
    """Everything a rendering shows, computed once from the decision (and suggestions)."""

    def __init__(self, decision, suggestions):
        self.d = decision
        self.trace = decision.trace
        self.suggestions = list(suggestions) if suggestions is not None else None
        self.title = f"Décision ESMS numérique — dossier {decision.dossier if decision.dossier is not None else '(sans identifiant)'}"
        self.identity = [("Politique", decision.policy_id), ("sha256", decision.sha256),
                         ("Moteur", f"esms-rules {decision.engine}")]
        verdict = "recevable" if decision.recevable else "non recevable"
        verdict += ", éligible" if decision.eligible else ", non éligible"
        self.summary = f"Dossier {verdict}."
        self.verdict = [("Recevable", french(bool(decision.recevable))),
                        ("Éligible", french(bool(decision.eligible))),
                        ("Appel", call_label(decision.call)),
                        ("Montant", amount_label(decision.amount_eur))]
        self.reasons = [self._reason(r, None) for r in decision.reasons]
        self.warnings = [self._reason(r, None) for r in decision.warnings]
        self.structure_reasons = []
        for i, s in enumerate(decision.structures):
            for r in tuple(s.reasons) + tuple(s.warnings):
                self.structure_reasons.append(self._reason(r, i))

    def _reason(self, r, item):
        node = self.trace.fired(r.rule, item) if self.trace is not None else None
        finess = self.d.structures[item].finess if item is not None else None
        return {"code": r.code, "rule": r.rule, "message": r.message, "source": r.source,
                "severity": r.severity, "span": span_label(node.span) if node is not None else "",
                "finess": finess}

    def structure_rows(self):
        rows = []
        for s in self.d.structures:
            codes = [r.code for r in s.reasons] + [f"{w.code} (avertissement)" for w in s.warnings]
            rows.append((str(s.finess), french(bool(s.eligible)), share_label(s.funded_share),
                         ", ".join(codes) if codes else "—"))
        return rows

    def structure_rule_decls(self):
        """The structure-level rules, once each (name, code, severity, citation, span)."""
        seen, out = set(), []
        if self.trace is None:
            return out
        for item in self.trace.items:
            for root in item.rules:
                for n, _ in root.walk():
                    if n.rule not in seen:
                        seen.add(n.rule)
                        out.append(n)
        return out


def _reads_inline(node) -> str:
    return " ; ".join(f"{r.name} = {_one_line(value_label(r.value))}" for r in node.reads)


def _severity(node) -> str:
    """The severity of a rule or coded exception; an exception without code has none (it only lifts)."""
    if node.kind == "exception" and not node.code:
        return ""
    return SEVERITY_LABELS.get(node.severity, node.severity)


def _head_parts(node, *, text=str, code=str) -> str:
    """What a rule head says after its name: « exception », the code, the severity (`text`, `code` format them)."""
    severity = _severity(node)
    parts = (["exception"] if node.kind == "exception" else []) + ([code(node.code)] if node.code else []) \
        + ([text(severity)] if severity else [])
    return ", ".join(parts)


def _rule_head(node) -> str:
    return f"{node.rule} [{_head_parts(node)}]"


# ---- public API --------------------------------------------------------------------
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
    view = _View(decision, suggestions)
    return {"text": _text, "markdown": _markdown, "html": _html}[fmt](view)


# ---- plain text -----------------------------------------------------------------------
def _text(v: _View) -> str:
    out: list[str] = []
    w = out.append
    t = _one_line
    w(t(v.title))
    w("=" * len(t(v.title)))
    for label, value in v.identity:
        w(f"{label} : {t(value)}")
    w("")
    w("VERDICT")
    w(f"  {v.summary}")
    for label, value in v.verdict:
        w(f"  {label} : {t(value)}")
    w("")

    def reason_block(title, reasons):
        w(f"{title} ({len(reasons)})")
        if not reasons:
            w("  aucun")
        for k, r in enumerate(reasons, 1):
            where = f"règle {r['rule']}" + (f", {r['span']}" if r["span"] else "")
            who = f"structure {t(r['finess'])} — " if r["finess"] is not None else ""
            w(f"  {k}. {who}{r['code']} ({where})")
            w(f"     {t(r['message'])}")
            w(f"     Source : {t(r['source'])}")
        w("")

    reason_block("MOTIFS BLOQUANTS", v.reasons)
    reason_block("AVERTISSEMENTS", v.warnings)
    if v.suggestions is not None:
        w(f"CE QUI CHANGERAIT LA DÉCISION ({len(v.suggestions)})")
        if not v.suggestions:
            w("  aucune modification trouvée")
        for k, s in enumerate(v.suggestions, 1):
            w(f"  {k}. {s.code} : {t(s.text)}")
            for c in s.changes:
                w(f"     modification : {t(c)}")
        w("")

    w("RÈGLES ÉVALUÉES (niveau dossier)")
    if v.trace is None:
        w("  trace non disponible (évaluation sans trace)")
    else:
        def node(n, depth):
            pad = "  " * depth
            w(f"{pad}{OUTCOME_MARKS.get(n.outcome, '?')} {_rule_head(n)} : {outcome_label(n)} ({n.outcome})")
            for r in n.reads:
                w(f"{pad}    lu : {r.name} = {t(value_label(r.value))}")
            if n.message:
                w(f"{pad}    message : {t(n.message)}")
            if n.citation:
                w(f"{pad}    source : {t(n.citation)}")
            w(f"{pad}    {span_label(n.span)}")
            for c in n.children:
                node(c, depth + 2)
        for n in v.trace.rules:
            node(n, 1)
    w("")

    w("DÉFINITIONS")
    if v.trace is not None:
        for d in v.trace.definitions:
            w(f"  {d.name} = {t(value_label(d.value))}   ({span_label(d.span)})")
            if d.citation:
                w(f"      source : {t(d.citation)}")
    w("")

    rows = v.structure_rows()
    w(f"STRUCTURES ({len(rows)})")
    if rows:
        head = ("FINESS", "éligible", "part financée", "motifs")
        table = [head] + [tuple(t(c) for c in r) for r in rows]
        widths = [max(len(r[i]) for r in table) for i in range(3)]
        for k, r in enumerate(table):
            w("  " + " | ".join([r[i].ljust(widths[i]) for i in range(3)] + [r[3]]))
            if k == 0:
                w("  " + "-+-".join("-" * x for x in widths) + "-+-" + "-" * len(head[3]))
    else:
        w("  aucune structure")
    w("")
    if v.structure_reasons:
        w("MOTIFS PAR STRUCTURE")
        for r in v.structure_reasons:
            sev = "" if r["severity"] != "warning" else " (avertissement)"
            w(f"  {t(r['finess'])} — {r['code']}{sev} (règle {r['rule']}{', ' + r['span'] if r['span'] else ''})")
            w(f"     {t(r['message'])}")
            w(f"     Source : {t(r['source'])}")
        w("")
    decls = v.structure_rule_decls()
    if decls:
        w("RÈGLES DE NIVEAU STRUCTURE")
        for n in decls:
            w(f"  {_rule_head(n)}   ({span_label(n.span)})")
            if n.citation:
                w(f"      source : {t(n.citation)}")
        w("")
        w("RÈGLES ÉVALUÉES PAR STRUCTURE")
        for item in v.trace.items:
            w(f"  Structure {item.index + 1} — {t(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    reads = _reads_inline(n)
                    w(f"  {'  ' * depth}  {OUTCOME_MARKS.get(n.outcome, '?')} {n.rule} : {outcome_label(n)}"
                      + (f" — {t(reads)}" if reads else ""))
        w("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---- Markdown -----------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md(s) -> str:
    """Untrusted text in Markdown: on one line, `&` and markup characters escaped."""
    s = _one_line(s).replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _code(s) -> str:
    s = _one_line(s)
    return f"`{s}`" if "`" not in s else md(s)


def _md_outcome(node) -> str:
    return outcome_label(node, text=md, name=_code)


def _markdown(v: _View) -> str:
    out: list[str] = []
    w = out.append
    w(f"# {md(v.title)}")
    w("")
    for label, value in v.identity:
        w(f"- **{label}** : {_code(value)}")
    w("")
    w("## Verdict")
    w("")
    w(f"**{md(v.summary)}**")
    w("")
    w("| | |")
    w("| --- | --- |")
    for label, value in v.verdict:
        w(f"| {label} | {md(value)} |")
    w("")

    def reason_block(title, reasons):
        w(f"## {title} ({len(reasons)})")
        w("")
        if not reasons:
            w("Aucun.")
            w("")
        for k, r in enumerate(reasons, 1):
            where = f"règle {_code(r['rule'])}" + (f", {_code(r['span'])}" if r["span"] else "")
            who = f"structure {md(r['finess'])} — " if r["finess"] is not None else ""
            w(f"{k}. {who}**{_code(r['code'])}** ({where})  ")
            w(f"   {md(r['message'])}  ")
            w(f"   *Source* : {md(r['source'])}")
            w("")

    reason_block("Motifs bloquants", v.reasons)
    reason_block("Avertissements", v.warnings)
    if v.suggestions is not None:
        w(f"## Ce qui changerait la décision ({len(v.suggestions)})")
        w("")
        if not v.suggestions:
            w("Aucune modification trouvée.")
            w("")
        for k, s in enumerate(v.suggestions, 1):
            w(f"{k}. {_code(s.code)} : {md(s.text)}")
            for c in s.changes:
                w(f"   - modification : {_code(c)}")
        if v.suggestions:
            w("")

    w("## Règles évaluées (niveau dossier)")
    w("")
    if v.trace is None:
        w("Trace non disponible (évaluation sans trace).")
    else:
        def node(n, depth):
            pad = "  " * depth
            w(f"{pad}- {OUTCOME_MARKS.get(n.outcome, '?')} **{_code(n.rule)}** "
              f"({_head_parts(n, code=_code)}) : {_md_outcome(n)} ({_code(n.outcome)})")
            for r in n.reads:
                w(f"{pad}  - lu : {_code(r.name)} = {md(value_label(r.value))}")
            if n.message:
                w(f"{pad}  - message : {md(n.message)}")
            if n.citation:
                w(f"{pad}  - source : {md(n.citation)}")
            w(f"{pad}  - {_code(span_label(n.span))}")
            for c in n.children:
                node(c, depth + 1)
        for n in v.trace.rules:
            node(n, 0)
    w("")

    w("## Définitions")
    w("")
    if v.trace is not None:
        w("| définition | valeur | source | position |")
        w("| --- | --- | --- | --- |")
        for d in v.trace.definitions:
            w(f"| {_code(d.name)} | {md(value_label(d.value))} | {md(d.citation) if d.citation else '—'} "
              f"| {_code(span_label(d.span))} |")
        w("")

    rows = v.structure_rows()
    w(f"## Structures ({len(rows)})")
    w("")
    if rows:
        w("| FINESS | éligible | part financée | motifs |")
        w("| --- | --- | --- | --- |")
        for r in rows:
            w("| " + " | ".join(md(c) for c in r) + " |")
    else:
        w("Aucune structure.")
    w("")
    if v.structure_reasons:
        w("### Motifs par structure")
        w("")
        for r in v.structure_reasons:
            sev = "" if r["severity"] != "warning" else " (avertissement)"
            where = f"règle {_code(r['rule'])}" + (f", {_code(r['span'])}" if r["span"] else "")
            w(f"- {md(r['finess'])} — **{_code(r['code'])}**{sev} ({where})  ")
            w(f"  {md(r['message'])}  ")
            w(f"  *Source* : {md(r['source'])}")
        w("")
    decls = v.structure_rule_decls()
    if decls:
        w("### Règles de niveau structure")
        w("")
        for n in decls:
            w(f"- **{_code(n.rule)}** ({_code(n.code) + ', ' if n.code else ''}"
              f"{SEVERITY_LABELS.get(n.severity, n.severity)}), {_code(span_label(n.span))}"
              + (f" — *source* : {md(n.citation)}" if n.citation else ""))
        w("")
        w("### Règles évaluées par structure")
        w("")
        for item in v.trace.items:
            w(f"- Structure {item.index + 1} — {md(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    reads = _reads_inline(n)
                    w(f"  {'  ' * depth}- {OUTCOME_MARKS.get(n.outcome, '?')} {_code(n.rule)} : "
                      f"{_md_outcome(n)}" + (f" — {md(reads)}" if reads else ""))
        w("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---- HTML -------------------------------------------------------------------------------------
_CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #d0d0d0; --ok: #1d6b2f; --ko: #a61b1b; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-top: 1.4rem; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.identity { color: var(--muted); margin: 0; }
.identity dt { font-weight: 600; float: left; clear: left; width: 6rem; }
.identity dd { margin: 0 0 0 6rem; word-break: break-all; }
.verdict { border: 2px solid var(--line); border-radius: 6px; padding: .8rem 1rem; margin: 1rem 0; }
.verdict.ok { border-color: var(--ok); }
.verdict.ko { border-color: var(--ko); }
.verdict p { font-size: 1.15rem; font-weight: 700; margin: 0 0 .4rem; }
.verdict.ok p { color: var(--ok); }
.verdict.ko p { color: var(--ko); }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid var(--line); padding: .25rem .5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
table.kv { width: auto; }
ol.reasons li { margin-bottom: .6rem; }
.msg { display: block; }
.src { display: block; color: var(--muted); font-size: .92em; }
.src::before { content: "Source : "; font-weight: 600; }
details { margin: .2rem 0 .2rem 1rem; }
details > summary { cursor: pointer; }
.node { border-left: 3px solid var(--line); padding-left: .5rem; margin: .35rem 0; }
.node.fired { border-left-color: var(--ko); }
.node.overridden, .node.lifted { border-left-color: var(--warn); }
.node.passed { border-left-color: var(--ok); }
.node ul { margin: .2rem 0 .2rem 1.2rem; padding: 0; }
.outcome { font-weight: 600; }
.fired > summary .outcome { color: var(--ko); }
.passed > summary .outcome { color: var(--ok); }
.overridden > summary .outcome, .lifted > summary .outcome { color: var(--warn); }
.span { color: var(--muted); }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--ko); font-weight: 600; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  details > summary { list-style: none; }
  h2 { break-after: avoid; }
  .node, tr { break-inside: avoid; }
}
""".strip()

_SCRIPT = ("window.addEventListener('beforeprint',function(){"
           "document.querySelectorAll('details').forEach(function(d){d.open=true;});});")


def _csp_hash(s: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") + "'"


def h(s) -> str:
    """Untrusted text in HTML (element content or a quoted attribute)."""
    return html.escape(str(s), quote=True)


def _html_code(s) -> str:
    return f"<code>{h(s)}</code>"


def _yes_no(b: bool) -> str:
    return f'<span class="{"yes" if b else "no"}">{h(french(bool(b)))}</span>'


def _html(v: _View) -> str:
    out: list[str] = []
    w = out.append
    csp = (f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_SCRIPT)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    w("<!DOCTYPE html>")
    w('<html lang="fr">')
    w("<head>")
    w('<meta charset="utf-8">')
    w(f'<meta http-equiv="Content-Security-Policy" content="{h(csp)}">')
    w('<meta name="viewport" content="width=device-width, initial-scale=1">')
    w('<link rel="icon" href="data:,">')
    w(f"<title>{h(v.title)}</title>")
    w(f"<style>{_CSS}</style>")
    w(f"<script>{_SCRIPT}</script>")
    w("</head>")
    w("<body>")
    w(f"<h1>{h(v.title)}</h1>")
    w('<dl class="identity">')
    for label, value in v.identity:
        w(f'<dt>{h(label)}</dt><dd class="mono" id="{h("id-" + label.lower())}">{h(value)}</dd>')
    w("</dl>")

    ok = v.d.eligible and v.d.recevable
    w(f'<section class="verdict {"ok" if ok else "ko"}" id="verdict">')
    w(f"<p>{h(v.summary)}</p>")
    w('<table class="kv">')
    for label, value in v.verdict:
        w(f"<tr><th>{h(label)}</th><td>{h(value)}</td></tr>")
    w("</table>")
    w("</section>")

    def reason_block(title, ident, reasons, empty):
        w(f'<section id="{ident}">')
        w(f"<h2>{h(title)} ({len(reasons)})</h2>")
        if not reasons:
            w(f"<p>{h(empty)}</p>")
        else:
            w('<ol class="reasons">')
            for r in reasons:
                who = f"structure {h(r['finess'])} — " if r["finess"] is not None else ""
                span = f', <code class="span">{h(r["span"])}</code>' if r["span"] else ""
                w(f"<li>{who}<strong><code>{h(r['code'])}</code></strong> "
                  f"(règle <code>{h(r['rule'])}</code>{span})"
                  f'<span class="msg">{h(r["message"])}</span>'
                  f'<span class="src">{h(r["source"])}</span></li>')
            w("</ol>")
        w("</section>")

    reason_block("Motifs bloquants", "motifs", v.reasons, "Aucun.")
    reason_block("Avertissements", "avertissements", v.warnings, "Aucun.")
    if v.suggestions is not None:
        w('<section id="suggestions">')
        w(f"<h2>Ce qui changerait la décision ({len(v.suggestions)})</h2>")
        if not v.suggestions:
            w("<p>Aucune modification trouvée.</p>")
        else:
            w("<ol>")
            for s in v.suggestions:
                changes = "".join(f"<li><code>{h(c)}</code></li>" for c in s.changes)
                w(f"<li><code>{h(s.code)}</code> : {h(s.text)}"
                  + (f"<ul>{changes}</ul>" if changes else "") + "</li>")
            w("</ol>")
        w("</section>")

    def node(n, open_):
        cls = h(n.outcome)
        w(f'<details class="node {cls}"{" open" if open_ else ""}>')
        w(f"<summary>{h(OUTCOME_MARKS.get(n.outcome, '?'))} <strong><code>{h(n.rule)}</code></strong> "
          f"({_head_parts(n, text=h, code=_html_code)}) : "
          f'<span class="outcome">{h(outcome_label(n))}</span> (<code>{h(n.outcome)}</code>)</summary>')
        w("<ul>")
        for r in n.reads:
            w(f"<li>lu : <code>{h(r.name)}</code> = {h(value_label(r.value))}</li>")
        if n.message:
            w(f"<li>message : {h(n.message)}</li>")
        if n.citation:
            w(f'<li><span class="src">{h(n.citation)}</span></li>')
        w(f'<li><code class="span">{h(span_label(n.span))}</code></li>')
        w("</ul>")
        for c in n.children:
            node(c, open_)
        w("</details>")

    w('<section id="regles">')
    w("<h2>Règles évaluées (niveau dossier)</h2>")
    if v.trace is None:
        w("<p>Trace non disponible (évaluation sans trace).</p>")
    else:
        for n in v.trace.rules:
            node(n, True)
    w("</section>")

    w('<section id="definitions">')
    w("<h2>Définitions</h2>")
    if v.trace is not None:
        w("<table><thead><tr><th>définition</th><th>valeur</th><th>source</th><th>position</th></tr></thead><tbody>")
        for d in v.trace.definitions:
            w(f"<tr><td><code>{h(d.name)}</code></td><td>{h(value_label(d.value))}</td>"
              f"<td>{h(d.citation) if d.citation else '—'}</td>"
              f'<td><code class="span">{h(span_label(d.span))}</code></td></tr>')
        w("</tbody></table>")
    w("</section>")

    rows = v.structure_rows()
    w('<section id="structures">')
    w(f"<h2>Structures ({len(rows)})</h2>")
    if rows:
        w("<table><thead><tr><th>FINESS</th><th>éligible</th><th>part financée</th><th>motifs</th></tr></thead><tbody>")
        for s, r in zip(v.d.structures, rows):
            w(f'<tr><td class="mono">{h(r[0])}</td><td>{_yes_no(s.eligible)}</td><td>{h(r[2])}</td>'
              f"<td>{h(r[3])}</td></tr>")
        w("</tbody></table>")
    else:
        w("<p>Aucune structure.</p>")
    if v.structure_reasons:
        w("<h3>Motifs par structure</h3>")
        w('<ul class="reasons">')
        for r in v.structure_reasons:
            sev = "" if r["severity"] != "warning" else " (avertissement)"
            span = f', <code class="span">{h(r["span"])}</code>' if r["span"] else ""
            w(f"<li>{h(r['finess'])} — <strong><code>{h(r['code'])}</code></strong>{sev} "
              f"(règle <code>{h(r['rule'])}</code>{span})"
              f'<span class="msg">{h(r["message"])}</span><span class="src">{h(r["source"])}</span></li>')
        w("</ul>")
    decls = v.structure_rule_decls()
    if decls:
        w("<h3>Règles de niveau structure</h3>")
        w("<ul>")
        for n in decls:
            code = f"<code>{h(n.code)}</code>, " if n.code else ""
            w(f"<li><strong><code>{h(n.rule)}</code></strong> ({code}"
              f"{h(SEVERITY_LABELS.get(n.severity, n.severity))}), "
              f'<code class="span">{h(span_label(n.span))}</code>'
              + (f'<span class="src">{h(n.citation)}</span>' if n.citation else "") + "</li>")
        w("</ul>")
        w("<h3>Règles évaluées par structure</h3>")
        for item in v.trace.items:
            w(f"<details><summary>Structure {item.index + 1} — <span class=\"mono\">{h(item.key)}</span> : "
              f"<span class=\"{'yes' if item.eligible else 'no'}\">{'éligible' if item.eligible else 'non éligible'}</span></summary>")
            for root in item.rules:
                node(root, False)
            w("</details>")
    w("</section>")
    w("</body>")
    w("</html>")
    return "\n".join(out) + "\n"
