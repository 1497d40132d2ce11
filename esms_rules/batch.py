"""Batch evaluation over columns: a checked policy translated to polars expressions.

    pip install "esms-rules[batch]"      # polars

`evaluate_table(policy, table)` takes a polars DataFrame or LazyFrame, an Arrow table, or
the path of a Parquet file, whose columns are the policy's facts (one row per dossier), and
returns a DataFrame with, per row, `eligible`, `recevable`, each output, and the codes of
the rules that fired: `reasons` (blocking, inadmissible) and `warnings`, in the order the
per-record path lists them. `evaluate_dicts(policy, records)` does the same for JSON-like
dicts. Record for record, the decisions are those of `Policy.decide` / `Policy.evaluate`.

The translation covers flat policies: facts that are scalars (bool, int, decimal, text,
enums, date, datetime, optional or not) or lists of scalars; literals, facts and
definitions, comparisons, `and`/`or`/`not`, `if`, `+ - *`, `in` a list of literals or a
list column, `count`/`distinct`/`any`/`all`/`sum`/`min`/`max` of a list column, table
lookups, `coalesce`, `end_of_day`, definitions with parameters (inlined), rules and
exceptions with priorities, outputs without `for`. Anything else (records, lists of
records, rules `for s in …`, `passes`, `repeated`, generators, `round`) raises
`BatchUnsupported`, an `EsmsError`, before any row is read: callers then evaluate per
record (`Policy.evaluate_many`), or use `esms_rules.columnar` / `esms_rules.arrow`, which run
every bundled policy over columns, exactly (docs/columnar.md). `supports(policy)` tells in
advance.

Representation: `decimal` is Float64 here (Decimal per record), `int` is Int64. So that no
decision reads a rounded or wrapped value, decimal `+ - *` is allowed only where its value is
shown (an output: agrees to ~1e-15), whole-number `+ - *` only where the facts' ranges bound
it below 2**63, and `sum` not at all; anything else is refused with its span (use
`esms_rules.columnar`, exact). Comparisons of a decimal fact with a literal agree exactly for
literals of up to 15 significant digits. `datetime` columns are instants in UTC (microseconds); `end_of_day`
is computed with the per-record runtime for each distinct day, so both paths use the same
time-zone rules. Validation is by column (types, nulls, enum values, constraints,
date strings); a table that breaks the schema raises `DossierError` with row paths
(`[12].confort_share`). Unknown columns are ignored (no UNKNOWN_FIELD warning).
"""
from __future__ import annotations

import datetime as dt
import weakref
from decimal import Decimal
from pathlib import Path

from . import ast, runtime
from . import types as T
from .diagnostics import DossierError, EsmsError, Problem
from .validate import DATE_RE, DATE_SHAPE, DATETIME_USUAL_SHAPE, EXPECTED, expected

UTC = dt.timezone.utc
MAX_PROBLEMS = 100
RESULT_COLUMNS = ("eligible", "recevable", "reasons", "warnings")


class BatchUnsupported(EsmsError):
    """The policy (or the input) is outside what runs over columns: evaluate per record."""


def _polars():
    try:
        import polars as pl
    except ImportError:  # pragma: no cover - the `batch` extra is not installed
        raise BatchUnsupported("batch evaluation needs polars: pip install 'esms-rules[batch]'") from None
    return pl


