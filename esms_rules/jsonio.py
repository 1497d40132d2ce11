"""JSON in and out, and the files outputs are written to: the one place that reads and writes bytes.

Reading (`loads`) is stricter than `json.loads`, because a dossier decides money:

- a key given twice in one object is refused at its path (`json.loads` keeps the last value,
  so the decision could silently flip);
- a lone UTF-16 surrogate (`"\\ud800"`, which JSON lets through) is refused at its path: no
  UTF-8 output could carry it;
- `NaN`, `Infinity` and `-Infinity` are not JSON and are refused at their path;
- a whole number of more than `MAX_INT_DIGITS` digits is refused at its path (Python would
  raise its own limit error, with no path, and such a number is never a dossier's value);
- text that is not UTF-8 (a BOM is allowed), or not JSON, or nested more than `MAX_DEPTH`
  levels, is refused with the line and column.

Every refusal is a `JsonInputError`, a `ValueError` carrying `problems` (`Problem`s by JSON
path, in document order), so callers turn it into a `DossierError` or an error row.

Writing (`dumps`, `encode`) gives the same bytes whatever the locale: UTF-8, decimals written
exactly (the digits of the `Decimal`, never a rounded float, never `Infinity`).

`output(path)` opens where a command writes: standard output as UTF-8, a regular file
atomically (a temporary file in the same folder moved over the target when everything was
written, following a symbolic link to its target), a FIFO or a device directly (never replaced
by a regular file), and never a file the same command reads.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
import re
import secrets
import signal
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from .diagnostics import Problem

MAX_INT_DIGITS = 4300      # Python's own limit for converting text to int (sys.int_info)
MAX_DEPTH = 200            # arrays and objects nested deeper than this are refused


class JsonInputError(ValueError):
    """JSON input refused; `problems` lists each one by its JSON path."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(f"{p.path}: {p.message}" for p in problems))


# ---- reading ---------------------------------------------------------------------------
class _Big:
    """A whole number too long to read, kept in place only to be reported at its path."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits


class _Constant:
    """`NaN`, `Infinity` or `-Infinity`, kept in place only to be reported at its path."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name


class _Duplicates(dict[str, Any]):
    """An object that had a key more than once: the keys, in order of their second use."""

    __slots__ = ("duplicates",)
    duplicates: list[str]


# A `\uD800`–`\uDFFF` escape in the text: only then can a lone surrogate be in the value.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]|\\u[dD][c-fC-F]")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    d = dict(pairs)
    if len(d) == len(pairs):
        return d
    seen: set[str] = set()
    dup = _Duplicates(d)
    dup.duplicates = []
    for k, _ in pairs:
        if k in seen and k not in dup.duplicates:
            dup.duplicates.append(k)
        seen.add(k)
    return dup


