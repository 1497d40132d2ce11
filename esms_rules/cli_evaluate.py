"""`esms-rules evaluate` and `esms-rules explain`: decide dossiers with the policy in force (or
--policy), as JSON records for programs or as an explanation for people.

`evaluate` is the batch command: every input row (`cli_rows`) gives one output record, in order,
written as it comes, so that memory stays flat whatever the batch's length.
"""
from __future__ import annotations

import gc
import json
import os
import sys
import traceback
from collections.abc import Iterator

import click

from . import jsonio
from .cli_common import (
    EXIT_INPUT,
    EXIT_OK,
    atomic_output,
    chosen_policy,
    example_option,
    example_path,
    exit_with,
    feature,
    output_option,
    policy_option,
    quiet_option,
    read_json,
    say,
    stdin_once,
    warn,
)
from .cli_rows import (
    MAX_ERROR_MESSAGES,
    batch_exit_code,
    dossier_error_record,
    error_record,
    open_input,
    say_row_error,
    summary,
)
from .diagnostics import DossierError, EsmsError

GC_EVERY = 10_000   # rows between two runs of the cyclic garbage collector (see `evaluate`)


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


@click.command()
@click.argument("dossiers", nargs=-1, metavar="DOSSIER...",
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@example_option
@policy_option("Evaluate with this policy (bundled name or .esms file) instead of the one in force "
               "for each dossier (a warning tells when it is not the one in force).")
@click.option("--format", "fmt", type=click.Choice(["json", "jsonl"]),
              help="json: one indented decision, or an array of them; jsonl: one compact line per dossier "
                   "(and: read stdin as JSON Lines). Default: json for one .json file, else jsonl.")
@click.option("--trace", "trace_opt", type=click.Choice(["compact", "full", "none"]), default=None,
              help="The explanation trace in each decision: compact (the default: the rules that decided, "
                   "with what they read), full (every rule evaluated, every definition), none.")
@click.option("--no-trace", is_flag=True, help="Leave out the explanation trace (the same as --trace none).")
@output_option("Write here (atomically: a temporary file moved into place at the end) instead of stdout.")
@click.option("--fail-on-ineligible", is_flag=True, help="Exit 1 if any decision is ineligible.")
@quiet_option("No progress bar, warnings, per-row errors or summary on stderr.")
@click.option("--partial", is_flag=True,
              help="Dossiers still being written: a fact absent, or null where null is not allowed, is unknown; "
                   "each decision says what is certain and what depends on which facts (docs/partial.md). No trace.")
def evaluate(dossiers: tuple[str, ...], example: str | None, policy_spec: str | None, fmt: str | None,
             trace_opt: str | None, no_trace: bool, output: str | None, fail_on_ineligible: bool, quiet: bool,
             partial: bool) -> None:
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
    stdin_once(dossiers)
    policy = chosen_policy(policy_spec)
    if any(str(p).endswith(".parquet") for p in dossiers):   # columnar: docs/columnar.md
        from .arrow import evaluate_parquet_cli
        counts, problem = evaluate_parquet_cli(dossiers, policy, output)
        if problem:
            click.echo(f"esms-rules: {problem}", err=True)
            exit_with(EXIT_INPUT)
        say(f"esms-rules: {counts['rows']} dossiers: {counts['eligible']} eligible, "
            f"{counts['ineligible']} ineligible, {counts['errors']} errors", quiet=quiet)
        exit_with(batch_exit_code(counts, fail_on_ineligible))
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
                        error = dossier_error_record(path, line, index, e)
                    except Exception as e:     # a bug: keep the row, report it, go on
                        if counts["internal"] == 0:
                            traceback.print_exc()
                        counts["internal"] += 1
                        ident = dossier.get("id") if isinstance(dossier, dict) else None
                        error = error_record(path, line, ident, "internal_error",
                                              [{"path": "$", "message": f"{type(e).__name__}: {e}"}], index)
                counts["errors"] += 1
                if reported < MAX_ERROR_MESSAGES:
                    say_row_error(path, line, index, error, quiet=quiet)
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
            return jsonio.dumps(error_record("-", None, ident, "internal_error",
                                             [{"path": "$", "message": f"cannot write this decision: {e}"}]),
                                indent=indent)

    try:
        # Rows make no reference cycle: the cyclic collector, run as often as allocations ask,
        # would find nothing and rescan the policies' objects each time. It is paused, and run
        # once every GC_EVERY rows, so that memory stays flat whatever the batch's length.
        with atomic_output(output, inputs=dossiers) as out, collector_paused():
            _write_records(out, results(), "single" if single else out_fmt)
    finally:
        if bar is not None:
            bar.close()
    if not single:
        say(summary(counts), quiet=quiet)
    exit_with(batch_exit_code(counts, fail_on_ineligible))


def _write_records(out, texts: Iterator[str], layout: str) -> None:
    """Write the records' JSON texts as they come: one per line ("jsonl"), the one record
    ("single"), or an indented JSON array ("json")."""
    if layout == "jsonl":
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= 256:      # fewer, larger writes
                batch.append("")
                out.write("\n".join(batch))
                batch.clear()
        if batch:
            batch.append("")
            out.write("\n".join(batch))
    elif layout == "single":
        for text in texts:
            out.write(text + "\n")
    else:
        first = True
        out.write("[")
        for text in texts:
            item = text.replace("\n", "\n  ")
            out.write(("\n  " if first else ",\n  ") + item)
            first = False
        out.write("\n]\n" if not first else "]\n")


# ---- explain ---------------------------------------------------------------------------
@click.command()
@click.argument("dossier", metavar="DOSSIER", required=False,
                type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@example_option
@policy_option("Policy to use (default: the one in force).")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "html", "json"]), default="text",
              show_default=True, help="text, Markdown or a standalone HTML page for people; json: the trace.")
