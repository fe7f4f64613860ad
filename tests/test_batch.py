"""run_many on a real sandbox: order, failures, retries without duplicates, timeouts, Ctrl-C."""

from __future__ import annotations

import _thread
import asyncio
import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import replicate
from jupyter_client.manager import start_new_kernel

from replicate_nb import batch, sandbox
from replicate_nb.batch import async_run_many, run_many
from replicate_nb.errors import BatchInputError, InvalidModelRef
from replicate_nb.results import BatchResults, RunResult
from replicate_nb.sandbox.store import decode_cursor
from tests.conftest import HELLO


def _texts(n: int) -> list[dict[str, str]]:
    return [{"text": f"t{i}"} for i in range(n)]


def _all_predictions(sb: sandbox.Sandbox) -> list:
    found, cursor = [], None
    while True:
        items, next_cursor, _ = sb.store.list_predictions(cursor)
        found += items
        if next_cursor is None:
            return found
        cursor = decode_cursor(next_cursor)


def test_run_many__results_follow_input_order(client: replicate.Client) -> None:
    results = run_many(HELLO, _texts(12), concurrency=5, client=client, progress=False)
    assert isinstance(results, BatchResults)
    assert results.outputs == [f"hello t{i}" for i in range(12)]
    assert [r.input for r in results] == _texts(12)
    assert all(r.status == "succeeded" and r.attempts == 1 and r.duration > 0 for r in results)
    assert len({r.prediction_id for r in results}) == 12


def test_run_many__pinned_version_uses_the_versions_endpoint(client: replicate.Client) -> None:
    version = client.models.get("replicate/hello-world").latest_version.id
    results = run_many(f"replicate/hello-world:{version}", _texts(2), client=client, progress=False)
    assert results.outputs == ["hello t0", "hello t1"]


def test_run_many__a_failing_input_does_not_lose_the_others(client: replicate.Client) -> None:
    inputs = [{"text": "a"}, {"bad": 1}, {"text": "c"}]
    results = run_many(HELLO, inputs, client=client, progress=False)
    assert [r.status for r in results] == ["succeeded", "error", "succeeded"]
    assert results.outputs == ["hello a", None, "hello c"]
    bad = results[1]
    assert bad.prediction_id is None
    assert bad.error is not None and bad.error.startswith("HTTP 422") and "text" in bad.error
    assert results.failed == [bad]
    assert results.succeeded == [results[0], results[2]]


def test_run_many__a_failed_prediction_keeps_its_error(client: replicate.Client) -> None:
    results = run_many(
        "sandbox/fail", [{"message": "boom"}, {"message": "bang"}], client=client, progress=False
    )
    assert [(r.status, r.error) for r in results] == [("failed", "boom"), ("failed", "bang")]
    assert all(r.prediction_id for r in results)


