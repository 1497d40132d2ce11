"""`esms-rules lsp`: a language server for policies, over stdio (pygls 2, extra `lsp`).

What an editor gets, for `.esms` files:

- diagnostics as you type: the parser's and the checker's, with their codes, spans, related
  notes and help (did-you-mean), from the text in the editor (imports are read from disk:
  beside the file, then the bundled modules such as `common.esms`);
- hover: a fact's or definition's type and documentation (the comment lines above it), a
  rule's code, severity, message and citation, a reason code's description;
- go to definition and find references across imports;
- completion: facts, record fields (after `.`), definitions, tables and their keys (after
  `table[`), reason codes (after `code`), enum values (in a string), built-in functions,
  keywords;
- document symbols, formatting (esms_rules.fmt), and a quick fix for each did-you-mean.

Analysis lives in `Analysis` (plain Python over the pipeline: parse, link, check); the pygls
handlers only translate positions. The last analysis that linked is kept per document, so
that navigation still works while the text has a syntax error.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import attrs
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from . import __version__, ast, cite
from .check import CheckResult, check_text
from .diagnostics import Diagnostic, PolicyError
from .infer import BUILTINS
from .load import FileSources, MemorySources, Program, bundled_file
from .span import Span

KEYWORDS = ("policy", "import", "enum", "record", "fact", "codes", "table", "param", "def", "rule",
            "exception", "output", "override", "code", "severity", "when", "applies", "priority",
            "message", "source", "blocking", "warning", "inadmissible", "and", "or", "not", "in", "if",
            "then", "else", "for", "where", "to", "list", "of", "length", "true", "false", "null",
            # campaign rules (docs/campaign.md)
            "campaign", "history", "group", "by", "join", "on", "count", "dossiers", "info")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOKENS = re.compile(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*')
_SUGGESTION = re.compile(r"did you mean ((?:`[^`]+`(?: or )?)+)\?")
_DOCUMENT_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
# inside a `source "…"` string, right after a reading tag: where a document identifier goes
_CITING = re.compile(r'\bsource\s+"[^"\n]*\[(?:C|I|GAP)\]\s*[a-z0-9-]*$')
_FIXES = {"write `and`": "and", "write `or`": "or", "write `not`": "not ", "did you mean `==`": "=="}


# ---- files and positions ------------------------------------------------------------
def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else Path(uri)


def path_of(file: str) -> Path:
    """The real path of a file as diagnostics and spans name it (bundled: `esms_rules:policies/x.esms`)."""
    p = Path(file)
    if p.is_absolute():
        return p
    return bundled_file(file) or Path.cwd() / p


def to_range(span: Span) -> lsp.Range:
    start = lsp.Position(max(span.line - 1, 0), max(span.column - 1, 0))
    end = lsp.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
    return lsp.Range(start, end if (end.line, end.character) >= (start.line, start.character) else start)


def location(span: Span) -> lsp.Location:
    return lsp.Location(path_of(span.file).as_uri(), to_range(span))


def offset_of(text: str, line: int, character: int) -> int:
    lines = text.split("\n")
    line = min(line, len(lines) - 1)
    return sum(len(x) + 1 for x in lines[:line]) + min(character, len(lines[line]))


def word_at(text: str, offset: int) -> tuple[str, int, int] | None:
    """The identifier (name or CODE) under `offset`: (word, start, end)."""
    for m in _WORD.finditer(text, max(0, offset - 200), offset + 200):
        if m.start() <= offset <= m.end():
            return m.group(), m.start(), m.end()
    return None


def identifiers(text: str):
    """(name, start, end) of every identifier outside comments, and inside `{…}` of strings."""
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if tok.startswith("#"):
            continue
        if tok.startswith('"'):
            for inner in re.finditer(r"(?<!\\)\{([^{}]*)\}", tok):
                for w in _WORD.finditer(inner.group(1)):
                    start = m.start() + inner.start(1) + w.start()
                    yield w.group(), start, start + len(w.group())
            continue
        yield tok, m.start(), m.end()


def span_at(text: str, file: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return Span(file, line, col, line, col + end - start, start, end)


# ---- analysis -------------------------------------------------------------------------
@attrs.define
class Analysis:
    """What the pipeline says about one document's text."""

    file: str
    text: str
    diagnostics: list[Diagnostic]
    program: Program | None = None
    checked: CheckResult | None = None     # what the checker could type, even with errors elsewhere

    @classmethod
    def of(cls, text: str, path: Path, buffers: dict[str, str] | None = None) -> Analysis:
        """Check `text` in memory. Its imports come from `buffers` (the editor's open documents,
        by path) when one is beside it, else from files: beside it, then the bundled modules."""
        file = str(path)
        near = {f: t for f, t in (buffers or {}).items() if Path(f).parent == path.parent and f != file}
        result = check_text(text, file, MemorySources(near, fallback=FileSources(path.parent)))
        return cls(file, text, list(result.diagnostics), result.program,
                   result if result.program is not None else None)

    # -- the register of documents the module's citations name
    def documents(self) -> dict[str, cite.Document]:
        """The documents of the register beside the file (or the bundled one), by identifier;
        empty when there is none or it does not parse."""
        path = cite.register_path(self.file)
        if path is None:
            return {}
        try:
            docs, _ = cite.load_register(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError):
            return {}
        return docs or {}

    def cited(self, source: str) -> list[str]:
        """One Markdown line per document a source cites: its tag, identifier and what it is."""
        citations = cite.parse(source)
        if isinstance(citations, str):
            return []
        docs = self.documents()
        return [f"  - [{c.tag}] " + (describe_document(docs[c.document]) if c.document in docs
                                    else f"`{c.document}`: unknown document")
                + (f", {c.locator}" if c.locator else "") for c in citations]

    def document_hover(self, line: str, character: int) -> str | None:
        """Hover on a document identifier inside a `source "…"` string of this line."""
        if "source" not in line:
            return None
        docs = self.documents()
        for m in _DOCUMENT_ID.finditer(line):
            if m.start() <= character <= m.end() and m.group() in docs:
                return describe_document(docs[m.group()], full=True)
        return None

    # -- declarations by name
    def declarations(self) -> dict[str, list[tuple[str, Any]]]:
        """name -> [(kind, node)] over every module of the program (imports included)."""
        out: dict[str, list[tuple[str, Any]]] = {}
        if self.program is None:
            return out
        for module in self.program.modules:
            for item in module.items:
                if isinstance(item, ast.CodesDecl):
                    for e in item.entries:
                        out.setdefault(e.code, []).append(("code", e))
                elif isinstance(item, ast.RecordDecl):
                    out.setdefault(item.name, []).append(("record", item))
                    for f in item.fields:
                        out.setdefault(f.name, []).append(("field", f))
                elif isinstance(item, ast.EnumDecl):
                    out.setdefault(item.name, []).append(("enum", item))
                elif isinstance(item, ast.ImportDecl):
                    continue
                elif hasattr(item, "name") and not isinstance(item, ast.PolicyDecl):
                    out.setdefault(item.name, []).append((type(item).__name__.removesuffix("Decl").lower(), item))
        return out

    def sources(self) -> dict[str, str]:
        if self.program is None:
            return {self.file: self.text}
        return {**self.program.sources, self.file: self.text}

    def definition(self, name: str, before: str = "") -> list[Span]:
        if re.search(r"(^|\n)\s*import\s+$", before) and self.program is not None:   # `import common`: the module
            return [Span.point(m.file, 1, 1) for m in self.program.modules if m.name in (name, name.replace("_", "-"))]
        decls = self.declarations().get(name, [])
        if before.endswith("."):          # `x.name`: a field, whatever its record
            fields = [n.span for k, n in decls if k == "field"]
            if fields:
                return fields
        values = [(k, n) for k, n in decls if k not in ("field", "record", "enum")]
        if values and not re.search(r"(:|\bof)\s*$", before):     # a name in an expression, not a type
            decls = values
        decls = [(k, n) for k, n in decls if k != "field"] or decls
        return [_name_span(n, name, self.sources()) for _, n in decls]

    def references(self, name: str) -> list[Span]:
        out = []
        for file, text in self.sources().items():
            out += [span_at(text, file, s, e) for w, s, e in identifiers(text) if w == name]
        return out

    # -- hover
    def hover(self, name: str, before: str = "") -> str | None:
        decls = self.declarations().get(name, [])
        if before.endswith("."):
            decls = [d for d in decls if d[0] == "field"] or decls
        parts = [self._describe(kind, node) for kind, node in decls]
        if not parts and name in BUILTINS:
            parts = [f"`{name}(…)`: a built-in function (docs/language.md)"]
        return "\n\n---\n\n".join(parts) or None

    def _describe(self, kind: str, node) -> str:
        src = self.sources()
        doc = _doc_comment(src.get(node.span.file, ""), node.span.start)
        where = f"*{Path(node.span.file).name}:{node.span.line}*"
        if kind == "code":
            raised = [r.name for r in (self.checked.rules if self.checked else ()) if r.code == node.code]
            head = f"reason code `{node.code}`" + (f": « {node.description} »" if node.description else "")
            return head + (f"\n\nraised by {', '.join(f'`{r}`' for r in raised)}" if raised else "") + f"\n\n{where}"
        if kind in ("rule", "exception"):
            lines = [f"**{kind} `{node.name}`**" + (f" (to `{node.target}`)" if kind == "exception" else "")]
            for clause in ("code", "severity", "priority"):
                if node.get(clause) is not None:
                    lines.append(f"- {clause}: `{node.get(clause)}`")
            if node.get("message"):
                lines.append(f"- message: « {node.get('message')} »")
            if node.get("source"):
                lines.append(f"- source: {node.get('source')}")
                lines += self.cited(node.get("source"))
            return "\n".join(lines) + (f"\n\n{doc}" if doc else "") + f"\n\n{where}"
        text = src.get(node.span.file, "")
        head = text[node.span.start:node.span.end].split("\n", 1)[0] if text else f"{kind} {node.name}"
        type_ = self._type_of(kind, node)
        body = f"```esms\n{head.strip()}\n```" + (f"\n\ntype: `{type_}`" if type_ else "")
        source = getattr(node, "source", None)
        if isinstance(source, str):
            body += f"\n\nsource: {source}" + "".join("\n" + line for line in self.cited(source))
        return body + (f"\n\n{doc}" if doc else "") + f"\n\n{where}"

    def _type_of(self, kind: str, node) -> str | None:
        c = self.checked
        if c is None:
            return None
        if kind == "def" and node.name in c.defs:
            return str(c.defs[node.name].type)
        fact = c.facts.get(node.name) if kind == "fact" else None
        if fact is not None:
            return str(fact.type)
        if kind == "table" and node.name in c.tables:
            t = c.tables[node.name]
            return f"{t.key_type} -> {t.value_type}"
        return None

    # -- completion
    def completions(self, before: str) -> list[lsp.CompletionItem]:
        decls = self.declarations()
        item = lsp.CompletionItem
        kinds = lsp.CompletionItemKind
        if _CITING.search(before):
            return [item(d.id, kind=kinds.Reference, detail=d.label(), documentation=describe_document(d, full=True))
                    for d in self.documents().values()]
        if re.search(r"\bcode\s+[A-Z_0-9]*$", before):
            return [item(n, kind=kinds.Constant, detail=getattr(d[0][1], "description", None))
                    for n, d in decls.items() if d[0][0] == "code"]
        m = re.search(r"([a-z_][A-Za-z0-9_]*)\[\s*\"?[^\]\"]*$", before)
        if m and m.group(1) in decls and decls[m.group(1)][0][0] == "table":
            table = decls[m.group(1)][0][1]
            return [item(_literal_text(e.key), kind=kinds.Value) for e in table.entries]
        if re.search(r"\.[A-Za-z0-9_]*$", before):
            return [item(n, kind=kinds.Field, detail=_type_text(d[1].type))
                    for n, ds in decls.items() for d in ds[:1] if d[0] == "field"]
        if before.count('"') % 2 == 1:           # inside a string: enum values
            return [item(v, kind=kinds.EnumMember, detail=d[1].name)
                    for ds in decls.values() for d in ds if d[0] == "enum" for v in d[1].values]
        kind_of = {"fact": kinds.Variable, "def": kinds.Function, "table": kinds.Struct, "param": kinds.Variable,
                   "rule": kinds.Event, "exception": kinds.Event, "record": kinds.Class, "enum": kinds.Enum,
                   "output": kinds.Property}
        out = [item(n, kind=kind_of.get(ds[0][0], kinds.Text), detail=ds[0][0])
               for n, ds in decls.items() if ds[0][0] in kind_of]
        out += [item(f, kind=kinds.Function, detail="built-in") for f in BUILTINS]
        out += [item(k, kind=kinds.Keyword) for k in KEYWORDS]
        return out

    # -- symbols
    def symbols(self) -> list[lsp.DocumentSymbol]:
        if self.program is None:
            return []
        kinds = {ast.FactDecl: lsp.SymbolKind.Variable, ast.DefDecl: lsp.SymbolKind.Function,
                 ast.TableDecl: lsp.SymbolKind.Struct, ast.ParamDecl: lsp.SymbolKind.Constant,
                 ast.RuleDecl: lsp.SymbolKind.Event, ast.ExceptionDecl: lsp.SymbolKind.Event,
                 ast.RecordDecl: lsp.SymbolKind.Class, ast.EnumDecl: lsp.SymbolKind.Enum,
                 ast.OutputDecl: lsp.SymbolKind.Property, ast.CampaignRuleDecl: lsp.SymbolKind.Event}
        out = []
        for item in self.program.root.items:
            if isinstance(item, ast.CodesDecl):
                children = [lsp.DocumentSymbol(e.code, lsp.SymbolKind.Constant, to_range(e.span), to_range(e.span),
                                               detail=e.description) for e in item.entries]
                out.append(lsp.DocumentSymbol("codes", lsp.SymbolKind.Namespace, to_range(item.span),
                                              to_range(item.span), children=children))
            elif isinstance(item, (ast.FactDecl, ast.DefDecl, ast.TableDecl, ast.ParamDecl, ast.RuleDecl,
                                   ast.ExceptionDecl, ast.RecordDecl, ast.EnumDecl, ast.OutputDecl,
                                   ast.CampaignRuleDecl)):
                children = [lsp.DocumentSymbol(f.name, lsp.SymbolKind.Field, to_range(f.span), to_range(f.span))
                            for f in getattr(item, "fields", ())]
                name_span = _name_span(item, item.name, {self.file: self.text})
                out.append(lsp.DocumentSymbol(item.name, kinds[type(item)], to_range(item.span),
                                              to_range(name_span), children=children or None))
        return out


