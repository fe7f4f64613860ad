"""The teaching kit's shape and hygiene: titles, objectives, executed solutions, no secrets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.notebooks.kit import KIT, executed, exercises, read, solutions, tutorials

ALL = tutorials() + solutions() + exercises()
ids = [str(p.relative_to(KIT)) for p in ALL]
RAISES = {"raises-exception", "nbval-raises-exception"}


def test_the_kit_is_complete():
    numbers = sorted(int(p.name[:2]) for p in tutorials())
    assert numbers == list(range(1, 12)), f"tutorials 01..11 expected, found {numbers}"
    assert [p.name for p in exercises()] == [p.name for p in solutions()]
    assert len(solutions()) >= 3
    assert (KIT / "README.md").exists()


@pytest.mark.parametrize("path", ALL, ids=ids)
def test_opens_with_title_and_objectives(path: Path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown"
    assert first.source.startswith("# "), "the first cell is the notebook's '# Title'"
    assert "## Learning objectives" in first.source


@pytest.mark.parametrize("path", ALL, ids=ids)
def test_setup_cell_uses_minimal_tracebacks(path: Path):
    code = [c for c in read(path).cells if c.cell_type == "code"]
    assert code[0].source.startswith("%xmode minimal")


@pytest.mark.parametrize("path", executed(), ids=[str(p.relative_to(KIT)) for p in executed()])
def test_executed_with_stored_outputs(path: Path):
    code = [c for c in read(path).cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code), "run it: stored outputs are the test"
    for n, cell in enumerate(code):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:
            assert RAISES & set(cell.metadata.get("tags", [])), (
                f"code cell {n} stores an error ({errors[0].ename}) without a raises-exception tag")


def test_exercises_are_generated_from_solutions():
    done = subprocess.run([sys.executable, "scripts/make_exercises.py", "--check"],
                          cwd=KIT.parent, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("path", solutions(), ids=[p.name for p in solutions()])
def test_every_exercise_has_answers_to_write_and_checks(path: Path):
    cells = read(path).cells
    answers = [n for n, c in enumerate(cells) if "solution" in c.metadata.get("tags", [])]
    assert answers, "mark the answer cells with the 'solution' tag"
    for n in answers:
        after = cells[n + 1]
        assert after.cell_type == "code" and "assert" in after.source, (
            f"cell {n + 1} should check the answer above it with helpful asserts")


@pytest.mark.parametrize("path", ALL, ids=ids)
def test_hygiene(path: Path):
    text = path.read_text(encoding="utf-8")
    assert not re.search(r"r8_[A-Za-z0-9]{20,}", text), "something shaped like an API token"
    home = str(Path.home())
    for needle in ("/work/", home + "/", "/home/", str(KIT.parent)):
        assert needle not in text, f"an absolute path of this machine ({needle}) is stored"
    notebook = json.loads(text)
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", executed(), ids=[str(p.relative_to(KIT)) for p in executed()])
def test_executed_top_to_bottom_on_a_fresh_kernel(path: Path):
    counts = [c.execution_count for c in read(path).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: re-run the notebook top to bottom on a fresh kernel "
        "(jupyter nbconvert --to notebook --execute --inplace)")
