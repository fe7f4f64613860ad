"""Model routes past reading: create, update, delete, readme, examples, search."""

from __future__ import annotations

import time

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError


def new_name() -> str:
    return f"m-{time.monotonic_ns()}"


def test_create_update_readme_delete(client: replicate.Client) -> None:
    name = new_name()
    model = client.models.create(
        owner="sandbox",
        name=name,
        visibility="private",
        hardware="cpu",
        description="Mine",
        github_url="https://github.com/me/mine",
    )
    assert (model.owner, model.name, model.visibility) == ("sandbox", name, "private")
    assert model.latest_version is None and model.description == "Mine"
    with pytest.raises(ReplicateError) as taken:
        client.models.create(owner="sandbox", name=name, visibility="private", hardware="cpu")
    assert taken.value.status == 409
    base = str(client._base_url)
    readme = httpx.get(f"{base}/v1/models/sandbox/{name}/readme")
    assert readme.status_code == 404 and "README not found" in readme.json()["detail"]
    patched = httpx.patch(
        f"{base}/v1/models/sandbox/{name}", json={"readme": "# Mine\n", "description": "Ours"}
    )
    assert patched.status_code == 200 and patched.json()["description"] == "Ours"
    readme = httpx.get(f"{base}/v1/models/sandbox/{name}/readme")
    assert readme.text == "# Mine\n" and readme.headers["content-type"].startswith("text/plain")
    assert client.models.delete("sandbox", name) is True
    assert httpx.get(f"{base}/v1/models/sandbox/{name}").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"owner": "someone", "name": "x", "visibility": "private", "hardware": "cpu"}, 403, "own"),
        (
            {"owner": "sandbox", "name": "Bad Name", "visibility": "private", "hardware": "cpu"},
            422,
            "name",
        ),
        (
            {"owner": "sandbox", "name": "x", "visibility": "secret", "hardware": "cpu"},
            422,
            "visibility",
        ),
        ({"owner": "sandbox", "name": "x", "visibility": "private", "hardware": "tpu"}, 422, "SKU"),
        ({"owner": "sandbox", "name": "x"}, 422, "visibility"),
        (
            {"owner": "sandbox", "name": 3, "visibility": "private", "hardware": "cpu"},
            422,
            "string",
        ),
    ],
)
def test_create_refuses_what_the_api_refuses(sb, body, status, words) -> None:
    answer = httpx.post(f"{sb.base_url}/v1/models", json=body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert words in answer.json()["detail"]


def test_builtin_models_cannot_be_changed_or_deleted(client: replicate.Client, sb) -> None:
    with pytest.raises(ReplicateError) as not_yours:
        client.models.delete("stability-ai", "sdxl")
    assert not_yours.value.status == 403
    with pytest.raises(ReplicateError) as public:
        client.models.delete("sandbox", "sleep")
    assert public.value.status == 409
    patched = httpx.patch(f"{sb.base_url}/v1/models/stability-ai/sdxl", json={"readme": "x"})
    assert patched.status_code == 403


def test_builtin_readme_and_examples(sb) -> None:
    readme = httpx.get(f"{sb.base_url}/v1/models/stability-ai/sdxl/readme")
    assert readme.status_code == 200 and readme.text.startswith("# stability-ai/sdxl\n")
    examples = httpx.get(f"{sb.base_url}/v1/models/stability-ai/sdxl/examples")
    assert examples.json() == {"next": None, "previous": None, "results": []}
    assert httpx.get(f"{sb.base_url}/v1/models/no/such/examples").status_code == 404


def test_search_finds_models_and_collections(sb) -> None:
    found = httpx.get(f"{sb.base_url}/v1/search", params={"query": "llama", "limit": 1}).json()
    assert found["query"] == "llama" and found["pages"] == []
    assert len(found["models"]) == 1
    first = found["models"][0]
    assert first["model"]["owner"] in ("meta", "andreasjansson")
    assert first["metadata"]["tags"] and first["metadata"]["score"] > 0
    collections = httpx.get(f"{sb.base_url}/v1/search", params={"query": "language"}).json()
    assert [c["slug"] for c in collections["collections"]] == ["language-models"]
    assert "meta/meta-llama-3-8b-instruct" in collections["collections"][0]["models"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"query": " "},
        {"query": "x", "limit": "0"},
        {"query": "x", "limit": "51"},
        {"query": "x", "limit": "a"},
    ],
)
def test_search_needs_a_query_and_a_sane_limit(sb, params) -> None:
    answer = httpx.get(f"{sb.base_url}/v1/search", params=params)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
