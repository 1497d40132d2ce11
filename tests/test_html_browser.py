"""The HTML report in a real headless Chromium: it loads, shows the verdict, logs nothing.

Needs Debian's /usr/bin/chromium (`apt-get install chromium`); skipped when it is missing (CI
installs it). Chromium prints every console message (errors, CSP violations, a script that
ran) to stderr as `CONSOLE` lines with `--enable-logging=stderr`; the report must print none.
The screenshot is kept next to the report in pytest's tmp_path.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import esms_rules
from esms_rules.counterfactual import suggest
from esms_rules.render import render

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
INPUTS = HERE / "golden" / "render" / "inputs"
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                            shutil.which("chromium-browser") or "")
                 if p and os.access(p, os.X_OK)), None)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium at /usr/bin/chromium (apt-get install chromium)")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0"]


def chromium(tmp_path: Path, page: Path, *action: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *action, page.as_uri()],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def report(tmp_path: Path, dossier: dict, policy=None, name: str = "report.html") -> Path:
    p = esms_rules.load_policy(policy) if policy is not None else esms_rules.policy_for(dossier)
    decision = p.evaluate(dossier)
    path = tmp_path / name
    path.write_text(render(decision, "html", suggestions=suggest(p, dossier)), encoding="utf-8")
    return path


def load(name: str) -> dict:
    return json.loads((INPUTS / f"{name}.json").read_text(encoding="utf-8"))


def test_report_loads_shows_the_verdict_and_logs_nothing(tmp_path):
    page = report(tmp_path, load("ahi_candidate_too_late_2025"))
    dom = chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Dossier recevable, non éligible." in dom.stdout
    assert "AHI_CANDIDATE_TOO_LATE" in dom.stdout
    assert "Ce qui changerait la décision" in dom.stdout
    assert console_lines(dom.stderr) == []

    shot = tmp_path / "report.png"
    run = chromium(tmp_path, page, f"--screenshot={shot}", "--window-size=1200,2000")
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_lines(run.stderr) == []
    assert shot.exists()
    assert png_size(shot) == (1200, 2000)
    assert shot.stat().st_size > 20_000          # a rendered page, not a blank one


def test_hostile_text_stays_text_in_the_browser(tmp_path):
    """Policy and dossier text full of markup: rendered as text, no script runs, nothing is fetched."""
    from test_render import HOSTILE_POLICY  # noqa: PLC0415 - the same hostile policy as the unit tests
    path = tmp_path / "hostile.esms"
    path.write_text(HOSTILE_POLICY, encoding="utf-8")
    policy = esms_rules.Policy.from_text(HOSTILE_POLICY, str(path))
    dossier = load("eligible_regional_2025")
    dossier["software"]["segur_referenced"] = False
    dossier["applicant"]["name"] = "<script>console.error('xss-applicant')</script>"
    dossier["structures"][0]["name"] = "<img src=x onerror=\"console.error('xss-img')\">"
    dossier["other_eu_funding"] = [{"programme": "<script>console.error('xss-eu')</script>", "same_object": True}]
    page = report(tmp_path, dossier, policy, "hostile.html")
    dom = chromium(tmp_path, page, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert console_lines(dom.stderr) == []
    # the markup shows as text: escaped again in the serialised DOM, never as elements
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout
    assert "&lt;script&gt;console.error('xss-applicant')&lt;/script&gt;" in dom.stdout
    assert not re.search(r"<img\b", dom.stdout)
    assert not re.search(r"<a\b", dom.stdout)
    assert len(re.findall(r"<script\b", dom.stdout)) == 1     # the page's own print helper


def test_csp_would_block_an_injected_script(tmp_path):
    """Belt and braces: were a script to slip through, the page's CSP blocks it (and Chromium says so)."""
    page = report(tmp_path, load("eligible_regional_2025"))
    html = page.read_text(encoding="utf-8")
    page.write_text(html.replace("</body>", "<script>console.error('injected')</script></body>"), encoding="utf-8")
    dom = chromium(tmp_path, page, "--dump-dom")
    lines = console_lines(dom.stderr)
    assert lines and all("injected" not in line or "Content Security Policy" in line for line in lines)
    assert any("Content Security Policy" in line for line in lines)


# ---- printing ---------------------------------------------------------------------------------
def pdf_pages(tmp_path: Path, page: Path) -> int:
    """Print `page` to PDF with Chromium (A4, the report's print stylesheet) and count its pages."""
    pdf = tmp_path / (page.stem + ".pdf")
    run = chromium(tmp_path, page, "--no-pdf-header-footer", f"--print-to-pdf={pdf}")
    assert run.returncode == 0, run.stderr[-2000:]
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    # every page object says `/Type /Page` (the page tree says `/Type /Pages`)
    return len(re.findall(rb"/Type\s*/Page\b", data))


def big_dossier(n: int) -> dict:
    """A national grouping of `n` structures over several regions, one in three not an ESSMS
    (a structure-level reason and a suggestion each)."""
    dossier = load("structure_reasons_confort_2025")
    base = dossier["structures"]
    dossier["call"] = "national"
    dossier["structures"] = []
    for i in range(n):
        s = dict(base[i % len(base)], finess=f"{100000000 + 7919 * i:09d}", name=f"Structure {i}")
        if i % 3 == 0:
            s["casf_item"] = None
        dossier["structures"].append(s)
    return dossier


@pytest.mark.parametrize("name,dossier,most", [
    ("late16", lambda: load("late_submission_2025"), 3),
    ("confort18", lambda: load("structure_reasons_confort_2025"), 3),
    ("big300", lambda: big_dossier(300), 12),
])
def test_report_prints_on_few_a4_pages(tmp_path, name, dossier, most):
    """Issue 12: a 16-structure dossier prints on at most 3 A4 pages, a 300-structure one on at most 12
    (summary first, one row per structure, each citation once)."""
    d = dossier()
    page = report(tmp_path, d, name=f"{name}.html")
    pages = pdf_pages(tmp_path, page)
    assert 1 <= pages <= most, f"{len(d['structures'])} structures printed on {pages} pages"
