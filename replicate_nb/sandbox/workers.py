"""Worker threads for models' blocking code, bounded even when cancelled code cannot stop.

Python cannot interrupt a thread, so a cancelled prediction whose model is inside a blocking call
(`time.sleep`, a socket read) keeps its thread until the call returns. Such a thread is
*abandoned*: its prediction is already `canceled`, its slot is given to the next caller at once,
and its result is dropped when it arrives. At most `size` threads run live work and at most
`max_abandoned` more may linger; past that, new work fails with `WorkersExhausted`, whose message
says what to do, instead of starving every other model. Threads are daemons: a lingering one
never keeps the sandbox (or the interpreter) from stopping.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any

from .errors import WorkersExhausted

WORKERS = min(32, (os.cpu_count() or 1) + 4)  # as many as asyncio.to_thread's default pool
MAX_ABANDONED = 32


class Workers:
    """Runs blocking calls in daemon threads: `size` at once, `max_abandoned` left behind."""

    def __init__(self, *, size: int = WORKERS, max_abandoned: int = MAX_ABANDONED) -> None:
        self.size = size
        self.max_abandoned = max_abandoned
        self.abandoned = 0  # changed on the loop's thread only
        self._slots: asyncio.Semaphore | None = None

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a worker thread (with the caller's context variables); cancellable.

        Raises:
            WorkersExhausted: `max_abandoned` threads still run cancelled work.
        """
        if self.abandoned >= self.max_abandoned:
            raise WorkersExhausted(
                f"{self.abandoned} cancelled predictions are still running blocking code "
                "that cannot be interrupted, which is the sandbox's limit, so this one "
                "cannot start. Let those calls return (e.g. give blocking calls a timeout, "
                "or yield from a generator so cancel can stop it), or restart the sandbox."
            )
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.size)
        async with self._slots:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[Any] = loop.create_future()
            left_behind = [False]
            context = contextvars.copy_context()

            def work() -> None:
                try:
                    outcome: tuple[bool, Any] = (True, context.run(fn, *args))
                except BaseException as exc:  # handed to the awaiting coroutine
                    outcome = (False, exc)
                try:
                    loop.call_soon_threadsafe(self._settle, future, outcome, left_behind)
                except RuntimeError:  # the loop is closed: the sandbox stopped, nobody waits
                    pass

            threading.Thread(target=work, name="sandbox-worker", daemon=True).start()
            try:
                return await future
            except asyncio.CancelledError:
                if not future.done() or future.cancelled():
                    left_behind[0] = True
                    self.abandoned += 1
                raise

    def _settle(
        self, future: asyncio.Future[Any], outcome: tuple[bool, Any], left_behind: list[bool]
    ) -> None:
        if left_behind[0]:
            self.abandoned -= 1
        if future.done():
            return
        ok, value = outcome
        if ok:
            future.set_result(value)
        elif isinstance(value, Exception):
            future.set_exception(value)
        else:  # KeyboardInterrupt, SystemExit in a model thread: a failure, never a crash
            future.set_exception(RuntimeError(f"the model's thread raised {value!r}"))
