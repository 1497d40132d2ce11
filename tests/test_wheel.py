"""The wheel carries the grammar, the policies and the examples: build it, install it in a fresh
venv outside the checkout, and evaluate from a directory that knows nothing of the checkout.

Marked `slow` (a build, a venv and a pip install: about half a minute) but run by default.
The dependencies are installed by pip as usual (PyPI, or PIP_FIND_LINKS / pip's own config).
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BIN = "Scripts" if os.name == "nt" else "bin"


def _env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def _run(args, cwd, timeout=600):
    r = subprocess.run([str(a) for a in args], cwd=cwd, env=_env(), capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    return r


def _ok(args, cwd, timeout=600):
    r = _run(args, cwd, timeout)
    assert r.returncode == 0, f"{' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    if importlib.util.find_spec("hatchling") and importlib.util.find_spec("build"):
        # hatchling is installed (the `test` extra has it): build without downloading a backend
        _ok([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, ROOT], cwd=ROOT)
    else:
        _ok([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", dist, ROOT], cwd=ROOT)
    wheels = sorted(dist.glob("esms_rules-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    """A fresh venv outside the checkout with only the wheel (and its dependencies) installed."""
    home = tmp_path_factory.mktemp("venv")
    assert ROOT not in home.parents
    _ok([sys.executable, "-m", "venv", home / "env"], cwd=home)
    env = home / "env"
    _ok([env / BIN / "python", "-m", "pip", "install", "-q", wheel], cwd=home, timeout=900)
    return env


@pytest.fixture
def elsewhere(tmp_path) -> Path:
    """A working directory with no grammar/ or policies/ in sight."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def test_wheel_contents(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "esms_rules/__init__.py" in names and "esms_rules/cli.py" in names
    assert "esms_rules/_data/grammar/esms.lark" in names
    for policy in sorted((ROOT / "policies").glob("*.esms")):
        assert f"esms_rules/_data/policies/{policy.name}" in names
    assert "esms_rules/_data/policies/documents.toml" in names     # the register the citations need
    assert "esms_rules/_data/examples/dossier-2025.json" in names
    assert "esms_rules/py.typed" in names          # type checkers of integrators read our annotations
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "esms-rules = esms_rules.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert not any(n.startswith(("tests/", "grammar/", "policies/")) for n in names)


def test_installed_cli_evaluates_the_packaged_example(venv, elsewhere):
    py = venv / BIN / "python"
    where = _ok([py, "-c", "import esms_rules, pathlib; p = pathlib.Path(esms_rules.__file__).parent; "
                           "print(p); print(p / '_data' / 'examples' / 'dossier-2025.json')"], cwd=elsewhere)
    package, example = (Path(line) for line in where.stdout.splitlines())
    assert venv in package.parents, f"imported {package}, not the installed wheel"
    assert example.is_file()
    r = _ok([venv / BIN / "esms-rules", "evaluate", example], cwd=elsewhere)
    decision = json.loads(r.stdout)
    assert decision["eligible"] is True and decision["policy"]["id"] == "esms-numerique-2025"
    assert decision["trace"]["shape"] == "compact" and decision["trace"]["definitions"]   # the compact trace


def test_installed_library_uses_bundled_policy_by_name(venv, elsewhere):
    script = """
import json, sys
import esms_rules
from esms_rules import load, parse
dossier = json.load(open(sys.argv[1], encoding="utf-8"))
policy = esms_rules.load_policy("esms-numerique-2025")
decision = esms_rules.evaluate(dossier, policy="esms-numerique-2025")
auto = esms_rules.evaluate(dossier)
print(json.dumps({
    "eligible": decision.eligible, "auto": auto.eligible, "policy": policy.id, "sha": policy.sha256,
    "bundled_dir": str(load.bundled_dir()), "grammar": len(parse.grammar_text()),
    "policies": [p.id for p in esms_rules.bundled_policies()],
    "source": decision.reasons[0].source,
}))
"""
    dossier = ROOT / "examples" / "dossier-2025-ineligible.json"
    r = _ok([venv / BIN / "python", "-c", script, dossier], cwd=elsewhere)
    out = json.loads(r.stdout)
    assert out["eligible"] is False and out["auto"] is False and out["policy"] == "esms-numerique-2025"
    assert venv in Path(out["bundled_dir"]).parents
    assert out["grammar"] > 0 and "esms-numerique-2025" in out["policies"]
    assert out["source"].endswith("]") and not out["source"].startswith("[")   # rendered from the register
    import esms_rules
    assert out["sha"] == esms_rules.load_policy("esms-numerique-2025").sha256   # same policy bytes as the checkout


