"""The abstract syntax of policies: one frozen node class per construct of grammar/esms.lark.

Spans are kept on every node but left out of equality, so `parse(fmt(p)) == parse(p)`
compares meaning, not layout.
"""
from __future__ import annotations

import abc
import datetime as _dt
from decimal import Decimal
from typing import Any, Callable, Generic, TypeVar, Union, assert_never, get_args

import attrs

from .span import Span, span_field

# ---- types --------------------------------------------------------------
@attrs.frozen
class NamedType:
    name: str
    optional: bool = False
    span: Span = span_field()


@attrs.frozen
class ListType:
    element: "TypeRef"
    span: Span = span_field()


TypeRef = Union[NamedType, ListType]


# ---- expressions --------------------------------------------------------
LiteralValue = Union[str, int, Decimal, bool, None, _dt.date, _dt.datetime]


@attrs.frozen
class Literal:
    value: LiteralValue
    kind: str  # string | int | decimal | date | datetime | bool | null
    span: Span = span_field()


@attrs.frozen
class Name:
    name: str
    span: Span = span_field()


@attrs.frozen
class Attribute:
    obj: "Expr"
    name: str
    span: Span = span_field()


@attrs.frozen
class Lookup:
    obj: "Expr"
    key: "Expr"
    span: Span = span_field()


@attrs.frozen
class Generator:
    """`element for var in source where condition`, inside [...] or an aggregate's parens."""

    element: "Expr"
    var: str
    source: "Expr"
    condition: "Expr | None" = None
    span: Span = span_field()


@attrs.frozen
class Call:
    func: str
    args: tuple["Expr", ...]
    span: Span = span_field()


@attrs.frozen
class ListExpr:
    items: tuple["Expr", ...]
    span: Span = span_field()


@attrs.frozen
class Comprehension:
    generator: Generator
    span: Span = span_field()


@attrs.frozen
class Unary:
    op: str  # not | -
    operand: "Expr"
    span: Span = span_field()


@attrs.frozen
class Binary:
    op: str  # and or == != < <= > >= + - * in "not in"
    left: "Expr"
    right: "Expr"
    span: Span = span_field()


@attrs.frozen
class If:
    condition: "Expr"
    then: "Expr"
    otherwise: "Expr"
    span: Span = span_field()


Expr = Union[Literal, Name, Attribute, Lookup, Generator, Call, ListExpr, Comprehension, Unary, Binary, If]
"""The eleven expression nodes. A `Generator` appears only as the argument of an aggregate
(`count(s for s in structures)`); everywhere else it is wrapped in a `Comprehension`."""


# ---- declarations -------------------------------------------------------
@attrs.frozen
class PolicyField:
    name: str
    value: Literal
    span: Span = span_field()


@attrs.frozen
class PolicyDecl:
    name: str
    fields: tuple[PolicyField, ...]
    span: Span = span_field()

    def get(self, name: str):
        for f in self.fields:
            if f.name == name:
                return f.value.value
        return None


@attrs.frozen
class ImportDecl:
    module: str
    span: Span = span_field()


@attrs.frozen
class EnumDecl:
    name: str
    values: tuple[str, ...]
    span: Span = span_field()


@attrs.frozen
class RangeConstraint:
    low: Literal
    high: Literal
    span: Span = span_field()


@attrs.frozen
class LengthConstraint:
    length: int
    span: Span = span_field()


Constraint = Union[RangeConstraint, LengthConstraint]


@attrs.frozen
class FieldDecl:
    name: str
    type: TypeRef
    constraint: Constraint | None = None
    default: Literal | None = None
    span: Span = span_field()


@attrs.frozen
class RecordDecl:
    name: str
    fields: tuple[FieldDecl, ...]
    history: bool = False     # `history record funded { … }`: the rows of the funded-structures file
    span: Span = span_field()


@attrs.frozen
class FactDecl:
    name: str
    type: TypeRef
    constraint: Constraint | None = None
    default: Literal | None = None
    span: Span = span_field()


@attrs.frozen
class CodeEntry:
    code: str
    description: str | None = None
    span: Span = span_field()


@attrs.frozen
class CodesDecl:
    entries: tuple[CodeEntry, ...]
    span: Span = span_field()


