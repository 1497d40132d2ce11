"""Why two policies decide differently: the declarations that differ, and those a witness exercises.

`changes(old, new)` compares two checked policies declaration by declaration (messages,
citations and layout aside); `causes` keeps, for one witness, the changes it exercises: the
rules and exceptions whose outcome differs on it, and the definitions and table rows those
depend on that evaluating it reads (docs/diff.md, "Causes").
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import attrs

from . import ast
from .check import CampaignRuleInfo, CheckedPolicy, RuleInfo
from .evaluate import Decision, Policy
from .explain import Trace
from .interpret import _Interpreter
from .span import Span

# ---- the structural comparison ---------------------------------------------------------------
_ABSENT = object()


@attrs.frozen
class Change:
    """A declaration that differs between the two policies."""

    kind: str          # parameter | definition | table | rule | exception | output | schema | campaign rule | history
    name: str
    detail: str        # French
    old_span: Span | None = attrs.field(default=None, eq=False)
    new_span: Span | None = attrs.field(default=None, eq=False)
    key: object = attrs.field(default=None, eq=False)   # a table row's key (_ABSENT: the whole table)
    source: str | None = attrs.field(default=None, eq=False)   # a campaign rule's citation (the new one's)

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "name": self.name, "detail": self.detail,
             "old_span": _span(self.old_span), "new_span": _span(self.new_span)}
        if self.kind == "campaign rule":
            d["source"] = self.source
        return d


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
    return out + campaign_changes(old, new, out)



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
        if c.kind in CAMPAIGN_KINDS:
            continue          # a dossier's decision never depends on the campaign rules
        if c.kind == "schema" or c.name in moved or (c.kind == "output" and c.name in outputs):
            found.append(c)
        elif c.name in deps and c.kind in ("parameter", "definition") and c.name in read:
            if not (c.name in va and c.name in vb and va[c.name] == vb[c.name]):
                found.append(c)
        elif c.name in deps and c.kind == "table" and (c.key is _ABSENT or (c.name, c.key) in read):
            found.append(c)
    return found


# ---- campaign rules (docs/campaign.md) --------------------------------------------------------
_CAMPAIGN_FR = {"form": "forme", "rows": "lignes", "where": "condition `where` des lignes",
                "group by": "regroupement `group by`", "join": "jointure `on`",
                "join where": "condition `where` de la jointure", "code": "code", "severity": "gravité",
                "when": "condition `when`"}


def _campaign_fields(r: CampaignRuleInfo) -> dict[str, str | None]:
    """What a campaign rule decides, as canonical text: its head (rows, grouping, join) and clauses."""
    from .fmt import expr

    def text(e: ast.Expr | None) -> str | None:
        return None if e is None else expr(e)
    return {"form": r.form, "rows": f"{r.var} in {r.list_name}" if r.var is not None else "dossiers",
            "where": text(r.where), "group by": text(r.keys[0]) if r.form == "group" else None,
            "join": " and ".join(f"{expr(h)} == {expr(k)}" for k, h in zip(r.keys, r.history_keys, strict=True))
            if r.form == "join" else None,
            "join where": text(r.join_where), "code": r.code, "severity": r.severity, "when": text(r.when)}


def _campaign_reads(p: CheckedPolicy, r: CampaignRuleInfo) -> set:
    """The definitions and tables a campaign rule's expressions depend on."""
    found: set = set()
    for e in (r.where, *r.keys, *r.history_keys, r.join_where, r.when,
              *(x for x in r.message if not isinstance(x, str))):
        _names_in(e, p, found)
    rules = {x.name for x in p.all_rules}
    return closure(p, found - rules) - rules


def campaign_changes(old: CheckedPolicy, new: CheckedPolicy, declared: list[Change]) -> list[Change]:
    """The campaign rules added, removed or changed: head (rows, grouping, join), code, severity,
    `when`, and the definitions they read that changed (`declared`: the other changes). Their
    citations go with them; messages and citations alone are not a change."""
    out = []
    ra = {r.name: r for r in old.campaign_rules}
    rb = {r.name: r for r in new.campaign_rules}
    read_changes: dict[str, list[Change]] = {}
    for c in declared:
        if c.kind in ("parameter", "definition", "table"):
            read_changes.setdefault(c.name, []).append(c)
    for name in list(dict.fromkeys(list(ra) + list(rb))):
        a, b = ra.get(name), rb.get(name)
        if a is None or b is None:
            r = a or b
            assert r is not None
            out.append(Change("campaign rule", name, "ajoutée" if a is None else "supprimée",
                              a.span if a else None, b.span if b else None, source=r.source))
            continue
        fa, fb = _campaign_fields(a), _campaign_fields(b)
        diffs = [f"{_CAMPAIGN_FR[k]} {_quoted(fa[k])} → {_quoted(fb[k])}" for k in fa if fa[k] != fb[k]]
        reads = sorted((_campaign_reads(old, a) | _campaign_reads(new, b)) & read_changes.keys())
        diffs += [f"lit {_KIND_THE[read_changes[n][0].kind]} `{n}` ({', '.join(c.detail for c in read_changes[n])})"
                  for n in reads]
        if diffs:
            out.append(Change("campaign rule", name, " ; ".join(diffs), a.span, b.span, source=b.source))
    if old.history != new.history:
        out.append(Change("history", "history", "colonnes du fichier des structures financées (`history record`) "
                          "modifiées"))
    return out


CAMPAIGN_KINDS = ("campaign rule", "history")
_KIND_THE = {"parameter": "le paramètre", "definition": "la définition", "table": "la table"}


def _quoted(v: str | None) -> str:
    return "—" if v is None else f"`{v}`"
