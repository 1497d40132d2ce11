"""esms-rules over HTTP: `esms-rules serve` (the `server` extra: Starlette and uvicorn).

Why Starlette rather than FastAPI: the API has five routes whose bodies are the contract's
JSON, validated by the policy's own validator (not by a second model of the dossier), and
whose OpenAPI description embeds the JSON Schemas that `jsonschema.py` generates from the
policies. FastAPI would add pydantic for nothing; Starlette is the ASGI toolkit under it, and
uvicorn the server both use.

Routes (docs/api.md has the details and examples):

    POST /v1/decisions      one dossier (JSON object), or a batch: a JSON array or JSON Lines
    POST /v1/explanations   one dossier, explained in French: text, Markdown or HTML
    GET  /v1/policies       the policies served; /v1/policies/{id}/schema: a dossier schema
    GET  /healthz           liveness, with the engine version and the number of policies
    GET  /openapi.json      the OpenAPI 3.1 description (read at /docs)

The decisions are the library's: a single decision's body is exactly `Decision.to_json()`,
a batch's are those bytes in a JSON array or one per line. Bad input is a 4xx whose body lists
every problem by its JSON path; it is never a 500. Each request writes one access-log line and
each decision one decision-log line, both JSON, on the `esms_rules.server.access` and
`esms_rules.server.decisions` loggers (stderr, or --log-file).
"""
from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any

import attrs

import esms_rules
from esms_rules import __version__, jsonio
from esms_rules.diagnostics import DossierError, Problem

ENV_CONFIG = "ESMS_RULES_SERVER_CONFIG"    # how `serve --workers N` hands its options to each worker
JSON = "application/json"
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines")
EXPLANATION_TYPES = {"text": "text/plain; charset=utf-8", "markdown": "text/markdown; charset=utf-8",
                     "html": "text/html; charset=utf-8"}

access_log = logging.getLogger("esms_rules.server.access")
decision_log = logging.getLogger("esms_rules.server.decisions")


class MissingExtra(Exception):
    """The `server` extra is not installed."""


@attrs.frozen
class ServerConfig:
    policies: tuple[str, ...] = ()     # names or paths; empty: every bundled policy
    max_body: int = 10_000_000         # bytes
    max_batch: int = 10_000            # dossiers in one request
    log_dossiers: bool = False         # whole dossiers in the decision log (personal data)
    log_file: str | None = None        # JSON-lines logs appended here instead of stderr

    def to_env(self) -> str:
        return json.dumps(attrs.asdict(self))

    @classmethod
    def from_env(cls) -> ServerConfig:
        raw = os.environ.get(ENV_CONFIG)
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(**{**data, "policies": tuple(data.get("policies", ()))})


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


# ---- the policies served ----------------------------------------------------------------------
class Policies:
    """The policies a server decides with, and the choice of one for a dossier."""

    def __init__(self, specs: tuple[str, ...]):
        self.explicit = bool(specs)
        loaded = [esms_rules.load_policy(s) for s in specs] if specs else list(esms_rules.bundled_policies())
        self.by_id = {p.id: p for p in loaded}

    def for_dossier(self, dossier, policy_id: str | None):
        if policy_id is not None:
            policy = self.by_id.get(policy_id)
            if policy is None:
                raise BadRequest(404, "unknown_policy", _problem(
                    "?policy", f"no policy {policy_id!r} is served here; served: {', '.join(sorted(self.by_id))}"))
            return policy
        if not self.explicit:
            return esms_rules.policy_for(dossier)      # raises DossierError, problems by path
        if not isinstance(dossier, dict):
            raise DossierError([Problem("$", "a dossier is a JSON object")])
        key = (dossier.get("programme", "esms-numerique"), dossier.get("campaign"))
        found = [p for p in self.by_id.values() if (p.programme, p.campaign) == key]
        if not found:
            served = ", ".join(f"{p.id} ({p.programme} {p.campaign})" for p in self.by_id.values())
            ident = dossier.get("id")
            raise DossierError([Problem("campaign", f"no policy served here is in force for programme {key[0]!r} "
                                                    f"and campaign {key[1]!r} (served: {served})")],
                               ident if isinstance(ident, str) else None)
        return max(found, key=lambda p: str(p.header.get("effective", "")))

    def listing(self) -> list[dict]:
        rows = []
        for p in sorted(self.by_id.values(), key=lambda p: (str(p.programme), p.campaign or 0, p.id)):
            h = p.header
            rows.append({"id": p.id, "programme": h.get("programme"), "campaign": h.get("campaign"),
                         "effective": None if h.get("effective") is None else str(h.get("effective")),
                         "sha256": p.sha256, "instruction": h.get("instruction"),
                         "schema": f"/v1/policies/{p.id}/schema"})
        return rows


