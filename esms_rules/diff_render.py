"""The diff's report for people and tools: French sentences, text, JSON and HTML (docs/diff.md)."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING

from .diff_causes import Change
from .evaluate import Decision
from .explain import json_number
from .span import Span

if TYPE_CHECKING:
    from .diff import Report

METHOD = "search"
METHOD_TEXT = ("recherche guidée par les constantes des deux politiques (seuils, dates, clés de table, "
               "± 1 dans chaque unité, plusieurs décalages UTC), avec réduction des témoins")


def _yes(v) -> str:
    return "oui" if v else "non"


def summary(atoms: frozenset, old: str, new: str) -> str:
    """One French sentence for a class of differences."""
    parts = []
    d = {a[0]: a for a in atoms if a[0] in ("eligible", "recevable", "call", "amount_eur", "structure_eligible")}
    if "recevable" in d:
        parts.append(f"{'recevable' if d['recevable'][1] else 'irrecevable'} selon {old}, "
                     f"{'recevable' if d['recevable'][2] else 'irrecevable'} selon {new}")
    if "eligible" in d:
        parts.append(f"{'éligible' if d['eligible'][1] else 'inéligible'} selon {old}, "
                     f"{'éligible' if d['eligible'][2] else 'inéligible'} selon {new}")
    for kind, label in (("reasons", "motif"), ("warnings", "avertissement"),
                        ("structure_reasons", "motif de structure"),
                        ("structure_warnings", "avertissement de structure")):
        for sign, verb in (("+", "ajouté"), ("-", "retiré")):
            codes = sorted(a[2] for a in atoms if a[0] == kind and a[1] == sign)
            if codes:
                plural = "s" if len(codes) > 1 else ""
                parts.append(f"{label}{plural} {', '.join(codes)} {verb}{plural} par {new}")
    if "call" in d:
        parts.append(f"appel {d['call'][1] or 'aucun'} selon {old}, {d['call'][2] or 'aucun'} selon {new}")
    if "amount_eur" in d:
        amounts = {("null", "montant"): f"accordé par {new} seulement",
                   ("montant", "null"): f"accordé par {old} seulement"}
        parts.append("montant " + amounts.get(d["amount_eur"][1:], "différent"))
    if "structure_eligible" in d and not any(a[0] == "structure_reasons" for a in atoms):
        parts.append("comptage d'une structure différent")
    if any(a[0] == "funded_share" for a in atoms):
        parts.append("part financée d'une structure différente")
    text = " ; ".join(parts) or "décisions différentes"
    return text[0].upper() + text[1:] + "."


def decision_summary(d: Decision) -> dict:
    return {"eligible": d.eligible, "recevable": d.recevable, "call": d.call,
            "amount_eur": json_number(d.amount_eur),
            "reasons": sorted({r.code for r in d.reasons}), "warnings": sorted({r.code for r in d.warnings}),
            "structures": [{"finess": s.finess, "eligible": s.eligible,
                            "reasons": sorted({r.code for r in s.reasons}),
                            "warnings": sorted({r.code for r in s.warnings})} for s in d.structures]}


# ---- rendering -------------------------------------------------------------------------------
def _decision_line(d: Decision) -> str:
    amount = "—" if d.amount_eur is None else f"{json_number(d.amount_eur)} €"
    codes = ", ".join(sorted({r.code for r in d.reasons})) or "aucun"
    warns = ", ".join(sorted({r.code for r in d.warnings})) or "aucun"
    line = (f"recevable {_yes(d.recevable)}, éligible {_yes(d.eligible)}, appel {d.call or 'aucun'}, "
            f"montant {amount} ; motifs : {codes} ; avertissements : {warns}")
    struct = [f"{s.finess} ({', '.join(sorted({r.code for r in s.reasons}))})" for s in d.structures if s.reasons]
    if struct:
        line += " ; structures non comptées : " + ", ".join(struct)
    return line


def witness_lines(w: dict) -> list[str]:
    """A witness for people: scalar fields on one line, each list's identical items once."""
    top = {k: v for k, v in w.items() if not isinstance(v, list)}
    lines = [json.dumps(top, ensure_ascii=False)]
    for k, v in w.items():
        if not isinstance(v, list):
            continue
        if not v:
            lines.append(f"{k} : []")
            continue
        groups: list[list] = []        # [item without its key, first key, last key, count]
        for it in v:
            key = next(iter(it)) if isinstance(it, dict) else None
            rest = {a: b for a, b in it.items() if a != key} if key else it
            if groups and groups[-1][0] == rest:
                groups[-1][2], groups[-1][3] = it[key], groups[-1][3] + 1
            else:
                groups.append([rest, it.get(key) if key else None, it.get(key) if key else None, 1])
        for rest, first, last, count in groups:
            keys = f"{first}" if count == 1 else f"{first} … {last}"
            lines.append(f"{k} : {count} × {json.dumps(rest, ensure_ascii=False)}" + (f" ({keys})" if first else ""))
    return lines


