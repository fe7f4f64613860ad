"""The package type-checks: mypy on replicate_nb/ (settings in pyproject.toml) finds no error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_finds_no_error_in_the_package():
    try:
        import mypy  # noqa: F401
    except ImportError:  # pragma: no cover - the test extras install it
        pytest.fail("mypy is not installed: pip install -e '.[test]' (it is in the test extras)")
    done = subprocess.run(
        [sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"mypy found errors; fix them:\n{done.stdout}{done.stderr}"
