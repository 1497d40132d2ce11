"""Translation: a checked flat policy as polars expressions over a table of facts (a `_Plan`,
built once per policy and cached), refused with `BatchUnsupported` where a decision could read
a rounded or wrapped value. The package's docstring (`esms_rules.batch`) says what is covered."""
from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable, Iterator
from decimal import Decimal
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeAlias, cast

from .. import ast, runtime
from .. import types as T
from ..builtins import _zone
from ..diagnostics import EsmsError

if TYPE_CHECKING:
    import polars

    from ..check import CheckedPolicy, RuleInfo
    from ..policy import Policy

UTC = dt.UTC
RESULT_COLUMNS = ("eligible", "recevable", "reasons", "warnings")


class BatchUnsupported(EsmsError):
    """The policy (or the input) is outside what runs over columns: evaluate per record."""


def _polars() -> ModuleType:
    try:
        import polars as pl
    except ImportError:  # pragma: no cover - the `batch` extra is not installed
        raise BatchUnsupported("batch evaluation needs polars: pip install 'esms-rules[batch]'") from None
    return pl


# ---- translation ---------------------------------------------------------------------
_INT_LIMIT = 2 ** 63   # Int64
_COUNT_LIMIT = 2 ** 32  # a list's length, far beyond any dossier
_SMALL_TABLE = 8      # tables up to this size are translated to when/then chains
_PLANS: weakref.WeakKeyDictionary[Policy, _Plan] = weakref.WeakKeyDictionary()

# A name's polars expression (facts, definitions, a function's parameters, `eligible`), and
# under "#ast" the parameters' own expressions (`PEnv`), which the exactness checks read.
Env: TypeAlias = dict[str, Any]
# A function's parameter -> (the expression passed, the parameters of the caller).
PEnv: TypeAlias = dict[str, "tuple[ast.Expr, PEnv]"]
Fired: TypeAlias = "list[tuple[RuleInfo, polars.Expr]]"
DType: TypeAlias = "polars.DataType | type[polars.DataType]"


