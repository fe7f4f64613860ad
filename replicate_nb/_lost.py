"""Find the prediction a create made when its answer was lost, never taking another input's.

A create whose answer is lost (the connection dropped after sending; a 500, 502 or 504 from a
gateway) may or may not have made a prediction. The batch keeps its creates in `Claims`, which
adopts a listed prediction for a lost create only under these rules:

1. While a payload is being recovered no equal payload is sent, and recovery lists only once no
   create of an equal payload is in flight. So an unknown prediction with that input can only
   come from a lost create of this batch (or from someone else using the same token, which the
   time window below makes unlikely but cannot rule out: the API has no idempotency key).
2. Candidates are the model's listed predictions with the same input that no input of this
   batch holds, created between the send and the lost answer (give or take `CLOCK_SLACK`); the
   list is paged back until it is older than the send, however many predictions are newer.
3. The oldest candidate is taken, and taking it is synchronous: no two inputs share one.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime as _dt
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import replicate
from replicate.pagination import Page
from replicate.prediction import Prediction

from ._terms import ModelRef

log = logging.getLogger("replicate_nb.batch")

CLOCK_SLACK = _dt.timedelta(seconds=2)
"""How far the server's clock and ours may disagree."""

Lister = Callable[[Callable[[], Awaitable[Page[Prediction]]]], Awaitable[Page[Prediction]]]


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


def _key(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"))


def _created_at(prediction: Prediction) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(prediction.created_at).replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclasses.dataclass(eq=False)
class Send:
    """One create request: its payload, when it was sent and when its answer was lost."""

    payload: Any
    key: str
    sent_at: float  # monotonic
    sent_wall: _dt.datetime
    lost_wall: _dt.datetime | None = None


class Claims:
    """Which predictions belong to the batch's inputs, and the creates still unaccounted for."""

    def __init__(self, client: replicate.Client, ref: ModelRef) -> None:
        self._client = client
        self._model = ref.model
        self._version = ref.version
        self.known: set[str] = set()  # ids held by an input of the batch
        self.in_flight: list[Send] = []
        self.lost: list[Send] = []  # answers lost, not yet looked for
        self._recovering: collections.Counter[str] = collections.Counter()
        self._changed = asyncio.Event()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_until(self, done: Callable[[], bool], timeout: float | None = None) -> bool:
        give_up = None if timeout is None else time.monotonic() + timeout
        while not done():
            changed = self._changed
            left = None if give_up is None else give_up - time.monotonic()
            if left is not None and left <= 0:
                return False
            try:
                await asyncio.wait_for(changed.wait(), left)
            except TimeoutError:
                return done()
        return True

    def sending(self, payload: Any) -> Send:
        """Note a create about to be sent."""
        send = Send(payload, _key(payload), time.monotonic(), _now())
        self.in_flight.append(send)
        return send

    def answered(self, send: Send, prediction_id: str) -> None:
        """The create was answered with this prediction."""
        if send in self.in_flight:  # not yet given up by `sweep`
            self.in_flight.remove(send)
        self.known.add(prediction_id)
        self._notify()

    def unanswered(self, send: Send, *, lost: bool) -> None:
        """The create failed; `lost` when it may still have made a prediction."""
        if send not in self.in_flight:  # already given up by `sweep`
            return
        self.in_flight.remove(send)
        if lost:
            send.lost_wall = _now()
            self.lost.append(send)
        self._notify()

    async def until_recovered(self, payload: Any) -> None:
        """Wait while an equal payload is being recovered (rule 1)."""
        key = _key(payload)
        await self._wait_until(lambda: not self._recovering[key])

    async def recover(self, send: Send, *, pause: float, list_: Lister) -> Prediction | None:
        """The prediction `send` made, or None when the listing shows it made none.

        Waits `pause` first (a gateway may pass the request on late). Raises what `list_`
        raises when the list cannot be read; `send` then stays lost, for `sweep`.
        """
        self._recovering[send.key] += 1
        try:
            await asyncio.sleep(pause)
            await self._wait_until(lambda: not any(s.key == send.key for s in self.in_flight))
            return await self._find(send, list_)
        finally:
            self._recovering[send.key] -= 1
            self._notify()

    async def settle(self, *, timeout: float) -> None:
        """Wait (up to `timeout` seconds) until no create is in flight."""
        await self._wait_until(lambda: not self.in_flight, timeout)

    async def sweep(self, *, list_: Lister) -> list[Prediction]:
        """Look for the predictions of every create still unaccounted for (to cancel them)."""
        for send in self.in_flight:  # still unanswered after settle: treat as lost
            send.lost_wall = _now()
            self.lost.append(send)
        self.in_flight.clear()
        found = []
        for send in list(self.lost):
            try:
                prediction = await self._find(send, list_)
            except Exception:
                continue
            if prediction is not None:
                found.append(prediction)
        if self.lost:
            log.warning(
                "run_many could not list predictions; %d unanswered create(s) may have started "
                "predictions that still run",
                len(self.lost),
            )
        return found

    async def _find(self, send: Send, list_: Lister) -> Prediction | None:
        since = send.sent_wall - CLOCK_SLACK
        until = (send.lost_wall or _now()) + CLOCK_SLACK
        candidates: list[tuple[_dt.datetime, Prediction]] = []
        cursor: Any = ...
        while True:
            page = await list_(functools.partial(self._client.predictions.async_list, cursor))
            oldest = None
            for found in page.results:
                created = _created_at(found)
                if created is None:
                    continue
                oldest = created if oldest is None else min(oldest, created)
                if since <= created <= until and self._matches(found, send.payload):
                    candidates.append((created, found))
            if page.next is None or (oldest is not None and oldest < since):
                break
            cursor = page.next
        self.lost.remove(send)
        for _, found in sorted(candidates, key=lambda c: (c[0], c[1].id)):
            if found.id not in self.known:  # rule 3: checked and taken with no await between
                self.known.add(found.id)
                return found
        return None

    def _matches(self, found: Prediction, payload: Any) -> bool:
        return (
            found.model == self._model
            and (not self._version or found.version == self._version)
            and found.input == payload
        )
