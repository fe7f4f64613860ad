"""Connections: silent and slow request heads are closed, open connections are capped (soak)."""

from __future__ import annotations

import logging
import socket
import time

import httpx
import pytest

from replicate_nb import sandbox
from replicate_nb.sandbox import connections


def _closed_by_server(sock: socket.socket, timeout: float) -> bool:
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except (TimeoutError, ConnectionResetError):
        return False


@pytest.fixture
def log_lines(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def test_hundreds_of_silent_sockets_are_closed_and_logged_once(monkeypatch, log_lines):
    """Soak (bounded: about 2 s): 300 sockets that never send, and slow heads, then a request."""
    monkeypatch.setattr(connections, "HEAD_TIMEOUT", 1.0)
    with sandbox.start() as server:
        silent = [socket.create_connection((server.host, server.port)) for _ in range(300)]
        slow = socket.create_connection((server.host, server.port))
        slow.sendall(b"GET /v1/account HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        try:
            assert httpx.get(f"{server.base_url}/v1/account").status_code == 200
            with httpx.Client() as kept:  # a keep-alive connection that goes quiet is not cut
                assert kept.get(f"{server.base_url}/v1/account").status_code == 200
                time.sleep(1.5)
                assert kept.get(f"{server.base_url}/v1/account").status_code == 200
            assert all(_closed_by_server(s, 10) for s in [*silent, slow])
            assert httpx.get(f"{server.base_url}/v1/account").status_code == 200
        finally:
            for s in [*silent, slow]:
                s.close()
    notices = [r for r in log_lines.records if "request head" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelname == "WARNING"
    assert sum(len(r.getMessage()) for r in log_lines.records) < 2000  # not 188 MB


def test_connections_over_the_cap_close_the_oldest_silent_one(monkeypatch, log_lines):
    monkeypatch.setattr(connections, "MAX_CONNECTIONS", 50)
    with sandbox.start() as server:
        silent = [socket.create_connection((server.host, server.port)) for _ in range(100)]
        try:
            with httpx.Client() as client:
                for _ in range(3):
                    assert client.get(f"{server.base_url}/v1/account").status_code == 200
            assert _closed_by_server(silent[0], 10)
            assert not _closed_by_server(silent[-1], 0.2)
        finally:
            for s in silent:
                s.close()
    notices = [r for r in log_lines.records if "over the cap" in r.getMessage()]
    assert len(notices) == 1
