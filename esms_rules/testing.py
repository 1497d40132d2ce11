"""Policy tests: dossiers in, expected decisions out, written next to the policies.

A test file `NAME.test.json` sits beside the policy it tests; its format, with a JSON Schema
(`TEST_FILE_SCHEMA`), is in docs/testing.md. In short::

    {"policy": "esms-numerique-2025",        # optional: defaults to the file's stem
     "fixtures": {"base": { …a dossier… }},
     "tests": [{"name": "…", "given": "base", "set": {"software.segur_referenced": false},
                "expect": {"eligible": false, "codes": ["DUI_NOT_SEGUR_REFERENCED"]}}]}

`policy` names a policy file beside the test file (`NAME` for `NAME.esms`), a `.esms` path
relative to the test file, or a bundled policy; nothing else is ever read.

A malformed test file is refused as a whole with every problem by its JSON path (like a
dossier); a policy that does not pass the checker is reported once, with its diagnostics, and
its tests are not run. A run with nothing to test is not a success (`Report.ok`).
"""
from __future__ import annotations

import copy
import errno
import json
import re
from collections.abc import Iterable
from pathlib import Path

import attrs

from .decision import Decision
from .diagnostics import DossierError, EsmsError, PolicyError, Problem
from .load import EXTENSION, bundled_dir, bundled_names
from .policy import Policy
from .registry import load_policy
from .runtime import luhn_key

SUFFIX = ".test.json"
MAX_REPEAT = 1000           # structures one `{"repeat": N}` group may stand for
MAX_STRUCTURES = 5000       # structures one test's dossier may hold after expansion

STRUCTURE_DEFAULTS = {"name": "ESSMS", "category": "EHPAD", "casf_item": 6, "sector": "PA",
                      "financed_by": ["ARS", "CD"], "confort_share": 0.0}

_CODES = {"type": "array", "items": {"type": "string"}}
EXPECT_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "eligible": {"type": "boolean"},
        "recevable": {"type": "boolean"},
        "call": {"type": ["string", "null"]},
        "amount_eur": {"type": ["number", "null"]},
        "codes": _CODES, "codes_all": _CODES, "codes_any": _CODES,
        "warnings": _CODES, "warnings_all": _CODES, "warnings_none": _CODES,
        "structure_codes": {"type": "object", "additionalProperties": _CODES},
        "structure_codes_any": _CODES,
        "structure_warnings": {"type": "object", "additionalProperties": _CODES},
        "funded_share": {"type": "object", "additionalProperties": {"type": "number"}},
        "error_paths": _CODES,
    },
}
TEST_FILE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "esms-rules policy tests",
    "type": "object",
    "required": ["tests"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string"},
        "description": {"type": "string"},
        "policy": {"type": "string", "minLength": 1},
        "fixtures": {"type": "object", "additionalProperties": {"type": "object"}},
        "tests": {
            "type": "array", "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name"],
                "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "policy": {"type": "string", "minLength": 1},
                    "given": {"type": "string"},
                    "set": {"type": "object"},
                    "add": {"type": "object", "additionalProperties": {"type": "array"}},
                    "expect": EXPECT_SCHEMA,
                },
            },
        },
    },
    "$defs": {"group": {
        "description": "in `structures`: stands for `repeat` structures with these fields",
        "type": "object", "required": ["repeat"],
        "properties": {"repeat": {"type": "integer", "minimum": 0, "maximum": MAX_REPEAT}},
    }},
}


class TestFileError(EsmsError):
    """A test file that cannot be run: every problem by its JSON path."""

    __test__ = False   # not a pytest class

    def __init__(self, file: str, problems: list[Problem]):
        self.file = file
        self.problems = problems
        super().__init__(f"{file}: not a valid test file:\n" + "\n".join(f"  {p}" for p in problems))


@attrs.frozen
class Case:
    file: str
    name: str
    policy: str            # a path to a .esms file, or a bundled name
    dossier: dict
    expect: dict


@attrs.define
class Report:
    passed: int = 0
    failed: int = 0
    failures: list = attrs.Factory(list)     # printed blocks: failed tests, bad files, policy diagnostics
    errors: list = attrs.Factory(list)       # one line each: what could not be tested, and why
    exercised: set = attrs.Factory(set)      # (policy id, rule name)
    rules: set = attrs.Factory(set)
    policy_ids: set = attrs.Factory(set)

    @property
    def ok(self) -> bool:
        """Every test passed, there was at least one, and nothing was left untested."""
        return not self.failed and not self.errors and self.passed > 0

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
        lines = []
        if self.rules_total:
            share = 100.0 * self.rules_covered / self.rules_total
            lines.append(f"rule coverage: {self.rules_covered}/{self.rules_total} rules and exceptions "
                         f"exercised ({share:.0f}%)")
            lines += [f"  not exercised: {u}" for u in self.uncovered]
        lines += [f"error: {e}" for e in self.errors]
        if not self.passed and not self.failed and not self.errors:
            lines.append("error: nothing to test: no test was found")
        lines.append(f"{self.passed} passed, {self.failed} failed")
        return "\n".join(lines)


