"""`esms-rules check --analyze`: what an author wants to know beyond type errors.

Over dossiers drawn at the policy's own constants (`search.Space`), the reference
interpreter is run with every rule condition and every exception's `applies` evaluated
(also those that an earlier exception or the priorities would skip), which gives:

- ``exception-overlap``: two exceptions to one rule that apply to the same dossier (or the same
  structure) at once, with a witness dossier, even when priorities order them;
- ``never-fires``: a rule or exception with a code that never fired, an exception without a
  code that never applied, within the bound (number of dossiers tried, list sizes);
- ``always-true``: a `when` or `applies` condition that held on every evaluation within the bound.

The campaign rules (docs/campaign.md) get the last two: `never-fires` and `always-true` of
their `when`, over campaigns made of the drawn dossiers (of 1, 2, 3, 5, 8, 13 and 21 dossiers,
in turn), a join's history drawn at the constants too, one history row in two taking its keys
from a row so that the join can match; a `count` rule's `when` is evaluated at totals drawn
like any whole number (0, and the policy's constants ± 1).

These are warnings (the policy still checks), each with its witness or its bound: a search
is not a proof. An author silences one with a comment on the line above the declaration or
inside it: ``# analyze: allow overlap`` (or ``allow never``, ``allow always``; several kinds
may follow ``allow``, separated by commas or spaces).
"""
from __future__ import annotations

import json
import re
from itertools import combinations

from . import ast
from . import types as T
from .campaign import _Campaign, _dossier, _group, _join, _Plan, _rows, _typed_rows
from .check import CampaignRuleInfo, CheckedPolicy, RuleInfo
from .diagnostics import Diagnostic, DossierError
from .interpret import _Interpreter
from .search import Space, shrink
from .validate import Validator

ALLOW = re.compile(r"#\s*analyze\s*:\s*allow\s+([a-z ,]+)")
KINDS = {"overlap": "exception-overlap", "never": "never-fires", "always": "always-true"}


class _Probe(_Interpreter):
    """The reference interpreter, noting every condition's value and every rule that fired."""

    def __init__(self, policy, facts):
        super().__init__(policy, facts)
        self.seen: dict = {}          # (rule name, "when"|"applies") -> set of bools
        self.fired_names: set = set()
        self.applied: set = set()
        self.overlaps: set = set()    # (rule, exception, exception)

    def _test(self, r: RuleInfo, clause: str, expr, env):
        try:
            v = bool(self.value_of(expr, env))
        except (TypeError, KeyError, AttributeError):   # a condition read outside its guard
            return None
        self.seen.setdefault((r.name, clause), set()).add(v)
        return v

    def rule(self, r: RuleInfo, env, item):
        applying = [x.name for x in r.exceptions if self._test(x, "applies", x.applies, env)]
        self.applied.update(applying)
        for a, b in combinations(applying, 2):
            self.overlaps.add((r.name, a, b))
        if r.when is not None:
            self._test(r, "when", r.when, env)
        super().rule(r, env, item)

    def fire(self, r: RuleInfo, env, item):
        self.fired_names.add(r.name)
        super().fire(r, env, item)


def _probe(policy: CheckedPolicy, validator: Validator, dossier: dict) -> _Probe | None:
    try:
        facts, _ = validator.convert(dossier)
    except DossierError:
        return None
    p = _Probe(policy, facts)
    p.run()
    return p


def allowed(policy: CheckedPolicy) -> dict:
    """rule or exception name -> the kinds of warning its comments allow."""
    comments: dict[str, list] = {}
    for m in policy.program.modules:
        for c in m.comments:
            found = ALLOW.search(c.text if c.text.startswith("#") else "#" + c.text)
            if found:
                kinds = {k for k in re.split(r"[ ,]+", found.group(1).strip()) if k}
                comments.setdefault(m.file, []).append((c.span.line, kinds))
    out: dict[str, set] = {}
    named: list[RuleInfo | CampaignRuleInfo] = [*policy.all_rules, *policy.campaign_rules]
    for r in named:
        s = r.span
        for line, kinds in comments.get(s.file, ()):
            if s.line - 1 <= line <= s.end_line:
                out.setdefault(r.name, set()).update(kinds)
    return out


