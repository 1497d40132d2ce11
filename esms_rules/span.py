"""Source positions. Every AST and trace node carries one, outside its equality."""
from __future__ import annotations

import attrs


@attrs.frozen
class Span:
    """A region of a policy file: 1-based lines and columns, 0-based offsets."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"

    @classmethod
    def point(cls, file: str, line: int, column: int, offset: int = 0) -> Span:
        return cls(file, line, column, line, column + 1, offset, offset + 1)



NOWHERE = Span("<builtin>", 0, 0, 0, 0)


def span_field():
    """A span attribute that takes no part in equality or hashing."""
    return attrs.field(default=NOWHERE, eq=False, repr=False)
