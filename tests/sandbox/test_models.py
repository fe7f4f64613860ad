"""Tests of the sandbox's stand-in models, run directly with a fake context (no server)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import math
import os
import re
import subprocess
import sys
import time
from typing import Any

import jsonschema
import pytest
from PIL import Image
from replicate.prediction import Prediction

from replicate_nb.sandbox.models import (
    STANDIN_NOTICE,
    builtin_models,
    embeddings,
    hello,
    images,
    llama,
    schema_version_id,
    teaching,
    upscaler,
)
from replicate_nb.sandbox.models.base import ModelSpec

TQDM_RE = re.compile(r"^\s*(?P<percentage>\d+)%\s*\|.+?\|\s*(?P<current>\d+)\/(?P<total>\d+)")
DRAWN_SEED = 4242


class FakeContext:
    """A PredictContext that records what a model does."""

    def __init__(self, prediction_id: str = "test-prediction") -> None:
        self.prediction_id = prediction_id
        self.metrics: dict[str, Any] = {}
        self.stream_rate = 40.0
        self.logs: list[str] = []
        self.items: list[Any] = []

    def log(self, text: str) -> None:
        self.logs.append(text)

    def emit(self, item: Any) -> None:
        self.items.append(item)

    def seed(self, value: int | None) -> int:
        seed = DRAWN_SEED if value is None else value
        self.log(f"Using seed: {seed}")
        return seed

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)

    async def run_in_thread(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def read_file(self, value: str) -> bytes:
        assert value.startswith("data:"), value
        return base64.b64decode(value.split(",", 1)[1])


class RealSleepContext(FakeContext):
    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def input_schema(spec: ModelSpec) -> dict[str, Any]:
    return spec.openapi_schema["components"]["schemas"]["Input"]


def with_defaults(spec: ModelSpec, **given: Any) -> dict[str, Any]:
    """Inputs as the engine passes them: given values plus the schema's defaults."""
    inputs = {
        name: prop["default"]
        for name, prop in input_schema(spec)["properties"].items()
        if "default" in prop
    }
    inputs.update(given)
    return inputs


def run(spec: ModelSpec, ctx: FakeContext | None = None, **given: Any) -> tuple[Any, FakeContext]:
    ctx = ctx or FakeContext()
    output = asyncio.run(spec.predict(ctx, with_defaults(spec, **given)))
    return output, ctx


def png_uri(width: int, height: int, mode: str = "RGB") -> str:
    image = Image.new(mode, (width, height), (10, 120, 200, 255)[: len(mode)])
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def decode(uri: str) -> tuple[str, Image.Image, bytes]:
    header, payload = uri.split(",", 1)
    data = base64.b64decode(payload)
    image = Image.open(io.BytesIO(data))
    image.load()
    return header, image, data


MINIMAL_INPUTS: dict[str, dict[str, Any]] = {
    "replicate/hello-world": {"text": "world"},
    "black-forest-labs/flux-schnell": {"prompt": "a red fox in the snow"},
    "nightmareai/real-esrgan": {"image": png_uri(16, 10)},
    "andreasjansson/llama-2-13b-embeddings": {"prompts": "first text\n\nsecond text"},
    "ostris/flux-dev-lora-trainer": {"prompt": "a TOK fox"},
}


# --- catalog ---------------------------------------------------------------------------------


