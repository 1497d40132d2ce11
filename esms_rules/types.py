"""The types of the policy language, shared by the checker, the compiler and the validator."""
from __future__ import annotations

from typing import TYPE_CHECKING, Union

import attrs

if TYPE_CHECKING:
    from . import ast

SCALARS = ("bool", "int", "decimal", "text", "date", "datetime")


@attrs.frozen
class Scalar:
    name: str  # one of SCALARS

    def __str__(self):
        return self.name


@attrs.frozen
class Enum:
    name: str
    values: tuple[str, ...]

    def __str__(self):
        return self.name


@attrs.frozen
class Field:
    name: str
    type: "Type"
    constraint: ast.RangeConstraint | ast.LengthConstraint | None = None
    default: ast.Literal | None = attrs.field(default=None, eq=False)
    has_default: bool = False


@attrs.frozen
class Record:
    name: str
    fields: tuple[Field, ...] = attrs.field(eq=False, repr=False)

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def __str__(self):
        return self.name


@attrs.frozen
class List:
    element: "Type"

    def __str__(self):
        return f"list of {self.element}"


@attrs.frozen
class Optional:
    inner: "Type"

    def __str__(self):
        return f"{self.inner}?"


@attrs.frozen
class Null:
    def __str__(self):
        return "null"


@attrs.frozen
class Never:
    """The element type of `[]`: fits any list."""

    def __str__(self):
        return "nothing"




Type = Union[Scalar, Enum, Record, List, Optional, Null, Never]

BOOL, INT, DECIMAL, TEXT, DATE, DATETIME = (Scalar(n) for n in SCALARS)
NULL = Null()
NEVER = Never()


def optional(t: Type) -> Type:
    return t if isinstance(t, (Optional, Null)) else Optional(t)


def strip(t: Type) -> Type:
    return t.inner if isinstance(t, Optional) else t


def is_numeric(t: Type) -> bool:
    return t in (INT, DECIMAL)


def is_textual(t: Type) -> bool:
    return t == TEXT or isinstance(t, Enum)


def join(a: Type, b: Type) -> Type | None:
    """The least type holding both, or None when they do not mix."""
    if a == b:
        return a
    if isinstance(a, Never):
        return b
    if isinstance(b, Never):
        return a
    if isinstance(a, Null):
        return optional(b)
    if isinstance(b, Null):
        return optional(a)
    if isinstance(a, Optional) or isinstance(b, Optional):
        inner = join(strip(a), strip(b))
        return None if inner is None else optional(inner)
    if is_numeric(a) and is_numeric(b):
        return DECIMAL
    if is_textual(a) and is_textual(b):
        return TEXT
    if isinstance(a, List) and isinstance(b, List):
        inner = join(a.element, b.element)
        return None if inner is None else List(inner)
    return None


def fits(value: Type, target: Type) -> bool:
    """Can a value of type `value` be used where `target` is expected?"""
    if value == target or isinstance(value, Never):
        return True
    if isinstance(value, Null):
        return isinstance(target, Optional)
    if isinstance(target, Optional):
        return fits(strip(value), target.inner)
    if value == INT and target == DECIMAL:
        return True
    if isinstance(value, Enum) and target == TEXT:
        return True
    if isinstance(value, Enum) and isinstance(target, Enum):
        return set(value.values) <= set(target.values)
    if isinstance(value, List) and isinstance(target, List):
        return fits(value.element, target.element)
    return False
