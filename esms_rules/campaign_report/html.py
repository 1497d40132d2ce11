"""The campaign report as one self-contained HTML page in French: inline CSS, the charts as inline
SVG, no script, no external asset (a strict Content-Security-Policy), printable on A4; the
dossiers link to their own reports. Every untrusted string is escaped with `h`."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from ..render import call_name, euros, h
from ..render.html import page_head
from .charts import CHARTED, draw
from .words import (
    SECTOR_LABELS,
    SEVERITY_LABELS,
    STATUS_LABEL,
    STATUS_LABELS,
    STATUSES,
    TERRITORY_LABELS,
    call_label,
    filed,
    percent,
    place_label,
)

_CSS = """
:root { --fg: #1b1b1b; --muted: #5a5a5a; --line: #c8c8c8; --ok: #2f6b3a; --ko: #9e2a2a; --warn: #7a5200; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--fg); margin: 2rem auto; max-width: 72rem; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin: 0 0 .3rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: .2rem; margin: 1.8rem 0 .5rem; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: .9em; }
.identity { color: var(--muted); font-size: .85em; }
.identity td, .identity th { word-break: break-all; }
.totals { display: flex; flex-wrap: wrap; gap: .5rem; margin: .8rem 0; padding: 0; list-style: none; }
.totals li { border: 2px solid var(--line); border-radius: 6px; padding: .3rem .8rem; min-width: 9rem; }
.totals strong { display: block; font-size: 1.4rem; }
.totals .eligible { border-color: var(--ok); }
.totals .not_recevable, .totals .ineligible { border-color: var(--ko); }
figure { margin: .6rem 0 1rem; }
figcaption { font-size: .9em; color: var(--muted); }
svg.chart { display: block; width: 100%; max-width: 46rem; height: auto; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0; }
th, td { border: 1px solid var(--line); padding: .15rem .4rem; text-align: left; vertical-align: top;
         overflow-wrap: break-word; }
td.id { overflow-wrap: anywhere; min-width: 6em; }
td.nowrap, .mono.nowrap { white-space: nowrap; }
th { background: #f0f0f0; }
td.num, th.num { text-align: right; white-space: nowrap; overflow-wrap: normal; }
tfoot td { font-weight: 700; }
.badge { display: inline-block; border: 1px solid var(--ko); color: var(--ko); border-radius: 3px; padding: 0 .3em;
         margin: 0 .2em .1em 0; font-size: .8em;
         font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.badge.warning { border-color: var(--warn); color: var(--warn); border-style: dashed; }
.status-eligible { color: var(--ok); font-weight: 600; }
.status-ineligible, .status-not_recevable, .status-invalid { color: var(--ko); font-weight: 600; }
.note { color: var(--muted); font-size: .9em; }
@page { size: A4; margin: 12mm 11mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 8.5pt; line-height: 1.3; }
  h1 { font-size: 13pt; }
  h2 { font-size: 10.5pt; margin: .9rem 0 .3rem; break-after: avoid; }
  .totals li { padding: .1rem .5rem; min-width: 0; }
  .totals strong { font-size: 11pt; }
  figure, tr, .totals { break-inside: avoid; }
  svg.chart { max-width: 100%; }
  thead { display: table-header-group; }
  th, td { padding: 0 .3rem; }
  section.break { break-before: page; }
  a { color: inherit; text-decoration: none; }
}
""".strip()

#: The page runs no script and loads nothing; inline styles are allowed (matplotlib's SVG
#: styles its shapes with `style` attributes), nothing else.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"


def _num(n: object) -> str:
    return f'<td class="num">{h(n)}</td>'


def _amount(v: object) -> str:
    return f'<td class="num">{h(euros(v))}</td>' if v is not None else '<td class="num">—</td>'



def page(table: list[dict], s: Mapping[str, Any], link: Callable[[int, str | None], str | None] | None) -> str:
    charts = draw(s)
    out: list[str] = []
    w = out.append
    rows_of: dict[str, int] = {}
    for r in table:
        if r["dossier"] is not None:
            rows_of.setdefault(r["dossier"], r["row"])
    by_row = {r["row"]: r for r in table}

    def dossier_ref(ident: str | None, row: int | None = None) -> str:
        """A dossier id, linked to its own report (or its line in the table)."""
        row = row if row is not None else rows_of.get(ident) if ident is not None else None
        label = h(ident) if ident is not None else "(sans identifiant)"
        if row is None:
            return f'<span class="mono">{label}</span>'
        target = link(row, ident) if link is not None and by_row[row]["decision"] is not None else None
        href = quote(target, safe="/.-_~") if target is not None else f"#dossier-{row}"
        return f'<a class="mono" href="{h(href)}">{label}</a>'

    def status_rows(items: list[dict], name: str, label: Callable[[str], str], title: str) -> None:
        w(f"<table><thead><tr><th>{h(title)}</th>" + "".join(f'<th class="num">{h(STATUS_LABELS[k])}</th>'
                                                            for k in STATUSES) + '<th class="num">total</th></tr>'
          "</thead><tbody>")
        for r in items:
            w(f"<tr><td>{h(label(r[name]))}</td>" + "".join(_num(r[k]) for k in STATUSES) + _num(r["total"]) + "</tr>")
        t = s["totals"]
        w("</tbody><tfoot><tr><td>Total</td>" + "".join(_num(t[k]) for k in STATUSES) + _num(t["dossiers"])
          + "</tr></tfoot></table>")

    def figure(key: str, caption: str) -> None:
        if key in charts:
            w(f"<figure>{charts[key]}<figcaption>{h(caption)}</figcaption></figure>")

    title = "Rapport de campagne ESMS numérique"
    out.extend(page_head(title, CSP, _CSS))
    t = s["totals"]
    w(f"<p>{t['dossiers']} dossier(s) examiné(s), {t['decided']} décidé(s) ; "
      f"{len(s['findings'])} constat(s) entre dossiers.</p>")
    w('<ul class="totals" id="totaux">' + "".join(f'<li class="{k}"><strong>{t[k]}</strong>{h(STATUS_LABELS[k])}</li>'
                                                  for k in STATUSES) + "</ul>")

    w('<section id="reproductibilite">')
    w("<h2>Reproductibilité</h2>")
    w('<table class="identity"><thead><tr><th>politique</th><th>sha256</th><th>moteur</th>'
      '<th class="num">dossiers</th></tr></thead><tbody>')
    for p in s["policies"]:
        w(f'<tr><td class="mono">{h(p["id"])}</td><td class="mono">{h(p["sha256"])}</td>'
          f'<td class="mono">esms-rules {h(p["engine"])}</td>{_num(p["dossiers"])}</tr>')
    w("</tbody></table>")
    digest = s["dossiers_sha256"]
    w(f'<p class="identity">Rapport produit par esms-rules {h(s["engine"])}'
      + (f' ; sha256 des dossiers (JSON canonique) : <span class="mono">{h(digest)}</span>' if digest else "")
      + ".</p>")
    w("</section>")

    w('<section id="regions">')
    w("<h2>Dossiers par région</h2>")
    figure("regions", "Dossiers par région et par issue. Un dossier est rattaché à la région de ses structures "
                      "comptées (à défaut, de toutes ses structures) ; la ligne Plusieurs régions compte les "
                      "regroupements multirégionaux.")
    status_rows(s["by_region"], "region", place_label, "région")
    w("</section>")

    w('<section id="appels">')
    w("<h2>Dossiers par appel à projets (appel de dépôt)</h2>")
    figure("calls", "Dossiers par appel de dépôt et par issue.")
    status_rows(s["by_call"], "call", call_label, "appel")
    w("</section>")

    w('<section id="motifs" class="break">')
    w("<h2>Motifs et avertissements par fréquence</h2>")
    figure("codes", f"Les {CHARTED} codes les plus fréquents, en nombre de dossiers concernés "
                    "(motifs bloquants pleins, avertissements hachurés).")
    for name, items, kind in (("Motifs bloquants", s["reasons"], "badge"),
                              ("Avertissements", s["warnings"], "badge warning")):
        w(f"<h3>{h(name)} ({len(items)})</h3>")
        if not items:
            w("<p>Aucun.</p>")
            continue
        w('<table><thead><tr><th>code</th><th>règle</th><th>niveau</th><th class="num">dossiers</th>'
          '<th class="num">part des dossiers décidés</th><th class="num">structures</th></tr></thead><tbody>')
        for r in items:
            w(f'<tr><td><span class="{kind}">{h(r["code"])}</span></td><td><code>{h(r["rule"])}</code></td>'
              f'<td>{h(r["level"])}</td>{_num(r["dossiers"])}<td class="num">{h(percent(r["share"]))}</td>'
              f'{_num(r["structures"] if r["level"] == "structure" else "—")}</tr>')
        w("</tbody></table>")
    w("</section>")

    st = s["structures"]
    w('<section id="structures">')
    w("<h2>Structures comptées par secteur et territoire</h2>")
    figure("structures", "Structures comptées (sans motif de niveau structure) de tous les dossiers décidés, "
                         "par secteur et territoire.")
    if st["by_sector"]:
        w("<table><thead><tr><th>secteur</th>" + "".join(f'<th class="num">{h(TERRITORY_LABELS[k])}</th>'
                                                        for k in st["territories"])
          + '<th class="num">total</th><th class="num">dont dossiers éligibles</th></tr></thead><tbody>')
        for r in st["by_sector"]:
            w(f"<tr><td>{h(SECTOR_LABELS.get(r['sector'], r['sector']))}</td>"
              + "".join(_num(r["counted"][k]) for k in st["territories"])
              + _num(r["total"]) + _num(r["in_eligible_dossiers"]) + "</tr>")
        w('</tbody><tfoot><tr><td>Total</td>' + "".join(
            _num(sum(r["counted"][k] for r in st["by_sector"])) for k in st["territories"])
          + _num(st["total"]) + _num(st["in_eligible_dossiers"]) + "</tr></tfoot></table>")
    else:
        w("<p>Aucune structure comptée.</p>")
    w("</section>")

    am = s["amounts"]
    w('<section id="montants">')
    w("<h2>Montants</h2>")
    if not am["dossiers"]:
        w("<p>Aucun dossier éligible de cette campagne ne relève d'un barème : seules les instructions qui "
          "fixent un montant par structure (2021, appels régionaux) en donnent un.</p>")
    else:
        w(f"<p>Montant maximal des {am['dossiers']} dossier(s) éligible(s) relevant d'un barème : "
          f"<strong>{h(euros(am['total_eur']))}</strong>.</p>")
        for title_, items, name, label in (("région", am["by_region"], "region", place_label),
                                           ("appel", am["by_call"], "call", call_label)):
            w(f'<table><thead><tr><th>{h(title_)}</th><th class="num">dossiers</th><th class="num">montant</th>'
              "</tr></thead><tbody>")
            for r in items:
                w(f"<tr><td>{h(label(r[name]))}</td>{_num(r['dossiers'])}{_amount(r['amount_eur'])}</tr>")
            w("</tbody></table>")
    w("</section>")

    w('<section id="constats" class="break">')
    w(f"<h2>Constats entre dossiers ({len(s['findings'])})</h2>")
    if not s["findings"]:
        w("<p>Aucun constat.</p>")
    else:
        w("<table><thead><tr><th>niveau</th><th>code</th><th>dossier</th><th>FINESS</th><th>autres dossiers</th>"
          "<th>message et source</th></tr></thead><tbody>")
        for f in s["findings"]:
            others = ", ".join(dossier_ref(o) for o in f["others"]) or "—"
            w(f'<tr><td class="nowrap">{h(SEVERITY_LABELS.get(f["severity"], f["severity"]))}</td>'
              f'<td><span class="badge warning">{h(f["code"])}</span></td>'
              f'<td class="id">{dossier_ref(f["dossier"]) if f["dossier"] is not None else "campagne"}</td>'
              f'<td class="mono nowrap">{h(f["finess"] or "—")}</td><td class="id">{others}</td>'
              f'<td>{h(f["message"])}<br><span class="note">{h(f["source"])}</span></td></tr>')
        w("</tbody></table>")
    w("</section>")

    w('<section id="dossiers" class="break">')
    w(f"<h2>Dossiers ({len(table)})</h2>")
    w('<table><thead><tr><th class="num">ligne</th><th>dossier</th><th>issue</th><th>appel (déposé → retenu)</th>'
      '<th>région(s)</th><th class="num">comptées</th><th class="num">montant</th>'
      "<th>motifs, avertissements, problèmes</th></tr></thead><tbody>")
    for r in table:
        d = r["decision"]
        if d is not None:
            codes = "".join(f'<span class="badge">{h(x.code)}</span>' for x in d.reasons)
            codes += "".join(f'<span class="badge">{h(c)}</span>' for c in sorted(
                {x.code for st_ in d.structures for x in st_.reasons}))
            codes += "".join(f'<span class="badge warning">{h(x.code)}</span>' for x in d.warnings)
            call = f"{h(filed(r['call_filed']))} → {h(call_name(d.call) if d.call is not None else 'aucun')}"
            amount = _amount(d.amount_eur)
            n = _num(r["n"])
        else:
            codes = "<br>".join(f'<code>{h(p["path"])}</code> : {h(p["message"])}' for p in r["problems"])
            call, amount, n = h(filed(r["call_filed"])), '<td class="num">—</td>', '<td class="num">—</td>'
        w(f'<tr id="dossier-{r["row"]}">{_num(r["row"])}<td class="id">{dossier_ref(r["dossier"], r["row"])}</td>'
          f'<td class="nowrap status-{r["status"]}">{h(STATUS_LABEL[r["status"]])}</td><td>{call}</td>'
          f'<td>{h(", ".join(r["regions"]) or "—")}</td>{n}{amount}<td>{codes or "—"}</td></tr>')
    w("</tbody></table>")
    w("</section>")
    w("</body>")
    w("</html>")
    return "\n".join(out) + "\n"

