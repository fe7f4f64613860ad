"""Predictions through the official client against the real sandbox server."""

from __future__ import annotations

import base64
import io
import time

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
HELLO_VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
LLAMA = "meta/meta-llama-3-8b-instruct"


@pytest.mark.parametrize(
    "run",
    [
        lambda c: c.run("replicate/hello-world", input={"text": "world"}),
        lambda c: c.models.predictions.create(model="replicate/hello-world", input={"text": "x"}),
        lambda c: c.predictions.create(version="replicate/hello-world", input={"text": "x"}),
    ],
    ids=["run", "model-route", "version-field"],
)
def test_a_model_that_is_not_official_does_not_run_by_name(client, run):
    with pytest.raises(ReplicateError) as info:
        run(client)
    assert info.value.status == 404
    assert info.value.detail.startswith("The requested resource could not be found.")
    assert f"replicate/hello-world:{HELLO_VERSION}" in info.value.detail
    assert "official" in info.value.detail


@pytest.mark.parametrize("ref", ["stability-ai/sdxl", "nightmareai/real-esrgan"])
def test_every_stand_in_that_is_not_official_needs_its_version(sb, ref):
    response = httpx.post(f"{sb.base_url}/v1/models/{ref}/predictions", json={"input": {}})
    assert response.status_code == 404
    assert f"{ref}:" in response.json()["detail"]


def test_sandbox_models_run_by_name(client):
    assert client.run("sandbox/sleep", input={"seconds": 0, "message": "hi"}) == "hi"


def test_a_version_in_the_model_route_is_explained(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/models/replicate/hello-world:{HELLO_VERSION}/predictions",
        json={"input": {"text": "a"}},
    )
    assert response.status_code == 404
    assert "POST /v1/predictions" in response.json()["detail"]


def test_run_by_name_and_version(client):
    out = client.run(f"replicate/hello-world:{HELLO_VERSION}", input={"text": "you"})
    assert out == "hello you"


def test_create_by_bare_version_id(client):
    prediction = client.predictions.create(version=HELLO_VERSION, input={"text": "id"})
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.output == "hello id"
    assert prediction.version == HELLO_VERSION
    assert prediction.model == "replicate/hello-world"


def test_create_by_owner_name_in_version_field(client):
    prediction = client.predictions.create(version=LLAMA, input={"prompt": "Say hi"})
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.output


def test_create_by_model_walks_the_lifecycle(client):
    prediction = client.models.predictions.create(
        model="sandbox/sleep", input={"seconds": 0.3, "message": "ok"}
    )
    assert prediction.status == "starting"
    seen = {prediction.status}
    while prediction.status not in ("succeeded", "failed", "canceled"):
        time.sleep(0.02)
        prediction.reload()
        seen.add(prediction.status)
    assert seen >= {"starting", "processing", "succeeded"}
    assert prediction.output == "ok"
    assert prediction.started_at and prediction.completed_at
    assert prediction.metrics["predict_time"] >= 0.3
    assert prediction.progress is not None and prediction.progress.percentage == 1.0


def test_official_model_run_returns_token_list(client):
    out = client.run(LLAMA, input={"prompt": "Write a haiku about llamas", "max_tokens": 30})
    assert isinstance(out, list) and all(isinstance(t, str) for t in out)
    assert 0 < len(out) <= 30
    assert any(t.startswith(" ") for t in out)


def test_versioned_iterator_model_run_returns_generator(client):
    ref = f"{LLAMA}:5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8"
    out = client.run(ref, input={"prompt": "hi", "max_tokens": 12})
    assert not isinstance(out, list)
    assert "".join(out) == "".join(client.run(LLAMA, input={"prompt": "hi", "max_tokens": 12}))


def test_official_model_prediction_has_hidden_version(client):
    prediction = client.models.predictions.create(model=LLAMA, input={"prompt": "hi"})
    assert prediction.version == "hidden"
    assert f"/v1/streams/{prediction.id}" in prediction.urls["stream"]  # then its capability


def test_sdxl_images_are_data_uris_of_requested_size(client):
    out = client.run(
        SDXL, input={"prompt": "a corgi", "width": 64, "height": 48, "num_outputs": 2, "seed": 7}
    )
    assert len(out) == 2
    assert all(o.url.startswith("data:image/png;base64,") for o in out)
    image = Image.open(io.BytesIO(out[0].read()))
    assert image.size == (64, 48)


