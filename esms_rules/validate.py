"""Dossier (JSON-like dict) -> the typed facts a policy reads, or DossierError.

Validation follows the policy's declared schema (`fact`, `record`, `enum`, constraints):
every problem is collected with its JSON path, never only the first. Unknown fields are
not errors: they are returned as paths, for the UNKNOWN_FIELD warning of the contract.
"""
from __future__ import annotations

import datetime as dt
import math
import re
from decimal import Decimal

from . import ast
from . import types as T
from .diagnostics import DossierError, Problem

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")


def _kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
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

    def convert(self, dossier) -> tuple[dict, list[str]]:
        problems: list[Problem] = []
        unknown: list[str] = []
        if not isinstance(dossier, dict):
            raise DossierError([Problem("$", f"a dossier is a JSON object, not {_kind(dossier)}")])
        out = self.record(dossier, self.facts, "", problems, unknown)
        if problems:
            ident = dossier.get("id")
            raise DossierError(problems, ident if isinstance(ident, str) else None)
        return out, unknown

    def record(self, value: dict, rec: T.Record, path: str, problems, unknown) -> dict:
        out = {}
        for f in rec.fields:
            sub = f"{path}.{f.name}" if path else f.name
            if f.name not in value:
                if f.has_default:
                    out[f.name] = f.default.value
                else:
                    problems.append(Problem(sub, "missing field" + (" (write null when unknown)"
                                                                     if isinstance(f.type, T.Optional) else "")))
                continue
            out[f.name] = self.value(value[f.name], f.type, sub, problems, unknown, f.constraint)
        for k in value:
            if rec.field(k) is None:
                unknown.append(f"{path}.{k}" if path else str(k))
        return out

    def value(self, v, t: T.Type, path: str, problems, unknown, constraint=None):
        if isinstance(t, T.Optional):
            if v is None:
                return None
            t = t.inner
        n = len(problems)
        out = self._convert(v, t, path, problems, unknown)
        if constraint is not None and len(problems) == n and out is not None:
            self._constrain(out, constraint, path, problems)
        return out

    def _convert(self, v, t, path, problems, unknown):
        def bad(msg):
            problems.append(Problem(path, msg))

        if isinstance(t, T.Record):
            if not isinstance(v, dict):
                return bad(f"expected an object, found {_kind(v)}")
            return self.record(v, t, path, problems, unknown)
        if isinstance(t, T.List):
            if not isinstance(v, list):
                return bad(f"expected a list, found {_kind(v)}")
            return [self.value(x, t.element, f"{path}[{i}]", problems, unknown) for i, x in enumerate(v)]
        if isinstance(t, T.Enum):
            if not isinstance(v, str):
                return bad(f"expected one of {', '.join(map(repr, t.values))}, found {_kind(v)}")
            if v not in t.values:
                shown = ", ".join(map(repr, t.values[:12])) + (", …" if len(t.values) > 12 else "")
                return bad(f"unknown value {v!r}, expected one of {shown}")
            return v
        name = t.name
        if name == "bool":
            return v if isinstance(v, bool) else bad(f"expected true or false, found {_kind(v)}")
        if name == "int":
            if isinstance(v, int) and not isinstance(v, bool):
                return v
            return bad(f"expected a whole number, found {_kind(v)}")
        if name == "decimal":
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                return bad(f"expected a number, found {_kind(v)}")
            if isinstance(v, float) and not math.isfinite(v):
                return bad("expected a finite number")
            return Decimal(v) if isinstance(v, int) else Decimal(repr(v))
        if name == "text":
            return v if isinstance(v, str) else bad(f"expected a string, found {_kind(v)}")
        if name == "date":
            if not isinstance(v, str) or not _DATE.fullmatch(v):
                return bad(f"expected a date YYYY-MM-DD, found {v!r}" if isinstance(v, str) else
                           f"expected a date YYYY-MM-DD, found {_kind(v)}")
            try:
                return dt.date.fromisoformat(v)
            except ValueError:
                return bad(f"{v!r} is not a real date")
        if name == "datetime":
            if not isinstance(v, str) or not _DATETIME.fullmatch(v):
                return bad(f"expected an ISO 8601 date-time with offset, found {v!r}" if isinstance(v, str)
                           else f"expected an ISO 8601 date-time with offset, found {_kind(v)}")
            try:
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
