"""Run one model on many inputs at once: ordered results, safe retries, timeouts and a clean Ctrl-C.

Built only on the official client (`predictions.async_create`, `async_reload`, `async_cancel`,
`async_list`), through a clone of the caller's client whose transport sends each request once, so
`retries` and `timeout` mean what they say (the SDK's own transport would retry GETs up to 10
times, waiting up to 60 s). What a batch guarantees, checked by `tests/test_batch_properties.py`
over random schedules of lost answers, 429s, 5xx, delays, equal inputs and interrupts:

- One result per input, in input order. Whatever goes wrong with one input (a missing file, a
  value JSON cannot encode, an error answer) is that input's `RunResult` error; the others go on.
- At most one prediction per input on the server. A create is sent again only when the server
  cannot have run it (429, 503, no connection), or, after a lost answer, once the prediction
  list shows that it did not (`_lost.py`).
- No two results share a prediction id: a lost create adopts only a prediction no other input
  holds, and only while no equal input is being created (see `_lost.Claims`).
- Nothing is left running: when it returns, times out or is interrupted, every prediction it
  created has finished or was cancelled on the server; one it could not cancel (the API stayed
  unreachable for `CANCEL_GRACE` seconds) is named in a warning.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx
import replicate
from replicate.exceptions import ReplicateError
from replicate.helpers import async_encode_json
from replicate.prediction import Prediction

from . import _sdk
from ._lost import Claims, Send
from ._terms import TERMINAL, ModelRef, parse_ref
from .aio import run_sync
from .connection import current_client
from .costs import estimate
from .errors import (
    BatchInputError,
    BudgetExceeded,
    InvalidArgument,
    InvalidArgumentType,
    InvalidModelRef,
    PredictionTimeout,
)
from .results import BatchResults, RunResult

T = TypeVar("T")
log = logging.getLogger(__name__)

CANCEL_GRACE = 5.0
"""Seconds spent, at most, cancelling a prediction (or finding a lost one) before giving up."""

HOLD = 2
"""Seconds each create asks the server to hold the request until the prediction is done
(`Prefer: wait=N`, as `replicate.run` does with 60): a quick prediction then costs one request
instead of a create and polls, and has no polling lag. Short, so that a slow prediction soon gives
its connection back (the pool has 100) and falls back to polling at the client's poll_interval."""

_SAFE_STATUSES = frozenset({429, 503})  # the server refused before doing any work
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})  # a gateway may have passed the request on
_SAFE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # never sent
_TRANSIENT_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_THROTTLED_LIMIT = 30  # rate-limited creates waited out per input before giving up
_CLEANUP_TRIES = 1000  # cleanup (cancel, finding a lost create) retries until CANCEL_GRACE ends

# The SDK's ReplicateError keeps only the problem+json fields and drops the response headers, and
# the body's `retry_after` is not always sent (the real API adds it for low-credit accounts only),
# so Retry-After is read from the header by an httpx response hook on the batch's client. httpx
# awaits the hook inside the request's own task, so a context variable set by each attempt gives
# it a private box: concurrent requests never see each other's value.
_retry_after_box: contextvars.ContextVar[list[float] | None] = contextvars.ContextVar(
    "replicate_nb_retry_after", default=None
)


async def _remember_retry_after(response: httpx.Response) -> None:
    box = _retry_after_box.get()
    if box is not None and response.status_code in _SAFE_STATUSES:
        try:
            box.append(float(response.headers.get("Retry-After", "")))
        except ValueError:
            pass  # absent, or an HTTP date: plain backoff applies


def _batch_client(client: replicate.Client) -> replicate.Client:
    """A clone for this batch and loop: one send per request, and the Retry-After hook."""
    clone = _sdk.clone(client, sdk_retries=False)
    http = _sdk.async_http(clone)
    http.event_hooks = {**http.event_hooks, "response": [_remember_retry_after]}
    return clone


def _parse_ref(ref: str) -> ModelRef:
    parsed = parse_ref(ref)
    if parsed is None:
        raise InvalidModelRef(ref)
    return parsed