# ---- reading test files ---------------------------------------------------------
def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(value), type(value).__name__)


def _key(path: str, key: str) -> str:
    """`path.key`, or `path["key"]` when the key is not a plain name (e.g. a dotted `set` path)."""
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_]*", key):
        return f"{path}.{key}" if path != "$" else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
_TYPE_WORDS = {"object": "an object", "array": "a list", "string": "a string", "boolean": "a boolean",
               "null": "null", "number": "a number", "integer": "a whole number"}


def _conforms(value, schema: dict, path: str, out: list[Problem]) -> None:
    """The problems of `value` against the subset of JSON Schema that TEST_FILE_SCHEMA uses."""
    wanted = schema.get("type")
    if wanted is not None:
        names = wanted if isinstance(wanted, list) else [wanted]
        fits = any((isinstance(value, (int, float)) and not isinstance(value, bool)) if n == "number"
                   else (isinstance(value, int) and not isinstance(value, bool)) if n == "integer"
                   else isinstance(value, _TYPES[n]) for n in names)
        if not fits:
            out.append(Problem(path, f"must be {' or '.join(_TYPE_WORDS[n] for n in names)}, "
                                     f"found {_kind(value)}"))
            return
    if isinstance(value, str) and len(value) < schema.get("minLength", 0):
        out.append(Problem(path, "must not be empty"))
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            out.append(Problem(path, "must not be empty"))
        for i, item in enumerate(value):
            if "items" in schema:
                _conforms(item, schema["items"], f"{path}[{i}]", out)
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                out.append(Problem(_key(path, name), "is required"))
        for name, item in value.items():
            where = _key(path, name)
            if name in props:
                _conforms(item, props[name], where, out)
            elif schema.get("additionalProperties") is False:
                known = ", ".join(sorted(props))
                out.append(Problem(where, f"is not a known key (known: {known})"))
            elif isinstance(schema.get("additionalProperties"), dict):
                _conforms(item, schema["additionalProperties"], where, out)


def resolve_policy(spec: str, test_file: Path) -> str:
    """A test file's `policy`: a file beside it, a `.esms` path relative to it, or a bundled name.

    Raises ValueError (the message for the author) for anything else: the runner never reads a
    file that is not a policy named from the test file's own directory or the bundled ones.
    """
    here = test_file.parent
    if "/" in spec or "\\" in spec or spec.endswith(EXTENSION):
        path = Path(spec)
        if path.is_absolute():
            raise ValueError(f"`{spec}` is an absolute path; write a policy path relative to the test file")
        if path.suffix != EXTENSION:
            raise ValueError(f"`{spec}` is not a `{EXTENSION}` file")
        if not (here / path).is_file():
            raise ValueError(f"no policy file `{spec}` beside the test file")
        return str(here / path)
    if (here / f"{spec}{EXTENSION}").is_file():
        return str(here / f"{spec}{EXTENSION}")
    if spec in bundled_names():
        return spec
    raise ValueError(f"no policy `{spec}`: neither `{spec}{EXTENSION}` beside the test file nor a bundled "
                     f"policy (bundled: {', '.join(bundled_names())})")


def load_cases(file: str | Path) -> list[Case]:
    """The cases of one test file, or TestFileError listing every problem by JSON path."""
    file = Path(file)
    shown = str(file)
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError as e:
        raise TestFileError(shown, [Problem("$", f"not UTF-8 text ({e.reason} at byte {e.start})")]) from None
    except json.JSONDecodeError as e:
        where = f"line {e.lineno}, column {e.colno}"
        raise TestFileError(shown, [Problem("$", f"not valid JSON: {e.msg} ({where})")]) from None
    except RecursionError:
        raise TestFileError(shown, [Problem("$", "not valid JSON: nested too deeply")]) from None
    problems: list[Problem] = []
    _conforms(data, TEST_FILE_SCHEMA, "$", problems)
    if problems:
        raise TestFileError(shown, problems)
    fixtures = data.get("fixtures", {})
    default = data.get("policy") or file.name.removesuffix(SUFFIX)
    resolved: dict[str, str | None] = {}

    def policy_of(spec: str, path: str) -> str | None:
        if spec not in resolved:
            try:
                resolved[spec] = resolve_policy(spec, file)
            except ValueError as e:
                resolved[spec] = None
                problems.append(Problem(path, str(e)))
        return resolved[spec]

    cases = []
    for i, t in enumerate(data["tests"]):
        where = f"tests[{i}]"
        policy = (policy_of(t["policy"], f"{where}.policy") if "policy" in t
                  else policy_of(default, "policy" if "policy" in data else "$"))
        try:
            dossier = build_dossier(t, fixtures, where)
        except _BuildError as e:
            problems.append(e.problem)
            continue
        if policy is not None:
            cases.append(Case(shown, t["name"], policy, dossier, t.get("expect", {})))
    if problems:
        raise TestFileError(shown, problems)
    return cases


