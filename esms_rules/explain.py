"""Explanation traces: what the evaluator recorded, as a tree of frozen nodes, or as JSON.

The compiled evaluator in "trace" mode records one `runtime.TraceRecord` per rule evaluation
(rule, item, outcome, values read, message values, overriding exception) and the value of
every definition; in "compact" mode only the records of the deciding path. `build_trace` turns
either into a `Trace` of that shape ("full" or "compact", docs/trace.md), made on first access
of `Decision.trace`: its JSON is written from the records and from fragments worked out once
per policy (`_Plan`), its nodes are built only when read. Renderings for people live in
`render.py`.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any, NoReturn

import attrs

from . import __version__, ast, jsonio
from . import types as T
from .jsonio import json_number
from .runtime import Outcome
from .span import Span


def jsonable(v, depth: int = 0):
    """A JSON-ready copy of a value read by a rule; records inside lists shown by their key."""
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, Decimal):
        return json_number(v)
    if isinstance(v, (dt.datetime, dt.date)):
        return v.isoformat()
    if isinstance(v, (list, tuple)):
        return [x if type(x) in _PLAIN else jsonable(x, depth + 1) for x in v]
    if isinstance(v, dict):
        if depth > 0:
            return jsonable(next(iter(v.values()), None))
        return {k: jsonable(x, depth + 1) for k, x in v.items()}
    return str(v)


_PLAIN = frozenset({str, int, bool, type(None)})   # values jsonable leaves as they are (speed)


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


def trace_shape(trace: bool | str | None) -> str | None:
    """The shape asked for by `trace=` (`Policy.evaluate`, `esms_rules.evaluate`): True or
    "compact" -> "compact"; "full" -> "full"; False, None or "none" -> None (no trace)."""
    if trace is True or trace == "compact":
        return "compact"
    if trace == "full":
        return "full"
    if trace is False or trace is None or trace == "none":
        return None
    raise ValueError(f"trace must be True, False, 'compact', 'full' or 'none', not {trace!r}")


@attrs.frozen(eq=False)
class Trace:
    """The explanation of one decision, from what the compiled run recorded (never re-evaluated).

    `shape` "full": every rule and exception evaluated, every definition; "compact": the deciding
    path only, see docs/trace.md. The nodes (`definitions`, `rules`, `items`) are built on first
    read; `to_dict()` and `to_json()` are written straight from the records, without them.
    """

    policy: str
    sha256: str
    engine: str
    eligible: bool
    recevable: bool
    shape: str = "full"
    call: object = None                        # the decision's call (shown by the compact shape)
    programme: str | None = None               # the policy header's programme
    _run: _Run | None = attrs.field(default=None, repr=False)

    @property
    def definitions(self) -> tuple[DefinitionNode, ...]:
        return self._run.nodes()[0] if self._run is not None else ()

    @property
    def rules(self) -> tuple[RuleNode, ...]:
        return self._run.nodes()[1] if self._run is not None else ()

    @property
    def items(self) -> tuple[ItemNode, ...]:
        return self._run.nodes()[2] if self._run is not None else ()

    def to_dict_head(self) -> dict[str, Any]:
        """The fields before the nodes: shape (compact only), policy, …, call (compact only)."""
        head: dict[str, Any] = {"shape": self.shape} if self.shape != "full" else {}
        head.update(policy=self.policy, sha256=self.sha256, engine=self.engine, eligible=self.eligible,
                    recevable=self.recevable)
        if self.shape != "full":
            head["call"] = jsonable(self.call)
        return head

    def to_dict(self) -> dict[str, Any]:
        head = self.to_dict_head()
        if self._run is None:
            return {**head, "definitions": [], "rules": [], "structures": []}
        return {**head, **self._run.dicts()}

    def to_json(self, indent: int | None = None) -> str:
        """`jsonio.dumps(self.to_dict(), indent=indent)`, the same bytes, faster: on one line,
        written from the records (`_Run.json`); indented, by json's encoder unless a value needs
        jsonio's exact writing (a long decimal, a huge integer)."""
        if indent is None and self._run is not None:
            value = jsonio.value_json
            return "".join((_head_json(self.shape, self.policy, self.sha256, self.engine), ', "eligible": ',
                            value(self.eligible), ', "recevable": ', value(self.recevable),
                            ', "call": ' + _value_json(self.call) if self.shape != "full" else "",
                            ", ", self._run.json(), "}"))
        d = self.to_dict()
        try:
            return json.dumps(d, ensure_ascii=False, indent=indent, allow_nan=False, default=_not_plain)
        except (TypeError, ValueError):
            return jsonio.dumps(d, indent=indent)

    def walk(self):
        """Every rule node, dossier level then structure level, depth first."""
        for top in self.rules + tuple(r for item in self.items for r in item.rules):
            for n, _ in top.walk():
                yield n

    def fired(self, rule: str, item: int | None = None) -> RuleNode | None:
        """The node of `rule` that fired, at the dossier level or for structure `item`."""
        if item is None:
            roots = self.rules
        else:
            roots = next((i.rules for i in self.items if i.index == item), ())
        for top in roots:
            for n, _ in top.walk():
                if n.rule == rule and n.outcome == "fired":
                    return n
        return None


