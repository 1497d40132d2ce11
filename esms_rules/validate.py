"""Dossier (JSON-like dict) -> the typed facts a policy reads, or DossierError.

Validation follows the policy's declared schema (`fact`, `record`, `enum`, constraints):
every problem is collected with its JSON path, never only the first. Unknown fields are
not errors: they are returned as paths, for the UNKNOWN_FIELD warning of the contract.

Two validators share that contract:

- the *precise* validator (`Validator.precise`) walks the schema and collects every
  problem with its path and message; it is the specification;
- the *fast* validator is Python source generated once per schema (`fast_source`) from
  the checked types only: field names and enum values are data (`repr` or named
  constants), identifiers come from a counter. It accepts only dossiers it can prove
  valid, with no unknown field, and returns exactly what the precise validator returns
  for them; on the first doubt it gives up (returns None) and `convert` runs the precise
  validator, which then finds the problems, or accepts what the fast one was too strict
  for (an int subclass, a date-time written with a space, an unknown field…).
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal

from . import ast
from . import types as T
from .compile import load_source
from .diagnostics import DossierError, EsmsError, Problem
from .jsonio import lone_surrogate

# The shapes of the strings a `date` and a `datetime` are written as: the one definition, which
# jsonschema.py (patterns) and batch/typed.py (polars shapes) derive theirs from. Python's `\d`: any
# Unicode digit matches the shape (then fails to parse: "… is not a real date").
DATE_SHAPE = r"\d{4}-\d{2}-\d{2}"
TIME_SHAPE = r"[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?"
# an offset is at most ±23:59 (Python would read "+00:99" as UTC+01:39)
OFFSET_SHAPE = r"(Z|[+-]([01]\d|2[0-3]):?[0-5]\d)"
# The usual date-time form, YYYY-MM-DDTHH:MM:SS±HH:MM: the one the fast path checks inline
# (`_FastGen.value`, by its separators) and polars parses in batch/typed.py; other forms go through DATETIME_RE.
DATETIME_USUAL_SHAPE = DATE_SHAPE + r"T\d{2}:\d{2}:\d{2}[+-]([01]\d|2[0-3]):[0-5]\d"

DATE_RE = re.compile(DATE_SHAPE)
# the offset is optional here so that a missing one gets its own message ("has no UTC offset")
# (and any two-digit offset, so that "+00:99" gets "is not a real date-time", by _real_offset)
DATETIME_RE = re.compile(DATE_SHAPE + TIME_SHAPE + r"(Z|[+-]\d{2}:?\d{2})?")
_OFFSET_TAIL = re.compile(r"[+-](\d{2}):?(\d{2})$")


def _real_offset(v: str) -> bool:
    """Whether the offset a date-time string ends with, if any, is at most ±23:59."""
    m = _OFFSET_TAIL.search(v)
    return m is None or (int(m.group(1)) < 24 and int(m.group(2)) < 60)

# What a value of each scalar type is expected to be, in problems ("expected …, found …").
# The largest whole number read (Python converts at most this many digits to and from text).
MAX_INT_DIGITS = 4300
MAX_INT = 10 ** MAX_INT_DIGITS - 1
# Records that contain themselves (a policy may declare one) are read this many levels deep at most.
MAX_DEPTH = 100

EXPECTED = {"bool": "true or false", "int": "a whole number", "decimal": "a number", "text": "a string",
            "date": "a date YYYY-MM-DD", "datetime": "an ISO 8601 date-time with offset"}


def expected(t) -> str:
    """What a value of type `t` (optional or not) must be, as problems word it after "expected"."""
    t = T.strip(t)
    if isinstance(t, T.Enum):
        return "one of " + ", ".join(map(repr, t.values))
    if isinstance(t, T.List):
        return "a list"
    if isinstance(t, T.Record):
        return "an object"
    return EXPECTED[t.name]


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float, Decimal)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


class Validator:
    """Built once per policy; `convert(dossier)` returns (facts, unknown_paths)."""

    def __init__(self, facts: T.Record):
        self.facts = facts
        self._fast = None          # the generated fast path, built on first use

    def convert(self, dossier) -> tuple[dict, list[str]]:
        out = self.fast(dossier)
        if out is not None:
            return out, []
        return self.precise(dossier)

    @property
    def fast(self):
        """The generated function `dossier -> facts or None` (None: use the precise validator)."""
        if self._fast is None:
            self._fast = build_fast(self.facts)
        return self._fast

    def precise(self, dossier) -> tuple[dict, list[str]]:
        problems: list[Problem] = []
        unknown: list[str] = []
        if not isinstance(dossier, dict):
            raise DossierError([Problem("$", f"a dossier is a JSON object, not {_kind(dossier)}")])
        out = self.record(dossier, self.facts, "", problems, unknown)
        if problems:
            ident = dossier.get("id")
            raise DossierError(problems, ident if isinstance(ident, str) else None)
        return out, unknown

    def record(self, value: dict, rec: T.Record, path: str, problems, unknown, depth: int = 0) -> dict:
        out: dict = {}
        if depth > MAX_DEPTH:
            problems.append(Problem(path or "$", f"nested more than {MAX_DEPTH} records deep"))
            return out
        for f in rec.fields:
            sub = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if f.has_default:
                    out[f.name] = f.default.value if f.default is not None else None
                else:
                    problems.append(Problem(sub, "missing field" + (" (write null when unknown)"
                                                                     if isinstance(f.type, T.Optional) else "")))
                continue
            out[f.name] = self.value(value[f.name], f.type, sub, problems, unknown, f.constraint, depth)
        for k in value:
            if rec.field(k) is None:
                if isinstance(k, str) and lone_surrogate(k):
                    problems.append(Problem(f"{path}.{ascii(k)[1:-1]}" if path else ascii(k)[1:-1],
                                            "this key holds a lone UTF-16 surrogate, which is not text"))
                    continue
                unknown.append(f"{path}.{k}" if path else str(k))
        return out

    def value(self, v, t: T.Type, path: str, problems, unknown, constraint=None, depth: int = 0):
        if isinstance(t, T.Optional):
            if v is None:
                return None
            t = t.inner
        n = len(problems)
        out = self._convert(v, t, path, problems, unknown, depth)
        if constraint is not None and len(problems) == n and out is not None:
            self._constrain(out, constraint, path, problems)
        return out

    def _convert(self, v, t, path, problems, unknown, depth: int = 0):
        def bad(msg):
            problems.append(Problem(path, msg))

        if isinstance(t, T.Record):
            if not isinstance(v, dict):
                return bad(f"expected {expected(t)}, found {_kind(v)}")
            return self.record(v, t, path, problems, unknown, depth + 1)
        if isinstance(t, T.List):
            if not isinstance(v, list):
                return bad(f"expected {expected(t)}, found {_kind(v)}")
            return [self.value(x, t.element, f"{path}[{i}]", problems, unknown, None, depth) for i, x in enumerate(v)]
        if isinstance(t, T.Enum):
            if not isinstance(v, str):
                return bad(f"expected {expected(t)}, found {_kind(v)}")
            if v not in t.values:
                shown = ", ".join(map(repr, t.values[:12])) + (", …" if len(t.values) > 12 else "")
                return bad(f"unknown value {v!r}, expected one of {shown}")
            return v
        name = t.name
        if name == "bool":
            return v if isinstance(v, bool) else bad(f"expected {EXPECTED[name]}, found {_kind(v)}")
        if name == "int":
            if isinstance(v, int) and not isinstance(v, bool):
                if not -MAX_INT <= v <= MAX_INT:
                    return bad(f"a whole number of more than {MAX_INT_DIGITS} digits: out of the range read")
                return v
            return bad(f"expected {EXPECTED[name]}, found {_kind(v)}")
        if name == "decimal":
            if isinstance(v, bool) or not isinstance(v, (int, float, Decimal)):
                return bad(f"expected {EXPECTED[name]}, found {_kind(v)}")
            if isinstance(v, float) and not math.isfinite(v) or isinstance(v, Decimal) and not v.is_finite():
                return bad("expected a finite number")
            if isinstance(v, int) and not -MAX_INT <= v <= MAX_INT:
                return bad(f"a whole number of more than {MAX_INT_DIGITS} digits: out of the range read")
            if isinstance(v, Decimal):
                if v.adjusted() > MAX_INT_DIGITS or v.adjusted() < -MAX_INT_DIGITS:
                    return bad(f"a number beyond 10^±{MAX_INT_DIGITS}: out of the range read")
                return v
            return Decimal(v) if isinstance(v, int) else Decimal(repr(v))
        if name == "text":
            if not isinstance(v, str):
                return bad(f"expected {EXPECTED[name]}, found {_kind(v)}")
            if not v.isascii() and lone_surrogate(v):
                return bad(f"this string holds a lone UTF-16 surrogate ({ascii(v)[1:-1][:60]}), which is not text")
            return v
        if name == "date":
            if not isinstance(v, str) or not DATE_RE.fullmatch(v):
                return bad(f"expected {EXPECTED[name]}, found {repr(v) if isinstance(v, str) else _kind(v)}")
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                return bad(f"{v!r} is not a real date")
        if name == "datetime":
            if not isinstance(v, str) or not DATETIME_RE.fullmatch(v):
                return bad(f"expected {EXPECTED[name]}, found {repr(v) if isinstance(v, str) else _kind(v)}")
            try:
                if not _real_offset(v):
                    raise ValueError(v)
                parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                return bad(f"{v!r} is not a real date-time")
            if parsed.tzinfo is None:
                return bad(f"{v!r} has no UTC offset: write e.g. {v}+02:00")
            return parsed
        raise AssertionError(t)

    def _constrain(self, v, c, path, problems):
        if isinstance(c, ast.LengthConstraint) and len(v) != c.length:
            problems.append(Problem(path, f"must be {c.length} characters long, found {len(v)} ({v!r})"))
        if isinstance(c, ast.RangeConstraint) and not (c.low.value <= v <= c.high.value):
            problems.append(Problem(path, f"must be between {c.low.value} and {c.high.value}, found {v}"))


# ---- the generated fast path ------------------------------------------------------------
def _datetime_general(v):
    """The precise validator's date-time rule for the forms the fast path does not inline."""
    if not DATETIME_RE.fullmatch(v) or not _real_offset(v):
        return None
    try:
        parsed = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