def test_evaluates_from_the_zipped_wheel(wheel, elsewhere):
    """The wheel itself on sys.path, imported by zipimport (Spark --py-files, Ray py_modules):
    bundled policies and grammar are read with importlib.resources, never as files."""
    script = """
import json, sys, zipfile
import esms_rules
from esms_rules import registry
assert esms_rules.__file__.startswith(sys.argv[2]), esms_rules.__file__
assert isinstance(registry.bundled_registry().root, zipfile.Path)
dossier = json.load(open(sys.argv[1], encoding="utf-8"))
decision = esms_rules.evaluate(dossier)
policy = esms_rules.load_policy("esms-numerique-2024")
print(json.dumps({"decision": decision.to_dict(), "ids": [e.id for e in registry.bundled_registry().entries],
                  "sha": policy.sha256}))
"""
    dossier = ROOT / "examples" / "dossier-2025.json"
    env = _env() | {"PYTHONPATH": str(wheel)}
    r = subprocess.run([sys.executable, "-c", script, dossier, wheel], cwd=elsewhere, env=env,
                       capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    import esms_rules
    here = esms_rules.evaluate(json.loads(dossier.read_text(encoding="utf-8"))).to_dict()
    assert out["decision"] == here            # same decision, same trace (files named policies/…)
    assert "mes-pilotes-2023" in out["ids"]
    assert out["sha"] == esms_rules.load_policy("esms-numerique-2024").sha256


def test_installed_cli_commands(venv, elsewhere):
    cli = venv / BIN / "esms-rules"
    assert "esms-numerique-2025" in _ok([cli, "policies"], cwd=elsewhere).stdout
    assert "no errors" in _ok([cli, "check"], cwd=elsewhere).stdout
    json.loads(_ok([cli, "schema"], cwd=elsewhere).stdout)
    r = _run([cli, "evaluate", "missing.json"], cwd=elsewhere)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_installed_first_run_and_examples(venv, elsewhere):
    """The README's first command, from the wheel: a French explanation of a bundled example."""
    cli = venv / BIN / "esms-rules"
    text = _ok([cli, "explain", "--example", "dossier-2025-ineligible"], cwd=elsewhere).stdout
    assert "HDF-2025-0001" in text and "GROUPING_TOO_SMALL" in text and "éligible" in text
    _ok([cli, "examples", "--copy", "ex"], cwd=elsewhere)
    assert json.loads((elsewhere / "ex" / "dossier-2025.json").read_text(encoding="utf-8"))["id"] == "HDF-2025-0042"
    decision = json.loads(_ok([cli, "evaluate", "--no-trace", "ex/dossier-2025.json"], cwd=elsewhere).stdout)
    assert decision["eligible"] is True
    shown = _ok([cli, "source", "esms_rules:policies/common.esms:10", "-C", "0"], cwd=elsewhere).stdout
    assert shown.startswith("> 10 | ")
    path = Path(_ok([cli, "source", "--path", "esms_rules:policies/common.esms"], cwd=elsewhere).stdout.strip())
    assert venv in path.parents and path.is_file()
    json.loads(_ok([cli, "schema", "--decision"], cwd=elsewhere).stdout)


def test_installed_core_imports_no_extra_and_serve_says_what_is_missing(venv, elsewhere):
    probe = ("import sys, esms_rules, esms_rules.cli, esms_rules.server; "
             "print(sorted(m for m in ('starlette', 'uvicorn', 'tqdm', 'pandas', 'polars', 'pyarrow') "
             "if m in sys.modules))")
    assert _ok([venv / BIN / "python", "-c", probe], cwd=elsewhere).stdout.strip() == "[]"
    r = _run([venv / BIN / "esms-rules", "serve", "--port", "9"], cwd=elsewhere)   # only the core is installed
    assert r.returncode == 2 and "server extra" in r.stderr and "Traceback" not in r.stderr