# ---- building dossiers --------------------------------------------------------
class _BuildError(Exception):
    def __init__(self, path: str, message: str):
        self.problem = Problem(path, message)


def expand_structures(groups, counter: list, where: str = "structures") -> list:
    """Structures as written, with `{"repeat": N, …}` groups expanded into N structures."""
    if not isinstance(groups, list):
        return groups       # not a list: the policy's validator names the problem
    out = []
    for i, g in enumerate(groups):
        if not isinstance(g, dict) or "repeat" not in g:
            out.append(g)
            continue
        n = g["repeat"]
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_REPEAT:
            raise _BuildError(f"{where}[{i}].repeat", f"must be a whole number from 0 to {MAX_REPEAT}, found {n!r}")
        if counter[0] + n > MAX_STRUCTURES:
            raise _BuildError(f"{where}[{i}].repeat", f"more than {MAX_STRUCTURES} structures in one test")
        template = {k: v for k, v in g.items() if k != "repeat"}
        for _ in range(n):
            counter[0] += 1
            s = {**STRUCTURE_DEFAULTS, "department": "75", **template}
            dep = str(s["department"])
            if "finess" not in s:   # unique, with a valid check key when the department is digits
                serial = dep + str(counter[0]).zfill(8 - len(dep))
                s["finess"] = serial + (luhn_key(serial) if serial.isdigit() else "0")
            s["name"] = f"{template.get('name', s['sector'])} {dep}-{counter[0]}"
            out.append(s)
    return out


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _steps(path: str) -> list:
    """`structures[2].finess` -> ["structures", 2, "finess"]."""
    return [m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(path)]


def _walk(doc, steps, where: str):
    """The value at `steps` in `doc`, or _BuildError saying which step is missing."""
    for n, step in enumerate(steps):
        ok = (isinstance(doc, list) and isinstance(step, int) and step < len(doc)) or \
             (isinstance(doc, dict) and isinstance(step, str) and step in doc)
        if not ok:
            done = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in steps[:n]).lstrip(".") or "the dossier"
            if isinstance(doc, list) and isinstance(step, int):
                why = f"`{done}` has no item {step} (it has {len(doc)})"
            elif isinstance(doc, dict) and isinstance(step, str):
                why = f"`{done}` has no field `{step}`"
            else:
                why = f"`{done}` is {_kind(doc)}, not {'a list' if isinstance(step, int) else 'an object'}"
            raise _BuildError(where, why)
        doc = doc[step]
    return doc


