"""What every `esms-rules` command shares: exit codes and the input error, status lines on stderr,
reading files and standard input, writing outputs atomically, finding a policy or a bundled
example, and the options several commands take in the same words.

The command group (`cli.py`) maps the library's errors to these exit codes; the commands live in
`cli_author.py`, `cli_evaluate.py`, `cli_campaign.py`, `cli_audit.py` and `cli.py`.
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.resources
import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from . import __version__, jsonio
from .diagnostics import PolicyError

if TYPE_CHECKING:
    from .policy import Policy

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

F = TypeVar("F", bound=Callable[..., Any])


# ---- errors and exits ----------------------------------------------------------------------------
class InputError(click.ClickException):
    """Usage, input or environment error: printed as `Error: …` on stderr, exit 2."""

    exit_code = EXIT_INPUT

    def show(self, file=None):
        click.echo(click.style("Error: ", fg="red", bold=True) + self.format_message(), err=True, color=color())


def exit_with(code: int) -> NoReturn:
    """End the running command with this exit code."""
    click.get_current_context().exit(code)


def os_message(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return where + (e.strerror or str(e))


def feature(module: str, command: str) -> ModuleType:
    """Import esms_rules.<module> on first use, or explain that this installation lacks it."""
    name = f"esms_rules.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise InputError(f"`esms-rules {command}` is not available: this installation of esms-rules "
                         f"{__version__} has no `{name}` module") from None


# ---- terminal niceties ---------------------------------------------------------------------------
def color() -> bool | None:
    """False when NO_COLOR is set (https://no-color.org: any non-empty value), else None: click
    then keeps ANSI styles on a terminal and strips them from files and pipes."""
    return False if os.environ.get("NO_COLOR") else None


def say(message: str, *, quiet: bool = False) -> None:
    """A status line on stderr (styled when stderr is a terminal), unless quiet."""
    if not quiet:
        click.echo(message, err=True, color=color())


def warn(message: str, *, quiet: bool = False) -> None:
    say("esms-rules: " + click.style("warning: ", fg="yellow", bold=True) + message, quiet=quiet)


# ---- reading inputs ------------------------------------------------------------------------------
def read_bytes(path: str) -> bytes:
    if path == "-":
        return stdin().read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(os_message(e)) from None


def stdin():
    """Standard input as bytes."""
    stream = sys.stdin
    return getattr(stream, "buffer", None) or io.BytesIO(stream.read().encode("utf-8"))


def parse_json(data: bytes):
    """Parse JSON text strictly (`jsonio.loads`: UTF-8 with or without a BOM; a duplicate key, a
    lone surrogate, NaN or an over-long integer refused at its path). Raises `JsonInputError`."""
    return jsonio.loads(data)


def read_json(path: str):
    try:
        return parse_json(read_bytes(path))
    except ValueError as e:
        raise InputError(f"{shown(path)}: {e}") from None


def stdin_text() -> str:
    """Standard input as text (a policy): UTF-8, with or without a BOM."""
    try:
        return stdin().read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"<stdin>: not UTF-8 text ({e.reason} at byte {e.start})") from None


def stdin_once(paths: Iterable[str]) -> None:
    """Refuse `-` given twice: standard input can be read only once."""
    if list(paths).count("-") > 1:
        raise InputError("stdin (-) can be read only once")


def shown(path: str) -> str:
    return "<stdin>" if path == "-" else str(path)


def rel(path) -> str:
    """A file path as people read it: relative to the working directory when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


# ---- writing outputs -----------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_output(path: str | None, inputs: Iterable[str] = ()) -> Iterator:
    """A UTF-8 text stream for `path` (stdout when None or "-"): see `jsonio.output` (a regular
    file written atomically, a link followed, a FIFO or device written directly, an input
    refused)."""
    try:
        with jsonio.output(path, inputs=inputs) as out:
            yield out
    except jsonio.OutputError as e:
        raise InputError(str(e)) from None


# ---- policies ------------------------------------------------------------------------------------
def load_policy_or_exit(spec: str) -> Policy:
    """A policy by bundled name or path; a clean exit-2 error when it is unknown or does not load."""
    import esms_rules
    try:
        return esms_rules.load_policy(spec)
    except PolicyError as e:
        first = e.diagnostics[0] if e.diagnostics else None
        if first is not None and first.code == "no-such-policy":
            from .load import bundled_names
            msg = first.message + (f" ({first.help})" if first.help else "")
            raise InputError(f"{msg}; bundled policies: {', '.join(bundled_names())}") from None
        click.echo(e.render(), err=True)
        raise InputError(f"policy `{spec}` has errors (shown above); `esms-rules check {spec}` lists them") from None


def chosen_policy(spec: str | None) -> Policy | None:
    """The policy --policy names, or None (each dossier then decided by the one in force)."""
    return load_policy_or_exit(spec) if spec else None


# ---- bundled examples ----------------------------------------------------------------------------
def examples_dir() -> Path:
    """The bundled example dossiers: examples/ in a checkout, esms_rules/_data/examples in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "examples", here / "_data" / "examples"):
        if candidate.is_dir() and any(candidate.glob("*.json*")):
            return candidate
    return Path(str(importlib.resources.files("esms_rules").joinpath("_data/examples")))


def example_files() -> list[Path]:
    return sorted(p for p in examples_dir().glob("*") if p.suffix in (".json", ".jsonl"))


def example_path(name: str) -> str:
    """A bundled example by name (`dossier-2025`, with or without its extension)."""
    for p in example_files():
        if name in (p.stem, p.name):
            return str(p)
    known = ", ".join(p.stem for p in example_files())
    raise InputError(f"no bundled example named {name!r}; bundled examples: {known}")


# ---- options several commands share -------------------------------------------------------------
def example_option(command: F) -> F:
    return click.option("--example", "example", metavar="NAME",
                        help="A bundled example dossier instead of a file (`esms-rules examples` lists them).")(command)


def policy_option(help: str) -> Callable[[F], F]:
    return click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH", help=help)


def output_option(help: str = "Write here (atomically) instead of stdout.") -> Callable[[F], F]:
    return click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False), help=help)


def quiet_option(help: str) -> Callable[[F], F]:
    return click.option("--quiet", "-q", is_flag=True, help=help)
