"""What changed between two policies: difference classes, their causes, and verified witnesses.

`diff(old, new)` compares two policies in three steps:

1. **search** (`search.Space`): dossiers drawn at the constants of both policies are evaluated
   by each policy, as given (whatever their `campaign` says); every dossier decided
   differently gives its *change*: the set of atoms by which the two decisions differ
   (`eligible`, `recevable`, `call`, `amount_eur`, a reason or warning code gained or lost at
   the dossier level or by a structure, a structure's funded share). A class is what codes are
   gained or lost and how `call` changes (`class_key`); a change that is the union of smaller
   classes is listed as a combination of them (`elementary`);
2. **witness**: per class, the dossier found with the fewest codes the class does not explain,
   then the smallest, is shrunk (`search.shrink`) while it stays in its class, freed of other
   blocking reasons by verified counterfactuals (`quiet`), then evaluated again by both
   policies before it is reported;
3. **causes**: the structural comparison of the two checked policies (`changes`) lists the
   declarations that differ (a parameter or definition, a table row, a rule's or exception's
   condition, severity, code or priority, an exception added or removed, an output), with
   their spans; a class is caused by those that the witness exercises: the rules and
   exceptions whose outcome differs on it, and the definitions and table rows those depend
   on that evaluating the witness reads (and, for a definition without parameters, whose
   value differs on it).

The search is not a proof: the report says so (`complete` is false) and states what it
covered (`bound`). Messages, citations, comments and layout are not compared, and a renamed
definition changes no decision: such policies report no difference.
"""
from __future__ import annotations

import time

import attrs

from .diagnostics import DossierError
from .diff_causes import CAMPAIGN_KINDS, Change, causes, changes, closure, reads
from .diff_change import DERIVED, change, class_key, elementary, noise
from .diff_corpus import corpus_impact, diff_command, read_corpus
from .diff_render import (
    IN_CLASS,
    KIND_FR,
    METHOD,
    METHOD_TEXT,
    NONE_FOUND,
    decision_summary,
    render_corpus_text,
    render_html,
    render_json,
    render_text,
    summary,
    witness_lines,
)
from .evaluate import Decision, Policy, load_policy
from .search import Space, renumber, shrink

__all__ = ["DERIVED", "IN_CLASS", "KIND_FR", "METHOD", "METHOD_TEXT", "NONE_FOUND", "Change", "Difference", "Report",
           "causes", "change", "changes", "class_key", "closure", "corpus_impact", "decision_summary", "diff",
           "diff_command", "elementary", "noise", "quiet", "read_corpus", "reads", "render_corpus_text",
           "render_html", "render_json", "render_text", "summary", "witness_lines"]


# ---- the comparison --------------------------------------------------------------------------
@attrs.frozen
class Difference:
    key: frozenset             # the class: codes gained or lost, call (see class_key)
    atoms: frozenset           # the witness's whole change
    summary: str               # of the class
    witness_summary: str       # of the witness's whole change
    causes: tuple[Change, ...]
    witness: dict
    old: Decision
    new: Decision
    found: int                 # dossiers of the search in this class

    def to_dict(self) -> dict:
        return {"summary": self.summary, "class": [list(a) for a in sorted(self.key, key=repr)],
                "witness_summary": self.witness_summary, "change": [list(a) for a in sorted(self.atoms, key=repr)],
                "causes": [c.to_dict() for c in self.causes], "witness": self.witness, "verified": True,
                "found_by_search": self.found,
                "old": decision_summary(self.old), "new": decision_summary(self.new)}


@attrs.frozen
class Report:
    old: str
    new: str
    differences: tuple[Difference, ...]
    changes: tuple[Change, ...]
    searches: int
    invalid: int
    max_items: int
    seconds: float
    combinations: tuple = ()   # {"classes": [numbers], "found": n}: changes that are unions of classes
    corpus: dict | None = None

    @property
    def guarantee(self) -> str:
        text = (f"aucune {'autre classe de ' if self.differences else ''}différence trouvée par "
                f"{self.searches} recherches (listes de 0 à {self.max_items} structures) ; ce n'est pas une preuve")
        if self.invalid:
            text += f" ; {self.invalid} dossiers tirés, invalides pour l'une des politiques, n'ont pas été comparés"
        return text

    @property
    def campaign_changes(self) -> tuple[Change, ...]:
        """The campaign rules (and history record) that differ: they change findings across
        dossiers, never a dossier's own decision."""
        return tuple(c for c in self.changes if c.kind in CAMPAIGN_KINDS)

    @property
    def differs(self) -> bool:
        """A difference found in the decisions, or a campaign rule changed (exit code 1)."""
        return bool(self.differences or self.campaign_changes)

    def to_dict(self) -> dict:
        d = {"old": self.old, "new": self.new, "method": METHOD, "method_description": METHOD_TEXT,
             "bound": {"searches": self.searches, "max_structures": self.max_items, "invalid": self.invalid},
             "complete": False, "guarantee": self.guarantee,
             "differences": [x.to_dict() for x in self.differences],
             "combinations": list(self.combinations),
             "declarations_changed": [c.to_dict() for c in self.changes],
             "campaign_rules_changed": [c.to_dict() for c in self.campaign_changes]}
        if self.corpus is not None:
            d["corpus"] = self.corpus
        return d