# Parsed values of the strings and floats the fast path has already accepted. Bounded: once
# full, values are still parsed, just no longer remembered.
_CACHE_SIZE = 1 << 16
_DATE_CACHE: dict[str, dt.date] = {}


def _never(dossier):
    return None


class _Unsupported(Exception):
    """The schema has a shape the generator does not handle (e.g. a recursive record)."""


class _FastGen:
    """Python source for `fast(d)`, from checked types only.

    Every check is a type test (`type(v) is int`, so that bool and subclasses go to the
    precise validator), a membership test in a frozenset constant, a comparison with a
    constant bound, or a parse by `fromisoformat` of a string whose shape has been checked
    character by character. A string that passes those shape checks and parses is one the
    precise validator's regular expressions accept too (tests/test_validate.py checks this
    on random strings).
    """

    MAX_LOOPS = 15            # Python refuses more than 20 statically nested blocks

    def __init__(self):
        self.lines: list[str] = []
        self.consts: dict[str, object] = {
            "_v_Decimal": Decimal, "_v_date": dt.date.fromisoformat, "_v_datetime": dt.datetime.fromisoformat,
            "_v_datetime_general": _datetime_general, "_v_DATETIME_SHAPES": frozenset({"--T::+:", "--T::-:"}),
            "_v_dates": _DATE_CACHE, "_v_MAX_INT": MAX_INT, "_v_lone": lone_surrogate,
        }
        self.counter = 0
        self.loops = 0
        self.stack: list[str] = []
        self.share_lists = False      # keep the dossier's own lists of scalars (no copy)
        self.hooks: dict = {}         # item list -> compile's hook (see fast_prologue)
        self.hook = None              # the hook of the list being written

    def fresh(self, prefix: str) -> str:
        # every name starts with V: never one of compile.py's (the two share one function)
        self.counter += 1
        return f"V{prefix}{self.counter}"

    def const(self, value, prefix="K") -> str:
        name = self.fresh(prefix)
        self.consts[name] = value
        return name

    def emit(self, line: str, depth: int):
        self.lines.append("    " * depth + line)

    # `value` returns the name of a local holding the converted value of local `v`.
    def value(self, t, v: str, depth: int, constraint=None) -> str:
        if isinstance(t, T.Optional):
            inner = t.inner
            if _passthrough(inner):
                self.check(inner, v, depth, constraint, optional=True)
                return v
            x = self.fresh("x")
            self.emit(f"if {v} is None:", depth)
            self.emit(f"{x} = None", depth + 1)
            self.emit("else:", depth)
            y = self.value(inner, v, depth + 1, constraint)
            self.emit(f"{x} = {y}", depth + 1)
            return x
        if _passthrough(t):
            self.check(t, v, depth, constraint)
            return v
        if isinstance(t, T.Record):
            out = self.record(t, v, depth)
            assert out is not None          # without `targets`, record() names its dict
            return out
        if isinstance(t, T.List):
            return self.list(t, v, depth)
        name = t.name
        x = self.fresh("x")
        if name == "decimal":
            # A per-field cache of the numbers already accepted (constraint included): the
            # Decimal of a float is a function of its value, except that 0.0 and -0.0 share a
            # key, so zeros are not cached; ints and floats have separate caches (1 == 1.0).
            floats, ints = self.const({}, "DECF"), self.const({}, "DECI")
            self.emit(f"if type({v}) is float:", depth)
            self.emit(f"{x} = {floats}.get({v})", depth + 1)
            self.emit(f"if {x} is None:", depth + 1)
            self.emit(f"if {v} - {v} != 0.0: return None", depth + 2)       # nan or infinite
            self.emit(f"{x} = _v_Decimal(repr({v}))", depth + 2)
            self.constrain(x, constraint, depth + 2)
            self.emit(f"if {v} and len({floats}) < {_CACHE_SIZE}: {floats}[{v}] = {x}", depth + 2)
            self.emit(f"elif type({v}) is int:", depth)
            self.emit(f"{x} = {ints}.get({v})", depth + 1)
            self.emit(f"if {x} is None:", depth + 1)
            self.emit(f"if not -_v_MAX_INT <= {v} <= _v_MAX_INT: return None", depth + 2)
            self.emit(f"{x} = _v_Decimal({v})", depth + 2)
            self.constrain(x, constraint, depth + 2)
            self.emit(f"if len({ints}) < {_CACHE_SIZE}: {ints}[{v}] = {x}", depth + 2)
            self.emit("else: return None", depth)
            return x
        elif name == "date":
            # the cache holds only strings that passed the checks below
            self.emit(f"{x} = _v_dates.get({v})", depth)
            self.emit(f"if {x} is None:", depth)
            self.emit(f"if type({v}) is not str or len({v}) != 10 or {v}[4:8:3] != '--' "
                      f"or not {v}.isascii(): return None", depth + 1)
            self.emit(f"{x} = _v_date({v})", depth + 1)
            self.emit(f"if len(_v_dates) < {_CACHE_SIZE}: _v_dates[{v}] = {x}", depth + 1)
        elif name == "datetime":
            # YYYY-MM-DDTHH:MM:SS±HH:MM inline; any other form (Z, fractions, a space, no
            # seconds…) through the precise validator's own rule
            self.emit(f"if type({v}) is not str: return None", depth)
            # (an offset's hours below 24 and minutes below 60: see OFFSET_SHAPE)
            self.emit(f"if len({v}) == 25 and {v}[4:23:3] in _v_DATETIME_SHAPES and {v}.isascii() "
                      f"and {v}[20:22] < '24' and {v}[23] < '6':", depth)
            self.emit(f"{x} = _v_datetime({v})", depth + 1)
            self.emit("else:", depth)
            self.emit(f"{x} = _v_datetime_general({v})", depth + 1)
            self.emit(f"if {x} is None: return None", depth + 1)
        else:
            raise _Unsupported(name)
        self.constrain(x, constraint, depth)
        return x

    def check(self, t, v: str, depth: int, constraint, optional=False):
        """Type test of a value kept as it is (bool, int, text, enum)."""
        if isinstance(t, T.Enum):
            # `v not in frozenset`: only a str (or str subclass) equals a str; an unhashable
            # value raises TypeError, which sends the dossier to the precise validator.
            test = f"{v} not in {self.const(frozenset(t.values), 'ENUM')}"
        else:
            test = _scalar_test(t.name, v, constraint)
        if optional:
            test = f"{v} is not None and ({test})"
        self.emit(f"if {test}: return None", depth)
        if constraint is not None:
            if optional:
                self.emit(f"if {v} is not None:", depth)
                depth += 1
            self.constrain(v, constraint, depth)

    def constrain(self, x: str, c, depth: int):
        if isinstance(c, ast.LengthConstraint):
            self.emit(f"if len({x}) != {int(c.length)!r}: return None", depth)
        elif isinstance(c, ast.RangeConstraint):
            lo, hi = self.bound(c.low.value), self.bound(c.high.value)
            self.emit(f"if not ({lo} <= {x} <= {hi}): return None", depth)

    def bound(self, value) -> str:
        if type(value) is int:
            return repr(value)
        return self.const(value, "B")

    def record(self, rec: T.Record, v: str, depth: int, targets: dict | None = None,
               share_lists: bool = False) -> str | None:
        """Check record `v`; return the local holding its dict, or, with `targets` (field name ->
        local), leave each field's value in its local and build no dict."""
        if rec.name in self.stack:
            raise _Unsupported(f"recursive record {rec.name}")
        self.stack.append(rec.name)
        self.emit(f"if type({v}) is not dict: return None", depth)
        required = [f for f in rec.fields if not f.has_default]
        defaulted = [f for f in rec.fields if f.has_default]
        count = None
        if not defaulted:
            # every field read below must be there, so no other key iff the sizes agree
            self.emit(f"if len({v}) != {len(required)!r}: return None", depth)
        else:
            count = self.fresh("n")
            self.emit(f"{count} = {len(required)!r}", depth)
        items = []
        for f in rec.fields:
            key = repr(f.name)
            target = targets[f.name] if targets is not None else None
            if f.has_default:
                x = target or self.fresh("x")
                self.emit(f"if {key} in {v}:", depth)
                self.emit(f"{count} += 1", depth + 1)
                e = self.fresh("e")
                self.emit(f"{e} = {v}[{key}]", depth + 1)
                y = self.value(f.type, e, depth + 1, f.constraint)
                self.emit(f"{x} = {y}", depth + 1)
                self.emit("else:", depth)
                self.emit(f"{x} = {self.default(f.default.value if f.default else None)}", depth + 1)
            else:
                e = target or self.fresh("e")
                self.emit(f"{e} = {v}[{key}]", depth)      # KeyError: missing, the precise path says so
                self.share_lists = targets is not None and share_lists
                if targets is not None and isinstance(f.type, T.List) and isinstance(f.type.element, T.Record):
                    self.hook = self.hooks.get(f.name)
                x = self.value(f.type, e, depth, f.constraint)
                self.share_lists = False
                self.hook = None
                if target is not None and x != target:
                    self.emit(f"{target} = {x}", depth)
            items.append(f"{key}: {x}")
        if count is not None:
            self.emit(f"if len({v}) != {count}: return None", depth)
        self.stack.pop()
        if targets is not None:
            return None
        out = self.fresh("r")
        self.emit(f"{out} = {{{', '.join(items)}}}", depth)
        return out

    def default(self, value) -> str:
        if value is None or type(value) in (bool, int, str):
            return repr(value)
        return self.const(value, "D")

    def list(self, t: T.List, v: str, depth: int) -> str:
        el = t.element
        hook, self.hook = self.hook, None     # only for this list's items, not lists inside them
        self.emit(f"if type({v}) is not list: return None", depth)
        x = self.fresh("x")
        copy = f"list({v})" if not self.share_lists else v   # see fast_prologue(share_lists=…)
        if isinstance(el, T.Enum):
            self.emit(f"if not {self.const(frozenset(el.values), 'ENUM')}.issuperset({v}): return None", depth)
            if copy == v:
                return v
            self.emit(f"{x} = {copy}", depth)
            return x
        self.loops += 1
        if self.loops > self.MAX_LOOPS:
            raise _Unsupported("too deeply nested lists")
        g = self.fresh("g")
        if isinstance(el, T.Scalar) and el.name in _PY_TYPE:
            self.emit(f"for {g} in {v}:", depth)
            self.emit(f"if {_scalar_test(el.name, g)}: return None", depth + 1)
            self.loops -= 1
            if copy == v:
                return v
            self.emit(f"{x} = {copy}", depth)
            return x
        self.emit(f"{x} = []", depth)
        loop = len(self.lines)
        index = self.fresh("i")
        self.emit(f"for {index}, {g} in enumerate({v}):" if hook is not None else f"for {g} in {v}:", depth)
        self.share_lists = False
        y = self.value(el, g, depth + 1)
        self.emit(f"{x}.append({y})", depth + 1)
        if hook is not None:      # the item's rules, once it is valid (see compile._Gen.item_hook)
            before, body = hook(y, index, depth + 1)
            self.lines[loop:loop] = before
            self.lines += body
        self.loops -= 1
        return x


