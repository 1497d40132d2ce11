"""The JSON Schema (draft 2020-12) of the dossier a policy reads, generated from its declarations.

The schema follows the policy's `fact`, `record` and `enum` declarations and their
constraints, as `validate.py` applies them: a field with a default may be left out, an
optional field (`T?`) must be present but may be null, `(low..high)` bounds a number,
`(length n)` fixes a text's length. Records accept unknown fields
(`additionalProperties: true`): the contract turns them into `UNKNOWN_FIELD` warnings, not errors.

The schema is a description for other systems (forms, ETL checks); the validator stays the
judge. Known differences: the validator refuses a whole number written as `1.0` where an `int`
is expected, which JSON Schema's `integer` accepts.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from . import ast
from . import types as T
from .partial import partial_schema
from .validate import DATE_SHAPE, OFFSET_SHAPE, TIME_SHAPE

DIALECT = "https://json-schema.org/draft/2020-12/schema"

# The forms validate.py accepts, from its shapes: a calendar date, and an ISO 8601 date-time
# that carries an offset (mandatory here: validate.DATETIME_RE leaves it optional only to word
# its absence as a problem of its own). Anchored: a JSON Schema `pattern` may match anywhere.
DATE_PATTERN = f"^{DATE_SHAPE}$"
DATETIME_PATTERN = f"^{DATE_SHAPE}{TIME_SHAPE}{OFFSET_SHAPE}$"


def dossier_schema(policy) -> dict:
    """The JSON Schema of the dossiers `policy` (a `Policy` or a `CheckedPolicy`) accepts."""
    checked = getattr(policy, "checked", policy)
    builder = _Builder()
    root = builder.record_body(checked.facts)
    schema = {
        "$schema": DIALECT,
        "$id": f"urn:esms-rules:dossier:{checked.id}",
        "title": f"Dossier for policy {checked.id}",
        "description": _description(checked),
        **root,
    }
    if builder.defs:
        schema["$defs"] = dict(sorted(builder.defs.items()))
    return schema


def _description(checked) -> str:
    header = checked.header or {}
    parts = [f"A dossier evaluated by the esms-rules policy `{checked.id}`"]
    if header.get("programme") is not None and header.get("campaign") is not None:
        parts.append(f" (programme {header['programme']}, campaign {header['campaign']})")
    parts.append(f"; policy sha256 {checked.sha256}. Generated from the policy's declared schema.")
    return "".join(parts)


def _json_value(v):
    """A literal's value as JSON: dates as ISO strings, decimals as numbers."""
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return v


class _Builder:
    def __init__(self):
        self.defs: dict[str, dict] = {}

    def record_body(self, rec: T.Record) -> dict:
        properties, required = {}, []
        for f in rec.fields:
            prop = self.field(f)
            properties[f.name] = prop
            if not f.has_default:
                required.append(f.name)
        body: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            body["required"] = required
        body["additionalProperties"] = True
        return body

    def ref(self, kind: str, name: str, build) -> dict:
        key = f"{kind}.{name}"
        if key not in self.defs:
            self.defs[key] = {}          # reserve first: a record may refer to itself
            self.defs[key] = build()
        return {"$ref": f"#/$defs/{key}"}

    def type(self, t) -> dict:
        if isinstance(t, T.Optional):
            inner = self.type(t.inner)
            if "$ref" in inner:
                return {"anyOf": [inner, {"type": "null"}]}
            if "enum" in inner:
                return {**inner, "enum": [*inner["enum"], None]}
            kinds = inner["type"] if isinstance(inner.get("type"), list) else [inner["type"]]
            return {**inner, "type": [*kinds, "null"]}
        if isinstance(t, T.Scalar):
            return dict(_SCALARS[t.name])
        if isinstance(t, T.Enum):
            return self.ref("enum", t.name, lambda: {"type": "string", "enum": list(t.values)})
        if isinstance(t, T.Record):
            return self.ref("record", t.name, lambda: self.record_body(t))
        if isinstance(t, T.List):
            return {"type": "array", "items": self.type(t.element)}
        raise ValueError(f"no JSON Schema for type {t}")

    def field(self, f: T.Field) -> dict:
        out = self.type(f.type)
        c = f.constraint
        if isinstance(c, ast.RangeConstraint):
            out = self._constrained(out, {"minimum": _json_value(c.low.value),
                                          "maximum": _json_value(c.high.value)})
        elif isinstance(c, ast.LengthConstraint):      # only on text (check.py)
            out = self._constrained(out, {"minLength": c.length, "maxLength": c.length})
        if f.has_default and f.default is not None:
            out = {**out, "default": _json_value(f.default.value)}
        return out

    @staticmethod
    def _constrained(schema: dict, extra: dict) -> dict:
        if "$ref" in schema or "anyOf" in schema:
            return {"allOf": [schema], **extra}
        return {**schema, **extra}


