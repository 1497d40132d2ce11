"""What a rendering of a decision shows, computed once for every format: the title and identity,
the verdict, the reasons with the conditions that fired them, the structure-level reasons grouped
by rule, the citations numbered in order of first mention, the structures' rows."""
from __future__ import annotations

from ..french import french
from .conditions import rule_conditions
from .words import SEVERITY_LABELS, amount_label, call_label, share_label, span_label

PROGRAMME_TITLES = {"esms-numerique": "Décision ESMS numérique",
                    "mes-pilotes": "Décision ESMS pilote Mon espace santé"}
COMPACT_NOTE = ("Trace compacte : seules les règles qui ont décidé sont montrées (règles déclenchées, règles "
                "écartées par une exception, exceptions appliquées), avec les valeurs qu'elles ont lues ; les "
                "définitions sont celles dont dépendent les sorties de la décision (appel, montant), hors les "
                "listes de structures. L'arbre complet de l'évaluation : esms-rules explain --trace full.")
NO_DECIDING_RULE = "aucune règle de niveau dossier n'a décidé"


def group_message(g) -> str:
    """The message of a structure-level reason: its own for one structure, the first one's for several."""
    if len(g["finess"]) == 1:
        return g["message"]
    return f"Par exemple, pour {g['finess'][0]} : {g['message']}"


def group_who(g) -> str:
    """Who a structure-level reason concerns: « Structure concernée », or « Structures concernées (n) »."""
    n = len(g["finess"])
    return "Structure concernée" if n == 1 else f"Structures concernées ({n})"


def _bundled_programme(policy_id) -> str | None:
    """The programme of a bundled policy, from its header (a decision without trace does not say it)."""
    from ..registry import bundled_registry
    return next((e.programme for e in bundled_registry().entries if e.id == policy_id), None)


class View:
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
                "conditions": rule_conditions(node, values=True) if node is not None else []}

    def _groups(self):
        """Structure-level reasons by rule: the structures each concerns, its condition once."""
        groups: dict[tuple, dict] = {}
        for r in self.structure_reasons:
            g = groups.get((r["rule"], r["code"]))
            if g is None:
                node = self.trace.fired(r["rule"], r["item"]) if self.trace is not None else None
                g = groups[(r["rule"], r["code"])] = {
                    **r, "finess": [], "conditions": rule_conditions(node) if node is not None else []}
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

