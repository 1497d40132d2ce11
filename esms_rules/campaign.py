"""A campaign of dossiers: each decided by its policy, then the policies' campaign rules across them.

`evaluate_campaign(dossiers, *, policy=None, history=None)` decides every dossier (with the
policy in force for its programme and campaign, or the one given), then runs the `campaign
rule`s of each policy over the dossiers it decided, within each programme and campaign
(docs/campaign.md). A rule's head is one hash-table operation (group-by, a look-up of the
funded-structures history, a count) and its clauses see one row at a time, so the pass is
linear in the number of rows (plus the length of the findings, which name the other dossiers).

A finding on a dossier is added to its decision, in the contract's shape (code, rule,
message, source): a finding on a structure to that structure's own `warnings` (in
`structures[]`, where the engine lists every structure-level warning, `FINESS_KEY` for one), any
other to the dossier's `warnings`. A finding about the whole campaign (a `count` rule) is only
in `CampaignResult.findings`, with `dossier` None. A dossier that is not valid keeps its
`DossierError` row, in place, and takes part in no finding.

The rules' expressions are evaluated by the reference interpreter (`interpret.py`) over the
dossier's validated facts, with `passes(s)`, `eligible` and `recevable` read from its decision.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from . import ast
from . import types as T
from .decision import Decision, Reason
from .diagnostics import DossierError, EsmsError
from .french import render_message
from .interpret import _CMP, _Interpreter

if TYPE_CHECKING:
    from .check import CampaignRuleInfo, CheckedPolicy
    from .policy import Policy

__all__ = ["ArrowRow", "CampaignResult", "Finding", "HistoryError", "arrow_dossiers", "evaluate_campaign",
           "read_history"]


@attrs.frozen
class Finding:
    """One finding of a campaign rule. `dossier` is None for a finding about the whole campaign
    (a `count` rule); `finess` is the key of the item it is about (None for a dossier row);
    `others` names the other dossiers (`group by`) or the history's funding dossiers (`join`);
    `item` is the structure's position in its dossier (None for a dossier row)."""

    code: str
    rule: str
    severity: str                 # "warning" | "info"
    dossier: str | None
    finess: str | None
    others: tuple[str, ...]
    message: str
    source: str
    policy: str = ""
    programme: str | None = None
    campaign: int | None = None
    item: int | None = None

    def reason(self) -> Reason:
        """As a warning of the dossier's decision (the contract's shape)."""
        return Reason(self.code, self.rule, self.message, self.source,
                      "structure" if self.finess is not None else "dossier", self.severity)

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "rule": self.rule, "severity": self.severity, "dossier": self.dossier,
                "finess": self.finess, "others": list(self.others), "message": self.message,
                "source": self.source, "policy": self.policy, "programme": self.programme,
                "campaign": self.campaign}


@attrs.frozen
class CampaignResult:
    """`rows`: one per input dossier, in input order, a `Decision` (with the campaign's findings
    on it among its `warnings`) or a `DossierError`; `findings`: every finding, in the order of
    the policies' rules, each rule's in input order."""

    rows: list[Decision | DossierError]
    findings: list[Finding]
    #: CPU seconds spent: "decide" (each dossier alone), "prepare" (the facts and decisions the
    #: campaign rules read), "campaign" (the campaign rules' pass, findings added to decisions)
    timings: dict[str, float] = attrs.field(factory=dict, eq=False)

    @property
    def campaign_findings(self) -> list[Finding]:
        """The findings about a whole campaign (no dossier)."""
        return [f for f in self.findings if f.dossier is None]


class HistoryError(EsmsError):
    """A row of the funded-structures file that does not fit the policy's `history record`."""

    def __init__(self, file: str, line: int, column: int | None, message: str):
        self.file, self.line, self.column, self.message = file, line, column, message
        where = f"{file}:{line}" + (f":{column}" if column is not None else "")
        super().__init__(f"{where}: {message}")


# ---- the history file ---------------------------------------------------------------------
def _column_name(header: str) -> str:
    return "_".join(header.strip().lower().split())


