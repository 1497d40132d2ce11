"""The plan of a policy: its frames' schema, a boolean column per rule with a code (exceptions
and their priorities as per record), the values messages show, the outputs, and the overflow
flag of each row. Built once per policy (`plan`, cached)."""
from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from .. import ast
from .. import types as T
from ..batch.translate import firing
from .lower import Lowering
from .values import ColumnarUnsupported, Shown, V

if TYPE_CHECKING:
    from ..check import RuleInfo
    from ..policy import Policy
    from ..span import Span
    from .lower import Env
    from .values import IsInt


class Plan(Lowering):
    """The steps that evaluate one policy over frames. Built once per policy (see `plan`)."""

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy)
        pl = self.pl
        p = self.p
        for f in p.facts.fields:
            self._fact(f)
        self.failed: dict[str, str | None] = {}   # list -> item column "has a blocking reason"
        self.fired_d: list[tuple[RuleInfo, str]] = []   # (rule, column): dossier rules with a code, in order
        self.fired_i: dict[str, list[tuple[RuleInfo, str]]] = {}   # list -> its item rules, likewise
        self.messages: dict[int, list[Shown]] = {}  # rule index -> the values its message shows
        self.outputs: list[tuple[str, str, int | None, str | None]] = []   # (name, column, scale, list or None)
        self.output_int: dict[str, IsInt | str] = {}   # output -> is its value an int per record (or the column)
        for r in p.rules:
            if r.binder is not None:
                self.items_rules(r.binder.list_name)
        false = pl.lit(False)
        for r in p.rules:
            if r.binder is None:
                self.rule(r, None)
        # outputs may read `eligible`: the dossier rules must all be columns first
        blocking = [pl.col(c) for r, c in self.fired_d if r.severity in ("blocking", "inadmissible")]
        inadmissible = [pl.col(c) for r, c in self.fired_d if r.severity == "inadmissible"]
        self.d_step("__ok", ~pl.any_horizontal(blocking) if blocking else ~false)
        self.d_step("__rec", ~pl.any_horizontal(inadmissible) if inadmissible else ~false)
        for o in p.outputs.values():
            if o.binder is None:
                v = self.expr(o.expr, {"eligible": V(pl.col("__ok"))}, None)
                col = self.d_col(v)
                self.outputs.append((o.name, col, v.scale, None))
                self.output_int[o.name] = self.isint_col(v, None)
            else:
                lst = o.binder.list_name
                env = {o.binder.var: V(None, lst=lst, kind="item"), "eligible": self.in_ctx(V(pl.col("__ok")), lst)}
                v = self.expr(o.expr, env, lst)
                col = self.i_col(lst, v)
                self.outputs.append((o.name, col, v.scale, lst))
                self.output_int[o.name] = self.isint_col(self.in_ctx(v, lst), lst)
        for lst, flags in self.flags_i.items():
            col = self.fresh("ovf")
            self.agg_step(lst, col, pl.any_horizontal(flags).any(), False)
            self.flags_d.append(pl.col(col))
        self.d_step("__ovf", pl.any_horizontal(self.flags_d) if self.flags_d else false)

    # -- schema
    def _fact(self, f: T.Field) -> None:
        base = T.strip(f.type)
        if isinstance(base, T.Record):
            for g in base.fields:
                self._field_type(g.type, None, f"{f.name}.{g.name}")
        elif isinstance(base, T.List) and isinstance(T.strip(base.element), T.Record):
            if isinstance(f.type, T.Optional) or isinstance(base.element, T.Optional):
                raise ColumnarUnsupported(f"`{f.name}`: optional lists of records run per record")
            rec = base.element
            assert isinstance(rec, T.Record)
            self.lists[f.name] = rec
            for g in rec.fields:
                self._field_type(g.type, None, f"{f.name}[].{g.name}")
        else:
            self._field_type(f.type, None, f.name)

    def _field_type(self, t: T.Type, span: Span | None, path: str) -> None:
        base = T.strip(t)
        if isinstance(base, T.List):
            el = T.strip(base.element)
            if isinstance(el, T.Enum) or (isinstance(el, T.Scalar) and el.name in ("bool", "int", "text")):
                return
            raise ColumnarUnsupported(f"`{path}` is a {t}: only lists of bool, int, text or enum values, "
                                      "and lists of records at the top level, run over columns", span)
        if isinstance(base, (T.Enum, T.Scalar)):
            return
        raise ColumnarUnsupported(f"`{path}` is a {t}: nested records run per record", span)

    # -- rules: a boolean column per rule with a code, true where it fires
    def items_rules(self, lst: str) -> str | None:
        """The item column "has a blocking reason" of list `lst`, its rules made columns first
        (None while they are: `passes` inside them)."""
        if lst in self.failed:
            return self.failed[lst]
        pl = self.pl
        self.failed[lst] = None          # a cycle would be a checker bug
        self.fired_i[lst] = []
        for r in self.p.item_rules(lst):
            self.rule(r, lst)
        blocking = [pl.col(c) for r, c in self.fired_i[lst] if r.severity in ("blocking", "inadmissible")]
        col = self.i_step(lst, self.fresh("failed"), pl.any_horizontal(blocking) if blocking else pl.lit(False))
        self.failed[lst] = col
        return col

    def rule(self, r: RuleInfo, lst: str | None) -> None:
        """A boolean column for `r` and each of its exceptions with a code, true where it fires."""
        pl = self.pl
        env = {r.binder.var: V(None, lst=lst, kind="item")} if r.binder is not None else {}
        for x, when in firing(r, lambda e: self.cond(e, env, lst)):
            cond = pl.lit(True) if when is None else when
            if lst is None:
                col = self.d_step(self.fresh("fired"), cond)
                self.fired_d.append((x, col))
            else:
                col = self.i_step(lst, self.fresh("fired"), cond)
                self.fired_i[lst].append((x, col))
            self.messages[x.index] = [self.message_value(part, env, lst) for part in x.message
                                      if not isinstance(part, str)]

    def message_value(self, e: ast.Expr, env: Env, lst: str | None) -> Shown:
        t = T.strip(self.p.type_of(e))
        if t == T.DATETIME:     # shown with the offset it was given with: its raw text
            v = self.in_ctx(self.raw_datetime(e, env, lst), lst)
            col = self.i_col(lst, v) if lst is not None else self.d_step(self.fresh("m"), v.e)
            return Shown(col, None, "datetime", t)
        v = self.expr(e, env, lst)
        if v.kind != "value":
            raise ColumnarUnsupported("records shown in a message run per record", e.span)
        col = self.i_col(lst, v) if lst is not None else self.d_col(self.in_ctx(v, None))
        simple = isinstance(t, T.Enum) or t in (T.TEXT, T.INT, T.BOOL)   # french(v) is plain text
        return Shown(col, v.scale, "decimal" if v.scale is not None else ("text" if simple else "value"), t)


_PLANS: weakref.WeakKeyDictionary[Policy, Plan] = weakref.WeakKeyDictionary()


def plan(policy: Policy) -> Plan:
    """The columnar plan of a policy (cached); raises ColumnarUnsupported."""
    got = _PLANS.get(policy)
    if got is None:
        got = _PLANS[policy] = Plan(policy)
    return got

