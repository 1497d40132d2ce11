"""Columnar evaluation of checked policies, records and lists of records included.

    pip install "esms-rules[batch]"      # polars

A policy is compiled once into a *plan*: a list of steps over polars frames.

- The **dossier frame** has one row per dossier (`__row` is its position): scalar facts as
  columns, record facts as struct columns.
- An **item frame** per list of records (`structures`, `other_eu_funding`…) has one row per
  item, keyed by `__row` (its dossier) and `__i` (its position in the list), the item's
  fields as columns.
- Rules `for s in …`, and every expression about one item, are item columns; definitions and
  dossier rules are dossier columns; aggregates (`count`, `distinct`, `any`, `all`, `sum`,
  `min`, `max`, comprehensions `where`) are group-bys of an item frame joined back to the
  dossier frame; `passes(s)` is the absence of a blocking item reason; `repeated(k)` is
  "not the first of its key in its dossier"; tables are replacements.
- Which rule fired is a boolean column per rule (exceptions with their priorities decide it
  as per record); the values that a rule's message interpolates are columns too, read only
  for the rows where the rule fired.

Arithmetic is exact. Whole numbers are Int64; **decimals are scaled integers** (Int64
holding `value × 10**scale`, the scale fixed per expression at compile time: a fact's scale
is `FACT_SCALE` = 9 places, a literal's its own digits, `+ -` align scales, `*` adds them,
`round(x, p)` rounds half up to `p` places). Every `+ - *`, unary `-`, rescaling and `sum`
is checked: a row where a result may pass 2**62 in magnitude (estimated in Float64), or a
decimal fact with more than 9 places, is *not* decided over columns: it is decided by the
per-record path instead (Python integers and `Decimal`s: exact), so no value ever wraps and
no row is decided differently. A construct that has no columnar form is refused when the
plan is built (`ColumnarUnsupported`, with the construct's file:line:col), never while rows
are read.
"""
from __future__ import annotations

import datetime as dt
import weakref
from decimal import Decimal
from typing import Any, NamedTuple

from . import ast
from . import types as T
from .batch import BatchUnsupported, _polars

FACT_SCALE = 9            # decimal places kept for decimal facts
LIMIT = float(2 ** 62)     # beyond this magnitude (Float64 estimate), a row goes per record
UTC = dt.timezone.utc


class ColumnarUnsupported(BatchUnsupported):
    """A construct of the policy has no columnar form: evaluate per record."""

    def __init__(self, message, span=None):
        self.span = span
        super().__init__(f"{span}: {message}" if span is not None else message)


# ---- values known at compile time --------------------------------------------------------
class V:
    """A translated expression: a polars expression of one frame (the dossier frame when
    `lst` is None, else the item frame of list `lst`), and what it holds."""

    __slots__ = ("e", "isint", "kind", "lst", "mask", "scale", "via")

    def __init__(self, e, scale=None, lst=None, kind="value", mask=None, isint=None, via=None):
        self.e = e            # polars expression (None for kind "item" and "rows")
        self.scale = scale    # decimal places of a decimal (scaled integer), else None
        self.lst = lst        # frame: None (dossier) or the name of a list of records
        self.kind = kind      # "value" | "item" (the current item of `lst`) | "rows" (items of `lst` where `mask`)
        self.mask = mask      # for "rows": an item expression, or None for every item
        # a number's Python type per record, which decision JSON shows (0 and 0.0): True (an
        # int), False (a Decimal), or a boolean expression; None: int when not scaled
        self.isint = isint
        # a table lookup: (its key V, the table as a dict), so that a lookup of a lookup
        # (`minimum_size[territory_of[region_of[d]]]`) is one replacement of `d`
        self.via = via


def _ii(v: V):
    return v.isint if v.isint is not None else v.scale is None


def _all_int(pl, a, b):
    x, y = _ii(a), _ii(b)
    if isinstance(x, bool) and isinstance(y, bool):
        return x and y
    return (pl.lit(x) if isinstance(x, bool) else x) & (pl.lit(y) if isinstance(y, bool) else y)


def _pick(pl, c, a, b):
    x, y = _ii(a), _ii(b)
    if isinstance(x, bool) and isinstance(y, bool) and x == y:
        return x
    return pl.when(c).then(pl.lit(x) if isinstance(x, bool) else x).otherwise(pl.lit(y) if isinstance(y, bool) else y)


