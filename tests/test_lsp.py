"""`esms-rules lsp`, tested through the real protocol: a client process speaks JSON-RPC to the
server over pipes (tests/lsp_client.py), as an editor does."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsp_client import LspClient  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
POLICY_2025 = (ROOT / "policies" / "esms-numerique-2025.esms").read_text(encoding="utf-8")
COMMON = ROOT / "policies" / "common.esms"

DRAFT = '''policy "draft-2026" {
  programme "esms-numerique"
  campaign 2026
}

codes {
  TOO_SMALL "trop peu de structures"
}

# How many structures the grouping has.
fact nb_structures: int
fact gcsms: bool
table minimum_by_call: text -> int {
  "regional": 15
  "national": 8
}

def minimum: int = coalesce(minimum_by_call["regional"], 15)

rule too_small {
  code     TOO_SMALL
  severity blocking
  when     nb_structures < minimum and not gcsms
  message  "Le regroupement ne compte que {nb_structures} structures."
  source   "interprétation"
}
'''


def pos(text: str, needle: str, nth: int = 0, shift: int = 0) -> tuple[int, int]:
    """(line, character) of the nth occurrence of needle, plus shift characters."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    at += shift
    line = text.count("\n", 0, at)
    return line, at - (text.rfind("\n", 0, at) + 1)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("ws")
    c = LspClient(cwd=root)
    result = c.initialize(root)
    caps = result["capabilities"]
    for cap in ("hoverProvider", "definitionProvider", "referencesProvider", "completionProvider",
                "documentSymbolProvider", "documentFormattingProvider", "codeActionProvider"):
        assert caps.get(cap), cap
    c.root = root
    yield c
    assert c.close() == 0


def test_diagnostics_as_you_type(client):
    path = client.root / "draft.esms"
    assert client.open(path, DRAFT) == []
    typo = DRAFT.replace("when     nb_structures <", "when     nb_structure <")
    diags = client.change(path, typo, 2)
    assert len(diags) == 1
    d = diags[0]
    assert d["code"] == "unknown-name" and d["source"] == "esms-rules" and d["severity"] == 1
    line, col = pos(typo, "nb_structure <")
    assert d["range"]["start"] == {"line": line, "character": col}
    assert d["range"]["end"] == {"line": line, "character": col + len("nb_structure")}
    assert "did you mean `nb_structures`?" in d["message"]
    # several syntax errors at once, with the unclosed brace noted at its opening
    broken = DRAFT.replace("nb_structures < minimum and", "nb_structures < minimum &&").replace(
        "\"regional\"], 15)", "\"regional\"], 15")
    diags = client.change(path, broken, 3)
    assert {d["code"] for d in diags} == {"syntax"} and len(diags) == 2
    assert any("write `and`" in d["message"] for d in diags)
    opened = [d for d in diags if d.get("relatedInformation")]
    assert opened and "is not closed" in opened[0]["relatedInformation"][0]["message"]
    # a warning, and related notes pointing at the other rule
    twice = DRAFT + DRAFT[DRAFT.index("rule too_small"):].replace("rule too_small", "rule too_small_again")
    diags = client.change(path, twice, 4)
    assert [(d["code"], d["severity"]) for d in diags] == [("shared-code", 2)]
    assert diags[0]["relatedInformation"][0]["location"]["uri"] == path.as_uri()
    assert client.change(path, DRAFT, 5) == []


def test_code_action_for_each_did_you_mean(client):
    path = client.root / "typo.esms"

    def fixes(text, version):
        diags = client.change(path, text, version)
        actions = client.request("textDocument/codeAction", {
            "textDocument": {"uri": path.as_uri()}, "range": diags[0]["range"], "context": {"diagnostics": diags}})
        assert all(a["kind"] == "quickfix" and a["diagnostics"] for a in actions)
        return [(a["edit"]["changes"][path.as_uri()][0]["newText"], a["edit"]["changes"][path.as_uri()][0]["range"])
                for a in actions]

    client.open(path, DRAFT)
    typo = DRAFT.replace("when     nb_structures <", "when     nb_structure <")
    line, col = pos(typo, "nb_structure <")
    assert fixes(typo, 2) == [("nb_structures", {"start": {"line": line, "character": col},
                                                 "end": {"line": line, "character": col + len("nb_structure")}})]
    assert [new for new, _ in fixes(DRAFT.replace(" and not", " && not"), 3)] == ["and"]
    assert [new for new, _ in fixes(DRAFT.replace("< minimum", "= minimum"), 4)] == ["=="]


