"""The README's Python examples run as written (offline: each starts or connects a sandbox)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{n}" for n in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    prelude = "import replicate\n"  # the examples share the README's first import
    done = subprocess.run(
        [sys.executable, "-c", prelude + code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
