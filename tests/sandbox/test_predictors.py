"""Your own functions and predictor classes as sandbox models, driven by the official client."""
# ruff: noqa: B008 - Cog-style signatures put Input(...) in defaults by design (it is immutable)

from __future__ import annotations

import asyncio
import base64
import importlib.util
import io
import json
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Annotated, Literal, Optional

import httpx
import pytest
from replicate.exceptions import ModelError, ReplicateError

from replicate_nb import sandbox
from replicate_nb import schema as cog_schema
from replicate_nb.inputs import ConcatenateIterator, Input, Secret
from replicate_nb.sandbox.predictors import build_model
from tests.conftest import HELLO, start_cli

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
    b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


def everything(
    prompt: str = Input(description="What to say", min_length=1, max_length=50, regex=r"^[a-z ]+$"),
    count: int = Input(default=2, ge=1, le=5, description="How many"),
    temperature: float = 0.5,
    loud: bool = False,
    style: str = Input(default="plain", choices=["plain", "fancy"]),
    size: int = Input(default=64, choices=[64, 128]),
    mode: Literal["fast", "slow"] = "fast",
    image: Path = Input(description="A file"),
    note: Optional[str] = None,  # noqa: UP045 - the typing spelling is part of what is tested
    tags: list[str] = Input(default=["a"]),
    api_key: Secret = Input(default=None),
    seed: int = Input(default=None, description="Leave blank to randomize"),
) -> dict:
    """Echo what it received, with the Python types."""
    print(f"got {prompt}")
    return {
        "prompt": prompt,
        "count": count,
        "temperature": temperature,
        "temperature_type": type(temperature).__name__,
        "loud": loud,
        "style": style,
        "size": size,
        "mode": mode,
        "image_is_path": isinstance(image, Path),
        "image_suffix": image.suffix,
        "image_bytes": len(image.read_bytes()),
        "note": note,
        "tags": tags,
        "api_key": api_key.get_secret_value() if api_key else None,
        "seed": seed,
    }


class Counter:
    """A predictor class: setup once, then predict."""

    setups = 0

    def setup(self) -> None:
        type(self).setups += 1
        print("loading weights")
        self.offset = 100

    def predict(
        self,
        n: Annotated[int, Input(ge=0, description="A number")],
        label: Optional[str] = None,  # noqa: UP045
    ) -> str:
        return f"{label or 'n'}={n + self.offset}"


def words(text: str, delay: float = 0.0) -> ConcatenateIterator[str]:
    for word in text.split():
        print(f"emitting {word}")
        time.sleep(delay)
        yield word + " "


def numbers(limit: int = 3) -> Iterator[int]:
    yield from range(limit)


async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper()


async def ticker(n: int = 3) -> AsyncIterator[str]:
    for i in range(n):
        await asyncio.sleep(0)
        yield f"tick {i}"


def picture(name: str = "x") -> Path:
    out = Path(tempfile.mkdtemp()) / "out.png"
    out.write_bytes(PNG)
    return out


def raw(kind: str = "png") -> list[bytes]:
    return [PNG, b"plain text"]


def broken(message: str = "it broke") -> str:
    print("about to fail")
    raise ValueError(message)


GATE = threading.Event()
STOPPED = threading.Event()


def waits(text: str = "x") -> str:
    print("halfway there")
    GATE.wait(10)
    return "released"


def forever() -> Iterator[str]:
    try:
        while True:
            time.sleep(0.01)
            yield "."
    finally:
        STOPPED.set()


MODELS = {
    "test/everything": everything,
    "test/counter": Counter,
    "test/words": words,
    "test/numbers": numbers,
    "test/shout": shout,
    "test/ticker": ticker,
    "test/picture": picture,
    "test/raw": raw,
    "test/broken": broken,
    "test/waits": waits,
    "test/forever": forever,
}


@pytest.fixture(scope="module")
def sbm():
    with sandbox.start(keepalive=0.2) as server:
        for ref, target in MODELS.items():
            server.register(ref, target)
        yield server


@pytest.fixture
def rc(sbm, make_client):
    return make_client(sbm.base_url)


