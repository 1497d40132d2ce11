"""Compact and full traces (issue 14 item 3, docs/trace.md).

- `trace="full"` is the trace as it was before compact traces existed: pinned by the render
  goldens (`tests/golden/render/<case>.txt`), the published schema and the docs example, and
  here against the compiled "trace" records themselves;
- the compact trace (the default) is the deciding path, every node of it is in the full trace
  with the same values, and every reason and warning of the decision has its node there;
- both are written from what the compiled run recorded: the "compact" mode's records are the
  "trace" mode's records on the deciding path, nothing is evaluated again;
- `to_json` writes the bytes `jsonio.dumps(to_dict())` writes;
- the CLI's `--trace compact|full|none` and `--no-trace`, `explain --trace`.
"""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

import esms_rules
from esms_rules import jsonio
from esms_rules.cli import cli
from esms_rules.explain import trace_shape
from esms_rules.render import render
from esms_rules.runtime import Outcome

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "bench"))
import real  # noqa: E402  (the bench's generator of 2025 dossiers)

GOLDEN_INPUTS = sorted((HERE / "golden" / "render" / "inputs").glob("*.json"))
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
DECIDING = ("fired", "overridden", "lifted")


SHARED_EXAMPLES = sorted((ROOT.parent / "shared" / "spec" / "examples").glob("*.json"))


def corpus() -> list[dict]:
    """Every bundled example, the shared worked examples, the render goldens' inputs, and
    generated 2025 dossiers (some with structure-level reasons, some late, some AHI/PJM), each
    for the policy in force."""
    out = []
    for p in [*EXAMPLES, *GOLDEN_INPUTS]:
        d = json.loads(p.read_text("utf-8"))
        out += d if isinstance(d, list) else [d]
    out += [json.loads(p.read_text("utf-8"))["dossier"] for p in SHARED_EXAMPLES]
    out += real.dossiers(40, 14)
    return out


CORPUS = corpus()


def decisions(d: dict):
    try:
        return esms_rules.evaluate(d, trace="compact"), esms_rules.evaluate(d, trace="full")
    except esms_rules.diagnostics.DossierError:
        return None


PAIRS = [p for p in map(decisions, CORPUS) if p is not None]


def test_the_corpus_decides_many_ways():
    assert len(PAIRS) >= 45 and {c.policy_id for c, _ in PAIRS} >= {"esms-numerique-2025", "mes-pilotes-2023"}
    codes = {r.code for c, _ in PAIRS for r in c.reasons + tuple(x for s in c.structures for x in s.reasons)}
    assert {"CONFORT_ONLY", "NOT_ESSMS", "AHI_CANDIDATE_TOO_LATE", "LATE_SUBMISSION"} <= codes


# ---- the parameter -----------------------------------------------------------------------------
def test_trace_parameter():
    assert [trace_shape(x) for x in (True, "compact", "full", False, None, "none")] == \
        ["compact", "compact", "full", None, None, None]
    with pytest.raises(ValueError, match="trace must be"):
        trace_shape("verbose")
    d = json.loads(GOLDEN_INPUTS[0].read_text("utf-8"))
    assert esms_rules.evaluate(d).trace.shape == "compact"
    assert esms_rules.evaluate(d, trace=True).trace.shape == "compact"
    assert esms_rules.evaluate(d, trace="full").trace.shape == "full"
    assert esms_rules.evaluate(d, trace=False).trace is None
    assert esms_rules.evaluate(d, trace="none").to_dict().get("trace") == {}
    policy = esms_rules.policy_for(d)
    shapes = [r.trace.shape for r in policy.evaluate_many([d, d], mode="full")] + \
        [r.trace.shape for r in policy.evaluate_many([d], mode="trace")]
    assert shapes == ["full", "full", "compact"]


def test_the_decision_is_the_same_whatever_the_trace():
    for compact, full in PAIRS:
        assert compact.to_dict(trace=False) == full.to_dict(trace=False)
        assert compact.to_json(trace=False) == full.to_json(trace=False)


# ---- pinned shapes -------------------------------------------------------------------------------
TRACE_GOLDEN = HERE / "golden" / "trace"


