"""Recording a client's predictions into a replay file (a sandbox stands in for the real API)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from replicate.client import RetryTransport
from replicate.exceptions import ModelError

from replicate_nb import _sdk, sandbox
from replicate_nb.batch import async_run_many, run_many
from replicate_nb.connection import connect, disconnect
from replicate_nb.inputs import Secret
from replicate_nb.recording import record
from tests.conftest import ESRGAN, HELLO, SDXL

TOKEN = "r8_" + "FAKEtokenSENTINEL0123456789abcdefghij"  # split: no token-shaped literal
SECRET_INPUT = "hunter2-never-written"
LLAMA = "meta/meta-llama-3-8b-instruct"
LLAMA_INPUT = {"prompt": "Tell me about the sea", "max_tokens": 30}
SMALL = {"prompt": "a red fox", "width": 64, "height": 64, "seed": 1}
LARGE = {"prompt": "a red fox", "width": 256, "height": 256, "seed": 1}
MAX_INLINE = 2048  # between the 64x64 PNG (~1.2 kB) and the 256x256 one (~3.6 kB)


def keyed(text: str, api_key: Secret) -> str:
    """A model with a secret input."""
    return f"{text} ({len(api_key.get_secret_value())} characters of key)"


@dataclasses.dataclass
class Workshop:
    """A recording made against a sandbox standing in for the real API, and what the run saw."""

    path: Path
    hello: str
    small: bytes
    large: bytes
    events: list[tuple[str, str]]
    upscaled: bytes
    failure: Any
    keyed: str


def record_workshop(folder: Path) -> Workshop:
    """Run a small workshop against a token-protected sandbox while recording it."""
    path = folder / "workshop.replay.json"
    with sandbox.start(require_token=TOKEN, keepalive=0.2, stream_rate=2000) as real:
        keyed_ref = real.register("me/keyed", keyed).pinned_ref  # not official: by version
        client = replicate.Client(TOKEN, base_url=real.base_url)
        client.poll_interval = 0.02
        try:
            with record(path, client=client, max_inline_bytes=MAX_INLINE):
                hello = client.run(HELLO, input={"text": "Alice"})
                small = client.run(SDXL, input=SMALL)[0].read()
                large = client.run(SDXL, input=LARGE)[0].read()
                events = [(e.event.value, e.data) for e in client.stream(LLAMA, input=LLAMA_INPUT)]
                upscaled = client.run(ESRGAN, input={"image": io.BytesIO(small), "scale": 2}).read()
                client.run(keyed_ref, input={"text": "hi", "api_key": SECRET_INPUT})
                with pytest.raises(ModelError) as failed:
                    client.run("sandbox/fail", input={"message": "boom"})
                client.predictions.create(model="sandbox/sleep", input={"seconds": 0.3})
        finally:
            client._client.close()
    return Workshop(path, hello, small, large, events, upscaled, failed.value.prediction, keyed_ref)


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Workshop:
    return record_workshop(tmp_path_factory.mktemp("recording"))


def _doc(workshop: Workshop) -> dict[str, Any]:
    return json.loads(workshop.path.read_text(encoding="utf-8"))


def _entries(workshop: Workshop, model: str) -> list[dict[str, Any]]:
    return [p for p in _doc(workshop)["predictions"] if p["model"] == model]


def test_recording_is_versioned_sorted_readable_json(workshop):
    text = workshop.path.read_text(encoding="utf-8")
    doc = json.loads(text)
    assert text == json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    assert (doc["format"], doc["version"]) == ("replicate-nb-replay", 1)
    assert [f"{m['owner']}/{m['name']}" for m in doc["models"]] == sorted(
        [
            "replicate/hello-world",
            "stability-ai/sdxl",
            LLAMA,
            "nightmareai/real-esrgan",
            "me/keyed",
            "sandbox/fail",
            "sandbox/sleep",
        ]
    )
    created = [p["created_at"] for p in doc["predictions"]]
    assert created == sorted(created)
    assert len({p["id"] for p in doc["predictions"]}) == len(doc["predictions"]) == 8


def test_each_prediction_is_kept_once_in_its_final_state(workshop):
    (hello,) = _entries(workshop, "replicate/hello-world")
    assert (hello["status"], hello["output"], hello["input"]) == (
        "succeeded",
        workshop.hello,
        {"text": "Alice"},
    )
    assert hello["metrics"]["predict_time"] >= 0
    assert hello["created_at"] <= hello["started_at"] <= hello["completed_at"]
    assert "urls" not in hello and "webhook" not in hello
    (failed,) = _entries(workshop, "sandbox/fail")
    assert (failed["status"], failed["error"]) == ("failed", "boom")
    assert failed["logs"] == workshop.failure.logs
    (sleep,) = _entries(workshop, "sandbox/sleep")
    assert sleep["status"] == "succeeded"  # still starting when the block ended: fetched on exit


def test_the_token_and_secret_inputs_are_never_written(workshop):
    files = [p for p in workshop.path.parent.rglob("*") if p.is_file()]
    assert len(files) == 3  # the recording, the 256 px image and the upscale beside it
    for file in files:
        data = file.read_bytes()
        for needle in (TOKEN, "FAKEtoken", SECRET_INPUT, "Bearer"):
            assert needle.encode() not in data, (file, needle)
        assert b"authorization" not in data.lower()
    (keyed_entry,) = _entries(workshop, "me/keyed")
    assert keyed_entry["input"] == {"text": "hi", "api_key": "[secure]"}


def test_large_files_are_stored_beside_and_small_ones_inline(workshop):
    small, large = _entries(workshop, "stability-ai/sdxl")
    assert small["output"][0].startswith("data:image/png;base64,")
    ref = large["output"][0]
    assert ref["content_type"] == "image/png" and ref["size"] == len(workshop.large)
    assert ref["$file"].startswith("workshop.replay.files/") and ref["$file"].endswith(".png")
    stored = (workshop.path.parent / ref["$file"]).read_bytes()
    assert stored == workshop.large
    assert ref["sha256"] == hashlib.sha256(stored).hexdigest()


def test_streamed_events_are_recorded(workshop):
    (llama,) = _entries(workshop, LLAMA)
    assert llama["streamed"] is True
    outputs = [e["data"] for e in llama["stream_events"] if e["event"] == "output"]
    assert outputs == llama["output"]
    assert "".join(outputs) == "".join(d for e, d in workshop.events if e == "output")
    assert [e["event"] for e in llama["stream_events"]][-1] == "done"
    assert any(e["event"] == "logs" for e in llama["stream_events"])
    (hello,) = _entries(workshop, "replicate/hello-world")
    assert hello["streamed"] is False and "stream_events" not in hello


def test_uploaded_inputs_are_recorded_by_content(workshop):
    (upscale,) = _entries(workshop, "nightmareai/real-esrgan")
    digest = hashlib.sha256(workshop.small).hexdigest()
    assert upscale["input"] == {"image": {"$file_sha256": digest}, "scale": 2}


def test_the_transport_hook_is_removed_on_exit(tmp_path, sb, make_client):
    client = make_client(sb.base_url)
    sends = (RetryTransport.handle_request, RetryTransport.handle_async_request)
    with record(tmp_path / "outer.json", client=client):
        with record(tmp_path / "inner.json", client=client):
            client.run(HELLO, input={"text": "nested"})
        assert (RetryTransport.handle_request, RetryTransport.handle_async_request) != sends
    assert (RetryTransport.handle_request, RetryTransport.handle_async_request) == sends
    for name in ("outer.json", "inner.json"):  # both blocks saw the prediction
        doc = json.loads((tmp_path / name).read_text())
        assert [p["input"] for p in doc["predictions"]] == [{"text": "nested"}]


def test_a_block_that_saw_nothing_warns_and_writes_nothing(tmp_path, sb, make_client):
    client = make_client(sb.base_url)
    with pytest.warns(UserWarning, match="saw no request to http://127.0.0.1.* wrote nothing"):
        with record(tmp_path / "r.json", client=client):
            pass
    assert not (tmp_path / "r.json").exists()


def test_every_client_of_the_recorded_api_is_recorded(tmp_path, sb, fresh_sb, make_client):
    """Clients made before and inside the block, sync and async, other loops, run_many."""
    before = make_client(sb.base_url)
    other_api = make_client(fresh_sb.base_url)
    with record(tmp_path / "r.json", client=before):
        before.run(HELLO, input={"text": "before"})
        inside = make_client(sb.base_url)  # Replicate's guides make a client like this
        inside.run(HELLO, input={"text": "inside"})

        async def main() -> None:
            await before.async_run(HELLO, input={"text": "async"})
            await inside.async_run(HELLO, input={"text": "async inside"})
            await close_async(before, inside)

        asyncio.run(main())
        run_many(
            HELLO,
            [{"text": "batch 1"}, {"text": "batch 2"}],
            client=inside,
            progress=False,
        )
        other_api.run(HELLO, input={"text": "another API"})
    doc = json.loads((tmp_path / "r.json").read_text())
    assert sorted(p["input"]["text"] for p in doc["predictions"]) == [
        "async",
        "async inside",
        "batch 1",
        "batch 2",
        "before",
        "inside",
    ]


def _predictions(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["predictions"]


async def close_async(*clients: replicate.Client) -> None:
    for client in clients:
        await _sdk.aclose(client)


def test_the_connected_client_is_recorded_in_a_script_and_in_a_running_loop(tmp_path):
    connect(backend="sandbox")
    try:
        with record(tmp_path / "script.json"):  # no running loop: a script
            replicate.run(HELLO, input={"text": "module-level"})
            run_many(HELLO, [{"text": "batch"}], progress=False)

        async def cell() -> None:  # a notebook cell: a loop runs; the twin uses another one
            with record(tmp_path / "cell.json"):
                await replicate.async_run(HELLO, input={"text": "awaited"})
                run_many(HELLO, [{"text": "twin"}], progress=False)
                await async_run_many(HELLO, [{"text": "async batch"}], progress=False)

        asyncio.run(cell())
    finally:
        disconnect()
    texts = {
        name: sorted(
            p["input"]["text"] for p in json.loads((tmp_path / name).read_text())["predictions"]
        )
        for name in ("script.json", "cell.json")
    }
    assert texts == {
        "script.json": ["batch", "module-level"],
        "cell.json": ["async batch", "awaited", "twin"],
    }


def test_the_current_client_is_recorded_by_default(tmp_path, sb, make_client, monkeypatch):
    client = make_client(sb.base_url)
    monkeypatch.setattr(
        importlib.import_module("replicate_nb.connection"), "current_client", lambda: client
    )
    with record(tmp_path / "r.json"):
        replicate_output = client.run(HELLO, input={"text": "default"})
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [p["output"] for p in doc["predictions"]] == [replicate_output]


def test_async_calls_are_recorded(tmp_path, sb, make_client):
    client = make_client(sb.base_url)

    async def main() -> Any:
        try:
            return await client.async_run(HELLO, input={"text": "async"})
        finally:
            await client._async_client.aclose()

    with record(tmp_path / "r.json", client=client):
        output = asyncio.run(main())
    doc = json.loads((tmp_path / "r.json").read_text())
    assert [(p["input"], p["output"]) for p in doc["predictions"]] == [({"text": "async"}, output)]


def _fake_api(files: dict[str, bytes]) -> httpx.MockTransport:
    """A tiny stand-in for api.replicate.com and replicate.delivery (no network)."""
    schema = {
        "openapi": "3.0.2",
        "components": {
            "schemas": {
                "Input": {"type": "object", "properties": {"n": {"type": "integer", "x-order": 0}}},
                "Output": {"type": "array", "items": {"type": "string", "format": "uri"}},
            }
        },
    }
    outputs = [f"https://replicate.delivery/pbxt/{name}" for name in files]
    outputs.append("https://replicate.delivery/pbxt/gone.png")
    prediction = {
        "id": "p1",
        "model": "acme/pix",
        "version": "v1",
        "input": {"n": 1},
        "status": "succeeded",
        "output": outputs,
        "logs": "",
        "error": None,
        "created_at": "2025-01-01T00:00:00Z",
        "metrics": {"predict_time": 1.5},
        "urls": {
            "get": "https://api.replicate.com/v1/predictions/p1",
            "cancel": "https://api.replicate.com/v1/predictions/p1/cancel",
        },
    }

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.url.host == "replicate.delivery":
            name = path.rsplit("/", 1)[-1]
            if name in files:
                return httpx.Response(
                    200, content=files[name], headers={"content-type": "image/png"}
                )
            return httpx.Response(404)
        if path == "/v1/models/acme/pix/predictions":
            return httpx.Response(201, json=prediction)
        if path == "/v1/models/acme/pix":
            return httpx.Response(
                200,
                json={
                    "owner": "acme",
                    "name": "pix",
                    "run_count": 7,
                    "latest_version": {"id": "v1", "openapi_schema": schema},
                },
            )
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(handle)


def test_https_output_files_are_downloaded_and_embedded(tmp_path):
    files = {"small.png": b"\x89PNG small", "big.png": b"\x89PNG " + b"x" * 5000}
    client = replicate.Client(
        TOKEN, base_url="https://api.replicate.com", transport=_fake_api(files)
    )
    try:
        with record(tmp_path / "api.json", client=client, max_inline_bytes=1000):
            client.run("acme/pix", input={"n": 1})
    finally:
        client._client.close()
    doc = json.loads((tmp_path / "api.json").read_text())
    small, big, gone = doc["predictions"][0]["output"]
    assert small == "data:image/png;base64,iVBORyBzbWFsbA=="
    assert (tmp_path / big["$file"]).read_bytes() == files["big.png"]
    assert gone == "https://replicate.delivery/pbxt/gone.png"  # unavailable: kept as a URL
    assert doc["models"][0]["versions"][0]["id"] == "v1"
    assert "run_count" not in doc["models"][0]  # changes every run: not diff-friendly
    for file in tmp_path.rglob("*"):
        if file.is_file():
            assert TOKEN.encode() not in file.read_bytes()


def _keys_api(schema: dict[str, Any] | None) -> httpx.MockTransport:
    """A stand-in API serving acme/keys, whose schema (when given) hides secrets behind refs."""
    prediction = {
        "id": "k1",
        "model": "acme/keys",
        "version": "v1",
        "status": "succeeded",
        "output": "ok",
        "created_at": "2025-01-01T00:00:00Z",
        "urls": {"get": "https://api.replicate.com/v1/predictions/k1"},
    }

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/models/acme/keys/predictions":
            return httpx.Response(201, json=prediction)
        if request.url.path == "/v1/models/acme/keys" and schema is not None:
            version = {"id": "v1", "openapi_schema": schema}
            return httpx.Response(
                200, json={"owner": "acme", "name": "keys", "latest_version": version}
            )
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(handle)


SECRET_INPUTS = {"prompt": "a cat", "api_key": "KEY-never-written", "token": "TOK-never-written"}


def _record_keys(tmp_path: Path, schema: dict[str, Any] | None) -> dict[str, Any]:
    client = replicate.Client(
        TOKEN, base_url="https://api.replicate.com", transport=_keys_api(schema)
    )
    try:
        with record(tmp_path / "keys.json", client=client):
            client.run("acme/keys", input={**SECRET_INPUTS, "steps": 3})
    finally:
        _sdk.close(client)
    text = (tmp_path / "keys.json").read_text()
    assert "never-written" not in text
    return json.loads(text)["predictions"][0]["input"]


def test_secrets_behind_ref_all_of_and_any_of_are_masked(tmp_path):
    from tests.test_replay_format import SCHEMA

    assert _record_keys(tmp_path, SCHEMA) == {
        "prompt": "a cat",
        "api_key": "[secure]",
        "token": "[secure]",
        "steps": 3,
    }


def test_without_a_schema_every_text_input_is_masked(tmp_path):
    assert _record_keys(tmp_path, None) == {
        "prompt": "[secure]",
        "api_key": "[secure]",
        "token": "[secure]",
        "steps": 3,
    }