def _cell(raw: str, t: T.Type, constraint: Any) -> Any:
    """A CSV cell as a value of type `t`; ValueError says what is wrong."""
    if raw == "" and isinstance(t, T.Optional):
        return None
    base = T.strip(t)
    if raw == "":
        raise ValueError("is empty")
    value: Any
    if isinstance(base, T.Enum):
        if raw not in base.values:
            raise ValueError(f"`{raw}` is not one of " + ", ".join(f"`{v}`" for v in base.values))
        return raw
    name = base.name if isinstance(base, T.Scalar) else str(base)
    if name == "text":
        value = raw
    elif name == "int":
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"`{raw}` is not a whole number") from None
    elif name == "decimal":
        try:
            value = Decimal(raw)
        except InvalidOperation:
            raise ValueError(f"`{raw}` is not a number") from None
    elif name == "bool":
        if raw not in ("true", "false"):
            raise ValueError(f"`{raw}` is not `true` or `false`")
        value = raw == "true"
    elif name == "date":
        try:
            value = dt.date.fromisoformat(raw)
        except ValueError:
            raise ValueError(f"`{raw}` is not a date (YYYY-MM-DD)") from None
    else:
        raise ValueError(f"a column of type {t} cannot be read from a CSV file")
    if isinstance(constraint, ast.LengthConstraint) and len(value) != constraint.length:
        raise ValueError(f"`{raw}` is not {constraint.length} characters long")
    if isinstance(constraint, ast.RangeConstraint) and not constraint.low.value <= value <= constraint.high.value:
        raise ValueError(f"`{raw}` is not between {constraint.low.value} and {constraint.high.value}")
    return value


def read_history(source: str | Path | Iterable[str], record: T.Record, *, name: str | None = None
                 ) -> list[dict[str, Any]]:
    """The rows of a funded-structures CSV file (a path, or its lines), typed by the policy's
    `history record`. Its header names the record's fields (case and spaces aside: `Software
    action` is `software_action`); other columns are ignored. HistoryError names the line and
    column of the first problem."""
    if isinstance(source, (str, Path)):
        shown = name or str(source)
        try:
            with open(source, encoding="utf-8-sig", newline="") as fh:
                return read_history(io.StringIO(fh.read()), record, name=shown)
        except OSError as e:
            raise HistoryError(shown, 1, None, f"cannot read the history file: {e.strerror or e}") from None
        except UnicodeDecodeError as e:
            raise HistoryError(shown, 1, None, f"the history file is not UTF-8 text: {e.reason}") from None
    shown = name or "<history>"
    reader = csv.reader(source)
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise HistoryError(shown, 1, None, f"not CSV: {e}") from None
    if header is None:
        raise HistoryError(shown, 1, None, "the history file is empty: its first line names the columns "
                           + ", ".join(f.name for f in record.fields))
    columns = [_column_name(h) for h in header]
    where: dict[str, int] = {}
    for k, c in enumerate(columns):
        if c in where:
            raise HistoryError(shown, 1, k + 1, f"column `{c}` is given twice")
        where[c] = k
    missing = [f.name for f in record.fields if f.name not in where]
    if missing:
        raise HistoryError(shown, 1, None, "missing column(s) " + ", ".join(f"`{m}`" for m in missing)
                           + " (the header names the fields of `history record " + record.name + "`)")
    rows = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(columns):
                raise HistoryError(shown, line, None, f"{len(cells)} cells, but the header names {len(columns)} "
                                   "columns")
            row = {}
            for f in record.fields:
                k = where[f.name]
                try:
                    row[f.name] = _cell(cells[k].strip(), f.type, f.constraint)
                except ValueError as e:
                    raise HistoryError(shown, line, k + 1, f"column `{f.name}`: {e}") from None
            rows.append(row)
    except csv.Error as e:
        raise HistoryError(shown, reader.line_num, None, f"not CSV: {e}") from None
    return rows


# ---- rows ------------------------------------------------------------------------------
class _RowInterpreter(_Interpreter):
    """The interpreter over one dossier's facts, `passes(s)` read from its decision."""

    def __init__(self, policy: CheckedPolicy, facts: dict[str, Any], failed: set[int]):
        super().__init__(policy, facts)
        self.failed = failed


@attrs.define
class _Dossier:
    index: int                        # in the input
    id: Any
    decision: Decision
    interp: _RowInterpreter
    env: dict[str, Any]
    findings: list[Finding] = attrs.Factory(list)


@attrs.define
class _Campaign:
    """The dossiers one policy decided for one programme and campaign."""

    policy: Policy
    programme: str | None
    campaign: int | None
    dossiers: list[_Dossier] = attrs.Factory(list)


