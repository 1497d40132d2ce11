"""Linked program -> CheckedPolicy. Rejects every name and type error before anything runs.

The checker runs named stages in order (see STAGES); each adds diagnostics and fills the
CheckedPolicy. A later stage runs even when an earlier one found errors, so that an author
sees every problem at once, but nothing is compiled unless the whole list is empty.

API for tools (a language server, an editor plugin)
---------------------------------------------------
`check(program)` raises `PolicyError` at the first error list; tools want what was understood
despite errors. `check_text` and `check_partial` never raise for a bad policy:

    from esms_rules.check import check_text
    from esms_rules.load import FileSources, MemorySources

    # open buffers first (unsaved edits), then files beside the policy, then the bundled ones
    sources = MemorySources({"/ws/p.esms": buffer, "/ws/common.esms": other_buffer},
                            fallback=FileSources(Path("/ws")))
    result = check_text(buffer, "/ws/p.esms", sources)
    result.diagnostics      # every Diagnostic, errors and warnings (file, line, column, end, code…)
    result.sources          # file name -> text the diagnostics point into (snippets)
    result.facts, result.enums, result.records, result.tables, result.defs, result.rules,
    result.outputs          # the declarations the checker could type, even with errors elsewhere
    result.type_of(expr)    # the type of an expression node of `result.program`, or None
    result.policy           # the CheckedPolicy when there is no error, else None
    result.ok               # no error (warnings allowed)

The checker itself reads no file: every module text comes through the `load.Sources` given to
`check_text` (`find(module, importer) -> name | None`, `read(name) -> text`); `load.FileSources`
reads files (beside the importer, then the bundled policies, with importlib.resources) and
`load.MemorySources` serves texts held in memory, with an optional fallback. A syntax error in a
module leaves `program` None (no declarations), with the syntax diagnostics.
"""
from __future__ import annotations

import collections
import functools
import re

import attrs

from . import ast
from . import types as T
from .cite import Citations
from .diagnostics import Diagnostic, PolicyError, did_you_mean
from .infer import BUILTINS, Env, ExprChecker, Read, null_tests
from .load import Program, Sources
from .span import Span

RULE_CLAUSES = ("code", "severity", "when", "message", "source")
EXCEPTION_CLAUSES = RULE_CLAUSES + ("applies", "priority")
INTERPOLATION = re.compile(r"(?<!\\)\{([^{}]*)\}")


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

    def walk(self):
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
    def_order: tuple[str, ...]
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

    def type_of(self, expr) -> T.Type:
        return self.types[id(expr)]

    def __reduce__(self):
        # `types` is keyed by the identity of this program's nodes, which a copy does not keep:
        # a copy (pickle, cloudpickle, deepcopy) is checked again from the program it copies
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


# ---------------------------------------------------------------------------


