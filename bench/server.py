"""A bounded load test of `esms-rules serve`: requests per second and latency percentiles.

    python bench/server.py [--seconds 3] [--clients 4] [--batch 100] [--workers 1,2]

For each worker count, starts the real server on a free loopback port (as `esms-rules serve`
does), waits for /healthz, then for a fixed time sends, from `--clients` threads with
keep-alive connections:

- single: POST /v1/decisions with one dossier (trace=false)
- batch:  POST /v1/decisions with a JSON array of `--batch` dossiers (trace=false)

and prints requests/s, dossiers/s, p50 and p99 latency, against the named baseline "library":
the same decisions made in this process by `Policy.evaluate(...).to_json()`, with no HTTP.
Every answer is checked (status 200, and the single answer's bytes equal the library's).
Runs are short on purpose (the machine is shared); raise --seconds for steadier figures.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import esms_rules  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(workers: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "esms_rules", "serve", "--port", str(port),
                             "--workers", str(workers), "--log-file", os.devnull],
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                break
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"the server exited: {proc.stderr.read().decode()}")
            time.sleep(0.2)
    # every worker builds its policies on its first requests: warm them all up
    for _ in range(8 * workers):
        post(port, ONE)
    return proc, port


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def post(port: int, body: bytes, conn: http.client.HTTPConnection | None = None) -> bytes:
    own = conn is None
    conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("POST", "/v1/decisions?trace=false", body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        raise SystemExit(f"status {r.status}: {data[:300]!r}")
    if own:
        conn.close()
    return data


def load(port: int, body: bytes, seconds: float, clients: int, expect: bytes | None) -> list[float]:
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        mine = []
        while time.monotonic() < stop_at:
            t0 = time.perf_counter()
            data = post(port, body, conn)
            mine.append(time.perf_counter() - t0)
            if expect is not None and data != expect:
                raise SystemExit("the server's decision differs from the library's")
        conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start_t = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start_t
    latencies.append(elapsed)        # the last item is the wall time (popped by the caller)
    return latencies


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


DOSSIER = json.loads((ROOT / "examples" / "dossier-2025-ineligible.json").read_text(encoding="utf-8"))
ONE = json.dumps(DOSSIER).encode()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    batch_body = json.dumps([dict(DOSSIER, id=f"B-{i}") for i in range(args.batch)]).encode()

    policy = esms_rules.policy_for(DOSSIER)
    expect = policy.evaluate(DOSSIER, trace=False).to_json(trace=False).encode()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        policy.evaluate(DOSSIER, trace=False).to_json(trace=False)
        n += 1
    library = n / (time.perf_counter() - t0)
    print(f"baseline library: {library:,.0f} decisions/s in one process (Policy.evaluate + to_json, no HTTP)")
    print(f"{'workers':>7} {'request':>7} {'req/s':>9} {'dossiers/s':>11} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'vs library':>10}")
    for workers in [int(w) for w in args.workers.split(",")]:
        proc, port = start(workers)
        try:
            for name, body, per, check in (("single", ONE, 1, expect), ("batch", batch_body, args.batch, None)):
                lat = load(port, body, args.seconds, args.clients, check)
                wall = lat.pop()
                rps = len(lat) / wall
                print(f"{workers:>7} {name:>7} {rps:>9,.1f} {rps * per:>11,.0f} {statistics.median(lat) * 1000:>8.1f} "
                      f"{percentile(lat, 0.99) * 1000:>8.1f} {rps * per / library:>9.2f}x", flush=True)
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
