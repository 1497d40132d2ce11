"""Policy text -> the same policy in canonical layout (`esms-rules fmt`), like `opa fmt`.

The formatter prints the AST of `parse.parse_module`, so the layout never depends on how the
author spaced the text:

- the `policy` header with one field per line, values aligned;
- `enum` on one line when it fits in WIDTH columns, else its values filled onto lines;
- `record`, `codes`, `table` with one field, code or entry per line;
- `def` and `output` on one line when they fit; else the expression on the next lines: an
  `if … then … else if …` chain one branch per line, an `and`/`or` chain filled onto lines
  with the operator leading each continuation; `source` on its own indented line;
- `rule` and `exception` with one clause per line, the keyword column aligned
  (`code     X`), clauses in CLAUSE_ORDER (their order carries no meaning);
- expressions with the fewest parentheses the grammar's precedence allows
  (if < or < and < not < comparison, in < +, - < * < unary - < postfix), except that an
  `and` inside an `or` keeps its parentheses; strings re-escaped;
- one blank line around blocks (policy, record, codes, table, rule, exception, a wrapped
  enum); between other declarations the author's grouping is kept (at most one blank line);
- comments kept: a comment on its own line stays before the declaration, clause, field or
  entry that follows it; a comment at the end of a line stays at the end of the line that
  holds what preceded it (a second one for the same line moves just above it).

Soundness, as Cedar's formatter does it: the output is parsed again and must give the same
declarations (spans are outside equality; clause order is normalised by `canonical`) and the
same comments, else an internal error is raised rather than a changed policy returned.
`format_source(format_source(p)) == format_source(p)`.
"""
from __future__ import annotations

import datetime as dt
import unicodedata
from collections import Counter
from decimal import Decimal

import attrs

from . import ast
from .diagnostics import Diagnostic, PolicyError
from .parse import parse_module
from .span import Span

WIDTH = 100
INDENT = 2
CLAUSE_ORDER = ("priority", "applies", "code", "severity", "when", "message", "source")
KEYWORD_COLUMN = len("severity") + 1     # `code     X`: values of clauses start in one column

# Declarations laid out as blocks: always one blank line around them.
_BLOCKS = (ast.PolicyDecl, ast.RecordDecl, ast.CodesDecl, ast.TableDecl, ast.RuleDecl, ast.ExceptionDecl,
           ast.CampaignRuleDecl)
HEAD_INDENT = 2 * INDENT     # a campaign rule's head, when it does not fit on one line


def format_source(text: str, file: str = "<string>") -> str:
    """The canonical text of a policy. Raises PolicyError if it does not parse."""
    module = parse_module(text, file)
    out = _Printer(module, text).module()
    _soundness_check(module, out, file)
    return out


def canonical(items: tuple) -> tuple:
    """Declarations with the clauses of rules and exceptions in CLAUSE_ORDER (their only
    difference from the formatter's output, apart from layout)."""
    return tuple(attrs.evolve(d, clauses=tuple(sorted(d.clauses, key=_clause_rank)))
                 if isinstance(d, (ast.RuleDecl, ast.ExceptionDecl, ast.CampaignRuleDecl)) else d for d in items)


def _clause_rank(c: ast.Clause) -> int:
    return CLAUSE_ORDER.index(c.kind) if c.kind in CLAUSE_ORDER else len(CLAUSE_ORDER)


def _soundness_check(module: ast.Module, out: str, file: str) -> None:
    def internal(message):
        raise PolicyError([Diagnostic("internal", message, Span.point(file, 1, 1),
                                      "please report this bug of `esms-rules fmt` with the policy; "
                                      "the file was left unchanged")], {file: out})

    try:
        again = parse_module(out, file)
    except PolicyError as e:
        internal("the formatted policy does not parse: " + e.diagnostics[0].header())
    if canonical(again.items) != canonical(module.items):
        internal("formatting would change the meaning of the policy")
    if Counter(c.text.rstrip() for c in again.comments) != Counter(c.text.rstrip() for c in module.comments):
        internal("formatting would lose or merge comments")


