"""The `esms-rules` command line: check, format and test policies; evaluate, explain and replay dossiers.

Exit codes (docs/cli.md has the details):

    0  success
    1  the command ran and the answer is "no": a policy has errors (`check`, `fmt`, `test`),
       files need formatting (`fmt --check`), policy tests failed (`test`), a replay differs
       (`replay`), a decision is ineligible (`evaluate --fail-on-ineligible`)
    2  usage, input or environment error: bad options, a missing or unreadable file, text
       that is not JSON, a dossier that breaks the contract (a batch still writes one record
       per row), an unknown policy, a policy given to evaluate/explain/schema/compile that
       does not load, a feature module missing from this installation
    3  internal error (a bug of esms-rules): a message and the traceback on stderr
  130  interrupted (Ctrl-C)

User errors never print a traceback. Commands that use modules written separately (`fmt`,
`test`, `explain`, `replay`) import them lazily.
"""
from __future__ import annotations

import contextlib
import difflib
import errno
import gc
import importlib
import importlib.resources
import io
import itertools
import json
import os
import sys
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path

import click

from . import __version__, jsonio
from .diagnostics import DossierError, EsmsError, PolicyError

EXIT_OK, EXIT_FAIL, EXIT_INPUT, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
MAX_ERROR_MESSAGES = 20   # error rows reported on stderr during a batch; the records hold them all


# ---- errors ------------------------------------------------------------------
class InputError(click.ClickException):
    """Usage, input or environment error: printed as `Error: …` on stderr, exit 2."""

    exit_code = EXIT_INPUT

    def show(self, file=None):
        click.echo(click.style("Error: ", fg="red", bold=True) + self.format_message(), err=True, color=color())


# ---- terminal niceties -----------------------------------------------------------------
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


class _Cli(click.Group):
    """The command group; maps the library's errors to clean messages and exit codes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("\nesms-rules: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except PolicyError as e:
            click.echo(e.render(), err=True)
            raise InputError("the policy has errors (shown above)") from None
        except EsmsError as e:
            raise InputError(str(e)) from None
        except OSError as e:
            if e.errno == errno.EPIPE:
                raise
            raise InputError(_os_message(e)) from None
        except Exception:   # a bug: say so, and keep the traceback for the report
            traceback.print_exc()
            click.echo(f"esms-rules {__version__}: internal error (this is a bug; please report it "
                       "with the traceback above)", err=True)
            raise click.exceptions.Exit(EXIT_INTERNAL) from None


def _os_message(e: OSError) -> str:
    where = f"{e.filename}: " if e.filename else ""
    return where + (e.strerror or str(e))


def _feature(module: str, command: str):
    """Import esms_rules.<module> on first use, or explain that this installation lacks it."""
    name = f"esms_rules.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name != name:
            raise
        raise InputError(f"`esms-rules {command}` is not available: this installation of esms-rules "
                         f"{__version__} has no `{name}` module") from None


# ---- reading inputs -------------------------------------------------------------
def _read_bytes(path: str) -> bytes:
    if path == "-":
        return _stdin().read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise InputError(_os_message(e)) from None


def _stdin():
    """Standard input as bytes."""
    stream = sys.stdin
    return getattr(stream, "buffer", None) or io.BytesIO(stream.read().encode("utf-8"))


def _parse_json(data: bytes):
    """Parse JSON text strictly (`jsonio.loads`: UTF-8 with or without a BOM; a duplicate key, a
    lone surrogate, NaN or an over-long integer refused at its path). Raises `JsonInputError`."""
    return jsonio.loads(data)


def _read_json(path: str):
    try:
        return _parse_json(_read_bytes(path))
    except ValueError as e:
        raise InputError(f"{_shown(path)}: {e}") from None


def _stdin_text() -> str:
    """Standard input as text (a policy): UTF-8, with or without a BOM."""
    try:
        return _stdin().read().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"<stdin>: not UTF-8 text ({e.reason} at byte {e.start})") from None


def _shown(path: str) -> str:
    return "<stdin>" if path == "-" else str(path)


def _rel(path) -> str:
    """A file path as people read it: relative to the working directory when under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


# ---- writing outputs ----------------------------------------------------------------
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


# ---- policies ---------------------------------------------------------------------
def _bundled_names() -> list[str]:
    from .load import bundled_names
    return bundled_names()


def load_policy_or_exit(spec: str):
    """A policy by bundled name or path; a clean exit-2 error when it is unknown or does not load."""
    import esms_rules
    try:
        return esms_rules.load_policy(spec)
    except PolicyError as e:
        first = e.diagnostics[0] if e.diagnostics else None
        if first is not None and first.code == "no-such-policy":
            msg = first.message + (f" ({first.help})" if first.help else "")
            raise InputError(f"{msg}; bundled policies: {', '.join(_bundled_names())}") from None
        click.echo(e.render(), err=True)
        raise InputError(f"policy `{spec}` has errors (shown above); `esms-rules check {spec}` lists them") from None


def default_policy():
    """The newest bundled policy of the esms-numerique programme (any, failing that)."""
    import esms_rules
    policies = list(esms_rules.bundled_policies())
    pool = [p for p in policies if p.programme == "esms-numerique"] or policies
    if not pool:
        raise InputError("no bundled policy found")
    return max(pool, key=lambda p: (p.campaign or 0, str(p.header.get("effective", ""))))


