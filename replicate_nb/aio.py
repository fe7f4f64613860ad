"""Run async code from sync code anywhere, even in a Jupyter cell, on one background event loop.

Jupyter cells already run inside an event loop, so `asyncio.run()` fails there, and the archived
`nest_asyncio` patch makes "Run All" drop queued cells on ipykernel 7. `run_sync` instead hands the
coroutine to ONE persistent daemon thread that runs its own loop, and waits for the result. The
replicate SDK caches an `httpx.AsyncClient` that is bound to the first loop it ran on, so async work
goes through `loop_client(client)`: a clone of the client per (client, running loop).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import threading
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar, overload

import replicate

from .errors import EventLoopError, InvalidArgumentType

P = ParamSpec("P")
T = TypeVar("T")

INTERRUPT_GRACE = 10.0
"""Seconds `run_sync` waits after Ctrl-C for the cancelled task to clean up (cancel predictions)."""

_WAKE = 0.1
"""The waiting thread wakes this often: `_thread.interrupt_main()`, and a SIGINT that the OS hands
to another thread, only set a flag, which a thread blocked in an endless lock wait never checks."""

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_thread: threading.Thread | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    """The helpers' event loop, started on first use in a daemon thread; one per process."""
    global _loop, _loop_thread
    with _lock:
        if _loop is None or _loop_thread is None or not _loop_thread.is_alive():
            _loop = asyncio.new_event_loop()
            _loop_thread = threading.Thread(
                target=_loop.run_forever, name="replicate-nb-loop", daemon=True
            )
            _loop_thread.start()
        return _loop


async def _carry(awaitable: Awaitable[T]) -> tuple[BaseException | None, T | None]:
    """Await it; a KeyboardInterrupt or SystemExit it raises is returned, not raised.

    Raised inside a task, those escape the event loop itself: the background thread would die
    and the waiting caller would never hear back. Returned, they are raised in the caller.
    """
    try:
        return None, await awaitable
    except (KeyboardInterrupt, SystemExit) as exc:
        return exc, None


def _run(awaitable: Awaitable[T]) -> T:
    """Run `awaitable` on the background loop and block until it is done (see `run_sync`)."""
    loop = _background_loop()
    if threading.current_thread() is _loop_thread:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
        raise EventLoopError(
            "a sync helper (run_sync) was called from code already running on replicate_nb's "
            "background loop, where waiting would deadlock; use the async_ version and await it."
        )
    coro = _carry(awaitable)
    # The caller's context travels with the task: in ipykernel it holds the cell's parent header,
    # so output (e.g. a progress bar) lands under the cell that started the work.
    context = contextvars.copy_context()
    done = threading.Event()
    tasks: list[asyncio.Task[tuple[BaseException | None, T | None]]] = []
    thread = _loop_thread

    def finished(task: asyncio.Task[Any]) -> None:
        if not task.cancelled():
            task.exception()  # retrieved here too, so an abandoned task does not log it as lost
        done.set()

    def start() -> None:
        task = context.run(loop.create_task, coro)
        task.add_done_callback(finished)
        tasks.append(task)

    # Not `run_coroutine_threadsafe`: cancelling its concurrent future returns at once, before the
    # task has run its cleanup; keeping the task lets Ctrl-C wait for that cleanup.
    loop.call_soon_threadsafe(start)
    try:
        while not done.wait(_WAKE):
            if thread is None or not thread.is_alive():
                raise EventLoopError(
                    "replicate_nb's background event loop stopped before the work finished; "
                    "run it again (a new loop starts on the next call)."
                )
    except KeyboardInterrupt:
        loop.call_soon_threadsafe(lambda: tasks[0].cancel())
        done.wait(INTERRUPT_GRACE)
        raise
    raised, result = tasks[0].result()
    if raised is not None:
        raise raised
    return result  # type: ignore[return-value]


