"""The sandbox's HTTP connections: uvicorn's h11 protocol with a request-head timeout and a cap.

uvicorn bounds idle keep-alive connections (`timeout_keep_alive`) but not a fresh connection
that never sends a complete request head: its keep-alive timer starts only after a response,
and any byte received cancels it. Hundreds of such sockets exhaust the file limit. So here a
connection waiting for a request head (fresh, or between keep-alive requests once bytes arrive)
is closed after `HEAD_TIMEOUT` seconds (10), and past `max_connections()` open connections the
oldest one waiting for a head is closed to make room. Each condition is logged once per server.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_TIMEOUT = 10.0  # generous: a loaded client may take seconds between connect and write
MAX_CONNECTIONS = 4096
log = logging.getLogger("replicate_nb.sandbox")
_noticed: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def max_connections() -> int:
    """`MAX_CONNECTIONS`, kept under half the process's file limit where the OS has one."""
    try:
        import resource
    except ImportError:  # Windows: no RLIMIT_NOFILE
        return MAX_CONNECTIONS
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return MAX_CONNECTIONS if soft == resource.RLIM_INFINITY else min(MAX_CONNECTIONS, soft // 2)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections that send no complete head in time."""

    _head_timer: asyncio.TimerHandle | None = None
    _waiting_since = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head clock; make room when over the cap."""
        super().connection_made(transport)
        self._arm_head_timer()
        if len(self.connections) > max_connections():
            self._make_room()

    def data_received(self, data: bytes) -> None:
        """Stop the head clock once a head is complete; start it for a next request's head."""
        super().data_received(data)
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            self._disarm_head_timer()
        elif self._head_timer is None:  # bytes of a next request's head: the clock starts
            self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the head clock."""
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _waiting_for_head(self) -> bool:
        return self._head_timer is not None and self.conn.their_state is h11.IDLE

    def _arm_head_timer(self) -> None:
        self._waiting_since = self.loop.time()
        self._head_timer = self.loop.call_later(HEAD_TIMEOUT, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self._notice(
                "head",
                f"closed a connection that sent no complete request head within {HEAD_TIMEOUT:g}"
                " s (further ones are closed silently)",
            )
            self.transport.close()

    def _make_room(self) -> None:
        waiting = [c for c in self.connections if isinstance(c, GuardedH11Protocol)]
        waiting = [c for c in waiting if c._waiting_for_head() and c is not self]
        self._notice(
            "cap",
            f"{len(self.connections)} open connections, over the cap of {max_connections()}: "
            "closing the oldest ones that sent no request (further ones silently)",
        )
        if waiting:
            min(waiting, key=lambda c: c._waiting_since).transport.close()
        else:
            self.transport.close()

    def _notice(self, kind: str, message: str) -> None:
        seen = _noticed.setdefault(self.server_state, set())
        if kind not in seen:
            seen.add(kind)
            log.warning(message)
