"""Policy tests: dossiers in, expected decisions out, written next to the policies.

A test file `policies/<policy>.test.json` holds::

    {"policy": "esms-numerique-2025",              # optional: defaults to the file's stem
     "fixtures": {"base": { …a dossier… }},
     "tests": [{"name": "…", "given": "base", "set": {"software.segur_referenced": false},
                "expect": {"eligible": false, "codes": ["DUI_NOT_SEGUR_REFERENCED"]}}]}

A fixture or a `set` value for `structures` may use groups that expand into structures:
`{"repeat": 15, "department": "35", "sector": "PA"}` (other fields take defaults, FINESS are
numbered uniquely from the department). `set` takes dotted paths with list indices
(`structures[0].casf_item`; the value `"$delete"` removes the field); `"add"` appends items
to lists (`{"structures": [group…]}`).

`expect` keys: those of the shared examples (`eligible`, `recevable`, `call`, `amount_eur`,
`codes_all`, `codes_any`, `warnings_all`, `warnings_none`, `structure_codes`,
`structure_codes_any`, `funded_share`), plus exact sets `codes` and `warnings` (without
UNKNOWN_FIELD unless listed) and `error_paths` (a DossierError naming exactly these paths).
"""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Iterable

import attrs

from .diagnostics import DossierError, EsmsError
from .evaluate import Decision, load_policy

STRUCTURE_DEFAULTS = {"name": "ESSMS", "category": "EHPAD", "casf_item": 6, "sector": "PA",
                      "financed_by": ["ARS", "CD"], "confort_share": 0.0}


@attrs.frozen
class Case:
    file: str
    name: str
    policy: str
    dossier: dict
    expect: dict


@attrs.define
class Report:
    passed: int = 0
    failed: int = 0
    failures: list = attrs.Factory(list)
    exercised: set = attrs.Factory(set)      # (policy id, rule name)
    rules: set = attrs.Factory(set)
    policy_ids: set = attrs.Factory(set)

    @property
    def rules_total(self) -> int:
        return len(self.rules)

    @property
    def rules_covered(self) -> int:
        return len(self.rules & self.exercised)

    @property
    def uncovered(self) -> list[str]:
        return sorted(f"{p}: {r}" for p, r in self.rules - self.exercised)

    def summary(self) -> str:
        share = 100.0 * self.rules_covered / self.rules_total if self.rules_total else 100.0
        lines = [f"rule coverage: {self.rules_covered}/{self.rules_total} rules and exceptions exercised ({share:.0f}%)"]
        lines += [f"  not exercised: {u}" for u in self.uncovered]
        lines.append(f"{self.passed} passed, {self.failed} failed")
        return "\n".join(lines)


# ---- building dossiers --------------------------------------------------------
def expand_structures(groups, counter: list) -> list:
    """Structures as written, with `{"repeat": N, …}` groups expanded into N structures."""
    out = []
    for g in groups:
        if "repeat" not in g:
            out.append(g)
            continue
        template = {k: v for k, v in g.items() if k != "repeat"}
        for _ in range(g["repeat"]):
            counter[0] += 1
            s = {**STRUCTURE_DEFAULTS, "department": "75", **template}
            dep = str(s["department"])
            s.setdefault("finess", dep + str(counter[0]).zfill(9 - len(dep)))
            s["name"] = f"{template.get('name', s['sector'])} {dep}-{counter[0]}"
            out.append(s)
    return out


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list:
    """`structures[2].finess` -> ["structures", 2, "finess"]."""
    return [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)]


def _walk(doc, steps):
    for step in steps:
        doc = doc[step]
    return doc


def build_dossier(spec: dict, fixtures: dict) -> dict:
    """A test's dossier: its fixture, then its `set` patches, then its `add` items."""
    counter = [0]  # FINESS are numbered from 1 in each test
    base = copy.deepcopy(fixtures[spec["given"]]) if spec.get("given") else {}
    if isinstance(base.get("structures"), list):
        base["structures"] = expand_structures(base["structures"], counter)
    for path, value in spec.get("set", {}).items():
        *parents, last = _steps(path)
        target, value = _walk(base, parents), copy.deepcopy(value)
        if value == "$delete":
            del target[last]
            continue
        target[last] = expand_structures(value, counter) if last == "structures" and isinstance(value, list) else value
    for path, items in spec.get("add", {}).items():
        items = copy.deepcopy(items)
        _walk(base, _steps(path)).extend(expand_structures(items, counter) if path == "structures" else items)
    return base


