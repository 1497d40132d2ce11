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

from . import ast
from .french import french
from .infer import path_of

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
PROGRAMME_TITLES = {"esms-numerique": "Décision ESMS numérique",
                    "mes-pilotes": "Décision ESMS pilote Mon espace santé"}


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


def _one_line(s) -> str:
    """Untrusted text on one line: control characters and line breaks become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", str(s))


# ---- conditions, written the French way with their values ----------------------------
# A condition is rendered as a list of parts (kind, text): "op" French words and operators,
# "name" an identifier of the policy, "value" the value the rule read for the name just before,
# "lit" a literal of the policy. Each format marks the parts up its own way.
_OPS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥", "+": "+", "-": "−", "*": "×",
        "/": "÷", "in": "parmi", "not in": "hors de", "and": "et", "or": "ou"}
_PREC = {"or": 1, "and": 2, "==": 4, "!=": 4, "<": 4, "<=": 4, ">": 4, ">=": 4, "in": 4, "not in": 4,
         "+": 5, "-": 5, "*": 6, "/": 6}
_AGGREGATES = {"count": "nombre de", "sum": "somme de", "distinct": "valeurs distinctes de",
               "min": "minimum de", "max": "maximum de"}


def condition_parts(expr, reads=None) -> list[tuple[str, str]]:
    """`expr` (an `ast.Expr`) in French, each name followed by the value read for it in `reads`
    (a dict label → `FactRead`; None: names only, as declared)."""
    out: list[tuple[str, str]] = []
    values = reads or {}

    def op(s):
        out.append(("op", s))

    def prec(e):
        if isinstance(e, ast.Binary):
            return _PREC.get(e.op, 3)
        if isinstance(e, (ast.If, ast.Generator)):
            return 0
        if isinstance(e, ast.Unary):
            return 7 if e.op == "-" else 3
        return 9

    def sub(e, floor):
        if prec(e) < floor:
            op("(")
            walk(e)
            op(")")
        else:
            walk(e)

    def name(label):
        out.append(("name", label))
        r = values.get(label)
        if r is not None:
            out.append(("value", value_label(r.value, r.null, longest=5)))

    def generator(g, lead):
        op(lead)
        out.append(("name", g.var))
        op("de")
        sub(g.source, 8)
        if g.condition is not None:
            op("tel que")
            sub(g.condition, 3)
        op(":")
        sub(g.element, 3)

    def walk(e):
        label = path_of(e)
        if label is not None:
            name(label)
        elif isinstance(e, ast.Literal):
            if e.kind == "null":
                op("vide")
            elif e.kind == "string":
                out.append(("lit", e.value))
            else:
                out.append(("op", value_label(e.value)))
        elif isinstance(e, ast.Binary):
            if e.op in ("==", "!=") and isinstance(e.right, ast.Literal) and e.right.kind == "null":
                sub(e.left, 5)
                op("est vide" if e.op == "==" else "n'est pas vide")
                return
            p = _PREC.get(e.op, 3)
            sub(e.left, p)
            op(_OPS.get(e.op, e.op))
            sub(e.right, p + 1)
        elif isinstance(e, ast.Unary):
            op("non" if e.op == "not" else "−")
            sub(e.operand, 8)
        elif isinstance(e, ast.If):
            op("si")
            walk(e.condition)
            op("alors")
            walk(e.then)
            op("sinon")
            walk(e.otherwise)
        elif isinstance(e, ast.Lookup):
            sub(e.obj, 9)
            op("[")
            walk(e.key)
            op("]")
        elif isinstance(e, ast.Attribute):
            sub(e.obj, 9)
            op(".")
            out.append(("name", e.name))
        elif isinstance(e, ast.ListExpr):
            op("[")
            for k, x in enumerate(e.items):
                if k:
                    op(",")
                walk(x)
            op("]")
        elif isinstance(e, ast.Comprehension):
            op("[")
            generator(e.generator, "pour chaque")
            op("]")
        elif isinstance(e, ast.Generator):
            generator(e, "pour chaque")
        elif isinstance(e, ast.Call):
            call(e)
        else:   # a construct this renderer does not know: its identifier-free form
            op("…")

    def call(e):
        f, args = e.func, e.args
        gen = args[0] if len(args) == 1 and isinstance(args[0], ast.Generator) else None
        if f in ("any", "all") and gen is not None:
            generator(gen, "pour au moins un" if f == "any" else "pour tout")
        elif f in _AGGREGATES and len(args) == 1:
            op(_AGGREGATES[f])
            sub(args[0], 8) if gen is None else generator(gen, "pour chaque")
        elif f == "end_of_day" and len(args) == 2:
            op("la fin du jour")
            sub(args[0], 8)
            zone = args[1]
            if isinstance(zone, ast.Literal) and zone.value == "Europe/Paris":
                op(", heure de Paris")
            else:
                op("fuseau")
                walk(zone)
        elif f == "coalesce" and len(args) == 2:
            sub(args[0], 3)
            op(", à défaut")
            sub(args[1], 3)
        elif f == "passes" and len(args) == 1:
            sub(args[0], 8)
            op("n'a aucun motif de niveau structure")
        elif f == "repeated" and len(args) == 1:
            sub(args[0], 8)
            op("figure déjà plus haut dans la liste")
        elif f == "round" and len(args) == 2:
            op("arrondi de")
            sub(args[0], 8)
            op("à")
            walk(args[1])
            op("décimales")
        else:   # a function of the policy: its identifier, its arguments
            out.append(("call", f))
            op("(")
            for k, x in enumerate(args):
                if k:
                    op(",")
                walk(x)
            op(")")

    walk(expr)
    return out


def condition_text(parts, *, name=str, value=lambda s: f"[{s}]", lit=lambda s: f"« {s} »", op=str) -> str:
    """The parts of `condition_parts` on one line, each kind formatted by its function (markup)."""
    fmt = {"op": op, "name": name, "call": name, "value": value, "lit": lit}
    s, glue = "", True
    for kind, text in parts:
        tight = kind == "op" and text.startswith((",", ")", "]", ".", ":"))
        if not glue and not tight:
            s += " "
        s += fmt[kind](text)
        glue = kind == "call" or (kind == "op" and text in ("(", "[", "."))
    return s


def _reads_by_label(node) -> dict:
    return {r.name: r for r in node.reads} if node is not None else {}


def _conditions(node, reads=None) -> list[tuple[str, list]]:
    """What a rule node tested: (« s'applique si » / « condition », parts), with values when `reads`."""
    out = []
    if node.applies is not None:
        out.append(("s'applique si", condition_parts(node.applies, reads)))
    if node.when is not None:
        out.append(("condition", condition_parts(node.when, reads)))
    return out


def _other_reads(node) -> list:
    """The values a rule read that its conditions do not show (read by its message)."""
    shown: set[str] = set()
    for _, parts in _conditions(node):
        shown.update(t for k, t in parts if k in ("name", "call"))
    return [r for r in node.reads if r.name not in shown]


def _bundled_programme(policy_id) -> str | None:
    """The programme of a bundled policy, from its header (a decision without trace does not say it)."""
    from .registry import bundled_registry
    return next((e.programme for e in bundled_registry().entries if e.id == policy_id), None)


# ---- what a rendering shows ------------------------------------------------------
class _View:
    """Everything a rendering shows, computed once from the decision (and suggestions)."""

    def __init__(self, decision, suggestions):
        self.d = decision
        self.trace = decision.trace
        self.suggestions = list(suggestions) if suggestions is not None else None
        programme = self.trace.programme if self.trace is not None else _bundled_programme(decision.policy_id)
        head = PROGRAMME_TITLES.get(programme, "Décision")
        self.title = f"{head} — dossier {decision.dossier if decision.dossier is not None else '(sans identifiant)'}"
        self.identity = [("Politique", decision.policy_id), ("sha256", decision.sha256),
                         ("Moteur", f"esms-rules {decision.engine}")]
        verdict = "recevable" if decision.recevable else "non recevable"
        verdict += ", éligible" if decision.eligible else ", non éligible"
        self.summary = f"Dossier {verdict}."
        self.verdict = [("Recevable", french(bool(decision.recevable))),
                        ("Éligible", french(bool(decision.eligible))),
                        ("Appel", call_label(decision.call)),
                        ("Montant", amount_label(decision.amount_eur, bool(decision.eligible)))]
        self.sources: dict[str, int] = {}     # citation → its number, in order of first mention
        self.printed: set[int] = set()        # numbers whose text a rendering has printed
        self.reasons = [self._reason(r, None) for r in decision.reasons]
        self.warnings = [self._reason(r, None) for r in decision.warnings]
        self.structure_reasons = []
        for i, s in enumerate(decision.structures):
            for r in tuple(s.reasons) + tuple(s.warnings):
                self.structure_reasons.append(self._reason(r, i))
        self.structure_groups = self._groups()
        # a compact trace shows only the deciding path: the renderings say so (docs/trace.md)
        self.compact = self.trace is not None and self.trace.shape == "compact"
        self.evaluated = "qui ont décidé" if self.compact else "évaluées"
        if self.trace is not None:   # every other citation, numbered after the reasons'
            for n in self.trace.walk():
                self.ref(n.citation)
            for d in self.trace.definitions:
                self.ref(d.citation)

    def first(self, ref) -> str | None:
        """The citation numbered `ref` the first time it is printed, None afterwards (and for no ref)."""
        if ref is None or ref in self.printed:
            return None
        self.printed.add(ref)
        return next(c for c, n in self.sources.items() if n == ref)

    def unprinted(self):
        """(number, citation) of the citations not yet printed, for the list « Sources »."""
        return [(n, c) for c, n in self.sources.items() if n not in self.printed]

    def ref(self, citation) -> int | None:
        """The number of a citation in the list « Sources » (None: no citation)."""
        if not citation:
            return None
        return self.sources.setdefault(citation, len(self.sources) + 1)

    def _reason(self, r, item):
        node = self.trace.fired(r.rule, item) if self.trace is not None else None
        finess = self.d.structures[item].finess if item is not None else None
        return {"code": r.code, "rule": r.rule, "message": r.message, "source": r.source,
                "ref": self.ref(r.source), "severity": r.severity,
                "severity_label": SEVERITY_LABELS.get(r.severity, r.severity),
                "span": span_label(node.span) if node is not None else "",
                "finess": finess, "item": item,
                "conditions": _conditions(node, _reads_by_label(node)) if node is not None else []}

    def _groups(self):
        """Structure-level reasons by rule: the structures each concerns, its condition once."""
        groups: dict[tuple, dict] = {}
        for r in self.structure_reasons:
            g = groups.get((r["rule"], r["code"]))
            if g is None:
                node = self.trace.fired(r["rule"], r["item"]) if self.trace is not None else None
                g = groups[(r["rule"], r["code"])] = {
                    **r, "finess": [], "conditions": _conditions(node) if node is not None else []}
            g["finess"].append(r["finess"])
        return list(groups.values())

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


COMPACT_NOTE = ("Trace compacte : seules les règles qui ont décidé sont montrées (règles déclenchées, règles "
                "écartées par une exception, exceptions appliquées), avec les valeurs qu'elles ont lues ; les "
                "définitions sont celles dont dépendent les sorties de la décision (appel, montant), hors les "
                "listes de structures. L'arbre complet de l'évaluation : esms-rules explain --trace full.")
NO_DECIDING_RULE = "aucune règle de niveau dossier n'a décidé"


def _group_message(g) -> str:
    """The message of a structure-level reason: its own for one structure, the first one's for several."""
    if len(g["finess"]) == 1:
        return g["message"]
    return f"Par exemple, pour {g['finess'][0]} : {g['message']}"


def _reads_inline(reads) -> str:
    return " ; ".join(f"{r.name} = {_one_line(value_label(r.value, r.null))}" for r in reads)


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

    def reason_block(title, reasons):
        w(f"{title} ({len(reasons)})")
        if not reasons:
            w("  aucun")
        for k, r in enumerate(reasons, 1):
            where = f"règle {r['rule']}" + (f", {r['span']}" if r["span"] else "")
            w(f"  {k}. {r['code']} — {r['severity_label']} ({where})")
            w(f"     {t(r['message'])}")
            for label, parts in r["conditions"]:
                w(f"     {label.capitalize()} : {cond(parts)}")
            w(f"     Source {cite(r['ref'])}")
        w("")

    reason_block("MOTIFS BLOQUANTS", v.reasons)
    reason_block("AVERTISSEMENTS", v.warnings)
    if v.structure_groups:
        w(f"MOTIFS DE NIVEAU STRUCTURE ({len(v.structure_groups)})")
        for k, g in enumerate(v.structure_groups, 1):
            where = f"règle {g['rule']}" + (f", {g['span']}" if g["span"] else "")
            w(f"  {k}. {g['code']} — {g['severity_label']} ({where})")
            n = len(g["finess"])
            w(f"     {'Structure concernée' if n == 1 else f'Structures concernées ({n})'} : "
              f"{t(', '.join(str(f) for f in g['finess']))}")
            w(f"     {t(_group_message(g))}")
            for label, parts in g["conditions"]:
                w(f"     {label.capitalize()} : {cond(parts)}")
            w(f"     Source {cite(g['ref'])}")
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
            for label, parts in _conditions(n, _reads_by_label(n)):
                w(f"{pad}    {label} : {cond(parts)}")
            others = _other_reads(n)
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
            w(f"  {t(r['finess'])} — {r['code']}{sev} (règle {r['rule']}{', ' + r['span'] if r['span'] else ''})")
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
            for label, parts in _conditions(n):
                w(f"      {label} : {cond(parts)}")
        w("")
        w(f"RÈGLES {v.evaluated.upper()} PAR STRUCTURE")
        for item in v.trace.items:
            w(f"  Structure {item.index + 1} — {t(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    shown = " ; ".join(cond(parts) for _, parts in _conditions(n, _reads_by_label(n)))
                    w(f"  {'  ' * depth}  {OUTCOME_MARKS.get(n.outcome, '?')} {n.rule} : {outcome_label(n)}"
                      + (f" — {shown}" if shown else ""))
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


def _md_cond(parts) -> str:
    return condition_text(parts, name=_code, value=lambda x: f"\\[{md(x)}\\]", lit=lambda x: f"« {md(x)} »", op=md)


def _markdown(v: _View) -> str:
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

    def reason_block(title, reasons):
        w(f"## {title} ({len(reasons)})")
        w("")
        if not reasons:
            w("Aucun.")
            w("")
        for k, r in enumerate(reasons, 1):
            where = f"règle {_code(r['rule'])}" + (f", {_code(r['span'])}" if r["span"] else "")
            w(f"{k}. **{_code(r['code'])}** — {r['severity_label']} ({where})  ")
            w(f"   {md(r['message'])}  ")
            for label, parts in r["conditions"]:
                w(f"   *{label.capitalize()}* : {_md_cond(parts)}  ")
            w(f"   *Source* {cite(r['ref'])}")
            w("")

    reason_block("Motifs bloquants", v.reasons)
    reason_block("Avertissements", v.warnings)
    if v.structure_groups:
        w(f"## Motifs de niveau structure ({len(v.structure_groups)})")
        w("")
        for k, g in enumerate(v.structure_groups, 1):
            where = f"règle {_code(g['rule'])}" + (f", {_code(g['span'])}" if g["span"] else "")
            n = len(g["finess"])
            w(f"{k}. **{_code(g['code'])}** — {g['severity_label']} ({where})  ")
            w(f"   *{'Structure concernée' if n == 1 else f'Structures concernées ({n})'}* : "
              f"{md(', '.join(str(f) for f in g['finess']))}  ")
            w(f"   {md(_group_message(g))}  ")
            for label, parts in g["conditions"]:
                w(f"   *{label.capitalize()}* : {_md_cond(parts)}  ")
            w(f"   *Source* {cite(g['ref'])}")
            w("")
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
              f"({_head_parts(n, code=_code)}) : {_md_outcome(n)}")
            for label, parts in _conditions(n, _reads_by_label(n)):
                w(f"{pad}  - {label} : {_md_cond(parts)}")
            others = _other_reads(n)
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
            where = f"règle {_code(r['rule'])}" + (f", {_code(r['span'])}" if r["span"] else "")
            w(f"- {md(r['finess'])} — **{_code(r['code'])}**{sev} ({where})  ")
            w(f"  {md(r['message'])}  ")
            for label, parts in r["conditions"]:
                w(f"  *{label.capitalize()}* : {_md_cond(parts)}  ")
        w("")
    decls = v.structure_rule_decls()
    if decls:
        w("### Règles de niveau structure")
        w("")
        for n in decls:
            w(f"- **{_code(n.rule)}** ({_head_parts(n, code=_code)}), {_code(span_label(n.span))}, "
              f"source {src(v.ref(n.citation))}"
              + "".join(f" — *{label}* : {_md_cond(parts)}" for label, parts in _conditions(n)))
        w("")
        w(f"### Règles {v.evaluated} par structure")
        w("")
        for item in v.trace.items:
            w(f"- Structure {item.index + 1} — {md(item.key)} : {'éligible' if item.eligible else 'non éligible'}")
            for root in item.rules:
                for n, depth in root.walk():
                    shown = " ; ".join(_md_cond(parts) for _, parts in _conditions(n, _reads_by_label(n)))
                    w(f"  {'  ' * depth}- {OUTCOME_MARKS.get(n.outcome, '?')} {_code(n.rule)} : "
                      f"{_md_outcome(n)}" + (f" — {shown}" if shown else ""))
        w("")
    return "\n".join(out).rstrip("\n") + "\n"


# ---- HTML -------------------------------------------------------------------------------------
_CSS = """
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


def _csp_hash(s: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") + "'"


def h(s) -> str:
    """Untrusted text in HTML (element content or a quoted attribute)."""
    return html.escape(str(s), quote=True)


def _html_code(s) -> str:
    return f"<code>{h(s)}</code>"


def _yes_no(b: bool) -> str:
    return f'<span class="{"yes" if b else "no"}">{h(french(bool(b)))}</span>'


def _html_cond(parts) -> str:
    return condition_text(parts, name=_html_code, value=lambda x: f'<span class="val">{h(x)}</span>',
                          lit=lambda x: f'<span class="lit">« {h(x)} »</span>', op=h)


def _html_ref(ref) -> str:
    return f'<span class="ref">[{ref}]</span>' if ref is not None else "—"


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
            who = "Structure concernée" if n == 1 else f"Structures concernées ({n})"
            w(f'<li>{head(g)}<span class="who"><span class="label">{who} :</span> '
              f'<span class="mono">{h(listed)}</span></span><span class="msg">{h(_group_message(g))}</span>'
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
          f"({_head_parts(n, text=h, code=_html_code)}) : "
          f'<span class="outcome">{h(outcome_label(n))}</span> — source {_html_ref(v.ref(n.citation))}, '
          f'<code class="span">{h(span_label(n.span))}</code></summary>')
        w("<ul>")
        for label, parts in _conditions(n, _reads_by_label(n) if with_values else None):
            w(f"<li>{h(label)} : {_html_cond(parts)}</li>")
        others = _other_reads(n)
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
            w(f"<li><strong><code>{h(n.rule)}</code></strong> ({_head_parts(n, text=h, code=_html_code)}), "
              f'source {_html_ref(v.ref(n.citation))}, <code class="span">{h(span_label(n.span))}</code>'
              + "".join(f'<span class="cond">{h(label)} : {_html_cond(parts)}</span>'
                        for label, parts in _conditions(n)) + "</li>")
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
