"""The plain-text rendering of a decision: every untrusted string on one line, sections in capitals."""
from __future__ import annotations

from .conditions import condition_text, other_reads, rule_conditions
from .view import COMPACT_NOTE, NO_DECIDING_RULE, View, group_message, group_who
from .words import OUTCOME_MARKS, head_parts, one_line, outcome_label, span_label, value_label


def _reads_inline(reads) -> str:
    return " ; ".join(f"{r.name} = {one_line(value_label(r.value, r.null))}" for r in reads)


def _where(r) -> str:
    """Which rule gave a reason, and where it is written."""
    return f"règle {r['rule']}" + (f", {r['span']}" if r["span"] else "")


def _rule_head(node) -> str:
    return f"{node.rule} [{head_parts(node)}]"


def render(v: View) -> str:
    out: list[str] = []
    w = out.append
    t = one_line

    def cond(parts) -> str:
        return t(condition_text(parts))

    def src(ref) -> str:
        return f"[{ref}]" if ref is not None else "—"

    def cite(ref) -> str:
        text = v.first(ref)
        return f"[{ref}] {t(text)}" if text is not None else src(ref)

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

    def reason(k, r, lines):
        """A numbered reason: its head, `lines` (what it says), its conditions, its source."""
        w(f"  {k}. {r['code']} — {r['severity_label']} ({_where(r)})")
        for line in lines:
            w(f"     {line}")
        for label, parts in r["conditions"]:
            w(f"     {label.capitalize()} : {cond(parts)}")
        w(f"     Source {cite(r['ref'])}")

    for title, reasons in (("MOTIFS BLOQUANTS", v.reasons), ("AVERTISSEMENTS", v.warnings)):
        w(f"{title} ({len(reasons)})")
        if not reasons:
            w("  aucun")
        for k, r in enumerate(reasons, 1):
            reason(k, r, [t(r["message"])])
        w("")
    if v.structure_groups:
        w(f"MOTIFS DE NIVEAU STRUCTURE ({len(v.structure_groups)})")
        for k, g in enumerate(v.structure_groups, 1):
            reason(k, g, [f"{group_who(g)} : {t(', '.join(str(f) for f in g['finess']))}", t(group_message(g))])
        w("")
    if v.suggestions is not None:
        w(f"CE QUI CHANGERAIT LA DÉCISION ({len(v.suggestions)})")
        if not v.suggestions:
            w("  aucune modification trouvée")
        for k, s in enumerate(v.suggestions, 1):
            w(f"  {k}. {s.code} : {t(s.text)}")
            for c in s.changes:
                w(f"     modification : {t(c)}")
        w("")

    rest = v.unprinted()
    w(f"AUTRES SOURCES ({len(rest)})")
    for ref, citation in rest:
        w(f"  [{ref}] {t(citation)}")
    w("")

    w(f"RÈGLES {v.evaluated.upper()} (niveau dossier)")
    if v.trace is None:
        w("  trace non disponible (évaluation sans trace)")
    else:
        if v.compact:
            w(f"  {COMPACT_NOTE}")
            if not v.trace.rules:
                w(f"  {NO_DECIDING_RULE}")
        def node(n, depth):
            pad = "  " * depth
            w(f"{pad}{OUTCOME_MARKS.get(n.outcome, '?')} {_rule_head(n)} : {outcome_label(n)}")
            for label, parts in rule_conditions(n, values=True):
                w(f"{pad}    {label} : {cond(parts)}")
            others = other_reads(n)
            if others:
                w(f"{pad}    autres valeurs lues : {t(_reads_inline(others))}")
            if n.message:
                w(f"{pad}    message : {t(n.message)}")
            w(f"{pad}    source {src(v.ref(n.citation))}, {span_label(n.span)}")
            for c in n.children:
                node(c, depth + 2)
        for n in v.trace.rules:
            node(n, 1)
    w("")

    w("DÉFINITIONS")
    if v.trace is not None:
        for d in v.trace.definitions:
            ref = v.ref(d.citation)
            w(f"  {d.name} = {t(value_label(d.value, d.null))}   ({span_label(d.span)}"
              + (f", source [{ref}])" if ref is not None else ")"))
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
            w(f"  {t(r['finess'])} — {r['code']}{sev} ({_where(r)})")
            w(f"     {t(r['message'])}")
            for label, parts in r["conditions"]:
                w(f"     {label.capitalize()} : {cond(parts)}")
        w("")
    decls = v.structure_rule_decls()
    if decls:
        w("RÈGLES DE NIVEAU STRUCTURE")
        for n in decls:
            ref = v.ref(n.citation)
            w(f"  {_rule_head(n)}   ({span_label(n.span)}" + (f", source [{ref}])" if ref is not None else ")"))
            for label, parts in rule_conditions(n):
                w(f"      {label} : {cond(parts)}")
        w("")
        w(f"RÈGLES {v.evaluated.upper()} PAR STRUCTURE")
        for item in v.trace.items:
            w(f"  Structure {item.index + 1} — {t(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    shown = " ; ".join(cond(parts) for _, parts in rule_conditions(n, values=True))
                    w(f"  {'  ' * depth}  {OUTCOME_MARKS.get(n.outcome, '?')} {n.rule} : {outcome_label(n)}"
                      + (f" — {shown}" if shown else ""))
        w("")
    return "\n".join(out).rstrip("\n") + "\n"
