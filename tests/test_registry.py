"""The registry of policies (headers read without compiling), the split of the evaluation API,
and that evaluating with a loaded policy never imports the parser."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import esms_rules
from esms_rules.diagnostics import PolicyError
from esms_rules.parse import parse_module
from esms_rules.registry import Registry, bundled_registry, read_header

ROOT = Path(__file__).resolve().parents[1]


def _dossier() -> dict:
    return json.loads((ROOT / "examples" / "dossier-2025.json").read_text(encoding="utf-8"))


def test_quick_header_reads_what_the_parser_reads():
    entries = bundled_registry().entries
    assert {e.id for e in entries} >= {"esms-numerique-2025", "mes-pilotes-2023"}
    assert "common" not in {e.name for e in entries}           # a module: no header
    for e in entries:
        text = e.source.read_text(encoding="utf-8")
        decl = parse_module(text, e.name).header
        assert read_header(text) == {"id": decl.name} | {f.name: f.value.value for f in decl.fields}
        assert (e.id, e.programme, e.campaign, e.effective) == (
            decl.name, decl.get("programme"), decl.get("campaign"), decl.get("effective"))


@pytest.mark.parametrize("text, expected", [
    # beyond the quick reader (an escape, a decimal, a header after an import): the parser reads it
    ('policy "a\\u0062" { campaign 2025 }\n', {"id": "ab", "campaign": 2025}),
    ('# note\nimport common\npolicy "p" { campaign 2024 effective 2024-02-01 }\n',
     {"id": "p", "campaign": 2024, "effective": __import__("datetime").date(2024, 2, 1)}),
    ('enum e { "x" }\n', None),
])
def test_read_header_falls_back_to_the_parser(text, expected):
    assert read_header(text) == expected


def test_a_broken_draft_beside_the_policies_does_not_affect_them(tmp_path):
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    (policies / "zz-draft.esms").write_text('policy "zz-draft" {\n  campaign 2026\n}\nrule oops {\n', encoding="utf-8")
    (policies / "aa-broken-header.esms").write_text('policy "x" { campaign\n', encoding="utf-8")
    (policies / "esms-numerique-2026.esms").write_text(
        'policy "esms-numerique-2026" { programme "esms-numerique" campaign 2026 }\nimport common\n'
        'def nonsense = 1 +\n', encoding="utf-8")
    registry = Registry(policies)
    decision = registry.policy_for(_dossier()).evaluate(_dossier())
    assert decision.policy_id == "esms-numerique-2025"
    assert decision.to_dict() == esms_rules.evaluate(_dossier()).to_dict() | {
        "trace": decision.to_dict()["trace"]}
    assert [Path(d.span.file).name for d in registry.unreadable] == ["aa-broken-header.esms"]
    with pytest.raises(PolicyError):                   # the draft in force for 2026 is what fails
        registry.policy_for(_dossier() | {"campaign": 2026})


def test_the_old_module_path_still_imports():
    from esms_rules.evaluate import Decision, Policy, bundled_policies, load_policy  # noqa: F401
    assert callable(esms_rules.evaluate) and esms_rules.evaluate is esms_rules.registry.evaluate


def _run(code: str) -> str:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_importing_the_package_and_evaluating_a_loaded_policy_never_import_the_parser():
    out = _run("""
        import json, sys
        import esms_rules
        assert "lark" not in sys.modules and "esms_rules.parse" not in sys.modules, "import esms_rules"
        dossier = json.load(open("examples/dossier-2025.json"))
        policy = esms_rules.load_policy("esms-numerique-2025")      # parses, checks, compiles
        for name in [m for m in sys.modules if m == "lark" or m.startswith("lark.") or m == "esms_rules.parse"]:
            del sys.modules[name]

        class Refuse:   # any import of the front end from now on fails loudly
            def find_spec(self, name, path=None, target=None):
                if name == "lark" or name.startswith("lark.") or name in ("esms_rules.parse", "esms_rules.load"):
                    raise ImportError(f"evaluation imported {name}")
        sys.meta_path.insert(0, Refuse())
        decision = policy.evaluate(dossier)
        text = decision.to_json()
        from esms_rules.render import render
        render(decision, "text")
        policy.decide(dossier), list(policy.evaluate_many([dossier], mode="reasons"))
        print(json.loads(text)["eligible"])
    """)
    assert out.strip() == "True"
