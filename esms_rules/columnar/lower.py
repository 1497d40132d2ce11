"""Lowering: expressions of a checked policy as `V`s over the dossier frame or an item frame,
recorded as the plan's steps. Arithmetic is exact (scaled integers; each `+ - *`, unary `-`
and rescaling adds an overflow estimate that sends its row per record); aggregates and
comprehensions are group-by steps of an item frame; built-ins lower by their columnar form
(`builtins.TABLE`)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeAlias

from .. import ast
from .. import types as T
from ..batch import _polars
from ..builtins import TABLE
from .values import (
    FACT_SCALE,
    LIMIT,
    UTC,
    ColumnarUnsupported,
    V,
    _all_int,
    _dtype,
    _ii,
    _lit_dtype,
    _pick,
    _scale_of_decimal,
    _scaled,
)

if TYPE_CHECKING:
    import polars

    from ..check import CheckedPolicy
    from ..policy import Policy
    from .values import IsInt

Env: TypeAlias = dict[str, V]        # a name (a binder's item, a parameter, `eligible`) -> its value


class Lowering:
    """Expressions to steps: the half of a `Plan` that knows expressions, not rules."""

    def __init__(self, policy: Policy) -> None:
        self.pl = _polars()
        self.policy = policy
        self.p: CheckedPolicy = policy.checked
        self.lists: dict[str, T.Record] = {}     # list of records -> its record type (the plan's schema)
        # ("d", col, expr) | ("i", lst, col, expr) | ("agg", lst, col, expr, fill) | ("need", lst, col)
        self.steps: list[tuple[Any, ...]] = []
        self.counter = 0
        self.def_vals: dict[str, V] = {}
        self.flags_d: list[polars.Expr] = []          # overflow estimates, dossier frame
        self.flags_i: dict[str, list[polars.Expr]] = {}
        self.raw_datetimes: set[str] = set()

    # -- naming and steps
    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"__{prefix}{self.counter}"

    def d_step(self, col: str, e: polars.Expr) -> str:
        self.steps.append(("d", col, e))
        return col

    def i_step(self, lst: str, col: str, e: polars.Expr) -> str:
        self.steps.append(("i", lst, col, e))
        return col

    def agg_step(self, lst: str, col: str, e: polars.Expr, fill: Any) -> str:
        """A group-by of item frame `lst` joined to the dossier frame; `fill`: the value of a
        dossier without items ([] for a list, None to leave null)."""
        self.steps.append(("agg", lst, col, e, fill))
        return col

    def d_col(self, v: V) -> str:
        if v.kind != "value" or v.lst is not None:
            raise AssertionError("not a dossier value")
        return self.d_step(self.fresh("d"), v.e)

    def i_col(self, lst: str, v: V) -> str:
        v = self.in_ctx(v, lst)
        return self.i_step(lst, self.fresh("i"), v.e)

    def in_ctx(self, v: V, lst: str | None) -> V:
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

    def isint_col(self, v: V, lst: str | None) -> IsInt | str:
        """Whether output value `v` is an int per record: a constant, or the column that says."""
        x = _ii(v)
        if isinstance(x, bool) or v.scale is None:
            return x
        return self.d_step(self.fresh("isint"), x) if lst is None else self.i_step(lst, self.fresh("isint"), x)

    def raw_datetime(self, e: ast.Expr, env: Env, lst: str | None) -> V:
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

    def cond(self, e: ast.Expr, env: Env, lst: str | None) -> polars.Expr:
        return self.in_ctx(self.expr(e, env, lst), lst).e.fill_null(False)

    # -- expressions
    def expr(self, e: ast.Expr, env: Env, lst: str | None) -> V:
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
            return V(pl.when(c.e.fill_null(False)).then(a.e).otherwise(b.e),
                     a.scale if a.scale is not None else b.scale, c.lst, isint=isint)
        if isinstance(e, ast.Binary):
            return self.binary(e, env, lst)
        if isinstance(e, ast.Call):
            return self.call(e, env, lst)
        if isinstance(e, (ast.Comprehension, ast.Generator)):
            return self.comprehension(e, env, lst)
        raise ColumnarUnsupported(f"{type(e).__name__.lower()} expressions have no columnar form here", e.span)

    def value(self, e: ast.Expr, env: Env, lst: str | None) -> V:
        v = self.expr(e, env, lst)
        if v.kind != "value":
            raise ColumnarUnsupported("a record or a list of records used as a value", e.span)
        return v

    def same_frame(self, vs: list[V], lst: str | None) -> list[V]:
        frames = {v.lst for v in vs}
        if len(frames) == 1:
            return vs
        return [self.in_ctx(v, lst) for v in vs]

    def definition(self, name: str, e: ast.Expr) -> V:
        got = self.def_vals.get(name)
        if got is not None:
            return got
        info = self.p.defs[name]
        v = self.expr(info.expr, {}, None)
        if v.kind == "rows":
            if v.mask is not None:
                col = self.i_step(v.items, self.fresh("mask"), v.mask.e)
                v = V(None, lst=v.lst, kind="rows", mask=V(self.pl.col(col), None, v.lst))
        elif v.kind == "value":
            v = self.in_ctx(v, None)
            isint = _ii(v)
            if not isinstance(isint, bool):
                isint = self.pl.col(self.d_step(self.fresh("isint"), isint))
            v = V(self.pl.col(self.d_col(v)), v.scale, isint=isint)
        self.def_vals[name] = v
        return v

    def lit(self, value: ast.LiteralValue, t: T.Type | None) -> V:
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

    def align(self, a: V, b: V) -> tuple[V, V]:
        if a.scale is None and b.scale is None:
            return a, b
        s = max(a.scale or 0, b.scale or 0)
        return self.rescale(a, s), self.rescale(b, s)

    def overflow(self, lst: str | None, estimate: polars.Expr, limit: float = LIMIT) -> None:
        flag = (estimate > limit).fill_null(False)
        if lst is None:
            self.flags_d.append(flag)
        else:
            self.flags_i.setdefault(lst, []).append(flag)

    def binary(self, e: ast.Binary, env: Env, lst: str | None) -> V:
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

    def maybe_null(self, e: ast.Expr) -> bool:
        t = self.p.types.get(id(e))
        return t is None or isinstance(t, (T.Optional, T.Null))

    def membership(self, e: ast.Binary, env: Env, lst: str | None) -> V:
        pl = self.pl
        a = self.value(e.left, env, lst)
        if isinstance(e.right, ast.ListExpr):
            items = [i for i in e.right.items if isinstance(i, ast.Literal)]
            if len(items) < len(e.right.items):
                raise ColumnarUnsupported(f"`{e.op}` a list of expressions has no columnar form", e.span)
            vals: list[Any] = [i.value for i in items if i.value is not None]
            if a.scale is not None:
                exact = [Decimal(v) for v in vals]      # checked: numbers compared with a decimal
                vals = [_scaled(d, a.scale) for d in exact]
                if any(d.scaleb(a.scale) != k for d, k in zip(exact, vals, strict=True)):
                    raise ColumnarUnsupported("a decimal literal with more places than the value it is compared with",
                                              e.span)
            test = a.e.is_in(pl.Series(vals, dtype=_lit_dtype(pl, vals)).implode()) if vals else pl.lit(False)
            if any(i.value is None for i in items):
                test = test | a.e.is_null()
            test = test.fill_null(False)
        else:
            b = self.value(e.right, env, lst)
            a, b = self.same_frame([a, b], lst)
            if a.scale is not None or b.scale is not None:
                raise ColumnarUnsupported("`in` a list of decimals has no columnar form", e.span)
            test = b.e.list.contains(a.e, nulls_equal=True).fill_null(False)
        return V(~test if e.op == "not in" else test, None, a.lst)

    def lookup(self, e: ast.Lookup, env: Env, lst: str | None) -> V:
        pl = self.pl
        assert isinstance(e.obj, ast.Name)   # the checker allows only tables
        table = self.p.tables[e.obj.name]
        key = self.value(e.key, env, lst)
        vt = T.strip(table.value_type)
        mapping = dict(table.mapping)
        kt: T.Type | None = T.strip(table.key_type)
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
    def generator(self, g: ast.Generator, env: Env, lst: str | None) -> tuple[str, V | None, Env]:
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
            mask = self.item_column(c if mask is None else V(mask.e & c.e, None, src.lst), src.items)
        return src.items, mask, inner

    def item_column(self, v: V, lst: str) -> V:
        """`v` (an item expression) as a column of its item frame: aggregates then read plain
        columns (an expression inside a group-by runs group by group, far slower)."""
        if v.e.meta.is_column() or not v.e.meta.root_names():
            return v
        return V(self.pl.col(self.i_step(lst, self.fresh("el"), v.e)), v.scale, lst, isint=v.isint)

    def comprehension(self, e: ast.Comprehension | ast.Generator, env: Env, lst: str | None) -> V:
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

    def elements(self, a: ast.Expr, env: Env, lst: str | None) -> tuple[str, V | None, V | None]:
        """An aggregate's argument: (list, element V, mask V or None)."""
        if isinstance(a, ast.Comprehension):
            a = a.generator
        if isinstance(a, ast.Generator):
            src_lst, mask, inner = self.generator(a, env, lst)
            el = self.item_column(self.in_ctx(self.value(a.element, inner, src_lst), src_lst), src_lst)
            return src_lst, el, mask
        v = self.expr(a, env, lst)
        if v.kind == "rows":
            return v.items, None, v.mask
        raise ColumnarUnsupported("an aggregate of a list of values", a.span)

    def call(self, e: ast.Call, env: Env, lst: str | None) -> V:
        """A call: the policy's own functions inlined; built-ins by their columnar form
        (`builtins.TABLE[name].columnar(plan, call, env)`, the frame in `env["#frame"]`)."""
        f, args = e.func, e.args
        if f in self.p.defs:
            info = self.p.defs[f]
            if not info.params:
                return self.definition(f, e)
            inner = {pname: self.expr(a, env, lst) for (pname, _), a in zip(info.params, args, strict=True)}
            return self.expr(info.expr, inner, lst)
        b = TABLE.get(f)
        if b is None or b.columnar is None:
            raise ColumnarUnsupported(f"`{f}` has no columnar form", e.span)
        return b.columnar(self, e, {**env, "#frame": lst})