# ---- translation ---------------------------------------------------------------------
_INT_LIMIT = 2 ** 63   # Int64
_COUNT_LIMIT = 2 ** 32  # a list's length, far beyond any dossier
_SMALL_TABLE = 8      # tables up to this size are translated to when/then chains
_PLANS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class _Plan:
    """The polars expressions of one policy: built once, reused for every table."""

    def __init__(self, policy):
        pl = _polars()
        self.pl = pl
        self.policy = policy
        self.p = p = policy.checked
        self.facts = []
        for f in p.facts.fields:
            _column_type(f.name, f.type)            # raises BatchUnsupported
            self.facts.append(f)
        for r in p.rules:
            if r.binder is not None:
                raise BatchUnsupported(f"rule `{r.name}` is evaluated for each item of `{r.binder.list_name}`: "
                                       "lists of records run per record")
        self.def_cols: dict[str, str] = {}
        self.defs = []                              # (column, expr), in dependency order
        self.hoisted: dict | None = {}              # end_of_day(…) computed once, as a column
        for node in p.def_order:
            if isinstance(node, tuple):
                raise BatchUnsupported("rules for each item of a list run per record")
            info = p.defs[node]
            if info.params:
                continue                            # inlined at each call
            col = f"__def_{len(self.defs)}"
            self.defs.append((col, self.expr(info.expr, {})))
            self.def_cols[node] = col
        self.fired = []                             # (RuleInfo, condition) in per-record order
        for r in p.rules:
            self.rule(r, None)
        false = pl.lit(False)
        blocking = [c for r, c in self.fired if r.severity in ("blocking", "inadmissible")]
        inadmissible = [c for r, c in self.fired if r.severity == "inadmissible"]
        self.ok = ~pl.any_horizontal(blocking) if blocking else ~false
        self.rec = ~pl.any_horizontal(inadmissible) if inadmissible else ~false
        self.outputs = []
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

    def masks(self, fired, name):
        """Which rules fired, as bits of integers (63 rules a column): cheap to compute, and
        few distinct values to turn into lists of codes (`_codes`)."""
        pl = self.pl
        out = []
        for k in range(0, len(fired), 63):
            chunk = fired[k:k + 63]
            out.append(pl.sum_horizontal([c.cast(pl.Int64) * (1 << i) for i, (_, c) in enumerate(chunk)])
                       .alias(f"__{name}{k // 63}"))        # names start with __: dropped at the end
        return out

    # -- rules and exceptions: the conditions under which each rule with a code fires
    def rule(self, r, guard):
        pl = self.pl
        prior = None                    # some exception of higher priority applies
        for x in r.exceptions:         # highest priority first (as checked)
            applies = self.expr(x.applies, {})
            here = _and(pl, guard, applies if prior is None else (~prior & applies))
            if x.code is not None:
                self.rule(x, here)      # an exception with its own outcome (and exceptions)
            prior = applies if prior is None else (prior | applies)
        g = guard if prior is None else _and(pl, guard, ~prior)
        if r.code is None:
            return
        cond = g if r.when is None else _and(pl, g, self.expr(r.when, {}))
        self.fired.append((r, cond if cond is not None else pl.lit(True)))

    # -- expressions
    def expr(self, e, env: dict):
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
            table = p.tables[e.obj.name]
            self.exact(e.key, env, e)
            key = self.expr(e.key, env)
            vt = _dtype(pl, table.value_type)
            if len(table.mapping) <= _SMALL_TABLE:   # a few comparisons beat a hash lookup
                chain = pl
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

    def lit(self, value, t):
        pl = self.pl
        if value is None:
            return pl.lit(None)
        dtype = _dtype(pl, t) if t is not None and not isinstance(t, (T.Null, T.Never)) else None
        return pl.lit(_value(value), dtype=dtype)

    def binary(self, e, env):
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
                if not all(isinstance(i, ast.Literal) for i in e.right.items):
                    raise BatchUnsupported(f"`{op}` a list of expressions runs per record (at {e.span})")
                values = [_value(i.value) for i in e.right.items if i.value is not None]
                has_null = any(i.value is None for i in e.right.items)
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
    def exact(self, e, env, at):
        if self.inexact(e, env.get("#ast", {})):
            raise BatchUnsupported(f"{at.span}: a decision would read decimal arithmetic computed in Float64 "
                                   "(rounded); use esms_rules.columnar, which is exact")

    def inexact(self, e, penv) -> bool:
        """Is `e` a decimal computed by arithmetic (so rounded in Float64)?"""
        p = self.p
        if isinstance(e, ast.Binary) and e.op in ("+", "-", "*"):
            return T.strip(p.type_of(e)) == T.DECIMAL or self.inexact(e.left, penv) or self.inexact(e.right, penv)
        if isinstance(e, ast.Unary):
            return e.op == "-" and T.strip(p.type_of(e)) == T.DECIMAL
        if isinstance(e, ast.Name):
            if e.name in penv:
                a, outer = penv[e.name]
                return self.inexact(a, outer)
            if e.name in p.defs and not p.defs[e.name].params:
                return self.inexact(p.defs[e.name].expr, {})
            return False
        if isinstance(e, ast.If):
            return self.inexact(e.then, penv) or self.inexact(e.otherwise, penv)
        if isinstance(e, ast.Call):
            if e.func in p.defs:
                info = p.defs[e.func]
                return self.inexact(info.expr, {n: (a, penv) for (n, _), a in zip(info.params, e.args)})
            return e.func in ("coalesce", "min", "max") and any(self.inexact(a, penv) for a in e.args)
        return False

    def bound(self, e, penv):
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
                a, outer = penv[e.name]
                return self.bound(a, outer)
            if e.name in p.defs and not p.defs[e.name].params:
                return self.bound(p.defs[e.name].expr, {})
            f = p.facts.field(e.name)
            if f is not None and isinstance(f.constraint, ast.RangeConstraint):
                return max(abs(f.constraint.low.value), abs(f.constraint.high.value))
            return None
        if isinstance(e, ast.If):
            a, b = self.bound(e.then, penv), self.bound(e.otherwise, penv)
            return None if a is None or b is None else max(a, b)
        if isinstance(e, ast.Lookup):
            values = [v for v in p.tables[e.obj.name].mapping.values() if isinstance(v, int)]
            return max((abs(v) for v in values), default=0)
        if isinstance(e, ast.Call):
            if e.func in p.defs:
                info = p.defs[e.func]
                return self.bound(info.expr, {n: (a, penv) for (n, _), a in zip(info.params, e.args)})
            if e.func == "count":
                return _COUNT_LIMIT
            if e.func == "coalesce":
                a, b = (self.bound(x, penv) for x in e.args)
                return None if a is None or b is None else max(a, b)
        return None

    def maybe_null(self, e) -> bool:
        t = self.p.types.get(id(e))
        return t is None or isinstance(t, (T.Optional, T.Null))

    def call(self, e: ast.Call, env):
        pl = self.pl
        f, args = e.func, e.args
        if f in self.p.defs:
            info = self.p.defs[f]
            inner = dict(env)
            asts = {}
            for (pname, ptype), a in zip(info.params, args):
                _column_type(pname, ptype)
                inner[pname] = self.expr(a, env)
                asts[pname] = (a, env.get("#ast", {}))
            inner["#ast"] = asts
            return self.expr(info.expr, {k: v for k, v in inner.items()
                                         if k in dict(info.params) or k in ("eligible", "#ast")})
        if f == "end_of_day":
            day, zone = args
            if isinstance(day, ast.Literal):
                return pl.lit(runtime.end_of_day(day.value, zone.value).astimezone(UTC),
                              dtype=pl.Datetime("us", "UTC"))
            z = zone.value
            e = self.expr(day, env).map_batches(lambda s: _end_of_day(pl, s, z),
                                                return_dtype=pl.Datetime("us", "UTC"))
            if self.hoisted is None:
                return e
            key = (str(self.expr(day, env)), z)
            col = self.hoisted.get(key)
            if col is None:
                col = self.hoisted[key] = f"__eod_{len(self.hoisted)}"
                self.defs.append((col, e))      # after the columns it reads, before its readers
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

    def list_expr(self, a, env):
        if isinstance(a, ast.ListExpr):
            raise BatchUnsupported(f"a list written in the policy runs per record (at {a.span})")
        return self.expr(a, env)