def test_builtin_models_catalog() -> None:
    models = builtin_models()
    assert [m.ref for m in models] == [
        "replicate/hello-world",
        "meta/meta-llama-3-8b-instruct",
        "stability-ai/sdxl",
        "black-forest-labs/flux-schnell",
        "nightmareai/real-esrgan",
        "andreasjansson/llama-2-13b-embeddings",
        "sandbox/sleep",
        "sandbox/fail",
        "ostris/flux-dev-lora-trainer",
    ]
    assert [m.ref for m in builtin_models()] == [m.ref for m in models]  # stable
    ids = {m.ref: m.version_id for m in models}
    assert ids["replicate/hello-world"].startswith("5c7d5dc6")
    assert ids["meta/meta-llama-3-8b-instruct"].startswith("5a6809ca")
    assert ids["stability-ai/sdxl"].startswith("7762fd07")
    assert ids["nightmareai/real-esrgan"].startswith("42fed1c4")
    assert ids["andreasjansson/llama-2-13b-embeddings"].startswith("7115a4c6")
    derived = ("black-forest-labs/flux-schnell", "sandbox/sleep", "sandbox/fail")
    for ref in (*derived, "ostris/flux-dev-lora-trainer"):
        spec = next(m for m in models if m.ref == ref)
        assert spec.version_id == schema_version_id(spec.openapi_schema)
    for spec in models:
        assert re.fullmatch(r"[0-9a-f]{64}", spec.version_id), spec.ref
        assert spec.description.startswith("Sandbox "), spec.ref
        if spec.owner != "sandbox":
            assert spec.description.startswith(f"Sandbox stand-in for {spec.ref}: ")
        schema = spec.openapi_schema
        assert schema["openapi"] == "3.0.2" and schema["info"] == {
            "title": "Cog",
            "version": "0.1.0",
        }
        for name, prop in input_schema(spec)["properties"].items():
            assert "x-order" in prop and "description" in prop, (spec.ref, name)
    official = {m.ref for m in models if m.official}
    assert official == {"meta/meta-llama-3-8b-instruct", "black-forest-labs/flux-schnell"}


@pytest.mark.parametrize("spec", builtin_models(), ids=lambda m: m.ref)
def test_every_model_runs_with_its_defaults(spec: ModelSpec) -> None:
    given = MINIMAL_INPUTS.get(spec.ref, {})
    inputs = with_defaults(spec, **given)
    schema = spec.openapi_schema
    root = {**input_schema(spec), "components": schema["components"]}
    jsonschema.validate(inputs, root)  # the schema's own defaults are valid inputs
    assert set(input_schema(spec).get("required", [])) <= set(inputs)
    ctx = FakeContext()
    if spec.ref == "sandbox/fail":
        with pytest.raises(teaching.SandboxFailure):
            asyncio.run(spec.predict(ctx, inputs))
        assert ctx.logs[0] == STANDIN_NOTICE
        return
    output = asyncio.run(spec.predict(ctx, inputs))
    assert ctx.logs[0] == STANDIN_NOTICE
    output_schema = schema["components"]["schemas"]["Output"]
    if output_schema.get("x-cog-array-type") == "iterator":
        output = ctx.items
    jsonschema.validate(output, {**output_schema, "components": schema["components"]})


# --- hello -----------------------------------------------------------------------------------


def test_hello_world() -> None:
    output, ctx = run(hello.HELLO_WORLD, text="Alice")
    assert output == "hello Alice"
    assert ctx.logs == [STANDIN_NOTICE]
    assert input_schema(hello.HELLO_WORLD)["required"] == ["text"]


# --- llama -----------------------------------------------------------------------------------


def llama_tokens(**given: Any) -> tuple[list[str], FakeContext]:
    _, ctx = run(llama.LLAMA_3_8B_INSTRUCT, **given)
    return ctx.items, ctx


def test_llama_is_deterministic_and_readable() -> None:
    tokens, ctx = llama_tokens(prompt="Write a short story about the ocean")
    again, _ = llama_tokens(prompt="Write a short story about the ocean")
    assert tokens == again
    assert 40 <= len(tokens) <= 130
    text = "".join(tokens)
    assert "ocean" in text and text[0].isupper() and text.rstrip()[-1] in ".!?"
    assert "\n\n" in tokens
    assert all(isinstance(t, str) and t for t in tokens)
    words = [t for t in tokens[1:] if t.strip().isalpha()]
    assert sum(t.startswith(" ") for t in words) > len(words) / 2  # leading spaces
    assert not any(t.endswith(" ") for t in tokens)
    assert re.fullmatch(r"[\w\s.,!?:'-]+", text)
    assert set(ctx.metrics) >= {
        "input_token_count",
        "output_token_count",
        "tokens_per_second",
        "time_to_first_token",
    }
    assert ctx.metrics["output_token_count"] == len(tokens)
    assert ctx.metrics["input_token_count"] == len(
        llama.tokenize("Write a short story about the ocean")
    )
    assert any("tokens" in line for line in ctx.logs)


