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

This module is the command group (the library's errors mapped to messages and exit codes),
`main`, and the commands that describe the engine to developers and operators: `schema`,
`policies`, `compile`, `examples` and `serve`. The other commands are in `cli_author` (check,
fmt, test, lsp), `cli_evaluate` (evaluate, explain), `cli_campaign` (campaign) and `cli_audit`
(replay, source); what they share is in `cli_common` and `cli_rows`. The names other modules and tests import
(`cli`, `main`, `InputError`, `atomic_output`, `load_policy_or_exit`, `examples_dir`, …) are
importable from here, as they were when this module held every command.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import __version__, jsonio
from .cli_audit import parse_span, replay, source, source_file
from .cli_author import check, fmt, lsp, test_cmd
from .cli_campaign import campaign_cmd
from .cli_common import (
    EXIT_FAIL,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    InputError,
    atomic_output,
    color,
    example_files,
    example_path,
    examples_dir,
    exit_with,
    feature,
    load_policy_or_exit,
    os_message,
    output_option,
    policy_option,
    say,
    warn,
)
from .cli_evaluate import GC_EVERY, CampaignCheck, evaluate, explain
from .cli_rows import MAX_ERROR_MESSAGES, Row, open_input
from .diagnostics import EsmsError, PolicyError

if TYPE_CHECKING:
    from .policy import Policy

__all__ = [
    "CONTEXT", "EXIT_FAIL", "EXIT_INPUT", "EXIT_INTERNAL", "EXIT_INTERRUPTED", "EXIT_OK", "GC_EVERY",
    "MAX_ERROR_MESSAGES", "CampaignCheck", "InputError", "Row", "atomic_output", "cli", "color", "default_policy",
    "example_path", "examples_dir", "load_policy_or_exit", "main", "open_input", "parse_span", "say",
    "source_file", "warn",
]


# ---- the command group ---------------------------------------------------------------------------
class _Cli(click.Group):
    """The command group; maps the library's errors to clean messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
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
            raise InputError(os_message(e)) from None
        except Exception:   # a bug: say so, and keep the traceback for the report
            traceback.print_exc()
            click.echo(f"esms-rules {__version__}: internal error (this is a bug; please report it "
                       "with the traceback above)", err=True)
            raise click.exceptions.Exit(EXIT_INTERNAL) from None


CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(cls=_Cli, context_settings=CONTEXT)
@click.version_option(__version__, "--version", prog_name="esms-rules")
def cli() -> None:
    """Rules engine for the French « ESMS numérique » funding instructions.

    Start with `esms-rules explain --example dossier-2025`. Policy authors: `check`, `fmt`,
    `test`, `source`. Developers and operators: `evaluate`, `schema`, `policies`, `compile`,
    `serve`, `examples`. Auditors: `explain`, `replay`, `source`. Exit codes: 0 ok, 1 policy errors or
    a failed verdict, 2 usage or input error, 3 internal error. See docs/cli.md.
    """


def main(argv: list[str] | None = None) -> Any:
    """The console script: `esms-rules …` (exits with the command's exit code). Standard output
    and error are UTF-8 whatever the locale; SIGTERM and SIGHUP end it as an interruption, so that
    no temporary output file is left behind."""
    jsonio.exit_on_termination()
    for stream in (sys.stdout, sys.stderr):   # UTF-8 whatever the locale: the same bytes everywhere
        if isinstance(stream, io.TextIOWrapper):
            with contextlib.suppress(ValueError, OSError):
                stream.reconfigure(encoding="utf-8", errors="backslashreplace")
    return cli.main(args=argv, prog_name="esms-rules")


# ---- examples ------------------------------------------------------------------------------------
@cli.command()
@click.option("--copy", "target", metavar="DIR", type=click.Path(file_okay=False),
              help="Copy the examples into DIR (created if needed; existing files are left as they are).")
def examples(target: str | None) -> None:
    """List the bundled example dossiers, or copy them out with --copy DIR.

    Any command that reads a dossier takes `--example NAME` instead of a path, e.g.
    `esms-rules explain --example dossier-2025`.
    """
    files = example_files()
    if target is None:
        for p in files:
            click.echo(f"{p.stem:<28} {p.name}")
        exit_with(EXIT_OK)
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
    exit_with(EXIT_OK)


# ---- schema --------------------------------------------------------------------------------------
def default_policy() -> Policy:
    """The newest bundled policy of the esms-numerique programme (any, failing that)."""
    import esms_rules
    policies = list(esms_rules.bundled_policies())
    pool = [p for p in policies if p.programme == "esms-numerique"] or policies
    if not pool:
        raise InputError("no bundled policy found")
    return max(pool, key=lambda p: (p.campaign or 0, str(p.header.get("effective", ""))))


@cli.command()
@policy_option("Policy whose dossier schema to print (default: the newest bundled esms-numerique policy).")
@click.option("--decision", "what", flag_value="decision", help="The schema of a decision instead.")
@click.option("--error", "what", flag_value="error", help="The schema of an error record instead.")
@output_option()
def schema(policy_spec: str | None, what: str | None, output: str | None) -> None:
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
    exit_with(EXIT_OK)


# ---- policies ------------------------------------------------------------------------------
@cli.command()
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def policies(fmt: str) -> None:
    """List the bundled policies: id, programme, campaign, effective date, sha256, instruction."""
    import esms_rules
    rows: list[dict[str, Any]] = []
    for p in esms_rules.bundled_policies():
        h = p.header
        rows.append({"id": p.id, "programme": h.get("programme"), "campaign": h.get("campaign"),
                     "effective": None if h.get("effective") is None else str(h.get("effective")),
                     "sha256": p.sha256, "instruction": h.get("instruction")})
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        exit_with(EXIT_OK)
    cols = [("id", "id"), ("programme", "programme"), ("campaign", "campaign"), ("effective", "effective"),
            ("sha256", "sha256"), ("instruction", "instruction")]
    table = [[("" if r[k] is None else (r[k][:12] if k == "sha256" else str(r[k]))) for k, _ in cols] for r in rows]
    widths = [max([len(title)] + [len(row[i]) for row in table]) for i, (_, title) in enumerate(cols)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells[:-1], widths[:-1], strict=True)) + "  " + cells[-1]
    click.echo(line([title for _, title in cols]))
    for row in table:
        click.echo(line(row))
    exit_with(EXIT_OK)


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
def serve(host: str, port: int, workers: int, policy_specs: tuple[str, ...], max_body: int, max_batch: int,
          log_dossiers: bool, log_file: str | None) -> None:
    """Serve decisions over HTTP (needs the `server` extra: Starlette and uvicorn).

    Endpoints: POST /v1/decisions, POST /v1/explanations, GET /v1/policies, GET /healthz, and
    the OpenAPI description at /openapi.json (read at /docs). docs/api.md has the details.
    """
    server = feature("server", "serve")
    for spec in policy_specs:
        load_policy_or_exit(spec)           # a bad name or policy fails now, not in every worker
    config = server.ServerConfig(policies=tuple(policy_specs), max_body=max_body, max_batch=max_batch,
                                 log_dossiers=log_dossiers, log_file=log_file)
    try:
        server.run(config, host=host, port=port, workers=workers)
    except server.MissingExtra as e:
        raise InputError(str(e)) from None
    exit_with(EXIT_OK)


# ---- compile --------------------------------------------------------------------------------
@cli.command("compile")
@click.argument("policy_spec", metavar="POLICY")
@click.option("--emit", type=click.Choice(["python"]), default="python", show_default=True,
              help="What to print: the generated Python source.")
@click.option("--mode", type=click.Choice(["decision", "reasons", "trace", "compact"]), default="decision",
              show_default=True, help="decision: verdict only; reasons: with the rules that fired; trace: with "
                                      "every rule's record; compact: the records of the deciding path.")
def compile_cmd(policy_spec: str, emit: str, mode: str) -> None:
    """Print the Python source the compiler generates for POLICY (a bundled name or a file)."""
    from .compile import emit as emit_source
    policy = load_policy_or_exit(policy_spec)
    source = emit_source(policy.checked, mode)[0]
    click.echo(source, nl=not source.endswith("\n"))
    exit_with(EXIT_OK)


for _command in (check, fmt, test_cmd, lsp, evaluate, explain, campaign_cmd, replay, source):
    cli.add_command(_command)

from .diff import diff_command  # noqa: E402  (`esms-rules diff`, docs/diff.md)

cli.add_command(diff_command)

if __name__ == "__main__":  # pragma: no cover
    main()