def _policy_files(paths: tuple[str, ...], command: str) -> list[Path]:
    """Expand PATHS: files as given, directories to their `.esms` files, bundled policy names."""
    from .load import EXTENSION, bundled_dir, resolve_path
    if not paths:
        paths = (str(bundled_dir()),)
    files: list[Path] = []
    missing: list[str] = []
    for p in paths:
        path = Path(p)
        if p == "-":
            files.append(path)      # standard input
        elif path.is_dir():
            found = sorted(path.glob("*" + EXTENSION))
            if not found:
                missing.append(f"{p} (a directory with no {EXTENSION} file)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.suffix != EXTENSION and os.sep not in p and "/" not in p:
            try:
                files.append(Path(str(resolve_path(p))))   # a bundled policy by name
            except PolicyError:
                missing.append(f"{p} (no such file, directory or bundled policy)")
        else:
            missing.append(f"{p} (no such file or directory)")
    if missing:
        raise InputError(f"{command}: " + "; ".join(missing))
    return list(dict.fromkeys(files))


# ---- the command group -------------------------------------------------------------
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_Cli, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="esms-rules")
def cli():
    """Rules engine for the French « ESMS numérique » funding instructions.

    Start with `esms-rules explain --example dossier-2025`. Policy authors: `check`, `fmt`,
    `test`, `source`. Developers and operators: `evaluate`, `schema`, `policies`, `compile`,
    `serve`, `examples`. Auditors: `explain`, `replay`, `source`. Exit codes: 0 ok, 1 policy errors or
    a failed verdict, 2 usage or input error, 3 internal error. See docs/cli.md.
    """


def main(argv: list[str] | None = None):
    """The console script: `esms-rules …` (exits with the command's exit code). Standard output
    and error are UTF-8 whatever the locale; SIGTERM and SIGHUP end it as an interruption, so that
    no temporary output file is left behind."""
    jsonio.exit_on_termination()
    for stream in (sys.stdout, sys.stderr):   # UTF-8 whatever the locale: the same bytes everywhere
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    return cli.main(args=argv, prog_name="esms-rules")


# ---- check -------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
@click.option("--format", "fmt", type=click.Choice(["human", "gnu", "json"]), default="human", show_default=True,
              help="human: message, source line and caret; gnu: one `file:line:col: error: …` line each; "
                   "json: an object with every diagnostic.")
@click.option("--analyze", is_flag=True, help="Also warn about overlapping exceptions, rules that never fire and "
                                              "conditions always true (docs/diff.md); warnings do not fail the check.")
def check(paths, fmt, analyze):
    """Parse and check policy files.

    PATHS are `.esms` files, directories (every `.esms` file in them) or names of bundled
    policies, or `-` for a policy on standard input (its imports are looked up in the working
    directory); the default is the bundled policies. Library modules without a `policy` header
    (such as `common`) are checked too. Exit 1 if any file has errors.
    """
    from .check import check as check_program
    from .load import link, load_program
    files = _policy_files(paths, "check")
    seen: set = set()
    results, diagnostics = [], []
    for path in files:
        errors = []
        policy_id = None
        try:
            checked = check_program(link(_stdin_text(), "<stdin>", Path.cwd()) if str(path) == "-"
                                    else load_program(path))
            policy_id = checked.id
            diagnostics += [(w, checked.program.sources) for w in checked.warnings]
            if analyze and checked.program.header is not None:
                from .analyze import analyze as analyze_policy
                for d in analyze_policy(checked):
                    if (d.code, d.message, str(d.span)) not in seen:
                        seen.add((d.code, d.message, str(d.span)))
                        diagnostics.append((d, checked.program.sources))
        except PolicyError as e:
            for d in e.diagnostics:
                key = (d.code, d.message, str(d.span))
                if key not in seen:         # an imported module's errors are shown once
                    seen.add(key)
                    diagnostics.append((d, e.sources))
                errors.append(d)
        results.append({"file": _shown(_rel(path)), "policy": policy_id, "ok": not errors, "errors": len(errors)})
    n_errors = sum(d.severity == "error" for d, _ in diagnostics)
    n_warnings = len(diagnostics) - n_errors
    if fmt == "json":
        click.echo(json.dumps({"files": results, "errors": n_errors,
                               "diagnostics": [d.to_dict() for d, _ in diagnostics]}, ensure_ascii=False, indent=2))
    elif fmt == "gnu":
        for d, _ in diagnostics:
            click.echo(f"{d.span}: {d.severity}: {d.message} [{d.code}]")
            for note, span in d.related:
                click.echo(f"{span}: note: {note}")
    else:
        for d, sources in diagnostics:
            click.echo(d.render(sources))
            click.echo()
        bad = sum(1 for r in results if not r["ok"])
        click.echo(f"checked {len(results)} file{'s' * (len(results) != 1)}: "
                   + (f"{n_errors} error{'s' * (n_errors != 1)} in {bad} file{'s' * (bad != 1)}"
                      if n_errors or bad else "no errors")
                   + (f", {n_warnings} warning{'s' * (n_warnings != 1)}" if n_warnings else ""))
    return _exit(EXIT_FAIL if any(not r["ok"] for r in results) else EXIT_OK)


def _exit(code: int):
    click.get_current_context().exit(code)


# ---- fmt -----------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
@click.option("--check", "check_only", is_flag=True,
              help="Change nothing; list the files that would change, exit 1 if any.")
@click.option("--diff", is_flag=True, help="With --check, also show what would change, as a unified diff.")
def fmt(paths, check_only, diff):
    """Format policy files in the canonical layout.

    PATHS as for `check` (default: the bundled policies). Files are rewritten in place,
    atomically; `-` formats standard input to standard output (for editors). With --check
    nothing is written. Exit 1 if a file would change (--check) or does not parse.
    """
    formatter = _feature("fmt", "fmt")
    files = _policy_files(paths, "fmt")
    changed, broken = [], 0
    for path in files:
        try:
            if str(path) == "-":
                text = _stdin_text()
            else:
                with open(path, encoding="utf-8", newline="") as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read {_rel(path)}: {getattr(e, 'strerror', None) or e}") from None
        try:
            new = formatter.format_source(text, _shown(str(path)))
        except PolicyError as e:
            click.echo(e.render(), err=True)
            broken += 1
            continue
        if str(path) == "-" and not check_only:
            click.echo(new, nl=False)       # standard input: the formatted text on stdout
            continue
        if new == text:
            continue
        changed.append(path)
        if check_only:
            click.echo(f"would reformat {_rel(path)}")
            if diff:
                click.echo("".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                        _rel(path), f"{_rel(path)} (formatted)")), nl=False)
        else:
            with atomic_output(str(path)) as out:
                out.write(new)
            click.echo(f"reformatted {_rel(path)}")
    unchanged = len(files) - len(changed) - broken
    verb = "would be reformatted" if check_only else "reformatted"
    click.echo(f"{len(changed)} file{'s' * (len(changed) != 1)} {verb}, {unchanged} unchanged"
               + (f", {broken} with errors" if broken else ""), err=True)
    return _exit(EXIT_FAIL if broken or (check_only and changed) else EXIT_OK)