@pytest.mark.parametrize("shape", ["full", "compact"])
@pytest.mark.parametrize("case", ["ahi_candidate_too_late_2025", "structure_reasons_confort_2025"])
def test_pinned_traces(case, shape):
    """`<case>.full.json` was written by the engine before compact traces existed (commit ce60624):
    the full trace is still that, byte for byte (but the policies' sha256, which changed since with
    the campaign rules). `<case>.compact.json` pins the compact shape. ESMS_UPDATE_GOLDEN=1
    rewrites them after an intended change (a policy edit changes them: look at the diff)."""
    import os
    d = json.loads((HERE / "golden" / "render" / "inputs" / f"{case}.json").read_text("utf-8"))
    trace = esms_rules.evaluate(d, trace=shape).trace
    got = trace.to_json(indent=2) + "\n"
    path = TRACE_GOLDEN / f"{case}.{shape}.json"
    if os.environ.get("ESMS_UPDATE_GOLDEN") == "1":
        path.write_text(got, "utf-8")
    assert got == path.read_text("utf-8"), f"{path.name} differs (ESMS_UPDATE_GOLDEN=1 regenerates it)"
    assert json.loads(trace.to_json()) == json.loads(got)


# ---- built from the records --------------------------------------------------------------------
def on_deciding_path(record, parents: dict) -> bool:
    rule, item, outcome, _, _, _ = record
    if outcome in (Outcome.FIRED, Outcome.OVERRIDDEN, Outcome.LIFTED):
        return True
    # an exception that applied and whose own condition passed: its rule says it took its place
    return outcome == Outcome.PASSED and parents.get((rule, item)) is not None


def test_compact_records_are_the_full_records_on_the_deciding_path():
    for compact, _ in PAIRS[:30]:
        d = next(x for x in CORPUS if x.get("id") == compact.dossier)
        policy = esms_rules.load_policy(compact.policy_id)
        facts, _ = policy.validator.convert(d)
        full_run, compact_run = policy.compiled("trace")(facts), policy.compiled("compact")(facts)
        assert full_run[:3] == compact_run[:3] and full_run.def_values == compact_run.def_values
        overriding = {(r[5], r[1]): r for r in full_run.records if r[2] == Outcome.OVERRIDDEN}
        want = [r for r in full_run.records if on_deciding_path(r, overriding)]
        assert compact_run.records == want


# ---- compact ⊆ full, and what compact must show ------------------------------------------------
def same_node(c: dict, f: dict, where: str):
    for key in f:
        if key != "children":
            assert c[key] == f[key], (where, key)
    by_rule = {x["rule"]: x for x in f["children"]}
    assert [x["rule"] for x in c["children"]] == [x["rule"] for x in f["children"] if x["rule"] in
                                                  {y["rule"] for y in c["children"]}], where
    for child in c["children"]:
        same_node(child, by_rule[child["rule"]], f"{where}/{child['rule']}")


def test_compact_is_a_part_of_full():
    for compact, full in PAIRS:
        check_part_of_full(compact, full)


def check_part_of_full(compact, full):
    c, f = json.loads(compact.trace.to_json()), json.loads(full.trace.to_json())
    assert c.pop("shape") == "compact" and "shape" not in f
    assert c.pop("call") == full.call
    for key in ("policy", "sha256", "engine", "eligible", "recevable"):
        assert c[key] == f[key]
    full_defs = {x["name"]: x for x in f["definitions"]}
    assert all(full_defs[x["name"]] == x for x in c["definitions"])
    full_rules = {x["rule"]: x for x in f["rules"]}
    for node in c["rules"]:
        same_node(node, full_rules[node["rule"]], node["rule"])
    full_items = {x["index"]: x for x in f["structures"]}
    for item in c["structures"]:
        fi = full_items[item["index"]]
        assert (item["key"], item["eligible"]) == (fi["key"], fi["eligible"])
        rules = {x["rule"]: x for x in fi["rules"]}
        for node in item["rules"]:
            same_node(node, rules[node["rule"]], f"{item['index']}/{node['rule']}")


def walk(nodes, depth=0, parent=None):
    for n in nodes:
        yield n, parent
        yield from walk(n.children, depth + 1, n)


def test_compact_holds_the_whole_deciding_path_and_nothing_else():
    for compact, full in PAIRS:
        check_deciding_path(compact, full)


def check_deciding_path(compact, full):
    ct, ft = compact.trace, full.trace
    for roots_c, roots_f in [(ct.rules, ft.rules)] + [
            (i.rules, ft.items[i.index].rules) for i in ct.items]:
        shown = [(n.rule, n.outcome) for n, _ in walk(roots_c)]
        want = [(n.rule, n.outcome) for n, parent in walk(roots_f)
                if n.outcome in DECIDING or (parent is not None and parent.overridden_by == n.rule)]
        assert shown == want, compact.dossier
    assert all(i.rules for i in ct.items)          # a structure is shown for its deciding nodes
    assert {i.index for i in ft.items if any(n.outcome in DECIDING for r in i.rules for n, _ in r.walk())} \
        == {i.index for i in ct.items}


def test_every_reason_and_warning_has_its_node_in_the_compact_trace():
    """An auditor checks each line of the decision against the compact trace: the rule, what it
    read with the values, its message and its source."""
    assert sum(check_every_reason(compact) for compact, _ in PAIRS) > 60


