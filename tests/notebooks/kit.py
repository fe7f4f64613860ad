"""Where the teaching kit lives and how to read it (shared by the notebook tests)."""

from __future__ import annotations

from pathlib import Path

import nbformat

KIT = Path(__file__).resolve().parents[2] / "notebooks"
SOLUTION_TAG = "solution"
ANSWER_PLACEHOLDER = "# Write your code here."


def tutorials() -> list[Path]:
    """The numbered tutorial notebooks."""
    return sorted(KIT.glob("[0-9][0-9]_*.ipynb"))


def solutions() -> list[Path]:
    """The workshop solutions (executed by nbval)."""
    return sorted((KIT / "solutions").glob("*.ipynb"))


def exercises() -> list[Path]:
    """The workshop exercises (generated from the solutions)."""
    return sorted((KIT / "exercises").glob("*.ipynb"))


def executed() -> list[Path]:
    """Every notebook whose stored outputs are regression assertions."""
    return tutorials() + solutions()


def read(path: Path) -> nbformat.NotebookNode:
    """A notebook, as nbformat reads it."""
    return nbformat.read(path, as_version=4)
