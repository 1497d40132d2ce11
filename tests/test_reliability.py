"""Totality: whatever the text or the dossier, esms-rules answers with a diagnostic, a
DossierError or a decision, never with another exception.

- random text, token soups and token-level mutations of the bundled policies only ever give
  PolicyError with located diagnostics (a mutant that still checks must also compile and run);
- nesting 10,000 deep gives a `too-deep` diagnostic, not RecursionError;
- bad dossiers give DossierError naming every problem by its JSON path; a repeated FINESS, an
  empty list of structures and 100,000 structures give decisions;
- valid generated dossiers evaluate without error, and the three evaluation paths agree.

Hypothesis budgets stay small (<= 200 examples per property); ESMS_HYPOTHESIS_SCALE=20 runs a
longer fuzzing session.
"""
from __future__ import annotations

import copy
import json
import os
import random
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import esms_rules
from esms_rules import DossierError, PolicyError
from esms_rules.check import check
from esms_rules.evaluate import Policy, load_policy
from esms_rules.fmt import format_source
from esms_rules.load import bundled_dir, bundled_names, link
from esms_rules.parse import parse_module, parser

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))
try:
    from strategies import bad_dossiers, dossiers
except ImportError:      # tests/strategies.py is written by another helper
    bad_dossiers = dossiers = None

SCALE = float(os.environ.get("ESMS_HYPOTHESIS_SCALE", "1"))
BUNDLED = bundled_names()
POLICIES = [n for n in BUNDLED if re.search(r"^policy ", (bundled_dir() / f"{n}.esms").read_text("utf-8"), re.M)]
LIBRARIES = [n for n in BUNDLED if n not in POLICIES]


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


def text_of(name: str) -> str:
    return (bundled_dir() / f"{name}.esms").read_text(encoding="utf-8")


# The contract's own example dossier (CONTRACT.md), and variations of it.
DOSSIER = {
    "id": "HDF-2025-0001", "campaign": 2025, "call": "regional",
    "submitted_at": "2025-09-15T22:10:00+02:00", "convention_signed_on": "2025-12-01",
    "applicant": {"name": "Association Exemple", "legal_form": "private", "gcsms": False},
    "software": {"action": "acquisition", "segur_referenced": True, "segur_candidate_on": None,
                 "resah_referenced": True, "mes_compatible": False},
    "other_eu_funding": [{"programme": "FEDER", "same_object": True}],
    "structures": [{"finess": "590000001", "name": "EHPAD Les Tilleuls", "department": "59",
                    "category": "EHPAD", "casf_item": 6, "sector": "PA", "financed_by": ["ARS", "CD"],
                    "confort_share": 0.0}],
}


def structure(i: int, department: str = "59", **changes) -> dict:
    s = dict(DOSSIER["structures"][0], finess=f"{department[:2]}{i:07d}", department=department)
    s.update(changes)
    return s


def dossier(**changes) -> dict:
    d = copy.deepcopy(DOSSIER)
    d.update(changes)
    return d


def assert_located(err: PolicyError) -> None:
    assert err.diagnostics, "a PolicyError names at least one problem"
    for d in err.diagnostics:
        assert d.span.line >= 1 and d.span.column >= 1, d
        assert d.code and d.message
    err.render()
    [d.to_dict() for d in err.diagnostics]


def total_check(text: str, file: str = "fuzz.esms", directory: Path | None = None):
    """link + check: a CheckedPolicy, or a PolicyError with located diagnostics; nothing else."""
    try:
        return check(link(text, file, directory or bundled_dir()))
    except PolicyError as e:
        assert_located(e)
        return None


def run_everywhere(checked) -> None:
    """A policy that checks compiles in every mode and runs: a Decision or a DossierError."""
    try:
        policy = Policy(checked)
        for mode in ("decision", "reasons", "trace"):
            policy.compiled(mode)
    except PolicyError as e:     # compilation refuses too deep a nesting with a diagnostic
        assert_located(e)
        return
    for d in (DOSSIER, dossier(structures=[]), dossier(structures=[structure(1), structure(1, sector="AHI")])):
        try:
            policy.decide(d)
            decision = policy.evaluate(d, trace=True)
            decision.to_dict()
            policy.evaluate(d, trace=False).to_dict(trace=False)
        except DossierError:
            pass


# ---- random text ------------------------------------------------------------------------
KEYWORDS = sorted({t.pattern.value for t in parser().terminals if t.pattern.type == "str"})
VOCABULARY = KEYWORDS + ["blocking", "warning", "inadmissible", "n", "s", "structures", "common",
                         "TOO_SMALL", "X", "int", "text", "bool", "date", "decimal", "list", "of",
                         '"a"', '"{n}"', '"\\{"', '"', "0", "15", "1.5", "2025-09-15", "2025-02-30",
                         "2025-09-15T22:10+02:00", "#", "\n", "==", "<=", "+", "-", "*", "?", "@"]