def _where(s: Span | None) -> str:
    return "—" if s is None else f"{s.file}:{s.line}:{s.column}"


KIND_FR = {"parameter": "paramètre", "definition": "définition", "table": "table", "rule": "règle",
           "exception": "exception", "output": "sortie", "schema": "schéma", "campaign rule": "règle de campagne",
           "history": "fichier des structures financées"}
CAMPAIGN_TITLE = "Règles de campagne (entre les dossiers d'une campagne ; aucune ne change la décision d'un dossier)"


NONE_FOUND = "Aucune différence trouvée : les deux politiques décident de même tous les dossiers essayés."
IN_CLASS = "Dossiers de la recherche dans cette classe"


def _cause(c: Change) -> tuple[str, str]:
    """A cause for people: what changed, and where on each side."""
    return (f"{KIND_FR[c.kind]} `{c.name}` : {c.detail}",
            f"(ancienne : {_where(c.old_span)} ; nouvelle : {_where(c.new_span)})")


def _combinations(r: Report) -> str:
    return ("Changements qui cumulent plusieurs classes (dossiers de la recherche) : "
            + ", ".join(f"{' + '.join(map(str, c['classes']))} ({c['found']})" for c in r.combinations))


def render_text(r: Report) -> str:
    lines = [f"Différences de décision entre {r.old} (ancienne) et {r.new} (nouvelle)", "",
             f"Méthode : {METHOD_TEXT}.",
             f"Portée : {r.guarantee} (complete: false).", ""]
    if not r.differences:
        lines.append(NONE_FOUND)
    for i, x in enumerate(r.differences, 1):
        lines.append(f"{i}. {x.summary}")
        lines.append(f"   {IN_CLASS} : {x.found}")
        if x.witness_summary != x.summary:
            lines.append(f"   Sur le témoin : {x.witness_summary}")
        lines.append("   Causes :" if x.causes else "   Causes : non attribuées à une déclaration")
        for c in x.causes:
            lines.append("     - " + " ".join(_cause(c)))
        lines.append("   Témoin (vérifié en l'évaluant avec les deux politiques ; --format json le donne en entier) :")
        lines += ["     " + t for t in witness_lines(x.witness)]
        lines.append(f"   {r.old} : {_decision_line(x.old)}")
        lines.append(f"   {r.new} : {_decision_line(x.new)}")
        lines.append("")
    if r.combinations:
        lines += [_combinations(r), ""]
    if r.campaign_changes:
        lines += [CAMPAIGN_TITLE + " :"] + [f"  - {line}" for line in campaign_lines(r)] + [""]
    if r.corpus is not None:
        lines += render_corpus_text(r)
    return "\n".join(lines).rstrip() + "\n"


def campaign_lines(r: Report) -> list[str]:
    """Each campaign rule changed, with where it is and its citation."""
    out = []
    for c in r.campaign_changes:
        what, where = _cause(c)
        out.append(f"{what} {where}" + (f" ; source : {c.source}" if c.source else ""))
    return out


def render_corpus_text(r: Report) -> list[str]:
    c = r.corpus or {}
    lines = [f"Corpus : {c['dossiers']} dossier(s), {c['unchanged']} décidé(s) de même, "
             f"{len(c['invalid'])} invalide(s)."]
    for i, k in enumerate(c["classes"], 1):
        ids = ", ".join(str(x) for x in k["ids"][:20]) + (" …" if len(k["ids"]) > 20 else "")
        lines.append(f"  classe {i} : {k['count']} dossier(s)" + (f" ({ids})" if ids else ""))
    if c["combined"]:
        lines.append(f"  {len(c['combined'])} dossier(s) cumulent plusieurs classes : "
                     + ", ".join(f"{x['id']} ({'+'.join(map(str, x['classes']))})" for x in c["combined"][:20]))
    lines.append(f"  Dossiers changés qu'aucune classe n'explique : {len(c['unexplained'])}"
                 + (" — " + ", ".join(str(x["id"]) for x in c["unexplained"][:20]) if c["unexplained"] else ""))
    found = c.get("campaign")
    if found is not None:
        lines.append(f"  Constats entre dossiers (règles de campagne) : {found['old']} selon {r.old}, {found['new']} "
                     f"selon {r.new} ; {len(found['gained'])} apparu(s), {len(found['lost'])} disparu(s), "
                     f"{len(found['changed'])} modifié(s).")
        for label, rows in (("apparu", found["gained"]), ("disparu", found["lost"]), ("modifié", found["changed"])):
            lines += [f"    {label} : {_finding(f)}" for f in rows[:20]]
    return lines