class _Plan:
    """The polars expressions of one policy: built once, reused for every table."""

    def __init__(self, policy: Policy) -> None:
        pl = _polars()
        self.pl = pl
        self.policy = policy
        self.p: CheckedPolicy = policy.checked
        p = self.p
        self.facts: list[T.Field] = []
        for f in p.facts.fields:
            _column_type(f.name, f.type)            # raises BatchUnsupported
            self.facts.append(f)
        for r in p.rules:
            if r.binder is not None:
                raise BatchUnsupported(f"rule `{r.name}` is evaluated for each item of `{r.binder.list_name}`: "
                                       "lists of records run per record")
        self.def_cols: dict[str, str] = {}
        self.defs: list[tuple[str, polars.Expr]] = []   # (column, expr), in dependency order
        self.hoisted: dict[tuple[str, str], str] | None = {}   # end_of_day(…) computed once, as a column
        for node in p.def_order:
            if isinstance(node, tuple):
                raise BatchUnsupported("rules for each item of a list run per record")
            info = p.defs[node]
            if info.params:
                continue                            # inlined at each call
            col = f"__def_{len(self.defs)}"
            self.defs.append((col, self.expr(info.expr, {})))
            self.def_cols[node] = col
        self.fired: Fired = []                      # (RuleInfo, condition) in per-record order
        for r in p.rules:
            for rule, c in firing(r, lambda e: self.expr(e, {})):
                self.fired.append((rule, c if c is not None else pl.lit(True)))
        false = pl.lit(False)
        blocking = [c for r, c in self.fired if r.severity in ("blocking", "inadmissible")]
        inadmissible = [c for r, c in self.fired if r.severity == "inadmissible"]
        self.ok = ~pl.any_horizontal(blocking) if blocking else ~false
        self.rec = ~pl.any_horizontal(inadmissible) if inadmissible else ~false
        self.outputs: list[tuple[str, polars.Expr, Any]] = []     # (name, expression, polars dtype)
        self.hoisted = None                         # outputs may read `eligible`: nothing hoisted
        for o in p.outputs.values():
            if o.binder is not None:
                raise BatchUnsupported(f"output `{o.name}` is computed for each item of `{o.binder.list_name}`")
            if o.name in RESULT_COLUMNS:
                raise BatchUnsupported(f"output `{o.name}` has the name of a result column")
            self.outputs.append((o.name, self.expr(o.expr, {"eligible": pl.col("__ok")}),
                                 _dtype(pl, o.type)))
        self.reasons = [(r, c) for r, c in self.fired if r.severity != "warning"]
        self.warnings = [(r, c) for r, c in self.fired if r.severity == "warning"]
        self.levels = _levels(self.defs)           # definitions and hoisted end_of_day columns
        self.code_tables: dict[str, polars.Series] = {}   # filled by run._codes: lists of codes by mask

    # -- expressions
    def expr(self, e: ast.Expr, env: Env) -> polars.Expr:
        pl = self.pl
        p = self.p
        if isinstance(e, ast.Literal):
            return self.lit(e.value, p.types.get(id(e)))
        if isinstance(e, ast.Name):
            if e.name in env:
                return env[e.name]
            if e.name in self.def_cols:
                return pl.col(self.def_cols[e.name])
            if p.facts.field(e.name) is not None:
                return pl.col(e.name)
            raise BatchUnsupported(f"`{e.name}` cannot be evaluated over columns")
        if isinstance(e, ast.Lookup):
            assert isinstance(e.obj, ast.Name)   # the checker allows only tables
            table = p.tables[e.obj.name]
            self.exact(e.key, env, e)
            key = self.expr(e.key, env)
            vt = _dtype(pl, table.value_type)
            if len(table.mapping) <= _SMALL_TABLE:   # a few comparisons beat a hash lookup
                chain: Any = pl                       # pl.when(…).then(…).when(…)…
                for k, v in table.mapping.items():
                    chain = chain.when(key == pl.lit(k)).then(pl.lit(_value(v), dtype=vt))
                return chain.otherwise(pl.lit(None, dtype=vt))
            keys = list(table.mapping)
            values = pl.Series([_value(v) for v in table.mapping.values()], dtype=vt)
            return key.replace_strict(keys, values, default=None, return_dtype=vt)
        if isinstance(e, ast.Unary):
            inner = self.expr(e.operand, env)
            return ~inner if e.op == "not" else -inner
        if isinstance(e, ast.If):
            return pl.when(self.expr(e.condition, env)).then(self.expr(e.then, env)) \
                .otherwise(self.expr(e.otherwise, env))
        if isinstance(e, ast.Binary):
            return self.binary(e, env)
        if isinstance(e, ast.Call):
            return self.call(e, env)
        raise BatchUnsupported(f"{type(e).__name__.lower()} expressions run per record "
                               f"(at {e.span})")

    def lit(self, value: ast.LiteralValue, t: T.Type | None) -> polars.Expr:
        pl = self.pl
        if value is None:
            return pl.lit(None)
        dtype = _dtype(pl, t) if t is not None and not isinstance(t, (T.Null, T.Never)) else None
        return pl.lit(_value(value), dtype=dtype)

    def binary(self, e: ast.Binary, env: Env) -> polars.Expr:
        pl = self.pl
        op = e.op
        if op not in ("and", "or", "+", "-", "*") and not (ast.is_null(e.left) or ast.is_null(e.right)):
            self.exact(e.left, env, e)
            self.exact(e.right, env, e)
        if op in ("and", "or"):
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            return a & b if op == "and" else a | b
        if op in ("==", "!="):
            if ast.is_null(e.right) or ast.is_null(e.left):
                other = self.expr(e.left if ast.is_null(e.right) else e.right, env)
                return other.is_null() if op == "==" else other.is_not_null()
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            if self.maybe_null(e.left) or self.maybe_null(e.right):
                return a.eq_missing(b) if op == "==" else a.ne_missing(b)   # null == null, like Python
            return a == b if op == "==" else a != b
        if op in ("<", "<=", ">", ">="):
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        if op in ("in", "not in"):
            a = self.expr(e.left, env)
            if isinstance(e.right, ast.ListExpr):
                items = [i for i in e.right.items if isinstance(i, ast.Literal)]
                if len(items) < len(e.right.items):
                    raise BatchUnsupported(f"`{op}` a list of expressions runs per record (at {e.span})")
                values = [_value(i.value) for i in items if i.value is not None]
                has_null = any(i.value is None for i in items)
                test = a.is_in(values) if values else pl.lit(False)
                if has_null:
                    test = test | a.is_null()
                test = test.fill_null(False)
            else:
                if not isinstance(T.strip(self.p.type_of(e.right)), T.List):
                    raise BatchUnsupported(f"`{op}` needs a list (at {e.span})")
                test = self.expr(e.right, env).list.contains(a).fill_null(False)
            return ~test if op == "not in" else test
        if op in ("+", "-", "*"):
            if T.strip(self.p.type_of(e)) == T.INT:
                bound = self.bound(e, env.get("#ast", {}))
                if bound is None or bound >= _INT_LIMIT:
                    raise BatchUnsupported(f"{e.span}: whole-number `{op}` that may pass 64 bits (bound the facts "
                                           "it reads with a range, or use esms_rules.columnar, which is exact)")
            a, b = self.expr(e.left, env), self.expr(e.right, env)
            return {"+": a + b, "-": a - b, "*": a * b}[op]
        raise BatchUnsupported(f"operator `{op}` runs per record")

    # -- exactness (issue #13 item 1): this path computes decimals in Float64 and whole numbers
    # in Int64. A decision may never read a rounded decimal nor a wrapped integer: decimal
    # arithmetic is allowed only where its value is shown (an output), and integer arithmetic
    # only where the facts' ranges bound it; anything else is refused here, with its span.
    def exact(self, e: ast.Expr, env: Env, at: ast.Expr) -> None:
        if self.inexact(e, env.get("#ast", {})):
            raise BatchUnsupported(f"{at.span}: a decision would read decimal arithmetic computed in Float64 "
                                   "(rounded); use esms_rules.columnar, which is exact")

    def inexact(self, e: ast.Expr, penv: PEnv) -> bool:
        """Is `e` a decimal computed by arithmetic (so rounded in Float64)?"""
        p = self.p
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*"):
            return T.strip(p.type_of(e)) == T.DECIMAL or self.inexact(e.left, penv) or self.inexact(e.right, penv)
        if isinstance(e, ast.Unary):
            return e.op == "-" and T.strip(p.type_of(e)) == T.DECIMAL
        if isinstance(e, ast.Name):
            if e.name in penv:
                arg, outer = penv[e.name]
                return self.inexact(arg, outer)
            if e.name in p.defs and not p.defs[e.name].params:
                return self.inexact(p.defs[e.name].expr, {})
            return False
        if isinstance(e, ast.If):
            return self.inexact(e.then, penv) or self.inexact(e.otherwise, penv)
        if isinstance(e, ast.Call):
            if e.func in p.defs:
                info = p.defs[e.func]
                return self.inexact(info.expr, {n: (a, penv) for (n, _), a in zip(info.params, e.args, strict=True)})
            return e.func in ("coalesce", "min", "max") and any(self.inexact(a, penv) for a in e.args)
        return False

    def bound(self, e: ast.Expr, penv: PEnv) -> int | None:
        """A bound on |e| for a whole-number expression, or None when the facts do not bound it."""
        p = self.p
        if isinstance(e, ast.Literal):
            return abs(e.value) if isinstance(e.value, int) and not isinstance(e.value, bool) else None
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*"):
            a, b = self.bound(e.left, penv), self.bound(e.right, penv)
            if a is None or b is None:
                return None
            return a * b if e.op == "*" else a + b
        if isinstance(e, ast.Unary) and e.op == "-":
            return self.bound(e.operand, penv)
        if isinstance(e, ast.Name):
            if e.name in penv:
                arg, outer = penv[e.name]
                return self.bound(arg, outer)
            if e.name in p.defs and not p.defs[e.name].params:
                return self.bound(p.defs[e.name].expr, {})
            f = p.facts.field(e.name)
            if f is not None and isinstance(f.constraint, ast.RangeConstraint):
                low, high = f.constraint.low.value, f.constraint.high.value
                if isinstance(low, int) and isinstance(high, int):    # a whole number's range
                    return max(abs(low), abs(high))
            return None
        if isinstance(e, ast.If):
            a, b = self.bound(e.then, penv), self.bound(e.otherwise, penv)
            return None if a is None or b is None else max(a, b)
        if isinstance(e, ast.Lookup):
            assert isinstance(e.obj, ast.Name)
            values = [v for v in p.tables[e.obj.name].mapping.values() if isinstance(v, int)]
            return max((abs(v) for v in values), default=0)
        if isinstance(e, ast.Call):
            if e.func in p.defs:
                info = p.defs[e.func]
                return self.bound(info.expr, {n: (a, penv) for (n, _), a in zip(info.params, e.args, strict=True)})
            if e.func == "count":
                return _COUNT_LIMIT
            if e.func == "coalesce":
                a, b = (self.bound(x, penv) for x in e.args)
                return None if a is None or b is None else max(a, b)
        return None

    def maybe_null(self, e: ast.Expr) -> bool:
        t = self.p.types.get(id(e))
        return t is None or isinstance(t, (T.Optional, T.Null))

    def call(self, e: ast.Call, env: Env) -> polars.Expr:
        pl = self.pl
        f, args = e.func, e.args
        if f in self.p.defs:
            info = self.p.defs[f]
            inner = dict(env)
            asts: PEnv = {}
            for (pname, ptype), a in zip(info.params, args, strict=True):
                _column_type(pname, ptype)
                inner[pname] = self.expr(a, env)
                asts[pname] = (a, env.get("#ast", {}))
            inner["#ast"] = asts
            return self.expr(info.expr, {k: v for k, v in inner.items()
                                         if k in dict(info.params) or k in ("eligible", "#ast")})
        if f == "end_of_day":
            day, z = args[0], _zone(e)
            if isinstance(day, ast.Literal):
                assert isinstance(day.value, dt.date)
                return pl.lit(runtime.end_of_day(day.value, z).astimezone(UTC), dtype=pl.Datetime("us", "UTC"))
            ends = self.expr(day, env).map_batches(lambda s: _end_of_day(pl, s, z),
                                                   return_dtype=pl.Datetime("us", "UTC"))
            if self.hoisted is None:
                return ends
            key = (str(self.expr(day, env)), z)
            col = self.hoisted.get(key)
            if col is None:
                col = self.hoisted[key] = f"__eod_{len(self.hoisted)}"
                self.defs.append((col, ends))   # after the columns it reads, before its readers
            return pl.col(col)
        if f == "coalesce":
            return pl.coalesce(self.expr(args[0], env), self.expr(args[1], env))
        if f in ("passes", "repeated", "round"):
            raise BatchUnsupported(f"`{f}` runs per record (at {e.span})")
        a = args[0]
        if isinstance(a, (ast.Comprehension, ast.Generator)):
            raise BatchUnsupported(f"`{f}` of a generator runs per record (at {e.span})")
        if f == "count" and isinstance(a, ast.Call) and a.func == "distinct" and a.func not in self.p.defs:
            return self.list_expr(a.args[0], env).list.n_unique().cast(pl.Int64)
        lst = self.list_expr(a, env)
        if f == "count":
            return lst.list.len().cast(pl.Int64)
        if f == "distinct":
            return lst.list.unique(maintain_order=True)
        if f == "any":
            return lst.list.any()
        if f == "all":
            return lst.list.all()
        if f == "sum":
            el = T.strip(self.p.type_of(a))
            raise BatchUnsupported(f"{e.span}: `sum` of a list of {el.element if isinstance(el, T.List) else el} "
                                   "may wrap (whole numbers) or round (decimals) over Float64/Int64 columns: "
                                   "use esms_rules.columnar, which is exact")
        if f == "min":
            return lst.list.min()
        if f == "max":
            return lst.list.max()
        raise BatchUnsupported(f"`{f}` runs per record")

    def list_expr(self, a: ast.Expr, env: Env) -> polars.Expr:
        if isinstance(a, ast.ListExpr):
            raise BatchUnsupported(f"a list written in the policy runs per record (at {a.span})")
        return self.expr(a, env)