def check_every_reason(compact) -> int:
    checked = 0
    trace = compact.trace
    for r in compact.reasons + tuple(w for w in compact.warnings if w.code != "UNKNOWN_FIELD"):
        node = trace.fired(r.rule)
        assert node is not None and (node.code, node.message, node.citation) == (r.code, r.message, r.source)
        assert node.reads and node.span is not None
        checked += 1
    for i, s in enumerate(compact.structures):
        for r in s.reasons + s.warnings:
            node = trace.fired(r.rule, i)
            assert node is not None and (node.code, node.message, node.citation) == (r.code, r.message, r.source)
            assert any(x.name.startswith("s.") for x in node.reads)
            checked += 1
    return checked


@pytest.mark.parametrize("test_file", sorted((ROOT / "policies").glob("*.test.json")), ids=lambda p: p.stem)
def test_the_policies_test_cases(test_file):
    """The three properties above on every case of the policies' own tests."""
    from esms_rules.testing import load_cases
    cases = [c for c in load_cases(test_file) if "error_paths" not in c.expect]
    assert cases
    for case in cases:
        policy = esms_rules.load_policy(case.policy)
        compact, full = policy.evaluate(case.dossier), policy.evaluate(case.dossier, trace="full")
        check_part_of_full(compact, full)
        check_deciding_path(compact, full)
        check_every_reason(compact)


def test_compact_definitions_are_those_the_outputs_depend_on():
    compact, full = next((c, f) for c, f in PAIRS if c.policy_id == "esms-numerique-2025")
    names = [d.name for d in compact.trace.definitions]
    assert names == ["n", "regions", "multiregional", "threshold", "expected_call", "grant"]   # not `counted`
    values = {d.name: d.value for d in full.trace.definitions}
    assert all(d.value == values[d.name] for d in compact.trace.definitions)


def test_an_eligible_dossier_has_a_short_compact_trace():
    eligible = [(c, f) for c, f in PAIRS if c.eligible and not c.warnings
                and not any(s.reasons or s.warnings for s in c.structures)]
    assert eligible
    for compact, full in eligible:
        t = compact.trace.to_dict()
        assert t["rules"] == [] and t["structures"] == [] and t["call"] == compact.call
        assert len(compact.trace.to_json()) * 4 < len(full.trace.to_json())


# ---- JSON bytes ----------------------------------------------------------------------------------
@pytest.mark.parametrize("indent", [None, 2])
def test_to_json_writes_what_jsonio_writes(indent):
    for compact, full in PAIRS[::3]:
        for decision in (compact, full):
            assert decision.trace.to_json(indent) == jsonio.dumps(decision.trace.to_dict(), indent=indent)
            assert decision.to_json(indent=indent) == jsonio.dumps(decision.to_dict(), indent=indent)
        assert full.to_json(trace=False, indent=indent) == jsonio.dumps(full.to_dict(trace=False), indent=indent)


def test_value_fragments_are_what_jsonio_writes():
    import datetime as dt

    from esms_rules.explain import _value_json, jsonable
    paris = dt.timezone(dt.timedelta(hours=2))
    values = [None, True, False, 0, -7, 10**15, -(10**15), 10**40, "é « x » \"q\" \\ \n\t\u0001", "",
              Decimal("0.35"), Decimal("1"), Decimal("1.0"), Decimal("-0"), Decimal("0.1000000000000000000001"),
              Decimal("1E+5"), Decimal("12345678901234567890.5"), dt.date(2025, 9, 15),
              dt.datetime(2025, 9, 15, 23, 59, tzinfo=paris), dt.datetime(2025, 1, 1), [], (), [1, "a", None],
              [{"finess": "590000001", "name": "x"}, {"finess": "590000002"}], [[{"a": 1}]], [{}],
              {"programme": "FEDER", "same_object": True}, {"a": [{"b": 2}]}, 0.5]
    for v in values:
        assert _value_json(v) == jsonio.dumps(jsonable(v)), v


def test_exact_numbers_in_a_trace():
    """A decimal no float holds, in a definition and in what a rule read: written with its digits
    (the C encoder hands it to jsonio)."""
    text = (ROOT / "policies" / "common.esms").read_text("utf-8")
    assert "def grant: decimal? = null" in text
    policy = esms_rules.Policy.from_text(
        (ROOT / "policies" / "esms-numerique-2025.esms").read_text("utf-8").replace(
            "import common", "import common\noverride def grant: decimal? = 0.1000000000000000000001"),
        str(ROOT / "policies" / "été.esms"))   # a span file name outside ASCII
    d = json.loads((HERE / "golden" / "render" / "inputs" / "eligible_regional_2025.json").read_text("utf-8"))
    for shape in ("compact", "full"):
        decision = policy.evaluate(d, trace=shape)
        assert decision.amount_eur == Decimal("0.1000000000000000000001")
        text = decision.to_json()
        assert text == jsonio.dumps(decision.to_dict())
        assert '"value": 0.1000000000000000000001' in text
        assert "été.esms" in text


