"""Renderings of decisions (the esms_rules/render/ package).

Golden files pin the text and Markdown renderings of four decisions; the inputs sit in
tests/golden/render/inputs/. Regenerate after an intended change (a policy edit changes the
sha256 and the spans) with::

    ESMS_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_render.py

HTML: every value from a policy or a dossier is escaped; the page is self-contained.
The JSON Schema of `Trace.to_dict()` published in docs/trace.md validates real traces.
"""
from __future__ import annotations

import difflib
import html
import json
import os
import re
from pathlib import Path

import pytest

import esms_rules
from esms_rules.counterfactual import suggest
from esms_rules.render import FORMATS, amount_label, md, render, share_label

HERE = Path(__file__).resolve().parent
GOLDEN = HERE / "golden" / "render"
INPUTS = GOLDEN / "inputs"
DOCS = HERE.parent / "docs" / "trace.md"
CASES = ["eligible_regional_2025", "ahi_candidate_too_late_2025", "late_submission_2025",
         "structure_reasons_confort_2025", "pilots_two_structures_2023"]
UPDATE = os.environ.get("ESMS_UPDATE_GOLDEN") == "1"

HOSTILE_POLICY = r'''
policy "hostile-2025" {
  programme   "esms-numerique"
  campaign    2025
  effective   2025-01-01
  instruction "<script>alert('instruction')</script>"
}

import common

def regional_deadline = 2025-09-15
  source "<img src=x onerror=alert(1)> \"double\" 'single' & co"
def multiregional_deadline = 2025-06-01
def national_deadline = 2025-06-01
def maximum = null

rule hostile_rule {
  code     DUI_NOT_SEGUR_REFERENCED
  severity blocking
  when     not software.segur_referenced
  message  "<script>alert(1)</script> \"guillemets\" 'apostrophes' & {applicant.name}"
  source   "</li><script>alert('source')</script><a href=\"javascript:alert(2)\">x</a>"
}
'''


def load_input(case: str) -> dict:
    return json.loads((INPUTS / f"{case}.json").read_text(encoding="utf-8"))


def hostile_decision(tmp_path):
    path = tmp_path / "hostile.esms"
    path.write_text(HOSTILE_POLICY, encoding="utf-8")
    policy = esms_rules.Policy.from_text(HOSTILE_POLICY, str(path))
    dossier = load_input("eligible_regional_2025")
    dossier["software"]["segur_referenced"] = False
    dossier["applicant"]["name"] = '<b>Porteur</b> "X" & <script>alert(4)</script>'
    dossier["structures"][0]["name"] = "<script>alert(3)</script>"
    dossier["structures"][1]["casf_item"] = None
    dossier["id"] = '<script>alert("id")</script>'
    return policy, dossier, policy.evaluate(dossier, trace="full")


# ---- golden renderings ---------------------------------------------------------------------------
@pytest.mark.parametrize("shape", ["full", "compact"])
@pytest.mark.parametrize("fmt,ext", [("text", "txt"), ("markdown", "md")])
@pytest.mark.parametrize("case", CASES)
def test_golden(case, fmt, ext, shape):
    """Full traces render as before compact traces existed (`<case>.txt`); compact ones show the
    deciding path (`<case>.compact.txt`)."""
    dossier = load_input(case)
    decision = esms_rules.evaluate(dossier, trace=shape)
    got = render(decision, fmt, suggestions=suggest(None, dossier))
    path = GOLDEN / (f"{case}.{ext}" if shape == "full" else f"{case}.compact.{ext}")
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden {path}; run with ESMS_UPDATE_GOLDEN=1 to create it")
        path.write_text(got, encoding="utf-8")
    want = path.read_text(encoding="utf-8")
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), str(path), "rendu",
                                            n=1))
        pytest.fail(f"{path.name} differs (ESMS_UPDATE_GOLDEN=1 regenerates it):\n{diff[:6000]}")