def test_llama_max_and_min_tokens() -> None:
    tokens, ctx = llama_tokens(prompt="Explain recursion", max_tokens=5)
    assert len(tokens) == 5 and ctx.metrics["output_token_count"] == 5
    long, _ = llama_tokens(prompt="Explain recursion", min_tokens=300)
    assert len(long) >= 300 and "".join(long).rstrip()[-1] in ".!?"
    capped, _ = llama_tokens(prompt="Explain recursion", min_tokens=300, max_tokens=100)
    assert len(capped) == 100
    with pytest.raises(ValueError, match="max_tokens must be at least 1"):
        llama_tokens(prompt="x", max_tokens=0)


def test_llama_prompt_template_and_sampling_inputs() -> None:
    plain, plain_ctx = llama_tokens(prompt="Tell me about volcanoes")
    template = "System: you are terse.\n\nUser: {prompt}\n\nAssistant:"
    templated, ctx = llama_tokens(prompt="Tell me about volcanoes", prompt_template=template)
    assert ctx.metrics["input_token_count"] > plain_ctx.metrics["input_token_count"]
    assert any("User: Tell me about volcanoes" in line for line in ctx.logs)
    assert templated != plain and "volcanoes" in "".join(templated)
    hot, _ = llama_tokens(prompt="Tell me about volcanoes", temperature=1.5, top_p=1.0)
    cold, _ = llama_tokens(prompt="Tell me about volcanoes", temperature=0.0)
    assert hot != cold
    seeded, seeded_ctx = llama_tokens(prompt="Tell me about volcanoes", seed=7)
    assert "Using seed: 7" in seeded_ctx.logs
    assert seeded == llama_tokens(prompt="Tell me about volcanoes", seed=7)[0]


def test_llama_tokenizer() -> None:
    assert llama.tokenize("Here is a haiku:\n\nSoft") == [
        "Here",
        " is",
        " a",
        " haiku",
        ":",
        "\n\n",
        "Soft",
    ]
    assert "".join(llama.tokenize("Understanding recursion, step by step.")) == (
        "Understanding recursion, step by step."
    )


# --- images ----------------------------------------------------------------------------------


def test_sdxl_count_size_and_progress() -> None:
    output, ctx = run(
        images.SDXL,
        prompt="a blue whale",
        width=64,
        height=48,
        num_outputs=2,
        num_inference_steps=20,
        seed=1,
    )
    assert isinstance(output, list) and len(output) == 2
    for uri in output:
        header, image, _ = decode(uri)
        assert header == "data:image/png;base64" and image.format == "PNG"
        assert image.size == (64, 48)
    assert output[0] != output[1]
    assert ctx.metrics["image_count"] == 2
    assert "Using seed: 1" in ctx.logs
    progress = [line for line in ctx.logs if TQDM_RE.match(line)]
    assert len(progress) == 21
    assert [int(TQDM_RE.match(line)["current"]) for line in progress] == list(range(21))
    parsed = Prediction.Progress.parse("\n".join(ctx.logs))
    assert (parsed.percentage, parsed.current, parsed.total) == (1.0, 20, 20)
    half = Prediction.Progress.parse("\n".join(ctx.logs[: ctx.logs.index(progress[10]) + 1]))
    assert (half.percentage, half.current) == (0.5, 10)