def _finding(f: dict) -> str:
    where = "la campagne" if f["dossier"] is None else f"dossier {f['dossier']}" + (
        f", structure {f['finess']}" if f["finess"] is not None else "")
    others = f" (autres : {', '.join(f['others'])})" if f["others"] else ""
    before = f" ; avant : {', '.join(f['old_others']) or 'aucun'}" if "old_others" in f else ""
    return f"{f['code']} ({f['rule']}), {where}{others}{before}"


def render_json(r: Report) -> str:
    return json.dumps(r.to_dict(), ensure_ascii=False, indent=2, default=_default) + "\n"


_SIDE_CSS = """
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: .8rem; }
.sides > div { border: 1px solid var(--line); padding: .4rem .6rem; overflow-x: auto; }
.sides pre { white-space: pre-wrap; word-break: break-all; font-size: .85em; }
.diff { border-top: 2px solid var(--line); margin-top: 1.2rem; }
@media print { .sides { grid-template-columns: 1fr 1fr; } .diff { break-inside: avoid; } }
""".strip()


def render_html(r: Report) -> str:
    """A self-contained page in the style of the decision report; every text escaped."""
    from .render import _CSS, _csp_hash, h
    css = _CSS + "\n" + _SIDE_CSS
    csp = f"default-src 'none'; style-src {_csp_hash(css)}; img-src data:; base-uri 'none'; form-action 'none'"
    title = f"Différences de décision : {r.old} → {r.new}"
    out = ["<!DOCTYPE html>", '<html lang="fr">', "<head>", '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{h(csp)}">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', '<link rel="icon" href="data:,">',
           f"<title>{h(title)}</title>", f"<style>{css}</style>", "</head>", "<body>", f"<h1>{h(title)}</h1>",
           '<table class="kv">',
           f"<tr><th>Méthode</th><td>{h(METHOD_TEXT)}</td></tr>",
           f"<tr><th>Portée</th><td>{h(r.guarantee)} (complete: false)</td></tr>",
           f"<tr><th>Classes de différence</th><td id=\"count\">{len(r.differences)}</td></tr>", "</table>"]
    if not r.differences:
        out.append(f"<p>{h(NONE_FOUND)}</p>")
    for i, x in enumerate(r.differences, 1):
        out.append(f'<section class="diff" id="difference-{i}">')
        out.append(f"<h2>{i}. {h(x.summary)}</h2>")
        out.append(f"<p>{h(IN_CLASS)} : {x.found}</p>")
        if x.witness_summary != x.summary:
            out.append(f"<p>Sur le témoin : {h(x.witness_summary)}</p>")
        out.append("<h3>Causes</h3><ul>")
        for c in x.causes:
            what, where = _cause(c)
            out.append(f'<li>{h(what)} <span class="span">{h(where)}</span></li>')
        if not x.causes:
            out.append("<li>non attribuées à une déclaration</li>")
        out.append("</ul>")
        out.append('<div class="sides">')
        for label, d in ((r.old, x.old), (r.new, x.new)):
            out.append(f"<div><h3>{h(label)}</h3><p>{h(_decision_line(d))}</p></div>")
        out.append("</div>")
        out.append("<details open><summary>Témoin (vérifié avec les deux politiques)</summary>")
        out.append(f'<pre class="mono">{h(json.dumps(x.witness, ensure_ascii=False, indent=1))}</pre></details>')
        out.append("</section>")
    if r.combinations:
        out.append(f"<p>{h(_combinations(r))}</p>")
    if r.campaign_changes:
        out.append(f'<section class="diff" id="campaign-rules"><h2>{h(CAMPAIGN_TITLE)}</h2><ul>')
        out += [f"<li>{h(line)}</li>" for line in campaign_lines(r)]
        out.append("</ul></section>")
    if r.corpus is not None:
        out.append('<section class="diff" id="corpus"><h2>Corpus</h2><ul>')
        out += [f"<li>{h(line.strip())}</li>" for line in render_corpus_text(r)]
        out.append("</ul></section>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def _default(v):
    if isinstance(v, Decimal):
        return json_number(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    raise TypeError(type(v).__name__)
