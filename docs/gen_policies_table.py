"""Regenerate the rule tables of docs/policies.md from the bundled policies and their tests.

    .venv/bin/python docs/gen_policies_table.py          # rewrite the tables in place
    .venv/bin/python docs/gen_policies_table.py --check  # exit 1 if docs/policies.md is stale

Only the blocks between ``<!-- generated:rules:<policy id> -->`` and
``<!-- /generated:rules:<policy id> -->`` are rewritten, and the two blocks ``documents`` (the
register ``policies/documents.toml``) and ``readings`` (every [I] and [GAP] citation of the
policies); the prose around them is written by hand. Nothing here runs at library run time: the
Markdown is committed.

For each rule and exception of a policy (``Policy.checked.all_rules``) a row gives its code,
level, severity, the ``source`` it cites, where it is written (file:line), the definitions it
depends on that the policy's own files set (with their line and citation), and the test cases
of ``policies/<id>.test.json`` that pin it:

- "fires": the rule fired (an exception: applied) in that case, per the decision's trace;
- "shown not to fire": the case names the code (or, for an exception, the base rule fired
  while the exception did not apply), and the rule did not fire.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import attrs  # noqa: E402

import esms_rules  # noqa: E402
from esms_rules import ast  # noqa: E402
from esms_rules.ast import Call, Name  # noqa: E402
from esms_rules.cite import REGISTER, load_register, parse  # noqa: E402
from esms_rules.load import BUNDLED_PREFIX  # noqa: E402
from esms_rules.testing import load_cases  # noqa: E402

DOC = ROOT / "docs" / "policies.md"
POLICIES = ROOT / "policies"
APPLIED = ("fired", "lifted", "passed")  # an exception whose condition held


def _names(node, out: set) -> set:
    """Every name and called function in an AST node (attrs instances, tuples, lists)."""
    if isinstance(node, Name):
        out.add(node.name)
    elif isinstance(node, Call):
        out.add(node.func)
    if attrs.has(type(node)):
        for f in attrs.fields(type(node)):
            _names(getattr(node, f.name), out)
    elif isinstance(node, (list, tuple)):
        for x in node:
            _names(x, out)
    return out


def _rel(file: str) -> str:
    p = Path(file.removeprefix(BUNDLED_PREFIX))     # a bundled module: policies/<name> in the checkout
    if not p.is_absolute():
        p = ROOT / p
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


def _where(span) -> str:
    rel = _rel(span.file)
    return f"[{rel}:{span.line}](../{rel}#L{span.line})"


def _cell(text: str | None) -> str:
    return (text or "—").replace("|", "\\|").replace("\n", " ")


def _own_defs(policy, roots: set[str]) -> list[str]:
    """Definitions reachable from `roots` (names) that are written outside common.esms."""
    defs = policy.checked.defs
    # `passes(s)`: the structure has no structure-level reason, so it reads those rules' inputs
    via_passes = set().union(*(_rule_roots(r) for r in policy.checked.all_rules if r.level == "structure"))
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name == "passes":
            todo += [n for n in via_passes if n not in seen]
        elif name in defs:
            todo += [n for n in _names(defs[name].expr, set()) if n not in seen]
    out = []
    for name in sorted(seen & set(defs)):
        d = defs[name]
        if d.span is None or Path(d.span.file).name == "common.esms":
            continue
        cite = f" — {d.source}" if d.source else ""
        out.append(f"`{name}` ({_where(d.span)}){cite}")
    return out


def _rule_roots(rule) -> set[str]:
    return {r.label for r in rule.reads} | _names(rule.when, set()) | _names(rule.applies, set())


def _outcomes(policy, case) -> dict[str, set[str]]:
    """rule name -> outcomes seen in the case's trace (empty for an invalid dossier)."""
    try:
        decision = policy.evaluate(case.dossier)
    except esms_rules.DossierError:
        return {}
    out: dict[str, set[str]] = {}
    for node in decision.trace.walk():
        if getattr(node, "rule", None) and getattr(node, "outcome", None):
            out.setdefault(node.rule, set()).add(node.outcome)
    return out


MAX_LISTED = 10


def _listed(names: list[str], at_least: int = MAX_LISTED) -> str:
    shown = names[:at_least]
    out = "<br>".join(f"“{_cell(n)}”" for n in shown)
    if len(names) > len(shown):
        out += f"<br>(and {len(names) - len(shown)} other cases)"
    return out


def _cases(names: list[str], rule) -> str:
    """Case names, those naming the code first; long lists are cut at MAX_LISTED."""
    key = rule.code or rule.name
    named = [n for n in names if key in n]
    ordered = named + [n for n in names if n not in named]
    return _listed(ordered, max(MAX_LISTED, len(named)))


