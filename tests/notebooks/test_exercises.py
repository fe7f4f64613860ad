"""Every exercise check says what is missing: the set-up cell, a given cell, or the answer.

A learner who skips a cell must read which cell to run, never a bare NameError or a hint about
storing the answer when the real problem is a cell above that never ran.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.notebooks.kit import ANSWER_PLACEHOLDER, KIT, exercises, read

GIVEN = re.compile(r'^assert "(\w+)" in globals\(\), "Run the ', re.MULTILINE)


def _checks(path: Path) -> list[str]:
    cells = read(path).cells
    return [
        c.source
        for prev, c in itertools.pairwise(cells)
        if prev.cell_type == "code" and prev.source == ANSWER_PLACEHOLDER
    ]


CHECKS = [(path, n, check) for path in exercises() for n, check in enumerate(_checks(path))]
IDS = [f"{path.relative_to(KIT)}-check{n + 1}" for path, n, _ in CHECKS]


def _failure(check: str, names: dict[str, object]) -> str:
    try:
        exec(check, dict(names))  # the check of a cell nobody answered: it must fail, and say why
    except AssertionError as error:
        return str(error)
    raise AssertionError("the check passed with nothing answered")


def test_every_exercise_has_checks():
    assert len(CHECKS) >= 2 * len(exercises())


@pytest.mark.parametrize(("path", "n", "check"), CHECKS, ids=IDS)
def test_a_skipped_setup_cell_reads_run_the_first_cell(path, n, check):
    assert "Run the first cell" in _failure(check, {})


@pytest.mark.parametrize(("path", "n", "check"), CHECKS, ids=IDS)
def test_a_skipped_given_cell_is_named(path, n, check):
    given = GIVEN.findall(check)
    for skipped in given[1:]:  # the first is the set-up cell's
        ran = {name: object() for name in given if name != skipped}
        assert f"defines {skipped}" in _failure(check, ran)


@pytest.mark.parametrize(("path", "n", "check"), CHECKS, ids=IDS)
def test_an_unanswered_cell_says_which_name_to_store(path, n, check):
    message = _failure(check, {name: object() for name in GIVEN.findall(check)})
    assert "not defined yet" in message and "your cell above" in message, message
