"""Replaying recordings offline: recorded inputs give the recorded outputs, streams and failures."""

from __future__ import annotations

import io
import ipaddress
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from replicate.exceptions import ModelError, ReplicateError

from replicate_nb import sandbox
from replicate_nb.sandbox import replay
from replicate_nb.sandbox.models import hello
from tests.conftest import ESRGAN, HELLO, SDXL, start_cli
from tests.test_recording import LARGE, LLAMA, LLAMA_INPUT, SMALL, Workshop, record_workshop


@pytest.fixture(scope="module")
def workshop(tmp_path_factory: pytest.TempPathFactory) -> Workshop:
    return record_workshop(tmp_path_factory.mktemp("recording"))


@pytest.fixture(autouse=True)
def network_off(monkeypatch: pytest.MonkeyPatch):
    """Refuse every connection to anything but loopback, and fail the test if one was tried."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            if not ipaddress.ip_address(address[0]).is_loopback:
                attempts.append(address)
                raise OSError(f"the network is off in this test (tried {address})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield attempts
    assert attempts == []


@pytest.fixture(scope="module")
def replayed(workshop: Workshop):
    with sandbox.start(replay=workshop.path, keepalive=0.2, stream_rate=2000) as server:
        yield server


@pytest.fixture
def rc(replayed, make_client):
    return make_client(replayed.base_url)


def test_the_network_guard_refuses_remote_addresses(network_off):
    with pytest.raises(OSError, match="network is off"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    network_off.clear()


def test_outputs_are_byte_identical(workshop, rc):
    assert rc.run(HELLO, input={"text": "Alice"}) == workshop.hello
    assert rc.run(SDXL, input=SMALL)[0].read() == workshop.small
    assert rc.run(SDXL, input=LARGE)[0].read() == workshop.large
    upscaled = rc.run(ESRGAN, input={"image": io.BytesIO(workshop.small), "scale": 2})
    assert upscaled.read() == workshop.upscaled


def test_a_stream_replays_the_same_events(workshop, rc):
    events = [(e.event.value, e.data) for e in rc.stream(LLAMA, input=LLAMA_INPUT)]
    assert events == workshop.events
    prediction = rc.models.predictions.create(model=LLAMA, input=LLAMA_INPUT)
    prediction.wait()
    assert "".join(prediction.output) == "".join(d for e, d in workshop.events if e == "output")
    assert prediction.metrics["output_token_count"] == 30


def test_a_failure_is_replayed_as_a_failure(workshop, rc):
    with pytest.raises(ModelError) as caught:
        rc.run("sandbox/fail", input={"message": "boom"})
    prediction = caught.value.prediction
    assert (prediction.status, prediction.error) == ("failed", "boom")
    assert prediction.logs == workshop.failure.logs  # the recorded traceback, nothing added


def test_replayed_models_replace_builtins_and_keep_their_versions(workshop, rc):
    doc = json.loads(workshop.path.read_text())
    recorded = {f"{m['owner']}/{m['name']}": m for m in doc["models"]}
    model = rc.models.get("replicate/hello-world")
    assert model.description == recorded["replicate/hello-world"]["description"]
    assert model.latest_version.id == recorded["replicate/hello-world"]["latest_version"]
    keyed = rc.models.get("me/keyed")  # registered on the "real API" only, served from the file
    assert keyed.latest_version.id == recorded["me/keyed"]["latest_version"]


def test_secret_inputs_are_left_out_when_matching(workshop, rc):
    output = rc.run(workshop.keyed, input={"text": "hi", "api_key": "another key"})
    assert output == "hi (21 characters of key)"  # the recorded key's length, not this one's


def test_an_unrecorded_input_gets_a_422_naming_the_closest(replayed, rc):
    with pytest.raises(ReplicateError) as caught:
        rc.run(SDXL, input={**SMALL, "seed": 2})
    error = caught.value
    assert error.status == 422
    assert "No recorded prediction of stability-ai/sdxl" in error.detail
    closest = error.detail.split("Closest recorded inputs:\n")[1].splitlines()
    assert closest[0].startswith('- {"height":64,"prompt":"a red fox","seed":1,"width":64}')
    assert "(3 of 4 inputs equal)" in closest[0]
    assert "(1 of 4 inputs equal)" in closest[1]
    reply = httpx.post(
        f"{replayed.base_url}/v1/predictions",
        json={"version": SDXL, "input": {**SMALL, "seed": 2}},
    )
    assert reply.status_code == 422
    assert reply.headers["content-type"] == "application/problem+json"
    assert [f["field"] for f in reply.json()["invalid_fields"]] == ["input.seed"]
    with pytest.raises(ReplicateError, match='"text":"Alice"'):
        rc.run(HELLO, input={"text": "Bob"})


def _hand_recording(path: Path, predictions: list[dict[str, Any]]) -> Path:
    """A recording of replicate/hello-world written by hand, as docs/replay-format.md shows."""
    path.write_text(
        json.dumps(
            {
                "format": "replicate-nb-replay",
                "version": 1,
                "models": [
                    {
                        "owner": "replicate",
                        "name": "hello-world",
                        "description": "Recorded.",
                        "latest_version": hello.HELLO_WORLD.version_id,
                        "versions": [
                            {
                                "id": hello.HELLO_WORLD.version_id,
                                "cog_version": "0.3.0",
                                "openapi_schema": hello.SCHEMA,
                            }
                        ],
                    }
                ],
                "predictions": [
                    {
                        "id": f"p{i}",
                        "model": "replicate/hello-world",
                        "status": "succeeded",
                        "logs": "",
                        "metrics": {"predict_time": 0.01},
                        **p,
                    }
                    for i, p in enumerate(predictions)
                ],
            },
            indent=2,
        )
    )
    return path


def test_fallback_runs_the_stand_in_for_unrecorded_inputs(tmp_path, make_client):
    path = _hand_recording(
        tmp_path / "r.json", [{"input": {"text": "Ada"}, "output": "recorded hello"}]
    )
    with sandbox.start(replay=path, replay_fallback="stand-in") as server:
        client = make_client(server.base_url)
        assert client.run(HELLO, input={"text": "Ada"}) == "recorded hello"
        assert client.run(HELLO, input={"text": "Bob"}) == "hello Bob"
    with pytest.raises(ValueError, match="replay_fallback"):
        sandbox.Sandbox(replay=path, replay_fallback="yes")


def test_recordings_of_one_input_take_turns(tmp_path, make_client):
    path = _hand_recording(
        tmp_path / "r.json",
        [{"input": {"text": "x"}, "output": "first"}, {"input": {"text": "x"}, "output": "second"}],
    )
    with sandbox.start(replay=[path]) as server:
        client = make_client(server.base_url)
        outputs = [client.run(HELLO, input={"text": "x"}) for _ in range(3)]
    assert outputs == ["first", "second", "first"]


def test_a_canceled_recording_is_replayed_as_canceled(tmp_path, make_client):
    path = _hand_recording(
        tmp_path / "r.json",
        [{"input": {"text": "x"}, "output": None, "status": "canceled", "logs": "started\n"}],
    )
    with sandbox.start(replay=path) as server:
        prediction = make_client(server.base_url).predictions.create(
            version=HELLO, input={"text": "x"}
        )
        prediction.wait()
    assert (prediction.status, prediction.logs) == ("canceled", "started\n")


def test_a_replay_takes_the_recorded_time_up_to_the_cap(tmp_path, make_client, monkeypatch):
    monkeypatch.setattr(replay, "MAX_REPLAY_SECONDS", 0.5)
    path = _hand_recording(
        tmp_path / "r.json",
        [
            {"input": {"text": "slow"}, "output": "s", "metrics": {"predict_time": 30.0}},
            {"input": {"text": "quick"}, "output": "q", "metrics": {"predict_time": 0.2}},
        ],
    )
    with sandbox.start(replay=path) as server:
        client = make_client(server.base_url)
        timings = {}
        for text in ("slow", "quick"):
            started = time.monotonic()
            client.run(HELLO, input={"text": text})
            timings[text] = time.monotonic() - started
    assert 0.5 <= timings["slow"] < 1.5
    assert 0.2 <= timings["quick"] < timings["slow"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read the recording"),
        ('{"models": []}', "not a replicate-nb recording"),
        ('{"format": "replicate-nb-replay", "version": 2}', "Upgrade replicate-nb"),
    ],
)
def test_a_file_that_is_not_a_recording_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        sandbox.start(replay=path)


def test_cli_replays_recordings(workshop, tmp_path):
    path = _hand_recording(
        tmp_path / "r.json", [{"input": {"text": "Ada"}, "output": "recorded hello"}]
    )
    proc, base_url = start_cli(
        "--replay", str(path), "--replay", str(workshop.path), "--replay-fallback", "stand-in"
    )
    try:

        def run(ref: str, payload: dict[str, Any]) -> Any:
            reply = httpx.post(
                f"{base_url}/v1/predictions",
                json={"version": ref, "input": payload},
                headers={"Prefer": "wait"},
            )
            return reply.json()["output"]

        assert run(HELLO, {"text": "Alice"}) == workshop.hello  # 2nd file
        assert run(HELLO, {"text": "Bob"}) == "hello Bob"  # stand-in
        assert run(workshop.keyed, {"text": "hi", "api_key": "k"}) == "hi (21 characters of key)"
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()