_SCALARS = {
    "bool": {"type": "boolean"},
    "int": {"type": "integer"},
    "decimal": {"type": "number"},
    "text": {"type": "string"},
    "date": {"type": "string", "format": "date", "pattern": DATE_PATTERN},
    "datetime": {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN},
}


# ---- the decision ------------------------------------------------------------------------
def _reason_schema() -> dict:
    return {
        "type": "object",
        "description": "One finding: a stable code, the rule that raised it, a message in French, what it cites.",
        "properties": {
            "code": {"type": "string", "pattern": "^[A-Z][A-Z0-9_]*$", "description": "stable reason code"},
            "rule": {"type": "string", "description": "the policy rule that raised it ('contract' for UNKNOWN_FIELD)"},
            "message": {"type": "string", "description": "in French, for people"},
            "source": {"type": "string", "description": "the document and words the rule rests on"},
            "level": {"enum": ["dossier", "structure"]},
            "severity": {"enum": ["blocking", "inadmissible", "warning", "info"]},   # info: campaign rules
        },
        "required": ["code", "rule", "message", "source", "level", "severity"],
        "additionalProperties": False,
    }


def decision_schema() -> dict:
    """The JSON Schema of a decision as `Decision.to_json()` (and `esms-rules evaluate`) writes it."""
    reasons = {"type": "array", "items": {"$ref": "#/$defs/reason"}}
    number = {"type": ["number", "null"]}
    return {
        "$schema": DIALECT,
        "$id": "urn:esms-rules:decision",
        "title": "Decision of esms-rules on one dossier",
        "description": "Written by Decision.to_json(); docs/contract.md gives the meaning of each field. "
                       "`trace` is left out when the decision was made without it.",
        "type": "object",
        "properties": {
            "dossier": {"type": ["string", "null"], "description": "the dossier's id"},
            "dossier_sha256": {"type": ["string", "null"], "pattern": "^sha256:[0-9a-f]{64}$",
                               "description": "digest of the dossier decided (canonical JSON), for replay"},
            "policy": {
                "type": "object",
                "properties": {"id": {"type": "string"},
                               "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
                               "engine": {"type": "string", "description": "esms-rules version"}},
                "required": ["id", "sha256", "engine"],
                "additionalProperties": False,
            },
            "recevable": {"type": ["boolean", "null"],
                          "description": "false if and only if the dossier was filed late "
                                         "(null: not known yet, partial decisions only)"},
            "eligible": {"type": ["boolean", "null"], "description": "true if and only if `reasons` is empty "
                                                                     "(null: not known yet, partial decisions only)"},
            "call": {"enum": ["regional", "national", None], "description": "the call the grouping belongs to"},
            "amount_eur": {**number, "description": "maximum amount in euros where an instruction gives one"},
            "structures": {"type": "array", "items": {
                "type": "object",
                "properties": {"finess": {"type": ["string", "null"]}, "eligible": {"type": ["boolean", "null"]},
                               "funded_share": number, "reasons": reasons, "warnings": reasons},
                "required": ["finess", "eligible", "funded_share", "reasons"],
                "additionalProperties": False,
            }},
            "reasons": reasons,
            "warnings": reasons,
            "outputs": {"type": "object", "description": "the policy's other declared outputs, by name "
                                                         "(present only when it has some)"},
            "trace": {"type": "object", "description": "the explanation tree (docs/trace.md)"},
            "partial": partial_schema(),
        },
        # null stands for "not known yet" only in a partial decision (docs/partial.md)
        "if": {"not": {"required": ["partial"]}},
        "then": {"properties": {"recevable": {"type": "boolean"}, "eligible": {"type": "boolean"},
                                "structures": {"items": {"properties": {"eligible": {"type": "boolean"}}}}}},
        "required": ["dossier", "dossier_sha256", "policy", "recevable", "eligible", "call", "amount_eur", "structures",
                     "reasons", "warnings"],
        "additionalProperties": False,
        "$defs": {"reason": _reason_schema()},
    }


def error_schema() -> dict:
    """The JSON Schema of an error record: a dossier refused, each problem by its JSON path."""
    return {
        "$schema": DIALECT,
        "$id": "urn:esms-rules:error",
        "title": "A dossier that could not be decided",
        "type": "object",
        "properties": {
            "dossier": {"type": ["string", "null"]},
            "error": {"type": "string", "description": "invalid_json, invalid_dossier, … (docs/contract.md)"},
            "problems": {"type": "array", "minItems": 1, "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
                "required": ["path", "message"],
            }},
        },
        "required": ["error", "problems"],
    }
