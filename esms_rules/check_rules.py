"""The checker's stage `rules`: rules and their exceptions, their clauses and messages.

`RuleStage` is a part of `check.Checker` (which runs the stages in order and holds the state
declared below); the stage `campaign` (check_campaign.py) reuses its clauses and messages.
Each rule becomes a `RuleInfo` (check_result.py) with its exceptions, ordered by priority, and
what it reads for traces.
"""
from __future__ import annotations

import abc
from typing import Any

import attrs

from . import ast
from . import types as T
from .check_result import RuleInfo
from .diagnostics import Diagnostic, PolicyError, did_you_mean
from .infer import Env, ExprChecker, null_tests
from .load import Program
from .span import Span

RULE_CLAUSES = ("code", "severity", "when", "message", "source")
EXCEPTION_CLAUSES = RULE_CLAUSES + ("applies", "priority")

_MISSING_HELP = {
    "code": "add `code SOME_CODE` with a code declared in `codes { … }`",
    "when": "add `when <condition>`: the rule fires when it holds",
    "message": "add `message \"…\"`, in French, with `{name}` to show values",
    "severity": "add `severity blocking`, `severity warning` or `severity inadmissible`",
}


class RuleStage(ExprChecker):
    """Rules and exceptions -> `rules`, `all_rules` and what each depends on (`rule_deps`)."""

    program: Program
    errors: list[Diagnostic]
    codes: dict[str, str | None]
    rules: list[RuleInfo]
    all_rules: list[RuleInfo]
    rule_deps: dict[str, set[Any]]

    @abc.abstractmethod
    def cited(self, source: str | None, span: Span) -> str | None: ...

    @abc.abstractmethod
    def decls(self, kind: Any) -> list[Any]: ...

    # ---- stage: rules ------------------------------------------------------
    def stage_rules(self) -> None:
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
            seen: list[str] = []
            cur = d
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
        lists: dict[str, ast.Binder] = {}   # list name -> the binder of its first rule
        for r in self.rules:
            if r.binder is not None:
                lists.setdefault(r.binder.list_name, r.binder)
        if len(lists) > 1:  # a decision reports the items of one list (the contract's `structures`)
            first, second = list(lists.values())[:2]
            self.error("multiple-item-lists", f"rules `for … in` go over `{first.list_name}` and "
                       f"`{second.list_name}`: a policy checks the items of one list", second.span,
                       "check the other list with an aggregate in a dossier-level rule, e.g. "
                       f"`any(… for x in {second.list_name})`",
                       related=(("the first list", first.span),))

    def _renumber(self, r: RuleInfo, idx: dict[str, int]) -> RuleInfo:
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