def _dossier(policy: Policy, index: int, dossier: Mapping[str, Any], decision: Decision) -> _Dossier:
    checked = policy.checked
    facts, _ = policy.validator.convert(dossier)
    failed: set[int] = set()
    for lst in checked.item_lists:   # the decision's structures are the items of this list, in order
        failed.update(id(item) for item, result in zip(facts[lst], decision.structures, strict=True)
                      if not result.eligible)
    env = {"eligible": decision.eligible, "recevable": decision.recevable}
    return _Dossier(index, decision.dossier, decision, _RowInterpreter(checked, facts, failed), env)


# ---- expressions: a fast path, the interpreter for the rest ---------------------------------
Fn = Callable[[_Interpreter, dict[str, Any]], Any]


def _closure(e: ast.Expr) -> Fn:
    """`e` as a Python closure `(interpreter, variables) -> value`, for the nodes campaign rules
    evaluate once per row (paths, comparisons, `and`/`or`/`not`, `count` of a list); any other
    node is evaluated by the interpreter, so that each node keeps the one meaning it has there."""
    if isinstance(e, ast.Literal):
        value = e.value
        return lambda interp, env: value
    if isinstance(e, ast.Name):
        name = e.name

        def lookup(interp: _Interpreter, env: dict[str, Any]) -> Any:
            if name in env:
                return env[name]
            facts = interp.facts
            return facts[name] if name in facts else interp.definition(name)
        return lookup
    if isinstance(e, ast.Attribute):
        obj, field = _closure(e.obj), e.name
        return lambda interp, env: obj(interp, env)[field]
    if isinstance(e, ast.Binary):
        left, right = _closure(e.left), _closure(e.right)
        if e.op == "and":
            return lambda interp, env: left(interp, env) and right(interp, env)
        if e.op == "or":
            return lambda interp, env: left(interp, env) or right(interp, env)
        op = _CMP[e.op]
        return lambda interp, env: op(left(interp, env), right(interp, env))
    if isinstance(e, ast.Unary) and e.op == "not":
        operand = _closure(e.operand)
        return lambda interp, env: not operand(interp, env)
    if isinstance(e, ast.Call) and e.func == "count" and len(e.args) == 1 \
            and not isinstance(e.args[0], ast.Generator):
        items = _closure(e.args[0])
        return lambda interp, env: len(items(interp, env))
    return lambda interp, env: interp.value_of(e, env)


@attrs.frozen
class _Plan:
    """A campaign rule ready to run: its expressions as closures."""

    rule: CampaignRuleInfo
    where: Fn | None
    keys: tuple[Fn, ...]
    history_keys: tuple[Fn, ...]
    join_where: Fn | None
    when: Fn
    key_field: str | None

    @classmethod
    def of(cls, checked: CheckedPolicy, rule: CampaignRuleInfo) -> _Plan:
        def maybe(e: ast.Expr | None) -> Fn | None:
            return _closure(e) if e is not None else None
        return cls(rule, maybe(rule.where), tuple(map(_closure, rule.keys)), tuple(map(_closure, rule.history_keys)),
                   maybe(rule.join_where), _closure(rule.when),
                   checked.key_field(rule.list_name) if rule.list_name is not None else None)


def _rows(c: _Campaign, plan: _Plan) -> Iterator[tuple[_Dossier, Any, dict[str, Any]]]:
    """Each row of the rule (dossier, item or None, variables), those its `where` keeps."""
    rule, where, var = plan.rule, plan.where, str(plan.rule.var)
    for d in c.dossiers:
        if rule.list_name is None:
            if where is None or where(d.interp, d.env):
                yield d, None, d.env
            continue
        for item in d.interp.facts[rule.list_name]:
            env = {**d.env, var: item}
            if where is None or where(d.interp, env):
                yield d, item, env


def _fire(c: _Campaign, plan: _Plan, interp: _Interpreter, env: dict[str, Any], d: _Dossier | None,
          item: Any, others: Iterable[Any]) -> Finding | None:
    if not plan.when(interp, env):
        return None
    rule = plan.rule
    values = [interp.value_of(p, env) for p in rule.message if not isinstance(p, str)]
    finess = item[plan.key_field] if item is not None and plan.key_field is not None else None
    position = None
    if item is not None and d is not None and rule.list_name is not None:
        position = next(i for i, x in enumerate(d.interp.facts[rule.list_name]) if x is item)
    return Finding(rule.code, rule.name, rule.severity, d.id if d is not None else None, finess,
                   tuple(dict.fromkeys(str(o) for o in others)), render_message(rule.message, values),
                   rule.source or "", c.policy.id, c.programme, c.campaign, position)