def lone_surrogate(s: str) -> bool:
    """Whether `s` holds a UTF-16 surrogate on its own (JSON lets `"\\ud800"` through; no UTF-8
    output can carry it)."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _int(text: str) -> int | _Big:
    digits = len(text.lstrip("-"))
    return _Big(digits) if digits > MAX_INT_DIGITS else int(text)


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path != "$" else key


def _walk_problems(value: Any, path: str, depth: int, problems: list[Problem]) -> None:
    if depth > MAX_DEPTH:
        problems.append(Problem(path, f"nested more than {MAX_DEPTH} levels deep"))
        return
    if isinstance(value, dict):
        for k in getattr(value, "duplicates", ()):
            problems.append(Problem(_key_path(path, k), "this key is given more than once in the same object "
                                                        "(each key once: which value is meant?)"))
        for k, v in value.items():
            if lone_surrogate(k):
                problems.append(Problem(_key_path(path, ascii(k)[1:-1]),
                                        "this key holds a lone UTF-16 surrogate, which is not text"))
            _walk_problems(v, _key_path(path, k if not lone_surrogate(k) else ascii(k)[1:-1]),
                           depth + 1, problems)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk_problems(v, f"{path}[{i}]", depth + 1, problems)
    elif isinstance(value, str):
        if lone_surrogate(value):
            problems.append(Problem(path, "this string holds a lone UTF-16 surrogate "
                                          f"({ascii(value)[1:-1][:60]}), which is not text"))
    elif isinstance(value, _Big):
        problems.append(Problem(path, f"a whole number of {value.digits} digits: at most {MAX_INT_DIGITS} "
                                      "are read"))
    elif isinstance(value, _Constant):
        problems.append(Problem(path, f"{value.name} is not a JSON number"))


def loads(data: bytes | str) -> Any:
    """Parse one JSON text strictly (see the module docstring), or raise `JsonInputError`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise JsonInputError([Problem("$", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    else:
        text = data[1:] if data.startswith("\ufeff") else data
    suspicious = [False]

    def constant(name: str) -> _Constant:
        suspicious[0] = True
        return _Constant(name)

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = _object(pairs)
        if type(d) is _Duplicates:
            suspicious[0] = True
        return d

    try:
        try:
            value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=constant)
        except ValueError as e:
            if isinstance(e, json.JSONDecodeError) or "integer string conversion" not in str(e):
                raise
            # a number past Python's limit: read again, keeping such numbers to report them
            suspicious[0] = True
            value = json.loads(text, object_pairs_hook=pairs_hook, parse_constant=constant, parse_int=_int)
    except json.JSONDecodeError as e:
        raise JsonInputError([Problem("$", f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})")]) \
            from None
    except RecursionError:
        raise JsonInputError([Problem("$", f"not valid JSON here: nested more than {MAX_DEPTH} levels deep")]) \
            from None
    if suspicious[0] or _SURROGATE_ESCAPE.search(text):
        problems: list[Problem] = []
        _walk_problems(value, "$", 0, problems)
        if problems:
            raise JsonInputError(problems)
    return value


# ---- writing ---------------------------------------------------------------------------
_MARK = "\x00esms-decimal-" + secrets.token_hex(8) + ":"
_MARKED = re.compile(re.escape(json.dumps(_MARK)[:-1]) + r"([^\"]*)\"")


# json_number's results by value, for whole_as_int false and true (speed: shares and amounts
# repeat). Only ints and floats are kept: they depend on the Decimal's value alone (a Decimal
# returned as it is keeps its own digits, so equal Decimals written differently are not cached),
# and never for zero (-0 and 0 are equal, but their floats are written -0.0 and 0.0).
_NUMBERS: tuple[dict[Decimal, Any], dict[Decimal, Any]] = ({}, {})


def json_number(v: Any, whole_as_int: bool = True) -> Any:
    """A Decimal as a JSON-ready number: an int when whole (and short enough for Python to write;
    unless `whole_as_int` is false, as for shares written `1.0`), a float when the float's
    shortest form has exactly the same value; anything else unchanged (`dumps` writes a
    remaining Decimal with its exact digits)."""
    if type(v) is Decimal and v.is_finite():
        cache = _NUMBERS[whole_as_int]
        n = cache.get(v)
        if n is not None:
            return n
        n = _number(v, whole_as_int)
        if n is not v and v and len(cache) < 4096:
            cache[v] = n
        return n
    if isinstance(v, Decimal) and v.is_finite():
        return _number(v, whole_as_int)
    return v


def _number(v: Decimal, whole_as_int: bool) -> Any:
    if whole_as_int and v == v.to_integral_value() and v.adjusted() < MAX_INT_DIGITS - 1:
        return int(v)
    f = float(v)
    if Decimal(repr(f)) == v:
        return f
    return v


def _exact(v: Any) -> Any:
    """A copy of `v` where every Decimal that no int or float holds exactly, and every int too
    long for Python to write, is marked text (replaced by its digits once dumped)."""
    if isinstance(v, Decimal):
        n = json_number(v)
        if not isinstance(n, Decimal):
            return n
        if not v.is_finite():
            raise ValueError(f"{v} is not a number JSON can hold")
        return _MARK + str(v).replace("E", "e")
    if type(v) is int and v.bit_length() > 14000 and Decimal(v).adjusted() >= MAX_INT_DIGITS:
        return _MARK + str(Decimal(v))       # more digits than Python writes an int with
    if isinstance(v, dict):
        return {k: _exact(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_exact(x) for x in v]
    return v


def _marked(v: Any) -> Any:
    """`json`'s `default` hook: a Decimal as `_exact` writes it (the only type it is called for
    that `dumps` accepts)."""
    if isinstance(v, Decimal):
        return _exact(v)
    raise TypeError(f"Object of type {v.__class__.__name__} is not JSON serializable")


def _encode(value: Any, **options: Any) -> str:
    """`json.dumps(_exact(value), **options)` without copying `value`: decimals are written through
    the `default` hook, so only a value holding an int too long for Python to write (a ValueError
    from the encoder) is copied by `_exact` first."""
    try:
        text = json.dumps(value, allow_nan=False, default=_marked, **options)
    except ValueError:
        text = json.dumps(_exact(value), allow_nan=False, **options)
    if "\\u0000esms-decimal-" in text:
        text = _MARKED.sub(lambda m: m.group(1), text)
    return text


def dumps(value: Any, *, indent: int | None = None, ascii_only: bool = False) -> str:
    """JSON text of `value`, decimals written with their exact digits; `NaN` and infinities refused."""
    return _encode(value, ensure_ascii=ascii_only, indent=indent)


str_json = json.encoder.encode_basestring   # a str as `dumps` writes it (in C)


def value_json(v: Any) -> str:
    """`dumps(v)`, faster for a str, a bool, None, an int of up to 15 digits or a finite float
    (written as json's encoder writes them: `repr`)."""
    t = type(v)
    if t is str:
        return str_json(v)
    if v is None:
        return "null"
    if t is bool:
        return "true" if v else "false"
    if t is int and -(10**15) < v < 10**15:
        return int.__repr__(v)
    if t is float and math.isfinite(v):
        return float.__repr__(v)
    return dumps(v)


# number_json's texts by the Decimal's own digits (`str`: cheaper than hashing a Decimal, and
# the text depends on nothing else), for whole_as_int false and true
_NUMBER_TEXTS: tuple[dict[str, str], dict[str, str]] = ({}, {})


def number_json(v: Any, whole_as_int: bool = True) -> str:
    """`dumps(json_number(v, whole_as_int))`, faster (`value_json`, and remembered)."""
    if type(v) is Decimal:
        cache = _NUMBER_TEXTS[whole_as_int]
        digits = str(v)
        text = cache.get(digits)
        if text is None:
            text = value_json(json_number(v, whole_as_int))    # raises for NaN and infinities
            if len(cache) < 4096:
                cache[digits] = text
        return text
    return value_json(json_number(v, whole_as_int))


def encode(value: Any, *, indent: int | None = None) -> bytes:
    """UTF-8 JSON bytes of `value`; a string with a lone surrogate is written as its `\\u` escape
    (valid JSON, nothing lost) rather than failing."""
    text = dumps(value, indent=indent)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return dumps(value, indent=indent, ascii_only=True).encode("ascii")


def text_bytes(text: str) -> bytes:
    """UTF-8 bytes of human-readable text; a lone surrogate becomes its `\\u` escape."""
    return text.encode("utf-8", errors="backslashreplace")


def digest(dossier: Any, checked: bool = False) -> str:
    """sha256 of the dossier's canonical JSON (keys sorted, no spaces, ASCII with `\\u` escapes,
    exact numbers): recorded in each decision so that replay can tell it re-ran the very same input.

    `checked`: the caller knows every value is of a type the contract defines and every number is
    finite (a dossier the validator accepted without an unknown field). The text is then written
    by orjson where it is installed (the `fast` extra), about three times faster, and the bytes are
    the same (`_canonical_fast`); anything it cannot vouch for is written by json's encoder."""
    canonical = _canonical_fast(dossier) if checked and _orjson() is not None else None
    if canonical is None:
        canonical = _encode(dossier, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode("ascii")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


_ORJSON: Any = None     # the orjson module once looked for; False when it is not installed


def _orjson() -> Any:
    global _ORJSON
    if _ORJSON is None:
        try:
            import orjson
            _ORJSON = orjson if hasattr(orjson, "Fragment") else False    # an old orjson: no exact decimals
        except ImportError:
            _ORJSON = False
    return _ORJSON or None


def _fragment(v: Any) -> Any:
    """orjson's `default` hook: a finite Decimal as the text `_encode` writes for it."""
    if isinstance(v, Decimal) and v.is_finite():
        n = json_number(v)
        text = int.__repr__(n) if type(n) is int else float.__repr__(n) if type(n) is float \
            else str(v).replace("E", "e")
        return _ORJSON.Fragment(text)
    raise TypeError(type(v).__name__)     # orjson gives up, and json's encoder writes (or refuses) it


# json's ensure_ascii writes DEL and every non-ASCII character as a `\\u` escape (a character
# beyond U+FFFF as its UTF-16 surrogate pair); orjson writes them as they are
_NOT_ASCII = re.compile("[\x7f-\U0010ffff]")


def _ascii_escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 | c >> 10:04x}\\u{0xDC00 | c & 0x3FF:04x}"


def _canonical_fast(dossier: Any) -> bytes | None:
    """The canonical JSON bytes of a checked dossier written by orjson, or None when orjson's text
    might differ from json's: orjson refused a value (an int beyond 64 bits, a key that is not
    text, a lone surrogate, a type it does not know), or wrote a number below 10^-4 (json writes
    `1e-05` where orjson writes `0.00001` or `1e-5`; orjson writes every other finite float as
    `repr` does). orjson writes NaN and infinities as `null`, where json refuses them: hence
    `checked`. `tests/test_lazy_decision.py` holds both writers equal."""
    orjson = _ORJSON
    try:
        out = orjson.dumps(dossier, default=_fragment, option=orjson.OPT_SORT_KEYS)
    except TypeError:       # orjson.JSONEncodeError too
        return None
    if b".0000" in out:
        return None         # a small number written in full (or text with those characters)
    at = out.find(b"e-")
    while at > 0:
        if 48 <= out[at - 1] <= 57:
            return None     # a small number's exponent, which json writes with two digits at least
        at = out.find(b"e-", at + 2)
    if not out.isascii() or b"\x7f" in out:
        out = _NOT_ASCII.sub(_ascii_escape, out.decode("utf-8")).encode("ascii")
    return out


# ---- terminals -------------------------------------------------------------------------
# C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
# isolates: what could rewrite what a terminal shows (a fake verdict, text shown reversed).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def terminal_safe(text: str) -> str:
    """Text for a terminal or a text file: every control or bidi character shown as `\\uXXXX`."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# ---- output files ----------------------------------------------------------------------
class OutputError(OSError):
    """An output that cannot, or must not, be written (its message says why)."""


def _umask() -> int:
    old = os.umask(0o022)
    os.umask(old)
    return old


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def output(path: str | None, *, inputs: Iterable[str] = (), binary: bool = False) -> Iterator[IO[Any]]:
    """Where a command writes `path` (stdout when None or "-"), as UTF-8 text (or bytes).

    - stdout: UTF-8 whatever the locale, flushed at the end;
    - a regular file, or a path that does not exist yet: written under a temporary name beside
      it and moved into place only once complete (an interrupted run leaves the old file as it
      was and no temporary file); a symbolic link is followed, so the link stays a link;
    - a FIFO, a character or block device, a socket: written directly (replacing `/dev/null`
      by a regular file would destroy it);
    - a path that is one of `inputs` (the same file, by device and inode): refused.
    """
    if path is None or path == "-":
        raw = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else None
        if raw is None:         # a captured stdout without bytes (tests): write text to it
            yield sys.stdout
            sys.stdout.flush()
            return
        sys.stdout.flush()
        stream: IO[Any] = raw if binary else io.TextIOWrapper(raw, encoding="utf-8", errors="backslashreplace",
                                                              newline="\n", write_through=True)
        try:
            yield stream
            stream.flush()
        finally:
            if not binary:
                stream.detach()   # type: ignore[attr-defined]
        return
    for other in inputs:
        if other != "-" and _same_file(path, other):
            raise OutputError(f"{path} is also an input of this command: write the output elsewhere")
    target = Path(os.path.realpath(path))
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        if stat.S_ISDIR(st.st_mode):
            raise OutputError(f"cannot write {path}: it is a directory")
        try:      # FIFO, device, socket: write to it as it is
            with (open(target, "wb") if binary else
                  open(target, "w", encoding="utf-8", errors="backslashreplace", newline="\n")) as f:
                yield f
        except OSError as e:
            raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
        return
    mode = (st.st_mode & 0o7777) if st is not None else (0o666 & ~_umask())
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    try:
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n")) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def exit_on_termination() -> None:
    """Turn SIGTERM and SIGHUP into `SystemExit(128 + signal)`, so that `output` removes its
    temporary file and the command ends as if interrupted (only in the main thread)."""
    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for name in ("SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            with contextlib.suppress(ValueError, OSError):
                signal.signal(sig, handler)
