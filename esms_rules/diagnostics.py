"""Diagnostics and the one exception family of the public API.

Diagnostics are written in English for policy authors and developers (like compiler
messages); reason messages produced by policies are in French, as the contract asks.
"""
from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence

import attrs

from .span import Span


@attrs.frozen
class Diagnostic:
    """One finding about a policy: a stable code, a one-line message, a span, help."""

    code: str
    message: str
    span: Span
    help: str | None = None
    severity: str = "error"
    related: tuple[tuple[str, Span], ...] = ()

    def header(self) -> str:
        return f"{self.span}: {self.severity}[{self.code}]: {self.message}"

    def render(self, sources: dict[str, str] | None = None) -> str:
        """The human form: header, source line with a caret under the span, help."""
        lines = [self.header()]
        lines += _snippet(self.span, sources)
        for note, span in self.related:
            lines.append(f"  note: {note} at {span}")
            lines += _snippet(span, sources)
        if self.help:
            lines.append(f"  help: {self.help}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        s = self.span
        return {
            "code": self.code, "severity": self.severity, "message": self.message,
            "file": s.file, "line": s.line, "column": s.column,
            "end_line": s.end_line, "end_column": s.end_column, "help": self.help,
            "related": [{"note": n, "file": r.file, "line": r.line, "column": r.column}
                        for n, r in self.related],
        }


def source_lines(text: str) -> list[str]:
    """The lines of a policy as spans count them: split at "\n" only (with a "\r" before it
    dropped), so that a form feed, NEL or U+2028 inside a comment does not shift the lines shown
    (`str.splitlines` splits at those too)."""
    if not text:
        return []
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()                     # as `splitlines`: a final newline ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


# control characters shown as their Unicode pictures (␀, ␛…), one column each like the original
_VISIBLE = {c: 0x2400 + c for c in range(0x20)} | {0x7F: 0x2421}


def _snippet(span: Span, sources: dict[str, str] | None) -> list[str]:
    text = (sources or {}).get(span.file)
    if text is None:
        try:
            with open(span.file, encoding="utf-8") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError):
            return []
    lines = source_lines(text)
    if not 1 <= span.line <= len(lines):
        return []
    src = lines[span.line - 1].expandtabs(1).translate(_VISIBLE)
    width = (span.end_column - span.column) if span.end_line == span.line else len(src) - span.column + 1
    width = max(1, width)
    gutter = f"{span.line:>5} | "
    return [gutter + src, " " * (len(gutter) - 2) + "| " + " " * (span.column - 1) + "^" * width]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(name, sorted(set(candidates)), n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


class EsmsError(Exception):
    """Base of every error the public API raises for bad policies or bad dossiers."""


class PolicyError(EsmsError):
    """A policy could not be parsed, checked or loaded. `diagnostics` lists every finding."""

    def __init__(self, diagnostics: Sequence[Diagnostic], sources: dict[str, str] | None = None):
        self.diagnostics = sorted(diagnostics, key=lambda d: (d.span.file, d.span.line, d.span.column))
        self.sources = sources or {}
        super().__init__(self.render())

    def render(self) -> str:
        return "\n".join(d.render(self.sources) for d in self.diagnostics)


@attrs.frozen
class Problem:
    """One problem of a dossier, named by its JSON path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class DossierError(EsmsError):
    """A dossier breaks the contract. `problems` lists each one by JSON path."""

    def __init__(self, problems: Sequence[Problem], dossier_id: object = None):
        self.problems = list(problems)
        self.dossier_id = dossier_id
        head = f"dossier {dossier_id!r}" if dossier_id is not None else "dossier"
        super().__init__(f"{head} breaks the contract:\n" + "\n".join(f"  {p}" for p in self.problems))

    def to_dict(self) -> dict:
        return {"dossier": self.dossier_id if isinstance(self.dossier_id, str) else None,
                "error": "invalid_dossier",
                "problems": [{"path": p.path, "message": p.message} for p in self.problems]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)
