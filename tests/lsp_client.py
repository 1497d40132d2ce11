"""A small Language Server Protocol client for the tests: JSON-RPC over a child process's pipes.

It speaks the real protocol (Content-Length framing, requests with ids, notifications) to
`python -m esms_rules lsp`, so that the tests see what an editor sees.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path


class LspClient:
    def __init__(self, cwd: Path | None = None, env: dict | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "esms_rules", "lsp"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd,
                                     env={**os.environ, **(env or {})})
        self.next_id = 0
        self.responses: dict[int, dict] = {}
        self.notifications: queue.Queue[dict] = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # -- framing
    def _send(self, message: dict) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        while True:
            headers = {}
            while True:
                line = out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                key, _, value = line.decode("ascii").partition(":")
                headers[key.strip().lower()] = value.strip()
            message = json.loads(out.read(int(headers["content-length"])))
            if "id" in message and "method" in message:      # a request from the server
                self._send({"id": message["id"], "result": None})
            elif "id" in message:
                with self._cond:
                    self.responses[message["id"]] = message
                    self._cond.notify_all()
            else:
                self.notifications.put(message)

    # -- the protocol
    def request(self, method: str, params: dict | None = None, timeout: float = 60):
        self.next_id += 1
        ident = self.next_id
        self._send({"id": ident, "method": method, "params": params or {}})
        with self._cond:
            if not self._cond.wait_for(lambda: ident in self.responses, timeout):
                raise TimeoutError(f"no answer to {method}")
            message = self.responses.pop(ident)
        if "error" in message:
            raise RuntimeError(message["error"])
        return message["result"]

    def notify(self, method: str, params: dict) -> None:
        self._send({"method": method, "params": params})

    def wait_notification(self, method: str, timeout: float = 60, uri: str | None = None) -> dict:
        while True:
            message = self.notifications.get(timeout=timeout)
            if message["method"] == method and (uri is None or message["params"].get("uri") == uri):
                return message["params"]

    def initialize(self, root: Path) -> dict:
        capabilities = {"textDocument": {"hover": {"contentFormat": ["markdown"]}}}
        result = self.request("initialize", {"processId": os.getpid(), "rootUri": root.as_uri(),
                                             "capabilities": capabilities})
        self.notify("initialized", {})
        return result

    def open(self, path: Path, text: str | None = None) -> list[dict]:
        """Open a document; return the diagnostics the server publishes for it."""
        text = path.read_text(encoding="utf-8") if text is None else text
        self.notify("textDocument/didOpen", {"textDocument": {"uri": path.as_uri(), "languageId": "esms",
                                                              "version": 1, "text": text}})
        return self.wait_notification("textDocument/publishDiagnostics", uri=path.as_uri())["diagnostics"]

    def change(self, path: Path, text: str, version: int) -> list[dict]:
        self.notify("textDocument/didChange", {"textDocument": {"uri": path.as_uri(), "version": version},
                                               "contentChanges": [{"text": text}]})
        return self.wait_notification("textDocument/publishDiagnostics", uri=path.as_uri())["diagnostics"]

    def at(self, method: str, path: Path, line: int, character: int, **extra):
        return self.request(method, {"textDocument": {"uri": path.as_uri()},
                                     "position": {"line": line, "character": character}, **extra})

    def close(self) -> int:
        try:
            self.request("shutdown", timeout=20)
            self.notify("exit", {})
            return self.proc.wait(timeout=20)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                stream.close()
