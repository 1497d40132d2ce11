"""`esms-rules serve`, tested for real: the server started in a subprocess on a free loopback
port, requests over HTTP, its JSON-lines logs read back, then stopped."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import esms_rules

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
MAX_BODY, MAX_BATCH = 400_000, 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path, *args) -> tuple[subprocess.Popen, str, Path]:
    port, log = free_port(), tmp_path / "server.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "esms_rules", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--log-file", str(log), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                if r.status == 200:
                    return proc, base, log
        except OSError:
            pass
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("server did not become healthy within 60 s")
        time.sleep(0.2)


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, base, log = start_server(tmp_path_factory.mktemp("server"), "--max-body", str(MAX_BODY),
                                   "--max-batch", str(MAX_BATCH))
    yield base, log
    stop_server(proc)
    assert proc.returncode == 0, proc.stderr.read().decode()


def call(base: str, method: str, path: str, body: bytes | None = None, ctype: str = "application/json",
         accept: str | None = None):
    """(status, content type, body bytes); 4xx/5xx answers returned, not raised."""
    headers = {"Content-Type": ctype} if body is not None else {}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(base + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers.get("content-type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read()


def dossier(name: str) -> dict:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def body(d) -> bytes:
    return json.dumps(d, ensure_ascii=False).encode("utf-8")


# ---- health, policies, OpenAPI ---------------------------------------------------------------
def test_health_and_policies(server):
    base, _ = server
    status, ctype, data = call(base, "GET", "/healthz")
    health = json.loads(data)
    assert status == 200 and health["status"] == "ok" and health["engine"] == esms_rules.__version__
    status, _, data = call(base, "GET", "/v1/policies")
    served = {p["id"]: p for p in json.loads(data)}
    assert status == 200 and set(served) == {p.id for p in esms_rules.bundled_policies()}
    assert served["esms-numerique-2025"]["sha256"] == esms_rules.load_policy("esms-numerique-2025").sha256
    status, _, data = call(base, "GET", "/v1/policies/esms-numerique-2025/schema")
    assert status == 200 and json.loads(data)["$id"] == "urn:esms-rules:dossier:esms-numerique-2025"


def test_openapi_embeds_the_json_schemas(server):
    base, _ = server
    status, _, data = call(base, "GET", "/openapi.json")
    doc = json.loads(data)
    assert status == 200 and doc["openapi"].startswith("3.1")
    assert {"/v1/decisions", "/v1/explanations", "/v1/policies", "/healthz"} <= set(doc["paths"])
    schemas = doc["components"]["schemas"]
    assert "structures" in schemas["Dossier"]["properties"] and "reasons" in schemas["Decision"]["properties"]
    status, ctype, page = call(base, "GET", "/docs")
    assert status == 200 and ctype.startswith("text/html") and b"/v1/decisions" in page


# ---- decisions: the library's bytes ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["dossier-2025", "dossier-2025-ineligible"])
def test_single_decision_is_byte_for_byte_the_library(server, name):
    base, _ = server
    d = dossier(name)
    status, ctype, data = call(base, "POST", "/v1/decisions", body(d))
    assert status == 200 and ctype.startswith("application/json")
    assert data.decode("utf-8") == esms_rules.evaluate(d).to_json()
    status, _, data = call(base, "POST", "/v1/decisions?trace=false", body(d))
    assert data.decode("utf-8") == esms_rules.evaluate(d, trace=False).to_json(trace=False)
    status, _, data = call(base, "POST", "/v1/decisions?trace=false&policy=esms-numerique-2024", body(d))
    expected = esms_rules.load_policy("esms-numerique-2024").evaluate(d, trace=False).to_json(trace=False)
    assert status == 200 and data.decode("utf-8") == expected


def test_trace_parameter_takes_the_shapes(server):
    """?trace=compact (as true, the default), full, none (as false): the library's bytes."""
    base, _ = server
    d = dossier("dossier-2025-ineligible")
    for value, shape in [("compact", "compact"), ("full", "full"), ("none", None), ("true", "compact")]:
        status, _, data = call(base, "POST", f"/v1/decisions?trace={value}", body(d))
        assert status == 200
        assert data.decode("utf-8") == esms_rules.evaluate(d, trace=shape or False).to_json(trace=shape is not None)
    status, _, data = call(base, "POST", "/v1/decisions?trace=fullest", body(d))
    assert status == 400 and "compact, full or none" in json.loads(data)["problems"][0]["message"]