_PY_TYPE = {"bool": "bool", "int": "int", "text": "str"}


def _scalar_test(name: str, v: str, constraint=None) -> str:
    """The fast path's test that local `v` is NOT a valid bool, int or text (the precise
    validator's rules: no subclass, no int beyond MAX_INT, no lone surrogate)."""
    test = f"type({v}) is not {_PY_TYPE[name]}"
    if name == "text":
        test += f" or not {v}.isascii() and _v_lone({v})"
    elif name == "int" and not isinstance(constraint, ast.RangeConstraint):
        test += f" or not -_v_MAX_INT <= {v} <= _v_MAX_INT"
    return test


def _passthrough(t) -> bool:
    return isinstance(t, T.Enum) or (isinstance(t, T.Scalar) and t.name in _PY_TYPE)


def fast_source(facts: T.Record) -> tuple[str, dict]:
    """The source of the fast validator for a schema, and the constants it refers to."""
    g = _FastGen()
    g.emit("def fast(d):", 0)
    g.emit("try:", 1)
    out = g.record(facts, "d", 2)
    g.emit(f"return {out}", 2)
    g.emit("except Exception:", 1)      # any doubt: the precise validator decides
    g.emit("return None", 2)
    header = "# Generated by esms-rules: fast validator (see esms_rules/validate.py). Do not edit.\n"
    return header + "\n".join(g.lines) + "\n", g.consts


