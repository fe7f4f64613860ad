"""Models, versions, files, account, hardware, collections and webhooks secret."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image
from replicate.exceptions import ReplicateError

from tests.conftest import ESRGAN, send_head_only

SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


def test_model_get_has_latest_version_schema(client):
    model = client.models.get("stability-ai/sdxl")
    assert model.owner == "stability-ai" and model.name == "sdxl"
    assert model.latest_version.id == SDXL_VERSION
    assert "Input" in model.latest_version.openapi_schema["components"]["schemas"]
    assert model.description.startswith("Sandbox stand-in")


def test_is_official_is_in_the_json_but_not_on_the_1x_model(sb, client):
    """The README's rule: `is_official` tells official models apart in the API's JSON, and
    replicate 1.x's `Model` leaves it out (so the README points at the JSON, not the object)."""
    flags = {
        ref: httpx.get(f"{sb.base_url}/v1/models/{ref}").json()["is_official"]
        for ref in ("meta/meta-llama-3-8b-instruct", "replicate/hello-world")
    }
    assert flags == {"meta/meta-llama-3-8b-instruct": True, "replicate/hello-world": False}
    assert not hasattr(client.models.get("meta/meta-llama-3-8b-instruct"), "is_official")


def test_models_list_and_search(client):
    names = {m.id for m in client.models.list().results}
    assert {"replicate/hello-world", "meta/meta-llama-3-8b-instruct", "sandbox/sleep"} <= names
    found = [m.id for m in client.models.search("llama").results]
    assert "meta/meta-llama-3-8b-instruct" in found
    assert "stability-ai/sdxl" not in found


def test_search_accepts_json_quoted_query(sb):
    response = httpx.request(
        "QUERY",
        f"{sb.base_url}/v1/models",
        content='"sdxl"',
        headers={"Content-Type": "text/plain"},
    )
    assert [m["name"] for m in response.json()["results"]] == ["sdxl"]


def test_versions_list_and_get(client):
    model = client.models.get("stability-ai/sdxl")
    versions = model.versions.list()
    assert [v.id for v in versions] == [SDXL_VERSION]
    assert model.versions.get(SDXL_VERSION).cog_version


def test_official_model_has_no_version_list(client):
    with pytest.raises(ReplicateError) as info:
        client.models.get("meta/meta-llama-3-8b-instruct").versions.list()
    assert info.value.status == 404
    assert "official model" in info.value.detail


def test_unknown_model_is_404_naming_known_models(client):
    with pytest.raises(ReplicateError) as info:
        client.models.get("nobody/nothing")
    assert info.value.status == 404
    assert "replicate/hello-world" in info.value.detail


def test_files_roundtrip(client, sb):
    created = client.files.create(
        io.BytesIO(b"hello file"), filename="note.txt", metadata={"purpose": "test"}
    )
    assert created.name == "note.txt" and created.size == 10
    assert created.content_type == "text/plain"
    assert created.metadata == {"purpose": "test"}
    assert created.urls["get"] == f"{sb.base_url}/v1/files/{created.id}"
    assert client.files.get(created.id).checksums["sha256"]
    assert created.id in [f.id for f in client.files.list()]
    download = httpx.get(f"{sb.base_url}/v1/files/{created.id}/download")
    assert download.content == b"hello file"
    assert client.files.delete(created.id) is True
    with pytest.raises(ReplicateError) as info:
        client.files.get(created.id)
    assert info.value.status == 404


def test_uploaded_file_url_is_a_model_input(client):
    buffer = io.BytesIO()
    Image.new("RGB", (16, 10), "red").save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "small.png"
    output = client.run(ESRGAN, input={"image": buffer, "scale": 2})
    assert Image.open(io.BytesIO(output.read())).size == (32, 20)
    prediction = client.predictions.list().results[0]
    assert "/v1/files/" in prediction.input["image"]


def test_data_uri_is_a_model_input(client):
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "blue").save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "blue.png"
    output = client.run(
        ESRGAN,
        input={"image": buffer, "scale": 3},
        file_encoding_strategy="base64",
    )
    assert Image.open(io.BytesIO(output.read())).size == (24, 24)


def test_file_over_100mb_is_413(sb):
    status, body = send_head_only(
        sb,
        "POST",
        "/v1/files",
        {
            "Content-Type": "multipart/form-data; boundary=b",
            "Content-Length": str(101 * 1024 * 1024),
        },
    )
    assert status == 413
    assert body["detail"] == "Files must be less than 100MB in size"


def test_account_hardware_collections(client):
    account = client.accounts.current()
    assert account.username == "sandbox"
    assert "cpu" in [h.sku for h in client.hardware.list()]
    slugs = [c.slug for c in client.collections.list()]
    assert "text-to-image" in slugs
    collection = client.collections.get("text-to-image")
    assert "stability-ai/sdxl" in [m.id for m in collection]


def test_webhook_secret_is_whsec(client):
    assert client.webhooks.default.secret().key.startswith("whsec_")


def test_file_metadata_as_bracketed_form_fields(sb):
    """The 2.x client sends `metadata[key]` fields (Stainless form encoding), not a JSON part."""
    response = httpx.post(
        f"{sb.base_url}/v1/files",
        files={"content": ("a.txt", b"hi", "text/plain")},
        data={"metadata[kind]": "note", "metadata[tags][first]": "x", "metadataX": "ignored"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["metadata"] == {"kind": "note", "tags": {"first": "x"}}


def test_an_upload_past_the_storage_bound_is_refused_not_lost(fresh_sb, make_client):
    fresh_sb.store.max_file_bytes = 100
    client = make_client(fresh_sb.base_url)
    kept = client.files.create(io.BytesIO(b"a" * 60), filename="a.txt")
    with pytest.raises(ReplicateError) as refused:
        client.files.create(io.BytesIO(b"b" * 60), filename="b.txt")
    assert refused.value.status == 413
    assert "storage is full" in (refused.value.detail or "")
    assert [f.id for f in client.files.list()] == [kept.id]