@settings(max_examples=examples(150), deadline=None)
@given(st.text(max_size=300))
def test_random_text_gives_diagnostics(text):
    total_check(text)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=60), st.integers(0, 2**32))
def test_token_soup_gives_diagnostics(tokens, seed):
    rnd = random.Random(seed)
    text = "".join(t + rnd.choice([" ", "\n", "  "]) for t in tokens)
    checked = total_check(text)
    if checked is not None:
        run_everywhere(checked)


TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d{4}-\d{2}-\d{2}(?:T[\d:]+(?:Z|[+-]\d{2}:\d{2}))?'
                   r'|\d+\.\d+|\d+|[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|->|\.\.|\S')


_OPERATORS = [{"==", "!=", "<", "<=", ">", ">="}, {"+", "-", "*"}, {"and", "or"}]


def _kind(token: str) -> str:
    """Tokens of one kind can replace each other and keep the text parseable, most of the time."""
    if token[0] == '"':
        return "string"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", token):
        return "date"
    if re.fullmatch(r"[\d.]+", token):
        return "number"
    if token in KEYWORDS and token not in ("and", "or", "true", "false", "null"):
        return "keyword " + token
    if token in ("true", "false", "null"):
        return "constant"
    if re.fullmatch(r"[a-z_][A-Za-z0-9_]*", token):
        return "name"
    if re.fullmatch(r"[A-Z][A-Z0-9_]*", token):
        return "code"
    return next((f"operator {k}" for k, ops in enumerate(_OPERATORS) if token in ops), "other " + token)


def mutate(text: str, rnd: random.Random, count: int) -> str:
    """Delete, duplicate, swap or replace whole tokens (strings, names, numbers, punctuation);
    half of the changes replace a token by another of its kind, which mostly still parses and
    so reaches the checker, the compiler and the evaluator."""
    spans = [m.span() for m in TOKEN.finditer(text)]
    gaps = [text[(spans[k - 1][1] if k else 0):s] for k, (s, _) in enumerate(spans)]
    tokens = [text[s:e] for s, e in spans]
    tail = text[spans[-1][1]:] if spans else text
    for _ in range(count):
        if not tokens:
            break
        i, j = rnd.randrange(len(tokens)), rnd.randrange(len(tokens))
        kind = rnd.choice(["delete", "duplicate", "swap", "replace", "same kind", "same kind", "same kind"])
        if kind == "delete":
            del tokens[i], gaps[i]
        elif kind == "duplicate":
            tokens.insert(i, tokens[i])
            gaps.insert(i + 1, " ")
        elif kind == "swap":
            tokens[i], tokens[j] = tokens[j], tokens[i]
        elif kind == "replace":
            tokens[i] = tokens[j]
        else:
            alike = [t for t in tokens if _kind(t) == _kind(tokens[i])]
            alike += [op for ops in _OPERATORS if tokens[i] in ops for op in sorted(ops)]
            tokens[i] = rnd.choice(alike)
    return "".join(g + t for g, t in zip(gaps, tokens, strict=False)) + tail


@pytest.fixture(scope="module")
def library_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("mutants")


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(BUNDLED), st.integers(0, 2**32), st.integers(1, 4))
def test_mutated_bundled_policies_give_diagnostics_or_run(library_dir, name, seed, count):
    rnd = random.Random(seed)
    text = mutate(text_of(name), rnd, count)
    if name in LIBRARIES and POLICIES:
        # a mutated library, imported by a policy: beside it, so it is found first
        (library_dir / f"{name}.esms").write_text(text, encoding="utf-8")
        importer = next((p for p in POLICIES if re.search(rf"^import {re.escape(name)}\b", text_of(p), re.M)),
                        POLICIES[0])
        checked = total_check(text_of(importer), f"{importer}.esms", library_dir)
    else:
        checked = total_check(text, f"{name}.esms")
    if checked is not None:
        run_everywhere(checked)