def test_sdxl_is_deterministic_and_seeded() -> None:
    first, _ = run(images.SDXL, prompt="a lighthouse", width=96, height=64, seed=5)
    second, _ = run(images.SDXL, prompt="a lighthouse", width=96, height=64, seed=5)
    other_seed, _ = run(images.SDXL, prompt="a lighthouse", width=96, height=64, seed=6)
    other_prompt, _ = run(images.SDXL, prompt="a castle", width=96, height=64, seed=5)
    assert first == second
    assert first != other_seed and first != other_prompt
    _, ctx = run(images.SDXL, prompt="a lighthouse", width=96, height=64)
    assert f"Using seed: {DRAWN_SEED}" in ctx.logs


def test_sdxl_img2img_and_errors() -> None:
    output, ctx = run(
        images.SDXL, prompt="make it red", image=png_uri(40, 24), seed=1, num_inference_steps=2
    )
    assert decode(output[0])[1].size == (40, 24) and "img2img mode" in ctx.logs
    output, ctx = run(
        images.SDXL,
        prompt="x",
        image=png_uri(40, 24),
        mask=png_uri(40, 24, "L"),
        num_inference_steps=2,
    )
    assert decode(output[0])[1].size == (40, 24) and "inpainting mode" in ctx.logs
    bad = "data:image/png;base64," + base64.b64encode(b"not an image").decode()
    with pytest.raises(ValueError, match="could not read the image"):
        run(images.SDXL, prompt="x", image=bad, num_inference_steps=1)
    with pytest.raises(ValueError, match="2048"):
        run(images.SDXL, prompt="x", width=5000, num_inference_steps=1)


def test_flux_formats_quality_and_sizes() -> None:
    output, ctx = run(images.FLUX_SCHNELL, prompt="a fox", megapixels="0.25", seed=3)
    header, image, _ = decode(output[0])
    assert header == "data:image/webp;base64" and image.format == "WEBP"
    assert image.size == (512, 512) and len(output) == 1
    assert ctx.metrics["image_count"] == 1
    assert len([line for line in ctx.logs if TQDM_RE.match(line)]) == 5  # 0..4 steps
    low, _ = run(
        images.FLUX_SCHNELL,
        prompt="a fox",
        megapixels="0.25",
        seed=3,
        output_format="jpg",
        output_quality=5,
    )
    high, _ = run(
        images.FLUX_SCHNELL,
        prompt="a fox",
        megapixels="0.25",
        seed=3,
        output_format="jpg",
        output_quality=95,
    )
    assert decode(low[0])[0] == "data:image/jpeg;base64" and decode(low[0])[1].format == "JPEG"
    assert len(decode(low[0])[2]) < len(decode(high[0])[2])
    png, _ = run(
        images.FLUX_SCHNELL,
        prompt="a fox",
        megapixels="0.25",
        output_format="png",
        aspect_ratio="16:9",
        num_outputs=3,
        num_inference_steps=1,
    )
    assert len(png) == 3
    assert {decode(uri)[1].size for uri in png} == {(672, 384)}
    assert decode(png[0])[0] == "data:image/png;base64"
    again, _ = run(images.FLUX_SCHNELL, prompt="a fox", megapixels="0.25", seed=3)
    assert again == output


