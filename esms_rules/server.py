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
from esms_rules import __version__
from esms_rules.diagnostics import DossierError, Problem
from esms_rules.server_openapi import docs_page, openapi_document
from esms_rules.server_requests import (
    DIFF_TYPES,
    EXPLANATION_TYPES,
    JSON,
    JSON_LINES,
    BadRequest,
    _bool_param,
    _jsonl_rows,
    _parse,
    _problem,
    _trace_param,
    diff_request,
    has_diff,
)

ENV_CONFIG = "ESMS_RULES_SERVER_CONFIG"    # how `serve --workers N` hands its options to each worker

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
