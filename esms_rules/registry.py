"""The policies a dossier can be evaluated with, and the public evaluation entry points.

A `Registry` lists the policies of one directory (by default the bundled ones) from their
headers alone (`policy "id" { programme … campaign … effective … }`), read without parsing
the rest of the file, let alone checking or compiling it. Choosing the policy in force for a
dossier compiles only that one, so a broken or draft `.esms` beside the others never affects
them (it is listed in `Registry.unreadable` when even its header cannot be read).

`load_policy`, `evaluate`, `policy_for` and `bundled_policies` are the package's functions
of the same names (`esms_rules.evaluate`, …).
"""
from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from functools import cached_property, lru_cache
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import attrs

from .check import check
from .decision import Decision
from .diagnostics import Diagnostic, DossierError, PolicyError, Problem
from .load import EXTENSION, FileSources, bundled_root, display_name, load_program, resolve_path
from .policy import Policy, collector_paused
from .span import Span
from .validate import _kind

log = logging.getLogger(__name__)

__all__ = ["Entry", "Registry", "bundled_policies", "bundled_registry", "clear_caches", "evaluate",
           "load_policy", "policy_for", "read_header"]

# The header's tokens: the few a header holds, with the grammar's spelling (grammar/esms.lark).
# Anything else (an escape in a string, a decimal, `true`…) sends `read_header` to the parser.
_TOKEN = re.compile(r"""(?P<skip>\s+|\#[^\n]*)
                      | (?P<string>"[^"\\\n]*")
                      | (?P<date>\d{4}-\d{2}-\d{2}(?![T\d]))
                      | (?P<int>\d+(?![-.\d]))
                      | (?P<name>[a-z_][A-Za-z0-9_]*)
                      | (?P<punct>[{}])""", re.VERBOSE)


class _Unusual(Exception):
    """The header is beyond the quick reader: the parser reads it."""


def _quick_header(text: str) -> dict[str, Any] | None:
    """The header of a file that begins (after comments) with it, in the common spellings."""
    pos, tokens = 0, []
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:
            raise _Unusual
        pos = m.end()
        if m.lastgroup == "skip":
            continue
        tokens.append((m.lastgroup, m.group()))
        if len(tokens) == 1 and tokens[0] != ("name", "policy"):
            raise _Unusual   # a module, or a header further down: the parser decides
        if m.group() == "}":
            break
    if len(tokens) < 4 or tokens[1][0] != "string" or tokens[2] != ("punct", "{"):
        raise _Unusual
    header: dict[str, Any] = {"id": tokens[1][1][1:-1]}
    fields = tokens[3:-1]
    if len(fields) % 2:
        raise _Unusual
    for (kind, key), (vkind, raw) in zip(fields[::2], fields[1::2], strict=True):
        if kind != "name" or key == "id" or key in header:
            raise _Unusual
        if vkind == "string":
            header[key] = raw[1:-1]
        elif vkind == "int":
            header[key] = int(raw)
        elif vkind == "date":
            try:
                header[key] = dt.date.fromisoformat(raw)
            except ValueError:
                raise _Unusual from None
        else:
            raise _Unusual
    return header


def read_header(text: str, file: str = "<string>") -> dict[str, Any] | None:
    """A policy file's header fields, with its name under "id"; None for a module (no header).

    Reads the first lines only when the file opens with its header (every bundled policy
    does); otherwise parses the file. Raises PolicyError when the file cannot be parsed.
    """
    if "policy" not in text:
        return None          # a module: no header can be written without the keyword
    try:
        return _quick_header(text)
    except _Unusual:
        pass
    from .parse import parse_module
    decl = parse_module(text, file).header
    if decl is None:
        return None
    return {"id": decl.name} | {f.name: f.value.value for f in decl.fields}


@attrs.frozen
class Entry:
    """A policy of a registry, known by its header."""

    name: str                  # the file's stem: what `load_policy` takes
    id: str
    programme: str | None
    campaign: int | None
    effective: Any             # a date, as the header gives it (None when absent)
    source: Traversable = attrs.field(eq=False, repr=False)

    def sort_key(self) -> tuple[str, int]:
        return (str(self.programme), self.campaign if isinstance(self.campaign, int) else 0)


