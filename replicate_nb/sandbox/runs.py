"""A prediction in flight (`Run`: its record, event log and task) and the context it runs in.

`RunContext` is the `PredictContext` a model's `predict` gets (see models/base.py): logs and
output items it produces become events of the run and webhook notifications, on the server's
loop whichever thread the model runs in. What a model returns must be JSON a response can carry
(`check_output`).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._terms import SECRET_MASK
from ..schema import InputSchema
from .errors import ModelOutputError
from .models.base import ModelSpec
from .records import Prediction, parse_time
from .store import dumps, printable

if TYPE_CHECKING:
    from .engine import Engine


class Run:
    """A prediction in flight: its record, its event log, its task and the secrets to scrub."""

    def __init__(
        self,
        prediction: Prediction,
        model: ModelSpec,
        schema: InputSchema,
        secrets: list[str] | None = None,
    ) -> None:
        self.prediction = prediction
        self.model = model
        self.schema = schema
        self.secrets = sorted(set(secrets or ()), key=len, reverse=True)  # longest first
        self.events: list[tuple[str, str, str]] = []  # (event, id, data)
        self.emitted: list[Any] = []
        self.task: asyncio.Task[None] | None = None
        self.finished = asyncio.Event()
        self.cancel_requested = False
        self._changed = asyncio.Event()
        self._epoch = int(parse_time(prediction.created_at).timestamp())
        self.size = 0  # bytes of event data held

    def scrub(self, text: str) -> str:
        """`text` with the values of the prediction's secret inputs masked (logs and errors)."""
        for secret in self.secrets:
            text = text.replace(secret, SECRET_MASK)
        return text

    def add_event(self, event: str, data: str) -> None:
        """Record an event and wake stream readers."""
        self.size += len(data) + 32
        self.events.append((event, f"{self._epoch}:{len(self.events)}", data))
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, timeout: float) -> None:
        """Wait for the next event, at most `timeout` seconds."""
        waiter = self._changed
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass


class RunContext:
    """The PredictContext a model runs with (see models/base.py)."""

    def __init__(self, engine: Engine, run: Run) -> None:
        self._engine = engine
        self._run = run
        self.prediction_id = run.prediction.id
        self.sent_input = run.prediction.input  # as sent, before defaults; secrets masked
        self.metrics: dict[str, Any] = {}
        self.stream_rate = engine.stream_rate

    def _on_loop(self, fn: Callable[[], None]) -> None:
        if threading.get_ident() == self._engine.loop_thread:
            fn()
        else:
            self._engine.loop.call_soon_threadsafe(fn)

    def log(self, text: str) -> None:
        """Append a line to the prediction's logs (secret inputs masked)."""
        text = printable(self._run.scrub(text))

        def append() -> None:
            self._run.prediction.logs += text + "\n"
            self._run.add_event("logs", text)
            self._engine.webhooks.notify(self._run.prediction, "logs")

        self._on_loop(append)

    def emit(self, item: Any) -> None:
        """Add an item to an iterator output (it must be JSON a response can carry)."""
        check_output(item, f"output item {len(self._run.emitted)}")

        def append() -> None:
            self._run.emitted.append(item)
            self._run.prediction.output = list(self._run.emitted)
            self._run.add_event("output", item if isinstance(item, str) else event_json(item))
            self._engine.webhooks.notify(self._run.prediction, "output")

        self._on_loop(append)

    def seed(self, value: int | None) -> int:
        """The seed to use: `value`, or a drawn one when blank; logged either way."""
        chosen = self._engine.random.seed() if value is None else int(value)
        self.log(f"Using seed: {chosen}")
        return chosen

    async def sleep(self, seconds: float) -> None:
        """Wait (cancellable: a cancel of the prediction ends it)."""
        await asyncio.sleep(seconds)

    async def run_in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking code on one of the sandbox's worker threads."""
        return await self._engine.workers.run(fn, *args)

    async def read_file(self, value: str) -> bytes:
        """The bytes behind a file input (of the prediction owner's files)."""
        return self._engine.read_file(value, owner=self._run.prediction.owner)


def event_json(value: Any) -> str:
    """An event's data for a value that is not text."""
    return json.dumps(value)


def check_output(value: Any, what: str) -> None:
    """Raise a clear error for an output a response could not carry (NaN, inf, surrogates)."""
    try:
        dumps(value)
    except UnicodeEncodeError as exc:
        why = f"it holds text with a lone surrogate: {printable(str(exc))}"
    except ValueError:
        why = "it holds NaN or an infinity, which JSON has no number for"
    except RecursionError:
        why = "it is nested too deeply"
    else:
        return
    raise ModelOutputError(
        f"The model's {what} cannot be sent as JSON ({why}). Return finite numbers and "
        "valid Unicode text."
    )
