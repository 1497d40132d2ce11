"""Shared fixtures: where the checkout, the shared spec and the example dossiers are; a CLI runner."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared"
EXAMPLES = ROOT / "examples"


@pytest.fixture
def shared_examples() -> list[Path]:
    """The worked dossiers of ../shared/spec/examples ({"dossier", "expect"} each); skip when absent."""
    files = sorted((SHARED / "spec" / "examples").glob("*.json"))
    if not files:
        pytest.skip("../shared/spec/examples is not beside the checkout")
    return files


@pytest.fixture
def example_dossier() -> dict:
    """The bundled example dossier (eligible under esms-numerique-2025), a fresh copy each time."""
    return json.loads((EXAMPLES / "dossier-2025.json").read_text(encoding="utf-8"))


@pytest.fixture
def run_cli():
    """run_cli(*args, input=None) -> click's Result (exit_code, stdout, stderr, output)."""
    from click.testing import CliRunner

    from esms_rules.cli import cli

    def run(*args, input=None):
        return CliRunner().invoke(cli, [str(a) for a in args], input=input, prog_name="esms-rules")
    return run