# ---- literals and strings --------------------------------------------------------------
def quote(value: str) -> str:
    """A string literal whose unescaped value (parse._unescape) is `value`."""
    out, i = ['"'], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            j = i
            while j < len(value) and value[j] == "\\":
                j += 1
            if value[j:j + 1] in ("{", "}"):   # backslashes before a brace are kept as written by the parser
                out.append(value[i:j + 1])
                i = j + 1
                continue
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in ("Cc", "Zl", "Zp") and ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
        i += 1
    out.append('"')
    return "".join(out)


def _number(v) -> str:
    if isinstance(v, Decimal):
        return format(v, "f")
    return str(v)


def literal(lit: ast.Literal) -> str:
    v = lit.value
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, (int, Decimal)):
        return _number(v)
    if isinstance(v, dt.datetime):     # before date: a datetime is a date
        return _datetime(v)
    return v.isoformat()


def _datetime(v: dt.datetime) -> str:
    text = v.replace(tzinfo=None).isoformat(timespec="seconds")
    off = v.utcoffset()
    if off is None:
        return text
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _bound(lit: ast.Literal) -> str:
    v = lit.value
    assert isinstance(v, (int, Decimal))   # range bounds are numbers (the grammar)
    return "-" + _number(-v) if v < 0 else _number(v)


def type_ref(t) -> str:
    if isinstance(t, ast.ListType):
        return "list of " + type_ref(t.element)
    return t.name + ("?" if t.optional else "")


# ---- expressions -----------------------------------------------------------------------
# Precedence levels of grammar/esms.lark, loosest first.
IF, OR, AND, NOT, CMP, SUM, PRODUCT, UNARY, POSTFIX, ATOM = range(10)
_BINARY = {"or": OR, "and": AND, "+": SUM, "-": SUM, "*": PRODUCT}


def precedence(e) -> int:
    if isinstance(e, ast.If):
        return IF
    if isinstance(e, ast.Binary):
        return _BINARY.get(e.op, CMP)
    if isinstance(e, ast.Unary):
        return NOT if e.op == "not" else UNARY
    if isinstance(e, (ast.Attribute, ast.Lookup, ast.Call)):
        return POSTFIX
    return ATOM


def expr(e, least: int = IF) -> str:
    """`e` on one line, parenthesised if its precedence is below `least`."""
    text = _expr(e)
    return f"({text})" if precedence(e) < least else text


def _operand(parent: ast.Binary, e, least: int) -> str:
    """An operand; an `and` inside an `or` keeps its parentheses, for the reader's sake."""
    if parent.op == "or" and isinstance(e, ast.Binary) and e.op == "and":
        return f"({_expr(e)})"
    return expr(e, least)


def _operands(e: ast.Binary) -> tuple[int, int]:
    """The least precedence of the left and right operands of a binary operator."""
    level = precedence(e)
    if level == CMP:
        return SUM, SUM          # comparisons do not chain: `a == b == c` is a syntax error
    return level, level + 1      # left-associative


