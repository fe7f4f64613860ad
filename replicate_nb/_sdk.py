"""The one place that reads or changes the official client's private attributes.

replicate 1.0.x keeps its settings in `Client._api_token`, `_base_url`, `_timeout` and
`_client_kwargs`, builds its httpx clients lazily behind the `_client`/`_async_client` properties
(cached as `_Client__client`/`_Client__async_client`), and wraps every transport in
`replicate.client.RetryTransport`. Everything replicate_nb needs from those internals goes through
the functions here; `tests/test_sdk.py` fails, naming the attribute, when an SDK release moves one.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any

import httpx
import replicate

from replicate_nb.errors import UnsupportedClient


def check_generation() -> None:
    """Raise `UnsupportedClient` (how to use 2.x with the sandbox) unless replicate is 1.x."""
    installed = importlib.metadata.version("replicate")
    if not installed.startswith("1."):
        raise UnsupportedClient(
            f"replicate_nb's helpers build on the replicate 1.x client, and replicate "
            f"{installed} is installed. The sandbox serves 2.x too: start one with "
            "`sb = replicate_nb.sandbox.start()`, then `os.environ.update(sb.client_env(2))` "
            "(REPLICATE_BASE_URL=http://127.0.0.1:PORT/v1 with /v1, as 2.x wants, and any "
            "REPLICATE_API_TOKEN), or build `replicate.Replicate(base_url=sb.api_url, "
            "bearer_token='sandbox')`. For the helpers: pip install 'replicate>=1.0.7,<1.1'."
        )


check_generation()  # before the 1.x-only imports below, which 2.x would fail with ImportError

from replicate import client as _sdk_client  # noqa: E402
from replicate.__about__ import __version__ as _sdk_version  # noqa: E402
from replicate.helpers import FileOutput  # noqa: E402

RetryTransport = _sdk_client.RetryTransport
"""The SDK's transport wrapper: every httpx client the SDK builds sends through one."""

Observer = Callable[[httpx.Request, httpx.Response], None]


def bound(prediction: Any, client: replicate.Client) -> Any:
    """A copy of a `Prediction` whose reload, stream and cancel go through `client` (no request:
    a card follows the caller's prediction on its own loop's client)."""
    copy = prediction.copy()  # the SDK models are pydantic.v1 ones
    copy._client = client
    return copy


def api_token(client: replicate.Client) -> str | None:
    """The token the client was given (None when the SDK falls back to its environment)."""
    return client._api_token


def api_url(client: replicate.Client) -> httpx.URL:
    """The API base URL the client sends to, as the SDK resolved it."""
    return sync_http(client).base_url


def sync_http(client: replicate.Client) -> httpx.Client:
    """The client's sync httpx client (built on first use)."""
    return client._client


def async_http(client: replicate.Client) -> httpx.AsyncClient:
    """The client's async httpx client (built on first use; see `aio.loop_client`)."""
    return client._async_client


def file_client(output: FileOutput) -> replicate.Client:
    """The client a `FileOutput` would read its file with."""
    return output._client


def plain_transport(client: replicate.Client) -> httpx.BaseTransport:
    """The client's own sync transport, without the SDK's headers, token or retries.

    For downloads of output files: they go the way the client's requests go (proxy, mounts,
    a test's mock) but carry no credentials. Closing it leaves the client's transport open.
    """
    return _Borrowed(_transport(sync_http(client))._wrapped_transport)


class _Borrowed(httpx.BaseTransport):
    """Another client's transport, used without taking it over (close does nothing)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._inner.handle_request(request)


def close(client: replicate.Client) -> None:
    """Close the client's sync connections, if it opened any."""
    http = client._Client__client  # type: ignore[attr-defined]
    if http is not None:
        http.close()


async def aclose(client: replicate.Client) -> None:
    """Close the client's async connections, if it opened any (on the loop that opened them)."""
    http = client._Client__async_client  # type: ignore[attr-defined]
    if http is not None:
        await http.aclose()