def test_batch_as_json_array_keeps_every_row(server):
    base, _ = server
    good, bad = dossier("dossier-2025"), dossier("dossier-2025-ineligible")
    rows = [good, {"id": "BROKEN", "campaign": 2025}, bad, 42]
    status, ctype, data = call(base, "POST", "/v1/decisions?trace=false", body(rows))
    assert status == 200 and ctype.startswith("application/json")
    out = json.loads(data)
    assert len(out) == 4
    lib = [esms_rules.evaluate(x, trace=False).to_json(trace=False) for x in (good, bad)]
    assert data.decode("utf-8").startswith("[" + lib[0] + ",")
    assert out[2] == json.loads(lib[1])
    assert out[1]["index"] == 1 and out[1]["dossier"] == "BROKEN" and out[1]["error"] == "invalid_dossier"
    assert {p["path"] for p in out[1]["problems"]} >= {"call", "structures"}
    assert out[3]["index"] == 3 and out[3]["problems"][0]["path"] == "$"


def test_batch_as_json_lines(server):
    base, _ = server
    lines = (EXAMPLES / "batch-2025.jsonl").read_text(encoding="utf-8").splitlines()
    payload = "\n".join([lines[0], "{not json", "", lines[1]]) + "\n"
    status, ctype, data = call(base, "POST", "/v1/decisions?trace=false", payload.encode(), "application/x-ndjson")
    assert status == 200 and ctype.startswith("application/x-ndjson")
    out = data.decode("utf-8").splitlines()
    assert len(out) == 3
    assert out[0] == esms_rules.evaluate(json.loads(lines[0]), trace=False).to_json(trace=False)
    err = json.loads(out[1])
    assert err["error"] == "invalid_json" and err["line"] == 2 and err["index"] == 1
    assert json.loads(out[2])["dossier"] == json.loads(lines[1])["id"]


# ---- bad input: 4xx with every problem by path, never a 500 ---------------------------------------------
def test_invalid_dossier_is_422_with_each_problem(server):
    base, _ = server
    d = dossier("dossier-2025")
    d["campaign"], d["structures"][0]["finess"] = "2025", 12
    status, ctype, data = call(base, "POST", "/v1/decisions", body(d))
    err = json.loads(data)
    assert status == 422 and err["error"] == "invalid_dossier" and err["dossier"] == d["id"]
    assert "campaign" in {p["path"] for p in err["problems"]}


@pytest.mark.parametrize("payload, status, error, path", [
    (b'{"id": ', 400, "invalid_json", "$"),
    (b"\xff\xfe", 400, "invalid_json", "$"),
    (b"", 400, "invalid_json", "$"),
    (b"[1, [", 400, "invalid_json", "$"),
    (b"3", 422, "invalid_dossier", "$"),
    (b'"text"', 422, "invalid_dossier", "$"),
    (b"[" * 100_000, 400, "invalid_json", "$"),
    (b'{"id": "a", "call": "regional", "call": "national"}', 400, "invalid_json", "call"),
    (b'{"id": "\\ud800"}', 400, "invalid_json", "id"),
    (b'{"campaign": NaN}', 400, "invalid_json", "campaign"),
    (b'{"campaign": ' + b"9" * 5000 + b"}", 400, "invalid_json", "campaign"),
])
def test_bad_bodies(server, payload, status, error, path):
    base, _ = server
    got, ctype, data = call(base, "POST", "/v1/decisions", payload)
    err = json.loads(data)
    assert got == status and ctype.startswith("application/json")
    assert err["error"] == error and err["problems"][0]["path"] == path and err["problems"][0]["message"]


def test_limits_and_parameters(server):
    base, _ = server
    status, _, data = call(base, "POST", "/v1/decisions", b" " * (MAX_BODY + 1))
    assert status == 413 and json.loads(data)["error"] == "too_large"
    rows = [dossier("dossier-2025")] * (MAX_BATCH + 1)
    status, _, data = call(base, "POST", "/v1/decisions", body(rows))
    assert status == 413 and json.loads(data)["error"] == "too_many_dossiers"
    status, _, data = call(base, "POST", "/v1/decisions?policy=nope", body(dossier("dossier-2025")))
    assert status == 404 and json.loads(data)["problems"][0]["path"] == "?policy"
    status, _, data = call(base, "POST", "/v1/decisions?trace=maybe", body(dossier("dossier-2025")))
    assert status == 400 and json.loads(data)["problems"][0]["path"] == "?trace"
    status, _, data = call(base, "GET", "/v1/decisions")
    assert status == 405 and json.loads(data)["error"] == "method_not_allowed"
    status, _, data = call(base, "GET", "/v2/nothing")
    assert status == 404 and json.loads(data)["error"] == "not_found"


