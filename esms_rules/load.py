"""Finding, parsing and linking policy modules: imports, overrides, bundled policies.

A policy file may `import` modules (found beside it, then among the bundled policies).
Imported declarations come first; a later file may replace a definition, table, rule or
exception only with `override`, and may give a value to an imported `param` with a plain
`def`. The result is one linked `Program`, the input of the checker.
"""
from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Protocol

import attrs

from . import ast
from .cite import register_path
from .diagnostics import Diagnostic, PolicyError, did_you_mean
from .span import Span

EXTENSION = ".esms"


def bundled_dir() -> Path:
    """The bundled policies: policies/ in a checkout, esms_rules/_data/policies in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "policies", here / "_data" / "policies"):
        if candidate.is_dir() and any(candidate.glob("*" + EXTENSION)):
            return candidate
    return Path(str(resources.files("esms_rules").joinpath("_data/policies")))


def bundled_root() -> Traversable:
    """The bundled policies as a resource: a directory in a checkout or an unpacked wheel, a
    folder inside the archive when the package is imported from a zip."""
    here = Path(__file__).resolve().parent
    checkout = here.parent / "policies"
    if checkout.is_dir() and any(checkout.glob("*" + EXTENSION)):
        return checkout
    return resources.files("esms_rules").joinpath("_data/policies")


def bundled_names() -> list[str]:
    return sorted(f.name[:-len(EXTENSION)] for f in bundled_root().iterdir() if f.name.endswith(EXTENSION))


@attrs.frozen
class Program:
    """Linked declarations of a policy and of everything it imports."""

    root: ast.Module
    modules: tuple[ast.Module, ...]          # in load order, root last
    decls: tuple[tuple[ast.Decl, ast.Module], ...]
    sources: dict = attrs.field(eq=False)    # file -> text
    sha256: str = ""
    params: dict = attrs.field(factory=dict, eq=False)   # name -> ParamDecl, also once given a value
    overridden: dict = attrs.field(factory=dict, eq=False)  # name -> the first declaration it replaced

    @property
    def header(self) -> ast.PolicyDecl | None:
        return self.root.header


class Sources(Protocol):
    """Where the texts of modules come from: files (`FileSources`), editor buffers, memory.

    `find` names the module that `import <module>` in file `importer` means (the name is how
    diagnostics and traces show the file), or None when there is none; `read` gives a name's
    text (raise `PolicyError` with an `unreadable` diagnostic when it cannot).
    """

    def find(self, module: str, importer: str) -> str | None: ...

    def read(self, file: str) -> str: ...


def _stems(module: str) -> tuple[str, ...]:
    return (module, module.replace("_", "-"))


class FileSources:
    """Modules as files: beside the importing file (the root's `directory` for the root file),
    then among the bundled policies (read with `importlib.resources`, so also from a zip).
    `files` maps every name it gave out to its file, which `registry` watches for changes."""

    def __init__(self, directory: Traversable | None = None):
        self.directory = directory
        self.files: dict[str, Traversable] = {}
        self._dirs: dict[str, Traversable] = {}

    def find(self, module: str, importer: str) -> str | None:
        near = self._dirs.get(importer, self.directory)
        bundled = bundled_root()
        for d in ([near] if near is not None else []) + [bundled]:
            for stem in _stems(module):
                f = d / (stem + EXTENSION)
                if f.is_file():
                    shown = f"{BUNDLED_PREFIX}policies/{f.name}" if d == bundled else display_name(Path(str(f)))
                    self.files[shown], self._dirs[shown] = f, d
                    return shown
        return None

    def read(self, file: str) -> str:
        return read_text(self.files.get(file) or Path(file), file)


class MemorySources:
    """Modules held in memory, by name (e.g. `{"policies/common.esms": text}`): a language
    server's open buffers, or a pickled policy's texts. A module is looked up among the names
    in the importer's folder, then among all names, then in `fallback` (e.g. `FileSources()`)."""

    def __init__(self, texts: Mapping[str, str], fallback: Sources | None = None):
        self.texts = dict(texts)
        self.fallback = fallback

    def find(self, module: str, importer: str) -> str | None:
        folder = posixpath.dirname(importer)
        named = [f for f in self.texts if posixpath.splitext(posixpath.basename(f)) in
                 [(stem, EXTENSION) for stem in _stems(module)]]
        for f in sorted(named, key=lambda f: posixpath.dirname(f) != folder):
            return f
        return self.fallback.find(module, importer) if self.fallback is not None else None

    def read(self, file: str) -> str:
        if file in self.texts:
            return self.texts[file]
        if self.fallback is not None:
            return self.fallback.read(file)
        raise PolicyError([Diagnostic("unreadable", f"no text for `{file}`", Span.point(file, 1, 1))], {file: ""})


def resolve_path(path_or_name: str | Path) -> Path | Traversable:
    """A policy given by path, or by the name of a bundled policy (a resource, maybe in a zip)."""
    p = Path(path_or_name)
    if p.suffix == EXTENSION or p.exists():
        if not p.is_file():
            raise PolicyError([Diagnostic("no-such-policy", f"no policy file `{p}`",
                                          Span.point(str(p), 1, 1))])
        return p
    for stem in _stems(str(path_or_name)):
        found = bundled_root() / (stem + EXTENSION)
        if found.is_file():
            return found
    raise PolicyError([Diagnostic("no-such-policy", f"no bundled policy named `{path_or_name}`",
                                  Span.point(str(path_or_name), 1, 1),
                                  did_you_mean(str(path_or_name), bundled_names()))])


def read_text(f: Traversable, shown: str) -> str:
    """A module's text, or PolicyError `unreadable` (a file that is not UTF-8, or gone)."""
    try:
        return f.read_text(encoding="utf-8-sig")     # a BOM is no character of the policy
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyError([Diagnostic("unreadable", f"cannot read `{shown}`: {e}", Span.point(shown, 1, 1))],
                          {shown: ""}) from None   # no snippet: the file is what cannot be read


def _nul_error(text: str, file: str) -> Diagnostic | None:
    """A NUL character is refused anywhere in a module (even in a comment): the policy hash
    separates modules with NUL, so one inside a text would let two policies share a hash."""
    at = text.find("\0")
    if at < 0:
        return None
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return Diagnostic("nul-character", "a policy file cannot contain a NUL character (U+0000)",
                      Span.point(file, line, column), "remove it: it is invisible in most editors")


def link(root_text: str, root_file: str, directory: Traversable | None = None,
         sources: Sources | None = None) -> Program:
    """Parse a root module and its imports, and link them into one Program.

    Imports come from `sources` (default: `FileSources(directory)`: files in `directory`, by
    default the root file's own folder, then the bundled policies).
    """
    if sources is None:
        if directory is None and Path(root_file).is_file():
            directory = Path(root_file).parent
        sources = FileSources(directory)
    texts: dict[str, str] = {root_file: root_text}
    modules: list[ast.Module] = []
    errors: list[Diagnostic] = []
    loaded: dict[str, ast.Module] = {}

    from .parse import parse_module  # here, not above: evaluating a loaded policy never imports the parser

    def visit(text: str, file: str, chain: tuple[str, ...]) -> None:
        nul = _nul_error(text, file)
        if nul is not None:
            errors.append(nul)
            return
        try:
            module = parse_module(text, file)
        except PolicyError as e:
            errors.extend(e.diagnostics)
            return
        loaded[module.name] = module
        for item in module.items:
            if not isinstance(item, ast.ImportDecl):
                continue
            target = sources.find(item.module, file)
            if target is None:
                errors.append(Diagnostic("unknown-import", f"no module `{item.module}` to import", item.span,
                                         did_you_mean(item.module, bundled_names())
                                         or f"modules are `.esms` files beside `{Path(file).name}` or bundled"))
                continue
            stem = posixpath.splitext(posixpath.basename(target))[0]
            if stem in chain or item.module in chain:
                # the cycle alone, then how it was reached: `a` imports `b`, which is no part of
                # the cycle b -> c -> b, and must not be named as if it were
                start = chain.index(stem if stem in chain else item.module)
                cycle = " -> ".join(chain[start:] + (item.module,))
                reached = f" (reached from {' -> '.join(chain[:start])})" if start else ""
                errors.append(Diagnostic("import-cycle", f"modules import each other in a cycle: {cycle}{reached}",
                                         item.span, "move what both need into a third module that imports neither"))
                continue
            if stem in loaded:
                continue
            try:
                sub_text = sources.read(target)
            except PolicyError as e:
                errors.extend(e.diagnostics)
                texts.update(e.sources)
                continue
            texts[target] = sub_text
            visit(sub_text, target, chain + (stem,))
        modules.append(module)

    visit(root_text, root_file, (Path(root_file).stem,))
    if errors:
        raise PolicyError(errors, texts)
    decls, link_errors, overridden = _merge(modules)
    params = {d.name: d for m in modules for d in m.items if isinstance(d, ast.ParamDecl)}
    if link_errors:
        raise PolicyError(link_errors, texts)
    digest = hashlib.sha256()
    for m in modules:
        digest.update(m.name.encode() + b"\0" + texts[m.file].encode("utf-8") + b"\0")
    registers = {str(r): r for m in modules if (r := register_path(m.file)) is not None}
    for name in sorted(registers):   # the citations render from them: they are part of the policy
        digest.update(b"documents\0" + registers[name].read_bytes() + b"\0")
    return Program(modules[-1], tuple(modules), tuple(decls), texts, digest.hexdigest(), params, overridden)


def _decl_key(d) -> tuple[str, str] | None:
    if isinstance(d, (ast.EnumDecl, ast.RecordDecl)):
        return ("type", d.name)
    if isinstance(d, (ast.FactDecl, ast.TableDecl, ast.ParamDecl, ast.DefDecl)):
        return ("value", d.name)
    if isinstance(d, (ast.RuleDecl, ast.ExceptionDecl)):
        return ("rule", d.name)
    if isinstance(d, ast.OutputDecl):
        return ("output", d.name)
    if isinstance(d, ast.CampaignRuleDecl):
        return ("campaign rule", d.name)
    return None


def _merge(modules):
    """Apply override semantics; keep each declaration at the place it was first declared."""
    slots: dict[tuple[str, str], int] = {}
    decls: list[tuple[ast.Decl, ast.Module]] = []
    errors: list[Diagnostic] = []
    codes: dict[str, ast.CodeEntry] = {}
    overridden: dict[str, ast.Decl] = {}
    for module in modules:
        for d in module.items:
            if isinstance(d, (ast.PolicyDecl, ast.ImportDecl)):
                continue
            if isinstance(d, ast.CodesDecl):
                for e in d.entries:
                    if e.code in codes:
                        errors.append(Diagnostic("duplicate-code", f"reason code `{e.code}` is declared twice", e.span,
                                                 related=(("first declared", codes[e.code].span),)))
                    codes[e.code] = e
                decls.append((d, module))
                continue
            key = _decl_key(d)
            overriding = getattr(d, "override", False)
            if key in slots:
                prev, _ = decls[slots[key]]
                provides_param = isinstance(prev, ast.ParamDecl) and isinstance(d, ast.DefDecl)
                if overriding or provides_param:
                    if type(prev) is not type(d) and not provides_param:
                        errors.append(Diagnostic("bad-override", f"`{d.name}` overrides a declaration of another kind",
                                                 d.span, related=(("overridden declaration", prev.span),)))
                    overridden.setdefault(d.name, prev)
                    decls[slots[key]] = (d, module)
                else:
                    errors.append(Diagnostic(
                        "duplicate-name", f"`{d.name}` is already declared", d.span,
                        f"write `override` before it to replace the declaration at {prev.span}"
                        if key[0] in ("value", "rule") and not isinstance(prev, ast.FactDecl) else None,
                        related=(("first declared", prev.span),)))
            else:
                if overriding:
                    errors.append(Diagnostic("nothing-to-override", f"`{d.name}` overrides nothing",
                                             d.span, "remove `override`, or import the module that declares it"))
                slots[key] = len(decls)
                decls.append((d, module))
    return decls, errors, overridden


BUNDLED_PREFIX = "esms_rules:"   # spans name a module bundled in the package `esms_rules:policies/x.esms`


def display_name(path: Path | Traversable) -> str:
    """How a file is named in diagnostics and traces: stable across checkouts and installs
    (`esms-rules source` and `bundled_file` find a bundled module again from its name)."""
    if not isinstance(path, Path):   # a resource of the package (e.g. inside a zip): bundled
        return f"{BUNDLED_PREFIX}policies/{path.name}"
    path = Path(path)
    try:
        if path.resolve().parent == bundled_dir().resolve():
            return f"{BUNDLED_PREFIX}policies/{path.name}"
    except OSError:
        pass
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def bundled_file(name: str) -> Path | None:
    """The bundled module a span's file names, `esms_rules:policies/x.esms` (or the older
    `policies/x.esms` when no such file is in the working directory), else None."""
    if name.startswith(BUNDLED_PREFIX):
        name = name[len(BUNDLED_PREFIX):]
    elif Path(name).is_file():
        return None
    parts = Path(name).parts
    if len(parts) != 2 or parts[0] != "policies" or not name.endswith(EXTENSION):
        return None
    path = bundled_dir() / parts[1]
    return path if path.is_file() else None


def load_program(path_or_name: str | Path | Traversable, sources: FileSources | None = None) -> Program:
    """The program of a policy file, or of a bundled policy by name; imports read by `sources`
    (default: a `FileSources` over the policy's folder)."""
    f = resolve_path(path_or_name) if isinstance(path_or_name, (str, Path)) else path_or_name
    shown = display_name(f)
    if sources is None:
        sources = FileSources(f.parent if isinstance(f, Path) else bundled_root())
    return link(read_text(f, shown), shown, sources=sources)
