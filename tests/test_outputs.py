"""Tests for replicate_nb.outputs: joining text outputs, sniffing and reading file outputs."""

from __future__ import annotations

import asyncio
import base64
import io
import wave
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image
from replicate.helpers import FileOutput

from replicate_nb.outputs import (
    File,
    Items,
    Table,
    Text,
    Value,
    async_text,
    files,
    is_file_ref,
    read_output,
    sniff,
    text,
    tree,
)
from tests.conftest import HELLO_VERSION

SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
LLAMA = "meta/meta-llama-3-8b-instruct"

# Minimal headers that `filetype` recognises: the sandbox has no audio or video models.
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(32)
OGG = b"OggS\x00\x02" + bytes(32)
FLAC = b"fLaC\x00\x00\x00\x22" + bytes(32)
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(16)
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm" + bytes(16)
BINARY = bytes(range(256)) * 8


def image(fmt: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def wav(frames: int = 800) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * frames)
    return buf.getvalue()


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


async def agen(items: list) -> AsyncIterator:
    for item in items:
        await asyncio.sleep(0)
        yield item


# text / async_text


def test_text__joins_token_list():
    assert text(["Hello", ",", " world"]) == "Hello, world"


def test_text__joins_generator():
    assert text(t for t in ["a", "b", "c"]) == "abc"


def test_text__joins_async_iterator_from_sync_code():
    assert text(agen(["x", "y"])) == "xy"


def test_text__joins_async_iterator_inside_running_loop():
    async def main():
        return text(agen(["in", " loop"]))

    assert asyncio.run(main()) == "in loop"


def test_async_text__awaits_async_iterator_and_accepts_lists():
    async def main():
        return await async_text(agen(["a", "b"])), await async_text(["c", "d"])

    assert asyncio.run(main()) == ("ab", "cd")


def test_text__str_and_none():
    assert text("already text") == "already text"
    assert text(None) == ""


def test_text__turns_url_token_back_into_text(client):
    token = FileOutput("https://example.com/x", client)
    assert text(["see ", token]) == "see https://example.com/x"


def test_text__joins_llm_run_output(client):
    tokens = client.run(LLAMA, input={"prompt": "hi", "max_tokens": 5})
    assert isinstance(tokens, list)
    assert text(tokens) == "".join(tokens)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ({"a": 1}, "dict"),
        (b"raw", "bytes"),
        (42, "int"),
    ],
)
def test_text__rejects_non_text_with_guidance(value, words):
    with pytest.raises(TypeError, match=words) as info:
        text(value)
    assert "show()" in str(info.value) or "pass a str" in str(info.value)


def test_text__names_unawaited_coroutine():
    coro = async_text(["a"])
    with pytest.raises(TypeError, match="await"):
        text(coro)
    coro.close()


def test_text__names_bad_token_index():
    with pytest.raises(TypeError, match="item 1 is a int"):
        text(["ok", 3])


def test_text__rejects_file_output(client):
    with pytest.raises(TypeError, match="read_output"):
        text(FileOutput("data:text/plain;base64,aGk=", client))


