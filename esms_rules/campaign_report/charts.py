"""The campaign report's charts: horizontal bars drawn by matplotlib, written as inline SVG
(deterministic ids, no global style). matplotlib is imported when a chart is drawn, never before."""
from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from ..render import h
from .words import SECTOR_LABELS, STATUS_LABELS, STATUSES, TERRITORY_LABELS, UNKNOWN, call_label, place_label

# Four fills that stay apart in black and white: lightness and hatching both differ.
STATUS_STYLE = {"eligible": ("#2f6b3a", ""), "ineligible": ("#f0c27b", "///"), "not_recevable": ("#9e2a2a", "xx"),
                "invalid": ("#d9d9d9", "---")}
TERRITORY_STYLE = {"metropole": ("#4a6fa5", ""), "corse": ("#c9d8ef", "\\\\\\"), "outre-mer": ("#f2e3b3", "++"),
                   UNKNOWN: ("#d9d9d9", "---")}
_RC: Any = {"svg.fonttype": "path", "font.family": "DejaVu Sans", "font.size": 9, "hatch.linewidth": 0.6,
       "axes.spines.top": False, "axes.spines.right": False, "svg.image_inline": True}


def _svg(fig: Any, key: str, title: str) -> str:
    """The figure as an inline <svg>: no XML prologue, no global style, ids prefixed by `key`
    (several charts share one page), sized by CSS from its viewBox, titled for screen readers."""
    import matplotlib
    buf = io.StringIO()
    rc: Any = {**_RC, "svg.hashsalt": f"esms-rules-{key}"}
    with matplotlib.rc_context(rc):
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    svg = re.sub(r"<style[^>]*>.*?</style>\s*", "", svg, flags=re.S)
    svg = re.sub(r">\s+<", "><", re.sub(r"\s*\n\s*", " ", svg))     # a fifth smaller, the same drawing
    svg = re.sub(r'(\bid="|href="#|url\(#)([^")]+)', lambda m: f"{m.group(1)}{key}-{m.group(2)}", svg)
    head_end = svg.index(">") + 1
    head = re.sub(r'\s(width|height)="[^"]*"', "", svg[:head_end])
    head = head.replace("<svg", f'<svg class="chart" role="img" aria-labelledby="{key}-title"', 1)
    return f'{head}<title id="{key}-title">{h(title)}</title>{svg[head_end:]}'


def _figure(rows: int, width: float = 7.2) -> Any:
    from matplotlib.figure import Figure
    return Figure(figsize=(width, 0.9 + 0.32 * max(rows, 1)), layout="constrained")


def _stacked(key: str, title: str, labels: list[str], series: list[tuple[str, list[int], tuple[str, str]]]) -> str:
    """Horizontal stacked bars, one per label (top to bottom), each segment's count written in it."""
    import matplotlib
    with matplotlib.rc_context(_RC):
        fig = _figure(len(labels))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        left = [0] * len(labels)
        biggest = max((sum(v[i] for _, v, _ in series) for i in range(len(labels))), default=0) or 1
        for name, values, (color, hatch) in series:
            bars = ax.barh(y, values, left=left, color=color, hatch=hatch, edgecolor="#1b1b1b", linewidth=0.6,
                           label=name, height=0.66)
            dark = color in ("#2f6b3a", "#9e2a2a", "#4a6fa5")
            for bar, v in zip(bars, values, strict=True):
                if v and v >= biggest * 0.06:
                    ax.text(bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height() / 2, str(v),
                            ha="center", va="center", fontsize=8, color="white" if dark else "#1b1b1b",
                            bbox=None if dark or not hatch else {"facecolor": "white", "edgecolor": "none",
                                                                  "pad": 0.8})
            left = [a + b for a, b in zip(left, values, strict=True)]
        for yy, total in zip(y, left, strict=True):
            ax.text(total + biggest * 0.01, yy, str(total), va="center", fontsize=8, fontweight="bold")
        ax.set_yticks(y, labels)
        ax.set_xlim(0, biggest * 1.1)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=len(series), frameon=False, fontsize=8)
        return _svg(fig, key, title)


def _bars(key: str, title: str, labels: list[str], values: list[int], kinds: list[str]) -> str:
    """Horizontal bars, one per label (most frequent on top); `kinds` "reason" solid, "warning" hatched."""
    import matplotlib
    from matplotlib.patches import Patch
    with matplotlib.rc_context(_RC):
        fig = _figure(len(labels))
        ax = fig.add_subplot()
        y = list(range(len(labels)))[::-1]
        biggest = max(values, default=0) or 1
        styles = {"reason": ("#9e2a2a", ""), "warning": ("#f0c27b", "///")}
        for yy, v, k in zip(y, values, kinds, strict=True):
            color, hatch = styles[k]
            ax.barh([yy], [v], color=color, hatch=hatch, edgecolor="#1b1b1b", linewidth=0.6, height=0.66)
            ax.text(v + biggest * 0.01, yy, str(v), va="center", fontsize=8, fontweight="bold")
        ax.set_yticks(y, labels, fontfamily="DejaVu Sans Mono", fontsize=8)
        ax.set_xlim(0, biggest * 1.12)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel("dossiers concernés")
        ax.legend(handles=[Patch(facecolor=c, hatch=hh, edgecolor="#1b1b1b", label=n) for n, (c, hh) in
                           (("motif bloquant", styles["reason"]), ("avertissement", styles["warning"]))],
                  loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=2, frameon=False, fontsize=8)
        return _svg(fig, key, title)


CHARTED = 15   # codes drawn in the frequency chart; its table lists them all


def draw(s: Mapping[str, Any]) -> dict[str, str]:
    charts: dict[str, str] = {}
    status = [(STATUS_LABELS[k], k, STATUS_STYLE[k]) for k in STATUSES]
    for key, table, name, label in (("regions", s["by_region"], "region", place_label),
                                    ("calls", s["by_call"], "call", call_label)):
        if table:
            charts[key] = _stacked(f"chart-{key}", f"Dossiers par {'région' if key == 'regions' else 'appel'}",
                                   [label(r[name]) for r in table],
                                   [(n, [r[k] for r in table], style) for n, k, style in status])
    codes = sorted([(r["dossiers"], "reason", r["code"]) for r in s["reasons"]]
                   + [(r["dossiers"], "warning", r["code"]) for r in s["warnings"]],
                   key=lambda t: (-t[0], t[1], t[2]))[:CHARTED]
    if codes:
        charts["codes"] = _bars("chart-codes", "Motifs et avertissements par fréquence", [c for _, _, c in codes],
                                [n for n, _, _ in codes], [k for _, k, _ in codes])
    st = s["structures"]
    if st["by_sector"]:
        charts["structures"] = _stacked(
            "chart-structures", "Structures comptées par secteur et territoire",
            [SECTOR_LABELS.get(r["sector"], r["sector"]) for r in st["by_sector"]],
            [(TERRITORY_LABELS[t], [r["counted"][t] for r in st["by_sector"]], TERRITORY_STYLE[t])
             for t in st["territories"]])
    return charts

