"""Citations: the documents a policy relies on, and the check that its quotes are verbatim.

A directory of policies may hold a register of documents, ``documents.toml`` (the bundled
policies do). Each document is declared once::

    [geroscopie-2024-02-11]
    kind = "article"            # instruction | faq | call-page | article | interpretation
    issuer = "Géroscopie"
    title = "Mise en oeuvre de la phase de généralisation du programme ESMS numérique 2024"
    short = "Géroscopie du 11/02/2024"                                       # optional: how reasons name it
    reference = "compte rendu de l'instruction N° DNS/DGCS/CNSA/2024/15"   # optional
    date = 2024-02-11                                                        # optional
    url = "https://…"                                                        # optional
    kept_from = "where the passages below were copied from"                  # optional
    passages = ["…the short passages the policies quote, verbatim…"]

Every `source "…"` of a module that lives beside a register is a structured citation, checked
here and rendered for people::

    source "[C] geroscopie-2024-02-11, Les appels à projets régionaux : « La date limite … »"
    source "[I] esms-rules-lecture, seuil : paraphrase of our reading ; [C] other-doc"

that is ``[TAG] document[, locator][ : text]``, several joined by `` ; ``. TAG is C (stated by
the document), I (our interpretation) or GAP (the sources are silent). Text between « » must
appear word for word in one of the document's kept passages (apostrophes and spaces aside; ``[…]``
elides); any other text is a paraphrase. An [I] or [GAP] citation must say what it reads.

The checker (`check.py`) calls `Citations.resolve` on every source: it returns the diagnostics and
the rendered text that decisions and traces carry (`render`). Modules with no register beside
them (a policy written in a test, say) keep their sources as free text.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
import unicodedata
from pathlib import Path

import attrs

from .diagnostics import Diagnostic, did_you_mean
from .span import Span

REGISTER = "documents.toml"
KINDS = ("instruction", "faq", "call-page", "article", "interpretation")
FIELDS = {"kind", "issuer", "title", "short", "reference", "date", "url", "kept_from", "passages"}

_TAG = r"\[(?:C|I|GAP)\]"
_HEAD = re.compile(r"\[(C|I|GAP)\]\s+([A-Za-z0-9][A-Za-z0-9_.-]*)(.*)$", re.S)
_SPLIT = re.compile(r"\s+;\s+(?=" + _TAG + r"\s)")
_QUOTE = re.compile(r"«(.*?)»", re.S)
_ELISION = re.compile(r"\[(?:…|\.\.\.)\]")
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "´": "'"})


def normalize(text: str) -> str:
    """Typography of apostrophes and spaces aside: what a verbatim comparison looks at."""
    text = unicodedata.normalize("NFC", text).translate(_APOSTROPHES)
    return " ".join(text.split())


@attrs.frozen
class Document:
    id: str
    kind: str
    issuer: str
    title: str
    reference: str | None = None
    date: dt.date | None = None
    url: str | None = None
    kept_from: str | None = None
    passages: tuple[str, ...] = ()
    span: Span | None = attrs.field(default=None, eq=False)
    short: str | None = None

    def label(self) -> str:
        """How a reason names the document: by its short name when it has one, an instruction
        by its reference, our readings by their title, a page by its issuer, title and date."""
        if self.short:
            return self.short
        if self.kind == "instruction" and self.reference:
            return self.reference
        if self.kind == "interpretation":
            return self.title
        return f"{self.issuer}, {self.title}" + (f", {self.date.strftime('%d/%m/%Y')}" if self.date else "")

    def holds(self, excerpt: str) -> bool:
        """Whether the excerpt is verbatim in one kept passage (``[…]`` marks an elision)."""
        parts = [normalize(p) for p in _ELISION.split(excerpt) if normalize(p)]
        if not parts:
            return False
        for passage in self.passages:
            text, at = normalize(passage), 0
            for part in parts:
                at = text.find(part, at)
                if at < 0:
                    break
                at += len(part)
            else:
                return True
        return False


@attrs.frozen
class Citation:
    tag: str
    document: str
    locator: str | None
    text: str | None

    @property
    def excerpts(self) -> list[str]:
        return [m.strip() for m in _QUOTE.findall(self.text or "")]


def parse(source: str) -> list[Citation] | str:
    """The citations of a source string, or the code of the reason it is not one."""
    out = []
    for part in _SPLIT.split(source.strip()):
        m = _HEAD.match(part.strip())
        if m is None:
            return "bad-citation" if re.match(_TAG, part.strip()) else "missing-citation-tag"
        tag, doc, rest = m.groups()
        locator = text = None
        if rest.startswith(","):
            locator, _, text = rest[1:].partition(" : ")
            locator = locator.strip() or None
        elif rest.strip().startswith(":"):
            text = rest.strip()[1:]
        elif rest.strip():
            return "bad-citation"
        out.append(Citation(tag, doc, locator, (text or "").strip() or None))
    return out


def render(citations: list[Citation], documents: dict[str, Document]) -> str:
    """The source shown to people: document, locator, text, tag; an [I] or [GAP] says
    « interprétation »."""
    shown = []
    for c in citations:
        doc = documents.get(c.document)
        head = (doc.label() if doc is not None else c.document) + (f", {c.locator}" if c.locator else "")
        if c.text and c.tag == "C":
            head += f" : {c.text}"
        elif c.text:
            head += f" — interprétation : {c.text}"
        shown.append(f"{head} [{c.tag}]")
    return " ; ".join(shown)


def register_path(module_file: str):
    """The register of documents beside a module's file, if there is one: a Path, or for a
    module bundled in the package the bundled register (a resource, maybe inside a zip)."""
    from .load import BUNDLED_PREFIX, bundled_file, bundled_root  # load imports this module
    if module_file.startswith(BUNDLED_PREFIX) or bundled_file(module_file) is not None:
        register = bundled_root() / REGISTER
        return register if register.is_file() else None
    p = Path(module_file)
    register = p.parent / REGISTER
    return register if p.is_file() and register.is_file() else None


def _line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(needle):
            return i
    return 1


def load_register(text: str, file: str) -> tuple[dict[str, Document] | None, list[Diagnostic]]:
    """Parse a register; every problem is a diagnostic located in the register. None: the
    file is not TOML at all, and no citation can be checked against it."""
    errors: list[Diagnostic] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"line (\d+), column (\d+)", str(e))
        at = Span.point(file, int(m.group(1)), int(m.group(2))) if m else Span.point(file, 1, 1)
        return None, [Diagnostic("bad-register", f"the register of documents is not valid TOML: {e}", at)]
    docs: dict[str, Document] = {}
    for ident, entry in data.items():
        line = _line_of(text, f"[{ident}]")
        span = Span(file, line, 1, line, len(ident) + 3)

        def bad(msg, help=None, ident=ident, span=span):
            errors.append(Diagnostic("bad-document", f"document `{ident}`: {msg}", span, help))

        if not isinstance(entry, dict):
            bad("is not a table", f"write `[{ident}]` then its fields")
            continue
        for key in sorted(set(entry) - FIELDS):
            bad(f"unknown field `{key}`", did_you_mean(key, sorted(FIELDS)))
        kind = entry.get("kind")
        if kind not in KINDS:
            bad(f"kind is {kind!r}", "one of " + ", ".join(f"`{k}`" for k in KINDS))
        for key in ("issuer", "title"):
            value = entry.get(key)
            if not isinstance(value, str) or not value.strip():
                bad(f"has no `{key}`")
        for key in ("short", "reference", "url", "kept_from"):
            if key in entry and not isinstance(entry[key], str):
                bad(f"`{key}` is not a string")
        date = entry.get("date")
        if date is not None and (not isinstance(date, dt.date) or isinstance(date, dt.datetime)):
            bad("`date` is not a date", "write it bare: `date = 2024-02-01`")
        passages = entry.get("passages", [])
        if not isinstance(passages, list) or not all(isinstance(p, str) for p in passages):
            bad("`passages` is not a list of strings")
            passages = []
        if passages and not entry.get("kept_from"):
            bad("keeps passages but does not say where they were copied from (`kept_from`)")
        docs[ident] = Document(ident, str(kind), str(entry.get("issuer", "")), str(entry.get("title", "")),
                               entry.get("reference"), date if isinstance(date, dt.date) else None,
                               entry.get("url"), entry.get("kept_from"), tuple(passages), span, entry.get("short"))
    return docs, errors


class Citations:
    """The registers of documents of a linked program's modules, and the check of its sources."""

    def __init__(self, sources: dict[str, str]):
        self.sources = sources          # file -> text of the program's modules (not changed here)
        self.registers: dict[str, dict[str, Document] | None] = {}

    def documents_for(self, module_file: str, errors: list[Diagnostic]) -> dict[str, Document] | None:
        path = register_path(module_file)
        if path is None:
            return None
        key = str(path)
        if key not in self.registers:
            from .load import display_name
            shown = display_name(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                errors.append(Diagnostic("bad-register", f"cannot read the register of documents: {e}",
                                         Span.point(shown, 1, 1)))
                self.registers[key] = None
                return None
            self.registers[key], found = load_register(text, shown)
            errors += found             # reported once, with the first citation that needs it
        return self.registers[key]

    def resolve(self, source: str | None, span: Span) -> tuple[str | None, list[Diagnostic]]:
        """Check one `source` of the module `span.file`: (the text decisions carry, diagnostics)."""
        errors: list[Diagnostic] = []
        if source is None:
            return None, errors
        documents = self.documents_for(span.file, errors)
        if documents is None:           # no register beside this module (or no readable one, which
            return source, errors       # is reported once): free text, as written
        parsed = parse(source)
        if isinstance(parsed, str):
            if parsed == "missing-citation-tag":
                errors.append(Diagnostic(
                    "missing-citation-tag", "a citation starts with its reading tag [C], [I] or [GAP]",
                    self._at(span, "source"),
                    "write `source \"[C] <document>, <locator> : « <verbatim words> »\"`, "
                    "or [I] with a paraphrase of our reading"))
            else:
                errors.append(Diagnostic(
                    "bad-citation", "a citation is `[TAG] <document>[, <locator>][ : <text>]`",
                    self._at(span, "source"),
                    "name a document of the register after the tag; join several citations with ` ; `"))
            return source, errors
        for c in parsed:
            errors += self._check(c, documents, span)
        return render(parsed, documents), errors

    def _check(self, c: Citation, documents: dict[str, Document], span: Span) -> list[Diagnostic]:
        doc = documents.get(c.document)
        if doc is None:
            return [Diagnostic("unknown-document", f"no document `{c.document}` in the register",
                               self._at(span, c.document),
                               did_you_mean(c.document, sorted(documents)) or f"declare it in {REGISTER}")]
        errors = []
        if c.tag in ("I", "GAP") and not c.text:
            errors.append(Diagnostic("missing-interpretation", f"a [{c.tag}] citation says what it reads",
                                     self._at(span, c.document),
                                     "add ` : <our reading, in French>` after the document"))
        if doc.kind == "interpretation" and c.tag == "C":
            errors.append(Diagnostic("tag-mismatch",
                                     f"`{c.document}` is our interpretation: it cannot state a rule [C]",
                                     self._at(span, c.document), "tag it [I]"))
        text = c.text or ""
        if text.count("«") != text.count("»"):
            errors.append(Diagnostic("unbalanced-quote", "a « has no matching » (or the reverse)",
                                     self._at(span, c.document), "close the quote, or drop « » around a paraphrase"))
            return errors
        for excerpt in c.excerpts:
            if not doc.holds(excerpt):
                errors.append(Diagnostic(
                    "unverified-quote", f"« {excerpt} » is not verbatim in what the project keeps of `{c.document}`",
                    self._at(span, excerpt),
                    "quote the document word for word, or write a paraphrase without « » tagged [I]",
                    related=(("document declared", doc.span),) if doc.span else ()))
        return errors

    def _at(self, span: Span, needle: str) -> Span:
        """Where `needle` first appears within the lines of `span` (the whole span otherwise)."""
        lines = (self.sources.get(span.file) or "").splitlines()
        for n in range(span.line, min(span.end_line, len(lines)) + 1):
            col = lines[n - 1].find(needle, span.column - 1 if n == span.line else 0)
            if col >= 0:
                return Span(span.file, n, col + 1, n, col + 1 + len(needle))
        return span