def test_docs_compact_example_is_a_real_compact_trace():
    import re
    doc = (ROOT / "docs" / "trace.md").read_text("utf-8")
    m = re.search(r"<!-- compact-example:begin -->\s*```json\n(.*?)```\s*<!-- compact-example:end -->", doc, re.DOTALL)
    assert m
    shown = json.loads(m.group(1))
    d = json.loads((HERE / "golden" / "render" / "inputs" / "ahi_candidate_too_late_2025.json").read_text("utf-8"))
    real_trace = json.loads(esms_rules.evaluate(d).to_json())["trace"]
    for key in ("shape", "policy", "engine", "eligible", "recevable", "call", "structures"):
        assert shown[key] == real_trace[key], key
    values = {x["name"]: x["value"] for x in real_trace["definitions"]}
    assert all(values[x["name"]] == x["value"] for x in shown["definitions"])

    def same(a, b):
        for key in ("rule", "kind", "code", "level", "severity", "outcome", "overridden_by", "reads", "message"):
            assert a[key] == b[key], (a["rule"], key)
        assert a["span"]["line"] == b["span"]["line"] and len(a["children"]) == len(b["children"])
        for x, y in zip(a["children"], b["children"], strict=True):
            same(x, y)
    assert len(shown["rules"]) == len(real_trace["rules"])
    for a, b in zip(shown["rules"], real_trace["rules"], strict=True):
        same(a, b)


# ---- renderings of both shapes ---------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_renderings_of_both_shapes(fmt):
    for compact, full in PAIRS[:12]:
        a, b = render(compact, fmt), render(full, fmt)
        assert ("Trace compacte" in a) and ("Trace compacte" not in b)
        for r in compact.reasons:           # each reason, its message and condition in both
            assert r.code in a and r.code in b
        n_full = sum(1 for _ in full.trace.walk())
        n_compact = sum(1 for _ in compact.trace.walk())
        assert n_compact <= n_full


# ---- the CLI ---------------------------------------------------------------------------------
def run(*args, stdin=None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("trace") / "batch.jsonl"
    rows = real.dossiers(6, 3)
    path.write_text("".join(json.dumps(d) + "\n" for d in rows) + "not json\n", "utf-8")
    return path


@pytest.mark.parametrize("flags,shape", [((), "compact"), (("--trace", "compact"), "compact"),
                                         (("--trace", "full"), "full"), (("--trace", "none"), None),
                                         (("--no-trace",), None), (("--no-trace", "--trace", "none"), None)])
def test_cli_evaluate_trace_flags(batch, flags, shape):
    r = run("evaluate", str(batch), "-q", *flags)
    assert r.exit_code == 2             # the last line is not JSON: an error record, exit 2
    lines = r.output.splitlines()
    assert len(lines) == 7 and json.loads(lines[-1])["error"] == "invalid_json"
    rows = real.dossiers(6, 3)
    for line, d in zip(lines, rows, strict=False):
        want = esms_rules.evaluate(d, trace=shape or False).to_json(trace=shape is not None)
        assert line == want


def test_cli_contradicting_flags():
    r = CliRunner().invoke(cli, ["evaluate", "--example", "dossier-2025", "--no-trace", "--trace", "full"])
    assert r.exit_code == 2 and "contradict" in r.output


def test_cli_single_dossier_is_indented(tmp_path):
    d = json.loads(GOLDEN_INPUTS[0].read_text("utf-8"))
    path = tmp_path / "one.json"
    path.write_text(json.dumps(d), "utf-8")
    for shape in ("compact", "full"):
        r = run("evaluate", str(path), "--trace", shape)
        assert r.exit_code in (0, 1)
        assert r.output == esms_rules.evaluate(d, trace=shape).to_json(indent=2) + "\n"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_cli_explain_trace(fmt):
    d = json.loads(GOLDEN_INPUTS[0].read_text("utf-8"))
    name = GOLDEN_INPUTS[0]
    compact = run("explain", str(name), "--format", fmt)
    full = run("explain", str(name), "--format", fmt, "--trace", "full")
    assert compact.exit_code == full.exit_code == 0
    if fmt == "json":
        assert json.loads(compact.output) == esms_rules.evaluate(d).trace.to_dict()
        assert json.loads(full.output) == esms_rules.evaluate(d, trace="full").trace.to_dict()
    else:
        assert "Trace compacte" in compact.output and "Trace compacte" not in full.output
