"""Webhooks: signed like Replicate's, filtered, delivered to a local receiver."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from replicate.webhook import InvalidSignatureError, WebhookSigningSecret

from replicate_nb import sandbox
from replicate_nb.sandbox import webhooks
from replicate_nb.sandbox.room import Room, Roster
from replicate_nb.sandbox.webhooks import sign
from tests.conftest import HELLO


class Receiver:
    """A loopback HTTP server that records every webhook it gets."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def events(self) -> list[tuple[str, str]]:
        return [
            (json.loads(r["body"])["status"], r["headers"]["webhook-id"]) for r in self.received
        ]

    def wait_for(self, status: str, timeout: float = 5) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(s == status for s, _ in self.events()):
                return
            time.sleep(0.02)
        raise AssertionError(f"no {status!r} webhook; got {self.events()}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_signature_matches_replicate_test_vector():
    assert (
        sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            '{"test": 2432232314}',
        )
        == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    )


def test_webhooks_are_delivered_and_validate(client, receiver):
    prediction = client.models.predictions.create(
        model="sandbox/sleep", input={"seconds": 0.3}, webhook=receiver.url
    )
    receiver.wait_for("succeeded")
    statuses = [s for s, _ in receiver.events()]
    assert statuses[0] == "starting" and statuses[-1] == "succeeded"
    assert "processing" in statuses  # logs events while running
    secret = WebhookSigningSecret(key=client.webhooks.default.secret().key)
    for delivery in receiver.received:
        client.webhooks.validate(
            headers=delivery["headers"], body=delivery["body"], secret=secret, tolerance=60
        )
        assert json.loads(delivery["body"])["id"] == prediction.id


def test_tampered_body_fails_validation(client, receiver):
    client.predictions.create(version=HELLO, input={"text": "a"}, webhook=receiver.url)
    receiver.wait_for("succeeded")
    secret = WebhookSigningSecret(key=client.webhooks.default.secret().key)
    delivery = receiver.received[-1]
    with pytest.raises(InvalidSignatureError):
        client.webhooks.validate(
            headers=delivery["headers"],
            body=delivery["body"].replace("hello", "HELLO"),
            secret=secret,
        )


def test_events_filter_limits_deliveries(client, receiver):
    client.models.predictions.create(
        model="sandbox/sleep",
        input={"seconds": 0.3},
        webhook=receiver.url,
        webhook_events_filter=["completed"],
    )
    receiver.wait_for("succeeded")
    time.sleep(0.2)
    assert [s for s, _ in receiver.events()] == ["succeeded"]


def test_output_and_logs_are_throttled(client, receiver):
    client.models.predictions.create(
        model="meta/meta-llama-3-8b-instruct",
        input={"prompt": "hi", "max_tokens": 60},
        webhook=receiver.url,
        webhook_events_filter=["output", "logs", "completed"],
    )
    receiver.wait_for("succeeded")
    assert len(receiver.received) < 10  # 60 tokens coalesced into few deliveries
    assert len({mid for _, mid in receiver.events()}) == len(receiver.received)


def test_unreachable_webhook_does_not_hurt_the_prediction(client):
    prediction = client.predictions.create(
        version=HELLO, input={"text": "a"}, webhook="http://127.0.0.1:9/none"
    )
    prediction.wait()
    assert prediction.status == "succeeded"


def test_each_prediction_delivers_in_order(client, receiver):
    ids = [
        client.predictions.create(
            version=HELLO,
            input={"text": str(i)},
            webhook=receiver.url,
            webhook_events_filter=["start", "completed"],
        ).id
        for i in range(10)
    ]
    deadline = time.monotonic() + 10
    while len(receiver.received) < 20 and time.monotonic() < deadline:
        time.sleep(0.02)
    by_prediction: dict[str, list[str]] = {}
    for delivery in receiver.received:
        body = json.loads(delivery["body"])
        by_prediction.setdefault(body["id"], []).append(body["status"])
    assert sorted(by_prediction) == sorted(ids)
    assert all(statuses == ["starting", "succeeded"] for statuses in by_prediction.values())


