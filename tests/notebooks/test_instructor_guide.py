"""The instructor guide: its tutorial table is complete, its room rehearsal runs as written, and its
JupyterHub recipe is valid Python."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap

from tests.notebooks.kit import GUIDE, guide_table, tutorials

TEXT = GUIDE.read_text(encoding="utf-8")
REHEARSALS = re.findall(r"^```python\n(.*?)^```", TEXT, re.DOTALL | re.MULTILINE)
RECIPES = re.findall(r"^  ```python\n(.*?)^  ```", TEXT, re.DOTALL | re.MULTILINE)


def test_the_tutorial_table_lists_every_tutorial_once():
    table = guide_table()
    assert list(table) == [p.name for p in tutorials()]
    assert all(needs.strip() for needs in table.values()), table


def test_the_room_rehearsal_runs(tmp_path):
    assert len(REHEARSALS) == 1
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    done = subprocess.run(
        [sys.executable, "-c", REHEARSALS[0]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines[:3]] == ["attendee-01", "attendee-02", "attendee-03"]
    assert "3 succeeded" in lines[2] and "(estimate)" in lines[2]
    assert re.fullmatch(r"attendee-03 would have spent ~\$0\.009 \(estimate\)", lines[3])


def test_the_jupyterhub_recipe_is_python_that_reads_the_tokens_file():
    assert len(RECIPES) == 1
    tree = ast.parse(textwrap.dedent(RECIPES[0]))
    names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert {"pre_spawn_hook", "environment", "DictReader"} <= names