def _levels(defs: list[tuple[str, polars.Expr]]) -> list[list[tuple[str, polars.Expr]]]:
    """Definitions (column, expr) grouped so that each reads only columns of earlier groups."""
    level_of: dict[str, int] = {}
    levels: list[list[tuple[str, polars.Expr]]] = []
    for col, e in defs:
        reads = e.meta.root_names()
        k = 1 + max((level_of[c] for c in reads if c in level_of), default=-1)
        level_of[col] = k
        if k == len(levels):
            levels.append([])
        levels[k].append((col, e))
    return levels


def _and(a: polars.Expr | None, b: polars.Expr) -> polars.Expr:
    return b if a is None else a & b


def firing(rule: RuleInfo, cond: Callable[[ast.Expr], polars.Expr],
           guard: polars.Expr | None = None) -> Iterator[tuple[RuleInfo, polars.Expr | None]]:
    """(rule, condition) for `rule` and each of its exceptions that has a code, in the order the
    per-record path lists them (an exception before its rule). An exception fires where it
    applies and no exception of higher priority does; the rule where none applies and `when`
    holds. `cond(expr)` translates a condition; `guard` is the condition the rule is reached
    under, and a condition None means "always". Shared by this module and esms_rules.columnar."""
    prior = None                    # some exception of higher priority applies
    for x in rule.exceptions:       # highest priority first (as checked)
        assert x.applies is not None    # an exception's `applies when`
        applies = cond(x.applies)
        here = _and(guard, applies if prior is None else (~prior & applies))
        if x.code is not None:      # an exception with its own outcome (and exceptions)
            yield from firing(x, cond, here)
        prior = applies if prior is None else (prior | applies)
    if rule.code is not None:
        g = guard if prior is None else _and(guard, ~prior)
        yield rule, g if rule.when is None else _and(g, cond(rule.when))