def test_a_receiver_that_never_answers_delays_no_other_receiver(
    fresh_client, receiver, monkeypatch
):
    """120 deliveries to a silent receiver (more than any shared pool) stop none of the 20.

    Invariant: every completed webhook to the good receiver arrives while not one attempt at
    the silent receiver has timed out yet (its timeout is raised to 30 s for this test).
    """
    monkeypatch.setattr(webhooks, "ATTEMPT_TIMEOUT", 30.0)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1024)  # connections complete in the kernel; nobody ever reads or answers
    silent_url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
    try:
        for i in range(120):
            fresh_client.predictions.create(
                version=HELLO, input={"text": f"s{i}"}, webhook=silent_url
            )
        ids = {
            fresh_client.predictions.create(
                version=HELLO,
                input={"text": f"g{i}"},
                webhook=receiver.url,
                webhook_events_filter=["completed"],
            ).id
            for i in range(20)
        }
        deadline = time.monotonic() + 15
        while len(receiver.received) < 20 and time.monotonic() < deadline:
            time.sleep(0.02)
        delivered = {json.loads(r["body"])["id"] for r in receiver.received}
        assert delivered == ids, f"{len(delivered)} of 20 completed webhooks arrived"
    finally:
        silent.close()


class _Failing(Receiver):
    """A receiver that answers every delivery with a 500."""

    def __init__(self) -> None:
        super().__init__()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode()
                received.append({"headers": dict(self.headers), "body": body})
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server.RequestHandlerClass = Handler


def test_completed_is_retried_then_dropped_with_a_warning_naming_it(
    fresh_client, monkeypatch, caplog
):
    monkeypatch.setattr(webhooks, "RETRY_DELAYS", (0.01, 0.02))
    failing = _Failing()
    try:
        prediction = fresh_client.predictions.create(
            version=HELLO, input={"text": "a"}, webhook=failing.url
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "webhook completed" in r.getMessage() for r in caplog.records
        ):
            time.sleep(0.02)
        statuses = [json.loads(r["body"])["status"] for r in failing.received]
        assert statuses == ["starting", "succeeded", "succeeded", "succeeded"]  # start: 1 try
        assert len({r["headers"]["webhook-id"] for r in failing.received[1:]}) == 1
        dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
        assert [r.levelname for r in dropped] == ["WARNING", "WARNING"]
        assert f"webhook start of prediction {prediction.id}" in dropped[0].getMessage()
        assert f"webhook completed of prediction {prediction.id}" in dropped[1].getMessage()
        assert "it answered 500 (3 attempts)" in dropped[1].getMessage()
    finally:
        failing.close()


def test_signing_secrets_are_unpredictable_under_a_seed():
    """Two sandboxes with one seed share ids, never the secret that authenticates webhooks."""
    keys = []
    for _ in range(2):
        with sandbox.start(seed=7) as server:
            keys.append(httpx.get(f"{server.base_url}/v1/webhooks/default/secret").json()["key"])
    assert keys[0].startswith("whsec_") and keys[0] != keys[1]


def test_each_room_account_has_its_own_secret_and_its_webhooks_are_signed_with_it(
    receiver, make_client
):
    roster = Roster.generate(2)
    with sandbox.start(room=Room(roster)) as server:
        clients = {
            name: make_client(server.base_url, api_token=roster.token(name))
            for name in ("attendee-01", "attendee-02")
        }
        keys = {name: c.webhooks.default.secret().key for name, c in clients.items()}
        assert keys["attendee-01"] != keys["attendee-02"]
        assert clients["attendee-01"].webhooks.default.secret().key == keys["attendee-01"]
        clients["attendee-01"].predictions.create(
            version=HELLO, input={"text": "a"}, webhook=receiver.url
        )
        receiver.wait_for("succeeded")
    for delivery in receiver.received:
        validate = clients["attendee-01"].webhooks.validate
        validate(
            headers=delivery["headers"],
            body=delivery["body"],
            secret=WebhookSigningSecret(key=keys["attendee-01"]),
            tolerance=60,
        )
        with pytest.raises(InvalidSignatureError):
            validate(
                headers=delivery["headers"],
                body=delivery["body"],
                secret=WebhookSigningSecret(key=keys["attendee-02"]),
                tolerance=60,
            )