def analyze(policy: CheckedPolicy, *, searches: int = 800, seed: int = 0, max_items: int = 60,
            shrink_budget: int = 200) -> list[Diagnostic]:
    """Warnings about `policy` (a checked policy with a header), each with a witness or a bound."""
    validator = Validator(policy.facts)
    space = Space([policy], seed=seed, max_items=max_items)
    seen: dict = {}
    fired: set = set()
    applied: set = set()
    overlaps: dict = {}
    tried = 0
    valid: list[dict] = []
    for _ in range(searches):
        d = space.draw()
        p = _probe(policy, validator, d)
        if p is None:
            continue
        tried += 1
        if policy.campaign_rules and len(valid) < CAMPAIGN_DOSSIERS:
            valid.append(d)
        for k, v in p.seen.items():
            seen.setdefault(k, set()).update(v)
        fired |= p.fired_names
        applied |= p.applied
        for o in p.overlaps:
            overlaps.setdefault(o, d)
    bound = f"{tried} dossiers tried, lists of 0 to {max_items} items"
    allow = allowed(policy)
    rules = {r.name: r for r in policy.all_rules}
    out = []

    def warn(kind, r, message, help_):
        if not any(KINDS.get(a) == kind for a in allow.get(r.name, ())):
            out.append(Diagnostic(kind, message, r.span, help_, severity="warning"))

    for (rule, a, b), d in sorted(overlaps.items()):
        def keep(x, key=(rule, a, b)):
            p = _probe(policy, validator, x)
            return p is not None and key in p.overlaps
        w = shrink(d, keep, space, budget=shrink_budget)
        x, y = rules[a], rules[b]
        winner = a if (x.priority or 0) > (y.priority or 0) else b
        order = (f"priority {x.priority} against {y.priority}: `{winner}` wins"
                 if x.priority is not None and y.priority is not None else "the priorities decide")
        warn("exception-overlap", x,
             f"exceptions `{a}` and `{b}` to `{rule}` can apply at once ({order})",
             "witness: " + json.dumps(w, ensure_ascii=False)
             + "; add `# analyze: allow overlap` above the exception if this is intended")
    for r in policy.all_rules:
        is_lift = r.target is not None and r.code is None
        if is_lift and r.name not in applied:
            warn("never-fires", r, f"exception `{r.name}` never applied ({bound})",
                 "no dossier within the bound makes `applies` true; `# analyze: allow never` silences this")
        elif not is_lift and r.name not in fired:
            warn("never-fires", r, f"{'exception' if r.target else 'rule'} `{r.name}` never fired ({bound})",
                 "no dossier within the bound makes it fire; `# analyze: allow never` silences this")
        for clause in ("when", "applies"):
            if seen.get((r.name, clause)) == {True}:
                warn("always-true", r, f"the `{clause}` condition of `{r.name}` held on every evaluation ({bound})",
                     "no dossier within the bound makes it false; `# analyze: allow always` silences this")
    held = campaign_outcomes(policy, valid, space)
    for c in policy.campaign_rules:
        within = (f"totals {', '.join(map(str, _totals(space)))}" if c.form == "count" else
                  f"{len(valid)} dossiers in campaigns of {CAMPAIGN_SIZES[0]} to {max(CAMPAIGN_SIZES)} dossiers")
        if True not in held.get(c.name, set()):
            warn("never-fires", c, f"campaign rule `{c.name}` never fired ({within})",
                 "no campaign within the bound makes it fire; `# analyze: allow never` silences this")
        elif held[c.name] == {True}:
            warn("always-true", c, f"the `when` condition of campaign rule `{c.name}` held on every evaluation "
                 f"({within})", "no campaign within the bound makes it false; `# analyze: allow always` silences this")
    return out


# ---- campaign rules -------------------------------------------------------------------------------
CAMPAIGN_SIZES = (1, 2, 3, 5, 8, 13, 21)
CAMPAIGN_DOSSIERS = 2 * sum(CAMPAIGN_SIZES)    # each size twice


def _totals(space: Space) -> list[int]:
    return sorted({0, *space.constants.near_ints(0)})


def campaign_outcomes(policy: CheckedPolicy, dossiers: list[dict], space: Space) -> dict[str, set[bool]]:
    """Campaign rule name -> the values its `when` took: a `count` rule's at the drawn totals,
    the others' on every row of campaigns made of `dossiers` (see the module docstring)."""
    from .policy import Policy
    seen: dict[str, set[bool]] = {}
    reader = _Interpreter(policy, {})
    plans = [_Plan.of(policy, r) for r in policy.campaign_rules]
    for plan in plans:
        if plan.rule.form == "count":
            seen[plan.rule.name] = {bool(plan.when(reader, {"total": t})) for t in _totals(space)}
    rows = [x for x in plans if x.rule.form != "count"]
    if not rows or not dossiers:
        return seen
    compiled = Policy(policy)
    start, k = 0, 0
    while start < len(dossiers):
        chunk = dossiers[start:start + CAMPAIGN_SIZES[k % len(CAMPAIGN_SIZES)]]
        start, k = start + len(chunk), k + 1
        c = _Campaign(compiled, compiled.programme, compiled.campaign)
        c.dossiers = [_dossier(compiled, i, d, compiled.evaluate(d, trace=False)) for i, d in enumerate(chunk)]
        for plan in rows:
            pairs = _group(c, plan) if plan.rule.form == "group" else _join(c, plan, _history(c, plan, space))
            seen.setdefault(plan.rule.name, set()).update(f is not None for _, f in pairs)
    return seen


def _history(c: _Campaign, plan: _Plan, space: Space) -> list[dict]:
    """History rows drawn at the constants; one in two takes its join keys from a row of the
    campaign (where the history side of `==` is a field of the history row)."""
    record, var = c.policy.checked.history, plan.rule.join_var
    assert record is not None and var is not None
    fields = [k.name if isinstance(k, ast.Attribute) and k.obj == ast.Name(var) else None
              for k in plan.rule.history_keys]
    out = []
    for n, (d, _, env) in enumerate(_rows(c, plan)):
        h = space.value(T.Field(var, record))
        if n % 2 == 0:
            h.update({f: key(d.interp, env) for f, key in zip(fields, plan.keys, strict=True) if f is not None})
        out.append(h)
    return _typed_rows(out, record)
