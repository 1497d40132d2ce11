"""Syntax highlighting of policies for Pygments (`pygmentize x.esms`, Sphinx, MkDocs).

Registered under the entry point group `pygments.lexers` (see pyproject.toml), so that
Pygments finds `EsmsLexer` by the alias `esms` and by the `*.esms` file name. Importing this
module imports Pygments, which is only an optional dependency (extra `highlight`); nothing
else in esms_rules imports it.

The token classes follow the grammar (grammar/esms.lark): declaration keywords, clause
keywords, reason codes (constants), severities, scalar types, literals (dates before
numbers), `{…}` interpolations inside message strings, and comments.
"""
from __future__ import annotations

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Whitespace

DECLARATIONS = ("policy", "import", "enum", "record", "fact", "codes", "table", "param", "def", "rule",
                "exception", "output", "override")
CLAUSES = ("code", "severity", "when", "applies", "priority", "message", "source")
OPERATORS = ("and", "or", "not", "in", "if", "then", "else", "for", "where", "to", "list", "of", "length")
SEVERITIES = ("blocking", "warning", "inadmissible", "info")
# The head of a campaign rule (docs/campaign.md); `campaign`, `history` and `count` are keywords
# only there, and stay names (a fact, a field, a function) everywhere else.
CAMPAIGN_HEAD = (r"\b(group\s+by|join|in\s+history\s+on|dossiers"
                 r"|count(?=\s+(?:dossiers\b|[a-z_][A-Za-z0-9_]*\s+in\b)))\b")
SCALARS = ("bool", "int", "decimal", "text", "date", "datetime")
CONSTANTS = ("true", "false", "null")


class EsmsLexer(RegexLexer):
    """The esms-rules policy language (`.esms` files)."""

    name = "esms-rules policy"
    aliases = ["esms"]
    filenames = ["*.esms"]
    mimetypes = ["text/x-esms"]
    url = "https://example.invalid/esms-rules"   # no public home page yet

    tokens = {
        "root": [
            (r"\s+", Whitespace),
            (r"#.*?$", Comment.Single),
            (r"(override)(\s+)(?=campaign\s+rule\b)", bygroups(Keyword.Declaration, Whitespace)),
            # `campaign rule name`, `history record name`: two words, then the declared name
            (r"^(campaign|history)(\s+)(rule|record)(\s+)([a-z_][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Keyword.Declaration, Whitespace, Name.Function)),
            (CAMPAIGN_HEAD, Operator.Word),
            # `rule name`, `def name`, … : the declared name
            (r"\b(rule|exception|def|fact|record|enum|table|param|output)(\s+)([a-z_][A-Za-z0-9_]*)",
             bygroups(Keyword.Declaration, Whitespace, Name.Function)),
            (words(DECLARATIONS, suffix=r"\b"), Keyword.Declaration),
            (words(CLAUSES, suffix=r"\b"), Keyword),
            (words(SEVERITIES, suffix=r"\b"), Keyword.Pseudo),
            (words(OPERATORS, suffix=r"\b"), Operator.Word),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(SCALARS, suffix=r"\b"), Keyword.Type),
            (r"[A-Z][A-Z0-9_]*\b", Name.Constant),                       # reason codes
            (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:\d{2})", Number.Other),   # date-times
            (r"\d{4}-\d{2}-\d{2}", Number.Other),                        # dates
            (r"\d+\.\d+", Number.Float),
            (r"\d+", Number.Integer),
            (r'"', String.Double, "string"),
            (r"[a-z_][A-Za-z0-9_]*(?=\s*\()", Name.Builtin),             # calls
            (r"[a-z_][A-Za-z0-9_]*", Name),
            (r"==|!=|<=|>=|->|\.\.|[<>+\-*=?]", Operator),
            (r"[{}()\[\],:.]", Punctuation),
        ],
        "string": [
            (r'\\u[0-9a-fA-F]{4}|\\["\\nt{}]', String.Escape),
            (r"\{", String.Interpol, "interpolation"),
            (r'[^"\\{\n]+', String.Double),
            (r'"', String.Double, "#pop"),
        ],
        "interpolation": [
            (r"\}", String.Interpol, "#pop"),
            include("expression"),
        ],
        "expression": [
            (r"[ \t]+", Whitespace),
            (words(OPERATORS + CONSTANTS, suffix=r"\b"), Operator.Word),
            (r"\d+(\.\d+)?", Number),
            (r"[a-z_][A-Za-z0-9_]*(?=\s*\()", Name.Builtin),
            (r"[a-z_][A-Za-z0-9_]*", Name),
            (r"[A-Z][A-Z0-9_]*", Name.Constant),
            (r"==|!=|<=|>=|[<>+\-*]", Operator),
            (r"[()\[\],.:]", Punctuation),
        ],
    }


__all__ = ["EsmsLexer"]