# ---- deep nesting -----------------------------------------------------------------------
N = 10_000
DEEP = {
    "parentheses": "def x = " + "(" * N + "1" + ")" * N,
    "not": "def x = " + "not " * N + "true",
    "plus": "def x = " + " + ".join(["1"] * N),
    "and": "def x = " + " and ".join(["true"] * N),
    "minus": "def x = " + "-" * N + "1",
    "if-else": "def x = " + "if true then 1 else " * N + "0",
    "if-then": "def x = " + "if true then " * N + "1" + " else 0" * N,
    "lists": "def x = " + "[" * N + "]" * N,
    "calls": "def x = " + "count(" * N + "[]" + ")" * N,
    "lookups": "table t: int -> int {}\ndef x = " + "t[" * N + "1" + "]" * N,
    "attributes": "record r { a: int }\nfact f: r\ndef x = f" + ".a" * N,
    "comprehensions": "def x = " + "[1 for y in " * N + "[]" + "]" * N,
    "types": "fact x: " + "list of " * N + "int",
    "interpolation": ('codes { X }\nfact n: int\nrule r {\n  code X\n  severity warning\n  when n > 1\n'
                      '  message "{' + "(" * N + "n" + ")" * N + '}"\n  source "s"\n}\n'),
    "rule condition": ("codes { X }\nfact n: int\nrule r {\n  code X\n  severity warning\n  when "
                       + "not " * N + 'n > 1\n  message "m"\n  source "s"\n}\n'),
}


@pytest.mark.parametrize("case", sorted(DEEP))
def test_deep_nesting_gives_a_diagnostic(case):
    text = DEEP[case]
    for attempt in (lambda: parse_module(text), lambda: check(link(text, "deep.esms")),
                    lambda: format_source(text)):
        try:
            attempt()          # parentheses and interpolations nest nothing: they are accepted
        except PolicyError as e:
            assert_located(e)
            assert [d.code for d in e.diagnostics] == ["too-deep"], e.render()[:300]


def test_long_chains_of_definitions_give_a_diagnostic():
    backward = "fact a0: int\n" + "".join(f"def a{i} = a{i - 1} + 1\n" for i in reversed(range(1, 2000)))
    with pytest.raises(PolicyError) as info:
        check(link(backward, "chain.esms"))
    assert [d.code for d in info.value.diagnostics] == ["too-deep"]
    functions = ("fact x: int\ndef f0(v: int): int = v\n"
                 + "".join(f"def f{i}(v: int): int = {'-' * 60}f{i - 1}(v)\n" for i in range(1, 6))
                 + 'policy "p" {}\ndef r = f5(x)\n')
    # functions that call functions are compiled once each, not inlined into one expression,
    # so a chain of deep bodies compiles (it used to exceed Python's nesting limits)
    policy = Policy(check(link(functions, "chain.esms")))
    assert policy.decide({"x": 1}).outputs == {}
    assert policy.compiled("reasons")({"x": 7})[0] is True
    doubling = ("fact x: int\ndef g0(v: int): int = v + 1\n"
                + "".join(f"def g{i}(v: int): int = g{i - 1}(v) + g{i - 1}(v)\n" for i in range(1, 25))
                + 'policy "p" {}\noutput r = g3(x)\n')
    from esms_rules.compile import emit
    policy = Policy(check(link(doubling, "doubling.esms")))
    assert len(emit(policy.checked, "decision")[0]) < 10_000   # linear in the policy, not 2**24
    assert policy.decide({"x": 1}).outputs == {"r": 16}


# ---- bad dossiers -----------------------------------------------------------------------
def problems(d: object, policy=None) -> set[str]:
    with pytest.raises(DossierError) as info:
        esms_rules.evaluate(d, policy=policy)
    err = info.value
    assert str(err) and json.loads(err.to_json())["error"] == "invalid_dossier"
    return {p.path for p in err.problems}


def without(path: list) -> dict:
    d = dossier()
    target = d
    for k in path[:-1]:
        target = target[k]
    del target[path[-1]]
    return d