def _levels(defs):
    """Definitions (column, expr) grouped so that each reads only columns of earlier groups."""
    level_of: dict[str, int] = {}
    levels: list[list] = []
    for col, e in defs:
        reads = e.meta.root_names()
        k = 1 + max((level_of[c] for c in reads if c in level_of), default=-1)
        level_of[col] = k
        if k == len(levels):
            levels.append([])
        levels[k].append((col, e))
    return levels


def _and(pl, a, b):
    return b if a is None else a & b



def _value(v):
    """A literal's value in its column representation."""
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC)
    return v


_EOD_TABLES: dict = {}
_EOD_SPAN = 20_000    # days (55 years): beyond, one instant per distinct day instead


def _end_of_day(pl, s, zone):
    """runtime.end_of_day of every day of a Date series, as UTC instants: the per-record
    function, called once per day of the series' span (cached), then gathered by day."""
    days = s.to_physical()              # days since 1970-01-01
    lo, hi = days.min(), days.max()
    if lo is None:
        return pl.Series(s.name, [None] * len(s), dtype=pl.Datetime("us", "UTC"))
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


def _column_type(name, t):
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


def _dtype(pl, t):
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


def plan(policy) -> _Plan:
    """The translation of a policy (cached); raises BatchUnsupported."""
    got = _PLANS.get(policy)
    if got is None:
        got = _PLANS[policy] = _Plan(policy)
    return got