def test_run_many__rate_limited_creates_all_succeed_exactly_once(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    fresh_sb.faults = {"create_rate_limit": 20}
    results = run_many(HELLO, _texts(100), client=fresh_client, progress=False)
    assert results.outputs == [f"hello t{i}" for i in range(100)]
    assert fresh_sb.engine.count() == 100
    assert max(r.attempts for r in results) > 1  # some creates were throttled and retried


def test_run_many__waits_as_long_as_retry_after_says(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    fresh_sb.faults = {"create_rate_limit": 0.5}  # one create, then Retry-After: 2
    started = time.monotonic()
    results = run_many(HELLO, _texts(2), client=fresh_client, progress=False)
    assert results.outputs == ["hello t0", "hello t1"]
    assert time.monotonic() - started >= 2
    assert fresh_sb.engine.count() == 2


def test_run_many__gives_up_after_too_many_rate_limits(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "_THROTTLED_LIMIT", 0)
    fresh_sb.faults = {"create_rate_limit": 0.5}
    results = run_many(HELLO, _texts(2), concurrency=1, client=fresh_client, progress=False)
    assert [r.status for r in results] == ["succeeded", "error"]
    assert results[1].error is not None and results[1].error.startswith("HTTP 429")
    assert fresh_sb.engine.count() == 1


def test_run_many__injected_server_errors_are_retried(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    fresh_sb.faults = {"error_rate": 0.2, "error_status": 503}
    results = run_many(
        HELLO, _texts(40), concurrency=10, retries=8, client=fresh_client, progress=False
    )
    assert results.outputs == [f"hello t{i}" for i in range(40)]
    assert fresh_sb.engine.count() == 40


def test_run_many__without_retries_an_error_is_reported(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    fresh_sb.faults = {"error_rate": 1.0, "error_status": 503}
    [result] = run_many(HELLO, _texts(1), retries=0, client=fresh_client, progress=False)
    assert (result.status, result.attempts) == ("error", 1)
    assert result.error is not None and result.error.startswith("HTTP 503")
    assert fresh_sb.engine.count() == 0


class _DropAfterSending(httpx.AsyncBaseTransport):
    """Forwards requests, but loses the response of the first `drops` creates (sent, then cut)."""

    def __init__(self, drops: int) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.drops = drops

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST" and request.url.path.endswith("/predictions") and self.drops:
            self.drops -= 1
            await response.aclose()
            raise httpx.ReadError("connection lost after the request was sent", request=request)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def test_run_many__a_lost_create_response_is_adopted_not_duplicated(
    fresh_sb: sandbox.Sandbox, make_client: Callable[..., replicate.Client]
) -> None:
    transport = _DropAfterSending(drops=3)
    client = make_client(fresh_sb.base_url, transport=transport)
    results = run_many(HELLO, _texts(8), concurrency=4, client=client, progress=False)
    assert results.outputs == [f"hello t{i}" for i in range(8)]
    assert transport.drops == 0  # three creates reached the server but their answers were lost
    assert fresh_sb.engine.count() == 8  # ...and were adopted, not created again
    assert [r.attempts for r in results] == [1] * 8


def test_run_many__a_prediction_longer_than_the_hold_is_polled(
    client: replicate.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "HOLD", 1)
    [result] = run_many(
        "sandbox/sleep", [{"seconds": 1.3, "message": "late"}], client=client, progress=False
    )
    assert (result.status, result.output, result.attempts) == ("succeeded", "late", 1)
    assert 1.3 <= result.duration < 2


def test_run_many__timeout_cancels_on_the_server(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    inputs = [{"seconds": 30}, {"seconds": 0.05, "message": "quick"}]
    started = time.monotonic()
    slow, quick = run_many(
        "sandbox/sleep", inputs, timeout=0.5, client=fresh_client, progress=False
    )
    assert time.monotonic() - started < 5
    assert (quick.status, quick.output) == ("succeeded", "quick")
    assert slow.status == "canceled"
    assert slow.error is not None and "timeout=0.5" in slow.error
    assert fresh_sb.store.get_prediction(slow.prediction_id).status == "canceled"
    assert fresh_sb.engine.unfinished() == []


def test_run_many__ctrl_c_cancels_every_running_prediction(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client, caplog: pytest.LogCaptureFixture
) -> None:
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with caplog.at_level(logging.WARNING, "replicate_nb.batch"), pytest.raises(KeyboardInterrupt):
        run_many(
            "sandbox/sleep",
            [{"seconds": 30}] * 6,
            concurrency=3,
            client=fresh_client,
            progress=False,
        )
    timer.join()
    assert time.monotonic() - started < 8
    assert fresh_sb.engine.unfinished() == []
    predictions = _all_predictions(fresh_sb)
    assert len(predictions) == 3
    assert {p.status for p in predictions} == {"canceled"}
    for p in predictions:  # the ids are reported
        assert p.id in caplog.text


def test_run_many__ctrl_c_during_creates_still_cancels_them(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    fresh_sb.faults = {"latency": 0.6}  # the interrupt lands while every create is in flight
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        run_many("sandbox/sleep", [{"seconds": 30}] * 3, client=fresh_client, progress=False)
    timer.join()
    assert fresh_sb.engine.unfinished() == []
    assert [p.status for p in _all_predictions(fresh_sb)] == ["canceled"] * 3


def test_async_run_many__task_cancellation_cancels_running_predictions(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        task = asyncio.ensure_future(
            async_run_many(
                "sandbox/sleep",
                [{"seconds": 30}] * 4,
                concurrency=2,
                client=fresh_client,
                progress=False,
            )
        )
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.WARNING, "replicate_nb.batch"):
        asyncio.run(main())
    assert fresh_sb.engine.unfinished() == []
    predictions = _all_predictions(fresh_sb)
    assert [p.status for p in predictions] == ["canceled", "canceled"]
    assert all(p.id in caplog.text for p in predictions)


def test_run_many__never_exceeds_the_concurrency_limit(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    run_many(
        "sandbox/sleep", [{"seconds": 0.3}] * 12, concurrency=4, client=fresh_client, progress=False
    )
    edges = []
    for p in _all_predictions(fresh_sb):
        edges += [
            (dt.datetime.fromisoformat(p.created_at.replace("Z", "+00:00")), 1),
            (dt.datetime.fromisoformat(p.completed_at.replace("Z", "+00:00")), -1),
        ]
    alive = peak = 0
    for _, step in sorted(edges):
        alive += step
        peak = max(peak, alive)
    assert peak == 4


def test_run_many__shows_one_progress_bar(
    client: replicate.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    run_many(HELLO, _texts(5), client=client)
    err = capsys.readouterr().err
    assert "5/5" in err
    assert err.count(HELLO) >= 1
    run_many(HELLO, _texts(2), client=client, progress=False)
    assert capsys.readouterr().err == ""


def test_run_many__works_inside_a_running_loop(client: replicate.Client) -> None:
    async def outer() -> list:
        return run_many(HELLO, _texts(3), client=client, progress=False).outputs

    assert asyncio.run(outer()) == ["hello t0", "hello t1", "hello t2"]


def test_async_run_many__awaited_directly(client: replicate.Client) -> None:
    results = asyncio.run(async_run_many(HELLO, iter(_texts(3)), client=client, progress=False))
    assert results.outputs == ["hello t0", "hello t1", "hello t2"]


def test_run_many__is_the_sync_twin() -> None:
    assert run_many.__name__ == "run_many"
    assert run_many.__doc__ == async_run_many.__doc__


def test_run_many__rejects_a_bad_ref_and_bad_inputs(client: replicate.Client) -> None:
    with pytest.raises(InvalidModelRef, match="'hello-world'"):
        run_many("hello-world", _texts(1), client=client)
    with pytest.raises(BatchInputError, match=r"inputs\[1\]"):
        run_many(HELLO, [{"text": "a"}, "b"], client=client)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="concurrency"):
        run_many(HELLO, _texts(1), concurrency=0, client=client)


def test_run_many__of_nothing_is_empty(client: replicate.Client) -> None:
    results = run_many(HELLO, [], client=client, progress=False)
    assert results == [] and results.outputs == [] and "0 runs" in repr(results)


def test_results__reprs_are_short_and_never_show_the_token(
    sb: sandbox.Sandbox, make_client: Callable[..., replicate.Client]
) -> None:
    client = make_client(sb.base_url, api_token="r8_SENTINEL_TOKEN")
    results = run_many(HELLO, [{"text": "x" * 500}, {"nope": 1}], client=client, progress=False)
    summary = repr(results)
    assert summary.startswith("<BatchResults: 2 runs in ")
    assert "1 succeeded" in summary and "1 error" in summary and ".failed" in summary
    shown = repr(results[0])
    assert shown.startswith("RunResult(status='succeeded', output='hello xxx")
    assert len(shown) < 300
    everything = summary + "".join(repr(r) + str(r.error) for r in results)
    assert "r8_SENTINEL_TOKEN" not in everything


def test_run_result__is_frozen_and_knows_success() -> None:
    result = RunResult(
        input={"text": "a"},
        output="hello a",
        prediction_id="p1",
        status="succeeded",
        duration=0.5,
        attempts=1,
    )
    assert result.ok and not RunResult(input={}).ok
    with pytest.raises(AttributeError):
        result.status = "failed"  # type: ignore[misc]


def _execute(
    kc: Any, code: str, *, interrupt_when: Callable[[], bool] | None = None, km: Any = None
) -> tuple[str, str]:
    """Run one cell (interrupting the kernel once `interrupt_when()`) -> (status, its text)."""
    msg_id = kc.execute(code)
    if interrupt_when is not None:
        give_up = time.monotonic() + 60
        while not interrupt_when() and time.monotonic() < give_up:
            time.sleep(0.05)
        km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=30)
    while reply["parent_header"].get("msg_id") != msg_id:  # e.g. a late kernel_info_reply
        reply = kc.get_shell_msg(timeout=30)
    text = []
    while True:
        msg = kc.get_iopub_msg(timeout=10)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            text.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            text.append(msg["content"]["ename"])
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return reply["content"]["status"], "".join(text)


def test_run_many__kernel_interrupt_cancels_remote_predictions(fresh_sb: sandbox.Sandbox) -> None:
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        status, _ = _execute(
            kc,
            "import replicate\n"
            "from replicate_nb.batch import run_many\n"
            f"client = replicate.Client(base_url={fresh_sb.base_url!r})\n"
            "client.poll_interval = 0.02",
        )
        assert status == "ok"
        status, text = _execute(
            kc,
            "run_many('sandbox/sleep', [{'seconds': 30}] * 2, client=client, progress=False)",
            interrupt_when=lambda: len(fresh_sb.engine.unfinished()) == 2,  # both are running
            km=km,
        )
        assert status == "error"
        assert "KeyboardInterrupt" in text
        assert "canceled 2 running prediction(s)" in text  # the warning, under this cell
        assert fresh_sb.engine.unfinished() == []
        assert [p.status for p in _all_predictions(fresh_sb)] == ["canceled", "canceled"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
