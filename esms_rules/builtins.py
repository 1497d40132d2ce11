"""The built-in functions of the policy language, each declared once (as OPA declares its built-ins).

`TABLE` maps each name to a `Builtin` holding everything a back end needs:

- `infer(checker, call, env) -> Type | None`: the type rule (arity, argument types, result type),
  reporting its diagnostics through the checker (`infer.ExprChecker`);
- `python(gen, call, scope) -> str`: the generated Python expression (`compile._Gen`);
- `value(interp, call, env) -> object`: the meaning, for the reference interpreter
  (`interpret._Interpreter`);
- `columnar(plan, call, env) -> polars expression`: the column form for `esms_rules.columnar`, or None
  while the built-in runs per record only. A columnar form receives the plan, whose `pl` is the
  polars module, so this module never imports polars.

A back end's `visit_Call` handles calls of the policy's own functions (`def f(x)`), then
dispatches every other call to `TABLE[call.func]`: adding a built-in is one entry here, and
the checker's `unknown-function` diagnostic lists `NAMES`. The back ends offer the few methods
these rules call (`checker.expect`, `gen.expr`, `interp.value_of`…); the rules are plain
functions so that a new back end (columnar, a language server hovering a call) reads the same
declaration.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from dateutil import tz as dateutil_tz

from . import ast, runtime
from . import types as T
from .diagnostics import did_you_mean

if TYPE_CHECKING:
    from .compile import _Gen
    from .infer import Env, ExprChecker
    from .interpret import _Interpreter

InferRule = Callable[["ExprChecker", ast.Call, "Env"], T.Type | None]
PythonForm = Callable[["_Gen", ast.Call, dict[str, Any]], str]
ValueForm = Callable[["_Interpreter", ast.Call, dict[str, Any]], Any]
ColumnarForm = Callable[[Any, ast.Call, dict[str, Any]], Any]


@attrs.frozen
class Builtin:
    name: str
    usage: str            # how it is called, shown in diagnostics and docs
    infer: InferRule
    python: PythonForm
    value: ValueForm
    columnar: ColumnarForm | None = None


# ---- shared pieces -----------------------------------------------------------------------
def _values(fn: Callable[..., Any]) -> ValueForm:
    """The interpreter form of a built-in that is a function of its arguments' values."""
    return lambda interp, e, env: fn(*(interp.value_of(a, env) for a in e.args))


def _one_argument(chk: ExprChecker, e: ast.Call) -> ast.Expr | None:
    if len(e.args) != 1:
        chk.error("wrong-arity", f"`{e.func}` takes one argument, {len(e.args)} given", e.span)
        return None
    return e.args[0]


