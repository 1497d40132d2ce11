"""The HTML rendering of a decision: one self-contained, printable page.

Inline CSS, no external asset, no network; the Content-Security-Policy allows only the page's own
style and its one inline script (which opens every `<details>` before printing), by hash. Every
untrusted string is escaped with `h`.
"""
from __future__ import annotations

import base64
import hashlib
import html

from ..french import french
from .conditions import condition_text, other_reads, rule_conditions
from .view import COMPACT_NOTE, NO_DECIDING_RULE, View, group_message, group_who
from .words import OUTCOME_MARKS, head_parts, outcome_label, share_label, span_label, value_label

CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #d0d0d0; --ok: #1d6b2f; --ko: #a61b1b; --warn: #8a5a00; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin: 1.6rem 0 .5rem; }
h3 { font-size: 1.05rem; margin-top: 1.2rem; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.identity { color: var(--muted); margin: 0; font-size: .85em; }
.identity span { margin-right: 1.2em; word-break: break-all; }
.verdict { border: 2px solid var(--line); border-radius: 6px; padding: .6rem 1rem; margin: .8rem 0; }
.verdict.ok { border-color: var(--ok); }
.verdict.ko { border-color: var(--ko); }
.verdict p { font-size: 1.15rem; font-weight: 700; margin: 0 0 .3rem; }
.verdict.ok p { color: var(--ok); }
.verdict.ko p { color: var(--ko); }
.verdict dl { display: flex; flex-wrap: wrap; gap: .2rem 1.6rem; margin: 0; }
.verdict dt { font-weight: 600; }
.verdict dt::after { content: " :"; }
.verdict dd { margin: 0 0 0 .3rem; }
.verdict div { display: flex; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .15rem .4rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
ol.reasons > li { margin-bottom: .5rem; }
.msg, .cond, .src, .who { display: block; }
.cond, .who { font-size: .92em; }
.cond .label, .who .label { font-weight: 600; }
.val { background: #eef2f7; border-radius: 3px; padding: 0 .25em; font-size: .92em; white-space: nowrap; }
.lit { font-style: italic; }
.src { color: var(--muted); font-size: .92em; }
.ref { color: var(--muted); font-weight: 600; white-space: nowrap; }
.badge { display: inline-block; border: 1px solid var(--ko); color: var(--ko); border-radius: 3px; padding: 0 .3em;
         margin: 0 .2em .1em 0; font-size: .8em;
         font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.badge.warning { border-color: var(--warn); color: var(--warn); }
ul.sources { font-size: .9em; list-style: none; padding-left: 0; }
details { margin: .2rem 0 .2rem 1rem; }
details > summary { cursor: pointer; }
.node { border-left: 3px solid var(--line); padding-left: .5rem; margin: .3rem 0; }
.node.fired { border-left-color: var(--ko); }
.node.overridden, .node.lifted { border-left-color: var(--warn); }
.node.passed { border-left-color: var(--ok); }
.node ul { margin: .1rem 0 .1rem 1.2rem; padding: 0; }
.outcome { font-weight: 600; }
.fired > summary .outcome { color: var(--ko); }
.passed > summary .outcome { color: var(--ok); }
.overridden > summary .outcome, .lifted > summary .outcome { color: var(--warn); }
.span { color: var(--muted); }
.yes { color: var(--ok); font-weight: 600; }
.no { color: var(--ko); font-weight: 600; }
.print-only { display: none; }
@page { size: A4; margin: 12mm 11mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 8.5pt; line-height: 1.3; }
  h1 { font-size: 13pt; }
  h2 { font-size: 10.5pt; margin: .8rem 0 .3rem; break-after: avoid; }
  h3 { font-size: 9.5pt; margin: .6rem 0 .2rem; break-after: avoid; }
  .verdict { padding: .3rem .6rem; margin: .4rem 0; }
  .verdict p { font-size: 11pt; }
  details > summary { list-style: none; }
  details { margin-left: .6rem; }
  .node { margin: .1rem 0; }
  th, td { padding: 0 .3rem; }
  ol.reasons > li { margin-bottom: .3rem; }
  .node, tr, ol.reasons > li { break-inside: avoid; }
  .screen-only { display: none; }
  .print-only { display: block; color: var(--muted); }
}
""".strip()

_SCRIPT = ("window.addEventListener('beforeprint',function(){"
           "document.querySelectorAll('details').forEach(function(d){d.open=true;});});")
_SUGGESTED = 5   # suggestions printed per code; the screen shows them all
_LISTED = 40   # FINESS listed by a structure-level reason in the summary; the table has them all


def csp_hash(s: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") + "'"


def h(s) -> str:
    """Untrusted text in HTML (element content or a quoted attribute)."""
    return html.escape(str(s), quote=True)


def page_head(title: str, csp: str, css: str, script: str | None = None) -> list[str]:
    """The lines of a self-contained French page up to its title <h1>: its Content-Security-Policy
    `csp`, its inline style `css` and, if any, its one inline `script`."""
    return ["<!DOCTYPE html>", '<html lang="fr">', "<head>", '<meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{h(csp)}">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
            f"<title>{h(title)}</title>", f"<style>{css}</style>",
            *([f"<script>{script}</script>"] if script is not None else []),
            "</head>", "<body>", f"<h1>{h(title)}</h1>"]


def _html_code(s) -> str:
    return f"<code>{h(s)}</code>"


def _yes_no(b: bool) -> str:
    return f'<span class="{"yes" if b else "no"}">{h(french(bool(b)))}</span>'


def _html_cond(parts) -> str:
    return condition_text(parts, name=_html_code, value=lambda x: f'<span class="val">{h(x)}</span>',
                          lit=lambda x: f'<span class="lit">« {h(x)} »</span>', op=h)


def _html_ref(ref) -> str:
    return f'<span class="ref">[{ref}]</span>' if ref is not None else "—"


def render(v: View) -> str:
    out: list[str] = []
    w = out.append
    csp = (f"default-src 'none'; style-src {csp_hash(CSS)}; script-src {csp_hash(_SCRIPT)}; "
           "img-src data:; base-uri 'none'; form-action 'none'")
    out.extend(page_head(v.title, csp, CSS, _SCRIPT))
    w('<p class="identity">' + "".join(f'<span id="{h("id-" + label.lower())}"><strong>{h(label)}</strong> '
                                       f'<span class="mono">{h(value)}</span></span>'
                                       for label, value in v.identity) + "</p>")

    # -- the summary: verdict, reasons with their conditions and citations
    w('<section id="synthese">')
    ok = v.d.eligible and v.d.recevable
    w(f'<section class="verdict {"ok" if ok else "ko"}" id="verdict">')
    w(f"<p>{h(v.summary)}</p>")
    w("<dl>" + "".join(f"<div><dt>{h(label)}</dt><dd>{h(value)}</dd></div>" for label, value in v.verdict) + "</dl>")
    w("</section>")

    def conditions(items) -> str:
        return "".join(f'<span class="cond"><span class="label">{h(label.capitalize())} :</span> '
                       f"{_html_cond(parts)}</span>" for label, parts in items)

    def head(r) -> str:
        span = f', <code class="span">{h(r["span"])}</code>' if r["span"] else ""
        badge = "badge warning" if r["severity"] == "warning" else "badge"
        return (f'<span class="{badge}">{h(r["code"])}</span> {h(r["severity_label"])} '
                f"(règle <code>{h(r['rule'])}</code>{span})")

    def cite(ref) -> str:
        text = v.first(ref)
        if text is None:
            return f'<span class="src">Source {_html_ref(ref)}</span>'
        return f'<span class="src">Source {_html_ref(ref)} {h(text)}</span>'


    def reason_block(title, ident, reasons):
        w(f'<section id="{ident}">')
        w(f"<h2>{h(title)} ({len(reasons)})</h2>")
        if not reasons:
            w("<p>Aucun.</p>")
        else:
            w('<ol class="reasons">')
            for r in reasons:
                w(f"<li>{head(r)}<span class=\"msg\">{h(r['message'])}</span>{conditions(r['conditions'])}"
                  f"{cite(r['ref'])}</li>")
            w("</ol>")
        w("</section>")

    reason_block("Motifs bloquants", "motifs", v.reasons)
    reason_block("Avertissements", "avertissements", v.warnings)
    if v.structure_groups:
        w('<section id="motifs-structures">')
        w(f"<h2>Motifs de niveau structure ({len(v.structure_groups)})</h2>")
        w('<ol class="reasons">')
        for g in v.structure_groups:
            n = len(g["finess"])
            listed = ", ".join(str(f) for f in g["finess"][:_LISTED])
            if n > _LISTED:
                listed += f", … et {n - _LISTED} autres (voir le tableau des structures)"
            w(f'<li>{head(g)}<span class="who"><span class="label">{group_who(g)} :</span> '
              f'<span class="mono">{h(listed)}</span></span><span class="msg">{h(group_message(g))}</span>'
              f'{conditions(g["conditions"])}{cite(g["ref"])}</li>')
        w("</ol>")
        w("</section>")
    if v.suggestions is not None:
        w('<section id="suggestions">')
        w(f"<h2>Ce qui changerait la décision ({len(v.suggestions)})</h2>")
        if not v.suggestions:
            w("<p>Aucune modification trouvée.</p>")
        else:
            w("<ol>")
            per_code: dict[str, int] = {}
            for s in v.suggestions:
                k = per_code[s.code] = per_code.get(s.code, 0) + 1
                changes = "".join(f"<li><code>{h(c)}</code></li>" for c in s.changes)
                cls = ' class="screen-only"' if k > _SUGGESTED else ""
                w(f"<li{cls}><code>{h(s.code)}</code> : {h(s.text)}"
                  + (f"<ul>{changes}</ul>" if changes else "") + "</li>")
            w("</ol>")
            more = sum(max(0, k - _SUGGESTED) for k in per_code.values())
            if more:
                w(f'<p class="print-only">… et {more} autres modifications du même type, dans la version '
                  "électronique de ce rapport.</p>")
        w("</section>")
    w("</section>")

    # -- every citation, once; the rest of the report refers to them by number
    rest = v.unprinted()
    w('<section id="sources">')
    w(f"<h2>Autres sources ({len(rest)})</h2>")
    w('<ul class="sources">')
    for ref, citation in rest:
        w(f"<li>{_html_ref(ref)} {h(citation)}</li>")
    w("</ul>")
    w("</section>")

    # -- the structures, one row each
    w('<section id="structures">')
    w(f"<h2>Structures ({len(v.d.structures)})</h2>")
    if v.d.structures:
        w("<table><thead><tr><th>n°</th><th>FINESS</th><th>éligible</th><th>part financée</th><th>motifs</th>"
          "</tr></thead><tbody>")
        for k, s in enumerate(v.d.structures, 1):
            badges = "".join(f'<span class="badge">{h(r.code)}</span>' for r in s.reasons) + "".join(
                f'<span class="badge warning">{h(r.code)}</span>' for r in s.warnings)
            w(f'<tr><td>{k}</td><td class="mono">{h(s.finess)}</td><td>{_yes_no(s.eligible)}</td>'
              f"<td>{h(share_label(s.funded_share))}</td><td>{badges or '—'}</td></tr>")
        w("</tbody></table>")
    else:
        w("<p>Aucune structure.</p>")
    w("</section>")

    def node(n, open_, with_values=True):
        cls = h(n.outcome)
        w(f'<details class="node {cls}"{" open" if open_ else ""}>')
        w(f"<summary>{h(OUTCOME_MARKS.get(n.outcome, '?'))} <strong><code>{h(n.rule)}</code></strong> "
          f"({head_parts(n, text=h, code=_html_code)}) : "
          f'<span class="outcome">{h(outcome_label(n))}</span> — source {_html_ref(v.ref(n.citation))}, '
          f'<code class="span">{h(span_label(n.span))}</code></summary>')
        w("<ul>")
        for label, parts in rule_conditions(n, with_values):
            w(f"<li>{h(label)} : {_html_cond(parts)}</li>")
        others = other_reads(n)
        if others and with_values:
            w("<li>autres valeurs lues : " + " ; ".join(
                f'<code>{h(r.name)}</code> <span class="val">{h(value_label(r.value, r.null, longest=10))}</span>'
                for r in others) + "</li>")
        if n.message:
            w(f"<li>message : {h(n.message)}</li>")
        w("</ul>")
        for c in n.children:
            node(c, open_, with_values)
        w("</details>")

    w('<section id="regles">')
    w(f"<h2>Règles {v.evaluated} (niveau dossier)</h2>")
    if v.trace is None:
        w("<p>Trace non disponible (évaluation sans trace).</p>")
    else:
        if v.compact:
            w(f'<p class="note">{h(COMPACT_NOTE)}</p>')
            if not v.trace.rules:
                w(f"<p>{h(NO_DECIDING_RULE[0].upper() + NO_DECIDING_RULE[1:])}.</p>")
        for n in v.trace.rules:
            node(n, True)
    w("</section>")

    w('<section id="definitions">')
    w("<h2>Définitions</h2>")
    if v.trace is not None:
        w("<table><thead><tr><th>définition</th><th>valeur</th><th>source</th><th>position</th></tr></thead><tbody>")
        for d in v.trace.definitions:
            w(f"<tr><td><code>{h(d.name)}</code></td><td>{h(value_label(d.value, d.null, longest=20))}</td>"
              f"<td>{_html_ref(v.ref(d.citation))}</td>"
              f'<td><code class="span">{h(span_label(d.span))}</code></td></tr>')
        w("</tbody></table>")
    w("</section>")

    decls = v.structure_rule_decls()
    if decls:
        w('<section id="regles-structure">')
        w("<h2>Règles de niveau structure</h2>")
        w("<ul>")
        for n in decls:
            w(f"<li><strong><code>{h(n.rule)}</code></strong> ({head_parts(n, text=h, code=_html_code)}), "
              f'source {_html_ref(v.ref(n.citation))}, <code class="span">{h(span_label(n.span))}</code>'
              + "".join(f'<span class="cond">{h(label)} : {_html_cond(parts)}</span>'
                        for label, parts in rule_conditions(n)) + "</li>")
        w("</ul>")
        w("</section>")
    if v.structure_reasons or decls:
        w('<section id="detail-structures">')
        w("<h2>Détail par structure</h2>")
        w('<p class="print-only">Le message de chaque motif et l\'évaluation des règles structure par structure '
          "figurent dans la version électronique de ce rapport.</p>")
        w('<div class="screen-only">')
        if v.structure_reasons:
            w("<h3>Motifs par structure</h3>")
            w('<ul class="reasons">')
            for r in v.structure_reasons:
                w(f'<li><span class="mono">{h(r["finess"])}</span> — {head(r)}'
                  f'<span class="msg">{h(r["message"])}</span>{conditions(r["conditions"])}</li>')
            w("</ul>")
        if decls:
            w(f"<h3>Règles {v.evaluated} par structure</h3>")
            for item in v.trace.items:
                w(f"<details><summary>Structure {item.index + 1} — <span class=\"mono\">{h(item.key)}</span> : "
                  f"<span class=\"{'yes' if item.eligible else 'no'}\">"
                  f"{'éligible' if item.eligible else 'non éligible'}</span></summary>")
                for root in item.rules:
                    node(root, False)
                w("</details>")
        w("</div>")
        w("</section>")
    w("</body>")
    w("</html>")
    return "\n".join(out) + "\n"
