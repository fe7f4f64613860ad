"""Tests for replicate_nb.magics, run in a real IPython shell loaded with `%load_ext`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from IPython.core.error import UsageError
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output
from replicate.helpers import FileOutput

from replicate_nb import schema
from replicate_nb.connection import connect, current_connection, disconnect
from replicate_nb.magics import parse_input
from tests.conftest import ESRGAN, HELLO

SCHEMAS = Path(__file__).resolve().parents[1] / "replicate_nb" / "sandbox" / "models" / "schemas"
SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
X = "\N{MULTIPLICATION SIGN}"


def model_schema(prefix: str) -> schema.InputSchema:
    [path] = SCHEMAS.glob(f"{prefix}*.json")
    return schema.parse(json.loads(path.read_text()))


@pytest.fixture(scope="module")
def ip():
    shell = globalipapp.get_ipython()
    shell.run_line_magic("load_ext", "replicate_nb")
    return shell


@pytest.fixture
def connected(ip):
    client = connect(backend="sandbox")
    client.poll_interval = 0.02
    yield client
    disconnect()


def run_cell(ip, line: str, body: str) -> list[dict]:
    with capture_output() as cap:
        ip.run_cell_magic("replicate", line, body)
    return [out.data for out in cap.outputs]


# %%replicate


def test_replicate__plain_text_goes_to_the_prompt_field(ip, connected):
    assert run_cell(ip, HELLO, "bob\n") == [{"text/plain": "hello bob"}]


def test_replicate__json_body(ip, connected):
    assert run_cell(ip, HELLO, '{"text": "json"}') == [{"text/plain": "hello json"}]


def test_replicate__key_value_lines_are_coerced_and_shown(ip, connected):
    [bundle] = run_cell(
        ip,
        "black-forest-labs/flux-schnell -o images",
        "prompt: a cat\nnum_outputs: 2\naspect_ratio: 1:1\noutput_format: png\n",
    )
    assert bundle["text/html"].count("<img ") == 2
    assert re.fullmatch(rf"\[<image/png 1024{X}1024, .*>\]", bundle["text/plain"])
    images = ip.user_ns["images"]
    assert len(images) == 2 and all(isinstance(i, FileOutput) for i in images)


def test_replicate__version_ref_shows_image(ip, connected):
    [bundle] = run_cell(ip, SDXL, "prompt: cat\nwidth: 64\nheight: 48")
    assert bundle["text/plain"].startswith(f"[<image/png 64{X}48, ")  # one-image list: a grid


def test_replicate__stream_prints_tokens_and_stores_text(ip, connected):
    with capture_output() as cap:
        ip.run_cell_magic(
            "replicate",
            "meta/meta-llama-3-8b-instruct --stream -o story",
            "prompt: hi\nmax_tokens: 5",
        )
    assert cap.outputs == []
    assert cap.stdout == ip.user_ns["story"] + "\n"
    assert ip.user_ns["story"] == "".join(
        connected.run("meta/meta-llama-3-8b-instruct", input={"prompt": "hi", "max_tokens": 5})
    )


def test_replicate__iterator_output_is_kept_for_output_variable(ip, connected):
    version = connected.models.get("meta/meta-llama-3-8b-instruct").latest_version.id
    run_cell(ip, f"meta/meta-llama-3-8b-instruct:{version} -o tokens", "hi")
    assert isinstance(ip.user_ns["tokens"], list) and ip.user_ns["tokens"]


@pytest.mark.parametrize(
    ("line", "body", "words"),
    [
        ("not-a-ref", "x", "is not a model reference"),
        ("", "x", "ref"),
        (f"{HELLO} --bogus", "x", "unrecognized arguments"),
        (HELLO, "{not json", "not valid JSON"),
        (ESRGAN, "a photo", "no prompt-like text input.*image, scale"),
        (SDXL, "prompt: cat\nwidth: wide", "width: 'wide' is not an integer"),
        (SDXL, "prompt: cat\nscheduler: FAST", "scheduler: 'FAST' is not one of: DDIM"),
    ],
)
def test_replicate__bad_input_is_a_usage_error(ip, connected, line, body, words):
    with pytest.raises(UsageError, match=words):
        ip.run_cell_magic("replicate", line, body)


def test_replicate__usage_error_shows_no_traceback(ip, connected, capsys):
    result = ip.run_cell("%%replicate not-a-ref\nhello")
    assert isinstance(result.error_in_exec, UsageError)
    err = capsys.readouterr().err
    assert err.startswith("UsageError: 'not-a-ref' is not a model reference")
    assert "Traceback" not in err


# parse_input (no server: schemas of the sandbox's stand-ins)


def test_parse_input__coerces_by_field_kind():
    sdxl = model_schema("stability-ai__sdxl")
    body = (
        "prompt: a cat\n  on a mat\nwidth: 64\nguidance_scale: 7.5\nscheduler: DDIM\n"
        'negative_prompt: "quoted"'
    )
    assert parse_input(body, lambda: sdxl) == {
        "prompt": "a cat\n  on a mat",
        "width": 64,
        "guidance_scale": 7.5,
        "scheduler": "DDIM",
        "negative_prompt": "quoted",
    }


def test_parse_input__booleans():
    flux = model_schema("black-forest-labs__flux-schnell")
    assert parse_input("prompt: x\ngo_fast: no\ndisable_safety_checker: TRUE", lambda: flux) == {
        "prompt": "x",
        "go_fast": False,
        "disable_safety_checker": True,
    }
    with pytest.raises(UsageError, match="go_fast: 'maybe' is not a boolean"):
        parse_input("prompt: x\ngo_fast: maybe", lambda: flux)


def test_parse_input__unknown_first_key_means_plain_text():
    hello = model_schema("replicate__hello-world")
    assert parse_input("Note: hi", lambda: hello) == {"text": "Note: hi"}


def test_parse_input__prompt_field_preference_and_fallback():
    assert parse_input("a b", lambda: model_schema("andreasjansson")) == {"prompts": "a b"}
    assert parse_input("zzz", lambda: model_schema("sandbox__sleep")) == {"message": "zzz"}


def test_parse_input__json_and_empty_need_no_schema():
    def no_schema():
        raise AssertionError("the schema was fetched")

    assert parse_input('  {"a": [1, 2]}  ', no_schema) == {"a": [1, 2]}
    assert parse_input("\n  \n", no_schema) == {}


# %replicate_connect


def test_replicate_connect__sandbox_displays_status(ip):
    try:
        with capture_output() as cap:
            ip.run_line_magic("replicate_connect", "sandbox")
        [out] = cap.outputs
        assert current_connection().backend == "sandbox"
        assert out.data["text/plain"].startswith("Connected to the offline sandbox at http://")
    finally:
        disconnect()


def test_replicate_connect__replicate_without_token_is_usage_error(ip, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    with pytest.raises(UsageError, match=r"replicate_nb\.login\(\)"):
        ip.run_line_magic("replicate_connect", "replicate")


def test_replicate_connect__unknown_backend_is_usage_error(ip):
    with pytest.raises(UsageError, match="invalid choice: 'cloud'"):
        ip.run_line_magic("replicate_connect", "cloud")


# formatters and docstrings


def test_formatters__file_output_and_prediction(ip, connected):
    [output] = connected.run(SDXL, input={"prompt": "cat", "width": 64, "height": 48})
    data, _ = ip.display_formatter.format(output)
    assert data["text/plain"].startswith(f"FileOutput(<image/png 64{X}48, ")
    assert "image/png" in data
    prediction = connected.predictions.create(version=HELLO, input={"text": "card"})
    prediction.wait()
    data, _ = ip.display_formatter.format(prediction)
    assert data["text/plain"].startswith("Prediction succeeded: replicate/hello-world:")
    assert data["text/plain"].endswith("output: hello card")
    assert data["text/html"].startswith("<div")


def test_magics_have_one_line_docstrings(ip):
    magics = ip.magics_manager.magics
    for kind, name in (("line", "replicate_connect"), ("cell", "replicate")):
        magic = magics[kind][name]
        summary = magic.parser.description  # magic_arguments puts the usage first in __doc__
        assert "\n" not in summary and summary.endswith(".") and len(summary) < 100
        assert summary in magic.__doc__