def clone(client: replicate.Client, *, sdk_retries: bool = True) -> replicate.Client:
    """A new client with the same token, base URL, options and poll interval, for one loop.

    Its token goes to the API's origin only (as with `ScopedClient`). With `sdk_retries=False`
    its async transport sends each request once: the caller does its own retrying and timing.
    """
    kwargs = dict(client._client_kwargs)
    # The SDK writes User-Agent/Authorization into the `headers` dict it is given: copy it.
    if isinstance(kwargs.get("headers"), dict):
        kwargs["headers"] = dict(kwargs["headers"])
    copy = _Clone(client._api_token, base_url=client._base_url, timeout=client._timeout, **kwargs)
    copy.poll_interval = client.poll_interval
    copy.sdk_retries = sdk_retries
    return copy


class _Scoped(replicate.Client):
    """A `replicate.Client` whose token goes to its API's origin only.

    The SDK puts `Authorization` in its httpx clients' default headers, so every request carries
    the token, including `FileOutput.read()` of a file on another host. Here the header becomes
    an `httpx.Auth` that adds it only to requests for the API's scheme, host and port.
    """

    @property
    def _client(self) -> httpx.Client:
        http: httpx.Client = replicate.Client._client.fget(self)  # type: ignore[attr-defined]
        _scope_auth(http)
        return http


class ScopedClient(_Scoped):
    """A `_Scoped` client whose async client is the running loop's clone (`aio.loop_client`).

    The SDK's own async client is bound to the first loop that used it.
    """

    @property
    def _async_client(self) -> httpx.AsyncClient:
        from .aio import loop_client

        return loop_client(self)._async_client


class _Clone(_Scoped):
    """What `clone` makes: scoped auth, and SDK retries that can be switched off."""

    sdk_retries = True

    @property
    def _async_client(self) -> httpx.AsyncClient:
        http: httpx.AsyncClient = replicate.Client._async_client.fget(self)  # type: ignore[attr-defined]
        _scope_auth(http)
        if not self.sdk_retries:
            _transport(http).max_attempts = 1
        return http


class _OriginAuth(httpx.Auth):
    """Adds the Authorization header to requests for one origin only."""

    def __init__(self, header: str, origin: httpx.URL) -> None:
        self._header = header
        self._origin = (origin.scheme, origin.host, origin.port)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if (request.url.scheme, request.url.host, request.url.port) == self._origin:
            request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "<_OriginAuth [secure]>"


def _scope_auth(http: httpx.Client | httpx.AsyncClient) -> None:
    if isinstance(http.auth, _OriginAuth):
        return
    header = http.headers.pop("Authorization", None)
    if header is not None:
        http.auth = _OriginAuth(header, http.base_url)


def _transport(http: httpx.Client | httpx.AsyncClient) -> Any:
    transport = http._transport
    if not isinstance(transport, RetryTransport):
        raise RuntimeError(
            f"replicate {_sdk_version} no longer wraps its transport in RetryTransport; "
            "replicate_nb needs an update for this SDK release"
        )
    return transport


_observers: list[Observer] = []
_observers_lock = threading.Lock()
_originals = (RetryTransport.handle_request, RetryTransport.handle_async_request)


def _handle(self: Any, request: httpx.Request) -> httpx.Response:
    response = _originals[0](self, request)
    for observer in list(_observers):
        observer(request, response)
    return response


async def _handle_async(self: Any, request: httpx.Request) -> httpx.Response:
    response = await _originals[1](self, request)
    for observer in list(_observers):
        observer(request, response)
    return response


@contextlib.contextmanager
def observe_responses(observer: Observer) -> Iterator[None]:
    """Call `observer(request, response)` for every response any SDK client receives meanwhile.

    Every client: made before or inside the block, sync or async, in any thread or loop (the
    SDK's transport class is patched while at least one observer is registered). The observer
    runs before the client reads the body; it may wrap `response.stream` to see the bytes.
    """
    with _observers_lock:
        if not _observers:
            RetryTransport.handle_request = _handle  # type: ignore[method-assign]
            RetryTransport.handle_async_request = _handle_async  # type: ignore[method-assign]
        _observers.append(observer)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(observer)
            if not _observers:
                RetryTransport.handle_request = _originals[0]  # type: ignore[method-assign]
                RetryTransport.handle_async_request = _originals[1]  # type: ignore[method-assign]