class Checker(ExprChecker):
    def __init__(self, program: Program):
        self.program = program
        self.errors: list[Diagnostic] = []
        self.citations = Citations(program.sources)
        self.types: dict[int, T.Type] = {}
        self.enums: dict[str, T.Enum] = {}
        self.records: dict[str, T.Record] = {}
        self.facts: dict[str, T.Field] = {}
        self.codes: dict[str, str | None] = {}
        self.tables: dict[str, TableInfo] = {}
        self.defs: dict[str, DefInfo] = {}
        self.def_decls: dict[str, ast.DefDecl | ast.ParamDecl] = {}
        self.def_deps: dict[str, set] = {}
        self.rules: list[RuleInfo] = []
        self.all_rules: list[RuleInfo] = []
        self.rule_deps: dict[str, set] = {}
        self.outputs: dict[str, OutputInfo] = {}
        self.campaign_rules: list[CampaignRuleInfo] = []
        self.history: T.Record | None = None
        self._inferring: list[str] = []
        self._deps: set | None = None
        self._reads: dict | None = None
        self._repeated: list | None = None

    def cited(self, source: str | None, span: Span) -> str | None:
        """A `source` checked against the documents beside its module (cite.py), as people read it."""
        text, errors = self.citations.resolve(source, span)
        self.errors += errors
        return text

    def error(self, code, message, span, help=None, related=()):
        self.errors.append(Diagnostic(code, message, span, help, related=tuple(related)))

    def decls(self, kind):
        return [d for d, _ in self.program.decls if isinstance(d, kind)]

    # ---- stage: schema ----------------------------------------------------
    def stage_schema(self):
        for d in self.decls(ast.EnumDecl):
            twice = sorted(v for v, k in collections.Counter(d.values).items() if k > 1)   # linear in the enum
            if twice:
                self.error("duplicate-enum-value", f"enum `{d.name}` lists "
                           + ", ".join(f"`\"{v}\"`" for v in twice) + " twice", d.span)
            self.enums[d.name] = T.Enum(d.name, d.values)
        pending = self.decls(ast.RecordDecl)
        for d in pending:  # declare first so records may refer to each other
            self.records[d.name] = T.Record(d.name, ())
        for d in pending:
            fields = tuple(self.field(f) for f in d.fields)
            names = [f.name for f in fields]
            for n in set(names):
                if names.count(n) > 1:
                    self.error("duplicate-field", f"record `{d.name}` declares `{n}` twice", d.span)
            object.__setattr__(self.records[d.name], "fields", fields)
        for d in self.decls(ast.FactDecl):
            self.facts[d.name] = self.field(d)
        for d in self.decls(ast.CodesDecl):
            for e in d.entries:
                self.codes[e.code] = e.description

    def resolve_type(self, ref) -> T.Type | None:
        if isinstance(ref, ast.ListType):
            inner = self.resolve_type(ref.element)
            return None if inner is None else T.List(inner)
        base: T.Type
        if ref.name in T.SCALARS:
            base = T.Scalar(ref.name)
        elif ref.name in self.enums:
            base = self.enums[ref.name]
        elif ref.name in self.records:
            base = self.records[ref.name]
        else:
            known = list(T.SCALARS) + list(self.enums) + list(self.records)
            self.error("unknown-type", f"unknown type `{ref.name}`", ref.span, did_you_mean(ref.name, known))
            return None
        return T.Optional(base) if ref.optional else base

    def field(self, d) -> T.Field:
        t = self.resolve_type(d.type)
        c = d.constraint
        base = T.strip(t) if t is not None else None
        if isinstance(c, ast.RangeConstraint) and base is not None and not T.is_numeric(base):
            self.error("bad-constraint", f"a range needs a number, but `{d.name}` is {t}", c.span)
        if isinstance(c, ast.LengthConstraint) and base is not None and not T.is_textual(base):
            self.error("bad-constraint", f"a length needs text, but `{d.name}` is {t}", c.span)
        if d.default is not None and t is not None:
            self.literal_fits(d.default, t, f"the default of `{d.name}`")
        return T.Field(d.name, t if t is not None else T.NEVER, c, d.default, d.default is not None)

    # ---- stage: tables ------------------------------------------------------
    def stage_tables(self):
        for d in self.decls(ast.TableDecl):
            kt, vt = self.resolve_type(d.key_type), self.resolve_type(d.value_type)
            if kt is None or vt is None:
                continue
            if not (T.is_textual(kt) or kt == T.INT):
                self.error("bad-table-key", f"table keys must be text, an enum or int, not {kt}", d.key_type.span)
            mapping, first = {}, {}
            for e in d.entries:
                ok = self.literal_fits(e.key, kt, f"a key of table `{d.name}`")
                ok = self.literal_fits(e.value, vt, f"a value of table `{d.name}`") and ok
                if e.key.value in first:
                    self.error("duplicate-key", f"table `{d.name}` has key `{e.key.value}` twice", e.key.span,
                               related=(("first entry", first[e.key.value]),))
                elif ok:
                    first[e.key.value] = e.key.span
                    mapping[e.key.value] = e.value.value
            total = False
            if isinstance(kt, T.Enum):
                missing = [v for v in kt.values if v not in mapping]
                total = not missing
                if missing and len(missing) < len(kt.values):
                    self.error("incomplete-table", f"table `{d.name}` has no entry for "
                               + ", ".join(f"`{m}`" for m in missing[:5]) + ("…" if len(missing) > 5 else ""),
                               d.span, f"every value of enum `{kt.name}` needs an entry")
            self.tables[d.name] = TableInfo(d.name, kt, vt, mapping, total, self.cited(d.source, d.span), d.span)

    # ---- stage: definitions -------------------------------------------------
    def stage_defs(self):
        for d in self.decls((ast.DefDecl, ast.ParamDecl)):
            if d.name in self.facts or d.name in self.tables or d.name in BUILTINS:
                self.error("duplicate-name", f"`{d.name}` is already a fact, table or built-in", d.span)
            self.def_decls[d.name] = d
        for name in self.def_decls:
            self.def_info(name)

    def def_info(self, name) -> DefInfo | None:
        if name in self.defs:
            return self.defs[name]
        d = self.def_decls[name]
        if name in self._inferring:
            return None  # a cycle: reported by stage_cycles with every span
        if isinstance(d, ast.ParamDecl):
            t = self.resolve_type(d.type)
            info = DefInfo(name, (), t or T.NEVER, ast.Literal(None, "null", d.span), None, d.span)
            self.defs[name] = info
            self.def_deps[name] = set()
            return info
        self._inferring.append(name)
        saved = self._deps, self._reads
        self._deps, self._reads = set(), None
        params, env = [], Env()
        for p in d.params:
            pt = self.resolve_type(p.type) or T.NEVER
            params.append((p.name, pt))
            env = env.bind(p.name, pt)
        declared = self.resolve_type(d.type) if d.type is not None else None
        param = self.program.params.get(name)
        if param is not None:  # a definition giving a value to a parameter takes its type
            ptype = self.resolve_type(param.type)
            if declared is not None and ptype is not None and declared != ptype:
                self.error("type-mismatch", f"parameter `{name}` is declared {ptype}, not {declared}", d.span
                           if d.type is None else d.type.span,
                           related=(("parameter declared", param.span),))
            declared = ptype
        first = self.program.overridden.get(name)
        if isinstance(first, ast.DefDecl) and first.type is not None and param is None:
            # an override keeps the interface of what it replaces
            ftype = self.resolve_type(first.type)
            if declared is not None and ftype is not None and declared != ftype:
                self.error("type-mismatch", f"`{name}` overrides a definition of type {ftype} with type {declared}",
                           d.span if d.type is None else d.type.span, related=(("overridden definition", first.span),))
            if len(first.params) != len(d.params):
                self.error("wrong-arity", f"`{name}` overrides a definition with {len(first.params)} parameter(s) "
                           f"with one with {len(d.params)}", d.span, related=(("overridden definition", first.span),))
            declared = declared or ftype
        got = self.infer(d.expr, env)
        if declared is not None and got is not None and not T.fits(got, declared) \
                and not self.literals_fit_enum(d.expr, declared):
            self.error("type-mismatch", f"`{name}` is declared {declared} but its value is {got}", d.expr.span)
        t = declared or got or T.NEVER
        info = DefInfo(name, tuple(params), t, d.expr, self.cited(d.source, d.span), d.span)
        self.defs[name] = info
        self.def_deps[name] = self._deps
        self._deps, self._reads = saved
        self._inferring.pop()
        return info

    # ---- expressions --------------------------------------------------------
    # ---- stage: rules ------------------------------------------------------
    def stage_rules(self):
        decls = self.decls((ast.RuleDecl, ast.ExceptionDecl))
        by_name = {d.name: d for d in decls}
        children: dict[str, list] = {}
        for d in decls:
            if isinstance(d, ast.ExceptionDecl):
                if d.target not in by_name:
                    self.error("unknown-rule", f"exception `{d.name}` is to unknown rule `{d.target}`", d.span,
                               did_you_mean(d.target, by_name))
                    continue
                children.setdefault(d.target, []).append(d)
        # exception chains must end at a rule: refuse cycles of exceptions
        for d in decls:
            seen, cur = [], d
            while isinstance(cur, ast.ExceptionDecl) and cur.target in by_name:
                if cur.name in seen:
                    self.error("exception-cycle", "exceptions form a cycle: "
                               + " -> ".join(f"`{n}`" for n in seen + [cur.name]),
                               d.span, "an exception overrides a rule, or another exception, never itself")
                    return
                seen.append(cur.name)
                cur = by_name[cur.target]
        for d in decls:
            if isinstance(d, ast.RuleDecl):
                info = self.rule_info(d, None, children)
                if info is not None:
                    self.rules.append(info)
        # indices, dense and in declaration order, once every rule and exception is known
        index = {x.name: i for i, x in enumerate(x for top in self.rules for x in top.walk())}
        self.rules = [self._renumber(r, index) for r in self.rules]
        self.all_rules = [x for top in self.rules for x in top.walk()]
        lists = {}
        for r in self.rules:
            if r.binder is not None:
                lists.setdefault(r.binder.list_name, r)
        if len(lists) > 1:  # a decision reports the items of one list (the contract's `structures`)
            first, second = list(lists.values())[:2]
            self.error("multiple-item-lists", f"rules `for … in` go over `{first.binder.list_name}` and "
                       f"`{second.binder.list_name}`: a policy checks the items of one list", second.binder.span,
                       "check the other list with an aggregate in a dossier-level rule, e.g. "
                       f"`any(… for x in {second.binder.list_name})`",
                       related=(("the first list", first.binder.span),))

    def _renumber(self, r, idx):
        return attrs.evolve(r, index=idx[r.name], exceptions=tuple(self._renumber(x, idx) for x in r.exceptions))

    def check_clauses(self, d, allowed) -> None:
        seen: dict[str, Span] = {}
        for c in d.clauses:
            if c.kind not in allowed:
                self.error("misplaced-clause", f"`{c.kind}` belongs to exceptions, not rules", c.span,
                           f"declare `exception … to {d.name}` for a case that overrides this rule"
                           if not isinstance(d, ast.CampaignRuleDecl) else None)
            elif c.kind in seen:
                self.error("duplicate-clause", f"`{c.kind}` is given twice in `{d.name}`", c.span,
                           related=(("first given", seen[c.kind]),))
            seen.setdefault(c.kind, c.span)
            if c.kind == "severity" and (c.value == "info") != isinstance(d, ast.CampaignRuleDecl) \
                    and c.value in ("info", "blocking", "inadmissible"):
                self.error("bad-severity", f"`severity {c.value}` is not for "
                           + ("campaign rules" if c.value != "info" else "the rules of one dossier"), c.span,
                           "a campaign rule is `warning` or `info`: a dossier's decision never depends on the "
                           "other dossiers" if c.value != "info" else
                           "`info` is for `campaign rule`s; a rule of one dossier is `blocking`, `warning` or "
                           "`inadmissible`")

    def rule_info(self, d, parent: RuleInfo | None, children) -> RuleInfo | None:
        is_exc = isinstance(d, ast.ExceptionDecl)
        self.check_clauses(d, EXCEPTION_CLAUSES if is_exc else RULE_CLAUSES)
        binder = parent.binder if is_exc and parent is not None else getattr(d, "binder", None)
        env, item_type = Env(), None
        if binder is not None:
            lt = self.facts.get(binder.list_name)
            if lt is None or not isinstance(lt.type, T.List) or not isinstance(lt.type.element, T.Record):
                self.error("bad-binder", f"`for {binder.var} in {binder.list_name}`: `{binder.list_name}` "
                           "is not a list of records declared with `fact`", binder.span,
                           did_you_mean(binder.list_name,
                                        [n for n, f in self.facts.items() if isinstance(f.type, T.List)]))
            else:
                item_type = lt.type.element
                env = env.bind(binder.var, item_type, iteration=True)
        code = d.get("code")
        has_outcome = code is not None or d.get("when") is not None or d.get("message") is not None
        if code is not None and code not in self.codes:
            self.error("unknown-code", f"unknown reason code `{code}`", d.clause("code").span,
                       did_you_mean(code, self.codes) or "declare it in a `codes { … }` block")
        if not is_exc or has_outcome:
            # an exception's `when` is optional: without it, its outcome follows whenever it applies
            for need in ("code", "when", "message", "severity") if not is_exc else ("code", "message", "severity"):
                if d.clause(need) is None:
                    self.error(f"missing-{need}", f"{'exception' if is_exc else 'rule'} `{d.name}` has no `{need}`",
                               d.span, _MISSING_HELP[need])
        if d.clause("source") is None:
            self.error("missing-citation", f"{'exception' if is_exc else 'rule'} `{d.name}` cites no source",
                       d.span, "add `source \"<instruction>, <section>: « <sentence> »\"`: auditors need it")
        if is_exc and d.clause("applies") is None:
            self.error("missing-applies", f"exception `{d.name}` does not say when it `applies`", d.span)
        # an exception that only lifts its rule has no severity; a coded one defaults to its rule's
        severity = d.get("severity", parent.severity if parent is not None else "blocking") \
            if has_outcome or not is_exc else None
        self._deps, self._reads, self._repeated = set(), {}, []
        when = d.get("when")
        applies = d.get("applies")
        if applies is not None:
            self.expect(applies, env, lambda t: t == T.BOOL, "a condition (bool)")
        if when is not None:
            self.expect(when, env, lambda t: t == T.BOOL, "a condition (bool)")
        # a message is shown only when the rule fires: what `applies` and `when` test holds there
        msg_env = env
        for cond in (applies, when):
            if cond is not None:
                msg_env = msg_env.narrow(null_tests(cond)[0])
        message = self.message_parts(d, msg_env)
        deps, reads, repeated = self._deps, self._reads, self._repeated
        # keep the most precise paths: `software.segur_referenced` rather than all of `software`
        reads = {k: v for k, v in reads.items() if not any(o.startswith(k + ".") for o in reads)}
        self._deps, self._reads, self._repeated = None, None, None
        self.rule_deps[d.name] = deps
        source = self.cited(d.get("source"), (d.clause("source") or d).span)
        info = RuleInfo(d.name, 0, binder, item_type, code, severity, when, applies, d.get("priority"),
                        message, source, d.target if is_exc else None, (), tuple(reads.values()),
                        tuple(repeated), d.span)
        kids = children.get(d.name, [])
        if len(kids) > 1:
            by_priority: dict[int, list] = {}
            unordered = [k for k in kids if k.get("priority") is None]
            for k in kids:
                p = k.get("priority")
                if p is None and k is unordered[0]:  # one diagnostic naming every competitor
                    others = [o for o in kids if o is not k]
                    self.error("exceptions-without-priority",
                               f"exceptions `{k.name}` and `{others[0].name}` to `{d.name}` can both apply, "
                               "with no priority between them", k.span,
                               "give each a distinct `priority N`: the highest one that applies wins",
                               related=tuple(("competing exception", o.span) for o in others))
                elif p is not None:
                    by_priority.setdefault(p, []).append(k)
            for p, same in by_priority.items():
                if len(same) > 1:
                    self.error("exceptions-without-priority",
                               f"exceptions `{same[0].name}` and `{same[1].name}` to `{d.name}` both have priority {p}",
                               same[1].span, "priorities of exceptions to one rule must differ",
                               related=(("same priority", same[0].span),))
        found = (self.rule_info(k, info, children) for k in kids)
        excs = sorted((x for x in found if x is not None), key=lambda x: -(x.priority or 0))
        return attrs.evolve(info, exceptions=tuple(excs))

    def message_parts(self, d, env) -> tuple:
        text = d.get("message")
        if text is None:
            return ()
        span = d.clause("message").span
        parts = []
        raw = self.program.sources.get(span.file, "")[span.start:span.end]
        column = span.column + raw.find('"') if '"' in raw else span.column   # of the string's quote
        for piece in ast.message_pieces(text):
            if isinstance(piece, str):
                parts.append(piece)
                continue
            src, start, end = piece[0].strip(), piece[1], piece[2]
            sub_span = Span(span.file, span.line, column + 1 + start, span.line,
                            column + 1 + end, span.start, span.end)
            try:
                from .parse import parse_expression
                expr = parse_expression(src, span.file)
                expr = _relocate(expr, sub_span)
            except PolicyError:
                self.error("bad-interpolation", f"`{{{src}}}` in the message is not an expression", sub_span,
                           "write a name or a path between braces, e.g. `{n}` or `{s.finess}`; `\\{` for a brace")
                parts.append("")
                continue
            self.infer(expr, env)
            parts.append(expr)
        return tuple(parts)

    # ---- stage: outputs ----------------------------------------------------
    def stage_outputs(self):
        for d in self.decls(ast.OutputDecl):
            env = Env({"eligible": T.BOOL})   # outputs are computed after every rule
            if d.binder is not None:
                lt = self.facts.get(d.binder.list_name)
                if lt is None or not isinstance(lt.type, T.List):
                    self.error("bad-binder", f"`{d.binder.list_name}` is not a list fact", d.binder.span)
                    continue
                env = env.bind(d.binder.var, lt.type.element)
            self._deps = set()
            t = self.infer(d.expr, env)
            self.rule_deps["output " + d.name] = self._deps
            self._deps = None
            if t is not None:
                self.outputs[d.name] = OutputInfo(d.name, d.binder, t, d.expr, d.span)

    # ---- stage: campaign rules (docs/campaign.md) ---------------------------
    def stage_campaign(self):
        histories = [d for d in self.decls(ast.RecordDecl) if d.history]
        for extra in histories[1:]:
            self.error("duplicate-history", f"`history record {extra.name}`: the history is already "
                       f"`{histories[0].name}`", extra.span, related=(("first declared", histories[0].span),))
        if histories:
            self.history = self.records.get(histories[0].name)
            dossier = self.history.field("dossier") if self.history is not None else None
            if self.history is not None and (dossier is None or not T.is_textual(dossier.type)):
                self.error("history-without-dossier", f"history record `{histories[0].name}` has no field "
                           "`dossier: text`", histories[0].span,
                           "each funded structure names the dossier that funded it: add `dossier: text`")
        for d in self.decls(ast.CampaignRuleDecl):
            info = self.campaign_info(d)
            if info is not None:
                self.campaign_rules.append(info)

    def campaign_info(self, d: ast.CampaignRuleDecl) -> CampaignRuleInfo | None:
        self.check_clauses(d, RULE_CLAUSES)
        for need in ("code", "severity", "when", "message"):
            if d.clause(need) is None:
                self.error(f"missing-{need}", f"campaign rule `{d.name}` has no `{need}`", d.span,
                           _MISSING_HELP[need].replace("`severity blocking`, ", ""))
        if d.clause("source") is None:
            self.error("missing-citation", f"campaign rule `{d.name}` cites no source", d.span,
                       "add `source \"[C|I|GAP] document, place : text\"`: auditors need it")
        code = d.get("code")
        code_clause = d.clause("code")
        if code_clause is not None and code not in self.codes:
            self.error("unknown-code", f"unknown reason code `{code}`", code_clause.span,
                       did_you_mean(code, self.codes) or "declare it in a `codes { … }` block")
        rows = d.rows
        # the scope of one row: the dossier's facts and definitions, its decision, its item
        env = Env({"eligible": T.BOOL, "recevable": T.BOOL})
        item_type = None
        if rows.var is not None:
            lt = self.facts.get(str(rows.list_name))
            if lt is None or not isinstance(lt.type, T.List) or not isinstance(lt.type.element, T.Record):
                self.error("bad-binder", f"`{rows.var} in {rows.list_name}`: `{rows.list_name}` is not a list "
                           "of records declared with `fact`", rows.span,
                           did_you_mean(str(rows.list_name),
                                        [n for n, f in self.facts.items() if isinstance(f.type, T.List)]))
                return None
            item_type = lt.type.element
            env = env.bind(rows.var, item_type)
        if rows.condition is not None:
            self.expect(rows.condition, env, lambda t: t == T.BOOL, "a condition (bool)")
            env = env.narrow(null_tests(rows.condition)[0])
        keys: tuple[ast.Expr, ...] = ()
        history_keys: tuple[ast.Expr, ...] = ()
        clause_env = env
        if d.form == "group":
            assert d.key is not None
            keys = (d.key,)
            self.campaign_key(d.key, env)
            clause_env = env.bind("others", T.List(T.TEXT))
        elif d.form == "join":
            assert d.on is not None and d.join_var is not None
            if self.history is None:
                self.error("no-history", f"campaign rule `{d.name}` joins the history, but no "
                           "`history record … { … }` is declared", d.on.span,
                           "declare the columns of the funded-structures file: `history record funded { … }`")
                return None
            pairs = self.join_keys(d, env)
            if pairs is None:
                return None
            keys, history_keys = tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)
            if d.join_where is not None:
                self.expect(d.join_where, env.bind(d.join_var, self.history), lambda t: t == T.BOOL,
                            "a condition (bool)")
            clause_env = env.bind("matches", T.List(self.history))
        else:
            # `count`: the clauses see the total, never one dossier's facts
            clause_env = Env({"total": T.INT})
        saved, before = (self.facts, self.def_decls), len(self.errors)
        if d.form == "count":
            self.facts, self.def_decls = {}, {}
        try:
            when = d.get("when")
            if when is not None:
                self.expect(when, clause_env, lambda t: t == T.BOOL, "a condition (bool)")
                clause_env = clause_env.narrow(null_tests(when)[0])
            message = self.message_parts(d, clause_env)
        finally:
            self.facts, self.def_decls = saved
        if d.form == "count":   # say why a fact or definition is not in scope there
            self.errors[before:] = [
                attrs.evolve(e, help="the clauses of a `count` rule see `total`, the number of rows over the "
                             "campaign, never one dossier's facts or definitions")
                if e.code == "unknown-name" and e.help is None else e for e in self.errors[before:]]
        source = self.cited(d.get("source"), (d.clause("source") or d).span)
        severity = d.get("severity")
        if code is None or when is None or severity not in ("warning", "info"):
            return None
        return CampaignRuleInfo(d.name, d.form, rows.var, rows.list_name, item_type, rows.condition, keys,
                                d.join_var, history_keys, d.join_where, code, severity, when, message, source,
                                d.span)

    def campaign_key(self, e: ast.Expr, env: Env) -> T.Type | None:
        """A key rows are grouped or joined on: a value that is never null, compared with `==`."""
        return self.expect(e, env, lambda t: T.is_textual(t) or t in (T.INT, T.BOOL, T.DATE),
                           "a key: text, an enum value, a whole number, a date or a bool")

    def join_keys(self, d: ast.CampaignRuleDecl, env: Env) -> list[tuple[ast.Expr, ast.Expr]] | None:
        """`on h.a == x and h.b == y`: the pairs (row side, history side) of its equalities."""
        assert d.on is not None and d.join_var is not None and self.history is not None
        conjuncts, stack = [], [d.on]
        while stack:
            e = stack.pop()
            if isinstance(e, ast.Binary) and e.op == "and":
                stack += [e.right, e.left]
            else:
                conjuncts.append(e)
        pairs = []
        history_env = Env({d.join_var: self.history})
        for e in conjuncts:
            sides = [e.left, e.right] if isinstance(e, ast.Binary) and e.op == "==" else []
            mentions = [d.join_var in _free_names(x) for x in sides]
            if mentions.count(True) != 1:
                self.error("bad-join", "`on` joins with equalities `" + d.join_var + ".field == value`, joined "
                           "by `and`", e.span,
                           f"each equality compares a field of the history row `{d.join_var}` with a value of "
                           "this row: the join is one look-up in a hash table, never a scan")
                return None
            hist, row = (sides[0], sides[1]) if mentions[0] else (sides[1], sides[0])
            outside = _free_names(hist) - {d.join_var}
            if outside:
                self.error("bad-join", f"the history side of `==` may only read `{d.join_var}`, not "
                           + ", ".join(f"`{n}`" for n in sorted(outside)), hist.span)
                return None
            saved = self.facts, self.def_decls
            self.facts, self.def_decls = {}, {}
            try:
                ht = self.campaign_key(hist, history_env)
            finally:
                self.facts, self.def_decls = saved
            rt = self.campaign_key(row, env)
            if ht is not None and rt is not None and T.join(ht, rt) is None \
                    and not (T.is_textual(ht) and T.is_textual(rt)):
                self.error("type-mismatch", f"cannot join {ht} with {rt}", e.span)
                return None
            pairs.append((row, hist))
        return pairs

    # ---- stage: params and cycles -----------------------------------------
    def stage_header(self):
        header = self.program.header
        if header is not None and any(c < " " or c == "\x7f" for c in header.name):
            shown = header.name.encode("unicode_escape").decode("ascii")
            self.error("bad-policy-id", f"the policy id `{shown}` contains a control character",
                       header.span, "a policy id names files, hashes and decisions: use letters, digits and `-`")

    def stage_params(self):
        if self.program.header is None:
            return  # a library module may leave parameters for the policies that import it
        for name, d in self.def_decls.items():
            if isinstance(d, ast.ParamDecl):
                self.error("unset-param", f"parameter `{name}` has no value in policy `{self.program.header.name}`",
                           self.program.header.span,
                           f"add `def {name} = …` (use `null` for a value the sources do not give)",
                           related=(("declared", d.span),))

    def stage_cycles(self):
        # nodes: definitions, and ("passes", record) standing for the item rules of that record
        graph: dict = {name: set(deps) for name, deps in self.def_deps.items()}
        for r in self.rules:
            if r.binder is not None and r.item_type is not None:
                key = ("passes", r.item_type.name)
                for x in r.walk():
                    graph.setdefault(key, set()).update(self.rule_deps.get(x.name, ()))
        spans = {name: self.def_decls[name].span for name in self.def_decls}
        state: dict = {}
        reported = set()

        def visit(node, stack):
            state[node] = 1
            stack.append(node)
            for nxt in sorted(graph.get(node, ()), key=str):
                if state.get(nxt) == 1:
                    cycle = stack[stack.index(nxt):] + [nxt]
                    key = frozenset(map(str, cycle))
                    if key not in reported:
                        reported.add(key)
                        at = {n: spans.get(n) or self._closing_rule_span(n, cycle[i + 1])
                              for i, n in enumerate(cycle[:-1])}
                        closer = self._closes(cycle[:-1], at)   # reported where the author wrote it
                        cycle = cycle[cycle.index(closer):-1] + cycle[:cycle.index(closer) + 1]
                        names = [_node_name(n) for n in cycle]
                        self.error("cyclic-definition", "definitions depend on themselves: " + " -> ".join(names),
                                   at[closer], "a definition may not use itself, directly or through others",
                                   related=tuple((f"{_node_name(n)} is defined", at[n]) for n in cycle[1:-1]))
                elif state.get(nxt) is None:
                    visit(nxt, stack)
            stack.pop()
            state[node] = 2

        for node in list(graph):
            if state.get(node) is None:
                visit(node, [])
        self.graph = graph

    def _closing_rule_span(self, node, nxt) -> Span:
        """For ("passes", record): the item rule through which it depends on `nxt`."""
        for r in self.rules:
            if r.binder is not None and r.item_type is not None and ("passes", r.item_type.name) == node:
                if any(nxt in self.rule_deps.get(x.name, ()) for x in r.walk()):
                    return r.span
        return self.rules[0].span

    def _closes(self, cycle: list, at: dict):
        """The node of a cycle to report it at: the one declared in the latest loaded module
        (the file being written: the root policy rather than a module it imports)."""
        order = {m.file: i for i, m in enumerate(self.program.modules)}
        return max(cycle, key=lambda n: (order.get(at[n].file, -1), -cycle.index(n)))

    def def_order(self) -> tuple:
        order, done = [], set()

        def visit(node):
            if node in done:
                return
            done.add(node)
            for nxt in sorted(self.graph.get(node, ()), key=str):
                visit(nxt)
            order.append(node)

        for name in self.def_decls:
            visit(name)
        for key in list(self.graph):
            visit(key)
        return tuple(order)

    STAGES = ("header", "schema", "tables", "defs", "rules", "outputs", "campaign", "params", "cycles")

    def run_stages(self) -> None:
        self._repeated = None
        for stage in self.STAGES:
            getattr(self, "stage_" + stage)()

    def run(self) -> CheckedPolicy:
        self.run_stages()
        if self.errors:
            raise PolicyError(self.errors, self.program.sources)
        return self.checked()

    def checked(self) -> CheckedPolicy:
        header = self.program.header
        warnings = self.shared_codes()
        return CheckedPolicy(
            program=self.program,
            id=header.name if header else self.program.root.name,
            header={f.name: f.value.value for f in header.fields} if header else {},
            enums=self.enums, records=self.records,
            facts=T.Record("dossier", tuple(self.facts.values())),
            codes=self.codes, tables=self.tables, defs=self.defs,
            def_order=self.def_order(), rules=tuple(self.rules), all_rules=tuple(self.all_rules),
            outputs=self.outputs, types=self.types, warnings=tuple(warnings),
            campaign_rules=tuple(self.campaign_rules), history=self.history)

    def shared_codes(self) -> list[Diagnostic]:
        """Warnings: two rules (or exceptions) that raise the same code, which a reader of the
        decision then cannot tell apart."""
        first: dict[str, RuleInfo] = {}
        out = []
        for r in self.all_rules:
            if r.code is None:
                continue
            if r.code in first:
                prev = first[r.code]
                out.append(Diagnostic("shared-code", f"`{r.name}` raises `{r.code}`, as `{prev.name}` does", r.span,
                                      "give each rule its own code (declared in `codes { … }`), so that a "
                                      "decision says which rule fired", "warning",
                                      related=((f"`{prev.name}` raises it", prev.span),)))
            else:
                first[r.code] = r
        return out


