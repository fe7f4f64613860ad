"""Webhook delivery, signed the way Replicate signs them, to loopback receivers only.

Each prediction with a `webhook` gets `start`, `output`, `logs` and `completed` deliveries
(filtered by `webhook_events_filter`; output and logs coalesced to at most one per 0.5 s), as
`POST`s of the prediction JSON with `webhook-id`, `webhook-timestamp` and `webhook-signature`.

As on Replicate, an attempt must be answered within a few seconds (`ATTEMPT_TIMEOUT`); a
`completed` delivery that fails (no answer, or a 4xx/5xx) is retried on an exponential schedule
whose last retry is about a minute after the prediction completed (`RETRY_DELAYS`), and
intermediate events are not retried. Receivers are isolated from each other: each origin has its
own connections (`RECEIVER_CONNECTIONS`) and its own queue (`RECEIVER_QUEUE`), and waiting for a
connection is not an attempt, so a receiver that never answers delays only its own deliveries.
A delivery finally dropped is logged as a WARNING naming the prediction and the event.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import time
import urllib.parse
from typing import Any

import httpx

from .control import RandomSource
from .errors import InvalidRequest
from .records import Prediction
from .store import Store

EVENTS = ("start", "output", "logs", "completed")
THROTTLE_SECONDS = 0.5
ATTEMPT_TIMEOUT = 5.0
RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0, 30.0)  # the last retry ~61 s after the first attempt
RECEIVER_CONNECTIONS = 8
RECEIVER_QUEUE = 1000
MAX_RECEIVERS = 64
CLOSE_GRACE = 0.5
log = logging.getLogger("replicate_nb.sandbox")


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """The `webhook-signature` value: `v1,<base64 HMAC-SHA256>` keyed by the decoded secret."""
    key = base64.b64decode(secret.split("_", 1)[1])
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def check_webhook(url: str | None, events: Any) -> tuple[str | None, list[str] | None]:
    """Validate a create's `webhook` and `webhook_events_filter`; loopback URLs only."""
    if events is not None:
        if not isinstance(events, list) or not all(e in EVENTS for e in events):
            raise InvalidRequest(
                f"webhook_events_filter must be a list drawn from {list(EVENTS)}, got {events!r}."
            )
    if url is None:
        return None, events
    if not isinstance(url, str):
        raise InvalidRequest(f"webhook must be a URL string, got {url!r}.")
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
    except ValueError as exc:  # e.g. "http://[::1/": an unclosed IPv6 bracket
        raise InvalidRequest(f"webhook {url!r} is not a valid URL: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidRequest(f"webhook must be an http(s) URL, got {url!r}.")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidRequest(
            f"The sandbox delivers webhooks only to this machine (127.0.0.1, ::1 or localhost); "
            f"{host!r} is not one. Run your receiver locally, e.g. http://127.0.0.1:PORT/hook."
        )
    return url, events


class _Receiver:
    """One receiver origin: its own connection pool, and a gate that queues, uncounted."""

    def __init__(self) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(ATTEMPT_TIMEOUT, pool=None),
            limits=httpx.Limits(
                max_connections=RECEIVER_CONNECTIONS,
                max_keepalive_connections=RECEIVER_CONNECTIONS,
            ),
            follow_redirects=False,
            trust_env=False,
        )
        self.gate = asyncio.Semaphore(RECEIVER_CONNECTIONS)
        self.users = 0  # deliveries queued or under way


