"""Tests for replicate_nb.display: showing outputs, prediction cards and streaming text."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import Iterator

import httpx
import pytest
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output
from replicate.helpers import FileOutput
from replicate.stream import EventSource

from replicate_nb.connection import connect, disconnect
from replicate_nb.display import (
    async_stream_text,
    describe,
    render_file_output,
    render_prediction,
    show,
    stream_text,
)
from tests.conftest import HELLO
from tests.test_outputs import (
    BINARY,
    FLAC,
    LLAMA,
    MP3,
    MP4,
    OGG,
    SDXL,
    WEBM,
    agen,
    data_uri,
    image,
    wav,
)

SDXL_VERSION = SDXL.partition(":")[2]
X = "\N{MULTIPLICATION SIGN}"  # between width and height in labels


@pytest.fixture(autouse=True)
def shell():
    return globalipapp.get_ipython()


def shown(value) -> list[dict]:
    """The mime bundles that show(value) displays, in order."""
    with capture_output() as cap:
        show(value)
    return [out.data for out in cap.outputs]


# single files


def test_show__png_file_output_is_native_image_with_label(client):
    [output] = client.run(SDXL, input={"prompt": "cat", "width": 64, "height": 48, "seed": 11})
    [bundle] = shown(output)
    assert base64.b64decode(bundle["image/png"]).startswith(b"\x89PNG")
    assert re.fullmatch(rf"<image/png 64{X}48, (\d+ B|\d+\.\d kB)>", bundle["text/plain"])
    assert "text/html" not in bundle


def test_show__jpeg_bytes():
    [bundle] = shown(image("JPEG", (30, 20)))
    assert set(bundle) == {"image/jpeg", "text/plain"}
    assert bundle["text/plain"].startswith(f"<image/jpeg 30{X}20, ")


def test_show__webp_data_uri_uses_html_img():
    [bundle] = shown(data_uri(image("WEBP", (8, 8)), "image/webp"))
    assert bundle["text/html"].startswith('<img src="data:image/webp;base64,')
    assert bundle["text/plain"].startswith(f"<image/webp 8{X}8, ")


@pytest.mark.parametrize(
    ("data", "mime"),
    [(wav(), "audio/wav"), (MP3, "audio/mpeg"), (OGG, "audio/ogg"), (FLAC, "audio/flac")],
)
def test_show__audio_gets_a_player(data, mime):
    [bundle] = shown(data)
    assert bundle["text/html"].startswith(f'<audio controls src="data:{mime};base64,')
    assert re.fullmatch(rf"<{mime}, [\d.]+ k?B>", bundle["text/plain"])


@pytest.mark.parametrize(("data", "mime"), [(MP4, "video/mp4"), (WEBM, "video/webm")])
def test_show__video_gets_a_player(data, mime):
    [bundle] = shown(data_uri(data, "application/octet-stream"))
    assert bundle["text/html"].startswith(f'<video controls src="data:{mime};base64,')
    assert bundle["text/plain"] == f"<{mime}, {len(data)} B>"


def test_show__unknown_bytes_become_a_download_link():
    [bundle] = shown(BINARY)
    assert 'download="output.bin"' in bundle["text/html"]
    assert "application/octet-stream, 2.0 kB" in bundle["text/html"]
    assert bundle["text/plain"] == "<application/octet-stream, 2.0 kB>"


def test_show__url_is_downloaded_and_linked(sb, client):
    png = image(size=(5, 7))
    uploaded = client.files.create(io.BytesIO(png), filename="x.png")
    [bundle] = shown(f"{sb.base_url}/v1/files/{uploaded.id}/download")
    assert bundle["text/plain"] == f"<image/png 5{X}7, {len(png)} B>"


def test_show__unreachable_url_says_so():
    [bundle] = shown("http://127.0.0.1:9/missing.png")
    assert bundle["text/plain"] == (
        "<http://127.0.0.1:9/missing.png: could not download (ConnectError)>"
    )


# text, lists and dicts


def test_show__token_list_is_text(client):
    tokens = client.run(LLAMA, input={"prompt": "hi", "max_tokens": 5})
    assert shown(tokens) == [{"text/plain": "".join(tokens)}]


def test_show__generator_and_async_iterator_are_joined():
    assert shown(iter(["a", "b"])) == [{"text/plain": "ab"}]
    assert shown(agen(["c", "d"])) == [{"text/plain": "cd"}]


def test_show__plain_string_and_none():
    assert shown("hello bob") == [{"text/plain": "hello bob"}]
    assert shown(None) == [{"text/plain": "None"}]


def test_show__image_list_is_one_grid(client):
    outputs = client.run(
        "black-forest-labs/flux-schnell",
        input={"prompt": "cat", "num_outputs": 2, "output_format": "png"},
    )
    [bundle] = shown(outputs)
    html = bundle["text/html"]
    assert html.startswith('<div style="display:flex;flex-wrap:wrap')
    assert html.count("<img ") == 2
    assert re.fullmatch(
        rf"\[<image/png \d+{X}\d+, [\d.]+ kB>, <image/png \d+{X}\d+, [\d.]+ kB>\]",
        bundle["text/plain"],
    )


def test_show__mixed_list_is_a_vertical_sequence():
    bundles = shown([image(), wav(), "caption"])
    assert [sorted(b) for b in bundles] == [
        ["image/png", "text/plain"],
        ["text/html", "text/plain"],
        ["text/plain"],
    ]
    assert bundles[2]["text/plain"] == "caption"


def test_show__numbers_are_one_truncated_text():
    [bundle] = shown([[0.5] * 100])
    assert bundle["text/plain"].endswith(", ...]]")
    assert bundle["text/plain"].count("0.5") == 50


def test_show__dict_is_a_table_of_shown_values():
    [bundle] = shown({"image": data_uri(image(), "image/png"), "caption": "a <cat>", "n": 3})
    html = bundle["text/html"]
    assert html.startswith("<table>")
    assert '<th style="text-align:left;vertical-align:top">image</th>' in html
    assert '<img src="data:image/png;base64,' in html
    assert "a &lt;cat&gt;" in html
    assert bundle["text/plain"].splitlines()[1:] == ["caption: a <cat>", "n: 3"]
    assert bundle["text/plain"].startswith(f"image: <image/png 64{X}48, ")


def test_show__is_deterministic_without_addresses(client):
    value = {
        "files": client.run(SDXL, input={"prompt": "cat", "width": 64, "height": 48, "seed": 1}),
        "text": ["a", "b"],
    }
    first, second = shown(value), shown(value)
    assert first == second
    assert "0x" not in first[0]["text/plain"]


def test_describe__sizes():
    assert describe(b"x" * 999, "application/octet-stream") == "<application/octet-stream, 999 B>"
    assert describe(b"x" * 1234, "text/plain") == "<text/plain, 1.2 kB>"
    assert describe(b"x" * 2_500_000, "text/plain") == "<text/plain, 2.5 MB>"


def test_describe__unreadable_image_has_no_dimensions():
    assert describe(b"not an image", "image/png") == "<image/png, 12 B>"


# formatters' renderers


def test_render_file_output__labels_the_file(client):
    bundle = render_file_output(FileOutput(data_uri(image(), "image/png"), client))
    assert bundle["text/plain"].startswith(f"FileOutput(<image/png 64{X}48, ")
    assert "image/png" in bundle


def test_render_prediction__card_has_status_model_progress_logs_output(client):
    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "x", "width": 64, "height": 64}
    )
    prediction.wait()
    bundle = render_prediction(prediction)
    lines = bundle["text/plain"].splitlines()
    assert re.fullmatch(
        r"Prediction succeeded: stability-ai/sdxl:7762fd07, \d+\.\d\d s, 100% \(50/50\)", lines[0]
    )
    assert lines[1] == "logs (last 10 lines):"
    assert lines[11].strip().startswith("100%|")
    assert re.fullmatch(rf"output: \[<image/png 64{X}64, [\d.]+ k?B>\]", lines[12])
    html = bundle["text/html"]
    assert '<progress value="50" max="50"></progress>' in html
    assert "succeeded" in html and '<img src="data:image/png;base64,' in html


def test_render_prediction__failed_shows_error(client):
    prediction = client.models.predictions.create(model="sandbox/fail", input={})
    prediction.wait()
    bundle = render_prediction(prediction)
    assert bundle["text/plain"].startswith("Prediction failed: sandbox/fail")
    assert f"error: {prediction.error}" in bundle["text/plain"]
    assert "#cf222e" in bundle["text/html"]


def test_render_prediction__running_has_no_time_or_output(client):
    prediction = client.models.predictions.create(model="sandbox/sleep", input={"seconds": 5})
    bundle = render_prediction(prediction)
    assert re.fullmatch(
        r"Prediction (starting|processing): sandbox/sleep:[0-9a-f]{8}",
        bundle["text/plain"].splitlines()[0],
    )
    assert "output:" not in bundle["text/plain"]
    prediction.cancel()


def test_show__prediction_is_a_card(client):
    prediction = client.predictions.create(version=HELLO, input={"text": "bob"})
    prediction.wait()
    [bundle] = shown(prediction)
    assert bundle["text/plain"].endswith("output: hello bob")


# streaming


def test_stream_text__prints_tokens_then_newline_and_returns_text(client, capsys):
    expected = "".join(client.run(LLAMA, input={"prompt": "hi", "max_tokens": 6}))
    result = stream_text(LLAMA, {"prompt": "hi", "max_tokens": 6}, client=client)
    assert result == expected
    assert capsys.readouterr().out == expected + "\n"


def test_stream_text__uses_connected_client_by_default(capsys):
    connect(backend="sandbox")
    try:
        assert stream_text("meta/meta-llama-3-8b-instruct", {"prompt": "hi", "max_tokens": 3})
    finally:
        disconnect()
    assert capsys.readouterr().out.endswith("\n")


class _ErrorStreamClient:
    """A client whose stream is the SDK's own EventSource over a canned error stream."""

    body = (
        b'event: output\nid: 1\ndata: partial\n\nevent: error\nid: 2\ndata: {"detail": "boom"}\n\n'
    )

    def stream(self, ref, *, input=None) -> Iterator:
        response = httpx.Response(
            200, headers={"content-type": "text/event-stream"}, content=self.body
        )
        return iter(EventSource(self, response))


def test_stream_text__error_event_raises_sdk_runtime_error(capsys):
    with pytest.raises(RuntimeError) as info:
        stream_text("any/model", {}, client=_ErrorStreamClient())
    assert type(info.value) is RuntimeError
    assert str(info.value) == '{"detail": "boom"}'
    assert capsys.readouterr().out == "partial\n"


def test_async_stream_text__streams_inside_running_loop(client, capsys):
    expected = "".join(client.run(LLAMA, input={"prompt": "yo", "max_tokens": 4}))

    async def main():
        return await async_stream_text(LLAMA, {"prompt": "yo", "max_tokens": 4}, client=client)

    assert asyncio.run(main()) == expected
    assert capsys.readouterr().out == expected + "\n"
