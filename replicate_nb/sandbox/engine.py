"""Runs predictions: lifecycle, logs and output events, cancel, deadlines, rate limits and faults.

Every prediction is an asyncio task on the server's loop, so a model never blocks the server; a
cancel cancels the task. Events (logs, output, done) are kept per run so that any number of stream
readers can follow from the start, and webhook deliveries are triggered from the same place.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hmac
import re
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from .. import _datauri
from ..schema import InputSchema
from ..schema_errors import problem_detail
from .catalog import Catalog
from .control import CAPABILITY_CHARS, Faults, RandomSource
from .errors import InjectedFault, InvalidInput, NotFound, RateLimited
from .models.base import ModelSpec
from .records import Prediction, now, parse_time
from .runs import Run, RunContext, check_output, event_json
from .store import Store, printable
from .workers import Workers

FINISHED_RUNS_KEPT = 1000
FINISHED_RUNS_BYTES = 64 * 2**20  # events of recent runs kept for streams; older ones replay
STREAM_RATE = 40.0
"""Tokens per second the language-model stand-in streams by default: a person can watch it.

No public figure for Replicate's Llama 3 8B was found; the LLMPerf leaderboard (ray-project,
December 2023) measured Replicate's meta/llama-2-7b-chat at 26 tokens/s median, 35 at p75.
40 is a little above that, for newer serving; it is a sandbox option (`stream_rate`).
"""
RESTART_ERROR = (
    "The sandbox stopped while this prediction was running, so it did not finish. "
    "Nothing was lost: run it again."
)


class TokenBucket:
    """`rate` creates per second, in bursts of up to `capacity` (default max(1, rate))."""

    def __init__(self, rate: float, *, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate) if capacity is None else capacity
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def admit(self) -> float:
        """0 when admitted, else the seconds until a create would be admitted."""
        current = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (current - self.stamp) * self.rate)
        self.stamp = current
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class Engine:
    """Creates, runs, cancels and reports predictions."""

    def __init__(
        self,
        *,
        catalog: Catalog,
        store: Store,
        random: RandomSource,
        faults: Faults,
        webhooks: Any,
        stream_rate: float = STREAM_RATE,
    ) -> None:
        self.catalog = catalog
        self.stream_rate = stream_rate
        self.store = store
        self.random = random
        self.webhooks = webhooks
        self.workers = Workers()
        self.runs: dict[str, Run] = {}
        self.finished: OrderedDict[str, Run] = OrderedDict()  # recent runs, for stream replays
        self._finished_bytes = 0
        self.loop: asyncio.AbstractEventLoop
        self.loop_thread = 0
        self.closing = False
        self._faults = faults
        self.finish_listeners: list[Callable[[Prediction], None]] = []  # e.g. a room's view
        self._limiter = TokenBucket(faults.create_rate_limit) if faults.create_rate_limit else None

    # lifecycle of the engine
    def attach(self) -> None:
        """Bind to the running loop (server startup) and fail predictions a restart interrupted."""
        self.loop = asyncio.get_running_loop()
        self.loop_thread = threading.get_ident()
        for prediction in self.store.unfinished_predictions():
            self._interrupt(prediction)

    def _interrupt(self, prediction: Prediction) -> None:
        prediction.status = "failed"
        prediction.error = RESTART_ERROR
        prediction.completed_at = now()
        prediction.logs += RESTART_ERROR + "\n"
        self.store.save_prediction(prediction)

    async def shutdown(self) -> None:
        """Stop running predictions (recorded as failed, never lost) and end open streams."""
        self.closing = True
        for run in list(self.runs.values()):
            if run.task and not run.task.done():
                run.task.cancel()
        for run in list(self.runs.values()):
            if run.task:
                await asyncio.gather(run.task, return_exceptions=True)
            if not run.prediction.done:
                self._interrupt(run.prediction)
            run.add_event("done", '{"reason": "error"}')

    # faults
    @property
    def faults(self) -> Faults:
        """The current fault settings."""
        return self._faults

    @faults.setter
    def faults(self, value: Faults) -> None:
        self._faults = value
        self._limiter = TokenBucket(value.create_rate_limit) if value.create_rate_limit else None

    async def before_request(self) -> None:
        """Apply latency and injected errors to an API request (before any work is done)."""
        if self._faults.latency:
            await asyncio.sleep(self._faults.latency)
        if self._faults.error_rate and self.random.uniform() < self._faults.error_rate:
            raise InjectedFault(self._faults.error_status)

    # predictions
    def create(
        self,
        *,
        model: ModelSpec,
        input: Any,
        by_version: bool,
        webhook: str | None = None,
        webhook_events_filter: list[str] | None = None,
        deployment: str | None = None,
        cancel_after: float | None = None,
        schema: InputSchema | None = None,
        destination: str | None = None,
        owner: str | None = None,
    ) -> Prediction:
        """Validate, record and start a prediction; raises before recording anything.

        A training is a prediction of its trainer's `train()`: `schema` is then the training
        input schema and `destination` the model it creates a version of (see trainings.py).
        `owner` is the room account it belongs to (None outside a room).
        """
        schema = schema or self.catalog.input_schema(model)
        problems = schema.validate(input)
        if problems:
            raise InvalidInput(problem_detail(problems), [p.to_json() for p in problems])
        stored = schema.redact(input)  # secret values go to the model only, never to the store
        check_input = getattr(model.predict, "check_input", None)  # e.g. replays: a recorded input?
        if check_input is not None:
            check_input(stored)
        if self._limiter is not None:
            wait = self._limiter.admit()
            if wait:
                raise RateLimited(wait)
        created = now()
        prediction = Prediction(
            id=self.random.prediction_id(),
            model=model.ref,
            version=model.version_id if by_version or not model.official else "hidden",
            input=stored,
            created_at=created,
            deployment=deployment,
            webhook=webhook,
            webhook_events_filter=webhook_events_filter,
            streamable=schema.output.is_iterator,
            stream_token=self.random.capability() if schema.output.is_iterator else None,
            destination=destination,
            owner=owner,
        )
        if cancel_after is not None:
            deadline = parse_time(created) + _dt.timedelta(seconds=cancel_after)
            prediction.deadline = deadline.isoformat(timespec="microseconds").replace("+00:00", "Z")
            self.loop.call_later(cancel_after, self._expire, prediction.id)
        self.store.save_prediction(prediction)
        run = Run(prediction, model, schema, schema.secret_values(input))
        self.runs[prediction.id] = run
        run.task = self.loop.create_task(self._execute(run, schema.with_defaults(input)))
        self.webhooks.notify(prediction, "start")
        return prediction

    def get(self, prediction_id: str) -> Prediction:
        """The live or stored prediction."""
        run = self.runs.get(prediction_id)
        if run is not None:
            return run.prediction
        found = self.store.get_prediction(prediction_id)
        if found is None:
            raise NotFound(
                f"Prediction {prediction_id!r} not found. List predictions with "
                "GET /v1/predictions."
            )
        return found

    def streamed(self, token: str) -> Prediction:
        """The prediction whose `urls.stream` ends in `token` (its id, then its capability)."""
        prediction_id, secret = token[:-CAPABILITY_CHARS], token[-CAPABILITY_CHARS:]
        run = self.runs.get(prediction_id) or self.finished.get(prediction_id)
        found = run.prediction if run is not None else self.store.get_prediction(prediction_id)
        if found is None or not hmac.compare_digest(
            (found.stream_token or "").encode(), secret.encode()
        ):
            raise NotFound(
                "No stream at this URL. Stream URLs are capability URLs: use the urls.stream "
                "of a prediction, exactly as the API returned it."
            )
        return found

    async def wait(self, prediction_id: str, timeout: float) -> Prediction:
        """The prediction once terminal, or as it is after `timeout` seconds."""
        run = self.runs.get(prediction_id)
        if run is None:
            return self.get(prediction_id)
        if not run.prediction.done:
            try:
                await asyncio.wait_for(run.finished.wait(), timeout)
            except TimeoutError:
                pass
        return run.prediction

    async def cancel(self, prediction_id: str) -> Prediction:
        """Cancel a running prediction; a finished one is returned unchanged."""
        run = self.runs.get(prediction_id)
        if run is None or run.prediction.done:
            return self.get(prediction_id)
        run.cancel_requested = True
        if run.task is not None:
            run.task.cancel()
            await asyncio.gather(run.task, return_exceptions=True)
        return run.prediction

    def _expire(self, prediction_id: str) -> None:
        run = self.runs.get(prediction_id)
        if run is not None and not run.prediction.done:
            run.prediction.logs += "Cancel-After deadline reached: canceling.\n"
            self.loop.create_task(self.cancel(prediction_id))

    async def events(
        self, prediction_id: str, *, after: str | None = None, keepalive: float = 10.0
    ) -> AsyncIterator[tuple[str, str, str] | None]:
        """Stream events (None = keep-alive) from the start, or after a `Last-Event-ID`."""
        run = self.runs.get(prediction_id) or self.finished.get(prediction_id)
        history = run.events if run is not None else self._replay(self.get(prediction_id))
        index = 0
        if after is not None:
            ids = [event_id for _, event_id, _ in history]
            index = ids.index(after) + 1 if after in ids else 0
        if run is None:
            for event in history[index:]:
                yield event
            return
        while True:
            while index < len(run.events):
                event = run.events[index]
                index += 1
                yield event
                if event[0] == "done":
                    return
            if self.closing:
                return
            before = len(run.events)
            await run.changed(keepalive)
            if len(run.events) == before:
                yield None

    @staticmethod
    def _replay(prediction: Prediction) -> list[tuple[str, str, str]]:
        """Events of a finished prediction no longer in memory (e.g. after a restart)."""
        epoch = int(parse_time(prediction.created_at).timestamp())
        events = [("logs", line) for line in prediction.logs.splitlines()]
        if isinstance(prediction.output, list):
            events += [
                ("output", o if isinstance(o, str) else event_json(o)) for o in prediction.output
            ]
        events += _terminal_events(prediction)
        return [(name, f"{epoch}:{i}", data) for i, (name, data) in enumerate(events)]

    async def _execute(self, run: Run, inputs: dict[str, Any]) -> None:
        prediction = run.prediction
        ctx = RunContext(self, run)
        try:
            if self._faults.queue_delay:
                await asyncio.sleep(self._faults.queue_delay)
            prediction.status = "processing"  # stored at the end; a restart fails it anyway
            prediction.started_at = now()
            result = await run.model.predict(ctx, inputs)
            if not run.schema.output.is_iterator:
                check_output(result, "output")
            prediction.output = list(run.emitted) if run.schema.output.is_iterator else result
            prediction.status = "succeeded"
        except asyncio.CancelledError:
            prediction.status = "canceled"
            if not run.cancel_requested and self.closing:
                prediction.status = "failed"
                prediction.error = RESTART_ERROR
        except Exception as exc:  # the model's own failure becomes the prediction's error
            prediction.status = "failed"
            prediction.error = printable(run.scrub(str(exc) or type(exc).__name__))
            if getattr(exc, "log_traceback", True):  # a replayed failure brings its own logs
                prediction.logs += printable(run.scrub("".join(traceback.format_exception(exc))))
        finally:
            self._finish(run, ctx)

    def _finish(self, run: Run, ctx: RunContext) -> None:
        prediction = run.prediction
        prediction.completed_at = now()
        completed = parse_time(prediction.completed_at)
        metrics = dict(ctx.metrics)
        if prediction.started_at:
            metrics["predict_time"] = round(
                (completed - parse_time(prediction.started_at)).total_seconds(), 6
            )
        metrics["total_time"] = round(
            (completed - parse_time(prediction.created_at)).total_seconds(), 6
        )
        prediction.metrics = metrics
        self.store.save_prediction(prediction)
        for name, data in _terminal_events(prediction):
            run.add_event(name, data)
        run.finished.set()
        self.webhooks.notify(prediction, "completed")
        for listener in self.finish_listeners:
            listener(prediction)
        self.runs.pop(prediction.id, None)
        self.finished[prediction.id] = run
        self._finished_bytes += run.size
        while len(self.finished) > FINISHED_RUNS_KEPT or self._finished_bytes > FINISHED_RUNS_BYTES:
            self._finished_bytes -= self.finished.popitem(last=False)[1].size

    # files as model inputs
    def read_file(self, value: str, *, owner: str | None = None) -> bytes:
        """The bytes of a `data:` URI or of a file uploaded to this sandbox (by `owner`)."""
        if value.startswith(_datauri.PREFIX):
            try:
                return _datauri.decode(value)
            except ValueError as exc:
                raise ValueError(f"could not decode the data: URI ({exc})") from exc
        match = re.search(r"/v1/files/([^/?#]+)", value)
        if match:
            file = self.store.get_file(match.group(1))
            theirs = file is not None and owner is not None and file.owner != owner
            content = None if theirs else self.store.file_content(match.group(1))
            if content is None:
                raise ValueError(
                    f"file {match.group(1)!r} was not found in the sandbox's files "
                    "(it may have been deleted); upload it again"
                )
            return content
        raise ValueError(
            f"the sandbox cannot fetch {value[:80]!r}: it never goes to the internet. Pass a "
            "data: URI, a local file (the client uploads it), or the urls.get of an uploaded file."
        )

    def count(self) -> int:
        """How many predictions exist."""
        return self.store.count_predictions()

    def unfinished(self) -> list[str]:
        """Ids of predictions still starting or processing."""
        return [pid for pid, run in self.runs.items() if not run.prediction.done]


def _terminal_events(prediction: Prediction) -> list[tuple[str, str]]:
    if prediction.status == "succeeded":
        return [("done", "{}")]
    if prediction.status == "canceled":
        return [("done", '{"reason": "canceled"}')]
    return [("error", event_json({"detail": prediction.error})), ("done", '{"reason": "error"}')]