def supports(policy) -> bool:
    """Whether `evaluate_table` can evaluate this policy (polars installed, flat policy)."""
    try:
        plan(policy)
    except BatchUnsupported:
        return False
    return True


# ---- input: typed columns, checked like the per-record validator ------------------------
def _polars_shape(shape: str) -> str:
    """A shape of validate.py for polars' `str.contains` (Rust regex): anchored, as `contains`
    matches anywhere, and with ASCII digits, as Rust's `\\d` is any Unicode digit, which
    `%Y-%m-%d` would not parse (such strings then take the per-record rule, in `_parse`)."""
    return "^" + shape.replace(r"\d", "[0-9]") + "$"


# the strings polars parses itself (`_parse`); any other goes through validate.py's rule
_DATE_SHAPE = _polars_shape(DATE_SHAPE)
_DATETIME_SHAPE = _polars_shape(DATETIME_USUAL_SHAPE)


class _Problems:
    def __init__(self):
        self.items: list[Problem] = []
        self.more = 0

    def add(self, path, message):
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(Problem(path, message))
        else:
            self.more += 1

    def rows(self, pl, mask, values, field, message):
        """A problem for each row where `mask` holds; `message(value)`."""
        if not mask.any():
            return
        idx = mask.arg_true()
        for i in idx.head(MAX_PROBLEMS).to_list():
            self.add(f"[{i}].{field}", message(values[i]))
        self.more += max(0, len(idx) - MAX_PROBLEMS)

    def raise_if_any(self):
        if self.items:
            items = list(self.items)
            if self.more:
                items.append(Problem("$", f"… and {self.more} more problem(s)"))
            raise DossierError(items)


def _frame(pl, table, columns):
    if isinstance(table, (str, Path)):
        path = Path(table)
        present = set(pl.read_parquet_schema(path)) if hasattr(pl, "read_parquet_schema") else None
        cols = [c for c in columns if present is None or c in present]
        return pl.read_parquet(path, columns=cols)
    if isinstance(table, pl.LazyFrame):
        names = table.collect_schema().names()
        return table.select([c for c in columns if c in names]).collect()
    if isinstance(table, pl.DataFrame):
        return table
    if hasattr(table, "__arrow_c_stream__") or type(table).__module__.startswith("pyarrow"):
        return pl.from_arrow(table)
    raise TypeError(f"evaluate_table takes a polars DataFrame or LazyFrame, an Arrow table or a Parquet "
                    f"path, not {type(table).__name__}")


def _prepare(plan: _Plan, table):
    """The fact columns, typed as the plan expects, or DossierError.

    Types are checked per column; values (nulls, enum values, constraints…) by one query of
    every check at once, and the rows are looked for only when a check fails."""
    pl = plan.pl
    df = _frame(pl, table, [f.name for f in plan.facts])
    n = df.height
    problems = _Problems()
    checks: list = []          # (any bad row: scalar expr, bad rows: mask expr, field, message)
    out = {}
    for f in plan.facts:
        if f.name not in df.columns:
            if f.has_default:
                out[f.name] = pl.Series(f.name, [_value(f.default.value)] * n, dtype=_dtype(pl, f.type))
            else:
                problems.add(f.name, "missing column")
            continue
        s = _column(pl, df.get_column(f.name), f, problems, checks)
        if s is not None:
            out[f.name] = s
    typed = pl.DataFrame(out, height=n) if out else pl.DataFrame(height=n)
    checks = [c for c in checks if c[2] in out]      # not the columns of a wrong type
    if checks and n:
        flags = typed.select([c[0].alias(f"__check{i}") for i, c in enumerate(checks)]).row(0)
        for flag, (_, mask, name, message) in zip(flags, checks):
            if flag:
                problems.rows(pl, typed.select(mask.alias("m")).to_series(), typed.get_column(name), name, message)
    problems.raise_if_any()
    return typed