_MISSING_HELP = {
    "code": "add `code SOME_CODE` with a code declared in `codes { … }`",
    "when": "add `when <condition>`: the rule fires when it holds",
    "message": "add `message \"…\"`, in French, with `{name}` to show values",
    "severity": "add `severity blocking`, `severity warning` or `severity inadmissible`",
}


def _node_name(n):
    return f"rules for each `{n[1]}`" if isinstance(n, tuple) else f"`{n}`"


def _free_names(e: ast.Expr) -> set[str]:
    """The names an expression reads that no generator inside it binds."""
    out: set[str] = set()
    stack: list[tuple[ast.Expr, frozenset[str]]] = [(e, frozenset())]
    while stack:
        node, bound = stack.pop()
        if isinstance(node, ast.Name):
            if node.name not in bound:
                out.add(node.name)
            continue
        if isinstance(node, ast.Generator):
            stack.append((node.source, bound))
            inner = bound | {node.var}
            stack += [(node.element, inner)] + ([(node.condition, inner)] if node.condition is not None else [])
            continue
        stack += [(c, bound) for c in ast.children(node)]
    return out


def _relocate(expr, span):
    """Give every node of an interpolated expression the span of its `{…}` in the message."""
    changes = {}
    for f in attrs.fields(type(expr)):
        v = getattr(expr, f.name)
        if f.name == "span":
            changes["span"] = span
        elif attrs.has(type(v)):
            changes[f.name] = _relocate(v, span)
        elif isinstance(v, tuple) and v and attrs.has(type(v[0])):
            changes[f.name] = tuple(_relocate(x, span) for x in v)
    return attrs.evolve(expr, **changes)


