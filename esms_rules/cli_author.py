"""The commands of policy authors: `check` (parse and check, located diagnostics), `fmt` (the
canonical layout), `test` (policy tests and rule coverage) and `lsp` (the language server for
editors). Each takes policy files, directories of them or bundled names (`policy_files`)."""
from __future__ import annotations

import difflib
import importlib
import json
import os
from pathlib import Path

import click

from .cli_common import EXIT_FAIL, EXIT_OK, InputError, atomic_output, exit_with, feature, rel, shown, stdin_text
from .diagnostics import PolicyError

PATHS = click.argument("paths", nargs=-1, metavar="[PATHS]...")


def policy_files(paths: tuple[str, ...], command: str) -> list[Path]:
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


# ---- check -------------------------------------------------------------------------
@click.command()
@PATHS
@click.option("--format", "fmt", type=click.Choice(["human", "gnu", "json"]), default="human", show_default=True,
              help="human: message, source line and caret; gnu: one `file:line:col: error: …` line each; "
                   "json: an object with every diagnostic.")
@click.option("--analyze", is_flag=True, help="Also warn about overlapping exceptions, rules that never fire and "
                                              "conditions always true (docs/diff.md); warnings do not fail the check.")
def check(paths: tuple[str, ...], fmt: str, analyze: bool) -> None:
    """Parse and check policy files.

    PATHS are `.esms` files, directories (every `.esms` file in them) or names of bundled
    policies, or `-` for a policy on standard input (its imports are looked up in the working
    directory); the default is the bundled policies. Library modules without a `policy` header
    (such as `common`) are checked too. Exit 1 if any file has errors.
    """
    from .check import check as check_program
    from .load import link, load_program
    files = policy_files(paths, "check")
    seen: set = set()
    results, diagnostics = [], []

    def show_once(d, sources) -> None:
        """List a diagnostic unless it is listed already (an imported module's errors are shown once)."""
        key = (d.code, d.message, str(d.span))
        if key not in seen:
            seen.add(key)
            diagnostics.append((d, sources))

    for path in files:
        errors = []
        policy_id = None
        try:
            checked = check_program(link(stdin_text(), "<stdin>", Path.cwd()) if str(path) == "-"
                                    else load_program(path))
            policy_id = checked.id
            diagnostics += [(w, checked.program.sources) for w in checked.warnings]
            if analyze and checked.program.header is not None:
                from .analyze import analyze as analyze_policy
                for d in analyze_policy(checked):
                    show_once(d, checked.program.sources)
        except PolicyError as e:
            for d in e.diagnostics:
                show_once(d, e.sources)
                errors.append(d)
        results.append({"file": shown(rel(path)), "policy": policy_id, "ok": not errors, "errors": len(errors)})
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
    exit_with(EXIT_FAIL if any(not r["ok"] for r in results) else EXIT_OK)


# ---- fmt -----------------------------------------------------------------------------
@click.command()
@PATHS
@click.option("--check", "check_only", is_flag=True,
              help="Change nothing; list the files that would change, exit 1 if any.")
@click.option("--diff", is_flag=True, help="With --check, also show what would change, as a unified diff.")
def fmt(paths: tuple[str, ...], check_only: bool, diff: bool) -> None:
    """Format policy files in the canonical layout.

    PATHS as for `check` (default: the bundled policies). Files are rewritten in place,
    atomically; `-` formats standard input to standard output (for editors). With --check
    nothing is written. Exit 1 if a file would change (--check) or does not parse.
    """
    formatter = feature("fmt", "fmt")
    files = policy_files(paths, "fmt")
    changed, broken = [], 0
    for path in files:
        try:
            if str(path) == "-":
                text = stdin_text()
            else:
                with open(path, encoding="utf-8", newline="") as f:
                    text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"cannot read {rel(path)}: {getattr(e, 'strerror', None) or e}") from None
        try:
            new = formatter.format_source(text, shown(str(path)))
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
            click.echo(f"would reformat {rel(path)}")
            if diff:
                click.echo("".join(difflib.unified_diff(text.splitlines(True), new.splitlines(True),
                                                        rel(path), f"{rel(path)} (formatted)")), nl=False)
        else:
            with atomic_output(str(path)) as out:
                out.write(new)
            click.echo(f"reformatted {rel(path)}")
    unchanged = len(files) - len(changed) - broken
    verb = "would be reformatted" if check_only else "reformatted"
    click.echo(f"{len(changed)} file{'s' * (len(changed) != 1)} {verb}, {unchanged} unchanged"
               + (f", {broken} with errors" if broken else ""), err=True)
    exit_with(EXIT_FAIL if broken or (check_only and changed) else EXIT_OK)


# ---- test ----------------------------------------------------------------------------
@click.command("test")
@PATHS
def test_cmd(paths: tuple[str, ...]) -> None:
    """Run policy tests and report rule coverage.

    PATHS are test files, directories or policies (their NAME.test.json; default: the bundled
    policies directory). Prints each failure, the rule coverage, and ends with the line
    `N passed, N failed`. Exit 1 if a test failed, or nothing could be tested (no test file,
    no test, a malformed test file, a policy with errors); 2 if a path does not exist.
    """
    testing = feature("testing", "test")
    from .load import bundled_dir
    targets = [str(p) for p in paths] or [str(bundled_dir())]
    report = testing.run_tests(targets)
    for line in report.failures:
        click.echo(line)
    click.echo(report.summary())          # rule coverage, then `N passed, N failed` as the last line
    exit_with(EXIT_OK if report.ok else EXIT_FAIL)


# ---- lsp -------------------------------------------------------------------------------
@click.command()
def lsp() -> None:
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
