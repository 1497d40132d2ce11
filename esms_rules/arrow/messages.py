"""Messages rendered over columns, as `french.french` and `french.render_message` render them
per record: each value a message shows becomes its French text (the null word of its
placeholder included) by polars expressions where its type has one, by the per-record function
for each distinct value otherwise."""
from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from ..columnar import _python
from ..french import french, render_message
from .schema import _libs

if TYPE_CHECKING:
    import polars

    from ..check import RuleInfo
    from ..columnar import Plan, Shown

_USUAL_INSTANT = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"


def _two(e: polars.Expr) -> polars.Expr:
    return e.cast(_libs()[0].String).str.zfill(2)


def _day_text(pl: ModuleType, year: polars.Expr, month: polars.Expr, day: polars.Expr) -> polars.Expr:
    """`french._day`: dd/mm/yyyy."""
    return pl.concat_str([_two(day), pl.lit("/"), _two(month), pl.lit("/"), year.cast(pl.String).str.zfill(4)])


def _instant_texts(pl: ModuleType, raw: polars.Series) -> polars.Series:
    """`french.datetime_label` of ISO instants (a String series: the raw text a dossier gave),
    over columns, in stages (each intermediate column computed once); null where the text is
    not of the usual shape or the year is outside 1900–2199 (the time zone tables of polars
    and dateutil agree there): those are rendered per value."""
    c = pl.col
    f = raw.to_frame("raw").with_columns(
        usual=c("raw").str.contains(_USUAL_INSTANT)
        & c("raw").str.slice(0, 4).is_between(pl.lit("1900"), pl.lit("2199")),
        zulu=c("raw").str.ends_with("Z"), tail=c("raw").str.slice(-6))
    sign = pl.when(c("tail").str.slice(0, 1) == "-").then(-1).otherwise(1)
    f = f.with_columns(
        own=pl.when(c("zulu")).then(0).otherwise(sign * (c("tail").str.slice(1, 2).cast(pl.Int32, strict=False) * 60
                                                        + c("tail").str.slice(4, 2).cast(pl.Int32, strict=False))),
        instant=pl.when(c("usual"))
        .then(pl.when(c("zulu")).then(c("raw").str.replace("Z$", "+00:00")).otherwise(c("raw")))
        .str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False))
    f = f.with_columns(paris=c("instant").dt.convert_time_zone("Europe/Paris"))
    paris = c("paris")
    f = f.with_columns(
        off=pl.concat_str([pl.lit("UTC"), pl.when(c("own") < 0).then(pl.lit("-")).otherwise(pl.lit("+")),
                           _two(c("own").abs() // 60), pl.lit(":"), _two(c("own").abs() % 60)]),
        local=pl.concat_str([c("raw").str.slice(8, 2), pl.lit("/"), c("raw").str.slice(5, 2), pl.lit("/"),
                             c("raw").str.slice(0, 4), pl.lit(" à "), c("raw").str.slice(11, 2), pl.lit(":"),
                             c("raw").str.slice(14, 2)]),
        shown=pl.concat_str([_day_text(pl, paris.dt.year(), paris.dt.month(), paris.dt.day()), pl.lit(" à "),
                             _two(paris.dt.hour()), pl.lit(":"), _two(paris.dt.minute()), pl.lit(" heure de Paris")]),
        paris_off=(paris.dt.base_utc_offset() + paris.dt.dst_offset()).dt.total_minutes())
    text = pl.when(c("paris_off") == c("own")).then(pl.concat_str([c("shown"), pl.lit(" ("), c("off"), pl.lit(")")])) \
        .otherwise(pl.concat_str([c("shown"), pl.lit(" ("), c("local"), pl.lit(" en "), c("off"), pl.lit(")")]))
    return f.select(pl.when(c("usual") & c("instant").is_not_null()).then(text).alias(raw.name)).to_series()


def _decimal_text(pl: ModuleType, k: polars.Expr, scale: int) -> polars.Expr:
    """`french.french` of a decimal held as an integer of 10**-scale: digits without trailing
    zeros, a decimal comma, "0" for zero."""
    if not scale:
        return k.cast(pl.String)
    a = k.abs()
    whole = (a // 10 ** scale).cast(pl.String)
    frac = (a % 10 ** scale).cast(pl.String).str.zfill(scale).str.strip_chars_end("0")
    body = pl.when(frac == "").then(whole).otherwise(pl.concat_str([whole, pl.lit(","), frac]))
    return pl.when(k == 0).then(pl.lit("0")).when(k < 0).then(pl.concat_str([pl.lit("-"), body])).otherwise(body)


def _plain_text(pl: ModuleType, e: polars.Expr, dtype: polars.DataType) -> polars.Expr | None:
    """`french.french` over columns for the types that have a columnar spelling, else None."""
    if dtype == pl.Boolean:
        return pl.when(e).then(pl.lit("oui")).otherwise(pl.lit("non"))
    if dtype == pl.String or dtype.is_integer():
        return e.cast(pl.String)
    if dtype == pl.Date:
        return _day_text(pl, e.dt.year(), e.dt.month(), e.dt.day())
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        if not (inner in (pl.String, pl.Boolean, pl.Null) or inner.is_integer()):
            return None
        # the items' own texts joined: null where an item is null (rendered per value)
        joined = e.cast(pl.List(pl.String)).list.join(", ", ignore_nulls=False)
        if inner == pl.Boolean:         # the only words are true and false
            joined = joined.str.replace_all("true", "oui", literal=True).str.replace_all("false", "non", literal=True)
        return pl.when(e.list.len() == 0).then(pl.lit("aucun")).otherwise(joined)
    return None


def _shown_text(pl: ModuleType, sub: polars.DataFrame, m: Shown, null: str) -> polars.Series:
    """The French text of message value `m` on the rows of `sub`: a String series."""
    s = sub.get_column(m.col)
    e = pl.col(m.col)
    if m.kind == "datetime":
        text = pl.lit(_instant_texts(pl, s))
    elif m.scale is not None:
        text = _decimal_text(pl, e, m.scale)
    else:
        text = _plain_text(pl, e, s.dtype)
    if text is None:
        text = pl.lit(None, dtype=pl.String)
    out = sub.select(pl.when(e.is_null()).then(pl.lit(null)).otherwise(text).alias("__t")).to_series()
    missing = out.is_null()
    if missing.any():          # no columnar spelling: the per-record function, once per value
        where = missing.arg_true()
        cache: dict = {}
        texts = []
        for v in s.gather(where).to_list():
            key = repr(v)
            t = cache.get(key)
            if t is None:
                t = cache[key] = french(_python(v, m.scale, m.kind), null)
            texts.append(t)
        out = out.scatter(where, pl.Series(texts, dtype=pl.String))
    return out


def _messages(pln: Plan, sub: polars.DataFrame, r: RuleInfo) -> polars.Series:
    """The rendered message of rule `r` on each row of `sub` (the rows where it fired)."""
    pl = pln.pl
    shown = pln.messages[r.index]
    nulls = pln.policy._message_nulls[r.index]
    if not shown:
        return pl.Series("__msg", [render_message(r.message, ())] * sub.height, dtype=pl.String)
    texts = pl.DataFrame([_shown_text(pl, sub, m, null).alias(f"__t{j}")
                          for j, (m, null) in enumerate(zip(shown, nulls, strict=True))])
    j = iter(range(len(shown)))
    parts = [pl.lit(part) if isinstance(part, str) else pl.col(f"__t{next(j)}") for part in r.message]
    return texts.select(pl.concat_str(parts).alias("__msg")).to_series()

