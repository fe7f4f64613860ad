"""Fault injection: rate limits, server errors, latency and queueing delay."""

from __future__ import annotations

import time

import httpx
import pytest

from replicate_nb import sandbox
from replicate_nb.sandbox import Faults
from tests.conftest import HELLO_VERSION


def _create(base_url: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/predictions", json={"version": HELLO_VERSION, "input": {"text": "a"}}
    )


def test_faults_are_off_by_default(sb):
    assert sb.faults == Faults()


def test_rate_limit_answers_429_with_retry_after():
    with sandbox.start(faults={"create_rate_limit": 2}) as limited:
        statuses = [_create(limited.base_url) for _ in range(5)]
        assert [r.status_code for r in statuses[:2]] == [201, 201]
        throttled = [r for r in statuses if r.status_code == 429]
        assert throttled
        assert int(throttled[0].headers["Retry-After"]) >= 1
        assert "throttled" in throttled[0].json()["detail"]
        assert limited.engine.count() == 5 - len(throttled)
        time.sleep(1.0)
        assert _create(limited.base_url).status_code == 201


def test_rate_limit_spares_reads():
    with sandbox.start(faults={"create_rate_limit": 1}) as limited:
        _create(limited.base_url)
        assert all(
            httpx.get(f"{limited.base_url}/v1/predictions").status_code == 200 for _ in range(5)
        )


def test_injected_errors_happen_before_any_work():
    with sandbox.start(faults={"error_rate": 1.0, "error_status": 500}, seed=1) as broken:
        response = _create(broken.base_url)
        assert response.status_code == 500
        assert "injected" in response.json()["detail"]
        assert broken.engine.count() == 0


def test_error_rate_is_a_fraction():
    with sandbox.start(faults={"error_rate": 0.5}, seed=3) as flaky:
        codes = [httpx.get(f"{flaky.base_url}/v1/account").status_code for _ in range(60)]
    assert 10 < codes.count(503) < 50
    assert set(codes) == {200, 503}


def test_latency_is_added():
    with sandbox.start(faults={"latency": 0.3}) as slow:
        started = time.monotonic()
        httpx.get(f"{slow.base_url}/v1/account")
        assert time.monotonic() - started >= 0.3


def test_queue_delay_keeps_predictions_starting():
    """Invariant: no reader sees anything but `starting` until the queue delay has passed since
    the create was sent, and the prediction then runs to the end (however slow the machine)."""
    delay = 0.5
    with sandbox.start(faults={"queue_delay": delay}) as queued:
        sent = time.monotonic()
        created = _create(queued.base_url).json()
        assert created["status"] == "starting"
        seen: list[tuple[float, str]] = []
        while not seen or seen[-1][1] not in ("succeeded", "failed", "canceled"):
            assert time.monotonic() - sent < 30, f"still not done: {seen[-3:]}"
            status = httpx.get(created["urls"]["get"]).json()["status"]
            seen.append((time.monotonic() - sent, status))
            time.sleep(0.05)
        assert seen[-1][1] == "succeeded"
        assert all(at >= delay for at, status in seen if status != "starting"), seen


def test_faults_change_live_and_over_http(sb):
    with sandbox.start() as live:
        live.faults = {"error_rate": 1.0}
        assert httpx.get(f"{live.base_url}/v1/account").status_code == 503
        reset = httpx.put(f"{live.base_url}/_sandbox/faults", json={})
        assert reset.json()["error_rate"] == 0.0
        assert httpx.get(f"{live.base_url}/v1/account").status_code == 200
        bad = httpx.put(f"{live.base_url}/_sandbox/faults", json={"error_rate": 3})
        assert bad.status_code == 422 and "fraction" in bad.json()["detail"]


@pytest.mark.parametrize(
    "bad",
    [
        {"create_rate_limit": 0},
        {"error_rate": -1},
        {"error_status": 404},
        {"latency": -1},
        {"nope": 1},
    ],
)
def test_invalid_fault_settings_are_refused(bad):
    with pytest.raises(ValueError):
        Faults.coerce(bad)