BAD = {
    "wrong types": (dossier(campaign="2025", applicant={"name": 1, "legal_form": "private", "gcsms": "no"},
                            other_eu_funding={"programme": "FEDER"}),
                    {"campaign", "applicant.name", "applicant.gcsms", "other_eu_funding"}),
    "missing fields": (without(["structures", 0, "finess"]), {"structures[0].finess"}),
    "missing top-level and nested": (without(["software", "segur_candidate_on"]), {"software.segur_candidate_on"}),
    "unknown enum values": (dossier(call="departemental",
                                    structures=[structure(1, sector="enfants", financed_by=["ARS", "Region"])]),
                            {"call", "structures[0].sector", "structures[0].financed_by[1]"}),
    "invalid dates": (dossier(convention_signed_on="2025-02-30",
                              software=dict(DOSSIER["software"], segur_candidate_on="01/12/2025")),
                      {"convention_signed_on", "software.segur_candidate_on"}),
    "invalid date-times and offsets": (dossier(submitted_at="2025-09-15T22:10:00"), {"submitted_at"}),
    "offset out of range": (dossier(submitted_at="2025-09-15T22:10:00+25:00"), {"submitted_at"}),
    "not a real hour": (dossier(submitted_at="2025-09-15T25:10:00+02:00"), {"submitted_at"}),
    "FINESS not 9 characters": (dossier(structures=[structure(1, finess="59000001"), structure(2, finess=590000002)]),
                                {"structures[0].finess", "structures[1].finess"}),
    "shares outside 0..1": (dossier(structures=[structure(1, confort_share=1.5), structure(2, confort_share=-0.1),
                                                structure(3, confort_share=float("nan"))]),
                            {"structures[0].confort_share", "structures[1].confort_share",
                             "structures[2].confort_share"}),
    "department outside the list": (dossier(structures=[structure(1, department="975")]),
                                    {"structures[0].department"}),
    "casf item outside 1..17": (dossier(structures=[structure(1, casf_item=18)]), {"structures[0].casf_item"}),
    "entries that are not objects": (dossier(structures=[None, "x"]), {"structures[0]", "structures[1]"}),
    "no policy in force": (dossier(campaign=2019), {"campaign"}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_dossier_names_every_problem(case):
    d, paths = BAD[case]
    assert problems(d) == paths


@pytest.mark.parametrize("value", [None, [], "dossier", 42, [DOSSIER]])
def test_a_dossier_that_is_not_an_object(value):
    assert problems(value, policy="esms-numerique-2025")


def test_repeated_finess_gets_a_decision():
    d = dossier(structures=[structure(1), structure(2), structure(1)])
    decision = esms_rules.evaluate(d)
    assert [r.code for r in decision.structures[2].reasons] == ["DUPLICATE_STRUCTURE"]
    assert decision.structures[0].eligible and not decision.structures[2].eligible


def test_empty_structures_get_a_decision():
    decision = esms_rules.evaluate(dossier(structures=[]))
    assert not decision.eligible and decision.structures == ()
    assert "GROUPING_TOO_SMALL" in [r.code for r in decision.reasons]


def test_unknown_fields_are_warnings():
    d = dossier(extra={"deep": [[[[]]]]}, structures=[structure(1, colour="blue")])
    decision = esms_rules.evaluate(d)
    assert {w.message for w in decision.warnings if w.code == "UNKNOWN_FIELD"} >= {
        "Champ inconnu ignoré : extra.", "Champ inconnu ignoré : structures[0].colour."}


def test_a_hundred_thousand_structures():
    d = dossier(structures=[structure(i, department=("59", "35")[i % 2]) for i in range(100_000)],
                other_eu_funding=[], call="national", submitted_at="2025-05-20T10:00:00+02:00")
    policy = load_policy("esms-numerique-2025")
    verdict = policy.decide(d)
    decision = policy.evaluate(d, trace=False)
    assert verdict.eligible == decision.eligible is True
    assert len(decision.structures) == 100_000 and decision.call == "national"
    assert len(decision.to_json(trace=False)) > 100_000
    assert policy.evaluate(d, trace=True).eligible      # the trace itself is built only on demand


@pytest.mark.skipif(bad_dossiers is None, reason="tests/strategies.py not available")
@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_dossiers() if bad_dossiers is not None else st.nothing())
def test_generated_bad_dossiers_name_every_problem(pair):
    d, paths = pair
    assert problems(d) == set(paths)


# ---- valid dossiers ---------------------------------------------------------------------
@st.composite
def _small_dossiers(draw):
    """A fallback when tests/strategies.py is missing: the contract's example, varied."""
    n = draw(st.integers(0, 20))
    departments = draw(st.lists(st.sampled_from(["59", "62", "2A", "974", "35"]), min_size=1, max_size=3))
    return dossier(campaign=draw(st.sampled_from([2021, 2022, 2023, 2024, 2025])),
                   call=draw(st.sampled_from(["regional", "national"])),
                   structures=[structure(i, draw(st.sampled_from(departments)),
                                         sector=draw(st.sampled_from(["PA", "PH", "AHI", "PJM"])))
                               for i in range(n)])


VALID = dossiers() if dossiers is not None else _small_dossiers()


@settings(max_examples=examples(200), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VALID)
def test_valid_dossiers_evaluate_and_the_three_paths_agree(d):
    policy = esms_rules.policy_for(d)
    full = policy.evaluate(d, trace=True)
    fast = policy.evaluate(d, trace=False)
    verdict = policy.decide(d)
    assert (full.eligible, full.recevable, full.outputs) == (fast.eligible, fast.recevable, fast.outputs)
    assert (verdict.eligible, verdict.recevable, verdict.outputs) == (full.eligible, full.recevable, full.outputs)

    def codes(decision):
        return ([r.code for r in decision.reasons], [r.code for r in decision.warnings],
                [[r.code for r in s.reasons] for s in decision.structures])

    assert codes(full) == codes(fast)
    assert full.to_dict(trace=False) == fast.to_dict(trace=False)
    assert full.eligible == (not full.reasons)
    full.trace.to_dict()             # the explanation is built without error too
