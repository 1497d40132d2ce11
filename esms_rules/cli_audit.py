"""The commands of auditors: `replay` (re-run a recorded decision on its dossier and compare)
and `source` (show the policy text a span of a report or a trace points to)."""
from __future__ import annotations

from pathlib import Path

import click

from . import jsonio
from .cli_common import (
    EXIT_FAIL,
    EXIT_OK,
    InputError,
    chosen_policy,
    color,
    exit_with,
    feature,
    policy_option,
    read_json,
    shown,
)


# ---- replay ------------------------------------------------------------------------------
@click.command()
@click.argument("decision", metavar="DECISION.json", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.argument("dossier", metavar="DOSSIER.json", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@policy_option("Replay with this policy (e.g. an archived .esms file) instead of the bundled one "
               "the decision names.")
def replay(decision: str, dossier: str, policy_spec: str | None) -> None:
    """Re-run a recorded decision on its dossier and compare.

    DECISION.json is a decision written by `esms-rules evaluate` (or `Decision.to_json()`).
    Checks the policy's sha256 and engine, then that the decision comes out the same, and
    prints what differs. Exit 0 if it is the same, 1 if anything differs.
    """
    if decision == "-" and dossier == "-":
        raise InputError("only one of DECISION.json and DOSSIER.json can be read from stdin")
    replayer = feature("replay", "replay")
    recorded = read_json(decision)
    if not isinstance(recorded, dict):
        raise InputError(f"{shown(decision)}: a decision is a JSON object")
    data = read_json(dossier)
    result = replayer.replay(recorded, data, policy=chosen_policy(policy_spec))
    for line in result.lines:
        click.echo(jsonio.terminal_safe(line))
    exit_with(EXIT_OK if result.same else EXIT_FAIL)


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


@click.command()
@click.argument("span", metavar="FILE[:LINE[:COL]]")
@click.option("--context", "-C", default=3, show_default=True, metavar="N", type=click.IntRange(0),
              help="Lines shown before and after LINE.")
@click.option("--path", "path_only", is_flag=True,
              help="Print only the file's path on this machine, e.g. to open it in an editor.")
def source(span: str, context: int, path_only: bool) -> None:
    """Show the policy text a span points to, as reports print them.

    SPAN is `esms_rules:policies/common.esms:308` (a bundled module, wherever the package is
    installed), `policies/common.esms:308:5`, or a path with a line. Without LINE the whole
    file is printed.
    """
    name, line = parse_span(span)
    path = source_file(name)
    if path_only:
        click.echo(str(path.resolve()))
        exit_with(EXIT_OK)
    lines = path.read_text(encoding="utf-8").splitlines()
    if line is not None and not 1 <= line <= len(lines):
        raise InputError(f"{name} has {len(lines)} lines, not {line}")
    low, high = (1, len(lines)) if line is None else (max(1, line - context), min(len(lines), line + context))
    width = len(str(high))
    for n in range(low, high + 1):
        text = f"{'>' if n == line else ' '} {n:>{width}} | {lines[n - 1]}"
        click.echo(click.style(text, bold=True) if n == line else text, color=color())
    exit_with(EXIT_OK)