def table(policy_id: str) -> str:
    policy = esms_rules.load_policy(POLICIES / f"{policy_id}.esms")
    test_file = POLICIES / f"{policy_id}.test.json"
    cases = load_cases(test_file) if test_file.is_file() else []
    traces = [(c.name, _outcomes(policy, c)) for c in cases]
    lines = [
        f"Tests: `policies/{policy_id}.test.json` ({len(cases)} cases).",
        "",
        ("| rule | code | level | severity | implements (source cited) | written at | set by this policy "
         "| pinned by: fires | pinned by: shown not to fire |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in policy.checked.all_rules:
        is_exc = r.target is not None
        fires, quiet = [], []
        for name, seen in traces:
            mine = seen.get(r.name, set())
            if (mine & set(APPLIED)) if is_exc else "fired" in mine:
                fires.append(name)
            elif is_exc and ("fired" in seen.get(r.target, set()) or (r.code and r.code in name)):
                quiet.append(name)      # the base rule fired: the exception did not apply
            elif not is_exc and r.code and re.search(rf"\b{r.code}\b", name):
                quiet.append(name)      # the case names the code, which did not fire
        own = _own_defs(policy, _rule_roots(r))
        lines.append("| " + " | ".join([
            f"`{r.name}` ({f'exception to `{r.target}`' if is_exc else 'rule'})",
            f"`{r.code}`" if r.code else "—",
            r.level,
            r.severity if r.code else "— (lifts the rule)",
            _cell(r.source),
            _where(r.span),
            "<br>".join(own) if own else "—",
            _cases(fires, r) if fires else "none (cannot fire in this policy)",
            _cases(quiet, r) if quiet else "—",
        ]) + " |")

    rows = []
    for name, out in policy.checked.outputs.items():
        own = _own_defs(policy, _names(out.expr, set()))
        if not own:
            continue
        pins = [c.name for c in cases if c.expect.get(name) is not None]
        first = [n for n in pins if "€" in n] if name == "amount_eur" else []  # names with the sum
        pins = first + [n for n in pins if n not in first]
        rows.append(f"| `{name}` | {_where(out.span)} | {'<br>'.join(own)} | "
                    f"{_listed(pins, max(MAX_LISTED, len(first))) if pins else '—'} |")
    if rows:
        lines += ["", "Outputs of the decision that this policy sets itself:", "",
                  "| output | written at | set by this policy | pinned by |", "| --- | --- | --- | --- |", *rows]
    else:
        lines += ["", "Outputs of the decision: all as in `common.esms` (no output set by this policy)."]
    return "\n".join(lines)


def documents() -> str:
    """The register of documents, one row each."""
    docs, errors = load_register((POLICIES / REGISTER).read_text(encoding="utf-8"), f"policies/{REGISTER}")
    assert not errors, errors
    lines = ["| id | kind | issuer | title | reference | date | address | passages kept |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for d in docs.values():
        kept = f"{len(d.passages)}, from {d.kept_from}" if d.passages else "none (cited without « »)"
        lines.append("| " + " | ".join([
            f"`{d.id}`", d.kind, _cell(d.issuer), _cell(d.title), _cell(d.reference),
            d.date.isoformat() if d.date else "—", f"[link]({d.url})" if d.url else "—", _cell(kept)]) + " |")
    return "\n".join(lines)


def _raw_sources(policy):
    """(name, source as written) of every declaration of a policy and its modules."""
    for d, _module in policy.checked.program.decls:
        if isinstance(d, (ast.RuleDecl, ast.ExceptionDecl)):
            yield d.name, d.get("source")
        elif isinstance(d, (ast.DefDecl, ast.TableDecl)):
            yield d.name, d.source


def readings() -> str:
    """Every [I] and [GAP] citation of the bundled policies, with where it is used."""
    used: dict[tuple, dict[str, list[str]]] = {}
    for policy in esms_rules.bundled_policies():
        for name, source in _raw_sources(policy):
            cites = parse(source) if source else []
            for c in cites if isinstance(cites, list) else []:
                if c.tag != "C":
                    key = (c.tag, c.document, c.locator or "", c.text)
                    used.setdefault(key, {}).setdefault(name, []).append(policy.id)
    lines = ["| tag | document, locator | interprétation : … | used by |", "| --- | --- | --- | --- |"]
    for (tag, doc, locator, text), names in sorted(used.items(), key=lambda kv: (kv[0][1], kv[0][2], kv[0][0])):
        where = "<br>".join(f"`{n}` ({', '.join(sorted(set(pids)))})" for n, pids in sorted(names.items()))
        lines.append(f"| [{tag}] | `{doc}`{', ' + _cell(locator) if locator else ''} | {_cell(text)} | {where} |")
    return "\n".join(lines)


def render(text: str) -> str:
    def repl(m):
        pid = m.group(1)
        return f"<!-- generated:rules:{pid} -->\n{table(pid)}\n<!-- /generated:rules:{pid} -->"
    text = re.sub(r"<!-- generated:rules:([\w.-]+) -->.*?<!-- /generated:rules:\1 -->", repl, text, flags=re.DOTALL)
    for name, make in (("documents", documents), ("readings", readings)):
        block = f"<!-- generated:{name} -->\n{make()}\n<!-- /generated:{name} -->"
        text = re.sub(rf"<!-- generated:{name} -->.*?<!-- /generated:{name} -->", lambda m, block=block: block,
                      text, flags=re.DOTALL)
    return text


def main(argv: list[str]) -> int:
    old = DOC.read_text(encoding="utf-8")
    new = render(old)
    if "--check" in argv:
        if new != old:
            print(f"{DOC} is stale: run docs/gen_policies_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
