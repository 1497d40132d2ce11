"""Text -> AST. The only module that sees Lark trees and tokens.

`parse_module(text, file)` returns an `ast.Module` or raises `PolicyError` whose
diagnostics carry file:line:col. Syntax errors are reported with what was expected, in
the author's terms ("a name", "`}`"); deep nesting is refused with a diagnostic before any
later stage could recurse on it.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
from lark import Lark, Token, Transformer_NonRecursive, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, VisitError
from lark.tree import Meta

from . import ast
from .diagnostics import Diagnostic, PolicyError, source_lines
from .span import Span

MAX_DEPTH = 100  # expression nesting a policy may use; deeper is refused with a diagnostic


def grammar_text() -> str:
    """The grammar, from the checkout (grammar/) or from the installed wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "grammar" / "esms.lark", here / "_data" / "grammar" / "esms.lark"):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    return resources.files("esms_rules").joinpath("_data/grammar/esms.lark").read_text(encoding="utf-8")


@cache
def parser() -> Lark:
    # cache=True keeps the built LALR tables in a temporary file keyed by the grammar's hash,
    # so only the first process on a machine pays for building them.
    try:
        return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True,
                    cache=True)
    except OSError:  # no writable temporary directory: build in memory
        return Lark(grammar_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True)


# Friendly names for terminals, used in "expected …" messages.
TERMINALS = {
    "NAME": "a name", "CODE": "a reason code (UPPER_CASE)", "STRING": "a string",
    "INT": "a whole number", "DECIMAL": "a number", "DATE": "a date (YYYY-MM-DD)",
    "DATETIME": "a date-time", "SEVERITY": "`blocking`, `warning`, `inadmissible` or `info`",
    "CMP_OP": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*`", "OPTIONAL": "`?`",
    "OVERRIDE": "`override`", "LBRACE": "`{`", "RBRACE": "`}`", "LPAR": "`(`", "RPAR": "`)`",
    "LSQB": "`[`", "RSQB": "`]`", "COLON": "`:`", "COMMA": "`,`", "EQUAL": "`=`", "DOT": "`.`",
    "MINUS": "`-`", "$END": "the end of the file",
}


def _describe(terminal: str) -> str:
    if terminal in TERMINALS:
        return TERMINALS[terminal]
    try:  # keywords and punctuation (`code`, `..`, `->` are __ANON_n in Lark): what the author types
        pattern = parser().get_terminal(terminal).pattern
    except KeyError:
        pattern = None
    if pattern is not None and pattern.type == "str":
        return f"`{pattern.value}`"
    if terminal.isupper() and re.fullmatch(r"[A-Z_]+", terminal):
        return f"`{terminal.lower()}`"  # anonymous keyword terminals are named after the keyword
    return terminal


def _expected(names: Iterable[str]) -> str:
    items = sorted({_describe(n) for n in names}, key=lambda s: (s.startswith("`"), s))  # "a name" first
    if len(items) > 8:
        items = items[:8] + ["…"]
    return ", ".join(items)


def _span_of(meta_or_token: Meta | Token | None, file: str) -> Span:
    """Where a rule (its `Meta`) or a token is; the start of the file when Lark does not say."""
    m = meta_or_token
    if m is None or getattr(m, "empty", False) or m.line is None or m.column is None or m.end_line is None \
            or m.end_column is None or m.start_pos is None or m.end_pos is None:
        return Span.point(file, 1, 1)
    return Span(file, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)


# `\\` in a run of backslashes that ends at a brace is kept as written, like `\{` and `\}`: messages
# read these escapes (ast.message_pieces), so that `"\\{n}"` can show a backslash and then `n`.
_ESCAPE = re.compile(r'\\(?:(?P<keep>\\(?=(?:\\\\)*\\?[{}]))|(?P<other>u[0-9a-fA-F]{4}|.))')


def _unescape(raw: str) -> str:
    body = raw[1:-1]
    return _ESCAPE.sub(lambda m: "\\\\" if m.group("keep") else {
        "n": "\n", "t": "\t", '"': '"', "\\": "\\", "{": "\\{", "}": "\\}",
    }.get(m.group("other"), chr(int(m.group("other")[1:], 16)) if m.group("other").startswith("u")
          else m.group("other")), body)


_Rule = Callable[["_Build", Meta, list[Any]], Any]
"""A method of `_Build` that builds a node from a rule's position and children."""


def _binary(op: str) -> _Rule:
    """The `_Build` method of a binary operator whose grammar rule does not keep the operator."""
    @v_args(meta=True)
    def build(self: _Build, meta: Meta, c: list[Any]) -> ast.Binary:
        return ast.Binary(op, c[0], c[-1], self.sp(meta))
    return build


def _clause(kind: str, convert: Callable[[Any], Any] = lambda v: v) -> _Rule:
    """The `_Build` method of a clause of a rule: its kind, and its value converted from the token."""
    @v_args(meta=True)
    def build(self: _Build, meta: Meta, c: list[Any]) -> ast.Clause:
        return ast.Clause(kind, convert(c[0]), self.sp(meta))
    return build


class _Build(Transformer_NonRecursive):
    """Lark tree -> ast nodes. Non-recursive, so deep input cannot overflow the stack."""

    def __init__(self, file: str):
        super().__init__()
        self.file = file
        self.errors: list[Diagnostic] = []

    def sp(self, meta: Meta) -> Span:
        return _span_of(meta, self.file)

    def bad(self, code: str, message: str, span: Span, help: str | None = None) -> None:
        self.errors.append(Diagnostic(code, message, span, help))

    # -- literals
    @v_args(meta=True)
    def string(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(_unescape(str(c[0])), "string", self.sp(meta))

    @v_args(meta=True)
    def int(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(int(c[0]), "int", self.sp(meta))

    @v_args(meta=True)
    def decimal(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(Decimal(str(c[0])), "decimal", self.sp(meta))

    @v_args(meta=True)
    def neg_bound(self, meta: Meta, c: list[Any]) -> ast.Literal:
        lit = c[0]
        return ast.Literal(-lit.value, lit.kind, self.sp(meta))

    def moment(self, meta: Meta, text: str, kind: str, read: Callable[[str], dt.date], what: str,
               help: str) -> ast.Literal:
        """A date or a date-time literal; one that is no real moment is reported, and read as null."""
        span = self.sp(meta)
        try:
            return ast.Literal(read(text), kind, span)
        except ValueError:
            self.bad("bad-date", f"`{text}` is not a valid {what}", span, help)
            return ast.Literal(None, "null", span)

    @v_args(meta=True)
    def date(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return self.moment(meta, str(c[0]), "date", dt.date.fromisoformat, "date",
                           "dates are written YYYY-MM-DD, with a real day of a real month")

    @v_args(meta=True)
    def datetime(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return self.moment(meta, str(c[0]), "datetime", lambda t: dt.datetime.fromisoformat(t.replace("Z", "+00:00")),
                           "date-time", "date-times are written YYYY-MM-DDTHH:MM[:SS]+HH:MM")

    @v_args(meta=True)
    def true(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(True, "bool", self.sp(meta))

    @v_args(meta=True)
    def false(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(False, "bool", self.sp(meta))

    @v_args(meta=True)
    def null(self, meta: Meta, c: list[Any]) -> ast.Literal:
        return ast.Literal(None, "null", self.sp(meta))

    # -- expressions
    @v_args(meta=True)
    def name(self, meta: Meta, c: list[Any]) -> ast.Name:
        return ast.Name(str(c[0]), self.sp(meta))

    @v_args(meta=True)
    def attribute(self, meta: Meta, c: list[Any]) -> ast.Attribute:
        return ast.Attribute(c[0], str(c[1]), self.sp(meta))

    @v_args(meta=True)
    def lookup(self, meta: Meta, c: list[Any]) -> ast.Lookup:
        return ast.Lookup(c[0], c[1], self.sp(meta))

    @v_args(meta=True)
    def call(self, meta: Meta, c: list[Any]) -> ast.Call:
        return ast.Call(str(c[0]), tuple(a for a in c[1:] if a is not None), self.sp(meta))

    @v_args(meta=True)
    def call_generator(self, meta: Meta, c: list[Any]) -> ast.Call:
        return ast.Call(str(c[0]), (c[1],), self.sp(meta))

    @v_args(meta=True)
    def generator(self, meta: Meta, c: list[Any]) -> ast.Generator:
        return ast.Generator(c[0], str(c[1]), c[2], c[3], self.sp(meta))

    @v_args(meta=True)
    def comprehension(self, meta: Meta, c: list[Any]) -> ast.Comprehension:
        return ast.Comprehension(c[0], self.sp(meta))

    @v_args(meta=True)
    def list_expr(self, meta: Meta, c: list[Any]) -> ast.ListExpr:
        return ast.ListExpr(tuple(x for x in c if x is not None), self.sp(meta))

    @v_args(meta=True)
    def if_expr(self, meta: Meta, c: list[Any]) -> ast.If:
        return ast.If(c[0], c[1], c[2], self.sp(meta))

    or_op = _binary("or")
    and_op = _binary("and")
    in_op = _binary("in")
    not_in_op = _binary("not in")

    @v_args(meta=True)
    def compare_op(self, meta: Meta, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], self.sp(meta))

    @v_args(meta=True)
    def arith(self, meta: Meta, c: list[Any]) -> ast.Binary:
        return ast.Binary(str(c[1]), c[0], c[2], self.sp(meta))

    @v_args(meta=True)
    def not_op(self, meta: Meta, c: list[Any]) -> ast.Unary:
        return ast.Unary("not", c[0], self.sp(meta))

    @v_args(meta=True)
    def neg(self, meta: Meta, c: list[Any]) -> ast.Unary:
        return ast.Unary("-", c[0], self.sp(meta))

    # -- types
    @v_args(meta=True)
    def named_type(self, meta: Meta, c: list[Any]) -> ast.NamedType:
        return ast.NamedType(str(c[0]), c[1] is not None, self.sp(meta))

    @v_args(meta=True)
    def list_type(self, meta: Meta, c: list[Any]) -> ast.ListType:
        return ast.ListType(c[0], self.sp(meta))

    @v_args(meta=True)
    def range_constraint(self, meta: Meta, c: list[Any]) -> ast.RangeConstraint:
        return ast.RangeConstraint(c[0], c[1], self.sp(meta))

    @v_args(meta=True)
    def length_constraint(self, meta: Meta, c: list[Any]) -> ast.LengthConstraint:
        return ast.LengthConstraint(int(c[0]), self.sp(meta))

    def default(self, c: list[Any]) -> ast.Literal:
        return c[0]

    # -- declarations
    @v_args(meta=True)
    def policy_field(self, meta: Meta, c: list[Any]) -> ast.PolicyField:
        return ast.PolicyField(str(c[0]), c[1], self.sp(meta))

    @v_args(meta=True)
    def policy_decl(self, meta: Meta, c: list[Any]) -> ast.PolicyDecl:
        return ast.PolicyDecl(_unescape(str(c[0])), tuple(c[1:]), self.sp(meta))

    @v_args(meta=True)
    def import_decl(self, meta: Meta, c: list[Any]) -> ast.ImportDecl:
        return ast.ImportDecl(str(c[0]), self.sp(meta))

    @v_args(meta=True)
    def enum_decl(self, meta: Meta, c: list[Any]) -> ast.EnumDecl:
        return ast.EnumDecl(str(c[0]), tuple(_unescape(str(v)) for v in c[1:]), self.sp(meta))

    @v_args(meta=True)
    def field_decl(self, meta: Meta, c: list[Any]) -> ast.FieldDecl:
        return ast.FieldDecl(str(c[0]), c[1], c[2], c[3], self.sp(meta))

    @v_args(meta=True)
    def fact_decl(self, meta: Meta, c: list[Any]) -> ast.FactDecl:
        return ast.FactDecl(str(c[0]), c[1], c[2], c[3], self.sp(meta))

    @v_args(meta=True)
    def record_decl(self, meta: Meta, c: list[Any]) -> ast.RecordDecl:
        return ast.RecordDecl(str(c[0]), tuple(c[1:]), span=self.sp(meta))

    @v_args(meta=True)
    def code_entry(self, meta: Meta, c: list[Any]) -> ast.CodeEntry:
        return ast.CodeEntry(str(c[0]), _unescape(str(c[1])) if c[1] is not None else None, self.sp(meta))

    @v_args(meta=True)
    def codes_decl(self, meta: Meta, c: list[Any]) -> ast.CodesDecl:
        return ast.CodesDecl(tuple(c), self.sp(meta))

    @v_args(meta=True)
    def table_entry(self, meta: Meta, c: list[Any]) -> ast.TableEntry:
        return ast.TableEntry(c[0], c[1], self.sp(meta))

    @v_args(meta=True)
    def table_decl(self, meta: Meta, c: list[Any]) -> ast.TableDecl:
        override = c[0] is not None
        entries = tuple(x for x in c[4:-1])
        source = c[-1].value if c[-1] is not None else None
        return ast.TableDecl(str(c[1]), c[2], c[3], entries, source, override, self.sp(meta))

    @v_args(meta=True)
    def param_decl(self, meta: Meta, c: list[Any]) -> ast.ParamDecl:
        return ast.ParamDecl(str(c[0]), c[1], self.sp(meta))

    @v_args(meta=True)
    def param(self, meta: Meta, c: list[Any]) -> ast.Param:
        return ast.Param(str(c[0]), c[1], self.sp(meta))

    def params(self, c: list[Any]) -> tuple[ast.Param, ...]:
        return tuple(c)

    @v_args(meta=True)
    def def_decl(self, meta: Meta, c: list[Any]) -> ast.DefDecl:
        override, name, params, type_, expr, source = c
        return ast.DefDecl(str(name), params or (), type_, expr,
                           source.value if source is not None else None, override is not None, self.sp(meta))

    @v_args(meta=True)
    def binder(self, meta: Meta, c: list[Any]) -> ast.Binder:
        return ast.Binder(str(c[0]), str(c[1]), self.sp(meta))

    @v_args(meta=True)
    def output_decl(self, meta: Meta, c: list[Any]) -> ast.OutputDecl:
        return ast.OutputDecl(str(c[0]), c[1], c[2], self.sp(meta))

    code_clause = _clause("code", str)
    severity_clause = _clause("severity", str)
    when_clause = _clause("when")
    applies_clause = _clause("applies")
    priority_clause = _clause("priority", lambda t: int(t))   # `int` here would be the method above
    message_clause = _clause("message", lambda t: _unescape(str(t)))
    source_clause = _clause("source", lambda t: _unescape(str(t)))

    @v_args(meta=True)
    def rule_decl(self, meta: Meta, c: list[Any]) -> ast.RuleDecl:
        return ast.RuleDecl(str(c[1]), c[2], tuple(c[3:]), c[0] is not None, self.sp(meta))


    # -- campaign rules (docs/campaign.md)
    def keyword(self, token: Token, word: str) -> None:
        """`campaign rule`, `history record`, `in history`: words the grammar reads as names."""
        if str(token) != word:
            self.bad("syntax", f"unexpected `{token}`, expected `{word}`", _span_of(token, self.file),
                     f"a declaration starts with a keyword, e.g. `{word}`")

    @v_args(meta=True)
    def history_decl(self, meta: Meta, c: list[Any]) -> ast.RecordDecl:
        self.keyword(c[0], "history")
        return ast.RecordDecl(str(c[1]), tuple(c[2:]), True, self.sp(meta))

    @v_args(meta=True)
    def item_rows(self, meta: Meta, c: list[Any]) -> ast.CampaignRows:
        return ast.CampaignRows(str(c[0]), str(c[1]), c[2], self.sp(meta))

    @v_args(meta=True)
    def dossier_rows(self, meta: Meta, c: list[Any]) -> ast.CampaignRows:
        return ast.CampaignRows(None, None, c[1], self.sp(meta))

    def group_form(self, c: list[Any]) -> dict[str, Any]:   # for ROWS group by KEY
        return {"form": "group", "rows": c[0], "key": c[3]}

    def join_form(self, c: list[Any]) -> dict[str, Any]:    # for ROWS join VAR in history on ON [where COND]
        self.keyword(c[3], "history")
        return {"form": "join", "rows": c[0], "join_var": str(c[2]), "on": c[5], "join_where": c[6]}

    def count_form(self, c: list[Any]) -> dict[str, Any]:   # count ROWS
        return {"form": "count", "rows": c[1]}

    @v_args(meta=True)
    def campaign_decl(self, meta: Meta, c: list[Any]) -> ast.CampaignRuleDecl:
        self.keyword(c[1], "campaign")
        return ast.CampaignRuleDecl(str(c[2]), clauses=tuple(c[4:]), override=c[0] is not None,
                                    span=self.sp(meta), **c[3])

    @v_args(meta=True)
    def exception_decl(self, meta: Meta, c: list[Any]) -> ast.ExceptionDecl:
        return ast.ExceptionDecl(str(c[1]), str(c[2]), tuple(c[3:]), c[0] is not None, self.sp(meta))

    def start(self, c: list[Any]) -> tuple[ast.Decl, ...]:
        return tuple(c)


MAX_SYNTAX_ERRORS = 20    # syntax errors reported for one file; the parser resumes at each declaration
# A declaration starts at the beginning of a line with one of these keywords: after a syntax
# error, parsing resumes at the next one.
_DECL_START = re.compile(r"^(?:override[ \t]+)?(?:policy|import|enum|record|fact|codes|table|param|def|rule|"
                         r"exception|output|campaign[ \t]+rule|history[ \t]+record)\b", re.MULTILINE)
_CLOSER = {"{": "}", "(": ")", "[": "]"}
_CLOSER_TERMINAL = {"{": "RBRACE", "(": "RPAR", "[": "RSQB"}
# Characters from other languages, with what to write instead.
_FOREIGN = {"&": "write `and` to combine conditions", "|": "write `or` to combine conditions",
            "!": "write `not` to negate a condition (`!=` is 'different from')",
            "'": "strings are written between double quotes `\"`", ";": "no `;` is needed at the end of a line"}


def _unclosed(text: str, start: int, end: int) -> list[tuple[str, int]]:
    """Opening delimiters in text[start:end] left open at `end`: (char, offset), innermost last."""
    stack: list[tuple[str, int]] = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[{}()\[\]]', text[start:end]):
        ch = m.group()
        if ch in _CLOSER:
            stack.append((ch, start + m.start()))
        elif ch in "})]":
            if stack and _CLOSER[stack[-1][0]] == ch:
                stack.pop()
    return stack


def _point(text: str, file: str, pos: int) -> Span:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Span(file, line, col, line, col + 1, pos, pos + 1)


def _with_opening(d: Diagnostic, err: UnexpectedInput, text: str, file: str, decl_start: int) -> Diagnostic:
    """Add a note at the delimiter left open when the next declaration (or the end) came first."""
    pos = d.span.start
    if pos < len(text) and not _DECL_START.match(text, pos):
        return d
    open_ = _unclosed(text, decl_start, pos)
    expected = set(getattr(err, "expected", None) or ())
    if not open_ or (expected and _CLOSER_TERMINAL[open_[-1][0]] not in expected):
        return d
    ch, at = open_[-1]
    note = (f"this `{ch}` is not closed", _point(text, file, at))
    return attrs.evolve(d, related=d.related + (note,),
                        help=d.help or f"close it with `{_CLOSER[ch]}` before this point")


def _syntax_diagnostic(err: UnexpectedInput, text: str, file: str) -> Diagnostic:
    lines = source_lines(text) or [""]
    at_end = isinstance(err, UnexpectedToken) and err.token.type == "$END"   # Lark places it on the last token
    if isinstance(err, UnexpectedEOF) or at_end or getattr(err, "line", -1) in (-1, None):
        line = len(lines)
        col = len(lines[-1]) + 1
        expected = getattr(err, "expected", []) or []
        exp = _expected(expected)
        return Diagnostic("syntax", "unexpected end of file" + (f", expected {exp}" if exp else ""),
                          Span(file, line, col, line, col + 1, len(text), len(text)),
                          "a block `{` may be missing its closing `}`"
                          if "RBRACE" in expected or not expected else None)
    line, col = err.line, err.column
    pos = getattr(err, "pos_in_stream", None) or 0
    if isinstance(err, UnexpectedCharacters):
        ch = text[pos] if pos < len(text) else ""
        if ch == '"':
            return Diagnostic("unterminated-string", "unterminated string",
                              Span(file, line, col, line, col + 1, pos, pos + 1),
                              "close the string with `\"` on the same line; write a newline as `\\n`")
        hint = _FOREIGN.get(ch) or (f"expected {_expected(err.allowed)}" if err.allowed else None)
        width = 2 if text[pos:pos + 2] in ("&&", "||") else 1
        return Diagnostic("syntax", f"unexpected character `{text[pos:pos + width]}`",
                          Span(file, line, col, line, col + width, pos, pos + width), hint)
    assert isinstance(err, UnexpectedToken)
    tok = err.token
    width = max(1, len(str(tok)))
    shown = str(tok).replace("\n", " ")
    what = "end of file" if tok.type == "$END" else f"`{shown}`"
    help_ = None
    if tok.type == "NAME" and "CODE" in err.expected:
        help_ = "reason codes are written in UPPER_CASE and declared in a `codes { … }` block"
    elif tok.type == "EQUAL" and "CMP_OP" in err.expected:
        help_ = "did you mean `==`? (`=` only gives a value, in `def`, `output` and defaults)"
    return Diagnostic("syntax", f"unexpected {what}, expected {_expected(err.expected)}",
                      Span(file, line, col, line, col + width, pos, pos + width), help_)


def _collect_comments(text: str, file: str) -> tuple[ast.Comment, ...]:
    out = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)', text):
        if m.group(1) is None:
            continue
        line = text.count("\n", 0, m.start(1)) + 1
        col = m.start(1) - (text.rfind("\n", 0, m.start(1)) + 1) + 1
        out.append(ast.Comment(m.group(1), Span(file, line, col, line, col + len(m.group(1)), m.start(1), m.end(1))))
    return tuple(out)


def _depth_errors(items: tuple[ast.Decl, ...]) -> list[Diagnostic]:
    """Refuse expressions and types nested deeper than MAX_DEPTH, iteratively (no recursion)."""
    stack: list[tuple[ast.Expr, int]] = []
    for item in items:
        types = [getattr(item, a, None) for a in ("type", "key_type", "value_type")]
        types += [f.type for f in getattr(item, "fields", ()) if isinstance(f, ast.FieldDecl)]
        types += [p.type for p in getattr(item, "params", ())]
        for t in types:
            depth = 0
            while isinstance(t, ast.ListType):   # `list of list of …`: types nest only there
                t, depth = t.element, depth + 1
                if depth > MAX_DEPTH:
                    return [Diagnostic("too-deep", f"type nested more than {MAX_DEPTH} levels deep", t.span,
                                       "declare a `record` for the inner lists")]
        if isinstance(item, ast.CampaignRuleDecl):
            stack.extend((e, 1) for e in item.expressions())
        for attr in ("expr", "clauses"):
            v = getattr(item, attr, None)
            if v is None:
                continue
            for node in (v if isinstance(v, tuple) else (v,)):
                if isinstance(node, ast.Clause):
                    if not isinstance(node.value, (str, int)):
                        stack.append((node.value, 1))
                else:
                    stack.append((node, 1))
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return [Diagnostic("too-deep", f"expression nested more than {MAX_DEPTH} levels deep", node.span,
                               "split it into named definitions (`def`)")]
        stack.extend((c, depth + 1) for c in ast.children(node))
    return []


def parse_module(text: str, file: str = "<string>") -> ast.Module:
    """Parse one policy file. Raises PolicyError with located diagnostics.

    Modules are immutable, so a file imported by several policies is parsed once.
    """
    return _parse_module(text, file)


@lru_cache(maxsize=256)
def _parse_module(text: str, file: str) -> ast.Module:
    name = Path(file).stem
    try:
        tree = parser().parse(text)
    except UnexpectedInput as err:
        raise PolicyError(_syntax_errors(text, file, err), {file: text}) from None
    except RecursionError:
        raise PolicyError([Diagnostic("too-deep", "policy nested too deeply to parse", Span.point(file, 1, 1))],
                          {file: text}) from None
    builder = _Build(file)
    try:
        items = builder.transform(tree)
    except VisitError as err:  # a bug in the transformer: still report it with a location
        raise PolicyError([Diagnostic("internal", f"could not build the syntax tree: {err.orig_exc}",
                                      _span_of(getattr(err.obj, "meta", None), file))], {file: text}) from None
    errors = builder.errors + _depth_errors(items)
    if errors:
        raise PolicyError(errors, {file: text})
    return ast.Module(name, items, _collect_comments(text, file), file)


def _syntax_errors(text: str, file: str, first: UnexpectedInput) -> list[Diagnostic]:
    """Every syntax error of a file: after each, parsing resumes at the next declaration.

    The text before the resumption point is blanked (newlines kept), so that positions stay
    those of the file; an error inside a declaration hides nothing after it.
    """
    out: list[Diagnostic] = []
    err: UnexpectedInput | None = first
    start = 0
    while err is not None and len(out) < MAX_SYNTAX_ERRORS:
        d = _syntax_diagnostic(err, text, file)
        decl = max((m.start() for m in _DECL_START.finditer(text, 0, d.span.start + 1)), default=0)
        out.append(_with_opening(d, err, text, file, max(decl, start)))
        at_decl = d.span.start > start and _DECL_START.match(text, d.span.start)   # the one before is unfinished
        nxt = at_decl or _DECL_START.search(text, max(d.span.start, start) + 1)
        if nxt is None or d.span.start >= len(text):
            break
        start = nxt.start()
        try:
            parser().parse(re.sub(r"[^\n]", " ", text[:start]) + text[start:])
            err = None
        except UnexpectedInput as e:
            err = e
        except RecursionError:
            err = None
    return out


def parse_expression(text: str, file: str = "<expr>") -> ast.Expr:
    """Parse a lone expression (used by tests and the REPL-like CLI helpers)."""
    module = parse_module(f"def _ = {text}", file)
    item = module.items[0] if len(module.items) == 1 else None
    if not isinstance(item, ast.DefDecl) or module.comments:   # `n import os`, `n # …`: more than an expression
        raise PolicyError([Diagnostic("syntax", "expected one expression", Span.point(file, 1, 1))], {file: text})
    return item.expr