# ---- test ----------------------------------------------------------------------------
@cli.command("test")
@click.argument("paths", nargs=-1, metavar="[PATHS]...")
def test_cmd(paths):
    """Run policy tests and report rule coverage.

    PATHS are test files, directories or policies (their NAME.test.json; default: the bundled
    policies directory). Prints each failure, the rule coverage, and ends with the line
    `N passed, N failed`. Exit 1 if a test failed, or nothing could be tested (no test file,
    no test, a malformed test file, a policy with errors); 2 if a path does not exist.
    """
    testing = _feature("testing", "test")
    from .load import bundled_dir
    targets = [str(p) for p in paths] or [str(bundled_dir())]
    report = testing.run_tests(targets)
    for line in report.failures:
        click.echo(line)
    click.echo(report.summary())          # rule coverage, then `N passed, N failed` as the last line
    return _exit(EXIT_OK if report.ok else EXIT_FAIL)


# ---- lsp -------------------------------------------------------------------------------
@cli.command()
def lsp():
    """Run the language server over stdin/stdout (for editors; needs the `lsp` extra).

    Diagnostics as you type, hover, go to definition, references, completion, symbols,
    formatting and quick fixes for .esms files. See docs/editors.md.
    """
    try:
        server = importlib.import_module("esms_rules.lsp")
    except ModuleNotFoundError as e:
        if (e.name or "").split(".")[0] not in ("pygls", "lsprotocol", "cattrs"):
            raise
        raise InputError("`esms-rules lsp` needs the language server library: "
                         "pip install 'esms-rules[lsp]'") from None
    server.serve()


# ---- examples ---------------------------------------------------------------------------
def examples_dir() -> Path:
    """The bundled example dossiers: examples/ in a checkout, esms_rules/_data/examples in a wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "examples", here / "_data" / "examples"):
        if candidate.is_dir() and any(candidate.glob("*.json*")):
            return candidate
    return Path(str(importlib.resources.files("esms_rules").joinpath("_data/examples")))


def _example_files() -> list[Path]:
    return sorted(p for p in examples_dir().glob("*") if p.suffix in (".json", ".jsonl"))


def example_path(name: str) -> str:
    """A bundled example by name (`dossier-2025`, with or without its extension)."""
    for p in _example_files():
        if name in (p.stem, p.name):
            return str(p)
    known = ", ".join(p.stem for p in _example_files())
    raise InputError(f"no bundled example named {name!r}; bundled examples: {known}")


@cli.command()
@click.option("--copy", "target", metavar="DIR", type=click.Path(file_okay=False),
              help="Copy the examples into DIR (created if needed; existing files are left as they are).")
def examples(target):
    """List the bundled example dossiers, or copy them out with --copy DIR.

    Any command that reads a dossier takes `--example NAME` instead of a path, e.g.
    `esms-rules explain --example dossier-2025`.
    """
    files = _example_files()
    if target is None:
        for p in files:
            click.echo(f"{p.stem:<28} {p.name}")
        return _exit(EXIT_OK)
    out = Path(target)
    out.mkdir(parents=True, exist_ok=True)
    for p in files:
        dest = out / p.name
        if dest.exists():
            warn(f"{dest} exists: left as it is")
            continue
        with atomic_output(str(dest)) as f:
            f.write(p.read_text(encoding="utf-8"))
        click.echo(str(dest))
    return _exit(EXIT_OK)


def _example_option(command):
    return click.option("--example", "example", metavar="NAME",
                        help="A bundled example dossier instead of a file (`esms-rules examples` lists them).")(command)


# ---- evaluate --------------------------------------------------------------------------
GC_EVERY = 10_000   # rows between two runs of the cyclic garbage collector (see `evaluate`)
Row = tuple[int | None, int | None, object, dict | None]   # line, index in a JSON array, dossier, error record


def _error_record(file: str, line: int | None, dossier, error: str, problems: list[dict],
                  index: int | None = None) -> dict:
    record = {"file": _shown(file), "line": line, "dossier": dossier if isinstance(dossier, str) else None,
              "error": error, "problems": problems}
    if index is not None:
        record["index"] = index
    return record


def _invalid_json(path: str, line: int | None, e: ValueError) -> dict:
    problems = getattr(e, "problems", None) or []
    return _error_record(path, line, None, "invalid_json",
                         [{"path": p.path, "message": p.message} for p in problems]
                         or [{"path": "$", "message": str(e)}])


def _numbered(stream) -> Iterator[tuple[int, bytes]]:
    """The lines of a binary stream, numbered from 1, a UTF-8 BOM removed from the first."""
    for n, raw in enumerate(stream, start=1):
        yield n, (raw[3:] if n == 1 and raw.startswith(b"\xef\xbb\xbf") else raw)


def _jsonl_rows(path: str, lines: Iterable[tuple[int, bytes]], close=None) -> Iterator[Row]:
    try:
        for n, raw in lines:
            if not raw.strip():
                continue          # blank lines are not rows (line numbers still count them)
            try:
                yield n, None, _parse_json(raw), None
            except ValueError as e:
                yield n, None, None, _invalid_json(path, n, e)
    finally:
        if close is not None:
            close()


def _document(path: str, data: bytes) -> tuple[str, Iterator[Row]]:
    """One JSON document: a dossier ("single") or an array of dossiers ("array")."""
    try:
        value = _parse_json(data)
    except ValueError as e:
        return "single", iter([(None, None, None, _invalid_json(path, None, e))])
    if isinstance(value, list):
        return "array", ((None, i, d, None) for i, d in enumerate(value))
    return "single", iter([(None, None, value, None)])


def _many_values(data: bytes) -> bool:
    """Whether text that is not one JSON document reads as JSON Lines: its first value ends
    before the text does ("Extra data"), or the first line already is what is wrong."""
    try:
        json.loads(data.decode("utf-8-sig"))
        return False
    except json.JSONDecodeError as e:
        return e.msg == "Extra data" or (e.lineno == 1 and data.strip().count(b"\n") > 0)
    except (ValueError, RecursionError):
        return False


def open_input(path: str, fmt: str | None = None) -> tuple[str, Iterator[Row]]:
    """The kind of one DOSSIER argument ("single", "array" or "jsonl") and its rows, lazily.

    `.jsonl`/`.ndjson` files are JSON Lines. Standard input is detected: a JSON object alone
    on its first line followed by more lines is JSON Lines (read as a stream); otherwise the
    whole text is one document (an object, or an array of dossiers), or JSON Lines when it
    holds several values. `--format jsonl` forces JSON Lines on stdin.
    """
    if path != "-" and path.lower().endswith((".jsonl", ".ndjson")):
        try:
            stream = open(path, "rb")
        except OSError as e:
            raise InputError(_os_message(e)) from None
        return "jsonl", _jsonl_rows(path, _numbered(stream), stream.close)
    if path != "-":
        return _document(path, _read_bytes(path))
    lines = _numbered(_stdin())
    if fmt == "jsonl":
        return "jsonl", _jsonl_rows(path, lines)
    head: list[tuple[int, bytes]] = []
    for n, raw in lines:
        head.append((n, raw))
        if raw.strip():
            break
    with contextlib.suppress(ValueError):
        if head and isinstance(_parse_json(head[-1][1]), dict):
            for n, raw in lines:
                head.append((n, raw))
                if raw.strip():
                    return "jsonl", _jsonl_rows(path, itertools.chain(head, lines))
    data = b"".join(raw for _, raw in itertools.chain(head, lines))
    if _many_values(data):
        return "jsonl", _jsonl_rows(path, _numbered(io.BytesIO(data)))
    return _document(path, data)


def _first_problem(record: dict) -> str:
    probs = record.get("problems") or []
    head = f"{probs[0]['path']}: {probs[0]['message']}" if probs else record.get("error", "error")
    return head + (f" (and {len(probs) - 1} more)" if len(probs) > 1 else "")


class CampaignCheck:
    """Warns (once per programme and campaign) when a policy given with --policy is not the
    one in force for a dossier's programme and campaign."""

    def __init__(self, policy, quiet: bool):
        self.policy, self.quiet = policy, quiet
        self.seen: set[object] = set()

    def __call__(self, dossier) -> None:
        if self.policy is None or not isinstance(dossier, dict):
            return
        key = (dossier.get("programme", "esms-numerique"), dossier.get("campaign"))
        if key == (self.policy.programme, self.policy.campaign) or repr(key) in self.seen:
            return
        self.seen.add(repr(key))
        import esms_rules
        try:
            in_force = f"the policy in force for it is {esms_rules.policy_for(dossier).id}"
        except EsmsError:
            in_force = "no bundled policy is in force for it"
        warn(f"dossier {dossier.get('id')!r} is of {key[0]} {key[1]!r}, but --policy {self.policy.id} is for "
             f"{self.policy.programme} {self.policy.campaign!r}; {in_force}", quiet=self.quiet)