def _group(c: _Campaign, plan: _Plan) -> Iterator[tuple[_Dossier, Finding | None]]:
    """`group by key`: one pass builds key -> {dossier index: id}; a second gives each row the
    ids of the other dossiers in its group."""
    key = plan.keys[0]
    members = []
    groups: dict[Any, dict[int, Any]] = {}
    for d, item, env in _rows(c, plan):
        k = key(d.interp, env)
        groups.setdefault(k, {})[d.index] = d.id
        members.append((d, item, env, k))
    for d, item, env, k in members:
        group = groups[k]
        others = [i for n, i in group.items() if n != d.index] if len(group) > 1 else []
        yield d, _fire(c, plan, d.interp, {**env, "others": others}, d, item, others)


def _join(c: _Campaign, plan: _Plan, history: list[dict[str, Any]]) -> Iterator[tuple[_Dossier, Finding | None]]:
    """`join h in history on h.a == x …`: the history indexed once by its keys, then one look-up per row."""
    var = plan.rule.join_var
    assert var is not None
    reader = _Interpreter(c.policy.checked, {})
    index: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for h in history:
        env = {var: h}
        index.setdefault(tuple(k(reader, env) for k in plan.history_keys), []).append(h)
    keep = plan.join_where
    for d, item, env in _rows(c, plan):
        found = index.get(tuple(k(d.interp, env) for k in plan.keys), [])
        if keep is not None and found:
            found = [h for h in found if keep(d.interp, {**env, var: h})]
        yield d, _fire(c, plan, d.interp, {**env, "matches": found}, d, item, (h["dossier"] for h in found))


def _count(c: _Campaign, plan: _Plan) -> Finding | None:
    total = sum(1 for _ in _rows(c, plan))
    return _fire(c, plan, _Interpreter(c.policy.checked, {}), {"total": total}, None, None, ())


def _run(c: _Campaign, history: list[dict[str, Any]] | None) -> list[Finding]:
    found: list[Finding] = []
    for rule in c.policy.checked.campaign_rules:
        plan = _Plan.of(c.policy.checked, rule)
        if rule.form == "count":
            f = _count(c, plan)
            found += [f] if f is not None else []
            continue
        if rule.form == "join" and history is None:
            continue      # no history given: nothing was funded before, as far as this run knows
        pairs = _group(c, plan) if rule.form == "group" else _join(c, plan, history or [])
        for d, finding in pairs:
            if finding is not None:
                d.findings.append(finding)
                found.append(finding)
    return found


# ---- the entry point ------------------------------------------------------------------------
class ArrowRow(dict[str, Any]):
    """A dossier read from an Arrow table or Parquet file: a null there may mean "absent", which
    is how a policy's fact with a default is left out; the policy in force says which."""


def arrow_dossiers(table: Any) -> Iterator[ArrowRow]:
    """The dossiers of a pyarrow Table or RecordBatch, as JSON-like dicts (`ArrowRow`)."""
    from .arrow import _json_value
    return (ArrowRow(_json_value(row)) for row in table.to_pylist())


def _rows_of(dossiers: Any) -> Iterable[Any]:
    if hasattr(dossiers, "to_pylist") and hasattr(dossiers, "schema"):
        return arrow_dossiers(dossiers)
    return dossiers


def evaluate_campaign(dossiers: Iterable[Mapping[str, Any]] | Any, *, policy: str | Path | Policy | None = None,
                      history: str | Path | Iterable[Mapping[str, Any]] | None = None, trace: bool = False
                      ) -> CampaignResult:
    """Decide every dossier, then run the campaign rules (see the module docstring).

    `policy`: the policy for every dossier (a bundled name, a path or a `Policy`); by default
    each dossier's policy in force. `history`: the funded-structures CSV file (path), or its rows
    as dicts (typed like the policy's `history record`, or as CSV text cells); without it, the
    rules that join the history find nothing. `dossiers` may also be a pyarrow Table.
    Raises HistoryError for a history row that does not fit.
    """
    from .policy import collector_paused
    with collector_paused():   # tens of thousands of decisions kept, no reference cycle: no GC pass
        return _evaluate_campaign(dossiers, policy, history, trace)