def describe_document(d: cite.Document, full: bool = False) -> str:
    """A document of the register in Markdown: identifier, title, issuer, reference, date, address."""
    facts = [d.issuer, d.reference, d.date.strftime("%d/%m/%Y") if d.date else None, d.url]
    text = f"`{d.id}` ({d.kind}): {d.title} — " + ", ".join(f for f in facts if f)
    if full and d.passages:
        text += f"\n\n{len(d.passages)} passage(s) kept verbatim" + (f", from {d.kept_from}" if d.kept_from else "")
    return text


def _name_span(node, name: str, sources: dict[str, str]) -> Span:
    """The span of the declared name inside a declaration (the whole node when not found)."""
    text = sources.get(node.span.file)
    if text is None:
        try:
            text = path_of(node.span.file).read_text(encoding="utf-8")
        except OSError:
            return node.span
    m = re.compile(rf"\b{re.escape(name)}\b").search(text, node.span.start, node.span.end or len(text))
    return span_at(text, node.span.file, m.start(), m.end()) if m else node.span


def _doc_comment(text: str, start: int) -> str:
    """The comment lines right above a declaration: its documentation."""
    lines = text[:start].split("\n")[:-1]
    doc: list[str] = []
    while lines and lines[-1].strip().startswith("#"):
        doc.insert(0, lines.pop().strip().lstrip("#").strip())
    return " ".join(doc)


