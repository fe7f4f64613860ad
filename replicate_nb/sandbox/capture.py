"""Route what a running model prints to its prediction's logs, and nothing else.

While at least one registered model runs, `sys.stdout` and `sys.stderr` are wrapped in a proxy
that looks up a context variable: writes made inside a prediction (its task, and the worker
threads it starts through `ctx.run_in_thread`, which copy the context) go to that prediction's
logs line by line, live; every other write (the kernel's own output, other threads) passes
through to the original stream untouched. The proxy is removed when the last prediction ends.
"""

from __future__ import annotations

import contextlib
import contextvars
import re
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TextIO

_LINE_END = re.compile(r"\r\n|\n|\r")
_route: contextvars.ContextVar[_Sink | None] = contextvars.ContextVar(
    "replicate_nb_prediction_logs", default=None
)
_lock = threading.Lock()
_users = 0


class _Sink:
    """Collects text into lines for one prediction; drops writes once the prediction ended."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self._log = log
        self._pending = ""
        self._lock = threading.Lock()
        self._closed = False

    def write(self, text: str) -> None:
        lines: list[str] = []
        with self._lock:
            if self._closed:
                return
            self._pending += text
            start = 0
            for end in _LINE_END.finditer(self._pending):
                line = self._pending[start : end.start()]
                if line or end.group() != "\r":  # "\r" redraws (tqdm): skip empty redraws
                    lines.append(line)
                start = end.end()
            self._pending = self._pending[start:]
        for line in lines:
            self._log(line)

    def close(self) -> None:
        with self._lock:
            rest, self._pending, self._closed = self._pending, "", True
        if rest:
            self._log(rest)


class _Proxy:
    """A stand-in for `sys.stdout`/`sys.stderr` that diverts prediction writes."""

    def __init__(self, original: TextIO | None) -> None:
        self.original = original

    def write(self, text: str) -> int:
        sink = _route.get()
        if sink is not None:
            sink.write(text)
        elif self.original is not None:
            self.original.write(text)
        return len(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if _route.get() is None and self.original is not None:
            self.original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)


def _install() -> None:
    global _users
    with _lock:
        if _users == 0:
            for name in ("stdout", "stderr"):
                current = getattr(sys, name)
                if not isinstance(current, _Proxy):
                    setattr(sys, name, _Proxy(current))
        _users += 1


def _uninstall() -> None:
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            for name in ("stdout", "stderr"):
                current = getattr(sys, name)
                if isinstance(current, _Proxy):
                    setattr(sys, name, current.original)


@contextlib.contextmanager
def logs_to(log: Callable[[str], None]) -> Iterator[None]:
    """Send prints made in this context (and threads that copy it) to `log`, one call per line."""
    sink = _Sink(log)
    token = _route.set(sink)
    _install()
    try:
        yield
    finally:
        sink.close()
        _route.reset(token)
        _uninstall()