class WebhookSender:
    """Delivers a prediction's webhook events, isolated per receiver, retried as Replicate does."""

    def __init__(self, store: Store, random: RandomSource, *, base_url: str = "") -> None:
        self.base_url = base_url
        self._random = random
        self._store = store
        self._pending: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._last: dict[tuple[str, str], float] = {}
        self._receivers: dict[str, _Receiver] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_delivery: dict[str, asyncio.Task[None]] = {}
        self._warned: set[str] = set()  # predictions whose dropped intermediate event was logged

    def secret(self, owner: str | None = None) -> str:
        """The signing secret (`whsec_…`) of a room account, or the sandbox's own (`None`).

        As on Replicate, each account has its own, and its predictions' webhooks are signed with
        it; each is drawn once and kept across restarts with a data dir.
        """
        key = "webhook_secret" if owner is None else f"webhook_secret:{owner}"
        value = self._store.setting(key)
        if value is None:
            value = self._random.secret_key()
            self._store.set_setting(key, value)
        return value

    def notify(self, prediction: Prediction, event: str) -> None:
        """Deliver `event` for a prediction if it asked for it (called on the server loop)."""
        if not prediction.webhook:
            return
        wanted = prediction.webhook_events_filter or EVENTS
        if event not in wanted and not (event == "completed" and "completed" in wanted):
            return
        key = (prediction.id, event)
        if event in ("output", "logs"):
            if key in self._pending:
                return
            delay = max(0.0, self._last.get(key, 0.0) + THROTTLE_SECONDS - time.monotonic())
            loop = asyncio.get_running_loop()
            self._pending[key] = loop.call_later(delay, self._fire, prediction, event)
            return
        if event == "completed":
            for pending_key in [k for k in self._pending if k[0] == prediction.id]:
                self._pending.pop(pending_key).cancel()
            for pending_key in [k for k in self._last if k[0] == prediction.id]:
                self._last.pop(pending_key)
        self._fire(prediction, event)

    def _fire(self, prediction: Prediction, event: str) -> None:
        key = (prediction.id, event)
        self._pending.pop(key, None)
        if event in ("output", "logs"):
            self._last[key] = time.monotonic()
        if prediction.webhook is None:
            return
        body = json.dumps(prediction.to_json(self.base_url))
        previous = self._last_delivery.get(prediction.id)
        task = asyncio.get_running_loop().create_task(
            self._deliver_after(
                previous, prediction.id, event, prediction.webhook, body, prediction.owner
            )
        )
        self._last_delivery[prediction.id] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._delivered(prediction.id, done))

    def _delivered(self, prediction_id: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last_delivery.get(prediction_id) is task:
            del self._last_delivery[prediction_id]
            self._warned.discard(prediction_id)

    async def _deliver_after(
        self,
        previous: asyncio.Task[None] | None,
        prediction_id: str,
        event: str,
        url: str,
        body: str,
        owner: str | None,
    ) -> None:
        """Deliver after the prediction's previous delivery: receivers see events in order."""
        if previous is not None:
            await asyncio.gather(previous, return_exceptions=True)
        receiver = self._receiver(url)
        if receiver.users >= RECEIVER_QUEUE:
            self._dropped(prediction_id, event, url, f"{RECEIVER_QUEUE} deliveries to it wait")
            return
        receiver.users += 1
        try:
            await self._deliver(receiver, prediction_id, event, url, body, self.secret(owner))
        finally:
            receiver.users -= 1

    def _receiver(self, url: str) -> _Receiver:
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        found = self._receivers.pop(origin, None) or _Receiver()
        self._receivers[origin] = found  # most recently used last
        if len(self._receivers) > MAX_RECEIVERS:
            for name, idle in list(self._receivers.items())[:-MAX_RECEIVERS]:
                if idle.users == 0:
                    del self._receivers[name]
                    asyncio.get_running_loop().create_task(idle.client.aclose())
        return found

    async def _deliver(
        self,
        receiver: _Receiver,
        prediction_id: str,
        event: str,
        url: str,
        body: str,
        secret: str,
    ) -> None:
        message_id = "msg_" + self._random.token(18)
        delays = RETRY_DELAYS if event == "completed" else ()
        problem = ""
        for attempt in range(len(delays) + 1):
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(secret, message_id, timestamp, body),
            }
            async with receiver.gate:  # waiting here is not an attempt
                try:
                    response = await receiver.client.post(url, content=body, headers=headers)
                    if response.status_code < 400:
                        return
                    problem = f"it answered {response.status_code}"
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt < len(delays):
                log.info("webhook %s of %s to %s: %s; retrying", event, prediction_id, url, problem)
                await asyncio.sleep(delays[attempt])
        self._dropped(prediction_id, event, url, f"{problem} ({len(delays) + 1} attempts)")

    def _dropped(self, prediction_id: str, event: str, url: str, why: str) -> None:
        if event != "completed":
            if prediction_id in self._warned:
                return
            self._warned.add(prediction_id)
        log.warning(
            "webhook %s of prediction %s to %s was dropped: %s", event, prediction_id, url, why
        )

    async def close(self) -> None:
        """Finish deliveries under way (briefly), drop the rest with a warning, close clients."""
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=CLOSE_GRACE)
            if pending:
                log.warning(
                    "%d webhook deliveries were still under way when the sandbox stopped and "
                    "were dropped (predictions %s)",
                    len(pending),
                    ", ".join(sorted(set(self._last_delivery))[:10]),
                )
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
        for receiver in self._receivers.values():
            await receiver.client.aclose()
        self._receivers.clear()