def _literal_text(lit: ast.Literal) -> str:
    return f'"{lit.value}"' if lit.kind == "string" else str(lit.value)


def _type_text(t) -> str:
    if isinstance(t, ast.ListType):
        return f"list of {_type_text(t.element)}"
    return t.name + ("?" if t.optional else "")


def to_lsp_diagnostic(d: Diagnostic) -> lsp.Diagnostic:
    message = d.message + (f"\nhelp: {d.help}" if d.help else "")
    related = [lsp.DiagnosticRelatedInformation(location(span), note) for note, span in d.related]
    return lsp.Diagnostic(
        range=to_range(d.span), message=message, code=d.code, source="esms-rules",
        severity=lsp.DiagnosticSeverity.Warning if d.severity == "warning" else lsp.DiagnosticSeverity.Error,
        related_information=related or None, data={"help": d.help} if d.help else None)


def fixes_for(diagnostic: lsp.Diagnostic) -> list[str]:
    """Replacements a diagnostic's help proposes: each did-you-mean, `and` for `&&`…"""
    help_ = (diagnostic.data or {}).get("help") if isinstance(diagnostic.data, dict) else None
    help_ = help_ or diagnostic.message.partition("\nhelp: ")[2]
    m = _SUGGESTION.search(help_ or "")
    if m and "`==`" not in m.group(1):
        return re.findall(r"`([^`]+)`", m.group(1))
    return [new for key, new in _FIXES.items() if key in (help_ or "")]


