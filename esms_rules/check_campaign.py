"""The checker's stage `campaign`: `campaign rule`s over the set of dossiers and the
`history record` they join (docs/campaign.md).

`CampaignStage` is a part of `check.Checker`, after the stage `rules` whose clause and message
checks it reuses. Each campaign rule becomes a `CampaignRuleInfo` (check_result.py): how its
rows combine (group, join, count), and its clauses typed in the scope of one row.
"""
from __future__ import annotations

import re

import attrs

from . import ast
from . import types as T
from .check_result import CampaignRuleInfo
from .check_rules import _MISSING_HELP, RULE_CLAUSES, RuleStage
from .diagnostics import Diagnostic, did_you_mean
from .infer import Env, null_tests


class CampaignStage(RuleStage):
    """Campaign rules -> `campaign_rules`; the history record -> `history`."""

    records: dict[str, T.Record]
    campaign_rules: list[CampaignRuleInfo]
    history: T.Record | None
    def_deps: dict[str, set]

    def stage_campaign(self) -> None:
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
            self.facts, self.def_decls = {}, self.constants()
        try:
            when = d.get("when")
            if when is not None:
                self.expect(when, clause_env, lambda t: t == T.BOOL, "a condition (bool)")
                clause_env = clause_env.narrow(null_tests(when)[0])
            message = self.message_parts(d, clause_env)
        finally:
            self.facts, self.def_decls = saved
        if d.form == "count":   # say why a fact or definition is not in scope there
            self.errors[before:] = [self.outside_dossier(e, "the clauses of a `count` rule see `total`, the number "
                                                         "of rows over the campaign")
                                    for e in self.errors[before:]]
        source = self.cited(d.get("source"), (d.clause("source") or d).span)
        severity = d.get("severity")
        if code is None or when is None or severity not in ("warning", "info"):
            return None
        return CampaignRuleInfo(d.name, d.form, rows.var, rows.list_name, item_type, rows.condition, keys,
                                d.join_var, history_keys, d.join_where, code, severity, when, message, source,
                                d.span)

    def constants(self) -> dict[str, ast.DefDecl | ast.ParamDecl]:
        """The definitions that read nothing of a dossier (no fact, no `passes`, only such
        definitions): those a campaign's clauses may use outside a dossier's row."""
        known: dict[str, bool] = {}

        def constant(name: str) -> bool:
            if name not in known:
                known[name] = False       # a cycle is no constant (stage_cycles reports it)
                d = self.def_decls[name]
                free = set() if isinstance(d, ast.ParamDecl) else _free_names(d.expr) - {p.name for p in d.params}
                known[name] = not (free & self.facts.keys()) and all(
                    isinstance(n, str) and (n not in self.def_decls or constant(n))
                    for n in self.def_deps.get(name, ()))
            return known[name]
        return {n: d for n, d in self.def_decls.items() if constant(n)}

    def outside_dossier(self, e: Diagnostic, sees: str) -> Diagnostic:
        """An unknown name where no dossier is in scope: say so when it is a fact or a definition
        that reads one."""
        m = re.fullmatch(r"unknown (?:name|function) `(\w+)`", e.message)
        if e.code not in ("unknown-name", "unknown-function") or m is None:
            return e
        name = m.group(1)
        what = (f"`{name}` is a fact of one dossier" if name in self.facts else
                f"definition `{name}` reads the facts of one dossier" if name in self.def_decls else None)
        if what is None:
            return e if e.help is not None else attrs.evolve(e, help=sees + " and the policy's constants")
        return attrs.evolve(e, message=what + ", and no dossier is in scope here",
                            help=sees + " and the definitions that read no dossier (constants, tables), never "
                            "one dossier's facts or the definitions that read them")

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
            constants = self.constants()
            outside = _free_names(hist) - {d.join_var} - constants.keys() - self.tables.keys()
            if outside:
                self.error("bad-join", f"the history side of `==` may only read `{d.join_var}` and the policy's "
                           "constants, not " + ", ".join(f"`{n}`" for n in sorted(outside)), hist.span)
                return None
            saved, before = (self.facts, self.def_decls), len(self.errors)
            self.facts, self.def_decls = {}, constants
            try:
                ht = self.campaign_key(hist, history_env)
            finally:
                self.facts, self.def_decls = saved
            self.errors[before:] = [self.outside_dossier(e, f"the history side of `on` sees the history row "
                                                         f"`{d.join_var}`") for e in self.errors[before:]]
            rt = self.campaign_key(row, env)
            if ht is not None and rt is not None and T.join(ht, rt) is None \
                    and not (T.is_textual(ht) and T.is_textual(rt)):
                self.error("type-mismatch", f"cannot join {ht} with {rt}", e.span)
                return None
            pairs.append((row, hist))
        return pairs


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