def _policy(p) -> Policy:
    return p if isinstance(p, Policy) else load_policy(p)


def _fits(old: Policy, new: Policy, x: dict, key: frozenset, most: int) -> bool:
    """Is `x` in class `key`, with at most `most` codes that the class does not explain?"""
    try:
        a, b = old.evaluate(x, trace=False), new.evaluate(x, trace=False)
    except DossierError:
        return False
    return class_key(change(a, b)) == key and noise(key, a, b) <= most


def quiet(w: dict, key: frozenset, old: Policy, new: Policy, rounds: int = 6) -> tuple[dict, int]:
    """Lift the blocking reasons that the class does not explain, with the verified smallest
    changes of `counterfactual.suggest`, while the dossier stays in its class: a witness
    whose only reasons are the class's own reads best ("accepted by OLD, refused by NEW")."""
    from .counterfactual import suggest
    a, b = old.evaluate(w, trace=False), new.evaluate(w, trace=False)
    level = noise(key, a, b)
    own = {x[2] for x in key if x[0] == "reasons"}
    for _ in range(rounds):
        better = None
        for policy in (old, new):
            for sug in suggest(policy, w):
                if sug.code in own or sug.dossier is None:
                    continue
                try:
                    x, y = old.evaluate(sug.dossier, trace=False), new.evaluate(sug.dossier, trace=False)
                except DossierError:
                    continue
                if class_key(change(x, y)) == key and noise(key, x, y) < level:
                    better = sug.dossier, noise(key, x, y)
                    break
            if better:
                break
        if better is None:
            break
        w, level = better
    return w, level


def _size(d: dict) -> int:
    return sum(len(v) for v in d.values() if isinstance(v, list))


def diff(old, new, *, searches: int = 3000, seed: int = 0, max_items: int = 60,
         shrink_budget: int = 300) -> Report:
    """Compare two policies (`Policy` objects, bundled names or paths): see the module docstring."""
    start = time.perf_counter()
    old, new = _policy(old), _policy(new)
    space = Space([old.checked, new.checked], seed=seed, max_items=max_items)
    found: dict[frozenset, list] = {}     # class key -> [count, best dossier, its (noise, size)]
    invalid = 0
    for _ in range(searches):
        d = space.draw()
        try:
            a, b = old.evaluate(d, trace=False), new.evaluate(d, trace=False)
        except DossierError:
            invalid += 1
            continue
        atoms = change(a, b)
        if atoms:
            key = class_key(atoms)
            rank = (noise(key, a, b), _size(d))
            got = found.setdefault(key, [0, d, rank])
            got[0] += 1
            if rank < got[2]:
                got[1:] = [d, rank]
    all_changes = changes(old.checked, new.checked)
    base, combos = elementary(found)
    out = []
    for key in base:
        count, d, (quiet_, _) = found[key]

        def keep(x, key=key, q=quiet_):
            return _fits(old, new, x, key, q)
        w = shrink(d, keep, space, budget=shrink_budget)
        w, quieter = quiet(w, key, old, new)
        if quieter < quiet_:
            def still(x: dict, key: frozenset = key, q: int = quieter) -> bool:
                return _fits(old, new, x, key, q)
            w = shrink(w, still, space, budget=shrink_budget // 2)
        tidy = {k: renumber(space, k, v) if isinstance(v, list) else v for k, v in w.items()}
        tidy["id"] = "TEMOIN"
        w = tidy if _fits(old, new, tidy, key, quieter) else w
        a, b = old.evaluate(w, trace="full"), new.evaluate(w, trace="full")   # verified again before it is reported
        atoms = change(a, b)
        if class_key(atoms) != key:
            continue
        out.append(Difference(key, atoms, summary(key, old.id, new.id), summary(atoms, old.id, new.id),
                              tuple(causes(all_changes, old, new, w, a, b)), w, a, b, count))
    out.sort(key=lambda x: (-x.found, x.summary))
    index = {x.key: i + 1 for i, x in enumerate(out)}
    combined = sorted(({"classes": sorted(index[p] for p in parts if p in index), "found": found[k][0]}
                       for k, parts in combos.items()), key=lambda c: (-c["found"], c["classes"]))
    return Report(old.id, new.id, tuple(out), tuple(all_changes), searches, invalid, max_items,
                  time.perf_counter() - start, tuple(combined))