# ---- the server ---------------------------------------------------------------------------
class EsmsLanguageServer(LanguageServer):
    def __init__(self):
        super().__init__("esms-rules", __version__, text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}     # uri -> the latest analysis
        self.linked: dict[str, Analysis] = {}       # uri -> the latest analysis whose program linked

    def buffers(self) -> dict[str, str]:
        """The open documents' texts, by path."""
        return {str(uri_to_path(u)): d.source for u, d in self.workspace.text_documents.items()}

    def analyze(self, uri: str) -> Analysis:
        doc = self.workspace.get_text_document(uri)
        a = Analysis.of(doc.source, uri_to_path(uri), self.buffers())
        self.analyses[uri] = a
        if a.program is not None:
            self.linked[uri] = a
        own = [d for d in a.diagnostics if d.span.file == a.file]
        others = [d for d in a.diagnostics if d.span.file != a.file]
        shown = [to_lsp_diagnostic(d) for d in own]
        for d in others[:1]:     # an imported module's error: at the top, pointing to it
            shown.append(lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)),
                                        f"{d.span}: {d.message}", code=d.code, source="esms-rules",
                                        related_information=[lsp.DiagnosticRelatedInformation(location(d.span),
                                                                                              d.message)]))
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=shown,
                                                                            version=doc.version))
        return a

    def current(self, uri: str) -> Analysis:
        """For navigation: the latest analysis whose program linked, or the latest at all."""
        if uri not in self.analyses:
            self.analyze(uri)
        return self.linked.get(uri) or self.analyses[uri]

    def word(self, uri: str, position: lsp.Position):
        text = self.workspace.get_text_document(uri).source
        found = word_at(text, offset_of(text, position.line, position.character))
        if found is None:
            return None, ""
        name, start, _ = found
        return name, text[:start]