@functools.lru_cache(maxsize=64)
def _head_json(shape: str, policy: str, sha256: str, engine: str) -> str:
    """The JSON text that starts a trace (`Trace.to_dict_head`'s fields up to `engine`)."""
    head = {"shape": shape} if shape != "full" else {}
    head.update(policy=policy, sha256=sha256, engine=engine)
    return jsonio.dumps(head)[:-1]


def _not_plain(v: object) -> NoReturn:
    raise TypeError(f"{type(v).__name__} is written by jsonio")


def with_trace(text: str, trace_text: str, indent: int | None) -> str:
    """The JSON text of a decision written without its trace, with `"trace": trace_text` added as
    its last field: the bytes `jsonio.dumps` gives for the decision with its trace."""
    if indent is None:
        return f'{text[:-1]}, "trace": {trace_text}}}'
    pad = "\n" + " " * indent
    return f'{text[:-2]},{pad}"trace": {trace_text.replace(chr(10), pad)}\n}}'


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


LABELS = tuple(o.label for o in Outcome)


class _Plan:
    """What a trace says of a policy's rules and definitions whatever the dossier, worked out
    once per policy: each node's fixed fields, labels and null words, the exceptions of each
    rule, the definitions a compact trace shows."""

    def __init__(self, checked, message):
        rules = checked.all_rules
        self.checked = checked
        self.message = message      # `Policy.message`: rule i's message with its values, as the decision words it
        self.infos = rules
        self.heads = [{"rule": r.name, "kind": "exception" if r.target else "rule", "code": r.code,
                       "level": r.level, "severity": r.severity} for r in rules]
        self.citations = [r.source for r in rules]
        self.spans = [_span_dict(r.span) for r in rules]
        self.labels = [tuple(x.label for x in r.reads) for r in rules]
        self.nulls = [tuple(null_word(checked, x.expr, r.binder) for x in r.reads) for r in rules]
        self.children = [tuple(x.index for x in r.exceptions) for r in rules]
        self.blocks = [r.severity in ("blocking", "inadmissible") for r in rules]
        self.top = tuple(r.index for r in checked.rules if r.binder is None)
        # the item list (the checker allows one list with rules `for … in`), its key, its rules
        self.lists = tuple((lst, checked.key_field(lst), tuple(r.index for r in checked.item_rules(lst)))
                           for lst in checked.item_lists)
        defs = checked.defs
        self.def_names = checked.value_defs
        self.def_citations = [defs[n].source for n in self.def_names]
        self.def_spans = [_span_dict(defs[n].span) for n in self.def_names]
        self.def_nulls = [null_word(checked, defs[n].expr, type_=defs[n].type) for n in self.def_names]
        # a compact trace shows the definitions the outputs depend on, but not a list of the
        # dossier's records (`counted`): the decision's structures[] say which are counted
        needed = _output_definitions(checked)
        self.compact_defs = tuple(k for k, n in enumerate(self.def_names)
                                  if n in needed and not _lists_records(defs[n].type))
        outputs = list(checked.outputs)
        self.call = outputs.index("call") if "call" in outputs else None
        # the same, as JSON text, for `_Run.json` (json.dumps's separators, without indent)
        self.json_heads = [_text(h)[:-1] + ', "outcome": ' for h in self.heads]
        self.json_reads = [tuple(f'{{"name": {_text(label)}, "value": ' for label in labels) for labels in self.labels]
        self.json_tails = [f', "citation": {_text(c)}, "span": {_text(sp)}, "children": ['
                           for c, sp in zip(self.citations, self.spans, strict=True)]
        self.json_by = [f', "overridden_by": {_text(r.name)}, "reads": [' for r in rules]
        # a node without message, overriding exception nor children, whole but for the values it
        # read (speed: most nodes of a full trace are such, e.g. a structure's rules that passed)
        self.json_leaves = [[_leaf_template(h + o, reads, t) for o in _OUTCOMES]
                            for h, reads, t in zip(self.json_heads, self.json_reads, self.json_tails, strict=True)]
        # how each value a rule reads is written, for a rule that reads text: text by json's C
        # function directly, the rest by `_value_json` (speed: a full trace writes some 500 values
        # per dossier, most of them text); None for a rule that reads no text (`_value_json` for all)
        writers = [tuple(_writer(checked.types.get(id(x.expr))) for x in r.reads) for r in rules]
        self.json_writers = [w if _encode in w else None for w in writers]
        self.json_defs = [(f'{{"name": {_text(n)}, "value": ', f', "citation": {_text(c)}, "span": {_text(sp)}}}')
                          for n, c, sp in zip(self.def_names, self.def_citations, self.def_spans, strict=True)]