class Registry:
    """The policies of one directory, listed from their headers; compiled one by one on demand."""

    def __init__(self, root: Traversable | Path | None = None):
        self._root = root
        self.unreadable: list[Diagnostic] = []

    @cached_property
    def root(self) -> Traversable:
        return self._root if self._root is not None else bundled_root()

    @cached_property
    def entries(self) -> tuple[Entry, ...]:
        """Every file with a `policy` header, by programme and campaign (modules excluded)."""
        found = []
        for f in sorted(self.root.iterdir(), key=lambda f: f.name):
            if not f.name.endswith(EXTENSION) or not f.is_file():
                continue
            name, shown = f.name[:-len(EXTENSION)], display_name(f)
            try:
                header = read_header(f.read_text(encoding="utf-8-sig"), shown)
            except PolicyError as e:
                self.unreadable.extend(e.diagnostics)
                continue
            except (OSError, UnicodeDecodeError) as e:
                self.unreadable.append(Diagnostic("unreadable", f"cannot read `{f.name}`: {e}",
                                                  Span.point(shown, 1, 1)))
                continue
            if header is None:
                continue
            programme, campaign = header.get("programme"), header.get("campaign")
            found.append(Entry(name, header["id"], programme if isinstance(programme, str) else None,
                               campaign if isinstance(campaign, int) and not isinstance(campaign, bool) else None,
                               header.get("effective"), f))
        return tuple(sorted(found, key=Entry.sort_key))

    def load(self, entry: Entry) -> Policy:
        if self._root is None:
            return load_policy(entry.name)
        return load_policy(Path(str(entry.source)))

    def policies(self) -> tuple[Policy, ...]:
        """Every policy, compiled (a broken one raises its PolicyError)."""
        return tuple(self.load(e) for e in self.entries)

    def entry_for(self, dossier: object) -> Entry:
        """The entry in force for the dossier's programme and campaign, or DossierError."""
        if not isinstance(dossier, dict):
            raise DossierError([Problem("$", f"a dossier is a JSON object, not {_kind(dossier)}")])
        programme = dossier.get("programme", "esms-numerique")
        campaign = dossier.get("campaign")
        candidates = [e for e in self.entries if e.programme == programme and e.campaign == campaign
                      and not isinstance(campaign, bool)]
        if candidates:
            return max(candidates, key=lambda e: str(e.effective or ""))
        problems: list[Problem] = []
        if self.entries:  # report the schema's problems too, so the author sees everything at once
            try:
                self.load(self.entries[-1]).validator.convert(dossier)
            except DossierError as e:
                problems = e.problems
            except PolicyError:
                pass
        if not any(p.path in ("campaign", "programme") for p in problems):  # an invalid programme says it all
            pairs = ", ".join(f"{e.programme} {e.campaign}" for e in self.entries)
            problems.append(Problem("campaign", f"no policy in force for programme {programme!r} and campaign "
                                                f"{campaign!r} (bundled: {pairs})"))
        ident = dossier.get("id")
        raise DossierError(problems, ident if isinstance(ident, str) else None)

    def policy_for(self, dossier: object) -> Policy:
        """The policy in force for the dossier (only that one is compiled), or DossierError."""
        return self.load(self.entry_for(dossier))


@lru_cache(maxsize=1)
def bundled_registry() -> Registry:
    return Registry()


# ---- loading, with a cache ---------------------------------------------------
_CACHE_SIZE = 64
# key -> (policy, the fingerprint of every file it was read from: the policy and its imports)
_loaded: dict[str, tuple[Policy, tuple[tuple[Traversable, object], ...]]] = {}
_loaded_lock = threading.Lock()


def _fingerprint(f: Traversable) -> object:
    if isinstance(f, Path):
        try:
            st = f.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)
    return "resource"   # inside the installed package (maybe a zip): fixed while the process runs


def load_policy(path_or_name: str | Path | Policy) -> Policy:
    """A policy by file path, or a bundled policy by name (e.g. "esms-numerique-2025").

    Loaded policies are cached; the cache holds while neither the policy file nor any module
    it imports has changed (modification time and size)."""
    if isinstance(path_or_name, Policy):
        return path_or_name
    f = resolve_path(path_or_name)
    key = str(f.resolve()) if isinstance(f, Path) else f"bundled:{f.name}"
    hit = _loaded.get(key)
    if hit is not None and all(_fingerprint(x) == fp for x, fp in hit[1]):
        return hit[0]
    sources = FileSources(f.parent if isinstance(f, Path) else bundled_root())
    before = _fingerprint(f)
    start = time.perf_counter()
    with collector_paused():
        policy = Policy(check(load_program(f, sources)))
    log.info("policy %s built from %s: sha256 %s, %.0f ms", policy.id, key.removeprefix("bundled:"), policy.sha256,
             (time.perf_counter() - start) * 1000)
    files = ((f, before),) + tuple((x, _fingerprint(x)) for x in sources.files.values())
    with _loaded_lock:
        _loaded.pop(key, None)
        while len(_loaded) >= _CACHE_SIZE:
            del _loaded[next(iter(_loaded))]
        _loaded[key] = (policy, files)
    return policy


def clear_caches() -> None:
    """Forget every loaded policy and the bundled registry (benchmarks measure cold loads)."""
    with _loaded_lock:
        _loaded.clear()
    bundled_registry.cache_clear()


def bundled_policies() -> tuple[Policy, ...]:
    """Every bundled policy with a `policy` header (library modules such as `common` excluded)."""
    return bundled_registry().policies()


def policy_for(dossier: object) -> Policy:
    """The bundled policy in force for the dossier's programme and campaign, or DossierError."""
    return bundled_registry().policy_for(dossier)


def evaluate(dossier: dict[str, Any], *, policy: str | Path | Policy | None = None,
             trace: bool | str = True, partial: bool = False) -> Decision:
    """Evaluate one dossier, with the given policy or the bundled one in force for it; `trace` as
    `Policy.evaluate` takes it (True or "compact", "full", False or "none"); `partial=True`: a
    dossier still being written (docs/partial.md)."""
    p = load_policy(policy) if policy is not None else policy_for(dossier)
    return p.evaluate(dossier, trace=trace, partial=partial)
