"""Generate the workshop exercises from their solutions (the solutions are the source of truth).

Each cell tagged `solution` becomes a placeholder the learner fills in; every output is cleared,
so a room opens the exercises without the answers one click away. `--check` exits 1 when an
exercise is out of date (the test suite runs it).

    python scripts/make_exercises.py           # rewrite notebooks/exercises/
    python scripts/make_exercises.py --check   # verify only
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import nbformat

KIT = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTION_TAG = "solution"
PLACEHOLDER = "# Write your code here."


def exercise_from(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise notebook for a solution notebook."""
    exercise = copy.deepcopy(solution)
    for cell in exercise.cells:
        if cell.cell_type != "code":
            continue
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = PLACEHOLDER
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
        cell.outputs = []
        cell.execution_count = None
    exercise.metadata.pop("widgets", None)
    return exercise


def main(argv: list[str] | None = None) -> int:
    """Write or check every exercise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify, change nothing")
    args = parser.parse_args(argv)
    stale = []
    for path in sorted((KIT / "solutions").glob("*.ipynb")):
        expected = nbformat.writes(exercise_from(nbformat.read(path, as_version=4)))
        target = KIT / "exercises" / path.name
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == expected:
            continue
        stale.append(target.relative_to(KIT.parent))
        if not args.check:
            target.parent.mkdir(exist_ok=True)
            target.write_text(expected, encoding="utf-8")
    if args.check and stale:
        print(
            "out of date (run python scripts/make_exercises.py):",
            ", ".join(map(str, stale)),
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