EXPECTED_INPUT = {
    "title": "Input",
    "type": "object",
    "properties": {
        "prompt": {
            "x-order": 0,
            "title": "Prompt",
            "type": "string",
            "description": "What to say",
            "minLength": 1,
            "maxLength": 50,
            "pattern": "^[a-z ]+$",
        },
        "count": {
            "x-order": 1,
            "title": "Count",
            "type": "integer",
            "default": 2,
            "minimum": 1,
            "maximum": 5,
            "description": "How many",
        },
        "temperature": {"x-order": 2, "title": "Temperature", "type": "number", "default": 0.5},
        "loud": {"x-order": 3, "title": "Loud", "type": "boolean", "default": False},
        "style": {
            "x-order": 4,
            "allOf": [{"$ref": "#/components/schemas/style"}],
            "default": "plain",
        },
        "size": {"x-order": 5, "allOf": [{"$ref": "#/components/schemas/size"}], "default": 64},
        "mode": {"x-order": 6, "allOf": [{"$ref": "#/components/schemas/mode"}], "default": "fast"},
        "image": {
            "x-order": 7,
            "title": "Image",
            "type": "string",
            "format": "uri",
            "description": "A file",
        },
        "note": {
            "x-order": 8,
            "title": "Note",
            "type": "string",
            "default": None,
            "nullable": True,
        },
        "tags": {
            "x-order": 9,
            "title": "Tags",
            "type": "array",
            "items": {"type": "string"},
            "default": ["a"],
        },
        "api_key": {
            "x-order": 10,
            "title": "Api Key",
            "type": "string",
            "format": "password",
            "writeOnly": True,
            "x-cog-secret": True,
            "default": None,
            "nullable": True,
        },
        "seed": {
            "x-order": 11,
            "title": "Seed",
            "type": "integer",
            "description": "Leave blank to randomize",
        },
    },
    "required": ["prompt", "image"],
}
EXPECTED_ENUMS = {
    "style": {
        "title": "style",
        "description": "An enumeration.",
        "enum": ["plain", "fancy"],
        "type": "string",
    },
    "size": {
        "title": "size",
        "description": "An enumeration.",
        "enum": [64, 128],
        "type": "integer",
    },
    "mode": {
        "title": "mode",
        "description": "An enumeration.",
        "enum": ["fast", "slow"],
        "type": "string",
    },
}


def test_schema_matches_what_cog_generates():
    document = build_model("test/everything", everything).openapi_schema
    assert document["openapi"] == "3.0.2"
    assert document["info"] == {"title": "Cog", "version": "0.16.0"}
    schemas = document["components"]["schemas"]
    assert list(schemas)[:5] == ["Input", "Output", "style", "size", "mode"]
    for name, expected in EXPECTED_INPUT["properties"].items():
        assert schemas["Input"]["properties"][name] == expected, name
    assert schemas["Input"] == EXPECTED_INPUT
    for name, expected in EXPECTED_ENUMS.items():
        assert schemas[name] == expected, name
    assert schemas["Output"] == {"title": "Output", "type": "object"}
    assert schemas["Status"]["enum"] == [
        "starting",
        "processing",
        "succeeded",
        "canceled",
        "failed",
    ]
    assert "/predictions" in document["paths"]


def test_version_id_is_the_sha256_of_the_canonical_schema():
    import hashlib

    model = build_model("test/everything", everything)
    canonical = json.dumps(model.openapi_schema, sort_keys=True).encode()
    assert model.version_id == hashlib.sha256(canonical).hexdigest()
    assert model.cog_version == "0.16.0"
    assert model.description == "Echo what it received, with the Python types."