server = EsmsLanguageServer()


@server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: EsmsLanguageServer, params: lsp.DidOpenTextDocumentParams):
    ls.analyze(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: EsmsLanguageServer, params: lsp.DidChangeTextDocumentParams):
    uri = params.text_document.uri
    ls.analyze(uri)
    folder = uri_to_path(uri).parent
    for other in list(ls.analyses):       # documents beside it may import it: their diagnostics change too
        if other != uri and uri_to_path(other).parent == folder:
            ls.analyze(other)


@server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
def did_save(ls: EsmsLanguageServer, params: lsp.DidSaveTextDocumentParams):
    ls.analyze(params.text_document.uri)


@server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: EsmsLanguageServer, params: lsp.DidCloseTextDocumentParams):
    uri = params.text_document.uri
    ls.analyses.pop(uri, None)
    ls.linked.pop(uri, None)
    ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


@server.feature(lsp.TEXT_DOCUMENT_HOVER)
def hover(ls: EsmsLanguageServer, params: lsp.HoverParams):
    uri, position = params.text_document.uri, params.position
    lines = ls.workspace.get_text_document(uri).lines
    analysis = ls.current(uri)
    text = analysis.document_hover(lines[position.line] if position.line < len(lines) else "", position.character)
    name, before = ls.word(uri, position)
    text = text or (name and analysis.hover(name, before))
    if not text:
        return None
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, text))


