"""The campaign report in a real headless Chromium, driven over the DevTools protocol (tests/cdp.py).

The page and its dossiers' reports are served by a loopback HTTP server that records every
request; Chromium must ask it for the page alone and make no other network request (the
DevTools `Network` events say so too), log nothing (no CSP violation, no error), run no script,
and lay the page out within bounds: four charts of non-zero size in the proportions of their
viewBox, no horizontal overflow on a wide screen nor at A4 print width, a printed PDF of a few
pages. Layout is asserted on boxes measured in the page, not on pixels, so that another
machine's fonts do not fail it; the screenshot is kept in pytest's tmp_path for people to look
at, and checked to be a real rendering.

Needs /usr/bin/chromium (CI installs it) and matplotlib (the `report` extra); skipped without.
"""
from __future__ import annotations

import base64
import functools
import http.server
import os
import re
import shutil
import struct
import sys
import threading
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from campaign_fixture import HOSTILE_ID, campaign, decide, dossier, structure  # noqa: E402
from cdp import Browser  # noqa: E402

from esms_rules import campaign_report as cr  # noqa: E402

pytest.importorskip("matplotlib")
CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "",
                            shutil.which("chromium-browser") or "") if p and os.access(p, os.X_OK)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium at /usr/bin/chromium (apt-get install chromium)")

A4_CONTENT_PX = 711   # 210 mm less the page's 2 × 11 mm margins, at 96 px per inch
LAYOUT = """JSON.stringify({
  width: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  scripts: document.querySelectorAll('script').length,
  text: document.body.innerText,
  charts: Array.from(document.querySelectorAll('svg.chart')).map(function (s) {
    var r = s.getBoundingClientRect(), v = s.viewBox.baseVal;
    return {id: s.getAttribute('aria-labelledby'), x: r.left, right: r.right, w: r.width, h: r.height,
            vw: v.width, vh: v.height, paths: s.querySelectorAll('path').length};
  }),
  wide: Array.from(document.querySelectorAll('body *')).filter(function (e) {
    return e.getBoundingClientRect().right > window.innerWidth + 0.5;
  }).map(function (e) { return e.tagName + '#' + (e.id || '') + '.' + (e.getAttribute('class') || ''); }).slice(0, 10),
  links: Array.from(document.querySelectorAll('a[href]')).map(function (a) { return a.getAttribute('href'); })
})"""


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves the report's folder; every requested path is recorded."""

    def __init__(self, *args, log: list[str], **kwargs):
        self.log = log
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.log.append(self.path)
        super().do_GET()

    def log_message(self, *args):    # quiet
        pass


@pytest.fixture
def served(tmp_path):
    """(base URL, requested paths): the hand-made campaign's report, served on a loopback port."""
    dossiers, rows, findings = campaign()
    cr.write(tmp_path / "campagne.html", "html", rows, dossiers, findings)
    log: list[str] = []
    handler = functools.partial(_Recorder, directory=str(tmp_path), log=log)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", log
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def browser(tmp_path):
    b = Browser(CHROMIUM, tmp_path / "profile")
    try:
        for domain in ("Page", "Network", "Runtime", "Log"):
            b.send(f"{domain}.enable")
        yield b
    finally:
        b.close()


def load(b: Browser, url: str, width: int, height: int = 900, media: str = "screen") -> dict:
    import json
    b.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                  "mobile": False})
    b.send("Emulation.setEmulatedMedia", {"media": media})
    b.received.clear()
    b.send("Page.navigate", {"url": url})
    b.wait_for("Page.loadEventFired")
    return json.loads(b.evaluate(LAYOUT))


