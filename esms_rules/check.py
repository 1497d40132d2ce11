"""Linked program -> CheckedPolicy. Rejects every name and type error before anything runs.

The checker runs named stages in order (see STAGES); each adds diagnostics and fills the
CheckedPolicy. A later stage runs even when an earlier one found errors, so that an author
sees every problem at once, but nothing is compiled unless the whole list is empty.

One `Checker` runs them, built in layers, one concern each: infer.py types expressions;
check_rules.py is the stage `rules` (rules, exceptions, clauses, messages); check_campaign.py
the stage `campaign`; this module the other stages (header, schema, tables, defs, outputs,
params, cycles), the driver and the entry points. What the checker produces (`CheckedPolicy`,
the `…Info` classes, `CheckResult`) is in check_result.py, and importable from here.

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
from collections.abc import Iterable
from typing import Any

from . import ast
from . import types as T
from .check_campaign import CampaignStage
from .check_result import CampaignRuleInfo, CheckedPolicy, CheckResult, DefInfo, Node, OutputInfo, RuleInfo, TableInfo
from .check_rules import EXCEPTION_CLAUSES, RULE_CLAUSES
from .cite import Citations
from .diagnostics import Diagnostic, PolicyError, did_you_mean
from .infer import BUILTINS, Env
from .load import Program, Sources
from .span import Span

__all__ = ["EXCEPTION_CLAUSES", "RULE_CLAUSES", "CampaignRuleInfo", "CheckResult", "CheckedPolicy", "Checker",
           "DefInfo", "OutputInfo", "RuleInfo", "TableInfo", "check", "check_partial", "check_text"]


class Checker(CampaignStage):
    """Runs the stages (STAGES) over a linked program: the expressions' types come from
    infer.ExprChecker, the stages `rules` and `campaign` from check_rules.py and
    check_campaign.py, the others are here."""

    def __init__(self, program: Program) -> None:
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

    def error(self, code: str, message: str, span: Span, help: str | None = None,
              related: Iterable[Any] = ()) -> None:
        self.errors.append(Diagnostic(code, message, span, help, related=tuple(related)))

    def decls(self, kind: Any) -> list[Any]:
        return [d for d, _ in self.program.decls if isinstance(d, kind)]

    # ---- stage: schema ----------------------------------------------------
    def stage_schema(self) -> None:
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
    def stage_tables(self) -> None:
        for d in self.decls(ast.TableDecl):
            kt, vt = self.resolve_type(d.key_type), self.resolve_type(d.value_type)
            if kt is None or vt is None:
                continue
            if not (T.is_textual(kt) or kt == T.INT):
                self.error("bad-table-key", f"table keys must be text, an enum or int, not {kt}", d.key_type.span)
            mapping: dict[Any, Any] = {}
            first: dict[Any, Span] = {}
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
    def stage_defs(self) -> None:
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

    # ---- stage: outputs ----------------------------------------------------
    def stage_outputs(self) -> None:
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

    # ---- stage: header ----------------------------------------------------
    def stage_header(self) -> None:
        header = self.program.header
        if header is not None and any(c < " " or c == "\x7f" for c in header.name):
            shown = header.name.encode("unicode_escape").decode("ascii")
            self.error("bad-policy-id", f"the policy id `{shown}` contains a control character",
                       header.span, "a policy id names files, hashes and decisions: use letters, digits and `-`")

    # ---- stages: params and cycles ------------------------------------------
    def stage_params(self) -> None:
        if self.program.header is None:
            return  # a library module may leave parameters for the policies that import it
        for name, d in self.def_decls.items():
            if isinstance(d, ast.ParamDecl):
                self.error("unset-param", f"parameter `{name}` has no value in policy `{self.program.header.name}`",
                           self.program.header.span,
                           f"add `def {name} = …` (use `null` for a value the sources do not give)",
                           related=(("declared", d.span),))

    def stage_cycles(self) -> None:
        # nodes: definitions, and ("passes", record) standing for the item rules of that record
        graph: dict[Node, set[Node]] = {name: set(deps) for name, deps in self.def_deps.items()}
        for r in self.rules:
            if r.binder is not None and r.item_type is not None:
                key = ("passes", r.item_type.name)
                for x in r.walk():
                    graph.setdefault(key, set()).update(self.rule_deps.get(x.name, ()))
        spans: dict[Node, Span] = {name: self.def_decls[name].span for name in self.def_decls}
        state: dict[Node, int] = {}
        reported = set()

        def visit(node: Node, stack: list[Node]) -> None:
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

    def _closing_rule_span(self, node: Node, nxt: Node) -> Span:
        """For ("passes", record): the item rule through which it depends on `nxt`."""
        for r in self.rules:
            if r.binder is not None and r.item_type is not None and ("passes", r.item_type.name) == node:
                if any(nxt in self.rule_deps.get(x.name, ()) for x in r.walk()):
                    return r.span
        return self.rules[0].span

    def _closes(self, cycle: list[Node], at: dict[Node, Span]) -> Node:
        """The node of a cycle to report it at: the one declared in the latest loaded module
        (the file being written: the root policy rather than a module it imports)."""
        order = {m.file: i for i, m in enumerate(self.program.modules)}
        return max(cycle, key=lambda n: (order.get(at[n].file, -1), -cycle.index(n)))

    def def_order(self) -> tuple[Node, ...]:
        order, done = [], set()

        def visit(node: Node) -> None:
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
        out: list[Diagnostic] = []
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


def _node_name(n):
    return f"rules for each `{n[1]}`" if isinstance(n, tuple) else f"`{n}`"


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