def _twin(fn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """The sync twin of an `async def` function: same signature and docstring, no `async_`."""

    @functools.wraps(fn)
    def twin(*args: P.args, **kwargs: P.kwargs) -> T:
        return _run(fn(*args, **kwargs))

    name = fn.__name__.removeprefix("async_")
    twin.__name__ = name
    twin.__qualname__ = fn.__qualname__.rpartition(fn.__name__)[0] + name
    return twin


@overload
def run_sync(obj: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]: ...


@overload
def run_sync(obj: Awaitable[T]) -> T: ...


def run_sync(obj: Callable[P, Coroutine[Any, Any, T]] | Awaitable[T]) -> Callable[P, T] | T:
    """Run an awaitable to completion from sync code, or turn an `async def` into its sync twin.

    Works from plain scripts and from inside a running loop (a Jupyter cell) alike: the work runs
    on one persistent background event-loop thread, and this thread waits for its result or
    exception. Ctrl-C cancels the task, waits a few seconds for its cleanup (so remote predictions
    get cancelled), then raises `KeyboardInterrupt`.

    Args:
        obj: a coroutine (or other awaitable), or an `async def` function.

    Returns:
        The awaitable's result; for a function, a sync function with the same signature and
        docstring, named without the `async_` prefix (`run_many = run_sync(async_run_many)`).
    """
    if inspect.iscoroutinefunction(obj):
        return _twin(obj)
    if inspect.isawaitable(obj):
        return _run(obj)
    raise InvalidArgumentType(
        f"run_sync() takes a coroutine or an async def function, not {obj!r}; "
        "call the async function first (run_sync(f(...))) or pass f itself."
    )


_Entry = tuple[replicate.Client, AsyncGenerator[None, None]]  # (clone, its closer)
_clones: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakKeyDictionary[replicate.Client, _Entry]
] = weakref.WeakKeyDictionary()
_clones_lock = threading.Lock()


def loop_client(client: replicate.Client) -> replicate.Client:
    """A clone of `client` for the running event loop: same token, base URL, options, poll interval.

    The SDK caches one `httpx.AsyncClient` per `replicate.Client`, bound to the loop it first ran
    on; reusing it from another loop fails with "bound to a different event loop" or "Event loop
    is closed" (replicate-python#217). Clones are cached per (client, loop), both held weakly, and
    their connections are closed when the client is dropped or `asyncio.run()` ends the loop.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise EventLoopError(
            "loop_client() needs a running event loop: call it inside the coroutine that uses the "
            "client, e.g. `await loop_client(client).async_run(...)`."
        ) from None
    with _clones_lock:
        per_loop = _clones.get(loop)
        if per_loop is None:
            per_loop = _clones[loop] = weakref.WeakKeyDictionary()
        entry = per_loop.get(client)
        if entry is None:
            if any(clone is client for clone, _ in per_loop.values()):
                return client
            from . import _sdk  # here: the 1.x adapter, so run_sync works beside replicate 2.x

            clone = _sdk.clone(client)
            entry = per_loop[client] = (clone, _closer(clone))
    entry[0].poll_interval = client.poll_interval
    return entry[0]


def _closer(clone: replicate.Client) -> AsyncGenerator[None, None]:
    """An async generator, started now, whose `finally` closes the clone's connections.

    Started inside the running loop, it is registered with that loop's async-generator hooks, so
    the loop closes it (running the `finally` on the right loop) either when `asyncio.run()` shuts
    down its async generators or when the generator is garbage collected with the client.
    """

    async def close_at_exit() -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            _forget(asyncio.get_running_loop(), clone)
            from . import _sdk

            await _sdk.aclose(clone)

    agen = close_at_exit()
    try:
        agen.asend(None).send(None)
    except StopIteration:
        pass
    return agen


def _forget(loop: asyncio.AbstractEventLoop, clone: replicate.Client) -> None:
    """Forget a closed clone (its closer refers to the loop, which would keep the loop alive)."""
    with _clones_lock:
        per_loop = _clones.get(loop)
        if per_loop is None:
            return
        for client, (cached, _) in list(per_loop.items()):
            if cached is clone:
                del per_loop[client]
        if not per_loop:
            _clones.pop(loop, None)


def allow_nested_asyncio() -> None:
    """Let `asyncio.run(...)` work inside an already running loop, such as a notebook cell.

    Opt-in, because it patches asyncio for the whole process (pure-Python tasks, a re-entrant
    loop), which can break other libraries; replicate_nb's own sync twins never need it. Reach for
    it only when third-party code calls `asyncio.run()` in a cell. It uses nest-asyncio2 >= 1.7.3:
    the archived `nest_asyncio` (and nest-asyncio2 < 1.7.3) makes "Run All" on ipykernel 7 drop
    every queued cell with "cannot enter context". Calling it again does nothing more.
    """
    import nest_asyncio2

    nest_asyncio2.apply()
