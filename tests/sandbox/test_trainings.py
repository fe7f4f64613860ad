"""Trainings with the official client (1.x): create, follow, cancel, list, and the version made."""

from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile

import httpx
import pytest
import replicate
from PIL import Image, ImageDraw
from replicate.exceptions import ReplicateError

from replicate_nb import sandbox
from replicate_nb.sandbox.models.trainer import FLUX_DEV_LORA_TRAINER

from .test_webhooks import Receiver, receiver  # noqa: F401 (a fixture)

TRAINER = FLUX_DEV_LORA_TRAINER.ref
TRAINER_VERSION = FLUX_DEV_LORA_TRAINER.version_id
PINK, TEAL, CREAM = (230, 40, 140), (20, 150, 150), (250, 245, 225)
SMALL = {"aspect_ratio": "custom", "width": 256, "height": 256, "output_format": "png", "seed": 7}


def style_zip(count: int = 6, shape: str = "rectangle") -> bytes:
    """Training images: pink and teal rectangles (or circles) on cream, plus a caption file."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(count):
            image = Image.new("RGB", (120, 90), CREAM)
            box = (15 + i, 10, 100 - i, 75)
            draw = ImageDraw.Draw(image)
            (draw.rectangle if shape == "rectangle" else draw.ellipse)(
                box, fill=PINK if i % 2 else TEAL
            )
            png = io.BytesIO()
            image.save(png, "PNG")
            archive.writestr(f"photo-{i}.png", png.getvalue())
        archive.writestr("photo-0.txt", "a photo of TOK")
        archive.writestr("__MACOSX/._photo-0.png", b"junk")
    return buffer.getvalue()


def finished(training: replicate.training.Training, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while training.status not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, training.status
        time.sleep(0.02)
        training.reload()


@pytest.fixture
def destination(client: replicate.Client) -> str:
    name = f"style-{time.monotonic_ns()}"
    client.models.create(owner="sandbox", name=name, visibility="private", hardware="gpu-h100")
    return f"sandbox/{name}"


def train(
    client: replicate.Client, destination: str, **extra: object
) -> replicate.training.Training:
    return client.trainings.create(
        model=TRAINER,
        version=TRAINER_VERSION,
        input={"input_images": io.BytesIO(style_zip()), "trigger_word": "ZXQ", "steps": 50},
        destination=destination,
        **extra,
    )


def colours(data: bytes) -> set[tuple[int, int, int]]:
    image = Image.open(io.BytesIO(data)).convert("RGB")
    return {rgb for _, rgb in image.getcolors(256 * 256) or []}


def near(colour: tuple[int, int, int], found: set[tuple[int, int, int]]) -> bool:
    return any(sum(abs(a - b) for a, b in zip(colour, c, strict=True)) < 30 for c in found)


def test_training_creates_a_runnable_version_that_draws_what_it_learned(
    client: replicate.Client, destination: str
) -> None:
    training = train(client, destination)
    assert training.status == "starting"
    assert training.urls["get"].endswith(f"/v1/trainings/{training.id}")
    finished(training)
    assert training.status == "succeeded", training.error
    assert "Extracted 6 images and 1 captions" in training.logs
    assert "flux_train_replicate: 100%" in training.logs
    version = training.output["version"]
    owner_name, _, version_id = version.partition(":")
    assert owner_name == destination and len(version_id) == 64
    with urllib.request.urlopen(training.output["weights"]) as weights_file:  # a data: URI
        weights = json.load(weights_file)
    assert weights["shape"] == "rectangle" and weights["trigger_word"] == "ZXQ"
    assert weights["background"] == "#faf5e1"
    # the model now has that version, latest, and it runs by owner/name:version
    model = client.models.get(destination)
    assert model.latest_version.id == version_id
    assert [v.id for v in model.versions.list()] == [version_id]
    styled = client.run(version, input={"prompt": "a ZXQ cat", **SMALL})[0].read()
    plain = client.run(version, input={"prompt": "a cat", **SMALL})[0].read()
    assert near(PINK, colours(styled)) and near(TEAL, colours(styled))
    assert not (near(PINK, colours(plain)) and near(TEAL, colours(plain)))


def test_the_same_training_gives_the_same_version(
    client: replicate.Client, destination: str
) -> None:
    first, second = train(client, destination), train(client, destination)
    finished(first)
    finished(second)
    assert first.output["version"] == second.output["version"]
    assert len(client.models.get(destination).versions.list().results) == 1


def test_trainings_list_get_and_cancel(client: replicate.Client, destination: str) -> None:
    training = client.trainings.create(
        model=TRAINER,
        version=TRAINER_VERSION,
        input={"input_images": io.BytesIO(style_zip()), "steps": 6000},
        destination=destination,
    )
    assert training.id in [t.id for t in client.trainings.list().results]
    assert training.id not in [p.id for p in client.predictions.list().results]
    assert client.trainings.get(training.id).destination == destination
    canceled = client.trainings.cancel(training.id)
    assert canceled.status == "canceled"
    assert client.models.get(destination).latest_version is None  # nothing was created


def test_a_failed_training_says_why(client: replicate.Client, destination: str) -> None:
    bad = io.BytesIO(b"not a zip")
    bad.name = "images.zip"
    training = client.trainings.create(
        model=TRAINER, version=TRAINER_VERSION, input={"input_images": bad}, destination=destination
    )
    finished(training)
    assert training.status == "failed"
    assert training.error == "input_images must be a zip file"


def test_training_errors(client: replicate.Client, destination: str) -> None:
    with pytest.raises(ReplicateError) as missing:
        client.trainings.create(
            model=TRAINER, version=TRAINER_VERSION, input={}, destination="sandbox/nope"
        )
    assert missing.value.status == 404
    assert "training destination does not exist" in missing.value.detail
    with pytest.raises(ReplicateError) as not_yours:
        client.trainings.create(
            model=TRAINER, version=TRAINER_VERSION, input={}, destination="stability-ai/sdxl"
        )
    assert not_yours.value.status == 403
    with pytest.raises(ReplicateError) as untrainable:
        sdxl = client.models.get("stability-ai/sdxl").latest_version.id
        client.trainings.create(
            model="stability-ai/sdxl", version=sdxl, input={}, destination=destination
        )
    assert untrainable.value.status == 422 and "cannot be trained" in untrainable.value.detail
    with pytest.raises(ReplicateError) as invalid:
        client.trainings.create(
            model=TRAINER, version=TRAINER_VERSION, input={"steps": 1}, destination=destination
        )
    assert invalid.value.status == 422 and "steps" in invalid.value.detail
    for unknown in (
        "nope",
        client.predictions.create(model="black-forest-labs/flux-schnell", input={"prompt": "x"}).id,
    ):
        with pytest.raises(ReplicateError) as not_found:
            client.trainings.get(unknown)
        assert not_found.value.status == 404


def test_training_webhooks(
    client: replicate.Client,
    destination: str,
    receiver: Receiver,  # noqa: F811 (the fixture)
) -> None:
    training = train(client, destination, webhook=receiver.url)
    receiver.wait_for("succeeded")
    bodies = [json.loads(r["body"]) for r in receiver.received]
    assert {b["id"] for b in bodies} == {training.id}
    assert bodies[0]["status"] == "starting"
    assert bodies[-1]["output"]["version"].startswith(destination + ":")
    assert bodies[-1]["urls"]["get"].endswith(f"/v1/trainings/{training.id}")


def test_trained_versions_are_deleted_and_then_the_model(
    client: replicate.Client, destination: str
) -> None:
    training = train(client, destination)
    finished(training)
    version_id = training.output["version"].split(":")[1]
    with pytest.raises(ReplicateError) as busy:
        client.models.delete(*destination.split("/"))
    assert busy.value.status == 409
    versions = client.models.get(destination).versions
    assert versions.delete(version_id) is False  # 202, as documented (1.x wants a 204)
    with pytest.raises(ReplicateError) as gone:
        client.run(training.output["version"], input={"prompt": "x"})
    assert gone.value.status == 422
    assert client.models.get(destination).latest_version is None
    assert client.models.delete(*destination.split("/")) is True
    with pytest.raises(ReplicateError):
        client.models.get(destination)


def test_a_model_without_versions_does_not_run(client: replicate.Client, destination: str) -> None:
    with pytest.raises(ReplicateError) as empty:
        client.predictions.create(version=destination, input={"prompt": "x"})
    assert empty.value.status == 404 and "no version to run yet" in empty.value.detail
    assert client.models.get(destination).versions.list().results == []


def test_trainings_need_the_token_like_everything_else() -> None:
    with sandbox.start(require_token="t0ken") as server:
        for method, path in [
            ("GET", "/v1/trainings"),
            ("GET", "/v1/trainings/x"),
            ("POST", "/v1/trainings/x/cancel"),
            ("POST", f"/v1/models/{TRAINER}/versions/{TRAINER_VERSION}/trainings"),
        ]:
            assert httpx.request(method, server.base_url + path).status_code == 401
