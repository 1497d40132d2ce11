"""What the checker produces: `CheckedPolicy` and the typed declarations it holds, and
`CheckResult`, what a tool gets of a policy with errors (see check.py's docstring).

Every later stage (compile, interpret, explain, analyze, diff…) reads these classes, never the
checker: `esms_rules.check` re-exports them, so `from esms_rules.check import CheckedPolicy`
keeps working.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterator

import attrs

from . import ast
from . import types as T
from .diagnostics import Diagnostic
from .infer import Read
from .load import Program
from .span import Span

Node = str | tuple[str, str]
"""A node of the definitions' dependency graph: a definition's name, or ("passes", record)
standing for the item rules over that record (`passes(s)` depends on them)."""


@attrs.frozen
class TableInfo:
    name: str
    key_type: T.Type
    value_type: T.Type
    mapping: dict = attrs.field(eq=False)
    total: bool
    source: str | None
    span: Span = attrs.field(eq=False)


@attrs.frozen
class DefInfo:
    name: str
    params: tuple[tuple[str, T.Type], ...]
    type: T.Type
    expr: ast.Expr
    source: str | None
    span: Span = attrs.field(eq=False)


@attrs.frozen
class RuleInfo:
    name: str
    index: int
    binder: ast.Binder | None
    item_type: T.Record | None
    code: str | None
    severity: str | None          # None: an exception that only lifts its rule
    when: ast.Expr | None
    applies: ast.Expr | None
    priority: int | None
    message: tuple              # str parts and ast.Expr parts, alternating
    source: str | None
    target: str | None
    exceptions: tuple[RuleInfo, ...]
    reads: tuple[Read, ...]
    repeated: tuple[ast.Expr, ...]   # key expressions of repeated() calls in this rule
    span: Span = attrs.field(eq=False)

    @property
    def level(self) -> str:
        return "structure" if self.binder else "dossier"

    def walk(self) -> Iterator[RuleInfo]:
        yield self
        for e in self.exceptions:
            yield from e.walk()


@attrs.frozen
class CampaignRuleInfo:
    """A checked `campaign rule` (docs/campaign.md): how its rows combine, and its clauses.

    `keys` are the row's side of the combination: `(key,)` for "group", the row side of each
    equality of `on` for "join" (`history_keys` the history side, in the same order), `()` for
    "count". `where` filters rows, `join_where` matched history rows."""

    name: str
    form: str                        # group | join | count
    var: str | None                  # the item variable (None: rows are dossiers)
    list_name: str | None
    item_type: T.Record | None
    where: ast.Expr | None
    keys: tuple[ast.Expr, ...]
    join_var: str | None
    history_keys: tuple[ast.Expr, ...]
    join_where: ast.Expr | None
    code: str
    severity: str                    # warning | info
    when: ast.Expr
    message: tuple                   # str parts and ast.Expr parts, alternating
    source: str | None
    span: Span = attrs.field(eq=False)


@attrs.frozen
class OutputInfo:
    name: str
    binder: ast.Binder | None
    type: T.Type
    expr: ast.Expr
    span: Span = attrs.field(eq=False)


@attrs.frozen
class CheckedPolicy:
    program: Program = attrs.field(repr=False)
    id: str
    header: dict
    enums: dict
    records: dict
    facts: T.Record
    codes: dict
    tables: dict
    defs: dict
    def_order: tuple[Node, ...]           # definitions and item-rule nodes, each after what it uses
    rules: tuple[RuleInfo, ...]
    all_rules: tuple[RuleInfo, ...]
    outputs: dict
    types: dict = attrs.field(repr=False, eq=False)   # id(expr) -> Type
    warnings: tuple = attrs.field(default=(), repr=False, eq=False)   # Diagnostic, severity "warning"
    campaign_rules: tuple[CampaignRuleInfo, ...] = ()
    history: T.Record | None = None      # `history record …`: the rows of the funded-structures file

    @property
    def sha256(self) -> str:
        return self.program.sha256

    def type_of(self, expr: ast.Expr) -> T.Type:
        return self.types[id(expr)]

    def __reduce__(self) -> tuple[Callable[[Program], CheckedPolicy], tuple[Program]]:
        # `types` is keyed by the identity of this program's nodes, which a copy does not keep:
        # a copy (pickle, cloudpickle, deepcopy) is checked again from the program it copies
        from .check import check
        return (check, (self.program,))

    def item_rules(self, list_name: str) -> list[RuleInfo]:
        return [r for r in self.rules if r.binder and r.binder.list_name == list_name]

    @functools.cached_property
    def item_lists(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.binder.list_name for r in self.rules if r.binder))

    @functools.cached_property
    def value_defs(self) -> tuple[str, ...]:
        """Definitions without parameters, in evaluation order: the order of a trace's values."""
        return tuple(n for n in self.def_order if isinstance(n, str) and not self.defs[n].params)

    def key_field(self, list_name: str) -> str:
        """The field that names an item of a list in decisions: the first of its record."""
        field = self.facts.field(list_name)
        assert field is not None and isinstance(field.type, T.List) and isinstance(field.type.element, T.Record)
        return field.type.element.fields[0].name



@attrs.frozen
class CheckResult:
    """What the checker understood of a policy, with its diagnostics (see the module docstring)."""

    diagnostics: tuple[Diagnostic, ...]
    sources: dict[str, str] = attrs.field(eq=False)
    program: Program | None = attrs.field(default=None, eq=False)
    enums: dict[str, T.Enum] = attrs.field(factory=dict)
    records: dict[str, T.Record] = attrs.field(factory=dict)
    facts: dict[str, T.Field] = attrs.field(factory=dict)
    codes: dict[str, str | None] = attrs.field(factory=dict)
    tables: dict[str, TableInfo] = attrs.field(factory=dict)
    defs: dict[str, DefInfo] = attrs.field(factory=dict)
    rules: tuple[RuleInfo, ...] = ()
    outputs: dict[str, OutputInfo] = attrs.field(factory=dict)
    types: dict[int, T.Type] = attrs.field(factory=dict, eq=False, repr=False)
    policy: CheckedPolicy | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        """No error (warnings allowed)."""
        return all(d.severity != "error" for d in self.diagnostics)

    def type_of(self, expr: ast.Expr) -> T.Type | None:
        """The type of an expression node of `program` (None where the checker could not tell)."""
        return self.types.get(id(expr))