def _value(v: ast.LiteralValue) -> str | int | float | dt.date | None:
    """A literal's value in its column representation."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC)
    return v


_EOD_TABLES: dict[tuple[str, int, int], polars.Series] = {}
_EOD_SPAN = 20_000    # days (55 years): beyond, one instant per distinct day instead


def _end_of_day(pl: ModuleType, s: polars.Series, zone: str) -> polars.Series:
    """runtime.end_of_day of every day of a Date series, as UTC instants: the per-record
    function, called once per day of the series' span (cached), then gathered by day."""
    days = s.to_physical()              # days since 1970-01-01
    if days.null_count() == len(days):
        return pl.Series(s.name, [None] * len(s), dtype=pl.Datetime("us", "UTC"))
    lo, hi = cast(int, days.min()), cast(int, days.max())      # of an Int32 series with a value
    if hi - lo > _EOD_SPAN:
        distinct = s.unique().drop_nulls().to_list()
        ends = pl.Series([runtime.end_of_day(d, zone).astimezone(UTC) for d in distinct],
                         dtype=pl.Datetime("us", "UTC"))
        return s.replace_strict(distinct, ends, default=None, return_dtype=pl.Datetime("us", "UTC"))
    key = (zone, lo, hi)
    table = _EOD_TABLES.get(key)
    if table is None:
        epoch = dt.date(1970, 1, 1)
        table = pl.Series([runtime.end_of_day(epoch + dt.timedelta(days=d), zone).astimezone(UTC)
                           for d in range(lo, hi + 1)], dtype=pl.Datetime("us", "UTC"))
        if len(_EOD_TABLES) > 64:
            _EOD_TABLES.clear()
        _EOD_TABLES[key] = table
    return table.gather(days - lo).alias(s.name)