# ---- explanations -----------------------------------------------------------------------------------------
def test_explanations_in_three_formats(server):
    base, _ = server
    d = dossier("dossier-2025-ineligible")
    status, ctype, text = call(base, "POST", "/v1/explanations", body(d))
    assert status == 200 and ctype.startswith("text/plain") and d["id"] in text.decode()
    assert "OTHER_EU_FUNDING" in text.decode()
    status, ctype, md = call(base, "POST", "/v1/explanations?format=markdown", body(d))
    assert status == 200 and ctype.startswith("text/markdown") and md.decode().startswith("#")
    status, ctype, html = call(base, "POST", "/v1/explanations", body(d), accept="text/html")
    assert status == 200 and ctype.startswith("text/html") and b"<html" in html.lower()
    status, _, data = call(base, "POST", "/v1/explanations?format=pdf", body(d))
    assert status == 400 and json.loads(data)["problems"][0]["path"] == "?format"
    status, _, data = call(base, "POST", "/v1/explanations", body([d]))
    assert status == 422


# ---- logs --------------------------------------------------------------------------------------------------
def test_access_and_decision_logs_are_json_lines_without_personal_data(server):
    base, log = server
    d = dossier("dossier-2025-ineligible")
    call(base, "POST", "/v1/decisions?trace=false", body(d))
    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
        decisions = [e for e in entries if e["log"] == "decisions" and e["dossier"] == d["id"]]
        if decisions or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    last = decisions[-1]
    policy = esms_rules.load_policy("esms-numerique-2025")
    assert last["policy"] == {"id": policy.id, "sha256": policy.sha256}
    assert last["verdict"] == "ineligible" and set(last["codes"]) == {"GROUPING_TOO_SMALL", "OTHER_EU_FUNDING"}
    assert last["duration_ms"] >= 0 and "dossier_data" not in last
    access = [e for e in entries if e["log"] == "access"]
    assert any(e["path"] == "/v1/decisions" and e["status"] == 200 and e["duration_ms"] >= 0 for e in access)
    assert any(e["status"] == 413 for e in access)
    text = log.read_text(encoding="utf-8")
    assert d["applicant"]["name"] not in text and "EHPAD" not in text


def test_dossiers_logged_only_when_asked(tmp_path):
    proc, base, log = start_server(tmp_path, "--log-dossiers", "--policy", "esms-numerique-2025")
    try:
        d = dossier("dossier-2025")
        status, _, data = call(base, "POST", "/v1/decisions?trace=false", body(d))
        assert status == 200
        served = json.loads(call(base, "GET", "/v1/policies")[2])
        assert [p["id"] for p in served] == ["esms-numerique-2025"]
        other = dict(d, campaign=2024)
        status, _, data = call(base, "POST", "/v1/decisions", body(other))
        assert status == 422 and json.loads(data)["problems"][0]["path"] == "campaign"
    finally:
        stop_server(proc)
    entries = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    logged = [e for e in entries if e["log"] == "decisions" and e.get("dossier_data")]
    assert logged and logged[0]["dossier_data"] == d


# ---- the semantic diff, when this installation has it ----------------------------------------------------
def test_diff_of_two_served_policies(server):
    pytest.importorskip("esms_rules.diff")
    base, _ = server
    ask = {"old": "esms-numerique-2024", "new": "esms-numerique-2025", "searches": 40, "max_structures": 20}
    status, ctype, data = call(base, "POST", "/v1/diff", body(ask))
    assert status == 200 and ctype.startswith("application/json"), data[:500]
    report = json.loads(data)
    assert report["old"] and report["new"] and report["complete"] is False
    assert report["bound"]["searches"] == 40
    status, ctype, text = call(base, "POST", "/v1/diff?format=text", body(ask))
    assert status == 200 and ctype.startswith("text/plain") and text
    bad = {"old": "../../etc/passwd", "new": "esms-numerique-2025", "searches": 10**9, "extra": 1}
    status, _, data = call(base, "POST", "/v1/diff", body(bad))
    err = json.loads(data)
    assert status == 422 and {p["path"] for p in err["problems"]} == {"old", "searches", "extra"}
    status, _, data = call(base, "GET", "/openapi.json")
    assert "/v1/diff" in json.loads(data)["paths"]