def test_same_seed_gives_identical_bytes(client):
    args = {"prompt": "a lighthouse", "width": 64, "height": 64, "seed": 1234}
    first = client.run(SDXL, input=args)[0].read()
    second = client.run(SDXL, input=args)[0].read()
    other = client.run(SDXL, input={**args, "seed": 1235})[0].read()
    assert first == second
    assert first != other


def test_blank_seed_is_drawn_and_logged(client):
    prediction = client.predictions.create(
        version=SDXL.split(":")[1], input={"prompt": "x", "width": 64, "height": 64}
    )
    prediction.wait()
    assert "Using seed: " in prediction.logs
    seed = int(prediction.logs.split("Using seed: ")[1].split()[0])
    again = client.run(SDXL, input={"prompt": "x", "width": 64, "height": 64, "seed": seed})
    assert again[0].read() == base64.b64decode(prediction.output[0].split(",", 1)[1])


def test_failed_prediction_raises_model_error(client):
    with pytest.raises(ModelError) as info:
        client.run("sandbox/fail", input={"message": "boom on purpose"})
    assert str(info.value) == "boom on purpose"
    assert info.value.prediction.status == "failed"


def test_cancel_stops_a_running_prediction(client):
    prediction = client.models.predictions.create(model="sandbox/sleep", input={"seconds": 30})
    time.sleep(0.1)
    started = time.monotonic()
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "canceled"
    assert time.monotonic() - started < 2
    assert prediction.completed_at is not None


def test_cancel_of_finished_prediction_keeps_it(client):
    prediction = client.predictions.create(version=HELLO_VERSION, input={"text": "a"})
    prediction.wait()
    prediction.cancel()
    prediction.reload()
    assert prediction.status == "succeeded"


def test_prefer_wait_holds_until_done(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/models/sandbox/sleep/predictions",
        json={"input": {"seconds": 0.2}},
        headers={"Prefer": "wait=5"},
    )
    assert response.status_code == 201
    assert response.headers["Preference-Applied"] == "wait=5"
    assert response.json()["status"] == "succeeded"
    assert response.json()["output"] == "done"


def test_prefer_wait_timeout_answers_starting(sb):
    started = time.monotonic()
    response = httpx.post(
        f"{sb.base_url}/v1/models/sandbox/sleep/predictions",
        json={"input": {"seconds": 3}},
        headers={"Prefer": "wait=1"},
    )
    body = response.json()
    assert 0.9 < time.monotonic() - started < 2.5
    assert body["status"] == "starting"
    httpx.post(body["urls"]["cancel"])


@pytest.mark.parametrize(
    ("prefer", "applied"), [("wait=100", "wait=60"), ("wait=0", "wait=1"), ("wait", "wait")]
)
def test_prefer_wait_is_clamped_to_60_and_says_so(sb, prefer, applied):
    response = httpx.post(
        f"{sb.base_url}/v1/predictions",
        json={"version": HELLO_VERSION, "input": {"text": "a"}},
        headers={"Prefer": prefer},
    )
    assert response.status_code == 201
    assert response.json()["status"] == "succeeded"
    assert response.headers["Preference-Applied"] == applied


def test_cancel_after_cancels_at_deadline(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/models/sandbox/sleep/predictions",
        json={"input": {"seconds": 60}},
        headers={"Cancel-After": "5s"},
    )
    body = response.json()
    assert "deadline" in body
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        body = httpx.get(body["urls"]["get"]).json()
        if body["status"] == "canceled":
            break
        time.sleep(0.2)
    assert body["status"] == "canceled"


def test_cancel_after_below_minimum_is_refused(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/models/sandbox/sleep/predictions",
        json={"input": {}},
        headers={"Cancel-After": "2s"},
    )
    assert response.status_code == 422
    assert "from 5 seconds to 7 days" in response.json()["detail"]


def test_list_is_newest_first_with_absolute_cursors(fresh_client, fresh_sb):
    ids = []
    for i in range(105):
        ids.append(
            fresh_client.predictions.create(version=HELLO_VERSION, input={"text": str(i)}).id
        )
    first = fresh_client.predictions.list()
    assert [p.id for p in first.results] == ids[::-1][:100]
    assert first.previous is None
    assert first.next.startswith(f"{fresh_sb.base_url}/v1/predictions?cursor=")
    second = fresh_client.predictions.list(first.next)
    assert [p.id for p in second.results] == ids[::-1][100:]
    assert second.next is None
    back = fresh_client.predictions.list(second.previous)
    assert [p.id for p in back.results] == ids[::-1][:100]
    everything = [p.id for page in replicate.paginate(fresh_client.predictions.list) for p in page]
    assert everything == ids[::-1]


