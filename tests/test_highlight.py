"""Highlighting: the Pygments lexer (entry point `pygments.lexers`), the TextMate grammar and
the VS Code extension manifest under editors/vscode/."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

pygments = pytest.importorskip("pygments")
from pygments.token import Error, Keyword, Name, String  # noqa: E402

from esms_rules.highlight import EsmsLexer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VSCODE = ROOT / "editors" / "vscode"
POLICIES = sorted((ROOT / "policies").glob("*.esms"))
KEYWORDS = sorted(set(re.findall(r'"([a-z]+)"', (ROOT / "grammar" / "esms.lark").read_text(encoding="utf-8"))))


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_every_bundled_policy_lexes_without_error_tokens(path):
    text = path.read_text(encoding="utf-8")
    tokens = list(EsmsLexer().get_tokens(text))
    assert [v for t, v in tokens if t in Error] == []
    assert "".join(v for _, v in tokens) == text if text.endswith("\n") else True
    kinds = {t for t, _ in tokens}
    assert Keyword.Declaration in kinds and String.Double in kinds


def test_a_mistake_is_an_error_token():
    assert any(t in Error for t, _ in EsmsLexer().get_tokens("def x = a && b\n"))


def test_tokens_follow_the_grammar():
    tokens = dict((v, t) for t, v in EsmsLexer().get_tokens(
        'rule too_small for s in structures {\n  code TOO_SMALL\n  severity blocking\n'
        '  when count(x) < 15 and s.d >= 2025-01-01\n  message "n = {n + 1}"\n}\n'))
    assert tokens["rule"] in Keyword.Declaration and tokens["too_small"] in Name.Function
    assert tokens["TOO_SMALL"] in Name.Constant and tokens["blocking"] in Keyword.Pseudo
    assert tokens["count"] in Name.Builtin and tokens["2025-01-01"] is not None
    assert tokens["{"] in String.Interpol


def test_registered_by_entry_point():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert declared["project"]["entry-points"]["pygments.lexers"] == {"esms": "esms_rules.highlight:EsmsLexer"}
    installed = [e for e in metadata.entry_points(group="pygments.lexers") if e.name == "esms"]
    if not installed:
        pytest.skip("esms-rules installed before the entry point was declared: pip install -e . again")
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
    assert isinstance(get_lexer_for_filename("draft.esms"), EsmsLexer)
    assert isinstance(get_lexer_by_name("esms"), EsmsLexer)
    out = subprocess.run([sys.executable, "-m", "pygments", "-N", "draft.esms"], capture_output=True, text=True)
    assert out.stdout.strip() == "esms"


# ---- TextMate grammar and VS Code --------------------------------------------------------
def _patterns(node):
    if isinstance(node, dict):
        for key in ("match", "begin", "end"):
            if key in node:
                yield node[key]
        for v in node.values():
            yield from _patterns(v)
    elif isinstance(node, list):
        for v in node:
            yield from _patterns(v)


def test_textmate_grammar():
    grammar = json.loads((VSCODE / "syntaxes" / "esms.tmLanguage.json").read_text(encoding="utf-8"))
    assert grammar["scopeName"] == "source.esms"
    patterns = list(_patterns(grammar))
    for p in patterns:
        re.compile(p)        # the subset of Oniguruma the grammar uses is also Python's
    words = " ".join(patterns)
    assert [k for k in KEYWORDS if not re.search(rf"\b{k}\b", words)] == []
    from esms_rules import highlight
    lexed = set(highlight.DECLARATIONS + highlight.CLAUSES + highlight.OPERATORS + highlight.SEVERITIES
                + highlight.CONSTANTS)
    assert [k for k in KEYWORDS if k not in lexed] == []


def test_vscode_manifest_starts_the_language_server():
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    language = manifest["contributes"]["languages"][0]
    assert language["extensions"] == [".esms"]
    assert manifest["contributes"]["grammars"][0]["path"] == "./syntaxes/esms.tmLanguage.json"
    setting = manifest["contributes"]["configuration"]["properties"]["esms-rules.command"]
    assert setting["default"] == ["esms-rules", "lsp"]
    for rel in ("main", ):
        assert (VSCODE / manifest[rel]).is_file()
    assert (VSCODE / language["configuration"]).is_file()
    extension = (VSCODE / "extension.js").read_text(encoding="utf-8")
    assert "LanguageClient" in extension and "esms-rules" in extension


def test_vscode_test_file_schema_is_the_runner_s():
    from esms_rules.testing import TEST_FILE_SCHEMA
    schema = json.loads((VSCODE / "test-file.schema.json").read_text(encoding="utf-8"))
    assert schema == json.loads(json.dumps(TEST_FILE_SCHEMA))
