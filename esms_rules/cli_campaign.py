"""`esms-rules campaign`: decide a campaign of dossiers, then run the policies' `campaign rule`s
across them (docs/campaign.md), and write the decisions or the campaign report."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from . import jsonio
from .cli_common import (
    InputError,
    atomic_output,
    chosen_policy,
    exit_with,
    feature,
    output_option,
    policy_option,
    quiet_option,
    say,
    shown,
    stdin_once,
)
from .cli_rows import MAX_ERROR_MESSAGES, batch_exit_code, dossier_error_record, open_input, say_row_error, summary
from .diagnostics import DossierError


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
                raise InputError(f"{shown(path)}: not a Parquet file: {e}") from None
            for k, row in enumerate(arrow_dossiers(table)):
                yield path, None, k, row, None
            continue
        for line, index, dossier, error in open_input(path)[1]:
            yield path, line, index, dossier, error


def _campaign_report(fmt: str, outcomes: list, dossiers: list, findings: list, reports: Path | None) -> str:
    """The campaign report (docs/campaign.md) of `campaign --format html|json|csv`: `outcomes` one
    per input row, a Decision or an error record."""
    report = feature("campaign_report", f"campaign --format {fmt}")
    try:
        return report.report_text(fmt, outcomes, dossiers, findings, reports=reports)
    except ModuleNotFoundError as e:
        if not (e.name or "").startswith("matplotlib"):
            raise
        raise InputError("the HTML report draws its charts with matplotlib: pip install 'esms-rules[report]'") from None


@click.command("campaign")
@click.argument("dossiers", nargs=-1, required=True, metavar="DOSSIERS...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--history", metavar="FUNDED.csv", type=click.Path(exists=True, dir_okay=False),
              help="The structures funded by earlier campaigns (CSV; its header names the fields of the "
                   "policy's `history record`: finess, programme, campaign, software_action, dossier).")
@policy_option("Decide every dossier with this policy instead of the one in force for each.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "html", "json", "csv"]), default="jsonl",
              show_default=True,
              help="jsonl: one decision (or error record) per input row, in order, then one "
                   "{\"campaign_finding\": …} line per finding about a whole campaign. The campaign report "
                   "(docs/campaign.md): html, a self-contained page in French with charts; json, its "
                   "aggregates; csv, one row per dossier (`;`, UTF-8 with BOM, for Excel in French).")
@click.option("--trace", is_flag=True, help="Include each decision's explanation trace.")
@output_option("Write here (atomically) instead of stdout; html: each dossier's own report goes to "
               "the folder FILE's name with `.dossiers`, beside it.")
@click.option("--no-dossier-reports", is_flag=True, help="html: do not write each dossier's own report.")
@quiet_option("No per-row errors or summary on stderr.")
def campaign_cmd(dossiers: tuple[str, ...], history: str | None, policy_spec: str | None, fmt: str, trace: bool,
                 output: str | None, no_dossier_reports: bool, quiet: bool) -> None:
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
    stdin_once(dossiers)
    policy = chosen_policy(policy_spec)
    rows = list(_campaign_inputs(dossiers))
    reports = None     # the campaign report's folder of the dossiers' own reports (html)
    if fmt == "html" and output not in (None, "-") and not no_dossier_reports:
        reports = feature("campaign_report", "campaign --format html").reports_dir(Path(output))
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
                error = dossier_error_record(path, line, index, row)
            else:
                counts["eligible" if row.eligible else "ineligible"] += 1
                records.append(row.to_dict(trace) if fmt == "jsonl" else row)
                continue
        counts["errors"] += 1
        if counts["errors"] <= MAX_ERROR_MESSAGES:
            say_row_error(path, line, index, error, quiet=quiet)
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
    say(summary({**counts, "internal": 0}) + f"; {on_dossiers} campaign warning(s) on dossiers, "
        f"{len(result.campaign_findings)} about a whole campaign", quiet=quiet)
    exit_with(batch_exit_code(counts))
