"""The 2.x call table: what `replicate` 2.0.0b4 does against the sandbox, one test per call.

Each test is a row of the table in README "With replicate 2.x": it works unchanged, or it is a
documented difference (the test pins what the user sees and says why). Responses the client
parses go through `_strict_response_validation=True` (fixture `r2`); module-level calls
(`replicate.use`, `replicate.run`) build their own client from the environment (conftest).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
import time
import zipfile
from pathlib import Path

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError
from replicate.lib._files import FileOutput

from replicate_nb.sandbox.models.hello import HELLO_WORLD
from replicate_nb.sandbox.models.teaching import FAIL, SLEEP
from replicate_nb.sandbox.models.trainer import FLUX_DEV_LORA_TRAINER

HELLO = f"{HELLO_WORLD.ref}:{HELLO_WORLD.version_id}"
SLEEPER = f"{SLEEP.ref}:{SLEEP.version_id}"
FLUX = "black-forest-labs/flux-schnell"
LLAMA = "meta/meta-llama-3-8b-instruct"
SMALL_FLUX = {"prompt": "a red fox", "megapixels": "0.25", "aspect_ratio": "1:1"}


def png(size: int = 8) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def wait_done(r2, prediction_id: str):
    return r2.predictions.wait(prediction_id=prediction_id)


# --- running models ------------------------------------------------------------------------
def test_01_run_an_official_model_by_name(r2):
    output = r2.run(FLUX, input=SMALL_FLUX)
    assert isinstance(output[0], FileOutput)  # FileOutput wraps data: URIs, as in 1.x
    assert output[0].read()[:4] == b"RIFF"


def test_02_run_by_name_and_version(r2):
    assert r2.run(HELLO, input={"text": "2.x"}) == "hello 2.x"


def test_03_run_an_official_llm_by_name(r2):
    output = r2.run(LLAMA, input={"prompt": "Say hi", "max_tokens": 8})
    assert isinstance(output, list) and "".join(output)


def test_04_use_a_model_as_a_function(sb2):
    hello = replicate.use(HELLO)
    assert hello(text="use") == "hello use"


def test_05_use_streaming(sb2):
    llama = replicate.use(LLAMA, streaming=True)
    chunks = list(llama(prompt="Tell a story", max_tokens=12))
    assert len(chunks) >= 2 and "".join(chunks)


# 2.0.0b4's async use() builds a new AsyncReplicate for every request and never closes it (the
# client's leak, not the sandbox's): left to the garbage collector, their sockets surface as
# ResourceWarnings at some later test or at exit. The test closes the clients it was given.
def test_06_async_use_and_gather(sb2):
    async def main() -> list[str]:
        hello = replicate.use(HELLO, use_async=True)
        made, build = [], hello._client_class
        hello._client_class = lambda: made.append(build()) or made[-1]
        try:
            return await asyncio.gather(*(hello(text=str(i)) for i in range(3)))
        finally:
            for client in made:
                await client.close()

    assert asyncio.run(main()) == ["hello 0", "hello 1", "hello 2"]


def test_07_stream_is_deprecated_but_works(sb2):
    with pytest.warns(DeprecationWarning):
        chunks = list(replicate.stream(LLAMA, input={"prompt": "hi", "max_tokens": 6}))
    assert "".join(str(c) for c in chunks)


def test_08_create_then_wait(r2):
    created = r2.predictions.create(version=HELLO_WORLD.version_id, input={"text": "w"})
    assert wait_done(r2, created.id).output == "hello w"


def test_09_a_failed_prediction_raises_model_error(r2):
    with pytest.raises(ModelError) as failed:
        r2.run(f"{FAIL.ref}:{FAIL.version_id}", input={"message": "boom"})
    assert "boom" in str(failed.value)


# --- files in -----------------------------------------------------------------------------
def test_10_file_input_uploaded(r2):
    upscaler = (
        "nightmareai/real-esrgan:"
        + r2.models.get(model_owner="nightmareai", model_name="real-esrgan").latest_version.id
    )
    output = r2.run(upscaler, input={"image": io.BytesIO(png()), "scale": 2})
    assert Image.open(io.BytesIO(output.read())).size == (16, 16)


def test_11_file_input_base64(r2):
    upscaler = (
        "nightmareai/real-esrgan:"
        + r2.models.get(model_owner="nightmareai", model_name="real-esrgan").latest_version.id
    )
    output = r2.run(
        upscaler,
        input={"image": io.BytesIO(png()), "scale": 2},
        file_encoding_strategy="base64",
    )
    assert Image.open(io.BytesIO(output.read())).size == (16, 16)


def test_12_file_input_path(r2, tmp_path: Path):
    path = tmp_path / "in.png"
    path.write_bytes(png())
    upscaler = (
        "nightmareai/real-esrgan:"
        + r2.models.get(model_owner="nightmareai", model_name="real-esrgan").latest_version.id
    )
    output = r2.run(upscaler, input={"image": path, "scale": 2})
    assert Image.open(io.BytesIO(output.read())).size == (16, 16)


# --- files API ----------------------------------------------------------------------------
def test_13_files_create_get_list_delete(r2):
    created = r2.files.create(content=("a.txt", b"hello", "text/plain"))
    assert r2.files.get(file_id=created.id).size == 5
    assert created.id in [f.id for f in r2.files.list()]
    r2.files.delete(file_id=created.id)
    with pytest.raises(replicate.NotFoundError):
        r2.files.get(file_id=created.id)


def test_14_files_create_with_metadata(r2):
    created = r2.files.create(content=("m.txt", b"x", "text/plain"), metadata={"kind": "note"})
    assert created.metadata == {"kind": "note"}  # sent as metadata[kind] form fields


# --- models and versions ------------------------------------------------------------------
def test_15_models_get(r2):
    model = r2.models.get(model_owner="stability-ai", model_name="sdxl")
    assert model.latest_version.id.startswith("7762fd07")


def test_16_models_list(r2):
    assert "replicate/hello-world" in [f"{m.owner}/{m.name}" for m in r2.models.list()]


def test_17_models_search(r2):
    found = [f"{m.owner}/{m.name}" for m in r2.models.search(body="llama")]
    assert LLAMA in found


def test_18_versions_list_and_official_404(r2):
    versions = r2.models.versions.list(model_owner="replicate", model_name="hello-world")
    assert [v.id for v in versions] == [HELLO_WORLD.version_id]
    with pytest.raises(replicate.NotFoundError):
        r2.models.versions.list(model_owner="black-forest-labs", model_name="flux-schnell")


def test_19_versions_get(r2):
    version = r2.models.versions.get(
        model_owner="replicate", model_name="hello-world", version_id=HELLO_WORLD.version_id
    )
    assert "Input" in version.openapi_schema["components"]["schemas"]


def test_20_search(r2):
    found = r2.search(query="image")
    assert found.query == "image" and found.models and found.collections


def test_21_models_readme(r2):
    assert r2.models.readme.get(model_owner="stability-ai", model_name="sdxl").startswith(
        "# stability-ai/sdxl"
    )


def test_22_models_examples(r2):
    assert list(r2.models.examples.list(model_owner="stability-ai", model_name="sdxl")) == []


def test_23_models_create_update_delete_and_versions_delete(r2):
    name = f"m2x-{time.monotonic_ns()}"
    created = r2.models.create(owner="sandbox", name=name, visibility="private", hardware="cpu")
    assert created.latest_version is None
    updated = r2.models.update(model_owner="sandbox", model_name=name, description="Mine")
    assert updated.description == "Mine"
    r2.models.delete(model_owner="sandbox", model_name=name)
    with pytest.raises(replicate.NotFoundError):
        r2.models.get(model_owner="sandbox", model_name=name)


# --- predictions --------------------------------------------------------------------------
def test_24_predictions_list_pages_past_100(r2):
    for i in range(101):
        r2.predictions.create(version=HELLO_WORLD.version_id, input={"text": str(i)})
    page = r2.predictions.list()
    assert len(page.results) == 100 and page.next and page.next.startswith("http")
    assert len(list(page.iter_pages())) >= 2


def test_25_predictions_list_created_after(r2):
    since = dt.datetime.now(dt.UTC)
    made = r2.predictions.create(version=HELLO_WORLD.version_id, input={"text": "new"})
    ids = [p.id for p in r2.predictions.list(created_after=since)]
    assert ids == [made.id]
    assert made.id not in [p.id for p in r2.predictions.list(created_before=since)]


def test_26_cancel(r2):
    created = r2.predictions.create(version=SLEEP.version_id, input={"seconds": 30})
    assert r2.predictions.cancel(prediction_id=created.id).status == "canceled"


def test_27_cancel_after(r2):
    created = r2.predictions.create(
        version=SLEEP.version_id, input={"seconds": 60}, cancel_after="5s"
    )
    assert created.deadline is not None  # and the sandbox cancels it at that deadline


def test_28_use_file_outputs_are_data_uris_not_urlpaths(sb2):
    """Documented difference (the S6 decision): file outputs are data: URIs everywhere, so
    `use()` (which wraps only http(s) URLs in URLPath) returns them as plain strings."""
    flux = replicate.use(FLUX)
    output = flux(**SMALL_FLUX)
    assert isinstance(output[0], str) and output[0].startswith("data:image/webp;base64,")
    with open_data_uri(output[0]) as data:
        assert data.read()[:4] == b"RIFF"


def open_data_uri(uri: str):
    import urllib.request

    return urllib.request.urlopen(uri)  # the stdlib reads data: URIs


# --- the rest -----------------------------------------------------------------------------
def test_29_account_hardware_collections_webhook_secret(r2):
    assert r2.account.get().username == "sandbox"
    assert "cpu" in [h.sku for h in r2.hardware.list()]
    slugs = [c.slug for c in r2.collections.list()]
    assert "text-to-image" in slugs
    assert r2.collections.get(collection_slug="text-to-image").models
    assert r2.webhooks.default.secret.get().key.startswith("whsec_")


def test_30_deployments_crud_and_predictions(r2):
    name = f"d2x-{time.monotonic_ns()}"
    r2.deployments.create(
        name=name,
        model=HELLO_WORLD.ref,
        version=HELLO_WORLD.version_id,
        hardware="cpu",
        min_instances=0,
        max_instances=1,
    )
    assert r2.deployments.get(deployment_owner="sandbox", deployment_name=name).name == name
    assert name in [d.name for d in r2.deployments.list()]
    r2.deployments.update(deployment_owner="sandbox", deployment_name=name, max_instances=2)
    run = r2.deployments.predictions.create(
        deployment_owner="sandbox", deployment_name=name, input={"text": "dep"}
    )
    assert wait_done(r2, run.id).output == "hello dep"
    r2.deployments.delete(deployment_owner="sandbox", deployment_name=name)


def test_31_retries_under_injected_faults_make_no_duplicates(sb2, r2):
    before = sb2.engine.count()
    sb2.faults = {"error_rate": 0.3, "error_status": 503}
    patient = r2.with_options(max_retries=12)  # 2.x retries POSTs too (default 2 retries)
    try:
        for _ in range(4):
            patient.predictions.create(version=HELLO_WORLD.version_id, input={"text": "r"})
    finally:
        sb2.faults = None
    assert sb2.engine.count() - before == 4  # faults strike before any work: retries are safe


# --- trainings ----------------------------------------------------------------------------
def training_zip() -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i in range(3):
            archive.writestr(f"{i}.png", png(24))
    return "data:application/zip;base64," + base64.b64encode(buffer.getvalue()).decode()


def test_32_trainings_create_get_list_and_the_new_version_runs(r2):
    name = f"t2x-{time.monotonic_ns()}"
    r2.models.create(owner="sandbox", name=name, visibility="private", hardware="gpu-h100")
    training = r2.trainings.create(
        model_owner=FLUX_DEV_LORA_TRAINER.owner,
        model_name=FLUX_DEV_LORA_TRAINER.name,
        version_id=FLUX_DEV_LORA_TRAINER.version_id,
        destination=f"sandbox/{name}",
        input={"input_images": training_zip(), "trigger_word": "ZXQ", "steps": 10},
    )
    deadline = time.monotonic() + 20
    got = r2.trainings.get(training_id=training.id)
    while got.status not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
        got = r2.trainings.get(training_id=training.id)
    assert got.status == "succeeded", got.error
    assert training.id in [t.id for t in r2.trainings.list()]
    output = r2.run(
        got.output.version,
        input={"prompt": "a ZXQ", "aspect_ratio": "custom", "width": 256, "height": 256},
    )
    assert isinstance(output[0], FileOutput)


def test_33_trainings_cancel(r2):
    name = f"c2x-{time.monotonic_ns()}"
    r2.models.create(owner="sandbox", name=name, visibility="private", hardware="gpu-h100")
    training = r2.trainings.create(
        model_owner=FLUX_DEV_LORA_TRAINER.owner,
        model_name=FLUX_DEV_LORA_TRAINER.name,
        version_id=FLUX_DEV_LORA_TRAINER.version_id,
        destination=f"sandbox/{name}",
        input={"input_images": training_zip(), "steps": 6000},
    )
    assert r2.trainings.cancel(training_id=training.id).status == "canceled"


# --- errors -------------------------------------------------------------------------------
def test_34_errors_are_typed(r2):
    with pytest.raises(replicate.NotFoundError):
        r2.models.get(model_owner="no", model_name="such-model")
    with pytest.raises(replicate.UnprocessableEntityError):
        r2.predictions.create(version=HELLO_WORLD.version_id, input={"text": 3})


def test_35_an_unknown_path_is_a_problem_404(sb2):
    answer = httpx.get(f"{sb2.base_url}/v1/no-such-thing")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


def test_36_the_instance_use_bug_of_b4_is_the_clients(r2):
    """Documented difference: `Replicate().use(...)` fails inside 2.0.0b4 itself (TypeError);
    the module-level `replicate.use` works (tests 04-06)."""
    with pytest.raises(TypeError, match="issubclass"):
        r2.use(HELLO)(text="x")