@click.option("--suggest", is_flag=True,
              help="Add « Ce qui changerait la décision »: the smallest changes that would lift each blocking reason.")
@click.option("--trace", "shape", type=click.Choice(["compact", "full"]), default="compact", show_default=True,
              help="compact: the rules that decided, with what they read; "
                   "full: every rule evaluated, every definition.")
@output_option()
@quiet_option("No warning on stderr.")
@click.option("--partial", is_flag=True, help="A dossier still being written (docs/partial.md): each value and reason "
                                                "acquis, exclu or dépend de the unknown facts; text or json only.")
def explain(dossier: str | None, example: str | None, policy_spec: str | None, fmt: str, suggest: bool, shape: str,
            output: str | None, quiet: bool, partial: bool) -> None:
    """Explain the decision on one dossier: each rule, the facts it read, its outcome.

    DOSSIER is a .json file or `-` for stdin; --example NAME takes a bundled example instead.
    text, markdown and html are in French, for people (the HTML page is standalone and
    printable); json is the trace tree (`Decision.trace.to_dict()`). The trace is compact (the
    deciding path) unless --trace full.
    """
    import esms_rules
    if (dossier is None) == (example is None):
        raise click.UsageError("give one DOSSIER (a file, or - for stdin) or --example NAME")
    policy = chosen_policy(policy_spec)
    path = example_path(example) if example is not None else dossier
    assert path is not None     # one of DOSSIER and --example: checked above
    data = read_json(path)
    CampaignCheck(policy, quiet)(data)
    policy = policy or esms_rules.policy_for(data)
    if partial and (fmt not in ("text", "json") or suggest):
        raise click.UsageError("--partial explains as text or json, without --suggest")
    text = _explanation(policy, data, fmt, suggest, shape, partial)
    with atomic_output(output, inputs=[dossier] if dossier else []) as out:
        out.write(text if text.endswith("\n") else text + "\n")
    exit_with(EXIT_OK)


def _explanation(policy, data, fmt: str, suggest: bool, shape: str, partial: bool) -> str:
    """The text `explain` writes: the decision explained in `fmt`, or (json) its trace."""
    if partial:
        from .partial import render_text
        decision = policy.evaluate(data, partial=True)
        return jsonio.dumps(decision.to_dict(trace=False), indent=2) if fmt == "json" \
            else jsonio.terminal_safe(render_text(decision))
    decision = policy.evaluate(data, trace=shape)
    suggestions = None
    if suggest:
        suggestions = feature("counterfactual", "explain --suggest").suggest(policy, data, decision=decision)
    if fmt == "json":
        doc = decision.trace.to_dict()
        if suggestions is not None:
            doc["suggestions"] = [s.to_dict() for s in suggestions]
        return json.dumps(doc, ensure_ascii=False, indent=2)
    text = feature("render", "explain").render(decision, fmt, suggestions=suggestions)
    if fmt != "html":       # no control or bidi character of a dossier reaches a terminal
        text = jsonio.terminal_safe(text)
    return text
