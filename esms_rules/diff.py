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

import datetime as dt
import json
import time
from collections.abc import Iterable
from decimal import Decimal

import attrs
import click

from . import ast
from .check import CheckedPolicy, RuleInfo
from .diagnostics import DossierError
from .evaluate import Decision, Policy, load_policy
from .explain import Trace, json_number
from .interpret import _Interpreter
from .search import Space, renumber, shrink
from .span import Span

METHOD = "search"
METHOD_TEXT = ("recherche guidée par les constantes des deux politiques (seuils, dates, clés de table, "
               "± 1 dans chaque unité, plusieurs décalages UTC), avec réduction des témoins")


# ---- the change between two decisions ------------------------------------------------------
def _amount_kind(v):
    return "null" if v is None else "montant"


def change(a: Decision, b: Decision) -> frozenset:
    """The atoms by which decision `b` differs from decision `a` (empty: decided alike)."""
    atoms = set()
    for name in ("eligible", "recevable", "call"):
        x, y = getattr(a, name), getattr(b, name)
        if x != y:
            atoms.add((name, x, y))
    if a.amount_eur != b.amount_eur:
        atoms.add(("amount_eur", _amount_kind(a.amount_eur), _amount_kind(b.amount_eur)))
    for kind in ("reasons", "warnings"):
        ca, cb = {r.code for r in getattr(a, kind)}, {r.code for r in getattr(b, kind)}
        atoms |= {(kind, "+", c) for c in cb - ca} | {(kind, "-", c) for c in ca - cb}
    for sa, sb in zip(a.structures, b.structures, strict=True):
        if sa.eligible != sb.eligible:
            atoms.add(("structure_eligible", sa.eligible, sb.eligible))
        for kind in ("reasons", "warnings"):
            ca, cb = {r.code for r in getattr(sa, kind)}, {r.code for r in getattr(sb, kind)}
            atoms |= {("structure_" + kind, "+", c) for c in cb - ca} | {("structure_" + kind, "-", c) for c in ca - cb}
        if sa.funded_share != sb.funded_share:
            atoms.add(("funded_share", "changed", "changed"))
    return frozenset(atoms)


DERIVED = ("eligible", "recevable", "amount_eur", "structure_eligible", "funded_share")


def class_key(atoms: frozenset) -> frozenset:
    """What makes a class: the codes gained or lost and the call; eligibility, recevability,
    amounts and shares follow from those when any is there (else they are the class)."""
    primary = frozenset(a for a in atoms if a[0] not in DERIVED)
    return primary or atoms


def noise(key: frozenset, a: Decision, b: Decision) -> int:
    """Codes of either decision that the class does not explain: a witness reads best without them."""
    own = {x[2] for x in key if x[0] in ("reasons", "warnings")}
    return len({r.code for d in (a, b) for r in d.reasons + d.warnings} - own)


def elementary(keys) -> tuple[list, dict]:
    """The keys that are not the union of smaller keys found, and the others' decomposition."""
    keys = sorted(set(keys), key=lambda k: (len(k), sorted(map(repr, k))))
    base: list[frozenset] = []
    combos: dict[frozenset, list] = {}
    for k in keys:
        parts = [b for b in base if b < k]
        if parts and frozenset().union(*parts) == k:
            combos[k] = parts
        else:
            base.append(k)
    return base, combos


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


# ---- the structural comparison ---------------------------------------------------------------
_ABSENT = object()


@attrs.frozen
class Change:
    """A declaration that differs between the two policies."""

    kind: str          # parameter | definition | table | rule | exception | output | schema
    name: str
    detail: str        # French
    old_span: Span | None = attrs.field(default=None, eq=False)
    new_span: Span | None = attrs.field(default=None, eq=False)
    key: object = attrs.field(default=None, eq=False)   # a table row's key (_ABSENT: the whole table)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "name": self.name, "detail": self.detail,
                "old_span": _span(self.old_span), "new_span": _span(self.new_span)}


def _span(s: Span | None):
    return None if s is None else {"file": s.file, "line": s.line, "column": s.column,
                                   "end_line": s.end_line, "end_column": s.end_column}


def _show(v) -> str:
    if isinstance(v, ast.Literal):
        v = v.value
    if v is None:
        return "null"
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    if isinstance(v, str):
        return f'"{v}"'
    return str(v)