def _writer(t: T.Type | None) -> Callable[[Any], str]:
    """The function writing a value of type `t` read by a rule: `_encode` for text that cannot be
    null (it raises TypeError on anything but a str: `_Run.json` then writes with `_value_json`)."""
    if isinstance(t, T.Enum) or isinstance(t, T.Scalar) and t.name == "text":
        return _encode
    return _value_json


def _text(v: object) -> str:
    """JSON text as the trace writes it (json.dumps's separators, non-ASCII characters as they are)."""
    return json.dumps(v, ensure_ascii=False)


def _leaf_template(head: str, reads: tuple[str, ...], tail: str) -> list[str]:
    """The JSON of a node without message, overriding exception nor children, as the list of its
    fixed texts with an empty slot after each but the last, where each value it read goes
    (`_Run.json` fills a copy and joins it: `str.join` copies, where `%` scans the long fixed text)."""
    texts = [pre if k == 0 else "}, " + pre for k, pre in enumerate(reads)] + ["}" if reads else ""]
    texts[0] = head + ', "overridden_by": null, "reads": [' + texts[0]
    texts[-1] += '], "message": null' + tail + "]}"
    return [t for k, text in enumerate(texts) for t in ((text,) if k == 0 else ("", text))]


def _lists_records(t: T.Type) -> bool:
    t = T.strip(t)
    return isinstance(t, T.List) and isinstance(T.strip(t.element), T.Record)


def _output_definitions(checked) -> set[str]:
    """The definitions the policy's outputs depend on (the call, the amount…), directly or
    through other definitions and functions."""
    seen: set[str] = set()
    stack = [o.expr for o in checked.outputs.values()]
    while stack:
        e = stack.pop()
        name = e.name if isinstance(e, ast.Name) else e.func if isinstance(e, ast.Call) else None
        if name is not None and name in checked.defs and name not in seen:
            seen.add(name)
            stack.append(checked.defs[name].expr)
        stack.extend(ast.children(e))
    return {n for n in seen if not checked.defs[n].params}


def _plan(policy) -> _Plan:
    plan = policy.__dict__.get("_trace_plan")
    if plan is None:
        plan = policy.__dict__["_trace_plan"] = _Plan(policy.checked, policy.message)
    return plan


