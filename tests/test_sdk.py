"""The SDK adapter: the private attributes it relies on, and a token that never leaves its API.

Every request a client sends is recorded at the transport (a mock API and file host, then a
real token-protected sandbox whose model returns a link to another host): only requests to the
API's own origin carry `Authorization`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import replicate
from PIL import Image
from replicate.helpers import FileOutput

from replicate_nb import _sdk
from replicate_nb.connection import ConnectedClient, connect, disconnect
from replicate_nb.display import render_parts
from replicate_nb.outputs import read_output
from replicate_nb.recording import record

TOKEN = "r8_" + "FAKEtokenSENTINEL" + "0123456789abcdefghij"  # split: no token in git
FILE_HOST = "files.example"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), "red").save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png()


def test_the_sdk_still_keeps_what_the_adapter_reads():
    client = replicate.Client("t", base_url="http://127.0.0.1:9")
    missing = [
        name
        for name in ("_api_token", "_base_url", "_timeout", "_client_kwargs")
        if not hasattr(client, name)
    ]
    missing += [
        f"Client.{name}"
        for name in ("_Client__client", "_Client__async_client")
        if name not in vars(replicate.Client)
    ]
    missing += [
        f"Client.{name} (a property)"
        for name in ("_client", "_async_client")
        if not isinstance(vars(replicate.Client).get(name), property)
    ]
    transport = client._client._transport
    if not isinstance(transport, _sdk.RetryTransport):
        missing.append("httpx client wrapped in replicate.client.RetryTransport")
    missing += [
        f"RetryTransport.{name}"
        for name in ("_wrapped_transport", "max_attempts", "handle_request", "handle_async_request")
        if not hasattr(transport, name)
    ]
    if not hasattr(FileOutput("https://x.example/a", client), "_client"):
        missing.append("FileOutput._client")
    assert not missing, (
        f"replicate {replicate.__dict__.get('__version__', '?')} moved what replicate_nb/_sdk.py "
        f"reads: {missing}; update the adapter for this SDK release"
    )
    _sdk.close(client)


class _Seen:
    """A mock API (any host but the file host) and file host that log every request."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.host == FILE_HOST:
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        if request.url.path == "/v1/models/acme/links/predictions":
            return httpx.Response(201, json=_prediction(request.url))
        return httpx.Response(404, json={"detail": "not found"})

    def leaks(self) -> list[str]:
        """Requests that carried a token to another origin than the API's."""
        return [
            str(r.url)
            for r in self.requests
            if r.url.host == FILE_HOST and "authorization" in r.headers
        ]


def _prediction(api: httpx.URL) -> dict:
    return {
        "id": "p1",
        "model": "acme/links",
        "version": "v1",
        "input": {},
        "status": "succeeded",
        "output": f"https://{FILE_HOST}/cat.png",
        "logs": "",
        "error": None,
        "created_at": "2025-01-01T00:00:00Z",
        "urls": {"get": f"{api.scheme}://{api.host}/v1/predictions/p1"},
    }


def _clone(token: str, **kwargs) -> replicate.Client:
    """A loop clone (as `loop_client` makes) of a plain client."""
    return _sdk.clone(replicate.Client(token, **kwargs))


@pytest.mark.parametrize("kind", [ConnectedClient, _clone])
def test_a_token_goes_to_the_api_origin_only__mock_transport(kind, tmp_path):
    seen = _Seen()
    client = kind(TOKEN, base_url="https://api.example", transport=httpx.MockTransport(seen.handle))
    with record(tmp_path / "r.json", client=client):
        output = client.run("acme/links", input={})
    assert isinstance(output, FileOutput)
    assert output.read() == PNG  # the SDK's own read, through the client
    assert read_output(output) == (PNG, "image/png")
    assert render_parts(output)[0]["text/plain"].startswith("<image/png 4")
    api_requests = [r for r in seen.requests if r.url.host == "api.example"]
    assert api_requests and all(
        r.headers["authorization"] == f"Bearer {TOKEN}" for r in api_requests
    )
    assert (
        len([r for r in seen.requests if r.url.host == FILE_HOST]) == 4
    )  # read, read, show, record
    assert seen.leaks() == []
    assert TOKEN not in (tmp_path / "r.json").read_text()
    _sdk.close(client)


def test_read_output_of_a_plain_clients_file_sends_no_token():
    seen = _Seen()
    client = replicate.Client(
        TOKEN, base_url="https://api.example", transport=httpx.MockTransport(seen.handle)
    )
    output = client.run("acme/links", input={})
    assert read_output(output) == (PNG, "image/png")
    assert render_parts([output])[0]["text/plain"].startswith("[<image/png 4")
    assert [str(r.url) for r in seen.requests if r.url.host == FILE_HOST] == [
        f"https://{FILE_HOST}/cat.png"
    ] * 2
    assert seen.leaks() == []
    _sdk.close(client)


@pytest.fixture
def every_request(monkeypatch) -> Iterator[list[httpx.Request]]:
    """Record every request any httpx transport in the process sends; serve the file host."""
    seen: list[httpx.Request] = []
    sync_send = httpx.HTTPTransport.handle_request
    async_send = httpx.AsyncHTTPTransport.handle_async_request

    def handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == FILE_HOST:
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return sync_send(self, request)

    async def handle_async(self: httpx.AsyncHTTPTransport, request: httpx.Request):
        seen.append(request)
        if request.url.host == FILE_HOST:
            return httpx.Response(200, content=PNG, headers={"content-type": "image/png"})
        return await async_send(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", handle)
    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async)
    yield seen


def links() -> str:
    """A model whose output names a file on another host (like a search or scraping model)."""
    return f"https://{FILE_HOST}/cat.png"


def test_a_token_goes_to_the_api_origin_only__real_sandbox(every_request, tmp_path: Path):
    client = connect(backend="sandbox", require_token=TOKEN)
    try:
        server = client.connection.sandbox
        server.register("me/links", links)
        with record(tmp_path / "r.json"):
            output = replicate.run("me/links")  # the module-level shortcut, as in the guides
            assert isinstance(output, FileOutput)
            assert output.read() == PNG
            assert render_parts(output)[0]["text/plain"].startswith("<image/png 4")

        async def awaited() -> bytes:
            file = await replicate.async_run("me/links")
            return read_output(file)[0]

        assert asyncio.run(awaited()) == PNG
    finally:
        disconnect()
    to_api = [r for r in every_request if r.url.port == server.port]
    to_host = [r for r in every_request if r.url.host == FILE_HOST]
    assert to_api and all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in to_api)
    assert len(to_host) >= 4  # read, show, record's download, the async run's read_output
    assert [str(r.url) for r in to_host if "authorization" in r.headers] == []
    (recorded,) = json.loads((tmp_path / "r.json").read_text())["predictions"]
    assert recorded["output"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