def _progress(quiet: bool):
    """A progress bar on stderr for batches, when stderr is a terminal and tqdm is installed
    (the `progress` extra); shown only once a batch has run for ESMS_RULES_PROGRESS_DELAY seconds
    (default 1)."""
    if quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    try:
        delay = float(os.environ.get("ESMS_RULES_PROGRESS_DELAY", "1"))
    except ValueError:
        delay = 1.0
    return tqdm(unit=" dossiers", delay=delay, file=sys.stderr, leave=False)


def _summary(counts: dict) -> str:
    total = sum(counts.values()) - counts["internal"]
    errors = f"{counts['errors']} error{'s' * (counts['errors'] != 1)}"
    return (f"esms-rules: {total} dossier{'s' * (total != 1)}: "
            + click.style(f"{counts['eligible']} eligible", fg="green") + ", "
            + click.style(f"{counts['ineligible']} ineligible", fg="yellow" if counts["ineligible"] else None) + ", "
            + click.style(errors, fg="red" if counts["errors"] else None)
            + (f", {counts['undecided']} undecided (--partial)" if counts.get("undecided") else ""))


@cli.command()
@click.argument("dossiers", nargs=-1, metavar="DOSSIER...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@_example_option
@click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH",
              help="Evaluate with this policy (bundled name or .esms file) instead of the one in force "
                   "for each dossier (a warning tells when it is not the one in force).")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]),
              help="json: one indented decision, or an array of them; jsonl: one compact line per dossier "
                   "(and: read stdin as JSON Lines). Default: json for one .json file, else jsonl.")
@click.option("--trace", "trace_opt", type=click.Choice(["compact", "full", "none"]), default=None,
              help="The explanation trace in each decision: compact (the default: the rules that decided, "
                   "with what they read), full (every rule evaluated, every definition), none.")
@click.option("--no-trace", is_flag=True, help="Leave out the explanation trace (the same as --trace none).")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write here (atomically: a temporary file moved into place at the end) instead of stdout.")
@click.option("--fail-on-ineligible", is_flag=True, help="Exit 1 if any decision is ineligible.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar, warnings, per-row errors or summary on stderr.")
@click.option("--partial", is_flag=True,
              help="Dossiers still being written: a fact absent, or null where null is not allowed, is unknown; "
                   "each decision says what is certain and what depends on which facts (docs/partial.md). No trace.")