def _column(pl, s, f, problems, checks):
    t, name = f.type, f.name
    optional = isinstance(t, T.Optional)
    base = T.strip(t)
    dtype = s.dtype
    if dtype == pl.Null:
        s = s.cast(_dtype(pl, base))
        dtype = s.dtype
    col = pl.col(name)

    def check(mask, message, any_=None):
        checks.append((mask.any() if any_ is None else any_, mask, name, message))

    bad_type = lambda: problems.add(name, f"column of type {dtype}, expected {expected(t)}")  # noqa: E731
    if not optional:
        if dtype == pl.String and base in (T.DATE, T.DATETIME):
            missing = s.is_null()   # before parsing: a string that is no date is reported as such
            check(pl.lit(missing), lambda v: f"expected {expected(t)}, found null", pl.lit(bool(missing.any())))
        else:
            check(col.is_null(), lambda v: f"expected {expected(t)}, found null")
    if isinstance(base, T.List):
        if not isinstance(dtype, pl.List):
            return bad_type()
        el = base.element
        inner = dtype.inner
        if isinstance(el, T.Enum) or el == T.TEXT:
            if inner not in (pl.String, pl.Categorical, pl.Null) and not isinstance(inner, (pl.Categorical, pl.Enum)):
                return bad_type()
        elif el == T.BOOL and inner not in (pl.Boolean, pl.Null):
            return bad_type()
        elif el == T.INT and not (inner.is_integer() or inner == pl.Null):
            return bad_type()
        elif el == T.DECIMAL and (inner == pl.Boolean or not (inner.is_numeric() or inner == pl.Null)):
            return bad_type()
        s = s.cast(_dtype(pl, base))
        # an empty or a null list explodes to one null too
        check(col.list.eval(pl.element().is_null()).list.any().fill_null(False),
              lambda v: f"a list item is null: {v!r}",
              col.explode().null_count() > (col.list.len() == 0).sum() + col.null_count())
        if isinstance(el, T.Enum):
            check(~col.list.eval(pl.element().is_in(list(el.values))).list.all().fill_null(True),
                  lambda v: f"unknown value in {v!r}, expected values of {el.name}",
                  ~col.explode().drop_nulls().unique().is_in(list(el.values)).all())
        if el == T.DECIMAL:
            check(col.list.eval(~pl.element().is_finite()).list.any().fill_null(False),
                  lambda v: "expected finite numbers", (~col.explode().is_finite()).fill_null(False).any())
    elif isinstance(base, T.Enum) or base == T.TEXT:
        if dtype != pl.String and not isinstance(dtype, (pl.Categorical, pl.Enum)):
            return bad_type()
        s = s.cast(pl.String)
        if isinstance(base, T.Enum):
            shown = ", ".join(map(repr, base.values[:12])) + (", …" if len(base.values) > 12 else "")
            check(~col.is_in(list(base.values)).fill_null(True), lambda v: f"unknown value {v!r}, expected one of {shown}",
                  ~col.drop_nulls().unique().is_in(list(base.values)).all())
    elif base == T.BOOL:
        if dtype != pl.Boolean:
            return bad_type()
    elif base == T.INT:
        if not dtype.is_integer():
            return bad_type()
        try:
            s = s.cast(pl.Int64)
        except Exception:
            raise BatchUnsupported(f"`{name}`: whole numbers beyond 64 bits run per record") from None
    elif base == T.DECIMAL:
        if not (dtype.is_numeric()) or dtype == pl.Boolean:
            return bad_type()
        s = s.cast(pl.Float64)
        check((~col.is_finite()).fill_null(False), lambda v: "expected a finite number")
    elif base == T.DATE:
        if dtype == pl.String:
            s = _parse(pl, s, "date", name, problems)
        elif dtype != pl.Date:
            return bad_type()
    elif base == T.DATETIME:
        if dtype == pl.String:
            s = _parse(pl, s, "datetime", name, problems)
        elif isinstance(dtype, pl.Datetime):
            if dtype.time_zone is None:
                problems.add(name, "date-times without a UTC offset (a column without time zone)")
                return None
            s = s.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
        else:
            return bad_type()
    c = f.constraint
    if isinstance(c, ast.LengthConstraint):
        check((col.str.len_chars() != c.length).fill_null(False),
              lambda v: f"must be {c.length} characters long, found {len(v)} ({v!r})")
    elif isinstance(c, ast.RangeConstraint):
        lo, hi = _value(c.low.value), _value(c.high.value)
        check(((col < lo) | (col > hi)).fill_null(False),
              lambda v: f"must be between {c.low.value} and {c.high.value}, found {v}")
    return s.alias(name)


