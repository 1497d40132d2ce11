"""Every shell command shown in README.md and docs/*.md runs, and gives what the page says.

Cram-style, over fenced blocks:

- ```sh blocks: each line (a trailing `\\` continues it) is a command; it must exit 0, or
  the code named by a trailing comment `# … exit N …`.
- ```console blocks: `$ command` lines, each followed by the output it must print (stdout
  then stderr); a line `...` stands for any number of lines.
- `<!-- docs-test: file NAME -->` just before a block writes that block to NAME first, so
  that a page can show a file and then a command on it.
- `<!-- docs-test: skip -->` just before a block leaves it out (what installs software or runs
  the test suite itself; the wheel test and CI run those).

The commands of one page run in order, in one scratch directory holding copies of examples/
and policies/, with `esms-rules` on PATH running this checkout. `esms-rules serve` ending in
`&` starts the server on a free port (the page's port is replaced by it in later commands)
and is stopped after the page. A line outside these blocks that looks like a command
(`$ esms-rules …`, or `esms-rules …` without placeholders) fails the test: commands shown
must be checked.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^(```+)(\S*)\s*$")
DIRECTIVE = re.compile(r"<!--\s*docs-test:\s*(skip|file\s+(\S+))\s*-->")
PLACEHOLDER = re.compile(r"\[|\.\.\.|…|\b[A-Z][A-Z_.]{2,}\b|\|")   # a synopsis, not a command


def blocks(page: Path) -> list[dict]:
    """The fenced blocks of a page: language, lines, first line number, directive."""
    out, lines = [], page.read_text(encoding="utf-8").splitlines()
    i, directive = 0, None
    while i < len(lines):
        m = DIRECTIVE.search(lines[i])
        if m:
            directive = m.group(2) and ("file", m.group(2)) or ("skip", None)
        f = FENCE.match(lines[i])
        if f:
            start, body = i + 1, []
            i += 1
            while i < len(lines) and lines[i].rstrip() != f.group(1):
                body.append(lines[i])
                i += 1
            out.append({"lang": f.group(2), "lines": body, "line": start + 1, "directive": directive})
            directive = None
        elif lines[i].strip() and not m:
            directive = None if not lines[i].lstrip().startswith("<!--") else directive
        i += 1
    return out


def commands(block: dict) -> list[tuple[str, list[str] | None]]:
    """(command, expected output lines or None) of a sh or console block."""
    if block["lang"] == "sh":
        out, pending = [], ""
        for line in block["lines"]:
            if pending or line.strip() and not line.lstrip().startswith("#"):
                pending += line[:-1] + " " if line.endswith("\\") else line
                if not line.endswith("\\"):
                    out.append((pending, None))
                    pending = ""
        return out
    out = []
    for line in block["lines"]:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def expected_code(command: str) -> int:
    m = re.search(r"#.*\bexit (\d+)", command)
    return int(m.group(1)) if m else 0


def matches(expected: list[str], got: list[str]) -> bool:
    """Line by line, `...` matching any run of lines (trailing spaces ignored)."""
    if not expected:
        return not got
    if expected[0] == "...":
        return any(matches(expected[1:], got[k:]) for k in range(len(got) + 1))
    return bool(got) and got[0].rstrip() == expected[0].rstrip() and matches(expected[1:], got[1:])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sandbox(tmp_path) -> tuple[Path, dict]:
    work = tmp_path / "work"
    work.mkdir()
    for folder in ("examples", "policies"):
        shutil.copytree(ROOT / folder, work / folder)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "esms-rules"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m esms_rules "$@"\n', encoding="utf-8")
    shim.chmod(0o755)
    tools = Path(sys.executable).parent      # the environment's other commands (pygmentize, …)
    env = {**os.environ, "PATH": os.pathsep.join([str(bin_dir), str(tools), os.environ.get("PATH", "")]),
           "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "COLUMNS": "100"}
    return work, env


def wait_healthy(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the server did not become healthy")


def run_page(page: Path, work: Path, env: dict) -> int:
    servers: list[subprocess.Popen] = []
    ports: dict[str, str] = {}
    ran = 0
    try:
        for block in blocks(page):
            where = f"{page.relative_to(ROOT)}:{block['line']}"
            kind, arg = block["directive"] or (None, None)
            if kind == "skip":
                continue
            if kind == "file":
                (work / arg).write_text("\n".join(block["lines"]) + "\n", encoding="utf-8")
                continue
            if block["lang"] not in ("sh", "console"):
                continue
            for command, expected in commands(block):
                for old, new in ports.items():
                    command = command.replace(old, new)
                serve = re.match(r"esms-rules serve\b.*--port (\d+).*&\s*(#.*)?$", command)
                if serve:
                    port = str(free_port())
                    ports[f":{serve.group(1)}"] = f":{port}"
                    argv = command.split("#")[0].strip().rstrip("&").split()[1:]
                    argv[argv.index("--port") + 1] = port
                    proc = subprocess.Popen([sys.executable, "-m", "esms_rules", *argv], cwd=work, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                    servers.append(proc)
                    wait_healthy(f"http://127.0.0.1:{port}", proc)
                    ran += 1
                    continue
                r = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                                   capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
                want = expected_code(command)
                assert r.returncode == want, (f"{where}: `{command}` exited {r.returncode}, not {want}\n"
                                              f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
                assert "Traceback" not in r.stderr, f"{where}: `{command}`\n{r.stderr}"
                if expected is not None:
                    got = (r.stdout + r.stderr).splitlines()
                    assert matches(expected, got), (f"{where}: `{command}` printed\n" + "\n".join(got[:80])
                                                     + "\n\nwhile the page shows\n" + "\n".join(expected))
                ran += 1
    finally:
        for proc in servers:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return ran


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_commands_of_the_page_run(page, sandbox):
    work, env = sandbox
    run_page(page, work, env)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_shown_is_checked(page):
    """A command in a block this test does not run would drift: show it in a sh or console block."""
    loose = []
    for block in blocks(page):
        if block["lang"] in ("sh", "console") or (block["directive"] or (None,))[0] == "skip":
            continue
        for n, line in enumerate(block["lines"], start=block["line"]):
            text = line.strip()
            if text.startswith("$ esms-rules") or text.startswith("esms-rules ") and not PLACEHOLDER.search(
                    text.split("#")[0]):
                loose.append(f"{page.relative_to(ROOT)}:{n}: {text}")
    assert not loose, "commands outside sh/console blocks:\n" + "\n".join(loose)


def test_no_reference_outside_the_repository():
    """The docs stand alone: a user of the package has no ../shared folder."""
    bad = [f"{p.relative_to(ROOT)}: {line.strip()}" for p in PAGES
           for line in p.read_text(encoding="utf-8").splitlines() if "../shared" in line or "shared/spec" in line]
    assert not bad, "\n".join(bad)


def test_the_readme_starts_with_the_first_run():
    first = blocks(ROOT / "README.md")[0]
    assert first["lang"] == "sh" and first["directive"] == ("skip", None)
    install, tests = first["lines"][0], first["lines"][1]
    assert "[test]" not in install and "esms-rules explain --example dossier-2025" in install
    assert tests.split("#")[0].strip() == "bash .ci/run"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ".venv/bin/python -m pytest -q" in ci
