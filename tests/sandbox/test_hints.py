"""The hint a 404 or 405 gives: the base URL of each client generation, unimplemented operations."""

from __future__ import annotations

import re
from importlib import resources

import httpx
import pytest

from replicate_nb.sandbox import hints

BASE = "http://127.0.0.1:8000"
SERVED = [re.compile(r"^/v1/predictions$"), re.compile(r"^/v1/models/[^/]+/[^/]+$")]
COVERAGE = """# Replicate HTTP API operations served by the sandbox

- [x] models.get — GET /v1/models/{owner}/{name}
- [ ] models.delete — DELETE /v1/models/{model_owner}/{model_name}
- [ ] trainings.list — GET /v1/trainings

Implemented: 1 of 3 operations.
"""
OPERATIONS = hints.parse_coverage(COVERAGE)


def test_only_unserved_operations_are_parsed():
    assert [(op.op_id, op.method) for op in OPERATIONS] == [
        ("models.delete", "DELETE"),
        ("trainings.list", "GET"),
    ]


def test_python_1x_with_v1_in_the_base_url():
    detail = hints.no_route("GET", "/v1/v1/predictions", BASE, served=SERVED, operations=[])
    assert "replicate 1.x" in detail and f"set the base URL to {BASE}, without /v1" in detail


def test_2x_and_javascript_without_v1_in_the_base_url():
    detail = hints.no_route("POST", "/predictions", BASE, served=SERVED, operations=[])
    assert "JavaScript" in detail and f"set it to {BASE}/v1." in detail


def test_an_unimplemented_operation_says_so():
    detail = hints.no_route("GET", "/v1/trainings", BASE, served=SERVED, operations=OPERATIONS)
    assert detail.startswith("The sandbox does not implement trainings.list (GET /v1/trainings)")
    detail = hints.wrong_method("DELETE", "/v1/models/a/b", operations=OPERATIONS)
    assert "does not implement models.delete" in detail
    assert hints.wrong_method("PUT", "/v1/models/a/b", operations=OPERATIONS) == (
        "PUT is not supported on /v1/models/a/b."
    )


def test_anything_else_names_both_base_urls():
    detail = hints.no_route("GET", "/v1/nothing", BASE, served=SERVED, operations=OPERATIONS)
    assert f"base URL {BASE};" in detail and f"JavaScript: {BASE}/v1" in detail


def test_the_shipped_coverage_file_is_what_the_hints_read():
    text = resources.files("replicate_nb.sandbox").joinpath("COVERAGE.md").read_text("utf-8")
    assert len(hints.unimplemented()) == text.count("- [ ] ")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/v1/models", "without /v1"),
        ("/predictions", "/v1."),
        ("/models/replicate/hello-world", "/v1."),
    ],
)
def test_the_server_answers_with_the_hint(sb, path, expected):
    response = httpx.get(f"{sb.base_url}{path}")
    assert response.status_code == 404
    assert expected in response.json()["detail"]


def test_every_unimplemented_operation_is_named_by_the_server(sb):
    for op in hints.unimplemented():
        path = re.sub(r"\{[^}/]*\}", "x", op.path)
        response = httpx.request(op.method, f"{sb.base_url}{path}")
        assert response.status_code in (404, 405), (op.op_id, response.text)
        assert f"does not implement {op.op_id}" in response.json()["detail"], op.op_id