def _parse(pl, s, kind, name, problems):
    """ISO strings -> Date / Datetime(UTC), exactly as the per-record validator reads them:
    the usual shape by polars, every other string by the validator's own rule."""
    from .validate import _datetime_general
    if kind == "date":
        usual = s.str.contains(_DATE_SHAPE).fill_null(False)
        parsed = s.str.to_date("%Y-%m-%d", strict=False)
        target = pl.Date
    else:
        usual = s.str.contains(_DATETIME_SHAPE).fill_null(False)
        parsed = s.str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", time_zone="UTC", time_unit="us", strict=False)
        target = pl.Datetime("us", "UTC")
    parsed = pl.select(pl.when(usual).then(parsed).otherwise(None).alias(name)).to_series()
    odd = parsed.is_null() & s.is_not_null()
    if not odd.any():
        return parsed
    idx = odd.arg_true().to_list()
    raw = s.to_list()
    fixed = []
    for i in idx:
        v = raw[i]
        if kind == "date":
            try:
                value = dt.date.fromisoformat(v) if DATE_RE.fullmatch(v) else None
            except ValueError:
                value = None
            if value is None:
                problems.add(f"[{i}].{name}", f"expected {EXPECTED['date']}, found {v!r}")
        else:
            value = _datetime_general(v)
            if value is None:
                problems.add(f"[{i}].{name}", f"expected {EXPECTED['datetime']}, found {v!r}")
            else:
                value = value.astimezone(UTC)
        fixed.append(value)
    patch = pl.Series(name, fixed, dtype=target)
    return parsed.scatter(idx, patch)


# ---- evaluation ----------------------------------------------------------------------
def typed_table(policy, table):
    """The policy's fact columns of `table`, checked and typed as `evaluate_table` reads them
    (dates as Date, date-times as Datetime in UTC, enums as String); DossierError if bad."""
    return _prepare(plan(policy), table)


def evaluate_table(policy, table):
    """Eligible, recevable, the outputs and the reason codes of every row of `table`.

    Raises BatchUnsupported (policy outside the subset: evaluate per record), or
    DossierError (a column or row breaks the policy's schema).
    """
    pl_plan = plan(policy)
    pl = pl_plan.pl
    facts = _prepare(pl_plan, table)
    lf = facts.lazy()
    for level in pl_plan.levels:       # the definitions of a level are independent: in parallel
        lf = lf.with_columns([e.alias(col) for col, e in level])
    lf = lf.with_columns(pl_plan.ok.alias("__ok"), pl_plan.rec.alias("recevable"))
    cols = [pl.col("__ok").alias("eligible"), pl.col("recevable")]
    for name, e, dtype in pl_plan.outputs:
        cols.append(e.cast(dtype).alias(name) if dtype != pl.Null else e.alias(name))
    kinds = (("reasons", pl_plan.reasons), ("warnings", pl_plan.warnings))
    for kind, fired in kinds:
        if fired:
            cols += pl_plan.masks(fired, kind)
        else:  # no rule of that kind: an empty list on every row, broadcast
            cols.append(pl.lit(pl.Series(kind, [[]], dtype=pl.List(pl.String))).first().alias(kind))
    out = lf.select(cols).collect()
    codes = [_codes(pl, pl_plan, out, fired, kind).alias(kind) for kind, fired in kinds if fired]
    if codes:
        out = out.with_columns(codes)
    return out.select(["eligible", "recevable"] + [name for name, _, _ in pl_plan.outputs] + ["reasons", "warnings"])