def _backoff(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After."""
    delay = min(30.0, 0.2 * 2 ** (attempt - 1))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay * random.uniform(1.0, 1.25)  # jitter only lengthens, so Retry-After holds


def _transient(exc: Exception) -> bool:
    if isinstance(exc, ReplicateError):
        return exc.status in _SAFE_STATUSES or exc.status in _AMBIGUOUS_STATUSES
    return isinstance(exc, _TRANSIENT_TRANSPORT)


def _ambiguous(exc: BaseException) -> bool:
    """Whether a failed create may still have created a prediction on the server."""
    if isinstance(exc, ReplicateError):
        return exc.status in _AMBIGUOUS_STATUSES
    return isinstance(exc, _TRANSIENT_TRANSPORT) and not isinstance(exc, _SAFE_TRANSPORT)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BudgetExceeded):
        return str(exc)
    if isinstance(exc, ReplicateError):
        return f"HTTP {exc.status}: {(exc.detail or exc.title or type(exc).__name__).strip()}"
    return f"{type(exc).__name__}: {exc}"


def _check_json(index: int, payload: dict[str, Any]) -> None:
    """Raise a TypeError naming the input field JSON cannot encode, if there is one."""
    for name, value in payload.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InvalidArgumentType(
                f"inputs[{index}][{name!r}] is a {type(value).__name__}, which JSON cannot "
                "encode; pass a str, number, bool, None, list, dict, file or Path"
            ) from None


class _Batch:
    """The state of one `async_run_many` call: which predictions exist and which still run."""

    def __init__(
        self,
        client: replicate.Client,
        ref: ModelRef,
        *,
        timeout: float | None,
        retries: int,
    ) -> None:
        self.client = client
        self.ref = ref
        self.timeout = timeout
        self.retries = retries
        self.hold = HOLD
        self.resume_at = 0.0  # monotonic time before which no create is sent (after a 429)
        self.running: dict[str, Prediction] = {}  # created, not yet seen finished
        self.claims = Claims(client, ref)

    async def run_one(self, index: int, item: Mapping[str, Any], limit: asyncio.Semaphore) -> Any:
        async with limit:
            started = time.monotonic()
            attempts = [0]
            prediction: Prediction | None = None
            try:
                payload = await async_encode_json(dict(item), client=self.client)
                _check_json(index, payload)
                prediction, sent_at = await self._create(payload, attempts)
                timed_out = await self._follow(prediction, sent_at)
            except Exception as exc:  # any failure of this input is this input's result
                if prediction is not None and prediction.status not in TERMINAL:
                    await self._cancel(prediction)
                return RunResult(
                    input=item,
                    prediction_id=prediction.id if prediction else None,
                    error=_describe(exc),
                    duration=time.monotonic() - started,
                    attempts=attempts[0],
                    cost=estimate(prediction) if prediction else None,
                )
            status, error = prediction.status, prediction.error
            if timed_out and status != "succeeded" and self.timeout is not None:
                status, error = "canceled", str(PredictionTimeout(prediction.id, self.timeout))
            return RunResult(
                input=item,
                output=prediction.output,
                prediction_id=prediction.id,
                status=status,
                error=None if error is None else str(error),
                duration=time.monotonic() - started,
                attempts=attempts[0],
                cost=estimate(prediction),
            )

    async def _create(self, payload: Any, attempts: list[int]) -> tuple[Prediction, float]:
        """Create the prediction, retrying what is safe to retry, adopting what was created.

        Returns the prediction and the (monotonic) time its create request was sent.
        """
        throttled = failures = 0  # 429s are waited out apart: they spend no retries
        while True:
            await self.claims.until_recovered(payload)
            pause = self.resume_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause * random.uniform(1.0, 1.1))
                continue  # another input may have started recovering this payload meanwhile
            attempts[0] += 1
            box: list[float] = []
            send = self.claims.sending(payload)
            # Shielded: cancelling the batch must not abandon a create in flight, or a
            # prediction could start on the server that nobody knows about, so nobody cancels.
            task = asyncio.ensure_future(self._post(payload, box))
            task.add_done_callback(functools.partial(self._created, send))
            try:
                return await asyncio.shield(task), send.sent_at
            except (ReplicateError, httpx.TransportError) as exc:
                retry_after = box[-1] if box else None
                if isinstance(exc, ReplicateError) and exc.status == 429 and self.retries:
                    throttled += 1
                    if throttled > _THROTTLED_LIMIT:
                        raise
                    # the whole batch pauses: other inputs hammering the limit would starve this one
                    self.resume_at = max(
                        self.resume_at,
                        time.monotonic()
                        + (_backoff(throttled, None) if retry_after is None else retry_after),
                    )
                    continue
                failures += 1
                retry = failures <= self.retries and _transient(exc)
                if _ambiguous(exc):
                    # raises when the list cannot be read: a blind retry could run it twice
                    found = await self.claims.recover(
                        send, pause=_backoff(failures, retry_after), list_=self._cleanup
                    )
                    if found is not None:
                        self._track(found)
                        return found, send.sent_at
                elif retry:
                    await asyncio.sleep(_backoff(failures, retry_after))
                if not retry:
                    raise

    async def _post(self, payload: Any, box: list[float]) -> Prediction:
        _retry_after_box.set(box)
        hold: dict[str, Any] = {"wait": self.hold} if self.hold else {}
        if self.ref.version:
            return await self.client.predictions.async_create(
                version=self.ref.version, input=payload, **hold
            )
        return await self.client.models.predictions.async_create(
            model=(self.ref.owner, self.ref.name), input=payload, **hold
        )

    def _created(self, send: Send, task: asyncio.Task[Prediction]) -> None:
        exc = None if task.cancelled() else task.exception()
        if not task.cancelled() and exc is None:
            self.claims.answered(send, task.result().id)
            self._track(task.result())
        else:
            self.claims.unanswered(send, lost=exc is not None and _ambiguous(exc))

    def _track(self, prediction: Prediction) -> None:
        if prediction.status not in TERMINAL:
            self.running[prediction.id] = prediction

    async def _follow(self, prediction: Prediction, sent_at: float) -> bool:
        """Poll until finished; at the deadline cancel it remotely. Returns whether it timed out."""
        deadline = None if self.timeout is None else sent_at + self.timeout
        while prediction.status not in TERMINAL:
            if deadline is not None and time.monotonic() >= deadline:
                await self._cancel(prediction, settle=True)
                self.running.pop(prediction.id, None)
                return True
            pause = self.client.poll_interval
            if deadline is not None:
                pause = min(pause, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, pause))
            try:
                await self._request(prediction.async_reload, tries=self.retries, until=deadline)
            except TimeoutError:
                continue  # the deadline came first: cancel at the top of the loop
        self.running.pop(prediction.id, None)
        return False

    async def _request(
        self, call: Callable[[], Awaitable[T]], *, tries: int, until: float | None
    ) -> T:
        """Send an idempotent request, retrying transient errors up to `tries` times.

        Raises TimeoutError when `until` (a monotonic time) comes first, and the last error
        when the retries are spent.
        """
        attempt = 0
        while True:
            attempt += 1
            box: list[float] = []
            _retry_after_box.set(box)
            try:
                if until is None:
                    return await call()
                return await asyncio.wait_for(call(), max(0.0, until - time.monotonic()))
            except (ReplicateError, httpx.TransportError) as exc:
                if attempt > tries or not _transient(exc):
                    raise
                delay = _backoff(attempt, box[-1] if box else None)
                if until is not None and time.monotonic() + delay >= until:
                    await asyncio.sleep(max(0.0, until - time.monotonic()))
                    raise TimeoutError from exc
                await asyncio.sleep(delay)

    async def _cleanup(self, call: Callable[[], Awaitable[T]]) -> T:
        """A request that keeps a promise (cancel, find a lost create): retried for a grace."""
        return await self._request(
            call, tries=_CLEANUP_TRIES, until=time.monotonic() + CANCEL_GRACE
        )

    async def _cancel(self, prediction: Prediction, *, settle: bool = False) -> None:
        """Cancel on the server within CANCEL_GRACE; with `settle`, wait for its final status."""
        give_up = time.monotonic() + CANCEL_GRACE
        try:
            await self._cleanup(prediction.async_cancel)
            while settle and prediction.status not in TERMINAL and time.monotonic() < give_up:
                await asyncio.sleep(min(self.client.poll_interval, give_up - time.monotonic()))
                await self._request(prediction.async_reload, tries=_CLEANUP_TRIES, until=give_up)
        except (ReplicateError, httpx.HTTPError, TimeoutError) as exc:
            log.warning(
                "run_many could not cancel prediction %s (%s)", prediction.id, _describe(exc)
            )
            return
        if prediction.status in TERMINAL:
            self.running.pop(prediction.id, None)

    async def finish(self, tasks: list[asyncio.Task[RunResult]], *, aborted: bool) -> None:
        """Leave nothing running: find lost creates, cancel what still runs, within CANCEL_GRACE.

        After an interrupt, every input is stopped first; creates still in flight are waited for
        (a held create answers within HOLD seconds) and then looked for in the prediction list.
        """
        give_up = time.monotonic() + CANCEL_GRACE
        if aborted:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=CANCEL_GRACE)
            await self.claims.settle(timeout=max(0.0, give_up - time.monotonic()))
        for found in await self.claims.sweep(list_=self._cleanup):
            self._track(found)
        cancels = {
            pid: asyncio.ensure_future(self._cancel(p)) for pid, p in list(self.running.items())
        }
        if cancels:
            await asyncio.wait(cancels.values())
            log.warning(
                "run_many stopped early; canceled %d running prediction(s): %s",
                len(cancels),
                ", ".join(cancels),
            )


async def async_run_many(
    ref: str,
    inputs: Iterable[Mapping[str, Any]],
    *,
    concurrency: int = 8,
    timeout: float | None = None,
    retries: int = 3,
    progress: bool = True,
    client: replicate.Client | None = None,
) -> BatchResults:
    """Run model `ref` once per input, `concurrency` at a time; one result per input, in order.

    A failed input never loses the others: each gets a `RunResult` with its status and error.
    Each result carries an estimate of what its prediction would cost on the real API (`.cost`;
    `BatchResults.cost` is the total). Inputs past `connect(budget=...)` are not run: their
    result has status "error" and says the budget is spent.
    Rate limits (429), server errors (5xx) and dropped connections are retried with exponential
    backoff and jitter, honouring `Retry-After`, without ever creating a prediction twice. On
    Ctrl-C or task cancellation, every prediction still running is cancelled on the server (their
    ids are logged as a warning) before the interruption propagates.

    Args:
        ref: `owner/name` or `owner/name:version`.
        inputs: one dict of model inputs per prediction.
        concurrency: how many predictions run at the same time.
        timeout: seconds a prediction may run after its create is sent; then it is cancelled on
            the server and its result has status "canceled". Retries and polls never run past
            it. None waits for ever.
        retries: how many times a request that failed transiently (5xx, network) is sent again;
            0 sends each request once. Rate-limited creates (429) are waited out apart from
            these (up to 30 per input, pausing every create), unless retries is 0.
        progress: show one progress bar (notebook widget or terminal).
        client: the `replicate.Client` to use; by default the one `connect()` chose.

    Returns:
        A `BatchResults` list of `RunResult`, with `.outputs`, `.succeeded` and `.failed`.
    """
    parsed = _parse_ref(ref)
    items = list(inputs)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise BatchInputError(index, item)
    if concurrency < 1:
        raise InvalidArgument(f"concurrency must be at least 1, got {concurrency!r}")
    if timeout is not None and timeout <= 0:
        raise InvalidArgument(
            f"timeout must be a positive number of seconds or None, got {timeout!r}"
        )
    if retries < 0:
        raise InvalidArgument(f"retries must be 0 or more, got {retries!r}")
    from tqdm.auto import tqdm

    started = time.monotonic()
    batch = _Batch(
        _batch_client(client or current_client()), parsed, timeout=timeout, retries=retries
    )
    limit = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(items), desc=ref, unit="run", disable=not progress)
    tasks = [
        asyncio.ensure_future(batch.run_one(index, item, limit)) for index, item in enumerate(items)
    ]
    for task in tasks:
        task.add_done_callback(lambda done: done.cancelled() or bar.update(1))
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        await batch.finish(tasks, aborted=True)
        raise
    else:
        await batch.finish(tasks, aborted=False)
    finally:
        bar.close()
        await _sdk.aclose(batch.client)
    return BatchResults(results, wall_time=time.monotonic() - started)


run_many = run_sync(async_run_many)
