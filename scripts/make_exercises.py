"""Generate the workshop exercises from their solutions (the solutions are the source of truth).

Each cell tagged `solution` becomes a placeholder the learner fills in; every output is cleared,
so a room opens the exercises without the answers one click away. The check after each answer
first makes sure the cells it relies on ran (the set-up cell, and any given cell whose names the
answer or the check uses), so a skipped cell reads "run the first cell", not a bare NameError.
`--check` exits 1 when an exercise is out of date (the test suite runs it).

    python scripts/make_exercises.py           # rewrite notebooks/exercises/
    python scripts/make_exercises.py --check   # verify only
"""

from __future__ import annotations

import argparse
import ast
import copy
import sys
from pathlib import Path

import nbformat

KIT = Path(__file__).resolve().parents[1] / "notebooks"
SOLUTION_TAG = "solution"
PLACEHOLDER = "# Write your code here."
SETUP_NAME = "replicate_nb"  # the set-up cell imports it
SETUP_CHECK = (
    f'assert "{SETUP_NAME}" in globals(), '
    '"Run the first cell (the set-up) first, then the cells below it in order."'
)


def _tree(source: str) -> ast.Module:
    """The cell as Python, its IPython magics (`%xmode ...`) left out."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def _defined(source: str) -> list[str]:
    """The names a given cell defines, in order."""
    names: list[str] = []
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.append(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names += [(a.asname or a.name).split(".")[0] for a in node.names]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
    return list(dict.fromkeys(names))


def _used(source: str) -> set[str]:
    """The names a cell reads."""
    return {n.id for n in ast.walk(_tree(source)) if isinstance(n, ast.Name)}


def guards(cells: list[nbformat.NotebookNode], check: int) -> list[str]:
    """Asserts that the cells the check at `cells[check]` relies on have run, as source lines."""
    code = [c for c in cells[:check] if c.cell_type == "code"]
    needed = _used(cells[check].source) | _used(cells[check - 1].source)
    lines = [SETUP_CHECK]
    for cell in code[1:]:
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            continue
        lines += [
            f'assert "{name}" in globals(), "Run the cell above that defines {name} first."'
            for name in _defined(cell.source)
            if name in needed
        ]
    return lines


def exercise_from(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise notebook for a solution notebook."""
    exercise = copy.deepcopy(solution)
    for n, cell in enumerate(exercise.cells):
        if cell.cell_type != "code":
            continue
        if n and SOLUTION_TAG in solution.cells[n - 1].metadata.get("tags", []):
            cell.source = "\n".join([*guards(solution.cells, n), cell.source])
        if SOLUTION_TAG in cell.metadata.get("tags", []):
            cell.source = PLACEHOLDER
            cell.metadata["tags"] = [t for t in cell.metadata["tags"] if t != SOLUTION_TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
        cell.outputs = []
        cell.execution_count = None
        cell.metadata.pop("execution", None)  # the solution's run timings
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