def test_schema_parses_into_the_expected_fields():
    parsed = cog_schema.parse(build_model("test/everything", everything).openapi_schema)
    kinds = {f.name: f.kind for f in parsed.fields}
    assert kinds == {
        "prompt": "string",
        "count": "integer",
        "temperature": "number",
        "loud": "boolean",
        "style": "enum",
        "size": "enum",
        "mode": "enum",
        "image": "uri",
        "note": "string",
        "tags": "json",
        "api_key": "secret",
        "seed": "integer",
    }
    assert [f.name for f in parsed.fields][:3] == ["prompt", "count", "temperature"]
    fields = {f.name: f for f in parsed.fields}
    assert fields["size"].choices == (64, 128)
    assert fields["count"].minimum == 1 and fields["count"].maximum == 5
    assert fields["note"].nullable and not fields["note"].has_default
    assert not fields["seed"].required and not fields["seed"].has_default
    assert fields["prompt"].required and fields["prompt"].pattern == "^[a-z ]+$"
    assert not parsed.output.is_iterator


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (
            words,
            {
                "type": "array",
                "items": {"type": "string"},
                "x-cog-array-type": "iterator",
                "x-cog-array-display": "concatenate",
                "title": "Output",
            },
        ),
        (
            numbers,
            {
                "type": "array",
                "items": {"type": "integer"},
                "x-cog-array-type": "iterator",
                "title": "Output",
            },
        ),
        (
            ticker,
            {
                "type": "array",
                "items": {"type": "string"},
                "x-cog-array-type": "iterator",
                "title": "Output",
            },
        ),
        (picture, {"type": "string", "format": "uri", "title": "Output"}),
        (raw, {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"}),
        (shout, {"type": "string", "title": "Output"}),
    ],
)
def test_output_schema_follows_cog(target, expected):
    model = build_model("test/out", target)
    assert model.openapi_schema["components"]["schemas"]["Output"] == expected
    output = cog_schema.parse(model.openapi_schema).output
    assert output.is_iterator == (expected.get("x-cog-array-type") == "iterator")


def test_function_model_runs_with_every_kind_of_input(rc):
    out = rc.run(
        "test/everything",
        input={
            "prompt": "hello there",
            "temperature": 1,
            "image": io.BytesIO(PNG),
            "api_key": "s3cret",
            "tags": ["x", "y"],
            "size": 128,
            "mode": "slow",
        },
    )
    assert out == {
        "prompt": "hello there",
        "count": 2,
        "temperature": 1.0,
        "temperature_type": "float",
        "loud": False,
        "style": "plain",
        "size": 128,
        "mode": "slow",
        "image_is_path": True,
        "image_suffix": ".png",
        "image_bytes": len(PNG),
        "note": None,
        "tags": ["x", "y"],
        "api_key": "s3cret",
        "seed": None,
    }


def test_registered_models_are_listed_and_validated_like_builtins(rc):
    model = rc.models.get("test/everything")
    assert model.latest_version.openapi_schema["components"]["schemas"]["Input"] == EXPECTED_INPUT
    assert "test/counter" in {f"{m.owner}/{m.name}" for m in rc.models.list().results}
    base = {"prompt": "ok", "image": "data:image/png;base64,iVBORw0KGgo="}
    for bad, field in [
        ({"count": 9}, "input.count"),
        ({"style": "weird"}, "input.style"),
        ({"prompt": "UPPER"}, "input.prompt"),
        ({"note": None}, "input.note"),
    ]:
        with pytest.raises(ReplicateError) as caught:
            rc.predictions.create(model="test/everything", input={**base, **bad})
        assert caught.value.status == 422
        assert field in caught.value.detail
    with pytest.raises(ReplicateError, match="image is required"):
        rc.predictions.create(model="test/everything", input={"prompt": "ok"})


def test_predictor_class_sets_up_once_before_its_first_prediction(rc):
    schema = rc.models.get("test/counter").latest_version.openapi_schema
    assert schema["components"]["schemas"]["Input"] == {
        "title": "Input",
        "type": "object",
        "required": ["n"],
        "properties": {
            "n": {
                "x-order": 0,
                "title": "N",
                "type": "integer",
                "minimum": 0,
                "description": "A number",
            },
            "label": {
                "x-order": 1,
                "title": "Label",
                "type": "string",
                "default": None,
                "nullable": True,
            },
        },
    }
    assert Counter.setups == 0  # registered, but not set up until it is first used
    first = rc.predictions.create(model="test/counter", input={"n": 1, "label": "a"})
    first.wait()
    second = rc.predictions.create(model="test/counter", input={"n": 2})
    second.wait()
    assert (first.output, second.output) == ("a=101", "n=102")
    assert Counter.setups == 1
    assert "loading weights" in first.logs and "loading weights" not in second.logs


def test_generator_streams_its_yields(rc):
    events = list(rc.stream("test/words", input={"text": "one two three"}))
    assert "".join(e.data for e in events if e.event.value == "output") == "one two three "
    assert [e.data for e in events if e.event.value == "logs"][:1] == ["emitting one"]
    assert rc.run("test/numbers", input={"limit": 4}) == [0, 1, 2, 3]


