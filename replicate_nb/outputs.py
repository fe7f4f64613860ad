"""Turn prediction outputs into plain values: joined text, and bytes with a sniffed MIME type.

The official client hands back token lists, generators, async iterators, `FileOutput`s
(which carry no content type) and `data:`/URL strings. `text()` joins the first kinds;
`read_output()` gets the bytes of the others and `sniff()` names their type by content.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterable, Iterable, Mapping
from typing import Any

import filetype
import httpx
from replicate.helpers import FileOutput

from replicate_nb import _datauri, _sdk
from replicate_nb.aio import run_sync
from replicate_nb.errors import InvalidArgument, InvalidArgumentType

OCTET_STREAM = _datauri.OCTET_STREAM
_RENAMES = {"audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac"}
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}  # bytes that never occur in text
_FETCH_TIMEOUT = httpx.Timeout(10.0, read=60.0)


def text(output: Any) -> str:
    """Join a text output into one string: token lists, generators or async iterators.

    Language models stream tokens, so `run()` returns a list or generator of strings; this
    gives the text a person reads. A str is returned as is and None becomes "".
    """
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    _check_textual(output)
    if isinstance(output, AsyncIterable):
        return run_sync(async_text(output))
    return "".join(_token(item, i) for i, item in enumerate(output))


async def async_text(output: Any) -> str:
    """Join a text output like `text()`, consuming async iterators on the running loop."""
    if isinstance(output, AsyncIterable) and not isinstance(output, FileOutput):
        return "".join([_token(item, i) async for i, item in _aenumerate(output)])
    return text(output)


async def _aenumerate(items: AsyncIterable[Any]) -> Any:
    i = 0
    async for item in items:
        yield i, item
        i += 1


def _check_textual(output: Any) -> None:
    """Raise a TypeError naming what `output` is when it cannot be joined into text."""
    if inspect.isawaitable(output):
        hint = "it was not awaited; use `await` (or the sync `run`) first"
    elif isinstance(output, FileOutput):
        hint = "it is a file; use read_output() or show() instead"
    elif isinstance(output, (bytes, bytearray, Mapping)):
        hint = "use show() to look at it, or pick the text out of it first"
    elif isinstance(output, (Iterable, AsyncIterable)):
        return
    else:
        hint = "pass a str, a list of str tokens, or an (async) iterator of str tokens"
    raise InvalidArgumentType(f"text() cannot join a {type(output).__name__}: {hint}")


def _token(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item
    if isinstance(item, FileOutput):  # the SDK turns tokens starting with https:/data: into files
        return item.url
    raise InvalidArgumentType(
        f"text() joins string tokens, but item {index} is a {type(item).__name__}; "
        "use show() for files and other outputs"
    )


def sniff(data: bytes) -> str:
    """The MIME type of `data` judged by its content, e.g. "image/png" or "audio/wav".

    Recognises images, audio and video by magic bytes (via `filetype`), then UTF-8 text and
    JSON; anything else is "application/octet-stream".
    """
    mime = filetype.guess_mime(bytes(data[:8192])) if data else None
    if mime:
        return _RENAMES.get(mime, mime)
    if not data or _CONTROL.intersection(data[:8192]):
        return OCTET_STREAM
    try:
        decoded = bytes(data).decode("utf-8")
    except UnicodeDecodeError:
        return OCTET_STREAM
    if decoded.lstrip()[:1] in ("{", "["):
        try:
            json.loads(decoded)
        except ValueError:
            return "text/plain"
        return "application/json"
    return "text/plain"


def read_output(value: FileOutput | str | bytes, *, limit: int | None = None) -> tuple[bytes, str]:
    """The bytes of one file output and their sniffed MIME type.

    Accepts a `FileOutput`, a `data:` URI (decoded locally), an `http(s):` URL (downloaded
    without credentials, so the token never goes to a file host) or bytes. The declared type
    of a data URI or download is used only when the content itself says nothing. With `limit`,
    a download stops once it has more than `limit` bytes: more bytes than `limit` then means
    the file is larger, and only its beginning was read.

    Raises:
        TypeError: for other values; ValueError for a str that is not a URL or data URI.
        httpx.HTTPError: when a download fails.
    """
    if isinstance(value, FileOutput) and not value.url.startswith("data:"):
        # Not `value.read()`: it sends the client's headers, token included, to the file's host.
        transport = _sdk.plain_transport(_sdk.file_client(value))
        data, declared = download(value.url, transport=transport, limit=limit)
        return data, _prefer_content(data, declared)
    if isinstance(value, FileOutput):
        value = value.url
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return data, sniff(data)
    if isinstance(value, str):
        if value.startswith(_datauri.PREFIX):
            data = _datauri.decode(value)
            return data, _prefer_content(data, _datauri.media_type(value))
        if value.startswith(("https:", "http:")):
            data, declared = download(value, limit=limit)
            return data, _prefer_content(data, declared)
        raise InvalidArgument(
            f"read_output() needs a URL or a data: URI, got the text {value[:40]!r}"
        )
    raise InvalidArgumentType(
        f"read_output() reads a FileOutput, a URL, a data: URI or bytes, "
        f"got a {type(value).__name__}"
    )


def is_file_ref(value: Any) -> bool:
    """Whether `value` is a file output: a FileOutput or a `data:`/`http(s):` string."""
    return isinstance(value, FileOutput) or (
        isinstance(value, str) and value.startswith(("data:", "https:", "http:"))
    )


def download(
    url: str, *, transport: httpx.BaseTransport | None = None, limit: int | None = None
) -> tuple[bytes, str]:
    """The bytes at an http(s) URL and their declared content type ("" when none).

    Sent by a client of its own, with no credentials, so a file host never sees the API token,
    whatever host a model's output names. `transport` routes it (e.g. `_sdk.plain_transport`);
    with `limit` it stops once more than `limit` bytes came.

    Raises:
        httpx.HTTPError: when the download fails.
    """
    chunks: list[bytes] = []
    size = 0
    with (
        httpx.Client(timeout=_FETCH_TIMEOUT, follow_redirects=True, transport=transport) as client,
        client.stream("GET", url) as response,
    ):
        response.raise_for_status()
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                break
    return b"".join(chunks), response.headers.get("content-type", "").split(";")[0].strip()


def _prefer_content(data: bytes, declared: str) -> str:
    sniffed = sniff(data)
    if sniffed == OCTET_STREAM and declared:
        return declared
    return sniffed