_ALL_MASKS = 12      # up to 2**12 combinations of fired rules: a table of every list of codes


def _codes(pl, pl_plan, out, fired, kind):
    """The list of codes of each row, from its bit masks (see _Plan.masks), in rule order."""
    cols = [c for c in out.columns if c.startswith(f"__{kind}")]
    if len(fired) <= _ALL_MASKS:
        table = pl_plan.__dict__.get(f"_table_{kind}")
        if table is None:
            lists = [[r.code for i, (r, _) in enumerate(fired) if mask >> i & 1] for mask in range(1 << len(fired))]
            table = pl.Series(kind, lists, dtype=pl.List(pl.String))
            setattr(pl_plan, f"_table_{kind}", table)
        return table.gather(out.get_column(cols[0]))
    key = out.select(cols)
    uniq = key.unique(maintain_order=True)
    lists = []
    for row in uniq.iter_rows():
        codes = []
        for k, mask in enumerate(row):
            codes += [r.code for i, (r, _) in enumerate(fired[k * 63:(k + 1) * 63]) if mask >> i & 1]
        lists.append(codes)
    table = uniq.with_columns(pl.Series("__codes", lists, dtype=pl.List(pl.String)),
                              pl.int_range(pl.len(), dtype=pl.UInt32).alias("__pos"))
    if len(cols) == 1:
        pos = key.get_column(cols[0]).replace_strict(table.get_column(cols[0]), table.get_column("__pos"))
    else:
        pos = key.join(table, on=cols, how="left", maintain_order="left").get_column("__pos")
    return table.get_column("__codes").gather(pos)


def table_from_dicts(policy, records):
    """The fact columns of JSON-like dicts (dates as ISO strings), each checked first by the
    per-record validator; DossierError lists the problems of every bad record."""
    pl_plan = plan(policy)
    pl = pl_plan.pl
    if not isinstance(records, list):
        records = list(records)
    convert = policy.validator.convert
    problems = _Problems()
    for i, r in enumerate(records):
        try:
            convert(r)
        except DossierError as e:
            for prob in e.problems:
                problems.add(f"[{i}]" + ("" if prob.path == "$" else "." + prob.path), prob.message)
    problems.raise_if_any()
    columns = {}
    for f in pl_plan.facts:
        base = T.strip(f.type)
        raw = pl.String if base in (T.DATE, T.DATETIME) else _dtype(pl, base)
        if f.has_default:
            default = f.default.value
            values = [r.get(f.name, default) for r in records]
        else:
            values = [r[f.name] for r in records]
        try:
            if isinstance(base, T.List) and raw.inner == pl.String:
                columns[f.name] = _text_lists(pl, f.name, values)
            else:
                columns[f.name] = pl.Series(f.name, values, dtype=raw, strict=raw != pl.Float64)
        except BatchUnsupported:
            raise
        except Exception as e:  # e.g. a whole number beyond 64 bits
            raise BatchUnsupported(f"`{f.name}`: {e}") from None
    return pl.DataFrame(columns, height=len(records))


_SEP = "\x1f"


def _text_lists(pl, name, values):
    """A List(String) column from Python lists of str, by joining and splitting (polars builds
    lists from Python objects slowly); the plain way when a text holds the separator."""
    joined = pl.Series(name, [_SEP.join(v) for v in values], dtype=pl.String)
    lengths = pl.Series([len(v) for v in values], dtype=pl.Int64)
    if (joined.str.count_matches(_SEP, literal=True) != (lengths - 1).clip(lower_bound=0)).any():
        return pl.Series(name, values, dtype=pl.List(pl.String))
    split = joined.str.split(_SEP, inclusive=False)
    empty = pl.Series([[]], dtype=pl.List(pl.String)).new_from_index(0, len(values))
    return pl.select(pl.when(lengths == 0).then(empty).otherwise(split).alias(name)).to_series()


def evaluate_dicts(policy, records):
    """`evaluate_table` over JSON-like dicts (see `table_from_dicts`)."""
    return evaluate_table(policy, table_from_dicts(policy, records))
