"""`esms-rules diff`: the command, and both policies over a corpus of dossiers (docs/diff.md)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs
import click

from .campaign import Finding, HistoryError
from .diagnostics import DossierError
from .diff_change import change, class_key
from .diff_render import render_html, render_json, render_text
from .evaluate import Policy

if TYPE_CHECKING:
    from .diff import Report


# ---- corpus ----------------------------------------------------------------------------------
def corpus_impact(report: Report, old: Policy, new: Policy, dossiers: Iterable[dict],
                  history: str | Iterable[dict] | None = None) -> dict:
    """Both policies over a corpus: per class the count and the ids, and what no class explains.

    A dossier is in a class when its change is the class's change; a change that is a union
    of classes' changes is counted under each of them (`combined`); anything else is listed
    in `unexplained`. When either policy has campaign rules, the corpus is also run as a
    campaign by each (with `history`, the funded-structures file or rows): `campaign` lists
    the findings that appear, disappear or change (`campaign_impact`).
    """
    dossiers = list(dossiers)
    by_key = {x.key: i for i, x in enumerate(report.differences)}
    counts: list[dict] = [{"summary": x.summary, "count": 0, "ids": []} for x in report.differences]
    combined, unexplained, errors, total, same = [], [], [], 0, 0
    for d in dossiers:
        total += 1
        ident = d.get("id") if isinstance(d, dict) else None
        try:
            atoms = change(old.evaluate(d, trace=False), new.evaluate(d, trace=False))
        except DossierError as e:
            errors.append({"id": ident, "error": str(e).splitlines()[0]})
            continue
        key = class_key(atoms)
        if not atoms:
            same += 1
        elif key in by_key:
            c = counts[by_key[key]]
            c["count"] += 1
            c["ids"].append(ident)
        else:
            parts = [i for i, x in enumerate(report.differences) if x.key <= key]
            covered = frozenset().union(*(report.differences[i].key for i in parts)) if parts else frozenset()
            if covered == key:
                combined.append({"id": ident, "classes": [i + 1 for i in parts]})
            else:
                unexplained.append({"id": ident, "change": [list(a) for a in sorted(key - covered, key=repr)]})
    out = {"dossiers": total, "unchanged": same, "classes": counts, "combined": combined,
           "unexplained": unexplained, "invalid": errors}
    if old.checked.campaign_rules or new.checked.campaign_rules:
        out["campaign"] = campaign_impact(old, new, dossiers, history)
    return out


def _brief(f: Finding) -> dict:
    return {"code": f.code, "rule": f.rule, "severity": f.severity, "dossier": f.dossier, "finess": f.finess,
            "others": list(f.others)}


def campaign_impact(old: Policy, new: Policy, dossiers: list[dict],
                    history: str | Iterable[dict] | None = None) -> dict:
    """The corpus decided as one campaign by each policy (`campaign.evaluate_campaign`): the
    findings of each, matched by rule, code, dossier and structure; `changed` are those whose
    severity or other dossiers differ (messages are not compared)."""
    from .campaign import evaluate_campaign
    history = list(history) if history is not None and not isinstance(history, str) else history
    found = [evaluate_campaign(dossiers, policy=p, history=history).findings for p in (old, new)]

    def by_key(findings: list[Finding]) -> dict:
        return {(f.rule, f.code, f.dossier, f.finess, f.campaign): f for f in findings}
    a, b = by_key(found[0]), by_key(found[1])
    changed = [{**_brief(b[k]), "old_others": list(a[k].others), "old_severity": a[k].severity}
               for k in b if k in a and (a[k].others, a[k].severity) != (b[k].others, b[k].severity)]
    return {"old": len(found[0]), "new": len(found[1]), "gained": [_brief(b[k]) for k in b if k not in a],
            "lost": [_brief(a[k]) for k in a if k not in b], "changed": changed}


# ---- the command -----------------------------------------------------------------------------
def read_corpus(path: str) -> list[dict]:
    """Dossiers from a JSON Lines file, or from a Parquet file (pyarrow, the `columnar` extra)."""
    if path.lower().endswith(".parquet"):
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("reading Parquet needs pyarrow: pip install 'esms-rules[columnar]'") from None
        return pq.read_table(path).to_pylist()
    out = []
    with open(path, "rb") as f:
        for n, raw in enumerate(f, start=1):
            if raw.strip():
                try:
                    out.append(json.loads(raw))
                except ValueError as e:
                    raise ValueError(f"{path}:{n}: not JSON ({e})") from None
    return out


@click.command("diff", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("old_spec", metavar="OLD")
@click.argument("new_spec", metavar="NEW")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True,
              help="text: French, for people; json: for tools; html: a self-contained report.")
@click.option("--corpus", metavar="FILE", type=click.Path(dir_okay=False),
              help="Also evaluate both policies over these dossiers (.jsonl or .parquet).")
@click.option("--searches", type=click.IntRange(1, 10**6), default=3000, show_default=True,
              help="Dossiers drawn by the search.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the search (same seed, same report).")
@click.option("--max-structures", "max_items", type=click.IntRange(0, 1000), default=60, show_default=True,
              help="Largest list the search draws.")
@click.option("--history", metavar="FILE", type=click.Path(dir_okay=False),
              help="With --corpus: the funded-structures CSV file that the campaign rules join (docs/campaign.md).")
@click.option("--output", "-o", metavar="FILE", type=click.Path(dir_okay=False), help="Write the report there.")
def diff_command(old_spec, new_spec, fmt, corpus, searches, seed, max_items, history, output):
    """Which dossiers OLD and NEW (bundled names or paths) decide differently, and why; and
    which campaign rules (across the dossiers of a campaign) differ.

    Exit 0 when no difference is found, 1 when some are (like `diff`), 2 on bad input.
    """
    from .cli import InputError, atomic_output, load_policy_or_exit
    from .diff import diff
    if history is not None and corpus is None:
        raise click.UsageError("--history goes with --corpus: the campaign rules join it over the corpus")
    old, new = load_policy_or_exit(old_spec), load_policy_or_exit(new_spec)
    report = diff(old, new, searches=searches, seed=seed, max_items=max_items)
    if corpus is not None:
        try:
            rows = read_corpus(corpus)
            report = attrs.evolve(report, corpus=corpus_impact(report, old, new, rows, history))
        except (OSError, ValueError, HistoryError) as e:
            raise InputError(str(e)) from None
    if fmt == "json":
        text = render_json(report)
    elif fmt == "html":
        text = render_html(report)
    else:
        text = render_text(report)
    with atomic_output(output) as out:
        out.write(text)
    click.get_current_context().exit(1 if report.differs else 0)