def test_golden_cases_cover_what_they_claim():
    d = {c: esms_rules.evaluate(load_input(c)) for c in CASES}
    assert d["eligible_regional_2025"].eligible and d["eligible_regional_2025"].call == "regional"
    assert [r.code for r in d["ahi_candidate_too_late_2025"].reasons] == ["AHI_CANDIDATE_TOO_LATE"]
    assert not d["late_submission_2025"].recevable
    assert [r.code for r in d["late_submission_2025"].reasons] == ["LATE_SUBMISSION"]
    s = d["structure_reasons_confort_2025"]
    codes = {c for st in s.structures for c in (r.code for r in st.reasons)}
    assert codes == {"NOT_ESSMS", "CONFORT_ONLY", "DUPLICATE_STRUCTURE"}
    assert any(st.funded_share not in (0, 1) for st in s.structures)
    p = d["pilots_two_structures_2023"]
    assert p.policy_id == "mes-pilotes-2023" and p.call is None
    assert "GROUPING_TOO_LARGE" in [r.code for r in p.reasons]
    assert [w.code for w in p.warnings] == ["DEADLINE_UNKNOWN"]


@pytest.mark.parametrize("trace", [True, False])
def test_a_pilots_decision_is_titled_for_its_programme(trace):
    decision = esms_rules.evaluate(load_input("pilots_two_structures_2023"), trace=trace)
    text = render(decision, "text")
    assert text.startswith("Décision ESMS pilote Mon espace santé — dossier MES-23-TWO\n")
    assert "Décision ESMS numérique" not in text
    assert "Appel : aucun : le dossier ne relève d'aucun appel" in text
    assert "deadline [inconnue] est vide" in text or not trace     # a computed null date: « inconnue »


# ---- content and order ------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_rendering_names_policy_hash_and_engine(fmt):
    decision = esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"))
    out = render(decision, fmt)
    assert decision.policy_id in out
    assert decision.sha256 in out
    assert esms_rules.__version__ in out


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_verdict_first_then_reasons_then_tree(fmt):
    decision = esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"), trace="full")
    out = render(decision, fmt)
    if fmt == "html":
        out = html.unescape(out)
    if fmt == "markdown":
        out = out.replace("`", "").replace("\\_", "_")
    verdict = out.index("Dossier recevable, non éligible.")
    reason = out.index("AHI_CANDIDATE_TOO_LATE")
    message = out.index("n'était pas candidat au référencement")
    tree = out.index("grouping_too_small")
    definitions = out.index("regional_deadline")
    table = out.index("130005424")
    if fmt == "html":   # the printed report: summary, then the structures' table, then the trace
        assert verdict < reason < message < table < tree < definitions
    else:
        assert verdict < reason < message < tree < definitions < table
    line = next(i for i, text in enumerate((HERE.parent / "policies" / "esms-numerique-2025.esms").read_text(
        encoding="utf-8").splitlines(), 1) if text.startswith("exception ahi_candidate"))
    assert f"policies/esms-numerique-2025.esms:{line}" in out    # the rule's span
    assert "écartée par l'exception ahi_candidate" in out          # who overrode whom
    assert "20/12/2025" in out and "10/01/2026" in out               # French dates


def test_french_values():
    assert amount_label(None) == "sans barème pour cette campagne"      # eligible, no barème
    assert amount_label(None, eligible=False) == "sans objet (dossier non éligible)"
    assert amount_label(25000) == "25 000,00 €"
    assert share_label(0.6) == "60 %"
    assert share_label(None) == "—"
    decision = esms_rules.evaluate(load_input("late_submission_2025"))
    text = render(decision, "text")
    assert "submitted_at [16/09/2025 à 00:00 heure de Paris (UTC+02:00)]" in text
    assert "Recevable : non" in text
    assert "Montant : sans objet (dossier non éligible)" in text
    assert "grant = sans objet" in text              # a computed null is not « non renseigné »


