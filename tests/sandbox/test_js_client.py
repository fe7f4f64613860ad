"""The official JavaScript client (npm `replicate` 1.4.0, run by node) against the sandbox.

The scripts live in tests/js/; `make test` installs their node_modules (`npm ci`). Without them
these tests fail (never skip): the sandbox promises to work with the JS client unmodified.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HELLO_VERSION

pytestmark = pytest.mark.js

JS_DIR = Path(__file__).resolve().parents[1] / "js"
PINNED = "1.4.0"


def run_node(script: str, base_url: str) -> dict[str, Any]:
    """Run `node tests/js/<script> <base_url>` and parse the JSON line it prints."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node.js 18+ to run the JavaScript client tests.")
    package = JS_DIR / "node_modules" / "replicate" / "package.json"
    if not package.is_file():
        pytest.fail(
            f"{package.parent} is missing: run `make test`, which installs the pinned "
            "JavaScript client with `npm ci` in tests/js."
        )
    installed = json.loads(package.read_text(encoding="utf-8"))["version"]
    assert installed == PINNED, (
        f"tests/js/node_modules has replicate {installed}, expected "
        f"{PINNED}: run `make test` (npm ci) again."
    )
    try:
        done = subprocess.run(
            [node, script, base_url],
            cwd=JS_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"node {script} did not finish in 60 s; stderr so far: {exc.stderr!r}")
    assert done.returncode == 0, f"node {script} failed ({done.returncode}):\n{done.stderr}"
    lines = done.stdout.strip().splitlines()
    assert lines, f"node {script} printed nothing; stderr:\n{done.stderr}"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def summary(sb) -> dict[str, Any]:
    return run_node("run_and_stream.mjs", sb.base_url)


def test_run_by_name_of_a_model_that_is_not_official_is_404(summary):
    assert summary["hello_by_name"] == {
        "thrown": True,
        "name": "ApiError",
        "status": 404,
        "names_the_version": True,
    }


def test_run_by_version_ref(summary):
    assert summary["hello_by_version"] == "hello version"


def test_stream_matches_run(summary):
    stream, ran = summary["stream"], summary["llama_run"]
    assert stream["events"][-1] == "done"
    assert stream["done_data"] == "{}"
    assert set(stream["events"]) <= {"output", "logs", "done"}
    assert 0 < stream["output_count"] <= 20
    assert ran["is_array"] and ran["count"] == stream["output_count"]
    assert stream["text"] == ran["text"]
    assert stream["text"].strip() and " " in stream["text"]  # tokens kept their leading spaces


def test_image_is_file_output_with_png_bytes(summary):
    image = summary["image"]
    assert image["is_array"] and image["count"] == 1
    assert image["constructor"] == "FileOutput"
    assert image["url_scheme"] == "data"
    assert image["png_signature"] is True
    assert image["size"] > 100
    assert image["blob_type"] == "image/png"


def test_search_with_json_quoted_query(summary):
    assert summary["search"]["keys"] == ["next", "previous", "results"]
    refs = summary["search"]["refs"]
    assert "meta/meta-llama-3-8b-instruct" in refs
    assert "replicate/hello-world" not in refs


def test_paginate_predictions(summary):
    page = summary["paginate"]
    assert page["pages"] >= 1
    assert page["total"] == page["unique_ids"]
    # the script's own runs (hello, llama x2, sdxl) are in the list, all finished
    assert page["total"] >= 4
    assert page["hello_inputs_seen"] >= 1


def test_api_error_is_api_error_with_problem_json(summary):
    assert summary["not_found"] == {
        "thrown": True,
        "name": "ApiError",
        "status": 404,
        "content_type": "application/problem+json",
    }


def test_paginate_follows_absolute_next_urls(fresh_sb):
    with httpx.Client(base_url=fresh_sb.base_url, timeout=10) as http:
        created = []
        for i in range(105):
            response = http.post(
                "/v1/predictions", json={"version": HELLO_VERSION, "input": {"text": str(i)}}
            )
            assert response.status_code == 201, response.text
            created.append(response.json()["id"])
    result = run_node("paginate.mjs", fresh_sb.base_url)
    assert result["pages"] == [100, 5]
    assert result["ids"] == list(reversed(created))  # newest first, nothing lost or repeated