class _Run:
    """What one compiled run recorded (records, definitions' values, the facts), and the nodes
    and JSON made from it, for `Trace`."""

    __slots__ = ("_nodes", "compact", "def_values", "facts", "message", "plan", "records")

    def __init__(self, plan: _Plan, records: list, def_values: tuple, facts: dict, compact: bool,
                 message: Callable[[int, int, tuple], str]):
        self.plan, self.records, self.def_values, self.facts, self.compact = plan, records, def_values, facts, compact
        self.message = message      # rule i's message for item (-1: the dossier) with these values
        self._nodes: tuple | None = None

    def _trees(self, make):
        """(definitions, dossier-level trees, [(item, key, eligible, trees)]) with `make(i, record,
        children)` building each node, from the records alone."""
        plan, records = self.plan, self.records
        got = {(r[0], r[1]): r for r in records}
        children = plan.children
        top = [_tree(i, -1, got, children, make) for i in plan.top if (i, -1) in got]
        blocks = plan.blocks
        blocked = {r[1] for r in records if r[2] == 1 and r[1] >= 0 and blocks[r[0]]}
        items = []
        for lst, key, rules in plan.lists:
            facts = self.facts[lst]
            shown = sorted({r[1] for r in records if r[1] >= 0}) if self.compact else range(len(facts))
            for i in shown:
                trees = [_tree(r, i, got, children, make) for r in rules if (r, i) in got]
                items.append((i, facts[i][key], i not in blocked, trees))
        defs = plan.compact_defs if self.compact else range(len(plan.def_names))
        return defs, top, items

    def dicts(self) -> dict[str, Any]:
        plan = self.plan
        heads, labels, citations, spans, infos = plan.heads, plan.labels, plan.citations, plan.spans, plan.infos
        message = self.message

        def make(i, rec, kids):
            _, item, outcome, reads, values, by = rec
            return {**heads[i], "outcome": LABELS[outcome],
                    "overridden_by": infos[by].name if by >= 0 else None,
                    "reads": [{"name": label, "value": v if type(v) in _PLAIN else jsonable(v)}
                              for label, v in zip(labels[i], reads, strict=True)],
                    "message": message(i, item, values) if values is not None else None,
                    "citation": citations[i], "span": spans[i].copy(), "children": kids}

        defs, top, items = self._trees(make)
        values = self.def_values
        return {"definitions": [{"name": plan.def_names[k], "value": jsonable(values[k]),
                                 "citation": plan.def_citations[k], "span": plan.def_spans[k].copy()}
                                for k in defs],
                "rules": top,
                "structures": [{"index": i, "key": key, "eligible": ok, "rules": trees}
                               for i, key, ok, trees in items]}

    def json(self) -> str:
        """`json.dumps(self.dicts())`, the same text, written from fragments worked out once per
        policy: only what the dossier decides (outcomes, values, messages) is encoded here."""
        plan = self.plan
        heads, reads_, tails, by_ = plan.json_heads, plan.json_reads, plan.json_tails, plan.json_by
        message, leaves, writers = self.message, plan.json_leaves, plan.json_writers
        no_by = ', "overridden_by": null, "reads": ['

        def make(i, rec, kids):
            _, item, outcome, reads, values, by = rec
            write = writers[i]
            try:
                written = tuple(map(_call, write, reads)) if write is not None else None
            except TypeError:       # a value of another type than its read's (see `_writer`)
                written = None
            if written is None:
                written = tuple([_value_json(v) for v in reads])
            if values is None and by < 0 and not kids:
                text = leaves[i][outcome].copy()
                text[1::2] = written
                return "".join(text)
            return "".join((
                heads[i], _OUTCOMES[outcome], by_[by] if by >= 0 else no_by,
                ", ".join([pre + w + "}" for pre, w in zip(reads_[i], written, strict=True)]),
                '], "message": ',
                _encode(message(i, item, values)) if values is not None else "null",
                tails[i], ", ".join(kids), "]}"))

        defs, top, items = self._trees(make)
        values = self.def_values
        return "".join((
            '"definitions": [',
            ", ".join([plan.json_defs[k][0] + _value_json(values[k]) + plan.json_defs[k][1] for k in defs]),
            '], "rules": [', ", ".join(top), '], "structures": [',
            ", ".join([f'{{"index": {i}, "key": {_value_json(key)}, "eligible": {"true" if ok else "false"}, '
                       f'"rules": [{", ".join(trees)}]}}' for i, key, ok, trees in items]),
            "]"))

    def nodes(self) -> tuple:
        if self._nodes is not None:
            return self._nodes
        plan = self.plan
        infos, labels, nulls, message = plan.infos, plan.labels, plan.nulls, self.message

        def make(i, rec, kids):
            _, item, outcome, reads, values, by = rec
            info = infos[i]
            return RuleNode(
                info.name, "exception" if info.target else "rule", info.code, info.level, info.severity,
                LABELS[outcome], infos[by].name if by >= 0 else None,
                tuple(FactRead(label, v, null) for label, v, null in zip(labels[i], reads, nulls[i], strict=True)),
                message(i, item, values) if values is not None else None,
                info.source, tuple(kids), info.span, info.when, info.applies)

        defs, top, items = self._trees(make)
        checked = plan.checked
        self._nodes = (
            tuple(DefinitionNode(plan.def_names[k], self.def_values[k], plan.def_citations[k],
                                 checked.defs[plan.def_names[k]].span, plan.def_nulls[k]) for k in defs),
            tuple(top),
            tuple(ItemNode(i, key, ok, tuple(trees)) for i, key, ok, trees in items))
        return self._nodes


