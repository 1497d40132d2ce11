"""Regenerate the real differences between consecutive bundled policies in docs/diff.md.

    /work/main/.venv/bin/python docs/gen_diff.py          # rewrite the generated block in place
    /work/main/.venv/bin/python docs/gen_diff.py --check  # exit 1 if docs/diff.md is stale

Only the block between ``<!-- generated:diff -->`` and ``<!-- /generated:diff -->`` is
rewritten, from `esms_rules.diff.diff` with the command's defaults (the search is seeded, so
the block is the same on every run of the same policies); the prose around it is written by hand.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from esms_rules.diff import KIND_FR, METHOD_TEXT, diff, witness_lines  # noqa: E402
from esms_rules.diff_render import _decision_line  # noqa: E402
from esms_rules.load import bundled_names  # noqa: E402

DOC = ROOT / "docs" / "diff.md"
START, END = "<!-- generated:diff -->", "<!-- /generated:diff -->"


def _where(span) -> str:
    if span is None:
        return "—"
    return f"`{Path(span.file).name}:{span.line}`"


def block() -> str:
    names = [n for n in bundled_names() if n.startswith("esms-numerique-")]
    out = [START, "", f"Méthode : {METHOD_TEXT} ; 3000 recherches, listes de 0 à 60 structures par dossier.", ""]
    for old, new in zip(names, names[1:], strict=False):
        r = diff(old, new)
        out += [f"### {old} → {new}", "", f"{len(r.differences)} classe(s) ; {r.guarantee}.", ""]
        for i, x in enumerate(r.differences, 1):
            out.append(f"{i}. **{x.summary}** ({x.found} dossiers de la recherche)")
            for c in x.causes:
                out.append(f"   - cause : {KIND_FR[c.kind]} `{c.name}` — {c.detail} "
                           f"({_where(c.old_span)} → {_where(c.new_span)})")
            out.append("   - témoin :")
            out.append("")
            out.append("     ```")
            out += ["     " + line for line in witness_lines(x.witness)]
            out.append("     ```")
            out.append(f"   - {old} : {_decision_line(x.old)}")
            out.append(f"   - {new} : {_decision_line(x.new)}")
        out.append("")
    out.append(END)
    return "\n".join(out)


def main(argv: list[str]) -> int:
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = head + block() + tail
    if "--check" in argv:
        if new != text:
            print("docs/diff.md is stale: run docs/gen_diff.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