def _table_rows(p: CheckedPolicy, name: str) -> dict:
    """key -> TableEntry of the table declaration in force (the last one linked)."""
    rows = {}
    for d, _ in p.program.decls:
        if isinstance(d, ast.TableDecl) and d.name == name:
            rows = {e.key.value: e for e in d.entries}
    return rows


def _rule_fields(r: RuleInfo) -> dict:
    return {"code": r.code, "severity": r.severity, "condition (when)": r.when, "applies": r.applies,
            "priority": r.priority, "target": r.target,
            "list": r.binder.list_name if r.binder else None}


_FIELD_FR = {"code": "code", "severity": "gravité", "condition (when)": "condition `when`",
             "applies": "condition `applies`", "priority": "priorité", "target": "règle visée",
             "list": "liste parcourue"}


def changes(old: CheckedPolicy, new: CheckedPolicy) -> list[Change]:
    """Every declaration whose meaning differs (messages, citations and layout are not compared)."""
    out: list[Change] = []
    params = set(old.program.params) | set(new.program.params)
    for name in sorted(set(old.defs) | set(new.defs)):
        a, b = old.defs.get(name), new.defs.get(name)
        kind = "parameter" if name in params else "definition"
        if a is None or b is None:
            out.append(Change(kind, name, "ajoutée" if a is None else "supprimée",
                              a.span if a else None, b.span if b else None))
        elif (a.params, a.type, a.expr) != (b.params, b.type, b.expr):
            if isinstance(a.expr, ast.Literal) and isinstance(b.expr, ast.Literal):
                detail = f"valeur {_show(a.expr)} → {_show(b.expr)}"
            else:
                detail = "expression modifiée"
            out.append(Change(kind, name, detail, a.span, b.span))
    for name in sorted(set(old.tables) | set(new.tables)):
        a, b = old.tables.get(name), new.tables.get(name)
        if a is None or b is None:
            out.append(Change("table", name, "ajoutée" if a is None else "supprimée",
                              a.span if a else None, b.span if b else None, _ABSENT))
            continue
        ra, rb = _table_rows(old, name), _table_rows(new, name)
        for key in list(dict.fromkeys(list(a.mapping) + list(b.mapping))):
            va, vb = a.mapping.get(key, _ABSENT), b.mapping.get(key, _ABSENT)
            if va != vb or type(va) is not type(vb):
                detail = (f"ligne {_show(key)} : "
                          + ("ajoutée" if va is _ABSENT else "supprimée" if vb is _ABSENT
                             else f"{_show(va)} → {_show(vb)}"))
                out.append(Change("table", name, detail, ra[key].span if key in ra else a.span,
                                  rb[key].span if key in rb else b.span, key))
    ra = {r.name: r for r in old.all_rules}
    rb = {r.name: r for r in new.all_rules}
    for name in list(dict.fromkeys(list(ra) + list(rb))):
        a, b = ra.get(name), rb.get(name)
        kind = "exception" if (a or rb[name]).target else "rule"
        if a is None or b is None:
            out.append(Change(kind, name, "ajoutée" if a is None else "supprimée",
                              a.span if a else None, b.span if b else None))
            continue
        fa, fb = _rule_fields(a), _rule_fields(b)
        diffs = []
        for k in fa:
            if fa[k] != fb[k]:
                if k in ("condition (when)", "applies"):
                    diffs.append(f"{_FIELD_FR[k]} modifiée")
                else:
                    diffs.append(f"{_FIELD_FR[k]} {_show(fa[k])} → {_show(fb[k])}")
        if diffs:
            out.append(Change(kind, name, " ; ".join(diffs), a.span, b.span))
    for name in sorted(set(old.outputs) | set(new.outputs)):
        a, b = old.outputs.get(name), new.outputs.get(name)
        if a is None or b is None or a.expr != b.expr:
            out.append(Change("output", name, "modifiée" if a and b else "ajoutée" if a is None else "supprimée",
                              a.span if a else None, b.span if b else None))
    if old.facts != new.facts or [f for f in old.facts.fields] != [f for f in new.facts.fields]:
        out.append(Change("schema", "facts", "schéma du dossier modifié"))
    return out



# ---- dependencies ----------------------------------------------------------------------------
def _names_in(e, p: CheckedPolicy, out: set) -> None:
    stack = [e]
    while stack:
        x = stack.pop()
        if x is None:
            continue
        if isinstance(x, ast.Name) and x.name in p.defs:
            out.add(x.name)
        elif isinstance(x, ast.Lookup) and isinstance(x.obj, ast.Name):
            out.add(x.obj.name)
        elif isinstance(x, ast.Call):
            if x.func in p.defs:
                out.add(x.func)
            elif x.func == "passes":   # a structure counts: every rule over the list
                out.update(r.name for r in p.all_rules if r.binder is not None)
        stack.extend(ast.children(x))