def evaluate(dossiers, example, policy_spec, fmt, trace_opt, no_trace, output, fail_on_ineligible, quiet,
             partial):
    """Evaluate dossiers and print the decisions as JSON.

    Each DOSSIER is a .json file holding one dossier or a JSON array of dossiers, a .jsonl
    file holding one dossier per line (a batch), or `-` for stdin (whose format is detected).
    Every input row gives one output record, in order; a row that is not JSON or breaks the
    contract gives an error record {"file", "line", "dossier", "error", "problems"} ("index"
    too for an array element) and the exit code is 2. Without --policy each dossier is
    decided by the bundled policy in force for its programme and campaign. On a terminal, a
    batch shows a progress bar (with the `progress` extra) and a summary.
    """
    if example:
        dossiers = (*dossiers, example_path(example))
    if not dossiers:
        raise click.UsageError("give at least one DOSSIER (a file, or - for stdin) or --example NAME")
    if no_trace and trace_opt not in (None, "none"):
        raise click.UsageError(f"--no-trace and --trace {trace_opt} contradict each other")
    if partial and trace_opt not in (None, "none"):
        raise click.UsageError("--partial decisions have no trace: leave out --trace")
    shape = "none" if no_trace or partial else trace_opt or "compact"
    if dossiers.count("-") > 1:
        raise InputError("stdin (-) can be read only once")
    policy = load_policy_or_exit(policy_spec) if policy_spec else None
    if any(str(p).endswith(".parquet") for p in dossiers):   # columnar: docs/columnar.md
        from .arrow import evaluate_parquet_cli
        counts, problem = evaluate_parquet_cli(dossiers, policy, output)
        if problem:
            click.echo(f"esms-rules: {problem}", err=True)
            return _exit(EXIT_INPUT)
        say(f"esms-rules: {counts['rows']} dossiers: {counts['eligible']} eligible, "
            f"{counts['ineligible']} ineligible, {counts['errors']} errors", quiet=quiet)
        if counts["errors"]:
            return _exit(EXIT_INPUT)
        return _exit(EXIT_FAIL if fail_on_ineligible and counts["ineligible"] else EXIT_OK)
    inputs = [(path, *open_input(path, fmt)) for path in dossiers]
    single = len(inputs) == 1 and inputs[0][1] == "single"
    out_fmt = fmt or ("json" if len(inputs) == 1 and inputs[0][1] != "jsonl" else "jsonl")
    counts = {"eligible": 0, "ineligible": 0, "errors": 0, "internal": 0}
    reported = 0
    campaign_check = CampaignCheck(policy, quiet)
    bar = None if single else _progress(quiet)
    indent = None if out_fmt == "jsonl" else 2
    with_trace = shape != "none"
    from .policy import collector_paused
    from .registry import bundled_registry
    registry = bundled_registry()
    in_force: dict = {}     # the registry's entry -> its policy, looked up once per batch (speed)

    def policy_of(dossier):
        if policy is not None:
            return policy
        entry = registry.entry_for(dossier)
        found = in_force.get(entry)
        if found is None:
            found = in_force[entry] = registry.load(entry)
        return found

    def results() -> Iterator[str]:
        """Each row's decision, or its error record, as JSON text."""
        nonlocal reported
        done = 0
        for path, _, rows in inputs:
            for line, index, dossier, error in rows:
                done += 1
                if done % GC_EVERY == 0:     # the cyclic collector is paused: see below
                    gc.collect()
                if bar is not None:
                    bar.update()
                if error is None:
                    campaign_check(dossier)
                    try:
                        decision = policy_of(dossier).evaluate(dossier, trace=shape, partial=partial)
                        if decision.eligible is None:    # --partial: not known yet
                            counts["undecided"] = counts.get("undecided", 0) + 1
                        else:
                            counts["eligible" if decision.eligible else "ineligible"] += 1
                        yield text_of(decision)
                        continue
                    except DossierError as e:
                        d = e.to_dict()
                        error = _error_record(path, line, d["dossier"], d["error"], d["problems"], index)
                    except Exception as e:     # a bug: keep the row, report it, go on
                        if counts["internal"] == 0:
                            traceback.print_exc()
                        counts["internal"] += 1
                        ident = dossier.get("id") if isinstance(dossier, dict) else None
                        error = _error_record(path, line, ident, "internal_error",
                                              [{"path": "$", "message": f"{type(e).__name__}: {e}"}], index)
                counts["errors"] += 1
                if reported < MAX_ERROR_MESSAGES:
                    where = _shown(path) + (f":{line}" if line is not None else "") \
                        + (f"[{index}]" if index is not None else "")
                    say(f"esms-rules: {where}: " + click.style(error["error"], fg="red") + f": {_first_problem(error)}",
                        quiet=quiet)
                elif reported == MAX_ERROR_MESSAGES:
                    say("esms-rules: … more errors: see the error records", quiet=quiet)
                reported += 1
                yield jsonio.dumps(error, indent=indent)

    def text_of(decision) -> str:
        """A decision's JSON; one that cannot be written becomes that row's error record, so that
        no row is lost and every later row is still written."""
        try:
            return decision.to_json(trace=with_trace, indent=indent)
        except (ValueError, TypeError) as e:
            counts["internal"] += 1
            ident = decision.dossier if isinstance(decision.dossier, str) else None
            return jsonio.dumps(_error_record("-", None, ident, "internal_error",
                                              [{"path": "$", "message": f"cannot write this decision: {e}"}]),
                                indent=indent)

    try:
        # Rows make no reference cycle: the cyclic collector, run as often as allocations ask,
        # would find nothing and rescan the policies' objects each time. It is paused, and run
        # once every GC_EVERY rows, so that memory stays flat whatever the batch's length.
        with atomic_output(output, inputs=dossiers) as out, collector_paused():
            if out_fmt == "jsonl":
                batch: list[str] = []
                for text in results():
                    batch.append(text)
                    if len(batch) >= 256:      # fewer, larger writes
                        batch.append("")
                        out.write("\n".join(batch))
                        batch.clear()
                if batch:
                    batch.append("")
                    out.write("\n".join(batch))
            elif single:
                for text in results():
                    out.write(text + "\n")
            else:
                first = True
                out.write("[")
                for text in results():
                    item = text.replace("\n", "\n  ")
                    out.write(("\n  " if first else ",\n  ") + item)
                    first = False
                out.write("\n]\n" if not first else "]\n")
    finally:
        if bar is not None:
            bar.close()
    if not single:
        say(_summary(counts), quiet=quiet)
    if counts["internal"]:
        return _exit(EXIT_INTERNAL)
    if counts["errors"]:
        return _exit(EXIT_INPUT)
    return _exit(EXIT_FAIL if fail_on_ineligible and counts["ineligible"] else EXIT_OK)


