"""The checks STYLE.md asks for, run with the tests: ruff (lint and format) on the whole
repository and mypy on services/ and contracts/ (configured in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.unit
def test_ruff_finds_nothing_and_the_code_is_formatted():
    lint = run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-4000:]
    form = run("ruff", "format", "--check", ".")
    assert form.returncode == 0, form.stdout[-4000:]


@pytest.mark.unit
def test_mypy_finds_no_type_errors_in_services_and_contracts():
    checked = run("mypy")
    assert checked.returncode == 0, checked.stdout[-6000:]
