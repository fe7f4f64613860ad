"""Run one model on many inputs at once: ordered results, safe retries, timeouts and a clean Ctrl-C.

Built only on the official client (`predictions.async_create`, `async_reload`, `async_cancel`,
`async_list`); the HTTP is the SDK's. What it adds: a concurrency limit, retries of creates that
the SDK never retries (POST) without ever creating a duplicate, a per-prediction timeout that
cancels on the server, and cancellation of every running prediction on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as _dt
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import httpx
import replicate
from replicate.exceptions import ReplicateError
from replicate.helpers import async_encode_json
from replicate.identifier import ModelVersionIdentifier
from replicate.prediction import Prediction

from .aio import loop_client, run_sync
from .connection import current_client
from .costs import estimate
from .errors import BatchInputError, BudgetExceeded, InvalidModelRef, PredictionTimeout
from .results import BatchResults, RunResult

T = TypeVar("T")
log = logging.getLogger(__name__)

CANCEL_GRACE = 5.0
"""Seconds spent, at most, cancelling running predictions after Ctrl-C or a timeout."""

HOLD = 2
"""Seconds each create asks the server to hold the request until the prediction is done
(`Prefer: wait=N`, as `replicate.run` does with 60): a quick prediction then costs one request
instead of a create and polls, and has no polling lag. Short, so that a slow prediction soon gives
its connection back (the pool has 100) and falls back to polling at the client's poll_interval."""

_TERMINAL = frozenset({"succeeded", "failed", "canceled"})
_SAFE_STATUSES = frozenset({429, 503})  # the server refused before doing any work
_AMBIGUOUS_STATUSES = frozenset({500, 502, 504})  # a gateway may have passed the request on
_SAFE_TRANSPORT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # never sent
_TRANSIENT_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
_CLOCK_SLACK = _dt.timedelta(seconds=5)  # server and local clocks may disagree a little
_THROTTLED_LIMIT = 30  # rate-limited creates waited out per input before giving up

# The SDK's ReplicateError keeps only the problem+json fields and drops the response headers, and
# the body's `retry_after` is not always sent (the real API adds it for low-credit accounts only),
# so Retry-After is read from the header by an httpx response hook on our loop client. httpx
# awaits the hook inside the request's own task, so a context variable set by each create attempt
# gives it a private box: concurrent creates never see each other's value.
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


def _hooked(client: replicate.Client) -> replicate.Client:
    """The client, its async httpx client carrying the Retry-After hook (added once)."""
    http = client._async_client
    hooks = http.event_hooks
    if _remember_retry_after not in hooks["response"]:
        http.event_hooks = {**hooks, "response": [*hooks["response"], _remember_retry_after]}
    return client


def _parse_ref(ref: str) -> ModelVersionIdentifier:
    try:
        return ModelVersionIdentifier.parse(ref)
    except (TypeError, ValueError):
        raise InvalidModelRef(ref) from None


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


def _created_at(prediction: Prediction) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(prediction.created_at).replace("Z", "+00:00"))
    except ValueError:
        return None


