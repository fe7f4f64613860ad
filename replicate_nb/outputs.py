"""Turn prediction outputs into plain values: joined text, file bytes, and one value tree.

The official clients hand back token lists, generators, async iterators, file objects (1.x
`FileOutput`; 2.x `FileOutput`, `URLPath`, `OutputIterator`), `data:`/URL strings, lists and
dicts. `text()` joins the textual kinds; `tree()` reads any output once into a small tree of
`File`, `Text`, `Items`, `Table` and `Value` nodes, which `show()`, the form and the card render
without coming back here; `read_output()` gets one file's bytes and `sniff()` names their type.
Works with either client generation: a file is known by its URL (never `str()` of it, which for
a 2.x `URLPath` downloads the file), and nothing here needs the 1.x-only modules.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import AsyncIterable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeGuard

import filetype
import httpx
import replicate

from replicate_nb import _datauri
from replicate_nb.aio import run_sync
from replicate_nb.errors import InvalidArgument, InvalidArgumentType

if TYPE_CHECKING:
    from replicate.helpers import FileOutput

try:  # replicate 1.x; 2.x has no replicate.helpers (its file outputs carry their URL as __url__)
    from replicate.helpers import FileOutput as _FileOutput1
except ImportError:  # pragma: no cover - runs in the 2.x venv (tests/client2x)
    _SDK1_FILES: tuple[type, ...] = ()
else:
    _SDK1_FILES = (_FileOutput1,)

OCTET_STREAM = _datauri.OCTET_STREAM
_RENAMES = {"audio/x-wav": "audio/wav", "audio/x-flac": "audio/flac"}
_CONTROL = frozenset(range(32)) - {9, 10, 12, 13}  # bytes that never occur in text
_FETCH_TIMEOUT = httpx.Timeout(10.0, read=60.0)
_URL_SCHEMES = ("data:", "https:", "http:")
_EXTENSIONS = {
    "application/json": ".json",
    "text/plain": ".txt",
    "application/pdf": ".pdf",
    "application/zip": ".zip",
    "image/jpeg": ".jpg",
    "audio/mpeg": ".mp3",
}


@dataclass(frozen=True)
class File:
    """One file output, read once: its bytes (only the head when `truncated`), type and URL."""

    data: bytes
    mime: str
    url: str | None = None
    """The http(s) URL it came from; None for `data:` URIs and bytes."""
    truncated: bool = False
    """More than the read's `limit` bytes: `data` is only the beginning (show it by `url`)."""
    error: str | None = None
    """Why the download failed (then `data` is empty)."""

    def filename(self, index: int = 0) -> str:
        """A name to save it under: the URL's last segment, else `output-N` with an extension."""
        if self.url:
            name = httpx.URL(self.url).path.rsplit("/", 1)[-1]
            if name and "." in name:
                return name
        kind, _, subtype = self.mime.partition("/")
        suffix = _EXTENSIONS.get(self.mime) or (f".{subtype}" if kind != "application" else "")
        return f"output-{index}{suffix or '.bin'}" if index else f"output{suffix or '.bin'}"

    def __repr__(self) -> str:
        where = f", url={self.url!r}" if self.url else ""
        return f"File({self.mime!r}, {len(self.data)} bytes{where})"


@dataclass(frozen=True)
class Text:
    """Text: a str output, or a token list or iterator joined."""

    text: str