# ---- logs ---------------------------------------------------------------------------------------
class JsonLines(logging.Formatter):
    """One JSON object per line: the record's dict message, with a UTC time stamp and the log name."""

    def format(self, record: logging.LogRecord) -> str:
        body = record.msg if isinstance(record.msg, dict) else {"message": record.getMessage()}
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        return json.dumps({"ts": stamp, "log": record.name.rsplit(".", 1)[-1], **body},
                          ensure_ascii=False, default=str)


def setup_logs(config: ServerConfig) -> None:
    """Route the server's access and decision logs to stderr (or the log file), as JSON lines."""
    parent = logging.getLogger("esms_rules.server")
    for h in list(parent.handlers):
        parent.removeHandler(h)
    handler = (logging.FileHandler(config.log_file, encoding="utf-8") if config.log_file
               else logging.StreamHandler(sys.stderr))
    handler.setFormatter(JsonLines())
    parent.addHandler(handler)
    parent.setLevel(logging.INFO)
    parent.propagate = False


def verdict(decision) -> str:
    if not decision.recevable:
        return "irrecevable"
    return "eligible" if decision.eligible else "ineligible"


def log_decision(result, dossier, policy, seconds: float, log_dossiers: bool) -> None:
    if not decision_log.isEnabledFor(logging.INFO):
        return
    entry: dict[str, Any]
    if isinstance(result, DossierError):
        entry = {"dossier": result.dossier_id if isinstance(result.dossier_id, str) else None,
                 "policy": None if policy is None else {"id": policy.id, "sha256": policy.sha256},
                 "verdict": "invalid", "codes": [], "problems": [p.path for p in result.problems]}
    else:
        entry = {"dossier": result.dossier, "policy": {"id": result.policy_id, "sha256": result.sha256},
                 "verdict": verdict(result), "codes": [r.code for r in result.reasons],
                 "structure_codes": sorted({r.code for s in result.structures for r in s.reasons}),
                 "warnings": [w.code for w in result.warnings]}
    entry["duration_ms"] = round(seconds * 1000, 3)
    if log_dossiers:
        entry["dossier_data"] = dossier
    decision_log.info(entry)


# ---- the work, off the event loop ------------------------------------------------------------------
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


class Engine:
    """What the routes call: decisions and explanations, with their decision-log lines."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.policies = Policies(config.policies)

    def decide(self, dossier, policy_id, trace: bool | str):
        """The Decision, or the DossierError of a dossier that breaks the contract; logged either way."""
        start = time.perf_counter()
        policy = None
        try:
            policy = self.policies.for_dossier(dossier, policy_id)
            result = policy.evaluate(dossier, trace=trace)
        except DossierError as e:
            result = e
        log_decision(result, dossier, policy, time.perf_counter() - start, self.config.log_dossiers)
        return result

    def single(self, dossier, policy_id, trace: bool | str) -> tuple[int, bytes]:
        result = self.decide(dossier, policy_id, trace)
        if isinstance(result, DossierError):
            raise BadRequest(422, "invalid_dossier", result.to_dict()["problems"], result.to_dict()["dossier"])
        return 200, result.to_json(trace is not False).encode("utf-8")

    def batch(self, rows: list, policy_id, trace: bool | str) -> list[str]:
        """One JSON text per row, in order: the decision, or an error record with the row's index."""
        out = []
        for index, (dossier, error) in enumerate(rows):
            if error is None:
                result = self.decide(dossier, policy_id, trace)
                if not isinstance(result, DossierError):
                    out.append(result.to_json(trace is not False))
                    continue
                error = result.to_dict()
            out.append(json.dumps({"index": index, **error}, ensure_ascii=False))
        return out

    def explain(self, dossier, policy_id, fmt: str, suggest: bool) -> str:
        from esms_rules import render
        result = self.decide(dossier, policy_id, True)
        if isinstance(result, DossierError):
            raise BadRequest(422, "invalid_dossier", result.to_dict()["problems"], result.to_dict()["dossier"])
        suggestions = None
        if suggest:
            from esms_rules import counterfactual
            policy = self.policies.for_dossier(dossier, policy_id)
            suggestions = counterfactual.suggest(policy, dossier, decision=result)
        return render.render(result, fmt, suggestions=suggestions)


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