class _ExprText(ast.ExprVisitor[None, str]):
    """The printing back end: `visit(e, None)` is `e` on one line, operands parenthesised as needed."""

    def visit_Literal(self, e: ast.Literal, _: None) -> str:
        return literal(e)

    def visit_Name(self, e: ast.Name, _: None) -> str:
        return e.name

    def visit_Attribute(self, e: ast.Attribute, _: None) -> str:
        return f"{expr(e.obj, POSTFIX)}.{e.name}"

    def visit_Lookup(self, e: ast.Lookup, _: None) -> str:
        return f"{expr(e.obj, POSTFIX)}[{expr(e.key)}]"

    def visit_Call(self, e: ast.Call, _: None) -> str:
        if len(e.args) == 1 and isinstance(e.args[0], ast.Generator):
            return f"{e.func}({generator(e.args[0])})"
        return f"{e.func}({', '.join(expr(a) for a in e.args)})"

    def visit_ListExpr(self, e: ast.ListExpr, _: None) -> str:
        return "[" + ", ".join(expr(i) for i in e.items) + "]"

    def visit_Comprehension(self, e: ast.Comprehension, _: None) -> str:
        return f"[{generator(e.generator)}]"

    def visit_Generator(self, e: ast.Generator, _: None) -> str:
        return generator(e)

    def visit_Unary(self, e: ast.Unary, _: None) -> str:
        if e.op == "not":
            return "not " + expr(e.operand, NOT)
        inner = expr(e.operand, UNARY)
        return "-" + (" " + inner if inner.startswith("-") else inner)

    def visit_Binary(self, e: ast.Binary, _: None) -> str:
        left, right = _operands(e)
        return f"{_operand(e, e.left, left)} {e.op} {_operand(e, e.right, right)}"

    def visit_If(self, e: ast.If, _: None) -> str:
        return " ".join(_branches(e))


_TEXT = _ExprText()


def _expr(e: ast.Expr) -> str:
    return _TEXT.visit(e, None)


def generator(g: ast.Generator) -> str:
    text = f"{expr(g.element, OR)} for {g.var} in {expr(g.source, OR)}"
    return text + (f" where {expr(g.condition, OR)}" if g.condition is not None else "")


def _chain(e: ast.If) -> list[ast.Expr]:
    """`if a then x else if b then y else z` -> [If a, If b, z]."""
    out: list[ast.Expr] = [e]
    while isinstance(last := out[-1], ast.If):
        out.append(last.otherwise)
    return out


def _branches(e: ast.If) -> list[str]:
    """One text per branch: `if a then x`, `else if b then y`, `else z`."""
    parts = _chain(e)
    out = []
    for k, node in enumerate(parts):
        if not isinstance(node, ast.If):     # the last one
            out.append("else " + expr(node))
        else:
            lead = "if" if k == 0 else "else if"
            out.append(f"{lead} {expr(node.condition, OR)} then {expr(node.then, OR)}")
    return out


def _fill_pieces(e: ast.Expr) -> list[tuple[str, ast.Expr]] | None:
    """An `and`/`or` chain as pieces (`a`, a), (`and b`, b)…; None for other expressions."""
    if not (isinstance(e, ast.Binary) and e.op in ("and", "or")):
        return None
    op, right_least = e.op, precedence(e) + 1
    rights: list[ast.Expr] = []
    while isinstance(e, ast.Binary) and e.op == op:
        rights.append(e.right)
        e = e.left
    chain = ast.Binary(op, e, e)
    return [(_operand(chain, e, _BINARY[op]), e)] + [(f"{op} {_operand(chain, r, right_least)}", r)
                                                    for r in reversed(rights)]


# ---- output lines ----------------------------------------------------------------------
@attrs.define
class Line:
    """One output line. `tag` is the source line of the element whose text starts it:
    comments are placed by it."""

    indent: int
    text: str
    tag: int
    close: bool = False                  # a closing line: comments before it go one level in
    before: list = attrs.Factory(list)   # comments on their own lines, before this one
    after: str | None = None             # the comment at the end of this line


def _layout(e, column: int, first_tag: int, chain: bool = False) -> list[tuple[int, str, int]]:
    """`e` starting at `column`: [(column, text, tag)], the first line continuing where it starts.

    An `if` chain goes one branch per line (always when `chain`), an `and`/`or` chain is
    filled onto lines with the operator leading each continuation. The first line is tagged
    `first_tag`, the others with the source line of the branch or operand that starts them.
    """
    flat = expr(e)
    if column + len(flat) <= WIDTH and not (chain and isinstance(e, ast.If)):
        return [(column, flat, first_tag)]
    if isinstance(e, ast.If):
        branches = zip(_branches(e), _chain(e), strict=True)
        return [(column, text, first_tag if k == 0 else node.span.line) for k, (text, node) in enumerate(branches)]
    pieces = _fill_pieces(e)
    if pieces is None:
        return [(column, flat, first_tag)]
    (current, _), lines, tag = pieces[0], [], first_tag
    for piece, node in pieces[1:]:
        if column + len(current) + 1 + len(piece) <= WIDTH:
            current += " " + piece
        else:
            lines.append((column, current, tag))
            current, tag = piece, node.span.line
    lines.append((column, current, tag))
    return lines