def test_async_function_and_async_generator(rc):
    assert rc.run("test/shout", input={"text": "hey"}) == "HEY"
    assert rc.run("test/ticker", input={"n": 2}) == ["tick 0", "tick 1"]


def test_path_and_bytes_outputs_are_files(rc):
    picture_out = rc.run("test/picture")
    assert picture_out.url.startswith("data:image/png;base64,")
    assert picture_out.read() == PNG
    png, text = rc.run("test/raw")
    assert (png.read(), text.read()) == (PNG, b"plain text")
    assert text.url.startswith("data:text/plain;")


def test_model_error_fails_the_prediction_and_the_server_keeps_serving(rc):
    with pytest.raises(ModelError) as caught:
        rc.run("test/broken", input={"message": "bad input, try 3"})
    prediction = caught.value.prediction
    assert prediction.status == "failed"
    assert prediction.error == "bad input, try 3"
    assert "about to fail" in prediction.logs
    assert "Traceback (most recent call last)" in prediction.logs
    assert "in broken\n    raise ValueError(message)" in prediction.logs
    assert rc.run("test/shout", input={"text": "still here"}) == "STILL HERE"


def test_prints_reach_the_logs_live_and_nothing_else_is_captured(rc, capsys):
    stdout = sys.stdout
    GATE.clear()
    prediction = rc.predictions.create(model="test/waits", input={})
    try:
        deadline = time.monotonic() + 5
        while "halfway there" not in prediction.logs and time.monotonic() < deadline:
            print("the test's own output")
            time.sleep(0.02)
            prediction.reload()
        assert prediction.status == "processing"
        assert "halfway there" in prediction.logs
    finally:
        GATE.set()
    prediction.wait()
    assert prediction.output == "released"
    assert "the test's own output" not in prediction.logs
    assert "the test's own output" in capsys.readouterr().out
    assert sys.stdout is stdout


def test_cancel_stops_a_generator_between_yields(rc):
    STOPPED.clear()
    prediction = rc.predictions.create(model="test/forever", input={})
    while not prediction.output:
        time.sleep(0.02)
        prediction.reload()
    prediction.cancel()
    prediction.wait()
    assert prediction.status == "canceled"
    assert STOPPED.wait(2)


def test_cancel_marks_a_blocked_function_canceled(rc):
    GATE.clear()
    prediction = rc.predictions.create(model="test/waits", input={})
    try:
        while prediction.status != "processing":
            time.sleep(0.02)
            prediction.reload()
        prediction.cancel()
        prediction.wait()
        assert prediction.status == "canceled"
    finally:
        GATE.set()
    assert rc.run("test/shout", input={"text": "ok"}) == "OK"


def test_register_replace_swaps_a_model(sbm, rc):
    sbm.register("test/swap", shout)
    with pytest.raises(ValueError, match="replace=True"):
        sbm.register("test/swap", words)
    sbm.register("test/swap", words, replace=True)
    assert rc.run("test/swap", input={"text": "a b"}) == ["a ", "b "]


def lower(text: str) -> str:
    return text.lower()


def test_identical_signatures_get_distinct_versions(sbm, rc):
    upper, low = sbm.register("test/upper", shout), sbm.register("test/lower", lower)
    assert upper.version_id != low.version_id
    assert rc.run(f"test/lower:{low.version_id}", input={"text": "MiXeD"}) == "mixed"
    assert rc.run(f"test/upper:{upper.version_id}", input={"text": "MiXeD"}) == "MIXED"


def _no_hint(x):
    return x


def _star(*args: int) -> str:
    return ""


def _set_input(x: set[int]) -> str:
    return ""


def _out_of_bounds(x: int = Input(default=9, le=5)) -> str:
    return ""


def _bad_choice(x: int = Input(default=1, choices=["a", "b"])) -> str:
    return ""


def _regex_on_int(x: int = Input(default=1, regex="^1$")) -> str:
    return ""


def _optional_output(x: str) -> str | None:
    return None