@dataclass(frozen=True)
class Items:
    """A list of outputs that is neither text nor plain numbers, each its own node."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Table:
    """A dict output: key, node."""

    rows: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Value:
    """Anything else, shown as itself: numbers, embeddings (lists of numbers), None, objects."""

    value: Any


Node: TypeAlias = File | Text | Items | Table | Value


def tree(output: Any, *, limit: int | None = None) -> Node:
    """Read `output` once into a tree of nodes: every file downloaded or decoded, iterators drained.

    With `limit`, a download from an http(s) URL stops after `limit` bytes (`File.truncated`),
    so a large file can be shown from its URL; `data:` URIs and bytes are always read whole.
    A failed download becomes a `File` with its `error`, not an exception.
    """
    if is_file_ref(output) or isinstance(output, (bytes, bytearray, memoryview)):
        return _file(output, limit)
    if isinstance(output, str):
        return Text(output)
    if isinstance(output, Mapping) and output:
        return Table(tuple((str(k), tree(v, limit=limit)) for k, v in output.items()))
    if isinstance(output, AsyncIterable):
        return _sequence(run_sync(_collect(output)), limit)
    if isinstance(output, (list, tuple, Iterator)) or _is_stream(output):
        return _sequence(list(output), limit)
    return Value(output)


def files(node: Node) -> list[File]:
    """The files in a tree, in the order they are shown."""
    if isinstance(node, File):
        return [node]
    if isinstance(node, Items):
        return [f for item in node.items for f in files(item)]
    if isinstance(node, Table):
        return [f for _, value in node.rows for f in files(value)]
    return []


def _is_stream(value: Any) -> bool:
    """An iterable with no length, read only by iterating (2.x `OutputIterator`)."""
    return (
        isinstance(value, Iterable)
        and not isinstance(value, (Sized, str, bytes, Mapping))
        and not is_file_ref(value)
        and not _is_record(value)
    )


def _is_record(value: Any) -> bool:
    """A pydantic model (the clients' `Prediction`s): it iterates over its fields."""
    cls = type(value)  # v2 first: v2 warns on `__fields__`, which is v1's (replicate 1.x's)
    return hasattr(cls, "__pydantic_fields__") or isinstance(getattr(cls, "__fields__", None), dict)


async def _collect(items: AsyncIterable[Any]) -> list[Any]:
    return [item async for item in items]


def _sequence(items: list[Any], limit: int | None) -> Node:
    if items and all(isinstance(i, str) and not is_file_ref(i) for i in items):
        return Text("".join(items))
    if _is_plain_data(items):
        return Value(items)
    return Items(tuple(tree(item, limit=limit) for item in items))


def _is_plain_data(value: Any) -> bool:
    """Numbers, booleans and None, possibly in nested lists (embeddings, scores)."""
    if isinstance(value, (list, tuple)):
        return all(_is_plain_data(v) for v in value)
    return value is None or isinstance(value, (bool, int, float))


def _file(value: Any, limit: int | None) -> File:
    url = file_url(value) if not isinstance(value, (bytes, bytearray, memoryview)) else None
    href = url if url and url.startswith(("https:", "http:")) else None
    try:
        data, mime = read_output(value, limit=limit if href else None)
    except httpx.HTTPError as e:
        return File(b"", OCTET_STREAM, href, error=type(e).__name__)
    truncated = href is not None and limit is not None and len(data) > limit
    return File(data, mime, href, truncated=truncated)


def file_url(value: Any) -> str | None:
    """The URL (`data:` or http(s)) a file output names, read without touching the file.

    A `data:`/URL str, a 1.x `FileOutput` (`.url`), or a 2.x `FileOutput`/`URLPath` (their
    URL, as `replicate.get_path_url` reads it: `str()` of a URLPath downloads the file). None
    for anything else.
    """
    if isinstance(value, str):
        return value if value.startswith(_URL_SCHEMES) else None
    if _is_sdk1_file(value):
        return value.url
    get_path_url = getattr(replicate, "get_path_url", None)  # replicate 2.x
    url = get_path_url(value) if get_path_url is not None else None
    return url if isinstance(url, str) and url.startswith(_URL_SCHEMES) else None


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
    if isinstance(output, AsyncIterable) and not is_file_ref(output):
        return "".join([_token(item, i) async for i, item in _aenumerate(output)])
    return text(output)


async def _aenumerate(items: AsyncIterable[Any]) -> Any:
    i = 0
    async for item in items:
        yield i, item
        i += 1


def _check_textual(output: Any) -> None:
    """Raise a TypeError naming what `output` is when it cannot be joined into text."""
    if is_file_ref(output):
        hint = "it is a file; use read_output() or show() instead"
    elif isinstance(output, (bytes, bytearray, Mapping)):
        hint = "use show() to look at it, or pick the text out of it first"
    elif isinstance(output, (Iterable, AsyncIterable)):  # a 2.x async OutputIterator is both
        return
    elif inspect.isawaitable(output):
        hint = "it was not awaited; use `await` (or the sync `run`) first"
    else:
        hint = "pass a str, a list of str tokens, or an (async) iterator of str tokens"
    raise InvalidArgumentType(f"text() cannot join a {type(output).__name__}: {hint}")


def _token(item: Any, index: int) -> str:
    if isinstance(item, str):
        return item
    url = file_url(item)  # the SDK turns tokens starting with https:/data: into files
    if url is not None:
        return url
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


def read_output(value: Any, *, limit: int | None = None) -> tuple[bytes, str]:
    """The bytes of one file output and their sniffed MIME type.

    Accepts a file output of either client (`FileOutput`, 2.x `URLPath`), a `data:` URI
    (decoded locally), an `http(s):` URL (downloaded without credentials, so the token never
    goes to a file host) or bytes. The declared type of a data URI or download is used only
    when the content itself says nothing. With `limit`, a download stops once it has more than
    `limit` bytes: more bytes than `limit` then means the file is larger, and only its
    beginning was read.

    Raises:
        TypeError: for other values; ValueError for a str that is not a URL or data URI.
        httpx.HTTPError: when a download fails.
    """
    if _is_sdk1_file(value) and not value.url.startswith(_datauri.PREFIX):
        # Not `value.read()`: it sends the client's headers, token included, to the file's host.
        from replicate_nb import _sdk  # 1.x only, as the FileOutput is

        transport = _sdk.plain_transport(_sdk.file_client(value))
        data, declared = download(value.url, transport=transport, limit=limit)
        return data, _prefer_content(data, declared)
    if not isinstance(value, str):  # Not value.read() or str(): both download, the token sent
        value = file_url(value) or value
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


def _is_sdk1_file(value: Any) -> TypeGuard[FileOutput]:
    return isinstance(value, _SDK1_FILES)


def is_file_ref(value: Any) -> bool:
    """Whether `value` is a file output: a `FileOutput`, a 2.x `URLPath`, a `data:`/URL str."""
    return file_url(value) is not None


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
