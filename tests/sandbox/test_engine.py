"""The engine on its own (no server, no HTTP): lifecycle, cancel, events, bounds, workers."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from replicate_nb.sandbox import engine as engine_module
from replicate_nb.sandbox.catalog import Catalog
from replicate_nb.sandbox.control import Faults, RandomSource
from replicate_nb.sandbox.engine import Engine
from replicate_nb.sandbox.errors import InvalidInput, WorkersExhausted
from replicate_nb.sandbox.models import builtin_models
from replicate_nb.sandbox.store import Store
from replicate_nb.sandbox.webhooks import WebhookSender
from replicate_nb.sandbox.workers import Workers

HELLO = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


def _engine() -> Engine:
    store, random = Store(), RandomSource(7)
    return Engine(
        catalog=Catalog(builtin_models()),
        store=store,
        random=random,
        faults=Faults(),
        webhooks=WebhookSender(store, random),
    )


def _run(test: Callable[[Engine], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        engine = _engine()
        engine.attach()
        try:
            return await test(engine)
        finally:
            await engine.shutdown()
            await engine.webhooks.close()

    return asyncio.run(main())


def _create(engine: Engine, ref: str, **input: Any):
    return engine.create(model=engine.catalog.resolve(ref)[0], input=input, by_version=False)


def test_a_prediction_runs_to_succeeded_and_is_stored():
    async def test(engine: Engine) -> None:
        created = _create(engine, HELLO, text="a")
        assert created.status == "starting"
        done = await engine.wait(created.id, 10)
        assert (done.status, done.output) == ("succeeded", "hello a")
        assert engine.store.get_prediction(created.id).output == "hello a"
        assert "predict_time" in done.metrics and engine.unfinished() == []

    _run(test)


def test_invalid_input_is_refused_before_anything_is_recorded():
    async def test(engine: Engine) -> None:
        with pytest.raises(InvalidInput):
            _create(engine, HELLO, text=3)
        assert engine.count() == 0

    _run(test)


def test_cancel_ends_a_running_prediction_and_its_stream():
    async def test(engine: Engine) -> None:
        created = _create(engine, "sandbox/sleep", seconds=30)
        await asyncio.sleep(0.05)
        canceled = await engine.cancel(created.id)
        assert canceled.status == "canceled"
        events = [e async for e in engine.events(created.id) if e is not None]
        assert events[-1][:1] == ("done",) and "canceled" in events[-1][2]

    _run(test)


def test_shutdown_fails_running_predictions_never_loses_them():
    async def test(engine: Engine) -> str:
        created = _create(engine, "sandbox/sleep", seconds=30)
        await asyncio.sleep(0.05)
        await engine.shutdown()
        return engine.store.get_prediction(created.id).status

    assert _run(test) == "failed"


def test_finished_runs_kept_for_streams_are_bounded_in_bytes(monkeypatch):
    monkeypatch.setattr(engine_module, "FINISHED_RUNS_BYTES", 3000)

    async def test(engine: Engine) -> None:
        ids = []
        for i in range(30):
            created = _create(engine, HELLO, text="x" * 200 + str(i))
            await engine.wait(created.id, 10)
            ids.append(created.id)
        assert sum(run.size for run in engine.finished.values()) <= 3000
        assert ids[-1] in engine.finished and ids[0] not in engine.finished
        replayed = [e async for e in engine.events(ids[0]) if e is not None]  # from the store
        assert replayed[-1][0] == "done"

    _run(test)


def test_workers_free_a_cancelled_slot_and_bound_what_is_left_behind():
    release = threading.Event()

    async def main() -> None:
        workers = Workers(size=1, max_abandoned=1)
        blocked = asyncio.ensure_future(workers.run(release.wait, 30))
        await asyncio.sleep(0.05)
        blocked.cancel()
        await asyncio.gather(blocked, return_exceptions=True)
        assert workers.abandoned == 1
        with pytest.raises(WorkersExhausted, match="1 cancelled predictions"):
            await workers.run(lambda: "never")
        release.set()
        for _ in range(200):
            if not workers.abandoned:
                break
            await asyncio.sleep(0.01)
        assert workers.abandoned == 0
        assert await workers.run(lambda: "free again") == "free again"

    asyncio.run(main())