# ---- checking expectations -------------------------------------------------------
def check_expectations(decision: dict, exp: dict) -> list[str]:
    """Differences between a decision (as a dict) and what a test expects."""
    errs = []
    codes = [r["code"] for r in decision.get("reasons", [])]
    warns = [r["code"] for r in decision.get("warnings", [])]
    for key in ("eligible", "recevable", "call", "amount_eur"):
        if key in exp:
            got, want = decision.get(key), exp[key]
            same = got == want or (key == "amount_eur" and None not in (got, want) and abs(float(got) - want) < 0.005)
            if not same:
                errs.append(f"{key} = {got!r}, expected {want!r}")
    if "codes" in exp and sorted(codes) != sorted(exp["codes"]):
        errs.append(f"reasons {sorted(codes)}, expected exactly {sorted(exp['codes'])}")
    errs += [f"missing reason {c} (got {sorted(codes)})" for c in exp.get("codes_all", []) if c not in codes]
    if exp.get("codes_any") and not set(codes) & set(exp["codes_any"]):
        errs.append(f"none of {exp['codes_any']} among reasons {sorted(codes)}")
    if "warnings" in exp:
        shown = [w for w in warns if w != "UNKNOWN_FIELD" or "UNKNOWN_FIELD" in exp["warnings"]]
        if sorted(shown) != sorted(exp["warnings"]):
            errs.append(f"warnings {sorted(shown)}, expected exactly {sorted(exp['warnings'])}")
    errs += [f"missing warning {c} (got {sorted(warns)})" for c in exp.get("warnings_all", []) if c not in warns]
    errs += [f"unexpected warning {c}" for c in exp.get("warnings_none", []) if c in warns]
    if exp.get("eligible") is False and not codes:
        errs.append("ineligible without any reason")
    structures = decision.get("structures", [])
    by_finess: dict = {}
    for s in structures:
        by_finess.setdefault(s.get("finess"), []).append(s)

    def structure(key: str):
        """A structure by FINESS, or by position as `#3`; None if there is none."""
        if key.startswith("#"):
            i = int(key[1:]) if key[1:].isdigit() else -1
            return structures[i] if 0 <= i < len(structures) else None
        return (by_finess.get(key) or [None])[0]

    for key, want in exp.get("structure_codes", {}).items():
        found = structure(key)
        if found is None:
            errs.append(f"structure {key}: no such structure")
            continue
        got = {r["code"] for r in found.get("reasons", [])}
        if isinstance(want, list) and not want and got:
            errs.append(f"structure {key}: reasons {sorted(got)}, expected none")
        errs += [f"structure {key}: missing {c} (got {sorted(got)})" for c in want if c not in got]
    if exp.get("structure_codes_any"):
        got = {r["code"] for s in structures for r in s.get("reasons", [])}
        if not got & set(exp["structure_codes_any"]):
            errs.append(f"no structure has any of {exp['structure_codes_any']}")
    for key, share in exp.get("funded_share", {}).items():
        found = structure(key)
        got = None if found is None else found.get("funded_share")
        if got is None or abs(float(got) - share) > 1e-9:
            errs.append(f"structure {key}: funded_share {got!r}, expected {share}")
    return errs


# ---- running ----------------------------------------------------------------------
def collect_test_files(paths: Iterable[str | Path]) -> list[Path]:
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(p.glob("*.test.json"))
        elif p.suffix == ".esms":
            sibling = p.with_name(p.stem + ".test.json")
            if sibling.is_file():
                out.append(sibling)
        else:
            out.append(p)
    return out


def load_cases(file: Path) -> list[Case]:
    data = json.loads(Path(file).read_text(encoding="utf-8"))
    policy = data.get("policy") or Path(file).name.removesuffix(".test.json")
    fixtures = data.get("fixtures", {})
    cases = []
    for t in data["tests"]:
        dossier = build_dossier(t, fixtures)
        cases.append(Case(str(file), t["name"], t.get("policy", policy), dossier, t.get("expect", {})))
    return cases


def _policy_for_case(case: Case):
    p = Path(case.file).parent / f"{case.policy}.esms"
    return load_policy(p if p.is_file() else case.policy)


def run_case(case: Case) -> tuple[list[str], Decision | None]:
    policy = _policy_for_case(case)
    try:
        decision = policy.evaluate(case.dossier)
    except DossierError as e:
        got = sorted({p.path for p in e.problems})
        want = sorted(case.expect.get("error_paths", []))
        if "error_paths" in case.expect and got == want:
            return [], None
        return [f"DossierError at {got}" + (f", expected {want}" if want else "") + f": {e}"], None
    if "error_paths" in case.expect:
        return [f"a decision, expected a DossierError at {case.expect['error_paths']}"], decision
    return check_expectations(decision.to_dict(trace=False), case.expect), decision


def exercised_rules(decision: Decision) -> set[str]:
    """Rules whose code fired, and exceptions that applied, in this decision."""
    return {n.rule for n in decision.trace.walk()
            if n.outcome == "fired" or (n.kind == "exception" and n.outcome in ("fired", "lifted", "passed"))}


def run_tests(paths: Iterable[str | Path]) -> Report:
    report = Report()
    for file in collect_test_files(paths):
        try:
            cases = load_cases(file)
        except (OSError, ValueError, KeyError, TypeError) as e:
            report.failed += 1
            report.failures.append(f"{file}: cannot read tests: {e}")
            continue
        for case in cases:
            try:
                policy = _policy_for_case(case)
                if policy.id not in report.policy_ids:
                    report.policy_ids.add(policy.id)
                    report.rules |= {(policy.id, r.name) for r in policy.checked.all_rules}
                errs, decision = run_case(case)
            except EsmsError as e:
                errs, decision = [f"{type(e).__name__}: {e}"], None
            if decision is not None:
                report.exercised |= {(decision.policy_id, r) for r in exercised_rules(decision)}
            if errs:
                report.failed += 1
                report.failures.append(f"FAIL {case.file} :: {case.name}\n    " + "\n    ".join(errs))
            else:
                report.passed += 1
    return report
