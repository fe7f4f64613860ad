"""Read a response body as the client reads it: a tee of its byte stream, and an SSE parser.

For `recording.py`, which must see what a client receives without reading any body early or
twice: the tee hands each chunk to the recorder on its way to the client.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from typing import Any

import httpx


class EventParser:
    """Incremental server-sent events parser: bytes in, `{"event", "data"}` dicts out."""

    def __init__(self, emit: Callable[[dict[str, str]], None]) -> None:
        self._emit = emit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> None:
        self._buffer += self._decoder.decode(chunk)
        *lines, self._buffer = self._buffer.split("\n")
        for line in (raw.removesuffix("\r") for raw in lines):
            if not line:
                if self._event and self._data:
                    self._emit({"event": self._event, "data": "\n".join(self._data)})
                self._event, self._data = "", []
            elif not line.startswith(":"):
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    self._event = value
                elif field == "data":
                    self._data.append(value)


class Tee(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body that also feeds every chunk to `feed` as the client reads it.

    `done` runs once the whole body has been read (not when the client stops early).
    """

    def __init__(
        self, inner: Any, feed: Callable[[bytes], Any], done: Callable[[], None] | None = None
    ) -> None:
        self._inner = inner
        self._feed = feed
        self._done = done

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self._inner:
            self._feed(chunk)
            yield chunk
        if self._done is not None:
            self._done()

    async def __aiter__(self) -> Any:
        async for chunk in self._inner:
            self._feed(chunk)
            yield chunk
        if self._done is not None:
            self._done()

    def close(self) -> None:
        self._inner.close()

    async def aclose(self) -> None:
        await self._inner.aclose()
