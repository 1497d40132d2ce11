"""The abstract syntax of policies: one frozen node class per construct of grammar/esms.lark.

Spans are kept on every node but left out of equality, so `parse(fmt(p)) == parse(p)`
compares meaning, not layout.
"""
from __future__ import annotations

import datetime as _dt
from decimal import Decimal
from typing import Union

import attrs

from .span import Span, span_field

frozen = attrs.frozen(slots=True)


# ---- types --------------------------------------------------------------
@frozen
class NamedType:
    name: str
    optional: bool = False
    span: Span = span_field()


@frozen
class ListType:
    element: "TypeRef"
    span: Span = span_field()


TypeRef = Union[NamedType, ListType]


# ---- expressions --------------------------------------------------------
LiteralValue = Union[str, int, Decimal, bool, None, _dt.date, _dt.datetime]


@frozen
class Literal:
    value: LiteralValue
    kind: str  # string | int | decimal | date | datetime | bool | null
    span: Span = span_field()


@frozen
class Name:
    name: str
    span: Span = span_field()


@frozen
class Attribute:
    obj: "Expr"
    name: str
    span: Span = span_field()


@frozen
class Lookup:
    obj: "Expr"
    key: "Expr"
    span: Span = span_field()


@frozen
class Generator:
    """`element for var in source where condition`, inside [...] or an aggregate's parens."""

    element: "Expr"
    var: str
    source: "Expr"
    condition: "Expr | None" = None
    span: Span = span_field()


@frozen
class Call:
    func: str
    args: tuple["Expr", ...]
    span: Span = span_field()


@frozen
class ListExpr:
    items: tuple["Expr", ...]
    span: Span = span_field()


@frozen
class Comprehension:
    generator: Generator
    span: Span = span_field()


@frozen
class Unary:
    op: str  # not | -
    operand: "Expr"
    span: Span = span_field()


@frozen
class Binary:
    op: str  # and or == != < <= > >= + - * in "not in"
    left: "Expr"
    right: "Expr"
    span: Span = span_field()


@frozen
class If:
    condition: "Expr"
    then: "Expr"
    otherwise: "Expr"
    span: Span = span_field()


Expr = Union[Literal, Name, Attribute, Lookup, Call, ListExpr, Comprehension, Unary, Binary, If]


# ---- declarations -------------------------------------------------------
@frozen
class PolicyField:
    name: str
    value: Literal
    span: Span = span_field()


@frozen
class PolicyDecl:
    name: str
    fields: tuple[PolicyField, ...]
    span: Span = span_field()

    def get(self, name: str):
        for f in self.fields:
            if f.name == name:
                return f.value.value
        return None


@frozen
class ImportDecl:
    module: str
    span: Span = span_field()


@frozen
class EnumDecl:
    name: str
    values: tuple[str, ...]
    span: Span = span_field()


@frozen
class RangeConstraint:
    low: Literal
    high: Literal
    span: Span = span_field()


@frozen
class LengthConstraint:
    length: int
    span: Span = span_field()


Constraint = Union[RangeConstraint, LengthConstraint]


@frozen
class FieldDecl:
    name: str
    type: TypeRef
    constraint: Constraint | None = None
    default: Literal | None = None
    span: Span = span_field()


@frozen
class RecordDecl:
    name: str
    fields: tuple[FieldDecl, ...]
    span: Span = span_field()


@frozen
class FactDecl:
    name: str
    type: TypeRef
    constraint: Constraint | None = None
    default: Literal | None = None
    span: Span = span_field()


@frozen
class CodeEntry:
    code: str
    description: str | None = None
    span: Span = span_field()


@frozen
class CodesDecl:
    entries: tuple[CodeEntry, ...]
    span: Span = span_field()


@frozen
class TableEntry:
    key: Literal
    value: Literal
    span: Span = span_field()


@frozen
class TableDecl:
    name: str
    key_type: TypeRef
    value_type: TypeRef
    entries: tuple[TableEntry, ...]
    source: str | None = None
    override: bool = False
    span: Span = span_field()


@frozen
class ParamDecl:
    name: str
    type: TypeRef
    span: Span = span_field()


@frozen
class Param:
    name: str
    type: TypeRef
    span: Span = span_field()


@frozen
class DefDecl:
    name: str
    params: tuple[Param, ...]
    type: TypeRef | None
    expr: Expr
    source: str | None = None
    override: bool = False
    span: Span = span_field()


@frozen
class Binder:
    """`for var in list`: the rule or output is evaluated once per item of a list fact."""

    var: str
    list_name: str
    span: Span = span_field()


@frozen
class OutputDecl:
    name: str
    binder: Binder | None
    expr: Expr
    span: Span = span_field()


@frozen
class Clause:
    """One line of a rule or exception body: `code X`, `when e`, `source "…"`…"""

    kind: str  # code | severity | when | applies | priority | message | source
    value: Union[str, int, Expr]
    span: Span = span_field()


@frozen
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


@frozen
class ExceptionDecl:
    name: str
    target: str
    clauses: tuple[Clause, ...]
    override: bool = False
    span: Span = span_field()

    clause = RuleDecl.clause
    get = RuleDecl.get


Decl = Union[PolicyDecl, ImportDecl, EnumDecl, RecordDecl, FactDecl, CodesDecl, TableDecl,
             ParamDecl, DefDecl, OutputDecl, RuleDecl, ExceptionDecl]


@frozen
class Comment:
    text: str
    span: Span = span_field()


@frozen
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


def children(node) -> list:
    """The direct sub-expressions of an expression node, in source order."""
    if isinstance(node, (Literal, Name)):
        return []
    if isinstance(node, Attribute):
        return [node.obj]
    if isinstance(node, Lookup):
        return [node.obj, node.key]
    if isinstance(node, Call):
        return list(node.args)
    if isinstance(node, Generator):
        return [node.element, node.source] + ([node.condition] if node.condition is not None else [])
    if isinstance(node, ListExpr):
        return list(node.items)
    if isinstance(node, Comprehension):
        return [node.generator]
    if isinstance(node, Unary):
        return [node.operand]
    if isinstance(node, Binary):
        return [node.left, node.right]
    if isinstance(node, If):
        return [node.condition, node.then, node.otherwise]
    return []
