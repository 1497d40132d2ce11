"""The OpenAPI 3.1 description of the server (`/openapi.json`) and its page (`/docs`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from esms_rules import __version__
from esms_rules.server_requests import DIFF_LIMITS, DIFF_TYPES, EXPLANATION_TYPES, JSON, JSON_LINES, has_diff

if TYPE_CHECKING:
    from esms_rules.server import Engine


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
