"""Read a `multipart/form-data` upload into its parts as it arrives (the files API's bodies).

The body is fed to python-multipart's streaming parser chunk by chunk as the client sends it,
and reading stops at the size limit: a body is never held whole, and a part's bytes are kept
once, as the list of chunks they arrived in (`Part.chunks`, which the store takes as they are).
Nothing touches the disk, so a truncated body leaves no temporary file behind (Starlette's
spooling form parser does), and a refused body's chunks are dropped at once, not when the
exception that refused it is collected.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from .errors import InvalidRequest, PayloadTooLarge

CHUNK_BYTES = 2**20  # a part's bytes are kept in pieces of about this size


@dataclasses.dataclass
class Part:
    """One part: its form name, optional filename and content type, and its bytes in pieces."""

    name: str
    filename: str | None
    content_type: str | None
    chunks: list[bytes]

    @property
    def size(self) -> int:
        """The part's length in bytes."""
        return sum(map(len, self.chunks))

    @property
    def data(self) -> bytes:
        """The part's bytes joined (for the small text fields)."""
        return b"".join(self.chunks)


class Reader:
    """A streaming multipart reader: `write` each chunk of the body, then `finish`."""

    def __init__(self, content_type: str, *, max_parts: int = 16) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise InvalidRequest("Upload files as multipart/form-data with a boundary.")
        self.max_parts = max_parts
        self.parts: dict[str, Part] = {}
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value, self._pending = bytearray(), bytearray(), bytearray()
        self._chunks: list[bytes] = []
        self._parser = MultipartParser(
            boundary,
            {
                "on_header_field": lambda d, s, e: self._field.extend(d[s:e]),
                "on_header_value": lambda d, s, e: self._value.extend(d[s:e]),
                "on_header_end": self._on_header_end,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
            },
        )

    def _on_header_end(self) -> None:
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        self._pending += memoryview(data)[start:end]
        if len(self._pending) >= CHUNK_BYTES:
            self._chunks.append(bytes(self._pending))
            self._pending.clear()

    def _on_part_end(self) -> None:
        disposition, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise InvalidRequest(
                'Each multipart part needs "Content-Disposition: form-data; name=...".'
            )
        if len(self.parts) >= self.max_parts:
            raise InvalidRequest(f"Too many multipart parts (at most {self.max_parts}).")
        if self._pending:
            self._chunks.append(bytes(self._pending))
            self._pending.clear()
        filename = params.get(b"filename")
        part_type = self._headers.get(b"content-type")
        self.parts.setdefault(
            name.decode("utf-8", "replace"),
            Part(
                name=name.decode("utf-8", "replace"),
                filename=filename.decode("utf-8", "replace") if filename is not None else None,
                content_type=part_type.decode("latin-1").strip() if part_type else None,
                chunks=self._chunks,
            ),
        )
        self._headers.clear()
        self._chunks = []

    def write(self, chunk: bytes) -> None:
        """Parse the next chunk of the body."""
        with _parse_errors():
            self._parser.write(chunk)

    def finish(self) -> dict[str, Part]:
        """The complete parts by name (the first of each name wins)."""
        with _parse_errors():
            self._parser.finalize()
        return self.parts

    def discard(self) -> None:
        """Drop everything read so far (a refused or broken upload)."""
        self.parts.clear()
        self._chunks = []
        self._pending.clear()


@contextlib.contextmanager
def _parse_errors() -> Iterator[None]:
    try:
        yield
    except InvalidRequest:
        raise
    except Exception as exc:  # python-multipart's parse errors share no public base class
        raise InvalidRequest(f"The multipart body could not be read: {exc}") from exc


async def read(request: Request, *, limit: int, too_large: str) -> dict[str, Part]:
    """The parts of a request's multipart body, read as it arrives and stopped past `limit` bytes.

    Raises:
        PayloadTooLarge: the body is longer than `limit` (declared or sent); its detail is
            `too_large`, and the connection is closed rather than read to its end.
        InvalidRequest: not a multipart body, a malformed one, or the client went away.
    """
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(too_large)
    reader = Reader(request.headers.get("content-type", ""))
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(too_large)
            reader.write(chunk)
        return reader.finish()
    except ClientDisconnect as exc:
        reader.discard()
        raise InvalidRequest("The client disconnected before sending the whole body.") from exc
    except BaseException:
        reader.discard()
        raise