def test_hover(client):
    path = client.root / "hover.esms"
    client.open(path, DRAFT)
    hover = client.at("textDocument/hover", path, *pos(DRAFT, "nb_structures <", shift=2))
    value = hover["contents"]["value"]
    assert "fact nb_structures: int" in value and "type: `int`" in value
    assert "How many structures the grouping has." in value
    value = client.at("textDocument/hover", path, *pos(DRAFT, "too_small {", shift=1))["contents"]["value"]
    assert "`TOO_SMALL`" in value and "blocking" in value and "source: interprétation" in value
    value = client.at("textDocument/hover", path, *pos(DRAFT, "TOO_SMALL", nth=1))["contents"]["value"]
    assert "« trop peu de structures »" in value and "`too_small`" in value
    assert client.at("textDocument/hover", path, 3, 0) is None   # on `}`


def test_definition_and_references_across_imports(client):
    path = client.root / "esms-numerique-2026.esms"
    text = POLICY_2025.replace('"esms-numerique-2025"', '"esms-numerique-2026"', 1)
    assert client.open(path, text) == []
    line, col = pos(text, "software.", shift=1)
    found = client.at("textDocument/definition", path, line, col)
    assert found[0]["uri"].endswith("/common.esms")
    common = COMMON.read_text(encoding="utf-8")
    assert common.split("\n")[found[0]["range"]["start"]["line"]].lstrip().startswith("fact software")
    module = client.at("textDocument/definition", path, *pos(text, "import common", shift=len("import c")))
    assert module[0]["uri"].endswith("/common.esms") and module[0]["range"]["start"] == {"line": 0, "character": 0}
    refs = client.at("textDocument/references", path, line, col, context={"includeDeclaration": True})
    files = {r["uri"].rsplit("/", 1)[-1] for r in refs}
    assert files == {"esms-numerique-2026.esms", "common.esms"}


def test_completion(client):
    path = client.root / "complete.esms"
    client.open(path, DRAFT)

    def labels(text, line, col):
        client.change(path, text, 10 + len(text))
        items = client.at("textDocument/completion", path, line, col)["items"]
        return {i["label"] for i in items}

    got = labels(DRAFT, *pos(DRAFT, "nb_structures <"))
    assert {"nb_structures", "minimum", "minimum_by_call", "count", "when"} <= got
    text = DRAFT.replace("code     TOO_SMALL", "code     TOO")
    assert labels(text, *pos(text, "code     TOO", shift=len("code     TOO"))) >= {"TOO_SMALL"}
    text = DRAFT.replace('minimum_by_call["regional"], 15)', 'minimum_by_call[')
    assert labels(text, *pos(text, "minimum_by_call[", shift=len("minimum_by_call["))) == {'"regional"', '"national"'}


def test_completion_of_fields_and_enum_values(client):
    path = client.root / "fields.esms"
    client.open(path, POLICY_2025)
    text = POLICY_2025 + "\ndef probe = software.\n"
    client.change(path, text, 2)
    items = client.at("textDocument/completion", path, *pos(text, "software.\n", shift=len("software.")))["items"]
    assert {"segur_referenced", "action", "finess"} <= {i["label"] for i in items}
    text = POLICY_2025 + '\ndef probe2 = call == "\n'
    client.change(path, text, 3)
    items = client.at("textDocument/completion", path, *pos(text, 'call == "', shift=len('call == "')))["items"]
    assert "regional" in {i["label"] for i in items}


def test_document_symbols(client):
    path = client.root / "symbols.esms"
    client.open(path, DRAFT)
    symbols = client.request("textDocument/documentSymbol", {"textDocument": {"uri": path.as_uri()}})
    names = [s["name"] for s in symbols]
    assert names == ["codes", "nb_structures", "gcsms", "minimum_by_call", "minimum", "too_small"]
    rule = symbols[-1]
    assert rule["selectionRange"]["start"] == dict(zip(("line", "character"), pos(DRAFT, "too_small {"), strict=True))


