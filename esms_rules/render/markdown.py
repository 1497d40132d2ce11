"""The Markdown rendering of a decision: untrusted text on one line with its markup characters
escaped (`md`), identifiers in code spans, the trees as nested lists."""
from __future__ import annotations

import re

from .conditions import condition_text, other_reads, rule_conditions
from .view import COMPACT_NOTE, NO_DECIDING_RULE, View, group_message, group_who
from .words import OUTCOME_MARKS, head_parts, one_line, outcome_label, span_label, value_label

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md(s) -> str:
    """Untrusted text in Markdown: on one line, `&` and markup characters escaped."""
    s = one_line(s).replace("&", "&amp;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def _code(s) -> str:
    s = one_line(s)
    return f"`{s}`" if "`" not in s else md(s)


def _md_outcome(node) -> str:
    return outcome_label(node, text=md, name=_code)


def _where(r) -> str:
    """Which rule gave a reason, and where it is written."""
    return f"règle {_code(r['rule'])}" + (f", {_code(r['span'])}" if r["span"] else "")


def _md_cond(parts) -> str:
    return condition_text(parts, name=_code, value=lambda x: f"\\[{md(x)}\\]", lit=lambda x: f"« {md(x)} »", op=md)


def render(v: View) -> str:
    out: list[str] = []
    w = out.append

    def src(ref) -> str:
        return f"\\[{ref}\\]" if ref is not None else "—"

    def cite(ref) -> str:
        text = v.first(ref)
        return f"{src(ref)} {md(text)}" if text is not None else src(ref)

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

    def reason(k, r, lines):
        """A numbered reason: its head, `lines` (what it says), its conditions, its source."""
        w(f"{k}. **{_code(r['code'])}** — {r['severity_label']} ({_where(r)})  ")
        for line in lines:
            w(f"   {line}  ")
        for label, parts in r["conditions"]:
            w(f"   *{label.capitalize()}* : {_md_cond(parts)}  ")
        w(f"   *Source* {cite(r['ref'])}")
        w("")

    for title, reasons in (("Motifs bloquants", v.reasons), ("Avertissements", v.warnings)):
        w(f"## {title} ({len(reasons)})")
        w("")
        if not reasons:
            w("Aucun.")
            w("")
        for k, r in enumerate(reasons, 1):
            reason(k, r, [md(r["message"])])
    if v.structure_groups:
        w(f"## Motifs de niveau structure ({len(v.structure_groups)})")
        w("")
        for k, g in enumerate(v.structure_groups, 1):
            reason(k, g, [f"*{group_who(g)}* : {md(', '.join(str(f) for f in g['finess']))}", md(group_message(g))])
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

    rest = v.unprinted()
    w(f"## Autres sources ({len(rest)})")
    w("")
    for ref, citation in rest:
        w(f"- \\[{ref}\\] {md(citation)}")
    w("")

    w(f"## Règles {v.evaluated} (niveau dossier)")
    w("")
    if v.trace is None:
        w("Trace non disponible (évaluation sans trace).")
    else:
        if v.compact:
            w(md(COMPACT_NOTE))
            w("")
            if not v.trace.rules:
                w(md(NO_DECIDING_RULE[0].upper() + NO_DECIDING_RULE[1:] + "."))
        def node(n, depth):
            pad = "  " * depth
            w(f"{pad}- {OUTCOME_MARKS.get(n.outcome, '?')} **{_code(n.rule)}** "
              f"({head_parts(n, code=_code)}) : {_md_outcome(n)}")
            for label, parts in rule_conditions(n, values=True):
                w(f"{pad}  - {label} : {_md_cond(parts)}")
            others = other_reads(n)
            if others:
                w(f"{pad}  - autres valeurs lues : "
                  + " ; ".join(f"{_code(r.name)} = {md(value_label(r.value, r.null))}" for r in others))
            if n.message:
                w(f"{pad}  - message : {md(n.message)}")
            w(f"{pad}  - source {src(v.ref(n.citation))}, {_code(span_label(n.span))}")
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
            w(f"| {_code(d.name)} | {md(value_label(d.value, d.null))} | {src(v.ref(d.citation))} "
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
            w(f"- {md(r['finess'])} — **{_code(r['code'])}**{sev} ({_where(r)})  ")
            w(f"  {md(r['message'])}  ")
            for label, parts in r["conditions"]:
                w(f"  *{label.capitalize()}* : {_md_cond(parts)}  ")
        w("")
    decls = v.structure_rule_decls()
    if decls:
        w("### Règles de niveau structure")
        w("")
        for n in decls:
            w(f"- **{_code(n.rule)}** ({head_parts(n, code=_code)}), {_code(span_label(n.span))}, "
              f"source {src(v.ref(n.citation))}"
              + "".join(f" — *{label}* : {_md_cond(parts)}" for label, parts in rule_conditions(n)))
        w("")
        w(f"### Règles {v.evaluated} par structure")
        w("")
        for item in v.trace.items:
            w(f"- Structure {item.index + 1} — {md(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    shown = " ; ".join(_md_cond(parts) for _, parts in rule_conditions(n, values=True))
                    w(f"  {'  ' * depth}- {OUTCOME_MARKS.get(n.outcome, '?')} {_code(n.rule)} : "
                      f"{_md_outcome(n)}" + (f" — {shown}" if shown else ""))
        w("")
    return "\n".join(out).rstrip("\n") + "\n"