def test_list_filters_by_creation_time(fresh_client, fresh_sb):
    first = fresh_client.predictions.create(version=HELLO_VERSION, input={"text": "1"})
    second = fresh_client.predictions.create(version=HELLO_VERSION, input={"text": "2"})
    third = fresh_client.predictions.create(version=HELLO_VERSION, input={"text": "3"})

    def listed(**params: str) -> list[str]:
        response = httpx.get(f"{fresh_sb.base_url}/v1/predictions", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["results"]]

    assert listed(created_after=second.created_at) == [third.id, second.id]  # at or after
    assert listed(created_before=second.created_at) == [first.id]  # strictly before
    assert listed(created_after=first.created_at, created_before=third.created_at) == [
        second.id,
        first.id,
    ]
    assert listed(created_after="2000-01-01T01:00:00+01:00") == [third.id, second.id, first.id]
    assert listed(created_before="2000-01-01") == []
    assert listed(source="web") == []  # the sandbox makes predictions through its API only


def test_list_filters_are_kept_in_the_page_links(fresh_client, fresh_sb):
    made = [
        fresh_client.predictions.create(version=HELLO_VERSION, input={"text": str(i)})
        for i in range(102)
    ]
    response = httpx.get(
        f"{fresh_sb.base_url}/v1/predictions", params={"created_after": made[1].created_at}
    )
    body = response.json()
    assert len(body["results"]) == 100
    assert "created_after=" in body["next"]
    rest = httpx.get(body["next"]).json()
    assert [p["id"] for p in rest["results"]] == [made[1].id]  # made[0] stays filtered out
    assert "created_after=" in rest["previous"]


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2025-13-01T00:00:00Z"}, "created_before"),
        ({"created_before": "9999-12-31T23:59:59-01:00"}, "created_before"),
        ({"created_after": "2025-01-01T00:00:00 01:00"}, "%2B"),
        ({"source": "api"}, "source=web"),
    ],
)
def test_bad_list_filters_are_422_not_500(sb, params, named):
    response = httpx.get(f"{sb.base_url}/v1/predictions", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"]


def test_invalid_cursor_is_explained(sb):
    response = httpx.get(f"{sb.base_url}/v1/predictions", params={"cursor": "nope"})
    assert response.status_code == 422
    assert "Cursor" in response.json()["detail"]


def test_two_sandboxes_are_independent(make_client):
    from replicate_nb import sandbox

    with sandbox.start() as one, sandbox.start() as two:
        assert one.base_url != two.base_url
        a = make_client(one.base_url)
        a.predictions.create(version=HELLO_VERSION, input={"text": "a"})
        b = make_client(two.base_url)
        assert b.predictions.list().results == []
        assert len(a.predictions.list().results) == 1


def test_deployment_predictions(fresh_client):
    deployment = fresh_client.deployments.create(
        name="greeter",
        model="replicate/hello-world",
        version=HELLO_VERSION,
        hardware="cpu",
        min_instances=0,
        max_instances=1,
    )
    assert deployment.current_release.number == 1
    prediction = fresh_client.deployments.predictions.create(
        "sandbox/greeter", input={"text": "dep"}
    )
    prediction.wait()
    assert prediction.output == "hello dep"
    updated = fresh_client.deployments.update("sandbox", "greeter", max_instances=3)
    assert updated.current_release.number == 2
    assert updated.current_release.configuration.max_instances == 3
    assert [d.name for d in fresh_client.deployments.list()] == ["greeter"]
    assert fresh_client.deployments.get("sandbox/greeter").name == "greeter"
    assert fresh_client.deployments.delete("sandbox", "greeter") is True
    with pytest.raises(ReplicateError) as info:
        fresh_client.deployments.get("sandbox/greeter")
    assert info.value.status == 404


def test_list_filters_by_creation_time_and_keeps_the_filter_in_cursors(fresh_sb, fresh_client):
    import datetime as dt

    import httpx

    since = dt.datetime.now(dt.UTC).isoformat()
    made = [
        fresh_client.predictions.create(version=HELLO_VERSION, input={"text": str(i)}).id
        for i in range(3)
    ]
    url = f"{fresh_sb.base_url}/v1/predictions"
    after = httpx.get(url, params={"created_after": since}).json()
    assert [p["id"] for p in after["results"]] == made[::-1]
    last = fresh_client.predictions.get(made[1]).created_at
    before = httpx.get(url, params={"created_before": last}).json()
    assert [p["id"] for p in before["results"]] == [made[0]]
    bad = httpx.get(url, params={"created_after": "yesterday"})
    assert bad.status_code == 422 and "RFC 3339" in bad.json()["detail"]
