"""The dossiers a batch command reads, row by row, and the error record of a row that is not one.

A DOSSIER argument is a .json file (one dossier, or an array of them), a .jsonl file (one per
line) or `-` (standard input, its format detected). Every row becomes one output record: its
decision, or an error record {"file", "line", "dossier", "error", "problems"} ("index" too for an
array element). `esms-rules evaluate` and `esms-rules campaign` read their inputs here.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import json
from collections.abc import Iterable, Iterator

import click

from .cli_common import (
    EXIT_FAIL,
    EXIT_INPUT,
    EXIT_INTERNAL,
    EXIT_OK,
    InputError,
    os_message,
    parse_json,
    read_bytes,
    say,
    shown,
    stdin,
)
from .diagnostics import DossierError

MAX_ERROR_MESSAGES = 20   # error rows reported on stderr during a batch; the records hold them all
Row = tuple[int | None, int | None, object, dict | None]   # line, index in a JSON array, dossier, error record


# ---- error records -------------------------------------------------------------------------------
def error_record(file: str, line: int | None, dossier, error: str, problems: list[dict],
                 index: int | None = None) -> dict:
    record = {"file": shown(file), "line": line, "dossier": dossier if isinstance(dossier, str) else None,
              "error": error, "problems": problems}
    if index is not None:
        record["index"] = index
    return record


def dossier_error_record(file: str, line: int | None, index: int | None, e: DossierError) -> dict:
    """The error record of a row that breaks the contract."""
    d = e.to_dict()
    return error_record(file, line, d["dossier"], d["error"], d["problems"], index)


def _invalid_json(path: str, line: int | None, e: ValueError) -> dict:
    problems = getattr(e, "problems", None) or []
    return error_record(path, line, None, "invalid_json",
                        [{"path": p.path, "message": p.message} for p in problems]
                        or [{"path": "$", "message": str(e)}])


def _first_problem(record: dict) -> str:
    probs = record.get("problems") or []
    head = f"{probs[0]['path']}: {probs[0]['message']}" if probs else record.get("error", "error")
    return head + (f" (and {len(probs) - 1} more)" if len(probs) > 1 else "")


def say_row_error(path: str, line: int | None, index: int | None, record: dict, *, quiet: bool) -> None:
    """A row's error on stderr: where it is (file, line, array index), its kind, its first problem."""
    where = shown(path) + (f":{line}" if line is not None else "") + (f"[{index}]" if index is not None else "")
    say(f"esms-rules: {where}: " + click.style(record["error"], fg="red") + f": {_first_problem(record)}",
        quiet=quiet)


def summary(counts: dict) -> str:
    """The closing line of a batch on stderr: how many dossiers, eligible, ineligible, errors."""
    total = sum(counts.values()) - counts["internal"]
    errors = f"{counts['errors']} error{'s' * (counts['errors'] != 1)}"
    return (f"esms-rules: {total} dossier{'s' * (total != 1)}: "
            + click.style(f"{counts['eligible']} eligible", fg="green") + ", "
            + click.style(f"{counts['ineligible']} ineligible", fg="yellow" if counts["ineligible"] else None) + ", "
            + click.style(errors, fg="red" if counts["errors"] else None)
            + (f", {counts['undecided']} undecided (--partial)" if counts.get("undecided") else ""))


def batch_exit_code(counts: dict, fail_on_ineligible: bool = False) -> int:
    """A batch's exit code: 3 if a row met a bug, else 2 if a row was in error, else 1 if asked to
    fail on an ineligible decision and there is one, else 0."""
    if counts.get("internal"):
        return EXIT_INTERNAL
    if counts["errors"]:
        return EXIT_INPUT
    return EXIT_FAIL if fail_on_ineligible and counts["ineligible"] else EXIT_OK


# ---- reading rows --------------------------------------------------------------------------------
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
                yield n, None, parse_json(raw), None
            except ValueError as e:
                yield n, None, None, _invalid_json(path, n, e)
    finally:
        if close is not None:
            close()


def _document(path: str, data: bytes) -> tuple[str, Iterator[Row]]:
    """One JSON document: a dossier ("single") or an array of dossiers ("array")."""
    try:
        value = parse_json(data)
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
            raise InputError(os_message(e)) from None
        return "jsonl", _jsonl_rows(path, _numbered(stream), stream.close)
    if path != "-":
        return _document(path, read_bytes(path))
    lines = _numbered(stdin())
    if fmt == "jsonl":
        return "jsonl", _jsonl_rows(path, lines)
    head: list[tuple[int, bytes]] = []
    for n, raw in lines:
        head.append((n, raw))
        if raw.strip():
            break
    with contextlib.suppress(ValueError):
        if head and isinstance(parse_json(head[-1][1]), dict):
            for n, raw in lines:
                head.append((n, raw))
                if raw.strip():
                    return "jsonl", _jsonl_rows(path, itertools.chain(head, lines))
    data = b"".join(raw for _, raw in itertools.chain(head, lines))
    if _many_values(data):
        return "jsonl", _jsonl_rows(path, _numbered(io.BytesIO(data)))
    return _document(path, data)