def problems_logged(b: Browser) -> list[str]:
    """Console calls, uncaught exceptions and warnings or errors of the browser's log (CSP violations among them)."""
    out = [f"console.{e['type']}" for e in b.events("Runtime.consoleAPICalled")]
    out += [e["exceptionDetails"].get("text", "exception") for e in b.events("Runtime.exceptionThrown")]
    out += [e["entry"]["text"] for e in b.events("Log.entryAdded") if e["entry"]["level"] in ("warning", "error")]
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def test_page_loads_alone_logs_nothing_and_lays_out(served, browser, tmp_path):
    base, log = served
    page = f"{base}/campagne.html"
    layout = load(browser, page, 1200)

    # nothing but the page itself was asked for, of the loopback server or of anyone else
    assert log == ["/campagne.html"]
    urls = [e["request"]["url"] for e in browser.events("Network.requestWillBeSent")]
    assert [u for u in urls if not u.startswith("data:")] == [page]
    assert problems_logged(browser) == []
    assert layout["scripts"] == 0

    # the hostile id is text on the page, never markup
    assert HOSTILE_ID in layout["text"]
    assert "Rapport de campagne ESMS numérique" in layout["text"]

    # four charts, drawn, in the proportions of their viewBox, inside the page
    charts = layout["charts"]
    assert [c["id"] for c in charts] == ["chart-regions-title", "chart-calls-title", "chart-codes-title",
                                         "chart-structures-title"]
    for c in charts:
        assert 300 <= c["w"] <= 1200 and c["h"] >= 80, c
        assert c["h"] / c["w"] == pytest.approx(c["vh"] / c["vw"], rel=0.02), c
        assert c["paths"] > 20, c            # bars, hatches, axes and glyphs
        assert c["right"] <= layout["width"]
    # no horizontal overflow, a page of plausible height
    assert layout["scrollWidth"] <= layout["width"], layout["wide"]
    assert layout["wide"] == []
    assert 2500 <= layout["height"] <= 9000, layout["height"]

    shot = base64.b64decode(browser.send("Page.captureScreenshot", {"format": "png"})["data"])
    (tmp_path / "campagne.png").write_bytes(shot)
    assert png_size(shot) == (1200, 900)
    assert len(shot) > 30_000               # a rendered page, not a blank one


def test_links_open_each_dossiers_own_report(served, browser):
    base, log = served
    layout = load(browser, f"{base}/campagne.html", 1200)
    files = sorted({h for h in layout["links"] if not h.startswith("#")})
    assert "campagne.dossiers/00001-A-BRE.html" in files and len(files) == 6
    for href in files[:2]:
        report = load(browser, f"{base}/{href}", 1000)
        assert re.search(r"Décision ESMS numérique — dossier ", report["text"]), href
    assert log[1:] == [f"/{href}" for href in files[:2]]
    assert problems_logged(browser) == []


def test_prints_on_a4_without_overflow(served, browser, tmp_path):
    base, _ = served
    layout = load(browser, f"{base}/campagne.html", A4_CONTENT_PX, media="print")
    assert layout["scrollWidth"] <= A4_CONTENT_PX, layout["wide"]
    for c in layout["charts"]:
        assert 400 <= c["w"] <= A4_CONTENT_PX and c["h"] >= 60, c
    pdf = base64.b64decode(browser.send("Page.printToPDF", {"preferCSSPageSize": True,
                                                            "displayHeaderFooter": False})["data"])
    (tmp_path / "campagne.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page\b", pdf))
    assert 2 <= pages <= 6, pages


def test_a_larger_campaign_keeps_its_layout(tmp_path, browser):
    """120 dossiers over many regions: the charts grow with their rows and still fit the page."""
    deps = ["01", "13", "29", "31", "33", "35", "44", "59", "67", "69", "75", "2A", "971", "974"]
    dossiers = [dossier(f"D-{i:03d}", [structure(deps[i % len(deps)], 1000 + k, ("PA", "PH", "AHI")[i % 3])
                                       for k in range(3 + (i % 17))]) for i in range(120)]
    page = tmp_path / "grande.html"
    cr.write(page, "html", decide(dossiers), dossiers, dossier_reports=False)
    layout = load(browser, page.as_uri(), 1200)
    assert problems_logged(browser) == []
    assert layout["scrollWidth"] <= layout["width"], layout["wide"]
    regions = next(c for c in layout["charts"] if c["id"] == "chart-regions-title")
    assert regions["h"] > 250            # one bar per region: taller than the small campaign's
    layout = load(browser, page.as_uri(), A4_CONTENT_PX, media="print")
    assert layout["scrollWidth"] <= A4_CONTENT_PX, layout["wide"]