def _evaluate_campaign(dossiers: Any, policy: str | Path | Policy | None, history: Any, trace: bool
                       ) -> CampaignResult:
    from .registry import load_policy
    fixed = load_policy(policy) if policy is not None else None
    clock = time.process_time     # CPU seconds: steady on a machine shared with other work
    timings = {"decide": clock()}
    rows: list[Decision | DossierError] = []
    decided: list[tuple[int, Policy, Mapping[str, Any], Decision]] = []
    in_force = _InForce()
    for index, dossier in enumerate(_rows_of(dossiers)):
        try:
            if isinstance(dossier, ArrowRow):
                from .arrow import _drop_absent
                p = fixed or in_force({k: v for k, v in dossier.items() if v is not None})
                dossier = _drop_absent(dossier, p.checked.facts)
            else:
                p = fixed or in_force(dossier)
            decision = p.evaluate(dossier, trace=trace)
        except DossierError as e:
            rows.append(e)
            continue
        rows.append(decision)
        if p.checked.campaign_rules:
            decided.append((index, p, dossier, decision))
    timings["prepare"] = clock()
    campaigns: dict[tuple[str, Any, Any], _Campaign] = {}
    for index, p, dossier, decision in decided:
        d = _dossier(p, index, dossier, decision)
        facts = d.interp.facts
        key = (p.sha256, facts.get("programme", p.programme), facts.get("campaign", p.campaign))
        c = campaigns.get(key)
        if c is None:
            c = campaigns[key] = _Campaign(p, key[1], key[2])
        c.dossiers.append(d)
    timings["campaign"] = clock()
    tables = _histories(campaigns.values(), history)
    findings: list[Finding] = []
    for c in campaigns.values():
        findings += _run(c, tables.get(c.policy.sha256))
        for d in c.dossiers:
            if d.findings:
                rows[d.index] = _with_warnings(d.decision, d.findings)
    end = clock()
    timings = {"decide": timings["prepare"] - timings["decide"], "prepare": timings["campaign"] - timings["prepare"],
               "campaign": end - timings["campaign"]}
    return CampaignResult(rows, findings, timings)


def _with_warnings(decision: Decision, findings: Iterable[Finding]) -> Decision:
    """The decision with `findings` after the warnings of the structure or dossier each is about
    (its lists built, so that `to_dict` writes them rather than the lazy findings of the run)."""
    structures, warnings = list(decision.structures), decision.warnings
    for f in findings:
        if f.item is None:
            warnings += (f.reason(),)
        else:
            s = structures[f.item]
            structures[f.item] = attrs.evolve(s, warnings=s.warnings + (f.reason(),))
    return attrs.evolve(decision, structures=tuple(structures), reasons=decision.reasons, warnings=warnings,
                        findings=None)


class _InForce:
    """`registry.policy_for`, remembered per (programme, campaign) for the length of a run."""

    def __init__(self) -> None:
        self.known: dict[tuple[Any, Any], Policy] = {}

    def __call__(self, dossier: Any) -> Policy:
        from .registry import policy_for
        if not isinstance(dossier, Mapping):
            return policy_for(dossier)
        key = (dossier.get("programme", "esms-numerique"), dossier.get("campaign"))
        known = isinstance(key[0], str) and type(key[1]) is int
        if known and key in self.known:
            return self.known[key]
        found = policy_for(dossier)
        if known:
            self.known[key] = found
        return found


def _histories(campaigns: Iterable[_Campaign], history: Any) -> dict[str, list[dict[str, Any]]]:
    """The history read once per history record (policies sharing `common` share one)."""
    if history is None:
        return {}
    if not isinstance(history, (str, Path)):
        history = list(history)
    out: dict[str, list[dict[str, Any]]] = {}
    by_record: dict[T.Record, list[dict[str, Any]]] = {}
    for c in campaigns:
        record = c.policy.checked.history
        if record is None or c.policy.sha256 in out:
            continue
        if record not in by_record:
            if isinstance(history, (str, Path)):
                by_record[record] = read_history(history, record)
            else:
                by_record[record] = _typed_rows(history, record)
        out[c.policy.sha256] = by_record[record]
    return out


def _typed_rows(rows: list[Mapping[str, Any]], record: T.Record) -> list[dict[str, Any]]:
    """History rows given as dicts: text cells are read as the CSV's, typed values kept."""
    typed = []
    for k, row in enumerate(rows, start=2):
        missing = [f.name for f in record.fields if f.name not in row]
        if missing:
            raise HistoryError("<history>", k, None, "missing " + ", ".join(f"`{m}`" for m in missing))
        out = {}
        for f in record.fields:
            v = row[f.name]
            if isinstance(v, str):
                try:
                    v = _cell(v.strip(), f.type, f.constraint)
                except ValueError as e:
                    raise HistoryError("<history>", k, record.fields.index(f) + 1, f"column `{f.name}`: {e}") \
                        from None
            out[f.name] = v
        typed.append(out)
    return typed
