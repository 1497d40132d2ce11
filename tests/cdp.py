"""A small client of the Chrome DevTools Protocol over `--remote-debugging-pipe`, for tests.

Chromium reads commands on its file descriptor 3 and writes answers and events on 4, each a
JSON message ended by a NUL byte. `Browser` starts a headless Chromium so wired, opens one page
(a target attached in "flat" mode: every message carries its `sessionId`), and offers `send`
(a command, its result), `events` (those received so far) and `close`. No websocket, no
third-party package.
"""
from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from pathlib import Path
from typing import Any


class CdpError(RuntimeError):
    pass


def _high(fd: int) -> int:
    """`fd` moved above 9, so that wiring the child's fds 3 and 4 never lands on a pipe end
    (dup2 onto the same number would keep its close-on-exec flag)."""
    if fd > 9:
        return fd
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    def __init__(self, chromium: str, profile: Path, timeout: float = 60.0):
        self.timeout = timeout
        cmd_r, self._cmd_w = map(_high, os.pipe())    # we write commands; Chromium reads them as fd 3
        self._res_r, res_w = map(_high, os.pipe())    # Chromium writes answers as fd 4; we read them

        def wire():   # in the child, before exec: the two pipe ends become fds 3 and 4
            os.dup2(cmd_r, 3)
            os.dup2(res_w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", "--disable-default-apps",
             "--hide-scrollbars", "--mute-audio", f"--user-data-dir={profile}", "--remote-debugging-pipe",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire, close_fds=False)
        os.close(cmd_r)
        os.close(res_w)
        self._buf = b""
        self._next = 0
        self.received: list[dict[str, Any]] = []   # events, in order
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                 session=False)["sessionId"]

    # -- the wire
    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._cmd_w, data):]

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CdpError("Chromium did not answer in time")
            ready, _, _ = select.select([self._res_r], [], [], left)
            if ready:
                chunk = os.read(self._res_r, 1 << 20)
                if not chunk:
                    raise CdpError("Chromium closed the DevTools pipe")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True) -> dict[str, Any]:
        """Run one command and return its result (events that arrive meanwhile are kept)."""
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        self._write(message)
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise CdpError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            if "method" in answer:
                self.received.append(answer)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The params of the first event `method` received (waiting for it if need be)."""
        deadline = time.monotonic() + self.timeout
        while True:
            for e in self.received:
                if e["method"] == method:
                    return e.get("params", {})
            self.received.append(self._read(deadline))

    def events(self, method: str) -> list[dict[str, Any]]:
        return [e.get("params", {}) for e in self.received if e.get("method") == method]

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools runs it; the page's CSP,
        which forbids scripts, does not apply to the debugger)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CdpError(f"evaluate: {result['exceptionDetails']}")
        return result["result"].get("value")

    def close(self) -> None:
        try:
            self._write({"id": self._next + 1, "method": "Browser.close", "params": {}})
            self.proc.wait(timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        finally:
            os.close(self._cmd_w)
            os.close(self._res_r)