@attrs.frozen
class TableEntry:
    key: Literal
    value: Literal
    span: Span = span_field()


@attrs.frozen
class TableDecl:
    name: str
    key_type: TypeRef
    value_type: TypeRef
    entries: tuple[TableEntry, ...]
    source: str | None = None
    override: bool = False
    span: Span = span_field()


@attrs.frozen
class ParamDecl:
    name: str
    type: TypeRef
    span: Span = span_field()


@attrs.frozen
class Param:
    name: str
    type: TypeRef
    span: Span = span_field()


@attrs.frozen
class DefDecl:
    name: str
    params: tuple[Param, ...]
    type: TypeRef | None
    expr: Expr
    source: str | None = None
    override: bool = False
    span: Span = span_field()


@attrs.frozen
class Binder:
    """`for var in list`: the rule or output is evaluated once per item of a list fact."""

    var: str
    list_name: str
    span: Span = span_field()


@attrs.frozen
class OutputDecl:
    name: str
    binder: Binder | None
    expr: Expr
    span: Span = span_field()


@attrs.frozen
class Clause:
    """One line of a rule or exception body: `code X`, `when e`, `source "…"`…"""

    kind: str  # code | severity | when | applies | priority | message | source
    value: Union[str, int, Expr]
    span: Span = span_field()


@attrs.frozen
class RuleDecl:
    name: str
    binder: Binder | None
    clauses: tuple[Clause, ...]
    override: bool = False
    span: Span = span_field()

    def clause(self, kind: str):
        for c in self.clauses:
            if c.kind == kind:
                return c
        return None

    def get(self, kind: str, default=None):
        c = self.clause(kind)
        return default if c is None else c.value


@attrs.frozen
class ExceptionDecl:
    name: str
    target: str
    clauses: tuple[Clause, ...]
    override: bool = False
    span: Span = span_field()

    clause = RuleDecl.clause
    get = RuleDecl.get


@attrs.frozen
class CampaignRows:
    """What a campaign rule goes over: `s in structures [where c]` (every item of every
    dossier of the campaign) or `dossiers [where c]` (`var` and `list_name` None)."""

    var: str | None
    list_name: str | None
    condition: Expr | None = None
    span: Span = span_field()


@attrs.frozen
class CampaignRuleDecl:
    """`campaign rule name <form> { clauses }`: a rule over the set of dossiers of one programme
    and campaign (docs/campaign.md). `form` is how rows combine, written once in the head:

    - "group": `for ROWS group by key` (`key`); the clauses see `others`, the ids of the other
      dossiers whose rows have the same key;
    - "join": `for ROWS join h in history on h.x == e and … [where c]` (`join_var`, `on`,
      `join_where`); the clauses see `matches`, the history rows with equal keys;
    - "count": `count ROWS`; the clauses see `total`, the number of rows.
    """

    name: str
    form: str
    rows: CampaignRows
    key: Expr | None = None
    join_var: str | None = None
    on: Expr | None = None
    join_where: Expr | None = None
    clauses: tuple[Clause, ...] = ()
    override: bool = False
    span: Span = span_field()

    def clause(self, kind: str) -> Clause | None:
        return next((c for c in self.clauses if c.kind == kind), None)

    def get(self, kind: str, default: Any = None) -> Any:
        c = self.clause(kind)
        return default if c is None else c.value

    def expressions(self) -> tuple[Expr, ...]:
        """Every expression of the head, in source order (the clauses' are in `clauses`)."""
        return tuple(e for e in (self.rows.condition, self.key, self.on, self.join_where) if e is not None)


Decl = Union[PolicyDecl, ImportDecl, EnumDecl, RecordDecl, FactDecl, CodesDecl, TableDecl,
             ParamDecl, DefDecl, OutputDecl, RuleDecl, ExceptionDecl, CampaignRuleDecl]


@attrs.frozen
class Comment:
    text: str
    span: Span = span_field()


@attrs.frozen
class Module:
    """One policy file: its declarations in order, and its comments (kept for fmt)."""

    name: str
    items: tuple[Decl, ...]
    comments: tuple[Comment, ...] = attrs.field(default=(), eq=False)
    file: str = attrs.field(default="<string>", eq=False)

    @property
    def header(self) -> PolicyDecl | None:
        return next((i for i in self.items if isinstance(i, PolicyDecl)), None)