@server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
def definition(ls: EsmsLanguageServer, params: lsp.DefinitionParams):
    name, before = ls.word(params.text_document.uri, params.position)
    if not name:
        return None
    return [location(s) for s in ls.current(params.text_document.uri).definition(name, before)] or None


@server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
def references(ls: EsmsLanguageServer, params: lsp.ReferenceParams):
    name, _ = ls.word(params.text_document.uri, params.position)
    if not name:
        return None
    return [location(s) for s in ls.current(params.text_document.uri).references(name)]


@server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[".", "[", '"', " "]))
def completion(ls: EsmsLanguageServer, params: lsp.CompletionParams):
    text = ls.workspace.get_text_document(params.text_document.uri).source
    before = text[:offset_of(text, params.position.line, params.position.character)]
    return lsp.CompletionList(is_incomplete=False, items=ls.current(params.text_document.uri).completions(before))


@server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: EsmsLanguageServer, params: lsp.DocumentSymbolParams):
    return ls.current(params.text_document.uri).symbols()


@server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: EsmsLanguageServer, params: lsp.DocumentFormattingParams):
    from .fmt import format_source
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        new = format_source(doc.source, str(uri_to_path(doc.uri)))
    except PolicyError:
        return None          # the diagnostics already say why
    if new == doc.source:
        return []
    lines = doc.source.split("\n")
    end = lsp.Position(len(lines) - 1, len(lines[-1]))
    return [lsp.TextEdit(lsp.Range(lsp.Position(0, 0), end), new)]


@server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
def code_action(ls: EsmsLanguageServer, params: lsp.CodeActionParams):
    uri = params.text_document.uri
    actions: list[lsp.CodeAction] = []
    for d in params.context.diagnostics:
        if d.source != "esms-rules":
            continue
        for new in fixes_for(d):
            edit = lsp.WorkspaceEdit(changes={uri: [lsp.TextEdit(d.range, new)]})
            actions.append(lsp.CodeAction(f"Replace with `{new.strip()}`", kind=lsp.CodeActionKind.QuickFix,
                                          diagnostics=[d], edit=edit, is_preferred=len(actions) == 0))
    return actions


def serve() -> None:
    """Run the server on stdin/stdout until the client says `exit`."""
    server.start_io()