def _scale_of_decimal(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return max(0, -exp) if isinstance(exp, int) else 0


def _scaled(d: Decimal, scale: int) -> int:
    return int(d.scaleb(scale))


class Shown(NamedTuple):
    """A value a rule's message shows: its column, its scale (a decimal), how it is read back
    (`"text"`: as is; `"decimal"`; `"datetime"`: the column holds its ISO text; `"value"`:
    anything else), and its type."""
    col: str
    scale: int | None
    kind: str
    type: Any


# ---- the plan ------------------------------------------------------------------------------
class Plan:
    """The steps that evaluate one policy over frames. Built once per policy (see `plan`)."""

    def __init__(self, policy):
        pl = _polars()
        self.pl = pl
        self.policy = policy
        self.p = p = policy.checked
        self.lists: dict[str, T.Record] = {}     # list of records -> its record type
        for f in p.facts.fields:
            self._fact(f)
        self.steps: list = []            # ("d", col, expr) | ("i", lst, col, expr, needs) | ("agg", lst, col, expr, fill, needs)
        self.counter = 0
        self.def_vals: dict[str, V] = {}
        self.flags_d: list = []          # overflow estimates, dossier frame
        self.flags_i: dict[str, list] = {}
        self.failed: dict[str, str] = {}  # list -> item column "has a blocking reason"
        self.fired_d: list = []          # (RuleInfo, column) dossier rules with a code, per-record order
        self.fired_i: dict[str, list] = {}   # list -> [(RuleInfo, column)]
        self.messages: dict[int, list[Shown]] = {}  # rule index -> the values its message shows
        self.outputs: list = []          # (name, column, scale, lst or None)
        self.output_int: dict = {}       # output -> True | False | column: is the value an int per record
        self.raw_datetimes: set[str] = set()
        for r in p.rules:
            if r.binder is not None:
                self.items_rules(r.binder.list_name)
        false = pl.lit(False)
        for r in p.rules:
            if r.binder is None:
                self.rule(r, None, None)
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
    def _fact(self, f):
        base = T.strip(f.type)
        if isinstance(base, T.Record):
            for g in base.fields:
                self._field_type(g.type, g.span if hasattr(g, "span") else None, f"{f.name}.{g.name}", record_ok=False)
        elif isinstance(base, T.List) and isinstance(T.strip(base.element), T.Record):
            if isinstance(f.type, T.Optional) or isinstance(base.element, T.Optional):
                raise ColumnarUnsupported(f"`{f.name}`: optional lists of records run per record")
            rec = base.element
            self.lists[f.name] = rec
            for g in rec.fields:
                self._field_type(g.type, None, f"{f.name}[].{g.name}", record_ok=False)
        else:
            self._field_type(f.type, None, f.name, record_ok=False)

    def _field_type(self, t, span, path, record_ok):
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

    # -- naming and steps
    def fresh(self, prefix):
        self.counter += 1
        return f"__{prefix}{self.counter}"

    def d_step(self, col, e):
        self.steps.append(("d", col, e))
        return col

    def i_step(self, lst, col, e):
        self.steps.append(("i", lst, col, e))
        return col

    def agg_step(self, lst, col, e, fill):
        self.steps.append(("agg", lst, col, e, fill))
        return col

    def d_col(self, v: V) -> str:
        if v.kind != "value" or v.lst is not None:
            raise AssertionError("not a dossier value")
        return self.d_step(self.fresh("d"), v.e)

    def i_col(self, lst, v: V) -> str:
        v = self.in_ctx(v, lst)
        return self.i_step(lst, self.fresh("i"), v.e)

    def in_ctx(self, v: V, lst):
        """`v` as an expression of frame `lst` (a dossier value read in an item frame is joined)."""
        if v.kind != "value" or v.lst == lst:
            return v
        if v.lst is not None:
            raise AssertionError("an item value read in another frame")
        if lst is None:
            return v
        if not v.e.meta.root_names():       # a constant: read in place
            return V(v.e, v.scale, lst, isint=v.isint)
        col = v.e.meta.output_name() if v.e.meta.is_column() else None
        if col is None:
            col = self.d_col(v)
        self.steps.append(("need", lst, col))
        isint = _ii(v)
        if not isinstance(isint, bool):
            icol = self.d_step(self.fresh("isint"), isint)
            self.steps.append(("need", lst, icol))
            isint = self.pl.col("__D" + icol)
        return V(self.pl.col("__D" + col), v.scale, lst, isint=isint)

    def isint_col(self, v, lst):
        x = _ii(v)
        if isinstance(x, bool) or v.scale is None:
            return x
        return self.d_step(self.fresh("isint"), x) if lst is None else self.i_step(lst, self.fresh("isint"), x)

    # -- rules: a boolean column per rule with a code, true where it fires
    def items_rules(self, lst):
        if lst in self.failed:
            return self.failed[lst]
        pl = self.pl
        self.failed[lst] = None          # a cycle would be a checker bug
        self.fired_i[lst] = []
        for r in self.p.item_rules(lst):
            self.rule(r, None, lst)
        blocking = [pl.col(c) for r, c in self.fired_i[lst] if r.severity in ("blocking", "inadmissible")]
        col = self.i_step(lst, self.fresh("failed"), pl.any_horizontal(blocking) if blocking else pl.lit(False))
        self.failed[lst] = col
        return col

    def rule(self, r, guard, lst):
        pl = self.pl
        env = {r.binder.var: V(None, lst=lst, kind="item")} if r.binder is not None else {}
        prior = None
        for x in r.exceptions:           # highest priority first (as checked)
            applies = self.cond(x.applies, env, lst)
            here = _and(guard, applies if prior is None else (~prior & applies))
            if x.code is not None:
                self.rule(x, here, lst)
            prior = applies if prior is None else (prior | applies)
        g = guard if prior is None else _and(guard, ~prior)
        if r.code is None:
            return
        cond = g if r.when is None else _and(g, self.cond(r.when, env, lst))
        if cond is None:
            cond = pl.lit(True)
        if lst is None:
            col = self.d_step(self.fresh("fired"), cond)
            self.fired_d.append((r, col))
        else:
            col = self.i_step(lst, self.fresh("fired"), cond)
            self.fired_i[lst].append((r, col))
        values = []
        for part in r.message:
            if isinstance(part, str):
                continue
            values.append(self.message_value(part, env, lst))
        self.messages[r.index] = values

    def message_value(self, e, env, lst) -> Shown:
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

    def raw_datetime(self, e, env, lst) -> V:
        """A date-time as the text it was written with (a fact's column as given, a literal's
        ISO form), for messages: the per-record path shows it at its own UTC offset."""
        pl = self.pl
        if isinstance(e, ast.Literal):
            value = e.value
            assert value is None or isinstance(value, (dt.date, dt.datetime))    # checked: a date-time
            return V(pl.lit(None if value is None else value.isoformat(), dtype=pl.String))
        if isinstance(e, ast.Name) and e.name not in env:
            if e.name in self.p.defs and not self.p.defs[e.name].params:
                return self.raw_datetime(self.p.defs[e.name].expr, {}, None)
            if self.p.facts.field(e.name) is not None:
                self.raw_datetimes.add(e.name)
                return V(pl.col("__raw." + e.name))
        if isinstance(e, ast.If):
            c = self.value(e.condition, env, lst)
            a, b = self.raw_datetime(e.then, env, lst), self.raw_datetime(e.otherwise, env, lst)
            c, a, b = self.same_frame([c, a, b], lst)
            return V(pl.when(c.e.fill_null(False)).then(a.e).otherwise(b.e), None, c.lst)
        raise ColumnarUnsupported("a date-time shown in a message must be a fact, a literal, or a choice "
                                  "among them", e.span)

    def cond(self, e, env, lst):
        return self.in_ctx(self.expr(e, env, lst), lst).e.fill_null(False)

    # -- expressions
    def expr(self, e, env: dict, lst) -> V:
        pl = self.pl
        p = self.p
        if isinstance(e, ast.Literal):
            return self.lit(e.value, p.types.get(id(e)))
        if isinstance(e, ast.Name):
            if e.name in env:
                return env[e.name]
            if e.name in p.defs:
                return self.definition(e.name, e)
            f = p.facts.field(e.name)
            if f is None:
                raise ColumnarUnsupported(f"`{e.name}` has no columnar form", e.span)
            if f.name in self.lists:
                return V(None, lst=f.name, kind="rows")
            base = T.strip(f.type)
            return V(pl.col(f.name), FACT_SCALE if base == T.DECIMAL else None)
        if isinstance(e, ast.Attribute):
            obj = self.expr(e.obj, env, lst)
            t = T.strip(p.type_of(e))
            scale = FACT_SCALE if t == T.DECIMAL else None
            if obj.kind == "item":
                return V(pl.col(e.name), scale, obj.lst)
            if obj.kind == "value":
                return V(obj.e.struct.field(e.name), scale, obj.lst)
            raise ColumnarUnsupported("an attribute of a list", e.span)
        if isinstance(e, ast.Lookup):
            return self.lookup(e, env, lst)
        if isinstance(e, ast.Unary):
            inner = self.value(e.operand, env, lst)
            if e.op == "not":
                return V(~inner.e, None, inner.lst)
            self.overflow(inner.lst, inner.e.cast(pl.Float64).abs())
            return V(-inner.e, inner.scale, inner.lst, isint=inner.isint)
        if isinstance(e, ast.If):
            c = self.value(e.condition, env, lst)
            a, b = self.value(e.then, env, lst), self.value(e.otherwise, env, lst)
            c, a, b = self.same_frame([c, a, b], lst)
            isint = _pick(pl, c.e.fill_null(False), a, b)
            a, b = self.align(a, b)
            return V(pl.when(c.e.fill_null(False)).then(a.e).otherwise(b.e), a.scale if a.scale is not None else b.scale,
                     c.lst, isint=isint)
        if isinstance(e, ast.Binary):
            return self.binary(e, env, lst)
        if isinstance(e, ast.Call):
            return self.call(e, env, lst)
        if isinstance(e, (ast.Comprehension, ast.Generator)):
            return self.comprehension(e, env, lst)
        raise ColumnarUnsupported(f"{type(e).__name__.lower()} expressions have no columnar form here", e.span)

    def value(self, e, env, lst) -> V:
        v = self.expr(e, env, lst)
        if v.kind != "value":
            raise ColumnarUnsupported("a record or a list of records used as a value", e.span)
        return v

    def same_frame(self, vs, lst):
        frames = {v.lst for v in vs}
        if len(frames) == 1:
            return vs
        return [self.in_ctx(v, lst) for v in vs]

    def definition(self, name, e) -> V:
        got = self.def_vals.get(name)
        if got is not None:
            return got
        info = self.p.defs[name]
        v = self.expr(info.expr, {}, None)
        if v.kind == "rows":
            if v.mask is not None:
                col = self.i_step(v.lst, self.fresh("mask"), v.mask.e if isinstance(v.mask, V) else v.mask)
                v = V(None, lst=v.lst, kind="rows", mask=V(self.pl.col(col), None, v.lst))
        elif v.kind == "value":
            v = self.in_ctx(v, None)
            isint = _ii(v)
            if not isinstance(isint, bool):
                isint = self.pl.col(self.d_step(self.fresh("isint"), isint))
            v = V(self.pl.col(self.d_col(v)), v.scale, isint=isint)
        self.def_vals[name] = v
        return v

    def lit(self, value, t) -> V:
        pl = self.pl
        if value is None:
            return V(pl.lit(None))
        if isinstance(value, bool):
            return V(pl.lit(value))
        if isinstance(value, int):
            if not -2**63 <= value < 2**63:
                raise ColumnarUnsupported("a whole number beyond 64 bits")
            if t is not None and T.strip(t) == T.DECIMAL:
                return V(pl.lit(value, dtype=pl.Int64), 0, isint=True)
            return V(pl.lit(value, dtype=pl.Int64))
        if isinstance(value, Decimal):
            s = _scale_of_decimal(value)
            k = _scaled(value, s)
            if not -2**62 < k < 2**62:
                raise ColumnarUnsupported("a decimal literal beyond 62 bits once scaled")
            return V(pl.lit(k, dtype=pl.Int64), s)
        if isinstance(value, dt.datetime):
            return V(pl.lit(value.astimezone(UTC), dtype=pl.Datetime("us", "UTC")))
        if isinstance(value, dt.date):
            return V(pl.lit(value, dtype=pl.Date))
        return V(pl.lit(value, dtype=pl.String))

    def rescale(self, v: V, scale: int) -> V:
        if v.scale == scale or v.scale is None and scale == 0:
            return V(v.e, scale, v.lst, isint=_ii(v))
        k = scale - (v.scale or 0)
        if k < 0:
            raise AssertionError("rescale down")
        self.overflow(v.lst, v.e.cast(self.pl.Float64).abs() * float(10 ** k))
        return V(v.e * (10 ** k), scale, v.lst, isint=_ii(v))

    def align(self, a: V, b: V):
        if a.scale is None and b.scale is None:
            return a, b
        s = max(a.scale or 0, b.scale or 0)
        return self.rescale(a, s), self.rescale(b, s)

    def overflow(self, lst, estimate, limit=LIMIT):
        flag = (estimate > limit).fill_null(False)
        if lst is None:
            self.flags_d.append(flag)
        else:
            self.flags_i.setdefault(lst, []).append(flag)

    def binary(self, e, env, lst):
        pl = self.pl
        op = e.op
        if op in ("in", "not in"):
            return self.membership(e, env, lst)
        a, b = self.value(e.left, env, lst), self.value(e.right, env, lst)
        a, b = self.same_frame([a, b], lst)
        if op in ("and", "or"):
            return V(a.e & b.e if op == "and" else a.e | b.e, None, a.lst)
        if op in ("+", "-", "*"):
            f = pl.Float64
            if op == "*":
                est = a.e.cast(f).abs() * b.e.cast(f).abs()
                scale = None if a.scale is None and b.scale is None else (a.scale or 0) + (b.scale or 0)
                self.overflow(a.lst, est)
                return V(a.e * b.e, scale, a.lst, isint=_all_int(pl, a, b))
            isint = _all_int(pl, a, b)
            a, b = self.align(a, b)
            self.overflow(a.lst, a.e.cast(f).abs() + b.e.cast(f).abs())
            return V(a.e + b.e if op == "+" else a.e - b.e, a.scale, a.lst, isint=isint)
        if ast.is_null(e.left) or ast.is_null(e.right):
            other = b if ast.is_null(e.left) else a
            return V(other.e.is_null() if op == "==" else other.e.is_not_null(), None, a.lst)
        a, b = self.align(a, b)
        if op in ("==", "!="):
            if self.maybe_null(e.left) or self.maybe_null(e.right):
                return V(a.e.eq_missing(b.e) if op == "==" else a.e.ne_missing(b.e), None, a.lst)
            return V(a.e == b.e if op == "==" else a.e != b.e, None, a.lst)
        x, y = a.e, b.e
        return V({"<": x < y, "<=": x <= y, ">": x > y, ">=": x >= y}[op], None, a.lst)

    def maybe_null(self, e):
        t = self.p.types.get(id(e))
        return t is None or isinstance(t, (T.Optional, T.Null))

    def membership(self, e, env, lst):
        pl = self.pl
        a = self.value(e.left, env, lst)
        if isinstance(e.right, ast.ListExpr):
            if not all(isinstance(i, ast.Literal) for i in e.right.items):
                raise ColumnarUnsupported(f"`{e.op}` a list of expressions has no columnar form", e.span)
            vals = [i.value for i in e.right.items if i.value is not None]
            if a.scale is not None:
                vals = [_scaled(Decimal(v), a.scale) for v in vals]
                if any(Decimal(i.value).scaleb(a.scale) != _scaled(Decimal(i.value), a.scale)
                       for i in e.right.items if i.value is not None):
                    raise ColumnarUnsupported("a decimal literal with more places than the value it is compared with", e.span)
            test = a.e.is_in(pl.Series(vals, dtype=_lit_dtype(pl, vals)).implode()) if vals else pl.lit(False)
            if any(i.value is None for i in e.right.items):
                test = test | a.e.is_null()
            test = test.fill_null(False)
        else:
            b = self.value(e.right, env, lst)
            a, b = self.same_frame([a, b], lst)
            if a.scale is not None or b.scale is not None:
                raise ColumnarUnsupported("`in` a list of decimals has no columnar form", e.span)
            test = b.e.list.contains(a.e, nulls_equal=True).fill_null(False)
        return V(~test if e.op == "not in" else test, None, a.lst)

    def lookup(self, e, env, lst):
        pl = self.pl
        table = self.p.tables[e.obj.name]
        key = self.value(e.key, env, lst)
        vt = T.strip(table.value_type)
        mapping = dict(table.mapping)
        kt = T.strip(table.key_type)
        if key.via is not None and vt != T.DECIMAL:       # a table of a table: one replacement
            inner, first = key.via
            mapping = {k: None if v is None else mapping.get(v) for k, v in first.items()}
            key, kt = inner, None
        keys = list(mapping)
        values = list(mapping.values())
        scale = None
        isint = None
        if vt == T.DECIMAL:
            scale = max((_scale_of_decimal(Decimal(v)) for v in values if v is not None), default=0)
            kinds = {isinstance(v, int) for v in values if v is not None}
            isint = kinds == {True} if len(kinds) < 2 else None
            if isint is None:
                isint = key.e.replace_strict(pl.Series(keys), pl.Series([isinstance(v, int) for v in values]),
                                             default=None, return_dtype=pl.Boolean)
            values = [None if v is None else _scaled(Decimal(v), scale) for v in values]
            dtype = pl.Int64
        else:
            dtype = _dtype(pl, vt, e.span)
        if key.scale is not None:
            raise ColumnarUnsupported("a table with decimal keys", e.span)
        if not keys:
            return V(pl.lit(None, dtype=dtype), scale, key.lst)
        kdtype = _dtype(pl, kt, e.span) if kt is not None else _lit_dtype(pl, keys)
        out = key.e.replace_strict(pl.Series(keys, dtype=kdtype), pl.Series(values, dtype=dtype),
                                   default=None, return_dtype=dtype)
        return V(out, scale, key.lst, isint=isint, via=(key, mapping) if vt != T.DECIMAL else None)

    # -- aggregates and comprehensions
    def generator(self, g, env, lst):
        """(list, mask V or None, element env) of a generator over a list of records."""
        if lst is not None:
            raise ColumnarUnsupported("a generator inside a rule or expression about one item", g.span)
        src = self.expr(g.source, env, None)
        if src.kind != "rows":
            raise ColumnarUnsupported("a generator over a list of values", g.span)
        inner = {**env, g.var: V(None, lst=src.lst, kind="item")}
        mask = src.mask
        if g.condition is not None:
            c = self.in_ctx(self.value(g.condition, inner, src.lst), src.lst)
            c = V(c.e.fill_null(False), None, src.lst)
            mask = self.item_column(c if mask is None else V(mask.e & c.e, None, src.lst), src.lst)
        return src.lst, mask, inner

    def item_column(self, v: V, lst) -> V:
        """`v` (an item expression) as a column of its item frame: aggregates then read plain
        columns (an expression inside a group-by runs group by group, far slower)."""
        if v.e.meta.is_column() or not v.e.meta.root_names():
            return v
        return V(self.pl.col(self.i_step(lst, self.fresh("el"), v.e)), v.scale, lst, isint=v.isint)

    def comprehension(self, e, env, lst):
        g = e.generator if isinstance(e, ast.Comprehension) else e
        if isinstance(g.element, ast.Name) and g.element.name == g.var:
            src_lst, mask, _ = self.generator(g, env, lst)
            return V(None, lst=src_lst, kind="rows", mask=mask)
        src_lst, mask, inner = self.generator(g, env, lst)
        el = self.item_column(self.in_ctx(self.value(g.element, inner, src_lst), src_lst), src_lst)
        if el.scale is not None:
            raise ColumnarUnsupported("a list of decimals has no columnar form", e.span)
        x = el.e if mask is None else el.e.filter(mask.e)
        col = self.agg_step(src_lst, self.fresh("list"), x, [])
        return V(self.pl.col(col))

    def elements(self, a, env, lst):
        """An aggregate's argument: (list, element V, mask V or None)."""
        if isinstance(a, ast.Comprehension):
            a = a.generator
        if isinstance(a, ast.Generator):
            src_lst, mask, inner = self.generator(a, env, lst)
            el = self.item_column(self.in_ctx(self.value(a.element, inner, src_lst), src_lst), src_lst)
            return src_lst, el, mask
        v = self.expr(a, env, lst)
        if v.kind == "rows":
            return v.lst, None, v.mask
        raise ColumnarUnsupported("an aggregate of a list of values", a.span)

    def call(self, e, env, lst):
        """A call: the policy's own functions inlined; built-ins by their columnar form
        (`builtins.TABLE[name].columnar(plan, call, env)`, the frame in `env["#frame"]`)."""
        f, args = e.func, e.args
        if f in self.p.defs:
            info = self.p.defs[f]
            if not info.params:
                return self.definition(f, e)
            inner = {pname: self.expr(a, env, lst) for (pname, _), a in zip(info.params, args)}
            return self.expr(info.expr, inner, lst)
        from .builtins import TABLE
        b = TABLE.get(f)
        if b is None or b.columnar is None:
            raise ColumnarUnsupported(f"`{f}` has no columnar form", e.span)
        return b.columnar(self, e, {**env, "#frame": lst})


def _and(a, b):
    return b if a is None else a & b


def _lit_dtype(pl, vals):
    v = vals[0]
    if isinstance(v, bool):
        return pl.Boolean
    if isinstance(v, int):
        return pl.Int64
    if isinstance(v, dt.datetime):
        return pl.Datetime("us", "UTC")
    if isinstance(v, dt.date):
        return pl.Date
    return pl.String


def _dtype(pl, t, span=None):
    t = T.strip(t)
    if isinstance(t, T.Enum) or t == T.TEXT:
        return pl.String
    if isinstance(t, T.List):
        return pl.List(_dtype(pl, t.element, span))
    if isinstance(t, T.Scalar):
        return {"bool": pl.Boolean, "int": pl.Int64, "decimal": pl.Int64, "date": pl.Date,
                "datetime": pl.Datetime("us", "UTC")}[t.name]
    if isinstance(t, (T.Null, T.Never)):
        return pl.Null
    if isinstance(t, T.Record):
        return pl.Struct({f.name: _dtype(pl, f.type, span) for f in t.fields})
    raise ColumnarUnsupported(f"values of type {t} have no columnar form", span)


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan(policy) -> Plan:
    """The columnar plan of a policy (cached); raises ColumnarUnsupported."""
    got = _PLANS.get(policy)
    if got is None:
        got = _PLANS[policy] = Plan(policy)
    return got


# ---- running a plan ------------------------------------------------------------------------
def run(pln: Plan, d, items: dict):
    """Apply the plan's steps to the dossier frame `d` (with `__row`) and the item frames
    (with `__row`, `__i`, sorted by both). Returns the frames with every step's column.

    Steps are applied in order, batched: consecutive independent columns of a frame in one
    `with_columns`; a dossier column an item expression reads is joined into the item frame
    when first read (never when unread: constants are read in place); the aggregates of a list
    whose item columns exist are computed by one group-by and one join."""
    pl = pln.pl
    d = d.with_columns(pl.col("__row").set_sorted())
    items = {lst: f.with_columns(pl.col("__row").set_sorted()) for lst, f in items.items()}
    wanted: dict[str, list[str]] = {lst: [] for lst in items}     # dossier columns items may read
    joined: dict[str, set[str]] = {lst: set() for lst in items}
    pending_d: list = []
    pending_i: dict[str, list] = {lst: [] for lst in items}
    d_pending: set[str] = set()
    i_pending: dict[str, set[str]] = {lst: set() for lst in items}

    def flush():
        nonlocal d
        if pending_d:
            d = d.with_columns(pending_d)
            pending_d.clear()
            d_pending.clear()

    def flush_i(lst):
        if pending_i[lst]:
            items[lst] = items[lst].with_columns(pending_i[lst])
            pending_i[lst] = []
            i_pending[lst].clear()

    def reads(lst, e):
        """Join the dossier columns that item expression `e` reads and that are not there yet."""
        roots = e.meta.root_names()
        if not any(r.startswith("__D") and r[3:] not in joined[lst] for r in roots):
            return roots
        cols = [c for c in wanted[lst] if c not in joined[lst]]
        flush()
        flush_i(lst)
        items[lst] = items[lst].join(d.select(pl.col("__row"), *[pl.col(c).alias("__D" + c) for c in cols]),
                                     on="__row", how="left", maintain_order="left")
        joined[lst].update(cols)
        return roots

    done: set[int] = set()
    steps = pln.steps
    for at, step in enumerate(steps):
        kind = step[0]
        if kind == "d":
            _, col, e = step
            if col in d_pending or any(n in d_pending for n in e.meta.root_names()):
                flush()
            pending_d.append(e.alias(col))
            d_pending.add(col)
        elif kind == "need":
            if step[2] not in wanted[step[1]]:
                wanted[step[1]].append(step[2])
        elif kind == "i":
            _, lst, col, e = step
            if col in i_pending[lst] or any(n in i_pending[lst] for n in reads(lst, e)):
                flush_i(lst)
            pending_i[lst].append(e.alias(col))
            i_pending[lst].add(col)
        elif kind == "agg" and at not in done:
            lst = step[1]
            reads(lst, step[3])
            flush_i(lst)
            flush()
            have = set(items[lst].columns)
            batch = []
            for later in range(at, len(steps)):
                s = steps[later]
                if s[0] == "agg" and s[1] == lst and later not in done and set(s[3].meta.root_names()) <= have:
                    batch.append(s)
                    done.add(later)
            g = items[lst].group_by("__row").agg([s[3].alias(s[2]) for s in batch])
            d = d.join(g, on="__row", how="left", maintain_order="left")
            fills = []
            for _, _, col, _, fill in batch:
                if isinstance(fill, list):
                    fills.append(pl.col(col).fill_null(pl.lit([], dtype=d.schema[col])))
                elif fill is not None:
                    fills.append(pl.col(col).fill_null(fill))
            if fills:
                d = d.with_columns(fills)
    flush()
    for lst in items:
        flush_i(lst)
    return d, items


# ---- frames from validated facts (the per-record validator's output) ------------------------
def _cell(v, t):
    """A validated value as its column value; raises _PerRecord when it has none."""
    if v is None:
        return None
    base = T.strip(t)
    if base == T.DECIMAL:
        k = v.scaleb(FACT_SCALE)
        if k != k.to_integral_value() or not -2**62 < k < 2**62:
            raise _PerRecord
        return int(k)
    if base == T.INT:
        if not -2**62 < v < 2**62:
            raise _PerRecord
        return v
    if base == T.DATETIME:
        return v.astimezone(UTC)
    if isinstance(base, T.Record):
        return {f.name: _cell(v[f.name], f.type) for f in base.fields}
    if isinstance(base, T.List):
        return [_cell(x, base.element) for x in v]
    return v


class _PerRecord(Exception):
    """This row is decided per record (a value without an exact column form)."""


def frames_from_facts(pln: Plan, facts: list):
    """(dossier frame, item frames, rows to decide per record) of validated facts."""
    pl = pln.pl
    p = pln.p
    fields = [f for f in p.facts.fields if f.name not in pln.lists]
    cols: dict[str, list[Any]] = {f.name: [] for f in fields}
    raw: dict[str, list[Any]] = {name: [] for name in pln.raw_datetimes}
    items: dict[str, dict[str, list[Any]]] = {
        lst: {"__row": [], "__i": [], **{g.name: [] for g in rec.fields}} for lst, rec in pln.lists.items()}
    per_record: list[Any] = []
    rows: list[Any] = []
    for k, fx in enumerate(facts):
        try:
            values = [_cell(fx[f.name], f.type) for f in fields]
            its = {lst: [[_cell(it[g.name], g.type) for g in rec.fields] for it in fx[lst]]
                   for lst, rec in pln.lists.items()}
        except _PerRecord:
            per_record.append(k)
            continue
        row = len(rows)
        rows.append(k)
        for f, v in zip(fields, values):
            cols[f.name].append(v)
        for name in raw:
            v = fx[name]
            raw[name].append(None if v is None else v.isoformat())
        for lst, rec in pln.lists.items():
            out = items[lst]
            for i, vals in enumerate(its[lst]):
                out["__row"].append(row)
                out["__i"].append(i)
                for g, v in zip(rec.fields, vals):
                    out[g.name].append(v)
    n = len(rows)
    series = [pl.Series("__row", range(n), dtype=pl.Int64)]
    series += [pl.Series(f.name, cols[f.name], dtype=_dtype(pl, f.type)) for f in fields]
    series += [pl.Series("__raw." + name, raw[name], dtype=pl.String) for name in raw]
    d = pl.DataFrame(series, height=n)
    frames = {}
    for lst, rec in pln.lists.items():
        out = items[lst]
        frames[lst] = pl.DataFrame([pl.Series("__row", out["__row"], dtype=pl.Int64),
                                    pl.Series("__i", out["__i"], dtype=pl.Int64)]
                                   + [pl.Series(g.name, out[g.name], dtype=_dtype(pl, g.type)) for g in rec.fields])
    return d, frames, rows, per_record


# ---- results: the per-record evaluator's tuples, row by row ----------------------------------
def _python(v, scale, kind):
    if v is None:
        return None
    if kind == "text":
        return v
    if kind == "datetime":
        return dt.datetime.fromisoformat(v) if isinstance(v, str) else v
    if scale is not None:
        return Decimal(v).scaleb(-scale)
    return v


def _column_values(frame, col, scale, kind):
    vals = frame.get_column(col).to_list()
    if scale is None and kind in ("value", "text"):
        return vals
    return [_python(v, scale, kind) for v in vals]


def _fired_rows(pln, frame, r, col):
    """(row position, message values) where rule `r` fired in `frame`."""
    mask = frame.get_column(col)
    if not mask.any():
        return []
    where = mask.arg_true()
    sub = frame[where]
    vals = [_column_values(sub, m.col, m.scale, m.kind) for m in pln.messages[r.index]]
    return [(pos, tuple(v[j] for v in vals)) for j, pos in enumerate(where.to_list())]


def results(pln: Plan, d, items):
    """For each row of the dossier frame, the per-record "reasons" evaluator's result:
    `(ok, rec, outputs, fired)` (see docs/architecture.md), or None for a row to decide per
    record (a result may not be exact over columns)."""
    n = d.height
    ok = d.get_column("__ok").to_list()
    rec = d.get_column("__rec").to_list()
    ovf = d.get_column("__ovf").to_list()
    outs = []
    for name, col, scale, lst in pln.outputs:
        frame = d if lst is None else items[lst]
        vals = _column_values(frame, col, scale, "value")
        isint = pln.output_int.get(name)
        if scale is not None and isint is not False:
            flags = frame.get_column(isint).to_list() if isinstance(isint, str) else [True] * frame.height
            vals = [v if v is None or not f else int(v) for v, f in zip(vals, flags)]
        if lst is None:
            outs.append(vals)
        else:
            per: list[list[Any]] = [[] for _ in range(n)]
            for r, v in zip(items[lst].get_column("__row").to_list(), vals):
                per[r].append(v)
            outs.append(per)
    fired: list[list[tuple[int, int, Any]]] = [[] for _ in range(n)]
    # item rules run before the dossier rules that read `passes`, item by item, in rule order;
    # a decision keeps dossier and item reasons apart, so items first is the same decision
    for lst, rules in pln.fired_i.items():
        frame = items[lst]
        rws = frame.get_column("__row").to_list()
        idx = frame.get_column("__i").to_list()
        per_item = []
        for r, col in rules:
            for pos, values in _fired_rows(pln, frame, r, col):
                per_item.append((rws[pos], idx[pos], r.index, values))
        per_item.sort(key=lambda x: (x[0], x[1]))      # stable: rule order kept within an item
        for row, i, index, values in per_item:
            fired[row].append((index, i, values))
    for r, col in pln.fired_d:
        for pos, values in _fired_rows(pln, d, r, col):
            fired[pos].append((r.index, -1, values))
    out: list[Any] = []
    for k in range(n):
        if ovf[k]:
            out.append(None)
        else:
            out.append((ok[k], rec[k], tuple(o[k] for o in outs), fired[k]))
    return out


def evaluate_dossiers(policy, dossiers) -> list:
    """`Policy.evaluate_many(dossiers, mode="reasons")` over columns: one `Decision` or
    `DossierError` per dossier, in order, the same ones. Each dossier is checked by the
    per-record validator (so bad dossiers get its problems, in its order); the valid ones are
    decided together over columns, and a row whose values have no exact column form (see the
    module's docstring) is decided per record."""
    from .diagnostics import DossierError
    pln = plan(policy)
    dossiers = list(dossiers)
    out: list = [None] * len(dossiers)
    facts, where, unknowns = [], [], []
    for k, dos in enumerate(dossiers):
        try:
            fx, unknown = policy.validator.convert(dos)
        except DossierError as e:
            out[k] = e
            continue
        facts.append(fx)
        where.append(k)
        unknowns.append(unknown)
    d, items, rows, per_record = frames_from_facts(pln, facts)
    d, items = run(pln, d, items)
    res = results(pln, d, items)
    for j in per_record:
        rows.append(j)
        res.append(None)
    for j, r in zip(rows, res):
        k = where[j]
        if r is None:
            try:
                out[k] = policy.evaluate(dossiers[k], trace=False)
            except DossierError as e:
                out[k] = e
            continue
        ok, rec, outs, fired = r
        out[k] = policy._decision(dossiers[k], facts[j], unknowns[j], ok, rec, outs, fired, None, None)
    return out