def test_instants_at_paris_time_with_their_own_offset():
    """A filing at 23:30 UTC+01:00 on 15/10/2021 is 00:30 in Paris (summer time) on the 16th:
    shown at Paris time, the filing's own offset beside it, never the two mixed."""
    import datetime as dt

    from esms_rules.french import datetime_label
    late = dt.datetime(2021, 10, 15, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert datetime_label(late) == "16/10/2021 à 00:30 heure de Paris (15/10/2021 à 23:30 en UTC+01:00)"
    paris = dt.datetime(2025, 9, 16, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert datetime_label(paris) == "16/09/2025 à 00:00 heure de Paris (UTC+02:00)"


def test_conditions_show_the_rule_with_its_values():
    decision = esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"))
    text = render(decision, "text")
    assert ("Condition : non software.segur_referenced [non] et convention_signed_on [20/12/2025] n'est pas vide "
            "et (software.segur_candidate_on [10/01/2026] est vide ou software.segur_candidate_on [10/01/2026] "
            "> convention_signed_on [20/12/2025])") in text
    assert "S'applique si : only_ahi_or_pjm [oui]" in text
    out = html.unescape(render(decision, "html"))
    assert '<code>convention_signed_on</code> <span class="val">20/12/2025</span>' in out


CONTRACT_KEYS = {"dossier", "policy", "recevable", "eligible", "call", "amount_eur", "structures", "reasons",
                 "warnings", "trace"}   # shared/spec/CONTRACT.md, « Decision (output, JSON) »


def test_json_is_the_contract_decision():
    decision = esms_rules.evaluate(load_input("eligible_regional_2025"))
    got = json.loads(render(decision, "json"))
    assert got == decision.to_dict()
    assert CONTRACT_KEYS <= set(got) and "suggestions" not in got
    assert set(got["policy"]) == {"id", "sha256", "engine"}
    assert got["dossier"] == decision.dossier and got["eligible"] is True and got["call"] == "regional"
    dossier = load_input("late_submission_2025")
    decision = esms_rules.evaluate(dossier)
    suggestions = suggest(None, dossier)
    assert suggestions
    with_s = json.loads(render(decision, "json", suggestions=suggestions))
    assert {k: v for k, v in with_s.items() if k != "suggestions"} == decision.to_dict()
    assert isinstance(with_s["suggestions"], list)
    assert [x["code"] for x in with_s["suggestions"]] == [x.code for x in suggestions] == ["LATE_SUBMISSION"]
    assert json.loads(render(decision, "json", suggestions=[]))["suggestions"] == []


@pytest.mark.parametrize("fmt", ["text", "markdown", "html"])
def test_without_trace(fmt):
    decision = esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"), trace=False)
    out = render(decision, fmt)
    assert "Trace non disponible" in out or "trace non disponible" in out
    assert "AHI_CANDIDATE_TOO_LATE" in out


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        render(esms_rules.evaluate(load_input("eligible_regional_2025")), "pdf")


def test_suggestions_section():
    dossier = load_input("late_submission_2025")
    decision = esms_rules.evaluate(dossier)
    for fmt in ("text", "markdown", "html"):
        assert "changerait la décision" not in render(decision, fmt).lower()
        out = render(decision, fmt, suggestions=suggest(None, dossier))
        assert "changerait la décision" in out.lower()
        assert "15/09/2025 à 23:59 heure de Paris" in out


# ---- hostile policy text ------------------------------------------------------------------------
def test_html_escapes_hostile_policy_and_dossier_text(tmp_path):
    policy, dossier, decision = hostile_decision(tmp_path)
    assert [r.code for r in decision.reasons] == ["DUI_NOT_SEGUR_REFERENCED"]
    out = render(decision, "html", suggestions=suggest(policy, dossier))
    # the one script is the page's own (print: open every <details>); nothing else is markup
    assert out.count("<script") == 1 and out.count("</script>") == 1
    assert "alert" not in out.split("<script>")[1].split("</script>")[0]
    compact = render(policy.evaluate(dossier), "html")
    for raw in ["<script>alert(1)</script>", "<img src=x", '<a href="javascript', "</li><script>",
                "<b>Porteur</b>", '"guillemets"', "'apostrophes'"]:
        assert raw not in out, raw
        assert raw not in compact, raw
    for escaped in ["&lt;script&gt;alert(1)&lt;/script&gt;", "&quot;guillemets&quot;", "&#x27;apostrophes&#x27;",
                    "&lt;img src=x onerror=alert(1)&gt;", "&lt;/li&gt;&lt;script&gt;alert(&#x27;source&#x27;)",
                    "&lt;b&gt;Porteur&lt;/b&gt; &quot;X&quot; &amp;", "&lt;script&gt;alert(&quot;id&quot;)"]:
        assert escaped in out, escaped
    # self-contained: no external asset, a restrictive Content-Security-Policy
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", out)
    assert "default-src &#x27;none&#x27;" in out
    assert "@import" not in out and "url(" not in out


def test_markdown_and_text_neutralise_hostile_text(tmp_path):
    _, _, decision = hostile_decision(tmp_path)
    mdown = render(decision, "markdown")
    outside_code = re.sub(r"`[^`]*`", "", mdown)
    assert not re.search(r"(?<!\\)[<>]", outside_code)        # every < and > escaped: no raw HTML
    assert "\\<script\\>alert(1)\\</script\\>" in mdown
    assert md("a|b <c> *d* [e](f)") == r"a\|b \<c\> \*d\* \[e\](f)"
    text = render(decision, "text")
    assert "<script>alert(1)</script>" in text   # plain text shows text as it is, on one line
    assert md("x\ny") == "x y"


# ---- the trace's JSON Schema (docs/trace.md) ----------------------------------------------------
def trace_schema() -> dict:
    doc = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- schema:begin -->\s*```json\n(.*?)```\s*<!-- schema:end -->", doc, re.DOTALL)
    assert m, "docs/trace.md must hold the schema between <!-- schema:begin --> and <!-- schema:end -->"
    return json.loads(m.group(1))


def validate(value, schema, root, path="$"):
    """The subset of JSON Schema 2020-12 the published schema uses."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return validate(value, root["$defs"][name], root, path)
    if "anyOf" in schema:
        errors = [validate(value, s, root, path) for s in schema["anyOf"]]
        return [] if any(not e for e in errors) else [f"{path}: matches none of anyOf"]
    errors = []
    types = schema.get("type")
    if types is not None:
        types = [types] if isinstance(types, str) else types
        ok = {"null": value is None, "boolean": isinstance(value, bool),
              "integer": isinstance(value, int) and not isinstance(value, bool),
              "number": isinstance(value, (int, float)) and not isinstance(value, bool),
              "string": isinstance(value, str), "array": isinstance(value, list),
              "object": isinstance(value, dict)}
        if not any(ok[t] for t in types):
            return [f"{path}: {value!r} is not {types}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{path}: {value!r} != {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if "minimum" in schema and isinstance(value, (int, float)) and value < schema["minimum"]:
        errors.append(f"{path}: {value} < {schema['minimum']}")
    if isinstance(value, dict):
        for k in schema.get("required", []):
            if k not in value:
                errors.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errors += validate(v, props[k], root, f"{path}.{k}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {k}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            errors += validate(v, schema["items"], root, f"{path}[{i}]")
    return errors


def test_trace_schema_is_draft_2020_12():
    schema = trace_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(schema["required"]) == {"policy", "sha256", "engine", "eligible", "recevable", "definitions",
                                       "rules", "structures"}


@pytest.mark.parametrize("shape", ["full", "compact"])
@pytest.mark.parametrize("case", CASES)
def test_traces_match_the_published_schema(case, shape):
    schema = trace_schema()
    trace = json.loads(esms_rules.evaluate(load_input(case), trace=shape).trace.to_json())
    assert validate(trace, schema, schema) == []
    assert ("shape" in trace) == (shape == "compact")


def test_schema_rejects_a_broken_trace():
    schema = trace_schema()
    trace = json.loads(esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"), trace="full").trace.to_json())
    trace["rules"][0]["outcome"] = "maybe"
    del trace["sha256"]
    assert len(validate(trace, schema, schema)) == 2


def test_docs_example_is_a_real_trace():
    """The worked example in docs/trace.md is cut from the real trace of the AHI example dossier."""
    doc = DOCS.read_text(encoding="utf-8")
    m = re.search(r"<!-- example:begin -->\s*```json\n(.*?)```\s*<!-- example:end -->", doc, re.DOTALL)
    assert m
    example = json.loads(m.group(1))
    real = esms_rules.evaluate(load_input("ahi_candidate_too_late_2025"), trace="full").trace.to_dict()
    assert example["policy"] == real["policy"] and example["engine"] == real["engine"]
    def same(shown, actual):
        for key in ("kind", "code", "severity", "outcome", "overridden_by", "reads", "message"):
            assert shown[key] == actual[key], (shown["rule"], key)
        actual_children = {c["rule"]: c for c in actual["children"]}
        for child in shown.get("children", []):   # the example may leave children out, not alter them
            same(child, actual_children[child["rule"]])

    real_rules = {r["rule"]: r for r in real["rules"]}
    for r in example["rules"]:
        same(r, real_rules[r["rule"]])
