"""Where the teaching kit lives and how to read it (shared by the notebook tests)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

KIT = Path(__file__).resolve().parents[2] / "notebooks"
GUIDE = KIT / "README.md"
_ROW = re.compile(r"^\| `(\d\d_\w+)` \| .* \| (.+) \|$", re.MULTILINE)
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


def guide_table() -> dict[str, str]:
    """The instructor guide's tutorial table: notebook name -> its "needs the sandbox?" cell."""
    return {f"{name}.ipynb": needs for name, needs in _ROW.findall(GUIDE.read_text("utf-8"))}


def online() -> list[str]:
    """The tutorials that run unchanged on the real API: the guide's rows that need no sandbox.

    The guide's table is the one list; the online test reads it from here.
    """
    return [name for name, needs in guide_table().items() if needs.startswith("no")]


def read(path: Path) -> nbformat.NotebookNode:
    """A notebook, as nbformat reads it."""
    return nbformat.read(path, as_version=4)
