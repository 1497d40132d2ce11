"""Reading the server's requests: query parameters, JSON bodies, the diff's request, and the
4xx answers that list every problem by its JSON path (`esms_rules.server`, docs/api.md)."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from esms_rules import jsonio

if TYPE_CHECKING:
    from esms_rules.server import Policies

JSON = "application/json"
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines")
EXPLANATION_TYPES = {"text": "text/plain; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
                     "html": "text/html; charset=utf-8"}


# ---- errors as bodies ----------------------------------------------------------------------
class BadRequest(Exception):
    """A 4xx answer: {"error": kind, "problems": [{"path", "message"}, …]} (and "dossier")."""

    def __init__(self, status: int, error: str, problems: list[dict], dossier=None):
        super().__init__(error)
        self.status, self.error, self.problems, self.dossier = status, error, problems, dossier

    def body(self) -> dict:
        out = {"error": self.error, "problems": self.problems}
        if self.dossier is not None:
            out = {"dossier": self.dossier, **out}
        return out


def _problem(path: str, message: str) -> list[dict]:
    return [{"path": path, "message": message}]


def _bool_param(params, name: str, default: bool) -> bool:
    raw = params.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes"):
        return True
    if raw.lower() in ("0", "false", "no"):
        return False
    raise BadRequest(400, "invalid_parameter", _problem(f"?{name}", f"expected true or false, found {raw!r}"))


def _trace_param(params) -> bool | str:
    """`?trace`: true or compact (the default: the compact trace), full (the full tree), false or
    none (no trace), as `Policy.evaluate`'s `trace` takes them (docs/trace.md)."""
    raw = params.get("trace")
    if raw is None or raw.lower() in ("1", "true", "yes", "compact"):
        return True
    if raw.lower() == "full":
        return "full"
    if raw.lower() in ("0", "false", "no", "none"):
        return False
    raise BadRequest(400, "invalid_parameter",
                     _problem("?trace", f"expected true, false, compact, full or none, found {raw!r}"))


def _parse(data: bytes, line: int | None = None):
    """One JSON text, strictly (`jsonio.loads`: a duplicate key, a lone surrogate, NaN or an
    over-long integer refused at its path); `line`: its line in a JSON Lines body."""
    try:
        return jsonio.loads(data)
    except jsonio.JsonInputError as e:
        problems = []
        for p in e.problems:
            where = p.path if line is None else f"$[{line - 1}]" + ("" if p.path == "$" else
                                                                    ("" if p.path.startswith("[") else ".") + p.path)
            problems.extend(_problem(where, p.message))
        raise BadRequest(400, "invalid_json", problems) from None


DIFF_TYPES = {"json": JSON, "text": "text/plain; charset=utf-8", "html": "text/html; charset=utf-8"}
DIFF_LIMITS = {"searches": (1, 3000, 300), "seed": (0, 2**31 - 1, 0), "max_structures": (0, 200, 60)}


def has_diff() -> bool:
    """Whether this installation has the semantic diff (`esms_rules.diff`)."""
    import importlib.util
    return importlib.util.find_spec("esms_rules.diff") is not None


def diff_request(policies: Policies, value) -> tuple:
    """(old policy, new policy, options of diff()) from a body {"old", "new", "searches", "seed",
    "max_structures"}, or a 4xx listing every problem by path. Only served policies: a client
    never names a file of the server."""
    if not isinstance(value, dict):
        raise BadRequest(422, "invalid_request", _problem("$", "expected an object {\"old\": id, \"new\": id}"))
    problems, chosen = [], {}
    for side in ("old", "new"):
        ident = value.get(side)
        if not isinstance(ident, str) or ident not in policies.by_id:
            problems += _problem(side, f"expected the id of a served policy ({', '.join(sorted(policies.by_id))}), "
                                       f"found {json.dumps(ident)}")
        else:
            chosen[side] = policies.by_id[ident]
    options = {}
    for name, (low, high, default) in DIFF_LIMITS.items():
        v = value.get(name, default)
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            problems += _problem(name, f"expected a whole number from {low} to {high}, found {json.dumps(v)}")
        options["max_items" if name == "max_structures" else name] = v
    unknown = sorted(set(value) - {"old", "new", *DIFF_LIMITS})
    problems += [{"path": k, "message": "unknown field"} for k in unknown]
    if problems:
        raise BadRequest(422, "invalid_request", problems)
    return chosen["old"], chosen["new"], options


def _jsonl_rows(data: bytes) -> list:
    """(dossier, None) or (None, error record) for each non-blank line."""
    rows: list[tuple[Any, dict[str, Any] | None]] = []
    for n, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            rows.append((_parse(raw), None))
        except BadRequest as e:
            rows.append((None, {"line": n, "dossier": None, "error": e.error, "problems": e.problems}))
    return rows