def _column_type(name: str, t: T.Type) -> None:
    """Raise BatchUnsupported unless `t` is a scalar, or a list of non-null scalars."""
    base = T.strip(t)
    if isinstance(base, T.List):
        el = base.element
        if isinstance(el, T.Enum) or (isinstance(el, T.Scalar) and el.name in ("bool", "int", "decimal", "text")):
            return
        raise BatchUnsupported(f"`{name}` is a {t}: only lists of bool, int, decimal, text or enum values "
                               "run over columns")
    if isinstance(base, (T.Enum, T.Scalar)):
        return
    raise BatchUnsupported(f"`{name}` is a {t}: records and lists of records run per record")


def _dtype(pl: ModuleType, t: T.Type) -> DType:
    t = T.strip(t)
    if isinstance(t, T.Enum) or t == T.TEXT:
        return pl.String
    if isinstance(t, T.List):
        return pl.List(_dtype(pl, t.element))
    if isinstance(t, T.Scalar):
        return {"bool": pl.Boolean, "int": pl.Int64, "decimal": pl.Float64, "date": pl.Date,
                "datetime": pl.Datetime("us", "UTC")}[t.name]
    if isinstance(t, (T.Null, T.Never)):
        return pl.Null
    raise BatchUnsupported(f"values of type {t} run per record")


def plan(policy: Policy) -> _Plan:
    """The translation of a policy (cached); raises BatchUnsupported."""
    got = _PLANS.get(policy)
    if got is None:
        got = _PLANS[policy] = _Plan(policy)
    return got


def supports(policy: Policy) -> bool:
    """Whether `evaluate_table` can evaluate this policy (polars installed, flat policy)."""
    try:
        plan(policy)
    except BatchUnsupported:
        return False
    return True