@pytest.mark.parametrize(
    ("ref", "target", "error", "words_in_message"),
    [
        ("no-slash", shout, ValueError, ["'no-slash'", "owner/name"]),
        ("test/x", _no_hint, TypeError, ["parameter 'x'", "type hint"]),
        ("test/x", _star, TypeError, ["parameter 'args'", "*args"]),
        ("test/x", _set_input, TypeError, ["parameter 'x'", "set[int]", "not supported"]),
        (
            "test/x",
            _out_of_bounds,
            ValueError,
            ["parameter 'x'", "default 9", "less than or equal"],
        ),
        ("test/x", _bad_choice, TypeError, ["parameter 'x'", "choices"]),
        ("test/x", _regex_on_int, TypeError, ["parameter 'x'", "regex"]),
        ("test/x", _optional_output, TypeError, ["return type", "Optional"]),
        ("test/x", 42, TypeError, ["42"]),
    ],
)
def test_registration_errors_name_what_to_fix(ref, target, error, words_in_message):
    with pytest.raises(error) as caught:
        build_model(ref, target)
    for word in words_in_message:
        assert word in str(caught.value)


def test_cli_serves_a_model_from_the_current_directory(tmp_path):
    (tmp_path / "mymodel.py").write_text(
        "from replicate_nb.inputs import Input\n\n"
        "class Predictor:\n"
        "    def setup(self):\n        self.greeting = 'hi'\n\n"
        "    def predict(self, name: str = Input(default='you')) -> str:\n"
        "        return f'{self.greeting} {name}'\n"
    )
    proc, base_url = start_cli("--model", "me/greeter=mymodel:Predictor", cwd=tmp_path)
    try:
        reply = httpx.post(
            f"{base_url}/v1/models/me/greeter/predictions",
            json={"input": {"name": "Ada"}},
            headers={"Prefer": "wait"},
        )
        assert reply.json()["output"] == "hi Ada"
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