class _Printer:
    def __init__(self, module: ast.Module, text: str):
        self.module_ = module
        self.source_lines = text.split("\n")

    # -- whole module
    def module(self) -> str:
        items = self.module_.items
        placed = self.place_comments(items)
        out: list[str] = []
        prev, prev_block = None, False
        for k, item in enumerate(items):
            lines = self.decl(item)
            self.attach(lines, placed["inside"][k])
            leading = placed["leading"][k]
            first_line = leading[0].span.line if leading else item.span.line
            block = isinstance(item, _BLOCKS) or (isinstance(item, ast.EnumDecl) and len(lines) > 1)
            if prev is not None and (prev_block or block or self.blank_between(prev.span.end_line, first_line)):
                out.append("")
            out += self.comment_block(leading, item.span.line)
            out += self.render(lines)
            prev, prev_block = item, block
        tail = placed["tail"]
        if tail:
            if prev is not None and self.blank_between(prev.span.end_line, tail[0].span.line):
                out.append("")
            out += self.comment_block(tail, None)
        return "\n".join(out) + "\n" if out else ""

    def blank_between(self, a: int, b: int) -> bool:
        """Whether a blank source line lies strictly between lines a and b (1-based)."""
        return any(not self.source_lines[i - 1].strip() for i in range(a + 1, b)
                   if 1 <= i <= len(self.source_lines))

    def comment_block(self, comments, next_line) -> list[str]:
        out = []
        for k, c in enumerate(comments):
            if k and self.blank_between(comments[k - 1].span.line, c.span.line):
                out.append("")
            out.append(c.text.rstrip())
        if comments and next_line is not None and self.blank_between(comments[-1].span.line, next_line):
            out.append("")
        return out

    def standalone(self, c: ast.Comment) -> bool:
        line = self.source_lines[c.span.line - 1]
        return not line[:c.span.column - 1].strip()

    def place_comments(self, items) -> dict:
        """Each comment: before a declaration, inside one, or after the last."""
        leading: list[list[ast.Comment]] = [[] for _ in items]
        inside: list[list[ast.Comment]] = [[] for _ in items]
        tail: list[ast.Comment] = []
        for c in self.module_.comments:
            pos = c.span.start
            owner = None
            for k, item in enumerate(items):
                s = item.span
                if s.start <= pos <= s.end or (pos > s.end and c.span.line == s.end_line):
                    owner = k
            if owner is not None:
                inside[owner].append(c)
                continue
            nxt = next((k for k, item in enumerate(items) if item.span.start > pos), None)
            (tail if nxt is None else leading[nxt]).append(c)
        return {"leading": leading, "inside": inside, "tail": tail}

    def attach(self, lines: list[Line], comments) -> None:
        """Put the comments found inside a declaration on its output lines."""
        for c in comments:
            line_no = c.span.line
            text = c.text.rstrip()
            if self.standalone(c):
                later = [ln.tag for ln in lines if ln.tag > line_no]
                if later:
                    target = next(ln for ln in lines if ln.tag == min(later))
                else:
                    target = lines[-1]
                target.before.append(text)
                continue
            earlier = [ln.tag for ln in lines if ln.tag <= line_no]
            tag = max(earlier) if earlier else lines[0].tag
            target = [ln for ln in lines if ln.tag == tag][-1]
            if target.after is None:
                target.after = text
            else:   # two comments for one line: the later one goes before the element
                first = next(ln for ln in lines if ln.tag == tag)
                first.before.append(text)

    @staticmethod
    def render(lines: list[Line]) -> list[str]:
        out = []
        for ln in lines:
            indent = ln.indent + (INDENT if ln.close else 0)
            out += [" " * indent + c for c in ln.before]
            text = " " * ln.indent + ln.text
            out.append(text + (f"  {ln.after}" if ln.after is not None else ""))
        return out

    # -- declarations
    def decl(self, d) -> list[Line]:
        method = getattr(self, "decl_" + type(d).__name__)
        return method(d)

    def block(self, head: str, d, body: list[Line], tail: str = "") -> list[Line]:
        if not body:
            return [Line(0, f"{head} {{}}{tail}", d.span.line)]
        return [Line(0, head + " {", d.span.line), *body, Line(0, "}" + tail, d.span.end_line, close=True)]

    def decl_PolicyDecl(self, d: ast.PolicyDecl) -> list[Line]:
        width = max((len(f.name) for f in d.fields), default=0) + 1
        body = [Line(INDENT, f"{f.name.ljust(width)}{literal(f.value)}", f.span.line) for f in d.fields]
        return self.block(f"policy {quote(d.name)}", d, body)

    def decl_ImportDecl(self, d: ast.ImportDecl) -> list[Line]:
        return [Line(0, f"import {d.module}", d.span.line)]

    def decl_EnumDecl(self, d: ast.EnumDecl) -> list[Line]:
        values = [quote(v) for v in d.values]
        one = f"enum {d.name} {{ {', '.join(values)} }}"
        if len(one) <= WIDTH:
            return [Line(0, one, d.span.line)]
        rows, current = [], ""
        for k, v in enumerate(values):
            piece = v + ("," if k < len(values) - 1 else "")
            if current and INDENT + len(current) + 1 + len(piece) > WIDTH:
                rows.append(current)
                current = piece
            else:
                current = f"{current} {piece}" if current else piece
        rows.append(current)
        body = [Line(INDENT, r, d.span.line) for r in rows]
        return [Line(0, f"enum {d.name} {{", d.span.line), *body, Line(0, "}", d.span.end_line, close=True)]

    def field_text(self, f) -> str:
        text = f"{f.name}: {type_ref(f.type)}"
        c = f.constraint
        if isinstance(c, ast.RangeConstraint):
            text += f" ({_bound(c.low)}..{_bound(c.high)})"
        elif isinstance(c, ast.LengthConstraint):
            text += f" (length {c.length})"
        if f.default is not None:
            text += f" = {literal(f.default)}"
        return text

    def decl_RecordDecl(self, d: ast.RecordDecl) -> list[Line]:
        body = [Line(INDENT, self.field_text(f), f.span.line) for f in d.fields]
        return self.block(f"{'history ' if d.history else ''}record {d.name}", d, body)

    def decl_FactDecl(self, d: ast.FactDecl) -> list[Line]:
        return [Line(0, "fact " + self.field_text(d), d.span.line)]

    def decl_CodesDecl(self, d: ast.CodesDecl) -> list[Line]:
        body = [Line(INDENT, e.code + (f" {quote(e.description)}" if e.description is not None else ""),
                     e.span.line) for e in d.entries]
        return self.block("codes", d, body)

    def decl_TableDecl(self, d: ast.TableDecl) -> list[Line]:
        head = f"{'override ' if d.override else ''}table {d.name}: {type_ref(d.key_type)} -> {type_ref(d.value_type)}"
        body = [Line(INDENT, f"{literal(e.key)}: {literal(e.value)}", e.span.line) for e in d.entries]
        tail = f" source {quote(d.source)}" if d.source is not None else ""
        return self.block(head, d, body, tail)

    def decl_ParamDecl(self, d: ast.ParamDecl) -> list[Line]:
        return [Line(0, f"param {d.name}: {type_ref(d.type)}", d.span.line)]

    def decl_DefDecl(self, d: ast.DefDecl) -> list[Line]:
        head = f"{'override ' if d.override else ''}def {d.name}"
        if d.params:
            head += "(" + ", ".join(f"{p.name}: {type_ref(p.type)}" for p in d.params) + ")"
        if d.type is not None:
            head += ": " + type_ref(d.type)
        lines = self.definition(head, d.expr, d.span.line)
        if d.source is not None:
            lines.append(Line(INDENT, f"source {quote(d.source)}", d.span.end_line))
        return lines

    def decl_OutputDecl(self, d: ast.OutputDecl) -> list[Line]:
        head = f"output {d.name}"
        if d.binder is not None:
            head += f" for {d.binder.var} in {d.binder.list_name}"
        return self.definition(head, d.expr, d.span.line)

    def definition(self, head: str, e, line: int) -> list[Line]:
        flat = f"{head} = {expr(e)}"
        if len(flat) <= WIDTH:
            return [Line(0, flat, line)]
        body = _layout(e, INDENT, e.span.line, chain=True)   # an `if` chain: one branch per line
        return [Line(0, head + " =", line)] + [Line(col, text, tag) for col, text, tag in body]

    def decl_RuleDecl(self, d: ast.RuleDecl) -> list[Line]:
        head = f"{'override ' if d.override else ''}rule {d.name}"
        if d.binder is not None:
            head += f" for {d.binder.var} in {d.binder.list_name}"
        return self.block(head, d, self.clauses(d))

    def decl_ExceptionDecl(self, d: ast.ExceptionDecl) -> list[Line]:
        head = f"{'override ' if d.override else ''}exception {d.name} to {d.target}"
        return self.block(head, d, self.clauses(d))

    def decl_CampaignRuleDecl(self, d: ast.CampaignRuleDecl) -> list[Line]:
        """`campaign rule name <head> {`: the head on one line when it fits, else one part per
        line (rows, then the combination, then the join's `where`), indented twice."""
        first = f"{'override ' if d.override else ''}campaign rule {d.name}"
        rows = d.rows
        shown = f"{rows.var} in {rows.list_name}" if rows.var is not None else "dossiers"
        if rows.condition is not None:
            shown += f" where {expr(rows.condition)}"
        parts: list[tuple[str, int]] = []
        if d.form == "count":
            parts.append((f"count {shown}", rows.span.line))
        else:
            parts.append((f"for {shown}", rows.span.line))
            if d.form == "group":
                assert d.key is not None
                parts.append((f"group by {expr(d.key)}", d.key.span.line))
            else:
                assert d.on is not None
                parts.append((f"join {d.join_var} in history on {expr(d.on)}", d.on.span.line))
                if d.join_where is not None:
                    parts.append((f"where {expr(d.join_where)}", d.join_where.span.line))
        one = " ".join([first] + [p for p, _ in parts])
        if len(one) + 2 <= WIDTH:
            return self.block(one, d, self.clauses(d))
        head = [Line(0, first, d.span.line)] + [Line(HEAD_INDENT, p, line) for p, line in parts]
        head[-1].text += " {"
        return head + self.clauses(d) + [Line(0, "}", d.span.end_line, close=True)]

    def clauses(self, d) -> list[Line]:
        out = []
        for c in sorted(d.clauses, key=_clause_rank):
            key = c.kind.ljust(KEYWORD_COLUMN)
            if c.kind in ("when", "applies"):
                laid = _layout(c.value, INDENT + KEYWORD_COLUMN, c.span.line)
                out.append(Line(INDENT, key + laid[0][1], c.span.line))
                out += [Line(col, text, tag) for col, text, tag in laid[1:]]
                continue
            if c.kind in ("message", "source"):
                value = quote(c.value)
            else:
                value = str(c.value)
            out.append(Line(INDENT, key + value, c.span.line))
        return out