_BUILTINS = {"type": type, "len": len, "repr": repr, "list": list, "float": float, "int": int, "str": str,
             "bool": bool, "dict": dict, "Exception": Exception}


def fast_prologue(facts: T.Record, share_lists: bool = False):
    """A `prologue` for `compile.emit`: the fast validator, loading each fact into the
    evaluator's own local, so that no facts dict is built. The evaluator then returns None
    when the fast validator has a doubt (the caller validates precisely and runs the plain
    evaluator). `share_lists`: read the dossier's lists of scalars in place (only for
    evaluators whose results cannot hold a list). `hooks` (item list -> hook, from the
    evaluator's generator) write the rules of each item of that list inside the loop that
    validates them, right after the item is valid."""
    def prologue(targets: dict, hooks: dict | None = None):
        g = _FastGen()
        g.hooks = hooks or {}
        g.emit("try:", 1)
        g.record(facts, "d", 2, targets, share_lists)
        g.emit("except Exception:", 1)      # any doubt: the precise validator decides
        g.emit("return None", 2)
        return g.lines, g.consts
    return prologue


def build_fast(facts: T.Record):
    """The fast validator of a schema, or a function that always defers to the precise one."""
    try:
        source, consts = fast_source(facts)
        return load_source(source, consts, "fast", _BUILTINS, "fast validator")
    except (_Unsupported, SyntaxError, RecursionError, MemoryError):
        return _never


def fused_evaluator(checked, mode: str = "decision", verdict=None):
    """The compiled evaluator of `mode` with the fast validator as its prologue, taking the raw
    dossier: `dossier -> Verdict` in mode "decision" (`verdict` as `compile.emit` takes it),
    `dossier -> (ReasonsResult, facts' values)` in mode "reasons" (`TraceResult` in modes "trace"
    and "compact"); either returns None when the
    fast validator has a doubt. None if the schema has no fast validator."""
    from .compile import compile_policy
    # a Verdict holds only the outputs: the dossier's lists cannot escape unless an output can
    # hold a list or a record (reasons hold message values and the facts: always copied)
    share = mode == "decision" and not any(_holds_list(o.type) for o in checked.outputs.values())
    try:
        return compile_policy(checked, mode, prologue=fast_prologue(checked.facts, share),
                              verdict=verdict, facts_out=mode != "decision", builtins=_BUILTINS)
    except (_Unsupported, EsmsError):
        return None


def _holds_list(t) -> bool:
    t = T.strip(t)
    return not isinstance(t, (T.Scalar, T.Enum, T.Null, T.Never))