# ---- explain ---------------------------------------------------------------------------
@cli.command()
@click.argument("dossier", metavar="DOSSIER", required=False,
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@_example_option
@click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH", help="Policy to use (default: the one in force).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html", "json"]), default="text",
              show_default=True, help="text, Markdown or a standalone HTML page for people; json: the trace.")
@click.option("--suggest", is_flag=True,
              help="Add « Ce qui changerait la décision »: the smallest changes that would lift each blocking reason.")
@click.option("--trace", "shape", type=click.Choice(["compact", "full"]), default="compact", show_default=True,
              help="compact: the rules that decided, with what they read; "
                   "full: every rule evaluated, every definition.")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write here (atomically) instead of stdout.")
@click.option("--quiet", "-q", is_flag=True, help="No warning on stderr.")
@click.option("--partial", is_flag=True, help="A dossier still being written (docs/partial.md): each value and reason "
                                                "acquis, exclu or dépend de the unknown facts; text or json only.")
def explain(dossier, example, policy_spec, fmt, suggest, shape, output, quiet, partial):
    """Explain the decision on one dossier: each rule, the facts it read, its outcome.

    DOSSIER is a .json file or `-` for stdin; --example NAME takes a bundled example instead.
    text, markdown and html are in French, for people (the HTML page is standalone and
    printable); json is the trace tree (`Decision.trace.to_dict()`). The trace is compact (the
    deciding path) unless --trace full.
    """
    import esms_rules
    if (dossier is None) == (example is None):
        raise click.UsageError("give one DOSSIER (a file, or - for stdin) or --example NAME")
    policy = load_policy_or_exit(policy_spec) if policy_spec else None
    data = _read_json(dossier or example_path(example))
    CampaignCheck(policy, quiet)(data)
    policy = policy or esms_rules.policy_for(data)
    if partial:
        if fmt not in ("text", "json") or suggest:
            raise click.UsageError("--partial explains as text or json, without --suggest")
        from .partial import render_text
        decision = policy.evaluate(data, partial=True)
        text = jsonio.dumps(decision.to_dict(trace=False), indent=2) if fmt == "json" \
            else jsonio.terminal_safe(render_text(decision))
        with atomic_output(output, inputs=[dossier] if dossier else []) as out:
            out.write(text if text.endswith("\n") else text + "\n")
        return _exit(EXIT_OK)
    decision = policy.evaluate(data, trace=shape)
    suggestions = None
    if suggest:
        suggestions = _feature("counterfactual", "explain --suggest").suggest(policy, data, decision=decision)
    if fmt == "json":
        doc = decision.trace.to_dict()
        if suggestions is not None:
            doc["suggestions"] = [s.to_dict() for s in suggestions]
        text = json.dumps(doc, ensure_ascii=False, indent=2)
    else:
        text = _feature("render", "explain").render(decision, fmt, suggestions=suggestions)
        if fmt != "html":       # no control or bidi character of a dossier reaches a terminal
            text = jsonio.terminal_safe(text)
    with atomic_output(output, inputs=[dossier] if dossier else []) as out:
        out.write(text if text.endswith("\n") else text + "\n")
    return _exit(EXIT_OK)


# ---- replay ------------------------------------------------------------------------------
@cli.command()
@click.argument("decision", metavar="DECISION.json", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.argument("dossier", metavar="DOSSIER.json", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH",
              help="Replay with this policy (e.g. an archived .esms file) instead of the bundled one "
                   "the decision names.")
def replay(decision, dossier, policy_spec):
    """Re-run a recorded decision on its dossier and compare.

    DECISION.json is a decision written by `esms-rules evaluate` (or `Decision.to_json()`).
    Checks the policy's sha256 and engine, then that the decision comes out the same, and
    prints what differs. Exit 0 if it is the same, 1 if anything differs.
    """
    if decision == "-" and dossier == "-":
        raise InputError("only one of DECISION.json and DOSSIER.json can be read from stdin")
    replayer = _feature("replay", "replay")
    recorded = _read_json(decision)
    if not isinstance(recorded, dict):
        raise InputError(f"{_shown(decision)}: a decision is a JSON object")
    data = _read_json(dossier)
    result = replayer.replay(recorded, data, policy=load_policy_or_exit(policy_spec) if policy_spec else None)
    for line in result.lines:
        click.echo(jsonio.terminal_safe(line))
    return _exit(EXIT_OK if result.same else EXIT_FAIL)


# ---- schema ------------------------------------------------------------------------------
@cli.command()
@click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH",
              help="Policy whose dossier schema to print (default: the newest bundled esms-numerique policy).")
@click.option("--decision", "what", flag_value="decision", help="The schema of a decision instead.")
@click.option("--error", "what", flag_value="error", help="The schema of an error record instead.")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write here (atomically) instead of stdout.")
def schema(policy_spec, what, output):
    """Print a JSON Schema (draft 2020-12): of the dossiers a policy reads (default), of a
    decision (--decision) or of an error record (--error)."""
    from . import jsonschema
    if what == "decision":
        doc = jsonschema.decision_schema()
    elif what == "error":
        doc = jsonschema.error_schema()
    else:
        doc = jsonschema.dossier_schema(load_policy_or_exit(policy_spec) if policy_spec else default_policy())
    with atomic_output(output) as out:
        out.write(json.dumps(doc, ensure_ascii=False, indent=2) + "\n")
    return _exit(EXIT_OK)


