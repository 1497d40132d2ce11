"""Explanation traces: what the evaluator recorded, as a tree of frozen nodes.

The compiled evaluator in "trace" mode records one `runtime.TraceRecord` per rule evaluation
(rule, item, outcome, values read, message values, overriding exception) and the value of
every definition. `build_trace` turns them into `Trace`, built on first access of
`Decision.trace`. Renderings for people live in `render.py`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from . import ast
from . import types as T
from .jsonio import json_number
from .runtime import NO_RULE, as_trace_record
from .span import Span


def jsonable(v, depth: int = 0):
    """A JSON-ready copy of a value read by a rule; records inside lists shown by their key."""
    if isinstance(v, bool) or v is None or isinstance(v, (int, str)):
        return v
    if isinstance(v, Decimal):
        return json_number(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [jsonable(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if depth > 0:
            return jsonable(next(iter(v.values()), None))
        return {k: jsonable(x, depth + 1) for k, x in v.items()}
    return str(v)


def _span_dict(span: Span) -> dict:
    return {"file": span.file, "line": span.line, "column": span.column,
            "end_line": span.end_line, "end_column": span.end_column}


@attrs.frozen
class FactRead:
    """A fact, an item field or a definition that a rule read, with its value.

    `null` is how a person reads its null value, worked out from what it is (see `null_word`):
    « non renseigné » for what the dossier left empty, « sans objet » or « inconnue » for a
    computed value.
    """

    name: str
    value: object
    null: str = attrs.field(default="non renseigné", eq=False)

    def to_dict(self):
        return {"name": self.name, "value": jsonable(self.value)}


@attrs.frozen
class RuleNode:
    rule: str
    kind: str                       # rule | exception
    code: str | None
    level: str
    severity: str
    outcome: str                    # passed | fired | overridden | not-applicable | lifted
    overridden_by: str | None
    reads: tuple[FactRead, ...]
    message: str | None
    citation: str | None
    children: tuple[RuleNode, ...] = ()
    span: Span = attrs.field(default=None, eq=False)
    # the conditions the rule tested, as written (ast.Expr; None when absent), for renderings
    when: object = attrs.field(default=None, eq=False, repr=False)
    applies: object = attrs.field(default=None, eq=False, repr=False)

    def walk(self, depth: int = 0):
        """`(node, depth)` for this node and every exception below it, depth first."""
        yield self, depth
        for c in self.children:
            yield from c.walk(depth + 1)

    def to_dict(self):
        return {"rule": self.rule, "kind": self.kind, "code": self.code, "level": self.level,
                "severity": self.severity, "outcome": self.outcome, "overridden_by": self.overridden_by,
                "reads": [r.to_dict() for r in self.reads], "message": self.message,
                "citation": self.citation, "span": _span_dict(self.span),
                "children": [c.to_dict() for c in self.children]}


@attrs.frozen
class DefinitionNode:
    name: str
    value: object
    citation: str | None
    span: Span = attrs.field(eq=False)
    null: str = attrs.field(default="sans objet", eq=False)

    def to_dict(self):
        return {"name": self.name, "value": jsonable(self.value), "citation": self.citation,
                "span": _span_dict(self.span)}


@attrs.frozen
class ItemNode:
    index: int
    key: object
    eligible: bool
    rules: tuple[RuleNode, ...]

    def to_dict(self):
        return {"index": self.index, "key": self.key, "eligible": self.eligible,
                "rules": [r.to_dict() for r in self.rules]}


@attrs.frozen
class Trace:
    policy: str
    sha256: str
    engine: str
    eligible: bool
    recevable: bool
    definitions: tuple[DefinitionNode, ...]
    rules: tuple[RuleNode, ...]
    items: tuple[ItemNode, ...]
    programme: str | None = attrs.field(default=None, eq=False)   # the policy header's programme

    def to_dict(self):
        return {"policy": self.policy, "sha256": self.sha256, "engine": self.engine,
                "eligible": self.eligible, "recevable": self.recevable,
                "definitions": [d.to_dict() for d in self.definitions],
                "rules": [r.to_dict() for r in self.rules],
                "structures": [i.to_dict() for i in self.items]}

    def walk(self):
        """Every rule node, dossier level then structure level, depth first."""
        for top in self.rules + tuple(r for item in self.items for r in item.rules):
            for n, _ in top.walk():
                yield n

    def fired(self, rule: str, item: int | None = None) -> RuleNode | None:
        """The node of `rule` that fired, at the dossier level or for structure `item`."""
        roots = self.rules if item is None else (self.items[item].rules if 0 <= item < len(self.items) else ())
        for top in roots:
            for n, _ in top.walk():
                if n.rule == rule and n.outcome == "fired":
                    return n
        return None


def null_word(checked, expr, binder=None, type_=None) -> str:
    """How a person reads a null value of `expr`: « non renseigné(e) » when the dossier left it
    empty (a fact, or a field of the structure a rule is about), « inconnue » for a computed date
    (a deadline the sources do not give), « sans objet » for any other computed value."""
    root = expr
    while isinstance(root, (ast.Attribute, ast.Lookup)):
        root = root.obj
    name = root.name if isinstance(root, ast.Name) else None
    fact = name is not None and (checked.facts.field(name) is not None
                                 or (binder is not None and name == binder.var))
    t = type_ if type_ is not None else checked.types.get(id(expr))
    while isinstance(t, T.Optional):
        t = t.inner
    date = isinstance(t, T.Scalar) and t.name in ("date", "datetime")
    if fact:
        return "non renseignée" if date else "non renseigné"
    return "inconnue" if date else "sans objet"


def message_nulls(checked, info) -> tuple[str, ...]:
    """How a null reads in each placeholder of the message of rule `info` (`french.render_message`)."""
    return tuple(null_word(checked, part, info.binder) for part in info.message if not isinstance(part, str))


def build_trace(policy, facts, records, def_values, ok, rec) -> Trace:
    from . import __version__
    from .french import render_message

    checked = policy.checked
    rules = checked.all_rules
    # index the records: (rule index, item) -> (outcome, reads, message values, by)
    got = {(r.rule, r.item): r for r in map(as_trace_record, records)}

    def node(info, item) -> RuleNode | None:
        rec_ = got.get((info.index, item))
        if rec_ is None:
            return None
        children = tuple(c for c in (node(x, item) for x in info.exceptions) if c is not None)
        return RuleNode(
            info.name, "exception" if info.target else "rule", info.code, info.level,
            info.severity, rec_.outcome.label, rules[rec_.by].name if rec_.by != NO_RULE else None,
            tuple(FactRead(r.label, v, null_word(checked, r.expr, info.binder))
                  for r, v in zip(info.reads, rec_.reads, strict=True)),
            render_message(info.message, rec_.values, message_nulls(checked, info)) if rec_.values is not None
            else None, info.source, children,
            info.span, info.when, info.applies)

    top = tuple(n for n in (node(r, -1) for r in checked.rules if r.binder is None) if n is not None)
    items = []
    for lst in checked.item_lists:   # the checker allows one list with rules `for … in`
        key = checked.key_field(lst)
        item_rules = checked.item_rules(lst)
        for i, item in enumerate(facts[lst]):
            nodes = tuple(n for n in (node(r, i) for r in item_rules) if n is not None)
            blocked = any(n.outcome == "fired" and n.severity not in (None, "warning")
                          for top in nodes for n, _ in top.walk())
            items.append(ItemNode(i, item[key], not blocked, nodes))
    defs = tuple(DefinitionNode(n, v, checked.defs[n].source, checked.defs[n].span,
                                null_word(checked, checked.defs[n].expr, type_=checked.defs[n].type))
                 for n, v in zip(checked.value_defs, def_values, strict=True))
    return Trace(checked.id, checked.sha256, __version__, ok, rec, defs, top, tuple(items),
                 checked.header.get("programme"))