def closure(p: CheckedPolicy, roots: Iterable[str]) -> set:
    """The declarations (definitions, tables, rules) that the named rules and outputs depend on."""
    rules = {r.name: r for r in p.all_rules}
    seen: set = set()
    todo = list(roots)
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        found: set = set()
        if n in rules:
            for r in rules[n].walk():
                found.add(r.name)
                _names_in(r.when, p, found)
                _names_in(r.applies, p, found)
        elif n in p.defs:
            _names_in(p.defs[n].expr, p, found)
        elif n in p.outputs:
            _names_in(p.outputs[n].expr, p, found)
        todo.extend(found - seen)
    return seen


def _trace(d: Decision) -> Trace:
    if d.trace is None:
        raise ValueError("a decision evaluated with its trace is needed")
    return d.trace


_NONE = {None, "not-applicable"}      # an exception that does not apply is as good as none


def _moved(a: Decision, b: Decision) -> set:
    """Rules and exceptions whose outcome differs, inside the rule trees whose codes differ."""
    def trees(d):
        out = {}
        tr = _trace(d)
        for item, roots in [(None, tr.rules)] + [(i.index, i.rules) for i in tr.items]:
            for top in roots:
                nodes = {n.rule: n.outcome for n, _ in top.walk()}
                fired = {n.code for n, _ in top.walk() if n.outcome == "fired"}
                out[(top.rule, item)] = (nodes, fired)
        return out
    ta, tb = trees(a), trees(b)
    moved = set()
    for key in set(ta) | set(tb):
        (na, fa), (nb, fb) = ta.get(key, ({}, set())), tb.get(key, ({}, set()))
        if fa != fb:
            for name in set(na) | set(nb):
                x, y = na.get(name), nb.get(name)
                if x != y and not (x in _NONE and y in _NONE):
                    moved.add(name)
    return moved


class _Reads(_Interpreter):
    """The reference interpreter, noting the definitions and table rows one evaluation reads."""

    def __init__(self, policy, facts):
        super().__init__(policy, facts)
        self.read: set = set()

    def definition(self, name):
        self.read.add(name)
        return super().definition(name)

    def value_of(self, e, env):
        if isinstance(e, ast.Lookup) and isinstance(e.obj, ast.Name):
            key = super().value_of(e.key, env)
            self.read.add((e.obj.name, key))
            return self.p.tables[e.obj.name].mapping.get(key)
        if isinstance(e, ast.Call) and e.func in self.p.defs:
            self.read.add(e.func)
        return super().value_of(e, env)


def reads(policy: Policy, dossier: dict) -> set:
    """Names of the definitions, and (table, key) rows, that evaluating `dossier` reads."""
    facts, _ = policy.validator.convert(dossier)
    r = _Reads(policy.checked, facts)
    r.run()
    return r.read


def causes(all_changes: list[Change], old: Policy, new: Policy, dossier: dict,
           a: Decision, b: Decision) -> list[Change]:
    """The changes that explain how `a` (old) and `b` (new) differ on `dossier`."""
    moved = _moved(a, b)
    outputs = {"call"} if a.call != b.call else set()
    if a.amount_eur != b.amount_eur:
        outputs.add("amount_eur")
    if any(x.funded_share != y.funded_share for x, y in zip(a.structures, b.structures, strict=True)):
        outputs.add("funded_share")
    deps = closure(old.checked, moved | outputs) | closure(new.checked, moved | outputs)
    read = reads(old, dossier) | reads(new, dossier)
    va = {n.name: n.value for n in _trace(a).definitions}
    vb = {n.name: n.value for n in _trace(b).definitions}
    found = []
    for c in all_changes:
        if c.kind == "schema" or c.name in moved or (c.kind == "output" and c.name in outputs):
            found.append(c)
        elif c.name in deps and c.kind in ("parameter", "definition") and c.name in read:
            if not (c.name in va and c.name in vb and va[c.name] == vb[c.name]):
                found.append(c)
        elif c.name in deps and c.kind == "table" and (c.key is _ABSENT or (c.name, c.key) in read):
            found.append(c)
    return found


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

    def to_dict(self) -> dict:
        d = {"old": self.old, "new": self.new, "method": METHOD, "method_description": METHOD_TEXT,
             "bound": {"searches": self.searches, "max_structures": self.max_items, "invalid": self.invalid},
             "complete": False, "guarantee": self.guarantee,
             "differences": [x.to_dict() for x in self.differences],
             "combinations": list(self.combinations),
             "declarations_changed": [c.to_dict() for c in self.changes]}
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


