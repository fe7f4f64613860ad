"""Server-sent events on `urls.stream`, read by the official client and byte by byte."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from replicate_nb import sandbox

LLAMA = "meta/meta-llama-3-8b-instruct"


def _raw_events(url: str) -> tuple[list[dict[str, str]], list[str], str]:
    """Parse a stream into events, also returning comment lines and the content type."""
    events, comments, current = [], [], {}
    with httpx.Client(timeout=10) as http, http.stream("GET", url) as response:
        content_type = response.headers["content-type"]
        for line in response.iter_lines():
            if line == "":
                if current:
                    events.append(current)
                current = {}
            elif line.startswith(":"):
                comments.append(line)
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                current[field] = current[field] + "\n" + value if field in current else value
    return events, comments, content_type


def test_stream_tokens_match_run_output(client):
    args = {"prompt": "Tell me about the sea", "max_tokens": 40}
    events = list(client.stream(LLAMA, input=args))
    assert events[-1].event.value == "done"
    streamed = "".join(e.data for e in events if e.event.value == "output")
    assert streamed == "".join(client.run(LLAMA, input=args))


def test_stream_keeps_leading_spaces_and_ids(client):
    prediction = client.models.predictions.create(
        model=LLAMA, input={"prompt": "hi", "max_tokens": 25}
    )
    events, _, content_type = _raw_events(prediction.urls["stream"])
    assert content_type.startswith("text/event-stream")
    assert all("id" in e for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert [e["event"] for e in events][-1] == "done"
    assert events[-1]["data"] == "{}"
    tokens = [e["data"] for e in events if e["event"] == "output"]
    prediction.wait()
    assert tokens == prediction.output
    assert any(t.startswith(" ") for t in tokens)


def test_stream_carries_logs(client):
    prediction = client.models.predictions.create(
        model=LLAMA, input={"prompt": "hi", "max_tokens": 5}
    )
    events, _, _ = _raw_events(prediction.urls["stream"])
    assert any(e["event"] == "logs" for e in events)


def test_stream_of_finished_prediction_replays(client):
    prediction = client.models.predictions.create(
        model=LLAMA, input={"prompt": "x", "max_tokens": 8}
    )
    prediction.wait()
    events, _, _ = _raw_events(prediction.urls["stream"])
    assert [e["data"] for e in events if e["event"] == "output"] == prediction.output


def _failing(message: str) -> Iterator[str]:
    time.sleep(0.1)
    raise ValueError(message)
    yield ""  # a generator: the model streams


def _slow(ticks: int) -> Iterator[str]:
    for i in range(ticks):
        time.sleep(0.1)
        yield str(i)


def test_failed_prediction_streams_error_then_done(fresh_sb, fresh_client):
    fresh_sb.register("me/failing", _failing)
    prediction = fresh_client.models.predictions.create(
        model="me/failing", input={"message": "nope"}
    )
    events, _, _ = _raw_events(prediction.urls["stream"])
    names = [e["event"] for e in events]
    assert names[-2:] == ["error", "done"]
    assert '"nope"' in events[-2]["data"]
    assert events[-1]["data"] == '{"reason": "error"}'


def test_error_event_raises_runtime_error_in_client(client):
    prediction = client.models.predictions.create(model=LLAMA, input={"max_tokens": 0})
    with pytest.raises(RuntimeError, match="max_tokens"):
        list(prediction.stream())


def test_canceled_prediction_stream_ends_with_reason(fresh_sb, fresh_client):
    fresh_sb.register("me/slow", _slow)
    prediction = fresh_client.models.predictions.create(model="me/slow", input={"ticks": 200})
    prediction.cancel()
    events, _, _ = _raw_events(prediction.urls["stream"])
    assert events[-1] == {"event": "done", "id": events[-1]["id"], "data": '{"reason": "canceled"}'}


def test_idle_stream_sends_keepalive_comments():
    from replicate_nb import sandbox

    with sandbox.start(keepalive=0.02) as quick:
        quick.register("me/slow", _slow)
        created = httpx.post(
            f"{quick.base_url}/v1/models/me/slow/predictions", json={"input": {"ticks": 5}}
        ).json()
        events, comments, _ = _raw_events(created["urls"]["stream"])
    assert len(comments) >= 3  # an output every 0.1 s; pings come every 0.02 s between
    assert all(c.startswith(": ") for c in comments)
    assert events[-1]["event"] == "done"


def test_last_event_id_resumes(client):
    prediction = client.models.predictions.create(
        model=LLAMA, input={"prompt": "y", "max_tokens": 12}
    )
    prediction.wait()
    events, _, _ = _raw_events(prediction.urls["stream"])
    with httpx.Client(timeout=10) as http:
        resumed = http.get(
            prediction.urls["stream"], headers={"Last-Event-ID": events[4]["id"]}
        ).text
    assert f"id: {events[4]['id']}\n" not in resumed
    assert f"id: {events[5]['id']}\n" in resumed


@pytest.mark.parametrize("token", ["nope", "0" * 52])
def test_unknown_stream_is_404_problem(sb, token):
    response = httpx.get(f"{sb.base_url}/v1/streams/{token}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


def test_stream_needs_no_token(sb):
    from replicate_nb import sandbox

    with sandbox.start(require_token="secret-token") as locked:
        created = httpx.post(
            f"{locked.base_url}/v1/models/{LLAMA}/predictions",
            json={"input": {"prompt": "a", "max_tokens": 3}},
            headers={"Authorization": "Bearer secret-token"},
        ).json()
        events, _, _ = _raw_events(created["urls"]["stream"])
        assert events[-1]["event"] == "done"


def _forever_slowly() -> Iterator[str]:
    while True:
        yield "."
        time.sleep(0.05)


def test_stop_with_an_open_stream_ends_it_first_promptly_and_silently(capfd):
    from replicate_nb import sandbox

    server = sandbox.start()
    model = server.register("test/forever", _forever_slowly)
    created = httpx.post(
        f"{server.base_url}/v1/predictions",
        json={"version": f"test/forever:{model.version_id}", "input": {}},
    ).json()
    events: list[tuple[str, str]] = []
    first = threading.Event()

    def read() -> None:
        with httpx.Client(timeout=30) as http, http.stream("GET", created["urls"]["stream"]) as r:
            name = ""
            for line in r.iter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((name, line.split(":", 1)[1].strip()))
                    first.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert first.wait(10)
    started = time.monotonic()
    server.stop()
    stopped_in = time.monotonic() - started
    reader.join(5)
    assert not reader.is_alive()
    assert events[-1] == ("done", '{"reason": "error"}')
    assert events[-2][0] == "error" and "stopped while this prediction was running" in events[-2][1]
    assert stopped_in < 2  # uvicorn's graceful-shutdown wait, which an open stream used to take
    assert "Exception in ASGI application" not in capfd.readouterr().err


def test_stream_rate_paces_the_language_model(make_client):
    with sandbox.start(stream_rate=20) as slow:
        client = make_client(slow.base_url)
        started = time.monotonic()
        prediction = client.models.predictions.create(
            model="meta/meta-llama-3-8b-instruct", input={"prompt": "Say hi", "max_tokens": 10}
        )
        prediction.wait()
        elapsed = time.monotonic() - started
    assert len(prediction.output) == 10
    assert elapsed >= 10 / 20 * 0.9  # never faster than the rate (a loaded machine is slower)
    assert prediction.metrics["tokens_per_second"] == 20


def test_the_default_stream_rate_is_one_a_person_can_watch():
    from replicate_nb.sandbox.engine import STREAM_RATE

    assert 20 <= STREAM_RATE <= 100  # tokens/s: Replicate's 8B models, not the 330 it once was
    with sandbox.start() as default:
        assert default.engine.stream_rate == STREAM_RATE


@pytest.mark.parametrize("rate", [0, -1, float("inf"), float("nan"), "fast"])
def test_a_stream_rate_that_is_not_a_positive_number_is_refused(rate):
    with pytest.raises(ValueError, match="stream_rate must be a positive number"):
        sandbox.Sandbox(stream_rate=rate)