# sniff


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (image("PNG"), "image/png"),
        (image("JPEG"), "image/jpeg"),
        (image("WEBP"), "image/webp"),
        (image("GIF"), "image/gif"),
        (wav(), "audio/wav"),
        (MP3, "audio/mpeg"),
        (OGG, "audio/ogg"),
        (FLAC, "audio/flac"),
        (MP4, "video/mp4"),
        (WEBM, "video/webm"),
        (b'{"caption": "a cat"}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"[not json", "text/plain"),
        ("héllo wörld\n".encode(), "text/plain"),
        (BINARY, "application/octet-stream"),
        (b"\xff\xfe\xfa", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_sniff__by_content(data, mime):
    assert sniff(data) == mime


# read_output


def test_read_output__bytes():
    png = image()
    assert read_output(png) == (png, "image/png")


def test_read_output__data_uri_sniffs_content_over_declared_type():
    png = image()
    assert read_output(data_uri(png, "application/octet-stream")) == (png, "image/png")


def test_read_output__data_uri_uses_declared_type_when_content_is_opaque():
    assert read_output(data_uri(BINARY, "application/x-thing")) == (BINARY, "application/x-thing")


def test_read_output__percent_encoded_data_uri():
    assert read_output("data:,Hello%2C%20World") == (b"Hello, World", "text/plain")


def test_read_output__file_output_from_run(client):
    [output] = client.run(SDXL, input={"prompt": "cat", "width": 64, "height": 48})
    assert isinstance(output, FileOutput)
    data, mime = read_output(output)
    assert mime == "image/png"
    assert Image.open(io.BytesIO(data)).size == (64, 48)


def test_read_output__sandbox_file_url(sb, client):
    png = image(size=(10, 12))
    uploaded = client.files.create(io.BytesIO(png), filename="x.png")
    url = f"{sb.base_url}/v1/files/{uploaded.id}/download"
    assert read_output(url) == (png, "image/png")


def test_read_output__missing_url_raises_http_error(sb):
    with pytest.raises(httpx.HTTPStatusError):
        read_output(f"{sb.base_url}/v1/files/does-not-exist/download")


def test_read_output__plain_text_is_value_error():
    with pytest.raises(ValueError, match="URL or a data: URI"):
        read_output("just words")


def test_read_output__other_types_are_type_error():
    with pytest.raises(TypeError, match="got a list"):
        read_output([1, 2])


def test_is_file_ref(client):
    assert is_file_ref("data:,x")
    assert is_file_ref("https://example.com/a.png")
    assert is_file_ref(FileOutput("https://example.com/a.png", client))
    assert not is_file_ref("hello")
    assert not is_file_ref(b"bytes")


# tree: any output read once into one small value tree


def files_client(seen: list[str], content: bytes = b"", status: int = 200):
    """A 1.x client whose file downloads go to a mock transport that records each URL."""
    import replicate

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(status, content=content)

    return replicate.Client(
        "t", base_url="https://api.example", transport=httpx.MockTransport(handle)
    )


def test_tree__every_kind_of_output_becomes_one_tree():
    seen: list[str] = []
    png = image()
    remote = FileOutput("https://files.example/out/a.png", files_client(seen, png))
    output = {
        "images": [remote, data_uri(png, "image/png")],
        "caption": iter(["a ", "red ", "square"]),
        "score": 0.5,
        "vector": [1, 2.5],
        "none": {},
    }
    node = tree(output)
    assert node == Table(
        (
            (
                "images",
                Items(
                    (
                        File(png, "image/png", "https://files.example/out/a.png"),
                        File(png, "image/png"),
                    )
                ),
            ),
            ("caption", Text("a red square")),
            ("score", Value(0.5)),
            ("vector", Value([1, 2.5])),
            ("none", Value({})),
        )
    )
    assert [f.url for f in files(node)] == ["https://files.example/out/a.png", None]
    assert seen == ["https://files.example/out/a.png"]


def test_tree__reads_each_file_once_and_rendering_it_reads_nothing():
    from replicate_nb.display import read, render_tree

    seen: list[str] = []
    client = files_client(seen, image())
    output = [FileOutput(f"https://files.example/{i}.png", client) for i in range(3)]
    node = read(output)
    assert len(seen) == 3
    first = render_tree(node)
    assert render_tree(node) == first and files(node) and len(seen) == 3  # no second trip
    assert first[0]["text/plain"].startswith("[<image/png 64")


def test_tree__a_failed_download_is_a_file_that_says_why():
    seen: list[str] = []
    node = tree(FileOutput("https://files.example/gone.png", files_client(seen, status=404)))
    assert node == File(b"", "application/octet-stream", "https://files.example/gone.png",
                        error="HTTPStatusError")  # fmt: skip


def test_tree__a_large_download_stops_at_the_limit_and_keeps_its_url():
    seen: list[str] = []
    client = files_client(seen, MP4 + bytes(5000))
    node = tree(FileOutput("https://files.example/v.mp4", client), limit=1000)
    assert isinstance(node, File) and node.truncated and node.url == "https://files.example/v.mp4"
    assert tree(data_uri(MP4 + bytes(5000), "video/mp4"), limit=1000).truncated is False


class Stream:
    """Iterable with no length, as replicate 2.x's OutputIterator is."""

    def __init__(self, items):
        self.items = items

    def __iter__(self):
        return iter(self.items)


def test_tree__a_lengthless_iterable_is_read_as_a_stream_and_a_prediction_is_a_value(client):
    assert tree(Stream(["to", "ken"])) == Text("token")
    assert tree(Stream([1, 2])) == Value([1, 2])
    prediction = client.predictions.create(version=HELLO_VERSION, input={"text": "x"})
    assert tree(prediction) == Value(
        prediction
    )  # a pydantic model iterates its fields: not a stream
    assert tree({1, 2}) == Value({1, 2})


@pytest.mark.parametrize(
    ("file", "index", "name"),
    [
        (File(b"", "image/png", "https://x.example/o/out-0.png?sig=1"), 0, "out-0.png"),
        (File(b"", "image/png", "https://x.example/o/"), 2, "output-2.png"),
        (File(b"", "image/jpeg"), 0, "output.jpg"),
        (File(b"", "application/json"), 1, "output-1.json"),
        (File(b"", "application/x-thing"), 0, "output.bin"),
        (File(b"", "audio/wav"), 0, "output.wav"),
    ],
)
def test_file_filename(file, index, name):
    assert file.filename(index) == name