# ---- source ----------------------------------------------------------------------------------
def source_file(name: str) -> Path:
    """The file a span names: a bundled module (`esms_rules:policies/X.esms`), or a path."""
    from .load import BUNDLED_PREFIX, bundled_file
    found = bundled_file(name)
    if found is not None:
        return found
    if name.startswith(BUNDLED_PREFIX):
        raise InputError(f"no bundled module {name!r}; `esms-rules policies` lists the policies")
    if not Path(name).is_file():
        raise InputError(f"{name}: no such file")
    return Path(name)


def parse_span(span: str) -> tuple[str, int | None]:
    """`FILE`, `FILE:LINE` or `FILE:LINE:COL` as (FILE, LINE or None)."""
    parts = span.split(":")
    numbers = 0
    while numbers < 2 and len(parts) - numbers > 1 and parts[-1 - numbers].isdigit():
        numbers += 1
    name = ":".join(parts[:len(parts) - numbers])
    return name, (int(parts[len(parts) - numbers]) if numbers else None)


@cli.command()
@click.argument("span", metavar="FILE[:LINE[:COL]]")
@click.option("--context", "-C", default=3, show_default=True, metavar="N", type=click.IntRange(0),
              help="Lines shown before and after LINE.")
@click.option("--path", "path_only", is_flag=True,
              help="Print only the file's path on this machine, e.g. to open it in an editor.")
def source(span, context, path_only):
    """Show the policy text a span points to, as reports print them.

    SPAN is `esms_rules:policies/common.esms:308` (a bundled module, wherever the package is
    installed), `policies/common.esms:308:5`, or a path with a line. Without LINE the whole
    file is printed.
    """
    name, line = parse_span(span)
    path = source_file(name)
    if path_only:
        click.echo(str(path.resolve()))
        return _exit(EXIT_OK)
    lines = path.read_text(encoding="utf-8").splitlines()
    if line is not None and not 1 <= line <= len(lines):
        raise InputError(f"{name} has {len(lines)} lines, not {line}")
    low, high = (1, len(lines)) if line is None else (max(1, line - context), min(len(lines), line + context))
    width = len(str(high))
    for n in range(low, high + 1):
        text = f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}"
        click.echo(click.style(text, bold=True) if n == line else text, color=color())
    return _exit(EXIT_OK)


# ---- policies ------------------------------------------------------------------------------
@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policies(fmt):
    """List the bundled policies: id, programme, campaign, effective date, sha256, instruction."""
    import esms_rules
    rows = []
    for p in esms_rules.bundled_policies():
        h = p.header
        rows.append({"id": p.id, "programme": h.get("programme"), "campaign": h.get("campaign"),
                     "effective": None if h.get("effective") is None else str(h.get("effective")),
                     "sha256": p.sha256, "instruction": h.get("instruction")})
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return _exit(EXIT_OK)
    cols = [("id", "id"), ("programme", "programme"), ("campaign", "campaign"), ("effective", "effective"),
            ("sha256", "sha256"), ("instruction", "instruction")]
    table = [[("" if r[k] is None else (r[k][:12] if k == "sha256" else str(r[k]))) for k, _ in cols] for r in rows]
    widths = [max([len(title)] + [len(row[i]) for row in table]) for i, (_, title) in enumerate(cols)]

    def line(cells):
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)) + "  " + cells[-1]
    click.echo(line([title for _, title in cols]))
    for row in table:
        click.echo(line(row))
    return _exit(EXIT_OK)


# ---- serve -------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Worker processes.")
@click.option("--policy", "-p", "policy_specs", multiple=True, metavar="NAME|PATH",
              help="Serve only these policies (repeatable); default: every bundled policy, each dossier "
                   "decided by the one in force for its campaign.")
@click.option("--max-body", default=10_000_000, show_default=True, type=click.IntRange(1), metavar="BYTES",
              help="Largest request body accepted (413 beyond).")
@click.option("--max-batch", default=10_000, show_default=True, type=click.IntRange(1), metavar="ROWS",
              help="Most dossiers in one request (413 beyond).")
@click.option("--log-dossiers", is_flag=True,
              help="Also write each dossier in full into the decision log (personal data: off by default).")
@click.option("--log-file", metavar="FILE", type=click.Path(dir_okay=False),
              help="Append the JSON-lines access and decision logs here instead of stderr.")
def serve(host, port, workers, policy_specs, max_body, max_batch, log_dossiers, log_file):
    """Serve decisions over HTTP (needs the `server` extra: Starlette and uvicorn).

    Endpoints: POST /v1/decisions, POST /v1/explanations, GET /v1/policies, GET /healthz, and
    the OpenAPI description at /openapi.json (read at /docs). docs/api.md has the details.
    """
    server = _feature("server", "serve")
    for spec in policy_specs:
        load_policy_or_exit(spec)           # a bad name or policy fails now, not in every worker
    config = server.ServerConfig(policies=tuple(policy_specs), max_body=max_body, max_batch=max_batch,
                                 log_dossiers=log_dossiers, log_file=log_file)
    try:
        server.run(config, host=host, port=port, workers=workers)
    except server.MissingExtra as e:
        raise InputError(str(e)) from None
    return _exit(EXIT_OK)


# ---- compile --------------------------------------------------------------------------------
@cli.command("compile")
@click.argument("policy_spec", metavar="POLICY")
@click.option("--emit", type=click.Choice(["python"]), default="python", show_default=True,
              help="What to print: the generated Python source.")
@click.option("--mode", type=click.Choice(["decision", "reasons", "trace", "compact"]), default="decision",
              show_default=True, help="decision: verdict only; reasons: with the rules that fired; trace: with "
                                      "every rule's record; compact: the records of the deciding path.")
def compile_cmd(policy_spec, emit, mode):
    """Print the Python source the compiler generates for POLICY (a bundled name or a file)."""
    from .compile import emit as emit_source
    policy = load_policy_or_exit(policy_spec)
    source = emit_source(policy.checked, mode)[0]
    click.echo(source, nl=not source.endswith("\n"))
    return _exit(EXIT_OK)