@pytest.mark.parametrize("ratio", list(images._FLUX_SIZES))
def test_flux_sizes(ratio: str) -> None:
    width, height = images.flux_size(ratio, "1")
    assert width % 16 == 0 and height % 16 == 0
    assert abs(width * height - 1024 * 1024) / (1024 * 1024) < 0.1
    a, b = map(int, ratio.split(":"))
    assert abs(width / height - a / b) < 0.1
    small = images.flux_size(ratio, "0.25")
    assert small == (width // 2, height // 2) and small[0] % 16 == 0 and small[1] % 16 == 0


# --- upscaler --------------------------------------------------------------------------------


def test_upscaler_really_resizes() -> None:
    output, ctx = run(upscaler.REAL_ESRGAN, image=png_uri(16, 10), scale=2)
    header, image, _ = decode(output)
    assert header == "data:image/png;base64" and image.size == (32, 20)
    assert image.getpixel((5, 5)) == (10, 120, 200)
    assert any("16x10 -> 32x20" in line for line in ctx.logs)
    output, _ = run(upscaler.REAL_ESRGAN, image=png_uri(50, 40, "RGBA"), scale=2.5)
    assert decode(output)[1].size == (125, 100) and decode(output)[1].mode == "RGBA"
    assert (
        run(upscaler.REAL_ESRGAN, image=png_uri(16, 10))[0]
        == run(upscaler.REAL_ESRGAN, image=png_uri(16, 10))[0]
    )


def test_upscaler_errors() -> None:
    with pytest.raises(ValueError, match="scale must be greater than 0"):
        run(upscaler.REAL_ESRGAN, image=png_uri(16, 10), scale=0)
    with pytest.raises(ValueError, match=r"maximum of 4096 px.*smaller scale"):
        run(upscaler.REAL_ESRGAN, image=png_uri(1000, 500), scale=5)
    bad = "data:image/png;base64," + base64.b64encode(b"garbage").decode()
    with pytest.raises(ValueError, match="could not read the image: "):
        run(upscaler.REAL_ESRGAN, image=bad)


# --- embeddings ------------------------------------------------------------------------------


def test_embeddings() -> None:
    output, ctx = run(
        embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="the cat sat\n\nthe cat sat\n\nquantum physics"
    )
    assert len(output) == 3 and all(len(v) == embeddings.DIMENSIONS == 5120 for v in output)
    assert output[0] == output[1] and output[0] != output[2]
    for vector in output:
        assert abs(math.sqrt(sum(x * x for x in vector)) - 1) < 1e-4
        assert all(x == round(x, 6) for x in vector)
    again, _ = run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="quantum physics")
    assert again[0] == output[2]
    similar = run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="the cat sat down")[0][0]
    dot = sum(x * y for x, y in zip(output[0], similar, strict=True))
    assert dot > sum(x * y for x, y in zip(output[2], similar, strict=True))
    custom, _ = run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="a|b|c", prompt_separator="|")
    assert len(custom) == 3
    assert "Embedding 3 prompts" in ctx.logs


def test_embeddings_errors() -> None:
    with pytest.raises(ValueError, match="maximum is 100"):
        run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="|".join(["x"] * 101), prompt_separator="|")
    with pytest.raises(ValueError, match="prompt_separator is empty"):
        run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="x", prompt_separator="")


# --- teaching models -------------------------------------------------------------------------


def test_sleep_logs_progress_and_returns_message() -> None:
    output, ctx = run(teaching.SLEEP, seconds=1, message="awake")
    assert output == "awake"
    progress = [line for line in ctx.logs if TQDM_RE.match(line)]
    assert len(progress) == 11
    parsed = Prediction.Progress.parse("\n".join(ctx.logs))
    assert (parsed.percentage, parsed.current, parsed.total) == (1.0, 10, 10)
    _, long_ctx = run(teaching.SLEEP, seconds=600)
    assert len(long_ctx.logs) <= 110
    zero, _ = run(teaching.SLEEP, seconds=0)
    assert zero == "done"


def test_sleep_is_cancellable() -> None:
    async def scenario() -> float:
        ctx = RealSleepContext()
        task = asyncio.create_task(teaching.SLEEP.predict(ctx, {"seconds": 600, "message": "x"}))
        await asyncio.sleep(0.05)
        assert any(TQDM_RE.match(line) for line in ctx.logs)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return time.monotonic() - started

    assert asyncio.run(scenario()) < 0.5


def test_sleep_real_timing() -> None:
    async def scenario() -> float:
        started = time.monotonic()
        await teaching.SLEEP.predict(RealSleepContext(), {"seconds": 0.3, "message": "x"})
        return time.monotonic() - started

    assert 0.25 <= asyncio.run(scenario()) < 2


def test_fail_raises_its_message() -> None:
    with pytest.raises(teaching.SandboxFailure) as info:
        run(teaching.FAIL)
    assert str(info.value) == "This prediction failed on purpose (sandbox/fail)."
    ctx = FakeContext()
    with pytest.raises(teaching.SandboxFailure) as info:
        run(teaching.FAIL, ctx, message="boom: disk full", after=2)
    assert str(info.value) == "boom: disk full"
    assert ctx.logs[0] == STANDIN_NOTICE and len(ctx.logs) >= 2