def _aggregate(element_rule: Callable[[ExprChecker, ast.Call, T.List], T.Type | None]) -> InferRule:
    """The type rule of a built-in over one list (or a generator): `element_rule` gets the list type."""
    def infer(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
        a = _one_argument(chk, e)
        if a is None:
            return None
        lt = chk.infer(a, env)
        if lt is None:
            return None
        if not isinstance(lt, T.List):
            chk.error("not-a-list", f"`{e.func}` needs a list, found {chk.show(a)} of type {lt}", a.span)
            return None
        return element_rule(chk, e, lt)
    return infer


def _lazy(python: str) -> PythonForm:
    """`python` ({} the iterable) over the argument, a generator kept lazy."""
    return lambda gen, e, scope: python.format(gen.iterable(e.args[0], scope))


# ---- count, sum, distinct, any, all, min, max ----------------------------------------------
def _count_python(gen: _Gen, e: ast.Call, scope: dict[str, Any]) -> str:
    a = e.args[0]
    if isinstance(a, ast.Call) and a.func == "distinct" and a.func not in gen.p.defs:
        return f"len(set({gen.iterable(a.args[0], scope)}))"  # speed: no ordered list
    if isinstance(a, (ast.Comprehension, ast.Generator)):
        g = a.generator if isinstance(a, ast.Comprehension) else a
        return f"sum(1 for {gen.gen(g, scope, element=False).split(' for ', 1)[1]})"
    return f"len({gen.expr(a, scope)})"


def _conditions(chk: ExprChecker, e: ast.Call, lt: T.List) -> T.Type | None:
    if not (lt.element == T.BOOL or isinstance(lt.element, T.Never)):
        chk.error("type-mismatch", f"`{e.func}` needs a list of conditions (bool), found {lt}", e.args[0].span)
        return None
    return T.BOOL


def _sum_type(chk: ExprChecker, e: ast.Call, lt: T.List) -> T.Type | None:
    if not (T.is_numeric(lt.element) or isinstance(lt.element, T.Never)):
        chk.error("type-mismatch", f"`sum` needs a list of numbers, found {lt}", e.args[0].span)
        return None
    return T.INT if isinstance(lt.element, T.Never) else lt.element


def _extremum_type(chk: ExprChecker, e: ast.Call, lt: T.List) -> T.Type | None:
    el = lt.element
    if not (T.is_numeric(el) or el in (T.DATE, T.DATETIME, T.TEXT)):
        chk.error("type-mismatch", f"`{e.func}` needs a list of numbers, dates or texts, found {lt}", e.args[0].span)
        return None
    return T.optional(el)


# ---- end_of_day, round, coalesce -----------------------------------------------------------
ZONE_SUGGESTIONS = ("Europe/Paris", "Indian/Reunion", "America/Guadeloupe", "America/Martinique",
                    "America/Cayenne", "Indian/Mayotte", "Etc/UTC")


def _end_of_day_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    args = e.args
    if len(args) != 2:
        chk.error("wrong-arity", "`end_of_day` takes a date and a time zone: "
                  "`end_of_day(2025-09-15, \"Europe/Paris\")`", e.span)
        return None
    chk.expect(args[0], env, lambda t: t == T.DATE, "a date")
    z = args[1]
    if not (isinstance(z, ast.Literal) and z.kind == "string" and isinstance(z.value, str)):
        chk.error("bad-time-zone", "the time zone must be written as a string, e.g. `\"Europe/Paris\"`", z.span)
        return None
    if not z.value or "/" not in z.value or dateutil_tz.gettz(z.value) is None:
        chk.error("bad-time-zone", f"unknown time zone `{z.value}`", z.span, did_you_mean(z.value, ZONE_SUGGESTIONS))
        return None
    return T.DATETIME


def _zone(e: ast.Call) -> str:
    z = e.args[1]
    assert isinstance(z, ast.Literal) and isinstance(z.value, str)   # the type rule checked it
    return z.value


def _end_of_day_python(gen: _Gen, e: ast.Call, scope: dict[str, Any]) -> str:
    day = e.args[0]
    if isinstance(day, ast.Literal):
        return gen.const(runtime.end_of_day(day.value, _zone(e)))
    return f"_rt.end_of_day({gen.expr(day, scope)}, {_zone(e)!r})"


def _places(e: ast.Call) -> int:
    p = e.args[1]
    assert isinstance(p, ast.Literal) and isinstance(p.value, int)   # the type rule checked it
    return p.value


def _round_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    args = e.args
    if len(args) != 2 or not isinstance(args[1], ast.Literal) or args[1].kind != "int" \
            or not 0 <= args[1].value <= 10:   # type: ignore[operator]  # more decimals fail at run time
        chk.error("wrong-arity", "`round` takes a number and a whole number of decimals (0 to 10): "
                  "`round(x, 2)`", e.span)
        return None
    return chk.expect(args[0], env, T.is_numeric, "a number") and T.DECIMAL


def _coalesce_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    if len(e.args) != 2:
        chk.error("wrong-arity", "`coalesce` takes a value that may be null and a fallback", e.span)
        return None
    a, b = chk.infer(e.args[0], env), chk.infer(e.args[1], env)
    if a is None or b is None:
        return None
    j = T.join(T.strip(a), b)
    if j is None:
        chk.error("type-mismatch", f"`coalesce` mixes {a} and {b}", e.span)
    return j


# ---- passes, repeated: about the items of a rule `for s in …` -------------------------------
def _passes_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    a = _one_argument(chk, e)
    if a is None:
        return None
    t = chk.infer(a, env)
    if t is not None and not isinstance(t, T.Record):
        chk.error("type-mismatch", f"`passes` needs an item of a list checked by `rule … for`, found {t}", a.span)
        return None
    if chk._deps is not None and isinstance(t, T.Record):
        chk._deps.add(("passes", t.name))
    return T.BOOL


def _passes_python(gen: _Gen, e: ast.Call, scope: dict[str, Any]) -> str:
    gen.uses_failed = True
    return f"(id({gen.expr(e.args[0], scope)}) not in FAILED)"


def _repeated_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    a = _one_argument(chk, e)
    if a is None:
        return None
    if env.iteration is None or chk._repeated is None:
        chk.error("repeated-outside-rule", "`repeated` can only be used in a rule or exception with `for`",
                  e.span, "it tells whether an earlier item of the rule's list had the same key")
        return None
    kt = chk.infer(a, env)
    if kt is not None and not (T.is_textual(kt) or kt == T.INT):
        chk.error("type-mismatch", f"`repeated` needs a text or number key, found {kt}", a.span)
    chk._repeated.append(a)
    return T.BOOL


def _repeated_python(gen: _Gen, e: ast.Call, scope: dict[str, Any]) -> str:
    # the flags of the key, computed once before the loop over the items (compile.items_loop)
    flags: str = scope["#repeated"][id(e.args[0])]
    return flags


# ---- luhn_valid: the check key of identifiers such as FINESS numbers --------------------------
def _luhn_type(chk: ExprChecker, e: ast.Call, env: Env) -> T.Type | None:
    a = _one_argument(chk, e)
    if a is None:
        return None
    return chk.expect(a, env, T.is_textual, "a text") and T.BOOL


def _sum(xs: Any) -> Any:
    return sum(xs, 0)


def _min(xs: Any) -> Any:
    return min(xs, default=None)


def _max(xs: Any) -> Any:
    return max(xs, default=None)


# ---- columnar forms (esms_rules.columnar): each returns a `columnar.V` -----------------------
# `plan` is the `columnar.Plan` being built; `env["#frame"]` is the frame the call is evaluated
# in (None: the dossier frame, else the name of a list of records). Imports are local so that
# this module never imports polars.
def _col_passes(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .columnar import ColumnarUnsupported, V
    item = plan.expr(e.args[0], env, env["#frame"])
    if item.kind != "item":
        raise ColumnarUnsupported("`passes` of something else than an item", e.span)
    col = plan.items_rules(item.lst)
    if col is None:
        raise ColumnarUnsupported("`passes` inside the rules of its own list", e.span)
    return V(~plan.pl.col(col), None, item.lst)


def _col_repeated(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .columnar import ColumnarUnsupported, V
    key = plan.value(e.args[0], env, env["#frame"])
    if key.lst is None:
        raise ColumnarUnsupported("`repeated` outside a rule for each item", e.span)
    return V(~key.e.is_first_distinct().over("__row"), None, key.lst)


def _col_end_of_day(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .batch import _end_of_day
    from .columnar import UTC, V
    pl = plan.pl
    day, zone = e.args[0], _zone(e)
    if isinstance(day, ast.Literal):
        return V(pl.lit(runtime.end_of_day(day.value, zone).astimezone(UTC), dtype=pl.Datetime("us", "UTC")))
    d = plan.value(day, env, env["#frame"])
    return V(d.e.map_batches(lambda s: _end_of_day(pl, s, zone), return_dtype=pl.Datetime("us", "UTC")), None, d.lst)


def _col_coalesce(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .columnar import V, _pick
    lst = env["#frame"]
    a, b = plan.value(e.args[0], env, lst), plan.value(e.args[1], env, lst)
    a, b = plan.same_frame([a, b], lst)
    isint = _pick(plan.pl, a.e.is_not_null(), a, b)
    a, b = plan.align(a, b)
    return V(plan.pl.coalesce(a.e, b.e), a.scale if a.scale is not None else b.scale, a.lst, isint=isint)


def _col_round(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    """Half up, on scaled integers: |x| + half a unit, floor-divided, the sign put back."""
    from .columnar import V
    x = plan.value(e.args[0], env, env["#frame"])
    places = _places(e)
    s = x.scale or 0
    if s <= places:
        y = plan.rescale(x, places)
        return V(y.e, y.scale, y.lst, isint=False)
    k = 10 ** (s - places)
    r = (x.e.abs() + k // 2) // k
    return V(plan.pl.when(x.e < 0).then(-r).otherwise(r), places, x.lst, isint=False)


def _col_count(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .columnar import V
    pl, lst, a = plan.pl, env["#frame"], e.args[0]
    if isinstance(a, ast.Call) and a.func == "distinct" and a.func not in plan.p.defs:
        src, el, mask = plan.elements(a.args[0], env, lst)
        x = el.e if mask is None else el.e.filter(mask.e)
        return V(pl.col(plan.agg_step(src, plan.fresh("agg"), x.n_unique().cast(pl.Int64), 0)))
    v = plan.expr(a, env, lst) if not isinstance(a, (ast.Comprehension, ast.Generator)) else None
    if v is not None and v.kind == "value":          # a list column
        return V(v.e.list.len().cast(pl.Int64), None, v.lst)
    src, _, mask = plan.elements(a, env, lst)
    x = pl.len() if mask is None else mask.e.sum()
    return V(pl.col(plan.agg_step(src, plan.fresh("agg"), x.cast(pl.Int64), 0)))


def _col_aggregate(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    """any, all, distinct, sum, min, max: a group-by of the item frame, joined back."""
    from .columnar import LIMIT, ColumnarUnsupported, V, _ii
    pl, f = plan.pl, e.func
    src, el, mask = plan.elements(e.args[0], env, env["#frame"])
    if el is None:
        raise ColumnarUnsupported(f"`{f}` of records", e.span)
    x = el.e
    if f == "any":
        y = x.fill_null(False) if mask is None else (x.fill_null(False) & mask.e)
        return V(pl.col(plan.agg_step(src, plan.fresh("agg"), y.any(), False)))
    if f == "all":
        y = x.fill_null(False) if mask is None else (x.fill_null(False) | ~mask.e)
        return V(pl.col(plan.agg_step(src, plan.fresh("agg"), y.all(), True)))
    y = x if mask is None else x.filter(mask.e)
    if f == "distinct":
        if el.scale is not None:
            raise ColumnarUnsupported("`distinct` of decimals has no columnar form", e.span)
        return V(pl.col(plan.agg_step(src, plan.fresh("agg"), y.unique(maintain_order=True), [])))
    isint = _ii(el)
    if not isinstance(isint, bool):
        raise ColumnarUnsupported(f"`{f}` of ints and decimals mixed", e.span)
    if f == "sum":
        ovf = plan.fresh("ovf")
        plan.agg_step(src, ovf, y.cast(pl.Float64).abs().sum() > LIMIT, False)
        plan.flags_d.append(pl.col(ovf))
        kind = isint if isint else pl.col(plan.agg_step(src, plan.fresh("agg"), y.len() == 0, True))
        # sum(…, 0) of no item is the int 0, as per record
        return V(pl.col(plan.agg_step(src, plan.fresh("agg"), y.sum(), 0)), el.scale, isint=kind)
    return V(pl.col(plan.agg_step(src, plan.fresh("agg"), y.min() if f == "min" else y.max(), None)),
             el.scale, isint=isint)


# Columnar Luhn: a text of 2 to 18 ASCII digits is read as an Int64 and cut into pairs of digits
# from the right; the right digit of a pair counts as is, the left one doubled, so a table of
# the 100 pairs gives each pair's share of the sum. A longer text (rare) is decided by the
# per-record function, only for those rows.
_LUHN_MAX = 18
_LUHN_PAIRS = [p % 10 + runtime._LUHN_DOUBLED[p // 10] for p in range(100)]


def _luhn_long(pl: Any, s: Any) -> Any:
    long = s.str.len_bytes() > _LUHN_MAX
    if not long.any():
        return long
    flags = [bool(k) and runtime.luhn_valid(v) for v, k in zip(s.to_list(), long.to_list(), strict=True)]
    return pl.Series(s.name, flags, dtype=pl.Boolean)


def _col_luhn(plan: Any, e: ast.Call, env: dict[str, Any]) -> Any:
    from .columnar import V
    pl = plan.pl
    x = plan.value(e.args[0], env, env["#frame"])
    n = x.e.str.to_integer(strict=False)
    pairs = [((n // 100 ** k) % 100).replace_strict(list(range(100)), _LUHN_PAIRS, return_dtype=pl.Int64)
             for k in range(_LUHN_MAX // 2)]
    short = x.e.str.contains(f"^[0-9]{{2,{_LUHN_MAX}}}$") & (pl.sum_horizontal(pairs) % 10 == 0)
    long = x.e.map_batches(lambda s: _luhn_long(pl, s), return_dtype=pl.Boolean)
    return V(pl.when(x.e.str.len_bytes() <= _LUHN_MAX).then(short).otherwise(long), None, x.lst)


_COLUMNAR = {"passes": _col_passes, "repeated": _col_repeated, "end_of_day": _col_end_of_day,
             "coalesce": _col_coalesce, "round": _col_round, "count": _col_count, "sum": _col_aggregate,
             "distinct": _col_aggregate, "any": _col_aggregate, "all": _col_aggregate,
             "min": _col_aggregate, "max": _col_aggregate, "luhn_valid": _col_luhn}


_DECLARED = [
    Builtin("count", "count(list)", _aggregate(lambda chk, e, lt: T.INT), _count_python, _values(len)),
    Builtin("sum", "sum(list of numbers)", _aggregate(_sum_type), _lazy("sum({}, 0)"), _values(_sum)),
    Builtin("distinct", "distinct(list)", _aggregate(lambda chk, e, lt: lt), _lazy("_rt.distinct({})"),
            _values(runtime.distinct)),
    Builtin("any", "any(list of conditions)", _aggregate(_conditions), _lazy("any({})"), _values(any)),
    Builtin("all", "all(list of conditions)", _aggregate(_conditions), _lazy("all({})"), _values(all)),
    Builtin("min", "min(list)", _aggregate(_extremum_type), _lazy("min({}, default=None)"), _values(_min)),
    Builtin("max", "max(list)", _aggregate(_extremum_type), _lazy("max({}, default=None)"), _values(_max)),
    Builtin("end_of_day", "end_of_day(date, \"Zone/City\")", _end_of_day_type, _end_of_day_python,
            lambda interp, e, env: runtime.end_of_day(interp.value_of(e.args[0], env), _zone(e))),
    Builtin("round", "round(number, decimals)", _round_type,
            lambda gen, e, scope: f"_rt.round_half_up({gen.expr(e.args[0], scope)}, {_places(e)!r})",
            lambda interp, e, env: runtime.round_half_up(interp.value_of(e.args[0], env), _places(e))),
    Builtin("coalesce", "coalesce(value, fallback)", _coalesce_type,
            lambda gen, e, scope: f"_rt.coalesce({gen.expr(e.args[0], scope)}, {gen.expr(e.args[1], scope)})",
            _values(runtime.coalesce)),
    Builtin("passes", "passes(item)", _passes_type, _passes_python,
            lambda interp, e, env: id(interp.value_of(e.args[0], env)) not in interp.failed),
    Builtin("repeated", "repeated(key)", _repeated_type, _repeated_python,
            lambda interp, e, env: env["#repeated"][id(e.args[0])]),
    Builtin("luhn_valid", "luhn_valid(text)", _luhn_type,
            lambda gen, e, scope: f"_rt.luhn_valid({gen.expr(e.args[0], scope)})", _values(runtime.luhn_valid)),
]

TABLE: dict[str, Builtin] = {b.name: attrs.evolve(b, columnar=_COLUMNAR.get(b.name, b.columnar))
                             for b in _DECLARED}
NAMES: tuple[str, ...] = tuple(TABLE)
