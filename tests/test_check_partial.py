"""The checker's API for tools: partial results with their diagnostics, over texts in memory."""
from __future__ import annotations

from pathlib import Path

from esms_rules import types as T
from esms_rules.check import check_partial, check_text
from esms_rules.load import FileSources, MemorySources, load_program

ROOT = Path(__file__).resolve().parents[1]
POLICY = (ROOT / "policies" / "esms-numerique-2025.esms").read_text(encoding="utf-8")
COMMON = (ROOT / "policies" / "common.esms").read_text(encoding="utf-8")


def test_a_policy_with_one_error_still_gives_the_rest():
    bad = POLICY.replace("def only_pjm = n >= 1", 'def only_pjm = n >= "x"')
    assert bad != POLICY
    result = check_text(bad, "ws/esms-numerique-2025.esms", MemorySources({"ws/common.esms": COMMON}))
    assert [(d.code, d.span.file, d.span.line) for d in result.diagnostics] == [
        ("type-mismatch", "ws/esms-numerique-2025.esms", bad[:bad.index('"x"')].count("\n") + 1)]
    assert result.policy is None and not result.ok
    good = check_partial(load_program("esms-numerique-2025"))
    assert good.ok and good.policy is not None
    # everything else was understood: the schema, the other definitions with their types, rules, outputs
    assert set(result.facts) == set(good.facts)
    assert {r.name for r in result.rules} == {r.name for r in good.rules}   # sources: ws/ has no register
    assert set(result.outputs) == set(good.outputs)
    assert set(good.defs) - set(result.defs) <= {"only_pjm"}
    other = result.defs["only_ahi_or_pjm"]
    assert other.type == T.Scalar("bool") and result.type_of(other.expr) == T.Scalar("bool")


def test_unsaved_buffers_come_before_files():
    # the editor's buffer of common.esms (unsaved) adds a fact: the policy sees it, not the file
    edited = COMMON + "\nfact unsaved_field: int?\n"
    sources = MemorySources({"ws/common.esms": edited}, fallback=FileSources(ROOT / "policies"))
    result = check_text(POLICY, "ws/esms-numerique-2025.esms", sources)
    assert result.ok and "unsaved_field" in result.facts
    assert check_text(POLICY, "ws/esms-numerique-2025.esms", FileSources(ROOT / "policies")).facts.keys() \
        == result.facts.keys() - {"unsaved_field"}


def test_a_syntax_error_gives_diagnostics_not_an_exception():
    result = check_text("policy \"p\" {}\nrule {\n", "p.esms", MemorySources({}))
    assert [d.code for d in result.diagnostics] == ["syntax"] and result.program is None
    assert result.sources == {"p.esms": "policy \"p\" {}\nrule {\n"}
    missing = check_text("policy \"p\" {}\nimport nowhere\n", "p.esms", MemorySources({}))
    assert [d.code for d in missing.diagnostics] == ["unknown-import"]


def test_memory_sources_prefer_the_importers_folder():
    sources = MemorySources({"a/common.esms": "fact x: int\n", "b/common.esms": "fact y: int\n"})
    assert sources.find("common", "b/p.esms") == "b/common.esms"
    assert sources.find("common", "a/p.esms") == "a/common.esms"
    assert sources.find("absent", "a/p.esms") is None
    result = check_text('policy "p" {}\nimport common\noutput o = y\n', "b/p.esms", sources)
    assert result.ok and set(result.facts) == {"y"}