def _too_deep(program: Program) -> Diagnostic:
    return Diagnostic("too-deep", "definitions depend on each other too deeply to be checked",
                      Span.point(program.root.file, 1, 1),
                      "declare definitions after those they use, and split very long chains")


def check(program: Program) -> CheckedPolicy:
    """Run every stage; raise PolicyError listing all diagnostics, or return the checked policy."""
    try:
        return Checker(program).run()
    except RecursionError:   # e.g. hundreds of definitions, each using the one declared after it
        raise PolicyError([_too_deep(program)], program.sources) from None


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


def check_partial(program: Program) -> CheckResult:
    """Every stage, without raising for the policy's errors: all that could be typed, and the
    diagnostics; `policy` is the CheckedPolicy when there is no error."""
    checker = Checker(program)
    try:
        checker.run_stages()
    except RecursionError:
        return CheckResult((_too_deep(program),), program.sources, program)
    policy = None if checker.errors else checker.checked()
    found = checker.errors + (list(policy.warnings) if policy is not None else checker.shared_codes())
    diagnostics = tuple(PolicyError(found).diagnostics)   # sorted by place
    return CheckResult(diagnostics, program.sources, program, checker.enums, checker.records, dict(checker.facts),
                       checker.codes, checker.tables, checker.defs, tuple(checker.all_rules), checker.outputs,
                       checker.types, policy)


def check_text(text: str, file: str, sources: Sources | None = None) -> CheckResult:
    """Link `text` (named `file`) with its imports from `sources`, and check it: never raises
    PolicyError; a module that does not parse or link gives its diagnostics and no program."""
    from .load import link
    try:
        program = link(text, file, sources=sources)
    except PolicyError as e:
        return CheckResult(tuple(e.diagnostics), e.sources or {file: text})
    return check_partial(program)