class _Batch:
    """The state of one `async_run_many` call: which predictions exist and which still run."""

    def __init__(
        self,
        client: replicate.Client,
        ref: ModelVersionIdentifier,
        *,
        timeout: float | None,
        retries: int,
    ) -> None:
        self.client = client
        self.ref = ref
        self.timeout = timeout
        self.retries = retries
        self.hold = HOLD if timeout is None else min(HOLD, int(timeout))  # 0: no hold
        self.resume_at = 0.0  # monotonic time before which no create is sent (rate limited)
        self.running: dict[str, Prediction] = {}  # created, not yet seen finished
        self.known: set[str] = set()  # every id this batch created or adopted
        # creates in flight, and creates that failed in a way that may still have created a
        # prediction; each with its (payload, time sent) to find that prediction by
        self.creating: dict[asyncio.Task[Prediction], tuple[Any, _dt.datetime]] = {}
        self.unsure: dict[asyncio.Task[Prediction], tuple[Any, _dt.datetime]] = {}

    async def run_one(self, item: Mapping[str, Any], limit: asyncio.Semaphore) -> RunResult:
        async with limit:
            started = time.monotonic()
            attempts = [0]
            prediction: Prediction | None = None
            try:
                payload = await async_encode_json(dict(item), client=self.client)
                prediction, sent_at = await self._create(payload, attempts)
                timed_out = await self._follow(prediction, sent_at)
            except (ReplicateError, httpx.HTTPError, BudgetExceeded) as exc:
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
        throttled = 0  # 429s are waited out; they are not failures, so they spend no retries
        while True:
            pause = self.resume_at - time.monotonic()
            if pause > 0:
                await asyncio.sleep(pause * random.uniform(1.0, 1.1))
            attempts[0] += 1
            sent_at, box = time.monotonic(), list[float]()
            # Shielded: cancelling the batch must not abandon a create in flight, or a
            # prediction could start on the server that nobody knows about, so nobody cancels.
            task = asyncio.ensure_future(self._post(payload, box))
            self.creating[task] = (payload, _dt.datetime.now(_dt.UTC))
            task.add_done_callback(self._created)
            try:
                return await asyncio.shield(task), sent_at
            except (ReplicateError, httpx.TransportError) as exc:
                retry_after = box[-1] if box else None
                if isinstance(exc, ReplicateError) and exc.status == 429:
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
                failures = attempts[0] - throttled
                retry = failures <= self.retries and _transient(exc)
                if retry:
                    await asyncio.sleep(_backoff(failures, retry_after))
                if task in self.unsure:
                    # if the listing fails, this input ends here: a blind retry could run it twice
                    page = await self._retrying(self.client.predictions.async_list)
                    adopted = self._adopt(page.results, *self.unsure.pop(task))
                    if adopted is not None:
                        return adopted, sent_at
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

    def _created(self, task: asyncio.Task[Prediction]) -> None:
        sent = self.creating.pop(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            self._track(task.result())
        elif _ambiguous(exc):
            self.unsure[task] = sent

    def _track(self, prediction: Prediction) -> None:
        self.known.add(prediction.id)
        if prediction.status not in _TERMINAL:
            self.running[prediction.id] = prediction

    def _adopt(
        self, candidates: list[Prediction], payload: Any, since: _dt.datetime
    ) -> Prediction | None:
        """Take over the prediction an unanswered create made, if `candidates` show one."""
        model = f"{self.ref.owner}/{self.ref.name}"
        for found in candidates:
            created = _created_at(found)
            if (
                found.id not in self.known
                and found.model == model
                and (not self.ref.version or found.version == self.ref.version)
                and found.input == payload
                and created is not None
                and created >= since - _CLOCK_SLACK
            ):
                self._track(found)
                return found
        return None

    async def _follow(self, prediction: Prediction, sent_at: float) -> bool:
        """Poll until finished; at the deadline cancel it remotely. Returns whether it timed out."""
        deadline = None if self.timeout is None else sent_at + self.timeout
        timed_out = False
        while prediction.status not in _TERMINAL:
            pause = self.client.poll_interval
            if deadline is not None:
                if time.monotonic() >= deadline:
                    if timed_out:
                        break  # cancelled, but no final status came within CANCEL_GRACE
                    await self._retrying(prediction.async_cancel)
                    deadline, timed_out = time.monotonic() + CANCEL_GRACE, True
                    continue
                pause = min(pause, deadline - time.monotonic())
            await asyncio.sleep(max(0.0, pause))
            await self._retrying(prediction.async_reload)
        self.running.pop(prediction.id, None)
        return timed_out

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run an idempotent request, retrying transient errors with backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return await call()
            except (ReplicateError, httpx.TransportError) as exc:
                if attempt > self.retries or not _transient(exc):
                    raise
                await asyncio.sleep(_backoff(attempt, None))

    async def abort(self, tasks: list[asyncio.Task[RunResult]]) -> None:
        """Stop every input and cancel, on the server, every prediction still running.

        All within CANCEL_GRACE. Creates still in flight are looked up in the newest predictions
        rather than waited for (a held create answers only when its prediction ends).
        """
        give_up = time.monotonic() + CANCEL_GRACE

        def left() -> float:
            return max(0.0, give_up - time.monotonic())

        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=left())
        cancels: dict[str, asyncio.Future[None]] = {}
        for last_round in (False, True):
            if self.creating or self.unsure:
                await self._adopt_lost(left())
            cancels |= {
                pid: asyncio.ensure_future(self._retrying(p.async_cancel))
                for pid, p in self.running.items()
                if pid not in cancels
            }
            if self.creating and not last_round:
                await asyncio.wait(list(self.creating), timeout=left())
        if not cancels:
            return
        _, pending = await asyncio.wait(cancels.values(), timeout=max(left(), 0.5))
        for future in pending:
            future.cancel()
        failed = [pid for pid, f in cancels.items() if f in pending or f.exception() is not None]
        log.warning(
            "run_many stopped early; canceled %d running prediction(s): %s%s",
            len(cancels),
            ", ".join(cancels),
            f" (cancel failed for: {', '.join(failed)})" if failed else "",
        )

    async def _adopt_lost(self, timeout: float) -> None:
        """Find the predictions of creates whose answer has not come (one listing for all)."""
        lost = [*self.creating.values(), *self.unsure.values()]
        self.unsure.clear()
        try:
            page = await asyncio.wait_for(
                self._retrying(self.client.predictions.async_list), max(timeout, 0.5)
            )
        except (TimeoutError, ReplicateError, httpx.HTTPError) as exc:
            log.warning(
                "run_many could not list predictions (%s); %d unanswered create(s) may "
                "have started predictions that still run",
                _describe(exc),
                len(lost),
            )
            return
        for payload, since in lost:
            self._adopt(page.results, payload, since)


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
        timeout: seconds a prediction may run after it is created; then it is cancelled on the
            server and its result has status "canceled". None waits for ever.
        retries: retries per request for transient errors (5xx, network). Rate limits (429)
            are waited out apart from these (up to 30 per input), pausing every create.
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
        raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
    if timeout is not None and timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
    if retries < 0:
        raise ValueError(f"retries must be 0 or more, got {retries!r}")
    from tqdm.auto import tqdm

    started = time.monotonic()
    batch = _Batch(
        _hooked(loop_client(client or current_client())), parsed, timeout=timeout, retries=retries
    )
    limit = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(items), desc=ref, unit="run", disable=not progress)
    tasks = [asyncio.ensure_future(batch.run_one(item, limit)) for item in items]
    for task in tasks:
        task.add_done_callback(lambda done: done.cancelled() or bar.update(1))
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        await batch.abort(tasks)
        raise
    finally:
        bar.close()
    return BatchResults(results, wall_time=time.monotonic() - started)


run_many = run_sync(async_run_many)
