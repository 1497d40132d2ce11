"""The parser: each construct of grammar/esms.lark -> its AST node, and syntax errors -> diagnostics."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from lark import Lark

from esms_rules import ast
from esms_rules.diagnostics import PolicyError
from esms_rules.parse import _Build, grammar_text, parse_expression, parse_module

A = ast


def items(text: str):
    return parse_module(text).items


def one(text: str):
    (item,) = items(text)
    return item


def e(text: str):
    return parse_expression(text)


def n(name):
    return A.Name(name)


def lit(value, kind=None):
    kind = kind or {bool: "bool", int: "int", str: "string", Decimal: "decimal", dt.date: "date",
                    dt.datetime: "datetime", type(None): "null"}[type(value)]
    return A.Literal(value, kind)


def syntax_error(text: str):
    with pytest.raises(PolicyError) as info:
        parse_module(text, "p.esms")
    (d,) = info.value.diagnostics
    return d


# ---- the grammar itself -----------------------------------------------------------------
def test_grammar_has_no_hidden_conflicts():
    """LALR settles shift/reduce conflicts silently; strict mode refuses them (and collisions)."""
    Lark(grammar_text(), parser="lalr", strict=True)


def test_every_rule_and_alias_has_a_builder():
    """Rule names are the AST class names in snake_case; the transformer builds each tree."""
    from esms_rules.parse import parser
    built = {str(r.alias) if r.alias else str(r.origin.name) for r in parser().rules
             if r.alias or not (r.options.expand1 or str(r.origin.name).startswith("_"))}
    assert built and not sorted(x for x in built if not hasattr(_Build, x))


# ---- declarations -----------------------------------------------------------------------
def test_policy_header():
    d = one('policy "esms-numerique-2025" {\n  programme "esms-numerique"\n  campaign 2025\n'
            '  effective 2025-04-16\n}')
    assert d == A.PolicyDecl("esms-numerique-2025", (
        A.PolicyField("programme", lit("esms-numerique")), A.PolicyField("campaign", lit(2025)),
        A.PolicyField("effective", lit(dt.date(2025, 4, 16)))))
    assert d.get("campaign") == 2025 and d.get("missing") is None
    assert parse_module('policy "p" {}').header == A.PolicyDecl("p", ())


def test_import_enum_record_fact():
    assert one("import common") == A.ImportDecl("common")
    assert one('enum call_kind { "regional", "national", }') == A.EnumDecl("call_kind", ("regional", "national"))
    r = one('record s {\n finess: text (length 9)\n item: int? (1..17)\n share: decimal (-0.5..1.5) = 0.0\n'
            ' funders: list of funder\n}')
    assert r == A.RecordDecl("s", (
        A.FieldDecl("finess", A.NamedType("text"), A.LengthConstraint(9)),
        A.FieldDecl("item", A.NamedType("int", True), A.RangeConstraint(lit(1), lit(17))),
        A.FieldDecl("share", A.NamedType("decimal"),
                    A.RangeConstraint(lit(Decimal("-0.5")), lit(Decimal("1.5"))), lit(Decimal("0.0"))),
        A.FieldDecl("funders", A.ListType(A.NamedType("funder")))))
    assert one('fact programme: programme_name = "esms-numerique"') == A.FactDecl(
        "programme", A.NamedType("programme_name"), None, lit("esms-numerique"))
    assert one("fact xs: list of list of int?") == A.FactDecl(
        "xs", A.ListType(A.ListType(A.NamedType("int", True))))


def test_codes_and_tables():
    assert one('codes {\n A_B "x"\n C\n}') == A.CodesDecl((A.CodeEntry("A_B", "x"), A.CodeEntry("C")))
    t = one('override table t: department -> int {\n "01": 1\n "2A": 2\n} source "s"')
    assert t == A.TableDecl("t", A.NamedType("department"), A.NamedType("int"),
                            (A.TableEntry(lit("01"), lit(1)), A.TableEntry(lit("2A"), lit(2))), "s", True)
    assert one("table t: text -> bool {}") == A.TableDecl("t", A.NamedType("text"), A.NamedType("bool"), ())


def test_params_defs_outputs():
    assert one("param maximum: int?") == A.ParamDecl("maximum", A.NamedType("int", True))
    d = one('override def covered(s: structure, k: int): bool = true\n  source "cite"')
    assert d == A.DefDecl("covered", (A.Param("s", A.NamedType("structure")), A.Param("k", A.NamedType("int"))),
                          A.NamedType("bool"), lit(True), "cite", True)
    assert one("def n = 1") == A.DefDecl("n", (), None, lit(1))
    assert one("output share for s in structures = 1") == A.OutputDecl(
        "share", A.Binder("s", "structures"), lit(1))
    assert one("output call = null") == A.OutputDecl("call", None, lit(None))


def test_rules_and_exceptions():
    r = one('rule r for s in structures {\n code X_1\n severity warning\n when a\n message "m {s.x}"\n'
            ' source "c"\n}')
    assert r == A.RuleDecl("r", A.Binder("s", "structures"), (
        A.Clause("code", "X_1"), A.Clause("severity", "warning"), A.Clause("when", n("a")),
        A.Clause("message", "m {s.x}"), A.Clause("source", "c")))
    assert r.get("code") == "X_1" and r.get("priority", 0) == 0
    x = one("override exception e to r { priority 2 applies b }")
    assert x == A.ExceptionDecl("e", "r", (A.Clause("priority", 2), A.Clause("applies", n("b"))), True)
    assert one("rule r {}") == A.RuleDecl("r", None, ())


def test_keywords_are_names_where_the_grammar_allows():
    assert one("fact code: int").name == "code"
    assert one("fact class: int").name == "class"
    assert one("fact import: int").name == "import"
    assert [f.name for f in one("record r { when: int source: text }").fields] == ["when", "source"]


# ---- expressions ------------------------------------------------------------------------
def test_literals():
    assert e("42") == lit(42)
    assert e("1.50") == lit(Decimal("1.50")) and str(e("1.50").value) == "1.50"
    assert e("2025-02-28") == lit(dt.date(2025, 2, 28))
    z = e("2025-09-15T22:10Z").value
    assert z == dt.datetime(2025, 9, 15, 22, 10, tzinfo=dt.UTC)
    off = e("2025-09-15T22:10:30-04:00").value
    assert off.utcoffset() == dt.timedelta(hours=-4) and off.second == 30
    assert e("true") == lit(True) and e("false") == lit(False) and e("null") == lit(None)


def test_string_escapes():
    assert e(r'"a\"b\\c\nd\te"').value == 'a"b\\c\nd\te'
    assert e(r'"\u00e9\u0027"').value == "é'"
    assert e(r'"\{n\}"').value == r"\{n\}"       # kept: a literal brace in a message
    assert e('"{n}"').value == "{n}"              # an interpolation


def test_precedence_and_associativity():
    assert e("a or b and c") == A.Binary("or", n("a"), A.Binary("and", n("b"), n("c")))
    assert e("a and b or c") == A.Binary("or", A.Binary("and", n("a"), n("b")), n("c"))
    assert e("not a == b") == A.Unary("not", A.Binary("==", n("a"), n("b")))
    assert e("not not a") == A.Unary("not", A.Unary("not", n("a")))
    assert e("a - b - c") == A.Binary("-", A.Binary("-", n("a"), n("b")), n("c"))
    assert e("a - (b - c)") == A.Binary("-", n("a"), A.Binary("-", n("b"), n("c")))
    assert e("a + b * c") == A.Binary("+", n("a"), A.Binary("*", n("b"), n("c")))
    assert e("-a * b") == A.Binary("*", A.Unary("-", n("a")), n("b"))
    assert e("a + b < c * 2") == A.Binary("<", A.Binary("+", n("a"), n("b")), A.Binary("*", n("c"), lit(2)))
    assert e("a in [1, 2]") == A.Binary("in", n("a"), A.ListExpr((lit(1), lit(2))))
    assert e("a not in b") == A.Binary("not in", n("a"), n("b"))
    assert e("(((a)))") == n("a")


def test_postfix_calls_and_generators():
    assert e("s.department.code") == A.Attribute(A.Attribute(n("s"), "department"), "code")
    assert e("t[s.d]") == A.Lookup(n("t"), A.Attribute(n("s"), "d"))
    assert e("f()") == A.Call("f", ())
    assert e("round(x, 2)") == A.Call("round", (n("x"), lit(2)))
    assert e("count(s for s in xs where s.ok)") == A.Call(
        "count", (A.Generator(n("s"), "s", n("xs"), A.Attribute(n("s"), "ok")),))
    assert e("[s.x for s in xs]") == A.Comprehension(A.Generator(A.Attribute(n("s"), "x"), "s", n("xs")))
    assert e("count([s for s in xs])") == A.Call("count", (A.Comprehension(A.Generator(n("s"), "s", n("xs"))),))
    assert e("[]") == A.ListExpr(()) and e("[a]") == A.ListExpr((n("a"),))


def test_if_chain():
    assert e("if a then 1 else if b then 2 else 3") == A.If(n("a"), lit(1), A.If(n("b"), lit(2), lit(3)))
    assert e("(if a then 1 else 2) + 1") == A.Binary("+", A.If(n("a"), lit(1), lit(2)), lit(1))


# ---- spans and comments -----------------------------------------------------------------
def test_spans_are_located_and_outside_equality():
    m = parse_module("# c\nrule r {\n  when   a and b\n}\n", "p.esms")
    rule = m.items[0]
    when = rule.clauses[0].value
    assert (rule.span.file, rule.span.line, rule.span.column) == ("p.esms", 2, 1)
    assert (when.span.line, when.span.column, when.right.span.column) == (3, 10, 16)
    assert rule == parse_module("rule r { when a and b }").items[0]


def test_comments_are_kept_with_their_places():
    m = parse_module('# head\nfact a: int  # tail\ndef s = "# not a comment"\n')
    assert [(c.text, c.span.line, c.span.column) for c in m.comments] == [("# head", 1, 1), ("# tail", 2, 14)]
    assert m.items == parse_module("fact a: int\ndef s = \"# not a comment\"").items


# ---- syntax errors ----------------------------------------------------------------------
def _lark_names():
    from esms_rules.parse import parser
    names = sorted({t.name for t in parser().terminals} | {"$END"}, key=len, reverse=True)
    return re.compile(r"(?<![\w`$])(" + "|".join(re.escape(x) for x in names) + r")(?![\w`])")


LARK_NAMES = _lark_names()


@pytest.mark.parametrize("text, message", [
    ("rule r {\n  code x\n}", "unexpected `x`, expected a reason code (UPPER_CASE)"),
    ("rule r {\n  severity high\n}", "unexpected `high`, expected `blocking`, `warning`, `inadmissible` or `info`"),
    ("record r { a: int (1 to 3) }", "unexpected `to`, expected `)`, `..`"),
    ("table t: a => b {}", "unexpected `=`, expected `->`"),
    ("fact y int", "unexpected `int`, expected `:`"),
    ("enum e { a, b }", "unexpected `a`, expected a string"),
    ("def x = (a + b", "unexpected end of file, expected `)`"),
    ("def x = 1 @ 2", "unexpected character `@`"),
])
def test_syntax_errors_in_author_terms(text, message):
    d = syntax_error(text)
    assert d.code == "syntax" and d.message == message
    assert not LARK_NAMES.search(d.message + (d.help or "")), "Lark's terminal names leak"


def test_expected_tokens_never_show_lark_names():
    for text in ("def x = a == b == c", "def x = a +", "rule r { when a", "policy", "exception e r {}",
                 "def f(x int) = 1", "output o for = 1", "table t: a -> b { 1 }", "codes { a }"):
        d = syntax_error(text)
        assert not LARK_NAMES.search(d.message + (d.help or "")), d.message


def test_expected_tokens_say_a_name_first():
    assert syntax_error("def x = a +").message.startswith(
        "unexpected end of file, expected a date (YYYY-MM-DD), a date-time, a name, a number, a string")


def test_end_of_file_points_after_the_last_token():
    d = syntax_error("rule r {\n  when a\n")
    assert (d.span.line, d.span.column) == (2, 9)
    assert d.help == "a block `{` may be missing its closing `}`"
    assert syntax_error("def x = a +").help is None


def test_unterminated_string():
    d = syntax_error('def a = 1\ndef label = "ESMS numérique\n')
    assert (d.code, d.message, d.span.line, d.span.column) == ("unterminated-string", "unterminated string", 2, 13)
    assert "\\n" in d.help


@pytest.mark.parametrize("literal, what", [("2025-02-30", "date"), ("2025-13-01", "date"),
                                           ("2025-09-15T25:00+02:00", "date-time"),
                                           ("2025-09-15T10:00+24:00", "date-time")])
def test_bad_dates(literal, what):
    d = syntax_error(f"def d = {literal}")
    assert d.code == "bad-date" and d.message == f"`{literal}` is not a valid {what}"
    assert (d.span.column, d.span.end_column) == (9, 9 + len(literal))


def test_every_bad_date_is_reported():
    with pytest.raises(PolicyError) as info:
        parse_module("def a = 2025-02-30\ndef b = 2025-04-31\n")
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("bad-date", 1), ("bad-date", 2)]


def test_too_deep():
    d = syntax_error("def x = " + "-" * 150 + "1")
    assert d.code == "too-deep" and "100 levels" in d.message
    parse_module("def x = " + "-" * 90 + "1")   # below the limit


def test_rendered_diagnostic():
    with pytest.raises(PolicyError) as info:
        parse_module("fact a: int\nfact b int\n", "p.esms")
    assert info.value.render() == (
        "p.esms:2:8: error[syntax]: unexpected `int`, expected `:`\n"
        "    2 | fact b int\n"
        "      |        ^^^")
