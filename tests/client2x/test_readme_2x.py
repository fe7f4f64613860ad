"""The README's "With replicate 2.x" example runs as written with replicate 2.x, and connect()
tells a 2.x user where the sandbox's API is (with /v1) and which variables to set."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from replicate_nb import sandbox
from replicate_nb.errors import UnsupportedClient

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION = README.read_text(encoding="utf-8").split("### With replicate 2.x", 1)[1]
BLOCKS = re.findall(r"```py\n(.*?)```", SECTION.split("\n## ", 1)[0], re.DOTALL)


def test_the_section_has_an_example():
    assert len(BLOCKS) == 1


def test_readme_2x_example_runs(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    done = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == ["hello 2.x", "hello use", "data:image/webp;base64"]


def test_connect_tells_a_2x_user_the_base_url_and_variables():
    import replicate_nb

    with pytest.raises(UnsupportedClient) as told:
        replicate_nb.connect()
    message = str(told.value)
    assert "REPLICATE_BASE_URL=http://127.0.0.1:PORT/v1" in message
    assert "client_env(2)" in message and "REPLICATE_API_TOKEN" in message
    assert "2.0.0b4" in message


def test_client_env_per_generation():
    with sandbox.start() as sb:
        assert sb.client_env(2) == {
            "REPLICATE_BASE_URL": f"{sb.base_url}/v1",
            "REPLICATE_API_TOKEN": "sandbox",
        }
        assert sb.client_env(1)["REPLICATE_BASE_URL"] == sb.base_url
        assert sb.api_url == f"{sb.base_url}/v1"
    with sandbox.start(require_token="secret-token-value") as locked:
        assert "REPLICATE_API_TOKEN" not in locked.client_env(2)  # the token is never handed out
