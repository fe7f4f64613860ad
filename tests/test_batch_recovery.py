"""run_many's promises under faults: a fault-injecting transport in front of a real sandbox.

The transport answers, delays or loses each request as a plan says, and counts what it sees.
The invariants a batch guarantees (see replicate_nb/batch.py), checked after every schedule:

- one prediction per input on the server, at most; each one is held by exactly one result;
- no two results share a prediction id;
- nothing left running after it returns, times out or is interrupted.

CI replays a fixed set of schedules (derandomized); FUZZ_EXPLORE=1 draws new ones.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import replicate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replicate_nb import batch, sandbox
from replicate_nb.batch import async_run_many, run_many
from replicate_nb.connection import connect, disconnect
from replicate_nb.sandbox.records import Prediction
from replicate_nb.sandbox.store import decode_cursor
from tests.conftest import HELLO, HELLO_VERSION

SLEEP = "sandbox/sleep"
ACTIONS = ["ok", "ok", "ok", "429", "500", "503", "lost", "502-after", "delay"]
_nonces = itertools.count()


def _problem(status: int) -> httpx.Response:
    body = {"title": "injected", "detail": f"injected {status}", "status": status}
    return httpx.Response(status, json=body, headers={"Retry-After": "0"})


class Faulty(httpx.AsyncBaseTransport, httpx.BaseTransport):
    """Sends to a real sandbox as `plan(request)` says, and records (method, path, action).

    Actions: "ok"; "429", "500", "503" (answered here, before the server does any work);
    "lost" and "502-after" (the server does the work, the answer is dropped or replaced by a
    502); "delay" (sent 0.05 s late); "late" (the server does the work, the answer comes 1 s
    later). `after_forward(request)` runs once the server has answered a forwarded request.
    """

    def __init__(self, plan: Callable[[httpx.Request], Any]) -> None:
        self.plan = plan
        self.after_forward: Callable[[httpx.Request], None] = lambda request: None
        self.inner = httpx.AsyncHTTPTransport()
        self.sync = httpx.HTTPTransport()
        self.seen: list[tuple[str, str, Any]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        action = self.plan(request)
        self.seen.append((request.method, request.url.path, action))
        if action in ("429", "500", "503"):
            return _problem(int(action))
        if action == "delay":
            await asyncio.sleep(0.05)
        response = await self.inner.handle_async_request(request)
        self.after_forward(request)
        if action == "late":
            await response.aread()
            await asyncio.sleep(1.0)
        if action in ("lost", "502-after"):
            await response.aread()
            await response.aclose()
            if action == "lost":
                raise httpx.ReadError("connection lost after the request was sent", request=request)
            return _problem(502)
        return response

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self.sync.handle_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    def close(self) -> None:
        self.sync.close()

    def count(self, method: str, path_part: str) -> int:
        return sum(1 for m, p, _ in self.seen if m == method and path_part in p)


def _creates(request: httpx.Request) -> bool:
    return request.method == "POST" and request.url.path.endswith("/predictions")


def _polls(request: httpx.Request) -> bool:
    return request.method == "GET" and request.url.path.startswith("/v1/predictions/")


def _all(sb: sandbox.Sandbox) -> list[Prediction]:
    found, cursor = [], None
    while True:
        items, next_cursor, _ = sb.store.list_predictions(cursor)
        found += items
        if next_cursor is None:
            return found
        cursor = decode_cursor(next_cursor)


@pytest.fixture
def faulty_client(fresh_sb: sandbox.Sandbox) -> Iterator[Callable[..., replicate.Client]]:
    made: list[replicate.Client] = []

    def make(plan: Callable[[httpx.Request], Any]) -> replicate.Client:
        client = replicate.Client(base_url=fresh_sb.base_url, transport=Faulty(plan))
        client.poll_interval = 0.02
        made.append(client)
        return client

    yield make
    for client in made:
        client._client_kwargs["transport"].close()


def _transport(client: replicate.Client) -> Faulty:
    return client._client_kwargs["transport"]


# bad inputs ------------------------------------------------------------------------------------


def test_one_bad_input_is_its_own_error_and_the_others_finish(tmp_path: Path) -> None:
    """The user's path: connect()'s client, the sync twin called inside a running loop."""
    connect(backend="sandbox")
    inputs: list[dict[str, Any]] = [
        {"text": "a"},
        {"text": tmp_path / "missing.txt"},  # a Path the SDK opens to upload: not there
        {"text": dt.date(2025, 1, 1)},  # JSON cannot encode a date
        {"text": "b"},
    ]

    async def cell() -> Any:
        return run_many(HELLO, inputs, progress=False)

    try:
        results = asyncio.run(cell())
    finally:
        disconnect()
    assert [r.status for r in results] == ["succeeded", "error", "error", "succeeded"]
    assert results.outputs == ["hello a", None, None, "hello b"]
    assert results[1].error is not None and "FileNotFoundError" in results[1].error
    assert results[1].error is not None and "missing.txt" in results[1].error
    assert results[2].error == (
        "InvalidArgumentType: inputs[2]['text'] is a date, which JSON cannot encode; pass a "
        "str, number, bool, None, list, dict, file or Path"
    )
    assert results[2].prediction_id is None


# retries= and timeout= mean what they say -------------------------------------------------------


@pytest.mark.parametrize("retries", [0, 2])
def test_retries_count_every_request_sent(
    retries: int, fresh_sb: sandbox.Sandbox, faulty_client: Callable[..., replicate.Client]
) -> None:
    client = faulty_client(lambda r: "503" if _polls(r) else "ok")  # every poll: 503
    [result] = run_many(SLEEP, [{"seconds": 30}], retries=retries, client=client, progress=False)
    assert result.status == "error" and result.error is not None
    assert result.error.startswith("HTTP 503")
    # the SDK's transport would have sent each poll 10 times; now: 1 + retries, no more
    assert _transport(client).count("GET", "/v1/predictions/") == 1 + retries
    assert fresh_sb.engine.unfinished() == []  # the failed input's prediction was cancelled
    assert [p.status for p in _all(fresh_sb)] == ["canceled"]


def test_timeout_is_kept_in_a_storm_of_server_errors(
    fresh_sb: sandbox.Sandbox, faulty_client: Callable[..., replicate.Client]
) -> None:
    client = faulty_client(lambda r: "503" if _polls(r) else "ok")
    started = time.monotonic()
    [result] = run_many(
        SLEEP, [{"seconds": 30}], timeout=1.0, retries=50, client=client, progress=False
    )
    elapsed = time.monotonic() - started
    assert result.status == "canceled" and "timeout=1" in (result.error or "")
    # each poll failed and was retried with backoff, but never past the deadline
    assert elapsed < 1.0 + batch.CANCEL_GRACE, elapsed
    assert [p.status for p in _all(fresh_sb)] == ["canceled"]


# lost creates ----------------------------------------------------------------------------------


def test_two_equal_inputs_never_share_a_prediction(
    fresh_sb: sandbox.Sandbox, faulty_client: Callable[..., replicate.Client]
) -> None:
    """The first create's answer is lost while the second's, equal, is still on its way."""
    creates = iter(["lost", "late"])  # the second is created, but its answer comes late
    client = faulty_client(lambda r: next(creates, "ok") if _creates(r) else "ok")
    results = run_many(SLEEP, [{"seconds": 0.2}] * 2, concurrency=2, client=client, progress=False)
    assert [r.status for r in results] == ["succeeded", "succeeded"]
    ids = {r.prediction_id for r in results}
    assert len(ids) == 2 and ids == {p.id for p in _all(fresh_sb)}
    assert [r.attempts for r in results] == [1, 1]  # adopted, not created again


def test_a_lost_create_is_found_behind_more_than_a_page_of_newer_predictions(
    fresh_sb: sandbox.Sandbox, faulty_client: Callable[..., replicate.Client]
) -> None:
    others = replicate.Client(base_url=fresh_sb.base_url)
    creates = iter(["lost"])
    client = faulty_client(lambda r: next(creates, "ok") if _creates(r) else "ok")

    def newer_predictions(request: httpx.Request) -> None:
        if _creates(request) and not _transport(client).count("GET", "/v1/predictions"):
            for i in range(120):  # someone else's, made after the lost one, before the listing
                others.predictions.create(version=HELLO_VERSION, input={"text": f"other {i}"})

    _transport(client).after_forward = newer_predictions
    [result] = run_many(SLEEP, [{"seconds": 0}], client=client, progress=False)
    assert (result.status, result.attempts) == ("succeeded", 1)
    sleeps = [p for p in _all(fresh_sb) if p.model == SLEEP]
    assert [p.id for p in sleeps] == [result.prediction_id]  # found on page 2, not created again
    others._client.close()


# the property ----------------------------------------------------------------------------------

PROPERTY_SETTINGS = settings(
    deadline=None,
    database=None,
    print_blob=True,
    derandomize=not os.environ.get("FUZZ_EXPLORE"),
    suppress_health_check=list(HealthCheck),
    max_examples=int(os.environ.get("BATCH_EXAMPLES", "12")),
)


@pytest.fixture(scope="module")
def shared_sb() -> Iterator[sandbox.Sandbox]:
    with sandbox.start(keepalive=0.2) as server:
        yield server


@PROPERTY_SETTINGS
@given(data=st.data())
def test_every_schedule_keeps_the_batch_promises(shared_sb: sandbox.Sandbox, data: Any) -> None:
    draw = data.draw
    nonce = next(_nonces)
    timeout = draw(st.sampled_from([None, None, 1.5]), label="timeout")
    interrupt = draw(st.sampled_from([None, None, 0.05, 0.4]), label="interrupt after")
    slow = timeout is not None or interrupt is not None  # a 30 s input then ends early
    kinds = draw(st.lists(st.integers(0, 2 if slow else 1), min_size=1, max_size=6), label="inputs")
    seconds = {0: 0.0, 1: 0.3, 2: 30.0}
    inputs = [{"seconds": seconds[k], "message": f"{nonce}-{k}"} for k in kinds]
    plan = iter(draw(st.lists(st.sampled_from(ACTIONS), max_size=25), label="plan"))
    retries = draw(st.integers(0, 3), label="retries")
    concurrency = draw(st.integers(1, 4), label="concurrency")

    transport = Faulty(lambda request: next(plan, "ok"))
    client = replicate.Client(base_url=shared_sb.base_url, transport=transport)
    client.poll_interval = 0.02

    async def main() -> Any:
        task = asyncio.ensure_future(
            async_run_many(
                SLEEP,
                inputs,
                concurrency=concurrency,
                retries=retries,
                timeout=timeout,
                client=client,
                progress=False,
            )
        )
        if interrupt is not None:
            await asyncio.sleep(interrupt)
            task.cancel()
        try:
            return await task
        except asyncio.CancelledError:
            return None

    results = asyncio.run(main())
    transport.close()

    def mine() -> list[Prediction]:
        return [
            p for p in _all(shared_sb) if str(p.input.get("message", "")).startswith(f"{nonce}-")
        ]

    give_up = time.monotonic() + 2.0  # a requested cancel lands within moments
    while any(not p.done for p in mine()) and time.monotonic() < give_up:
        time.sleep(0.05)
    on_server = mine()
    assert [p.id for p in on_server if not p.done] == [], "left running"
    assert len(on_server) <= len(inputs), "more predictions than inputs"
    if results is None:
        return  # interrupted: nothing runs (above), and no more than one per input
    assert [r.input for r in results] == inputs
    held = [r.prediction_id for r in results if r.prediction_id is not None]
    assert len(held) == len(set(held)), "two results share a prediction"
    assert {p.id for p in on_server} <= set(held), "a prediction no result holds"
    for result in results:
        if result.status != "error":
            assert result.prediction_id is not None
