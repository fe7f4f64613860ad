"""Shared fixtures: a real sandbox on a free 127.0.0.1 port, driven by the official client."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import replicate

from replicate_nb import _sdk, sandbox

# Refs as the real API accepts them: only official models run by name, all others by version.
HELLO_VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
HELLO = f"replicate/hello-world:{HELLO_VERSION}"
SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
ESRGAN = "nightmareai/real-esrgan:42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b"
EMBEDDINGS = (
    "andreasjansson/llama-2-13b-embeddings:"
    "7115a4c65b86815e31412e53de1211c520164c190945a84c425b59dccbc47148"
)
LLAMA = "meta/meta-llama-3-8b-instruct"
FAST = 2000.0  # tokens/s: tests stream fast; the kit keeps the realistic default


def start_cli(*args: str, cwd: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """`python -m replicate_nb.sandbox --port 0 ARGS` started, and its base URL once it listens
    (the caller stops it: a signal, then `wait`, then closing both pipes)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    assert line.startswith("Sandbox listening on http://127.0.0.1:"), line or (
        proc.stderr.read() if proc.stderr else ""
    )
    return proc, line.split()[-1]


@pytest.fixture(scope="session")
def sb() -> Iterator[sandbox.Sandbox]:
    """One sandbox for the session (tests that change faults use their own)."""
    with sandbox.start(keepalive=0.2, stream_rate=FAST) as server:
        yield server


def close_client(client: replicate.Client) -> None:
    """Close the httpx clients a `replicate.Client` opened (it has no close method of its own)."""
    _sdk.close(client)


@pytest.fixture
def make_client() -> Iterator[Callable[..., replicate.Client]]:
    """Build official clients (polling fast) that are closed after the test."""
    made: list[replicate.Client] = []

    def make(base_url: str, **kwargs: Any) -> replicate.Client:
        c = replicate.Client(base_url=base_url, **kwargs)
        c.poll_interval = 0.02
        made.append(c)
        return c

    yield make
    for c in made:
        close_client(c)


@pytest.fixture
def client(sb: sandbox.Sandbox, make_client: Callable[..., replicate.Client]) -> replicate.Client:
    """The official client pointed at the session sandbox, polling fast."""
    return make_client(sb.base_url)


@pytest.fixture
def fresh_sb() -> Iterator[sandbox.Sandbox]:
    """A sandbox of the test's own (counting predictions, faults, tokens)."""
    with sandbox.start(keepalive=0.2, stream_rate=FAST) as server:
        yield server


@pytest.fixture
def fresh_client(
    fresh_sb: sandbox.Sandbox, make_client: Callable[..., replicate.Client]
) -> replicate.Client:
    return make_client(fresh_sb.base_url)


def send_head_only(
    sb: sandbox.Sandbox, method: str, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    """Send a request head that announces a body and never send the body (oversize checks).

    httpx refuses to send a Content-Length it does not honour, so this speaks HTTP on a socket.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {sb.host}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    with socket.create_connection((sb.host, sb.port), timeout=5) as conn:
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply or not _complete(reply):
            chunk = conn.recv(65536)
            if not chunk:
                break
            reply += chunk
    head, _, body = reply.decode().partition("\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False