def test_cli_reports_a_bad_model_spec(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "replicate_nb.sandbox", "--model", "me/x=nosuchmodule:f"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "nosuchmodule" in done.stderr


@pytest.mark.skipif(
    importlib.util.find_spec("cog") is None, reason="cog is an optional extra (pip install cog)"
)
def test_cog_predictor_classes_register(make_client):  # pragma: no cover - needs cog
    import cog

    class Predictor(cog.BasePredictor):
        def setup(self) -> None:
            self.suffix = "!"

        def predict(
            self,
            image: cog.Path = cog.Input(description="An image"),
            scale: int = cog.Input(default=2, ge=1, le=4),
        ) -> cog.Path:
            return image

    with sandbox.start() as server:
        model = server.register("cog/predictor", Predictor)
        props = model.openapi_schema["components"]["schemas"]["Input"]["properties"]
        assert props["image"]["format"] == "uri"
        assert props["scale"] == {
            "x-order": 1,
            "title": "Scale",
            "type": "integer",
            "default": 2,
            "minimum": 1,
            "maximum": 4,
        }
        client = make_client(server.base_url)
        assert client.run("cog/predictor", input={"image": io.BytesIO(PNG)}).read() == PNG


def test_registered_model_runs_from_a_form(rc):
    """`form()` treats a registered model like any on Replicate: same widgets, same run."""
    import ipywidgets

    from replicate_nb.forms import form

    async def scenario() -> tuple[dict, list[str], object]:
        f = form("test/everything", client=rc)
        f.set(prompt="from a form", image=PNG, mode="slow")
        value, fields = f.value, f.fields
        prediction = await f.submit()
        return value, fields, prediction

    try:
        value, fields, prediction = asyncio.run(scenario())
    finally:
        ipywidgets.Widget.close_all()
    assert fields[:3] == ["prompt", "count", "temperature"]
    assert value["prompt"] == "from a form" and value["mode"] == "slow"
    assert value["image"].startswith("data:image/png;base64,")
    assert prediction.status == "succeeded"
    assert prediction.output["prompt"] == "from a form"
    assert prediction.output["image_bytes"] == len(PNG)


def _nan() -> float:
    return float("nan")


def _infinite() -> dict:
    return {"score": float("-inf")}


def _surrogate() -> str:
    return "half a pair: \ud800"


def _nan_stream() -> Iterator[float]:
    yield 1.0
    yield float("nan")


@pytest.mark.parametrize(
    ("target", "why"),
    [
        (_nan, "NaN or an infinity"),
        (_infinite, "NaN or an infinity"),
        (_surrogate, "surrogates not allowed"),
        (_nan_stream, "output item 1"),
    ],
)
def test_output_json_cannot_carry_fails_the_prediction_cleanly(sbm, rc, target, why):
    ref = f"test/json{target.__name__.replace('_', '-')}"
    sbm.register(ref, target, replace=True)
    prediction = rc.models.predictions.create(model=ref, input={})
    prediction.wait()
    assert prediction.status == "failed"
    assert "cannot be sent as JSON" in prediction.error and why in prediction.error
    assert httpx.get(prediction.urls["get"]).status_code == 200
    listed = httpx.get(f"{sbm.base_url}/v1/predictions")
    assert listed.status_code == 200
    assert prediction.id in [p["id"] for p in listed.json()["results"]]


RELEASE = threading.Event()
RETURNED: list[str] = []


def stuck(text: str = "x") -> str:
    """Blocks in a way no cancel can interrupt, until the test releases it (or 60 s pass)."""
    RELEASE.wait(60)
    RETURNED.append(text)
    return "late"


def _cancel_while_blocked(client, ref: str, times: int) -> None:
    for _ in range(times):
        prediction = client.predictions.create(version=ref, input={})
        while prediction.status != "processing":
            time.sleep(0.02)
            prediction.reload()
        time.sleep(0.05)  # inside the blocking call
        prediction.cancel()
        prediction.wait()
        assert prediction.status == "canceled"


def test_cancelled_blocking_functions_do_not_starve_other_models(make_client):
    """Each cancel frees its worker slot; the threads left behind stop nothing."""
    RELEASE.clear()
    RETURNED.clear()
    server = sandbox.start()
    try:
        model = server.register("test/stuck", stuck)
        client = make_client(server.base_url)
        _cancel_while_blocked(client, f"test/stuck:{model.version_id}", 8)
        assert server.engine.workers.abandoned == 8
        sdxl = server.catalog.model("stability-ai", "sdxl")
        esrgan = server.catalog.model("nightmareai", "real-esrgan")
        assert client.run(f"stability-ai/sdxl:{sdxl.version_id}", input={"prompt": "a fox"})
        assert client.run("black-forest-labs/flux-schnell", input={"prompt": "a fox"})
        image = "data:image/png;base64," + base64.b64encode(PNG).decode()
        assert client.run(f"nightmareai/real-esrgan:{esrgan.version_id}", input={"image": image})
        assert RETURNED == []  # they ran while all 8 cancelled calls still blocked their threads
    finally:
        started = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - started
        RELEASE.set()
    assert stopped_in < 5  # was 15 s: stop() timed out joining a server stuck on the threads


def test_worker_threads_left_behind_are_bounded_with_a_clear_failure(make_client, monkeypatch):
    RELEASE.clear()
    with sandbox.start() as server:
        monkeypatch.setattr(server.engine.workers, "max_abandoned", 2)
        model = server.register("test/stuck", stuck)
        client = make_client(server.base_url)
        _cancel_while_blocked(client, f"test/stuck:{model.version_id}", 2)
        refused = client.predictions.create(version=f"test/stuck:{model.version_id}", input={})
        refused.wait()
        assert refused.status == "failed"
        assert "2 cancelled predictions are still running blocking code" in refused.error
        assert client.run(HELLO, input={"text": "a"}) == "hello a"
        RELEASE.set()
        deadline = time.monotonic() + 10
        while server.engine.workers.abandoned and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.engine.workers.abandoned == 0  # the threads came back when they returned


def test_cli_stops_on_sigterm_after_cancelled_blocking_functions(tmp_path, make_client):
    (tmp_path / "blocking.py").write_text(
        "import time\n\n\ndef stuck(text: str = 'x') -> str:\n"
        "    time.sleep(600)\n"
        "    return 'late'\n"
    )
    proc, base_url = start_cli("--model", "test/stuck=blocking:stuck", cwd=tmp_path)
    try:
        client = make_client(base_url)
        version = client.models.get("test/stuck").latest_version.id
        _cancel_while_blocked(client, f"test/stuck:{version}", 7)
        assert client.run(HELLO, input={"text": "a"}) == "hello a"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(30)
        finally:
            proc.kill()
            proc.stdout.close()
            proc.stderr.close()
    assert code == 0