def build_dossier(spec: dict, fixtures: dict, where: str = "$") -> dict:
    """A test's dossier: its fixture, then its `set` patches, then its `add` items."""
    counter = [0]  # FINESS are numbered from 1 in each test
    given = spec.get("given")
    if given is not None and given not in fixtures:
        known = ", ".join(fixtures) or "none"
        raise _BuildError(_key(where, "given"), f"no fixture named `{given}` (fixtures: {known})")
    base = copy.deepcopy(fixtures[given]) if given is not None else {}
    if isinstance(base.get("structures"), list):
        base["structures"] = expand_structures(base["structures"], counter, f"fixtures.{given}.structures")
    for path, value in spec.get("set", {}).items():
        here = _key(_key(where, "set"), path)
        steps = _steps(path)
        if not steps:
            raise _BuildError(here, "is not a path (write e.g. `structures[0].finess`)")
        *parents, last = steps
        target, value = _walk(base, parents, here), copy.deepcopy(value)
        if value == "$delete" or not (isinstance(target, dict) and isinstance(last, str)):
            _walk(target, [last], here)       # what is deleted, and a list index, must exist
        if value == "$delete":
            del target[last]
            continue
        target[last] = expand_structures(value, counter, here) if last == "structures" else value
    for path, items in spec.get("add", {}).items():
        here = _key(_key(where, "add"), path)
        target = _walk(base, _steps(path), here)
        if not isinstance(target, list):
            raise _BuildError(here, f"`{path}` is {_kind(target)}, not a list")
        items = copy.deepcopy(items)
        target.extend(expand_structures(items, counter, here) if path == "structures" else items)
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
            same = got == want or (key == "amount_eur" and got is not None and want is not None
                                   and abs(float(got) - want) < 0.005)
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

    for field, what in (("reasons", "structure_codes"), ("warnings", "structure_warnings")):
        for key, want in exp.get(what, {}).items():
            found = structure(key)
            if found is None:
                errs.append(f"structure {key}: no such structure")
                continue
            got = {r["code"] for r in found.get(field, [])}
            if isinstance(want, list) and not want and got:
                errs.append(f"structure {key}: {field} {sorted(got)}, expected none")
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
def collect_test_files(paths: Iterable[str | Path], report: Report | None = None) -> list[Path]:
    """The test files named by PATHS: test files, directories, policies (their `NAME.test.json`).

    A path that does not exist raises FileNotFoundError; a policy or directory with no test
    file is noted in `report.errors` (nothing to test is not a success).
    """
    out = []
    for raw in paths:
        p = Path(raw)
        if not p.exists() and p.suffix != EXTENSION and "/" not in str(raw) and str(raw) in bundled_names():
            p = bundled_dir() / f"{raw}{EXTENSION}"      # a bundled policy by name
        if p.is_dir():
            found = sorted(p.glob("*" + SUFFIX))
            if not found and report is not None:
                report.errors.append(f"nothing to test: no `*{SUFFIX}` file in {raw}")
            out += found
        elif p.is_file() and p.suffix == EXTENSION:
            sibling = p.with_name(p.stem + SUFFIX)
            if sibling.is_file():
                out.append(sibling)
            elif report is not None:
                report.errors.append(f"nothing to test: {raw} has no test file (write {sibling})")
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(errno.ENOENT, "no such file, directory or bundled policy", str(raw))
    return list(dict.fromkeys(out))


def run_case(case: Case, policy=None) -> tuple[list[str], Decision | None]:
    policy = policy or load_policy(case.policy)
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
    if decision.trace is None:
        return set()
    return {n.rule for n in decision.trace.walk()
            if n.outcome == "fired" or (n.kind == "exception" and n.outcome in ("fired", "lifted", "passed"))}


def run_tests(paths: Iterable[str | Path]) -> Report:
    report = Report()
    policies: dict[str, Policy | None] = {}      # policy spec -> Policy, or None when it does not load
    broken: dict[str, int] = {}           # policy spec -> its number of diagnostics
    not_run: dict[str, int] = {}
    for file in collect_test_files(paths, report):
        try:
            cases = load_cases(file)
        except TestFileError as e:
            report.failures.append(str(e))
            report.errors.append(f"{file}: not a valid test file ({len(e.problems)} "
                                 f"problem{'s' * (len(e.problems) != 1)}); its tests were not run")
            continue
        except OSError as e:
            report.errors.append(f"{file}: cannot read: {e.strerror or e}")
            continue
        for case in cases:
            if case.policy not in policies:
                try:
                    loaded = load_policy(case.policy)
                except PolicyError as e:
                    policies[case.policy] = None
                    report.failures.append(e.render())       # each diagnostic once per run
                    broken[case.policy] = len(e.diagnostics)
                else:
                    policies[case.policy] = loaded
                    if loaded.id not in report.policy_ids:
                        report.policy_ids.add(loaded.id)
                        report.rules |= {(loaded.id, r.name) for r in loaded.checked.all_rules}
            policy = policies[case.policy]
            if policy is None:
                not_run[case.policy] = not_run.get(case.policy, 0) + 1
                continue
            try:
                errs, decision = run_case(case, policy)
            except EsmsError as e:
                errs, decision = [f"{type(e).__name__}: {e}"], None
            if decision is not None:
                report.exercised |= {(decision.policy_id, r) for r in exercised_rules(decision)}
            if errs:
                report.failed += 1
                report.failures.append(f"FAIL {case.file} :: {case.name}\n    " + "\n    ".join(errs))
            else:
                report.passed += 1
    for spec, n in broken.items():
        k = not_run.get(spec, 0)
        report.errors.append(f"{spec} does not pass `esms-rules check` ({n} error{'s' * (n != 1)}): "
                             f"{k} test{'s' * (k != 1)} not run")
    return report