# ---- the ASGI application ---------------------------------------------------------------------------
def create_app(config: ServerConfig | None = None):
    """The Starlette application serving `config` (default: every bundled policy)."""
    try:
        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.exceptions import HTTPException
        from starlette.requests import Request
        from starlette.responses import HTMLResponse, JSONResponse, Response
        from starlette.routing import Route
    except ImportError as e:
        raise MissingExtra("`esms-rules serve` needs the server extra: pip install 'esms-rules[server]' "
                           f"({e})") from None
    config = config or ServerConfig()
    setup_logs(config)
    engine = Engine(config)
    openapi = openapi_document(engine)

    def error_response(e: BadRequest) -> Response:
        return JSONResponse(e.body(), status_code=e.status)

    async def body_of(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > config.max_body:
            raise BadRequest(413, "too_large", _problem("$", f"the body has {declared} bytes; at most "
                                                             f"{config.max_body} are accepted"))
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body:
                raise BadRequest(413, "too_large", _problem("$", f"the body exceeds {config.max_body} bytes"))
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data.strip():
            raise BadRequest(400, "invalid_json", _problem("$", "the body is empty: send a dossier"))
        return data

    def media_type(request: Request) -> str:
        return request.headers.get("content-type", JSON).split(";")[0].strip().lower()

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                return await handler(request)
            except BadRequest as e:
                return error_response(e)
            except Exception:        # a bug of esms-rules: logged with its traceback, said as such
                access_log.error({"event": "internal_error", "path": request.url.path,
                                  "traceback": traceback.format_exc()})
                return JSONResponse({"error": "internal_error", "problems": _problem(
                    "$", "internal error of esms-rules (logged on the server)")}, status_code=500)
        return endpoint

    async def decisions(request: Request) -> Response:
        params = request.query_params
        trace = _trace_param(params)
        policy_id = params.get("policy")
        kind = media_type(request)
        data = await body_of(request)
        if kind in JSON_LINES:
            rows = _jsonl_rows(data)
            lines = True
        else:       # JSON whatever the declared type (curl's default form type included)
            value = _parse(data)
            if isinstance(value, dict):
                status, body = await run_in_threadpool(engine.single, value, policy_id, trace)
                return Response(body, status_code=status, media_type=JSON)
            if not isinstance(value, list):
                raise BadRequest(422, "invalid_dossier", _problem("$", "expected a dossier (a JSON object) or a "
                                                                       "batch (a JSON array of dossiers)"))
            rows, lines = [(d, None) for d in value], False
        if len(rows) > config.max_batch:
            raise BadRequest(413, "too_many_dossiers", _problem(
                "$", f"{len(rows)} dossiers in one request; at most {config.max_batch} are accepted"))
        if policy_id is not None:
            engine.policies.for_dossier(None, policy_id)     # an unknown policy: one 404, not one per row
        texts = await run_in_threadpool(engine.batch, rows, policy_id, trace)
        if lines:
            return Response("".join(t + "\n" for t in texts).encode("utf-8"), media_type=JSON_LINES[0])
        return Response(("[" + ",".join(texts) + "]").encode("utf-8"), media_type=JSON)

    async def explanations(request: Request) -> Response:
        params = request.query_params
        fmt = params.get("format")
        if fmt is None:
            accept = request.headers.get("accept", "")
            fmt = "html" if "text/html" in accept else "markdown" if "text/markdown" in accept else "text"
        if fmt not in EXPLANATION_TYPES:
            raise BadRequest(400, "invalid_parameter", _problem("?format", f"expected text, markdown or html, "
                                                                           f"found {fmt!r}"))
        suggest = _bool_param(params, "suggest", False)
        value = _parse(await body_of(request))
        if not isinstance(value, dict):
            raise BadRequest(422, "invalid_dossier", _problem("$", "expected one dossier (a JSON object)"))
        text = await run_in_threadpool(engine.explain, value, params.get("policy"), fmt, suggest)
        return Response(text.encode("utf-8"), media_type=EXPLANATION_TYPES[fmt])

    async def policies(request: Request) -> Response:
        return JSONResponse(engine.policies.listing())

    async def diff(request: Request) -> Response:
        fmt = request.query_params.get("format", "json")
        if fmt not in DIFF_TYPES:
            raise BadRequest(400, "invalid_parameter",
                             _problem("?format", f"expected json, text or html, found {fmt!r}"))
        value = _parse(await body_of(request))
        old, new, options = diff_request(engine.policies, value)
        from esms_rules import diff as semantic_diff
        report = await run_in_threadpool(semantic_diff.diff, old, new, **options)
        render = {"json": semantic_diff.render_json, "text": semantic_diff.render_text,
                  "html": semantic_diff.render_html}[fmt]
        return Response(render(report).encode("utf-8"), media_type=DIFF_TYPES[fmt])

    async def policy_schema(request: Request) -> Response:
        from esms_rules.jsonschema import dossier_schema
        policy = engine.policies.for_dossier(None, request.path_params["policy_id"])
        return JSONResponse(dossier_schema(policy))

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "engine": __version__, "policies": len(engine.policies.by_id)})

    async def openapi_json(request: Request) -> Response:
        return JSONResponse(openapi)

    async def docs(request: Request) -> Response:
        return HTMLResponse(docs_page(openapi))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": kind, "problems": _problem("$", f"{request.method} {request.url.path}: "
                                                                      f"{exc.detail}")},
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    routes = [
        Route("/v1/decisions", guarded(decisions), methods=["POST"]),
        Route("/v1/explanations", guarded(explanations), methods=["POST"]),
        Route("/v1/policies", guarded(policies), methods=["GET"]),
        Route("/v1/policies/{policy_id}/schema", guarded(policy_schema), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    if has_diff():
        routes.insert(2, Route("/v1/diff", guarded(diff), methods=["POST"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})  # type: ignore[dict-item]
    return AccessLog(app)


class AccessLog:
    """ASGI middleware: one JSON access-log line per HTTP request (no body, no query string values)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        seen = {"status": 500, "bytes": 0, "in": 0}

        async def counting_receive():
            message = await receive()
            seen["in"] += len(message.get("body", b""))
            return message

        async def watching_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            elif message["type"] == "http.response.body":
                seen["bytes"] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        finally:
            client = scope.get("client")
            access_log.info({"method": scope["method"], "path": scope["path"], "status": seen["status"],
                             "bytes_in": seen["in"], "bytes_out": seen["bytes"],
                             "duration_ms": round((time.perf_counter() - start) * 1000, 3),
                             "client": client[0] if client else None})


def app_from_env():
    """The factory uvicorn calls in each worker: the configuration comes from ESMS_RULES_SERVER_CONFIG."""
    return create_app(ServerConfig.from_env())


def run(config: ServerConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Serve until interrupted (uvicorn; each worker builds the app from the configuration)."""
    try:
        import starlette  # noqa: F401
        import uvicorn
    except ImportError as e:
        raise MissingExtra("`esms-rules serve` needs the server extra: pip install 'esms-rules[server]' "
                           f"({e})") from None
    os.environ[ENV_CONFIG] = config.to_env()
    print(f"esms-rules {__version__}: serving on http://{host}:{port} ({workers} worker{'s' * (workers != 1)}); "
          f"OpenAPI at /openapi.json", file=sys.stderr, flush=True)
    uvicorn.run("esms_rules.server:app_from_env", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_level="warning", timeout_graceful_shutdown=5)


# ---- OpenAPI ----------------------------------------------------------------------------------------
def openapi_document(engine: Engine) -> dict:
    """OpenAPI 3.1 (whose schemas are JSON Schema 2020-12: ours go in as they are)."""
    from esms_rules.jsonschema import decision_schema, dossier_schema, error_schema
    newest = max(engine.policies.by_id.values(), key=lambda p: (p.programme == "esms-numerique", p.campaign or 0))

    def bare(schema: dict) -> dict:
        return {k: v for k, v in schema.items() if k not in ("$schema", "$id")}

    error = {"description": "every problem by its JSON path",
             "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}
    dossier_body = {"required": True, "content": {
        JSON: {"schema": {"oneOf": [{"$ref": "#/components/schemas/Dossier"},
                                    {"type": "array", "items": {"$ref": "#/components/schemas/Dossier"}}]}},
        JSON_LINES[0]: {"schema": {"type": "string", "description": "one dossier per line"}}}}
    params = [
        {"name": "policy", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "decide with this policy (an id of GET /v1/policies) instead of the one in force"},
        {"name": "trace", "in": "query", "required": False,
         "schema": {"enum": ["true", "false", "compact", "full", "none"], "default": "true"},
         "description": "the explanation trace: true or compact (the deciding path), full (every rule "
                        "evaluated), false or none (no trace)"},
    ]
    paths = openapi_paths(engine, newest, params, dossier_body, error)
    return {
        "openapi": "3.1.0",
        "info": {"title": "esms-rules", "version": __version__,
                 "description": "Decisions on « ESMS numérique » funding dossiers, with reasons and citations. "
                                "The Dossier schema shown is that of " + newest.id + "; "
                                "GET /v1/policies/{id}/schema gives each policy's."},
        "paths": paths,
        "components": {"schemas": {"Dossier": bare(dossier_schema(newest)), "Decision": bare(decision_schema()),
                                   "Error": bare(error_schema())}},
    }


def openapi_paths(engine: Engine, newest, params: list, dossier_body: dict, error: dict) -> dict:
    paths = {
            "/v1/decisions": {"post": {
                "summary": "Decide one dossier, or a batch (a JSON array, or JSON Lines)",
                "parameters": params, "requestBody": dossier_body,
                "responses": {
                    "200": {"description": "the decision (exactly Decision.to_json()), or one per row for a batch, "
                                           "a bad row giving an error record with its index",
                            "content": {JSON: {"schema": {"oneOf": [
                                {"$ref": "#/components/schemas/Decision"},
                                {"type": "array", "items": {"oneOf": [{"$ref": "#/components/schemas/Decision"},
                                                                      {"$ref": "#/components/schemas/Error"}]}}]}},
                                        JSON_LINES[0]: {"schema": {"type": "string"}}}},
                    "400": error, "404": error, "413": error, "422": error}}},
            "/v1/explanations": {"post": {
                "summary": "Explain the decision on one dossier in French",
                "parameters": [params[0],
                               {"name": "format", "in": "query", "required": False,
                                "schema": {"enum": list(EXPLANATION_TYPES), "default": "text"}},
                               {"name": "suggest", "in": "query", "required": False,
                                "schema": {"type": "boolean", "default": False},
                                "description": "add the smallest changes that would lift each blocking reason"}],
                "requestBody": {"required": True,
                                "content": {JSON: {"schema": {"$ref": "#/components/schemas/Dossier"}}}},
                "responses": {"200": {"description": "the explanation",
                                      "content": {t: {"schema": {"type": "string"}}
                                                  for t in EXPLANATION_TYPES.values()}},
                              "400": error, "404": error, "413": error, "422": error}}},
            "/v1/policies": {"get": {"summary": "The policies served", "responses": {"200": {
                "description": "id, programme, campaign, effective date, sha256, instruction",
                "content": {JSON: {"schema": {"type": "array", "items": {"type": "object"}}}}}}}},
            "/v1/policies/{policy_id}/schema": {"get": {
                "summary": "The JSON Schema of the dossiers a policy reads",
                "parameters": [{"name": "policy_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "a JSON Schema (2020-12)",
                                      "content": {JSON: {"schema": {"type": "object"}}}}, "404": error}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
    }
    if has_diff():
        paths["/v1/diff"] = {"post": {
            "summary": "What changed between two served policies: difference classes with verified witnesses",
            "parameters": [{"name": "format", "in": "query", "required": False,
                            "schema": {"enum": list(DIFF_TYPES), "default": "json"}}],
            "requestBody": {"required": True, "content": {JSON: {"schema": {
                "type": "object", "required": ["old", "new"], "additionalProperties": False,
                "properties": {"old": {"enum": sorted(engine.policies.by_id)},
                               "new": {"enum": sorted(engine.policies.by_id)},
                               **{k: {"type": "integer", "minimum": lo, "maximum": hi, "default": d}
                                  for k, (lo, hi, d) in DIFF_LIMITS.items()}}}}}},
            "responses": {"200": {"description": "the report (docs/diff.md)",
                                  "content": {t: {"schema": {"type": "object" if t == JSON else "string"}}
                                              for t in DIFF_TYPES.values()}},
                          "400": error, "413": error, "422": error}}}
    return paths


def docs_page(openapi: dict) -> str:
    """A self-contained HTML page listing the routes (no script, nothing fetched from elsewhere)."""
    from html import escape
    rows = []
    for path, methods in openapi["paths"].items():
        for method, op in methods.items():
            params = ", ".join(p["name"] for p in op.get("parameters", []))
            rows.append(f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(op['summary'])}</td><td>{escape(params)}</td></tr>")
    return ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>esms-rules API</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:.3em .8em;text-align:left}</style>"
            f"<h1>esms-rules {escape(openapi['info']['version'])}</h1><p>{escape(openapi['info']['description'])}</p>"
            "<table><tr><th>method</th><th>path</th><th>does</th><th>query</th></tr>" + "".join(rows) +
            "</table><p>The full description, with the JSON Schemas: <a href=\"/openapi.json\">/openapi.json</a>.</p>"
            "</html>")