def is_null(e) -> bool:
    """Is `e` the literal `null`?"""
    return isinstance(e, Literal) and e.kind == "null"


def message_pieces(text: str) -> list[str | tuple[str, int, int]]:
    """A message split into its literal text (str) and its interpolations `(source, start, end)`,
    `text[start:end]` being the source between the braces, in order.

    `{e}` interpolates `e`; a backslash escapes the brace after it (`\\{` shows `{`), and two
    backslashes before a brace show one (`\\\\{n}` shows a backslash then the value of `n`). A
    string literal keeps these escapes in its value (`parse._unescape`); only messages read them.
    A `{` without its `}`, or with another `{` before it, is shown as written.
    """
    out: list[str | tuple[str, int, int]] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            j = i
            while j < n and text[j] == "\\":
                j += 1
            if j < n and text[j] in "{}":
                buf.append("\\" * ((j - i) // 2))
                if (j - i) % 2:            # the last backslash escapes the brace
                    buf.append(text[j])
                    j += 1
            else:
                buf.append(text[i:j])
            i = j
            continue
        if ch == "{":
            close = next((k for k in range(i + 1, n) if text[k] in "{}"), None)
            if close is not None and text[close] == "}":
                out.append("".join(buf))
                buf = []
                out.append((text[i + 1:close], i + 1, close))
                i = close + 1
                continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


def children(node: Expr) -> list[Expr]:
    """The direct sub-expressions of an expression node, in source order."""
    match node:
        case Literal() | Name():
            return []
        case Attribute():
            return [node.obj]
        case Lookup():
            return [node.obj, node.key]
        case Call():
            return list(node.args)
        case Generator():
            return [node.element, node.source] + ([node.condition] if node.condition is not None else [])
        case ListExpr():
            return list(node.items)
        case Comprehension():
            return [node.generator]
        case Unary():
            return [node.operand]
        case Binary():
            return [node.left, node.right]
        case If():
            return [node.condition, node.then, node.otherwise]
        case _:
            assert_never(node)


# ---- the one visitor over expressions ----------------------------------------------------
C = TypeVar("C")
R = TypeVar("R")


class ExprVisitor(abc.ABC, Generic[C, R]):
    """The walk over expressions that every back end shares (jinja2's `NodeVisitor`, made exhaustive).

    A back end subclasses `ExprVisitor[C, R]`, where `C` is the context it passes down
    (the checker's `Env`, the compiler's scope of Python locals, the interpreter's variables,
    nothing for the formatter) and `R` what it returns for an expression (a type, Python
    source, a value, text). It implements one `visit_<Node>(node, ctx)` per node class of
    `Expr`, each declared abstract here: a back end that misses one cannot be instantiated,
    and mypy reports it where the class is instantiated ("Cannot instantiate abstract class").
    `visit(e, ctx)` dispatches on the exact class of `e`, one dict look-up.

    Adding a node class: add it to `Expr`, add an abstract `visit_<Node>` here; every back
    end then fails until it handles the node. The built-in functions are declared once in
    `builtins.py`, which each back end's `visit_Call` consults.
    """

    __slots__ = ()

    def visit(self, e: Expr, ctx: C) -> R:
        method: Callable[[Any, Any], R] = getattr(self, _VISIT[type(e)])
        return method(e, ctx)

    @abc.abstractmethod
    def visit_Literal(self, e: Literal, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Name(self, e: Name, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Attribute(self, e: Attribute, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Lookup(self, e: Lookup, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Generator(self, e: Generator, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Call(self, e: Call, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_ListExpr(self, e: ListExpr, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Comprehension(self, e: Comprehension, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Unary(self, e: Unary, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_Binary(self, e: Binary, ctx: C) -> R: ...

    @abc.abstractmethod
    def visit_If(self, e: If, ctx: C) -> R: ...


EXPR_NODES: tuple[type, ...] = get_args(Expr)
_VISIT: dict[type, str] = {cls: "visit_" + cls.__name__ for cls in EXPR_NODES}