# ---- campaign -----------------------------------------------------------------------------
def _campaign_inputs(dossiers: tuple[str, ...]) -> Iterator[tuple[str, int | None, int | None, object, dict | None]]:
    """Every input row: (file, line, index, dossier, error record), `.parquet` files included."""
    for path in dossiers:
        if str(path).endswith(".parquet"):
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise InputError("reading Parquet needs pyarrow: pip install 'esms-rules[columnar]'") from None
            from .campaign import arrow_dossiers
            try:
                table = pq.read_table(path)
            except (OSError, ValueError) as e:
                raise InputError(f"{_shown(path)}: not a Parquet file: {e}") from None
            for k, row in enumerate(arrow_dossiers(table)):
                yield path, None, k, row, None
            continue
        for line, index, dossier, error in open_input(path)[1]:
            yield path, line, index, dossier, error


def _campaign_report(fmt: str, outcomes: list, dossiers: list, findings: list, reports: Path | None) -> str:
    """The campaign report (docs/campaign.md) of `campaign --format html|json|csv`: `outcomes` one
    per input row, a Decision or an error record."""
    report = _feature("campaign_report", f"campaign --format {fmt}")
    try:
        return report.report_text(fmt, outcomes, dossiers, findings, reports=reports)
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("matplotlib"):
            raise
        raise InputError("the HTML report draws its charts with matplotlib: pip install 'esms-rules[report]'") from None


@cli.command("campaign")
@click.argument("dossiers", nargs=-1, required=True, metavar="DOSSIERS...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--history", metavar="FUNDED.csv", type=click.Path(exists=True, dir_okay=False),
              help="The structures funded by earlier campaigns (CSV; its header names the fields of the "
                   "policy's `history record`: finess, programme, campaign, software_action, dossier).")
@click.option("--policy", "-p", "policy_spec", metavar="NAME|PATH",
              help="Decide every dossier with this policy instead of the one in force for each.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "html", "json", "csv"]), default="jsonl",
              show_default=True,
              help="jsonl: one decision (or error record) per input row, in order, then one "
                   "{\"campaign_finding\": …} line per finding about a whole campaign. The campaign report "
                   "(docs/campaign.md): html, a self-contained page in French with charts; json, its "
                   "aggregates; csv, one row per dossier (`;`, UTF-8 with BOM, for Excel in French).")
@click.option("--trace", is_flag=True, help="Include each decision's explanation trace.")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write here (atomically) instead of stdout; html: each dossier's own report goes to "
                   "the folder FILE's name with `.dossiers`, beside it.")
@click.option("--no-dossier-reports", is_flag=True, help="html: do not write each dossier's own report.")
@click.option("--quiet", "-q", is_flag=True, help="No per-row errors or summary on stderr.")
def campaign_cmd(dossiers, history, policy_spec, fmt, trace, output, no_dossier_reports, quiet):
    """Decide a campaign of dossiers, then check across them (docs/campaign.md).

    DOSSIERS are .jsonl, .json or .parquet files (or `-`). Each dossier is decided by its policy
    in force (or --policy); then the policies' `campaign rule`s run within each programme and
    campaign: the same FINESS in two dossiers (FINESS_IN_OTHER_DOSSIER), a structure funded in an
    earlier campaign (ALREADY_FUNDED, with --history), the pilots' cap (PILOTS_OVER_CAP). Their
    findings are added to the warnings of the structure (or dossier) they are about. A row that
    is not a valid dossier keeps its error record, in place, and takes part in no finding; the
    exit code is then 2.
    """
    from .campaign import HistoryError, evaluate_campaign
    if list(dossiers).count("-") > 1:
        raise InputError("stdin (-) can be read only once")
    policy = load_policy_or_exit(policy_spec) if policy_spec else None
    rows = list(_campaign_inputs(dossiers))
    reports = None     # the campaign report's folder of the dossiers' own reports (html)
    if fmt == "html" and output not in (None, "-") and not no_dossier_reports:
        reports = _feature("campaign_report", "campaign --format html").reports_dir(Path(output))
    try:
        result = evaluate_campaign([r[3] for r in rows if r[4] is None], policy=policy, history=history,
                                   trace=trace or reports is not None)
    except HistoryError as e:
        raise InputError(str(e)) from None
    decided = iter(result.rows)
    counts = {"eligible": 0, "ineligible": 0, "errors": 0}
    records = []
    for path, line, index, _, error in rows:
        if error is None:
            row = next(decided)
            if isinstance(row, DossierError):
                d = row.to_dict()
                error = _error_record(path, line, d["dossier"], d["error"], d["problems"], index)
            else:
                counts["eligible" if row.eligible else "ineligible"] += 1
                records.append(row.to_dict(trace) if fmt == "jsonl" else row)
                continue
        counts["errors"] += 1
        if counts["errors"] <= MAX_ERROR_MESSAGES:
            where = _shown(path) + (f":{line}" if line is not None else "") \
                + (f"[{index}]" if index is not None else "")
            say(f"esms-rules: {where}: " + click.style(error["error"], fg="red") + f": {_first_problem(error)}",
                quiet=quiet)
        records.append(error)
    report = None if fmt == "jsonl" else _campaign_report(fmt, records, [r[3] for r in rows], result.findings, reports)
    with atomic_output(output, inputs=dossiers) as out:
        if report is not None:
            out.write(report)
        for record in records if report is None else ():
            out.write(jsonio.dumps(record) + "\n")
        for finding in result.campaign_findings if report is None else ():
            out.write(jsonio.dumps({"campaign_finding": finding.to_dict()}) + "\n")
    on_dossiers = len(result.findings) - len(result.campaign_findings)
    say(_summary({**counts, "internal": 0}) + f"; {on_dossiers} campaign warning(s) on dossiers, "
        f"{len(result.campaign_findings)} about a whole campaign", quiet=quiet)
    return _exit(EXIT_INPUT if counts["errors"] else EXIT_OK)


from .diff import diff_command  # noqa: E402  (`esms-rules diff`, docs/diff.md)

cli.add_command(diff_command)

if __name__ == "__main__":  # pragma: no cover
    main()
