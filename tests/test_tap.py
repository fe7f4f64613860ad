"""The recorder's taps: a tee that sees a body as the client reads it, and an SSE parser."""

from __future__ import annotations

import asyncio

import httpx

from replicate_nb._tap import EventParser, Tee


def test_events_split_across_chunks_and_crlf_are_parsed_whole():
    events: list[dict[str, str]] = []
    parser = EventParser(events.append)
    for chunk in [b"event: out", b"put\r\ndata: he", b"llo\r\n", b"data: world\r\n\r\n:", b"x\n\n"]:
        parser.feed(chunk)
    parser.feed(b"event: done\ndata: {}\n\n"[:-1])  # not finished: nothing yet
    assert events == [{"event": "output", "data": "hello\nworld"}]
    parser.feed(b"\n")
    assert events[-1] == {"event": "done", "data": "{}"}


def test_a_multibyte_character_split_between_chunks_survives():
    events: list[dict[str, str]] = []
    parser = EventParser(events.append)
    raw = "event: output\ndata: caf\u00e9\n\n".encode()
    parser.feed(raw[:20])
    parser.feed(raw[20:])
    assert events == [{"event": "output", "data": "caf\u00e9"}]


def test_the_tee_feeds_every_chunk_and_says_when_the_body_ended():
    seen: list[bytes] = []
    ended: list[bool] = []
    tee = Tee(httpx.ByteStream(b"abc"), seen.append, lambda: ended.append(True))
    assert b"".join(tee) == b"abc" and seen == [b"abc"] and ended == [True]

    async def read() -> bytes:
        parts = [chunk async for chunk in Tee(httpx.ByteStream(b"xy"), seen.append)]
        return b"".join(parts)

    assert asyncio.run(read()) == b"xy" and seen[-1] == b"xy"