def test_formatting(client):
    from esms_rules.fmt import format_source
    path = client.root / "messy.esms"
    messy = DRAFT.replace("\n\n", "\n\n\n").replace("  code", "      code")
    client.open(path, messy)
    edits = client.request("textDocument/formatting", {"textDocument": {"uri": path.as_uri()},
                                                       "options": {"tabSize": 2, "insertSpaces": True}})
    assert len(edits) == 1 and edits[0]["newText"] == format_source(DRAFT)
    client.change(path, "def x = (\n", 2)
    assert client.request("textDocument/formatting", {"textDocument": {"uri": path.as_uri()},
                                                      "options": {"tabSize": 2, "insertSpaces": True}}) is None


def test_navigation_survives_a_syntax_error(client):
    path = client.root / "typing.esms"
    client.open(path, DRAFT)
    half = DRAFT + "\nrule another {\n  when nb_structures >\n"
    diags = client.change(path, half, 2)
    assert diags and diags[0]["code"] == "syntax"
    found = client.at("textDocument/definition", path, *pos(half, "nb_structures >"))
    assert found[0]["range"]["start"]["line"] == pos(DRAFT, "fact nb_structures")[0]


def test_without_pygls_the_command_says_what_to_install(run_cli, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "pygls", None)
    monkeypatch.delitem(sys.modules, "esms_rules.lsp", raising=False)
    monkeypatch.setitem(sys.modules, "pygls.lsp.server", None)
    r = run_cli("lsp")
    assert r.exit_code == 2 and "esms-rules[lsp]" in r.stderr


def test_partial_results_while_the_policy_has_errors(client):
    path = client.root / "partial.esms"
    broken = DRAFT.replace("when     nb_structures <", "when     nb_structure <")
    assert [d["code"] for d in client.open(path, broken)] == ["unknown-name"]
    value = client.at("textDocument/hover", path, *pos(broken, "minimum and", shift=1))["contents"]["value"]
    assert "type: `int`" in value            # the checker typed `minimum` despite the error in the rule


def test_imports_from_unsaved_buffers(client):
    folder = client.root / "unsaved"
    folder.mkdir()
    lib, policy = folder / "extra_lib.esms", folder / "uses.esms"   # neither exists on disk
    assert client.open(lib, "fact extra: int\n") == []
    text = "import extra_lib\n\ndef doubled = extra * 2\n"
    assert client.open(policy, text) == []
    found = client.at("textDocument/definition", policy, *pos(text, "extra *"))
    assert found[0]["uri"] == lib.as_uri()
    client.notify("textDocument/didChange", {"textDocument": {"uri": lib.as_uri(), "version": 2},
                                             "contentChanges": [{"text": "fact other: int\n"}]})
    diags = client.wait_notification("textDocument/publishDiagnostics", uri=policy.as_uri())["diagnostics"]
    assert [d["code"] for d in diags] == ["unknown-name"]      # the importer was checked again


def test_citations_name_their_documents(client):
    """Hover on a rule shows the documents its source cites; on a document identifier, the
    document; completion after a reading tag offers the register's identifiers."""
    import shutil
    folder = client.root / "cited"
    folder.mkdir()
    for name in ("esms-numerique-2025.esms", "common.esms", "documents.toml"):
        shutil.copy(ROOT / "policies" / name, folder / name)
    path = folder / "esms-numerique-2025.esms"
    client.open(path, POLICY_2025)
    rule = client.at("textDocument/hover", path, *pos(POLICY_2025, "rule dui_not_segur_referenced", shift=6))
    assert "  - [C] `ars-hdf-2025` (call-page): " in rule["contents"]["value"]
    line_no, col = pos(POLICY_2025, '"[C] ', shift=len('"[C] ') + 1)
    line = POLICY_2025.split("\n")[line_no]
    ident = line[col - 1:].split(",")[0].split(" ")[0]
    doc = client.at("textDocument/hover", path, line_no, col)["contents"]["value"]
    assert doc.startswith(f"`{ident}` (")
    text = POLICY_2025 + '\ndef probe = 1\n  source "[C] '
    client.change(path, text, 2)
    items = client.at("textDocument/completion", path, *pos(text, 'source "[C] ', nth=text.count('source "[C] ') - 1,
                                                              shift=len('source "[C] ')))["items"]
    assert {"instr-2025-40", "ars-hdf-2025", "esms-rules-lecture"} <= {i["label"] for i in items}