# --- determinism across processes ------------------------------------------------------------

_DIGEST_SCRIPT = """
import asyncio, hashlib, json, sys
sys.path.insert(0, {tests!r})
from test_models import run
from replicate_nb.sandbox.models import embeddings, images, llama
out = [
    run(llama.LLAMA_3_8B_INSTRUCT, prompt="Write a haiku about trees")[1].items,
    run(images.SDXL, prompt="a tree", width=80, height=64, seed=9, num_outputs=2)[0],
    run(images.FLUX_SCHNELL, prompt="a tree", megapixels="0.25", seed=9)[0],
    run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="a tree\\n\\nthe forest")[0],
]
print(hashlib.sha256(json.dumps(out).encode()).hexdigest())
"""


def test_outputs_are_identical_across_processes() -> None:
    script = _DIGEST_SCRIPT.format(tests=os.path.dirname(__file__))
    digests = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        digests.add(result.stdout.strip())
    assert len(digests) == 1
    local = [
        run(llama.LLAMA_3_8B_INSTRUCT, prompt="Write a haiku about trees")[1].items,
        run(images.SDXL, prompt="a tree", width=80, height=64, seed=9, num_outputs=2)[0],
        run(images.FLUX_SCHNELL, prompt="a tree", megapixels="0.25", seed=9)[0],
        run(embeddings.LLAMA_2_13B_EMBEDDINGS, prompts="a tree\n\nthe forest")[0],
    ]
    assert digests == {hashlib.sha256(json.dumps(local).encode()).hexdigest()}


# --- the stand-in trainer (server-free) -----------------------------------------------------


def _blobs(kind: str, colour: tuple[int, int, int]) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGB", (90, 90), (240, 240, 230))
    draw = ImageDraw.Draw(image)
    for x in (10, 50):
        box = (x, 20, x + 30, 50)
        if kind == "polygon":
            draw.polygon([(x, 50), (x + 30, 50), (x + 15, 20)], fill=colour)
        else:
            (draw.rectangle if kind == "rectangle" else draw.ellipse)(box, fill=colour)
    return image


@pytest.mark.parametrize("kind", ["ellipse", "rectangle", "polygon"])
def test_trainer_learns_the_palette_and_the_shape_of_each_blob(kind: str) -> None:
    from replicate_nb.sandbox.models import trainer

    images = [_blobs(kind, (200, 30, 30)), _blobs(kind, (30, 30, 200))]
    learned = trainer.learn(images)
    assert learned["shape"] == kind and learned["shape_votes"] == {kind: 4}
    assert learned["background"] == "#f0f0e6"
    assert set(learned["palette"]) == {"#c81e1e", "#1e1ec8"}  # no background, no edge blends


def test_trained_predictor_draws_the_style_only_with_the_trigger_word() -> None:
    from replicate_nb.sandbox.models import trainer

    weights = {
        "trigger_word": "ZXQ",
        "background": "#f0f0e6",
        "palette": ["#c81e1e"],
        "shape": "rectangle",
    }
    predict = trainer.predictor(weights)
    common = {
        "aspect_ratio": "custom",
        "width": 256,
        "height": 256,
        "seed": 1,
        "output_format": "png",
    }
    styled = asyncio.run(predict(FakeContext(), {"prompt": "ZXQ", **common}))
    plain = asyncio.run(predict(FakeContext(), {"prompt": "none", **common}))
    styled_colours = {c for _, c in decode(styled[0])[1].convert("RGB").getcolors(1 << 16)}
    plain_colours = {c for _, c in decode(plain[0])[1].convert("RGB").getcolors(1 << 16)}
    assert (240, 240, 230) in styled_colours and (200, 30, 30) in styled_colours
    assert (200, 30, 30) not in plain_colours