# ---- corpus ----------------------------------------------------------------------------------
def corpus_impact(report: Report, old: Policy, new: Policy, dossiers: Iterable[dict]) -> dict:
    """Both policies over a corpus: per class the count and the ids, and what no class explains.

    A dossier is in a class when its change is the class's change; a change that is a union
    of classes' changes is counted under each of them (`combined`); anything else is listed
    in `unexplained`.
    """
    by_key = {x.key: i for i, x in enumerate(report.differences)}
    counts: list[dict] = [{"summary": x.summary, "count": 0, "ids": []} for x in report.differences]
    combined, unexplained, errors, total, same = [], [], [], 0, 0
    for d in dossiers:
        total += 1
        ident = d.get("id") if isinstance(d, dict) else None
        try:
            atoms = change(old.evaluate(d, trace=False), new.evaluate(d, trace=False))
        except DossierError as e:
            errors.append({"id": ident, "error": str(e).splitlines()[0]})
            continue
        key = class_key(atoms)
        if not atoms:
            same += 1
        elif key in by_key:
            c = counts[by_key[key]]
            c["count"] += 1
            c["ids"].append(ident)
        else:
            parts = [i for i, x in enumerate(report.differences) if x.key <= key]
            covered = frozenset().union(*(report.differences[i].key for i in parts)) if parts else frozenset()
            if covered == key:
                combined.append({"id": ident, "classes": [i + 1 for i in parts]})
            else:
                unexplained.append({"id": ident, "change": [list(a) for a in sorted(key - covered, key=repr)]})
    return {"dossiers": total, "unchanged": same, "classes": counts, "combined": combined,
            "unexplained": unexplained, "invalid": errors}


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
           "exception": "exception", "output": "sortie", "schema": "schéma"}


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
    if r.corpus is not None:
        lines += render_corpus_text(r)
    return "\n".join(lines).rstrip() + "\n"


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
    return lines


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


# ---- the command -----------------------------------------------------------------------------
def read_corpus(path: str) -> list[dict]:
    """Dossiers from a JSON Lines file, or from a Parquet file (pyarrow, the `columnar` extra)."""
    if path.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("reading Parquet needs pyarrow: pip install 'esms-rules[columnar]'") from None
        return pq.read_table(path).to_pylist()
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    out.append(json.loads(raw))
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: not JSON ({e})") from None
    return out


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("old_spec", metavar="OLD")
@click.argument("new_spec", metavar="NEW")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="text: French, for people; json: for tools; html: a self-contained report.")
@click.option("--corpus", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also evaluate both policies over these dossiers (.jsonl or .parquet).")
@click.option("--searches", type=click.IntRange(1, 10**6), default=3000, show_default=True,
              help="Dossiers drawn by the search.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search (same seed, same report).")
@click.option("--max-structures", "max_items", type=click.IntRange(0, 1000), default=60, show_default=True,
              help="Largest list the search draws.")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False), help="Write the report there.")
def diff_command(old_spec, new_spec, fmt, corpus, searches, seed, max_items, output):
    """Which dossiers OLD and NEW (bundled names or paths) decide differently, and why.

    Exit 0 when no difference is found, 1 when some are (like `diff`), 2 on bad input.
    """
    from .cli import InputError, atomic_output, load_policy_or_exit
    old, new = load_policy_or_exit(old_spec), load_policy_or_exit(new_spec)
    report = diff(old, new, searches=searches, seed=seed, max_items=max_items)
    if corpus is not None:
        try:
            rows = read_corpus(corpus)
        except (OSError, ValueError) as e:
            raise InputError(str(e)) from None
        report = attrs.evolve(report, corpus=corpus_impact(report, old, new, rows))
    if fmt == "json":
        text = render_json(report)
    elif fmt == "html":
        text = render_html(report)
    else:
        text = render_text(report)
    with atomic_output(output) as out:
        out.write(text)
    click.get_current_context().exit(1 if report.differences else 0)