_encode = json.encoder.encode_basestring     # a str as json.dumps(ensure_ascii=False) writes it (in C)
_call = operator.call                         # `_call(f, v)` is f(v): with `map`, one writer per value, in C
_OUTCOMES = tuple(json.dumps(label) for label in LABELS)


def _value_json(v: Any, depth: int = 0) -> str:
    """A value read by a rule as `json.dumps(jsonable(v))` writes it, with jsonio's exact numbers."""
    t = type(v)
    if t is str:
        return _encode(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    if t is int and -(10**15) < v < 10**15:
        return int.__repr__(v)
    if t is dt.date or t is dt.datetime:
        return '"' + v.isoformat() + '"'
    if t is Decimal:
        n = json_number(v)
        if type(n) is float:
            return float.__repr__(n)
        return int.__repr__(n) if type(n) is int and -(10**15) < n < 10**15 else jsonio.dumps(n)
    if t is list or t is tuple:
        return "[" + ", ".join([_value_json(x, depth + 1) for x in v]) + "]"
    if t is dict and depth > 0:                # a record inside a list: its key
        return _value_json(next(iter(v.values()), None))
    return jsonio.dumps(jsonable(v, depth))


def _tree(i: int, item: int, got: dict, children: list, make):
    """The node of rule `i` for `item` (-1: the dossier), made by `make(i, record, children)` from
    its record (`got[i, item]`, which the caller found), its exceptions' nodes below it (those
    with a record: the others were not evaluated, or are not on a compact trace's deciding path).
    A plain function: a nested one calling itself would make a reference cycle per trace (see
    cli.evaluate's paused collector)."""
    kids = [_tree(x, item, got, children, make) for x in children[i] if (x, item) in got] if children[i] else []
    return make(i, got[i, item], kids)


def build_trace(policy, facts, traced, shape: str = "full", message=None) -> Trace:
    """The trace of one run of the compiled "trace" (shape "full") or "compact" evaluator:
    `traced` is its `runtime.TraceResult`, `facts` the validated facts it ran on; `message(i,
    item, values)` words rule i's message (by default `Policy.message`; the decision's
    `CompiledFindings.message`, so that a message is worded once for both)."""
    plan = _plan(policy)
    ok, rec, outs, records, def_values = traced
    checked = plan.checked
    call = outs[plan.call] if plan.call is not None else None
    return Trace(checked.id, checked.sha256, __version__, ok, rec, shape, call, checked.header.get("programme"),
                 _Run(plan, records, def_values, facts, shape == "compact",
                      message or (lambda i, item, values: plan.message(i, values))))
