"""show(), text() and %load_ext's formatters with replicate 2.x outputs: URLPath, FileOutput and
OutputIterator, read by their URL and never by `str()` (which makes a URLPath download itself).

Every request any httpx client sends is recorded (the 2.x client, URLPath's own download and
replicate_nb's downloader all go through `httpx.HTTPTransport`), so each test states exactly
which downloads happened: one, by replicate_nb, without credentials, or none.
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import replicate
from IPython.testing import globalipapp
from IPython.utils.capture import capture_output
from PIL import Image
from replicate.lib._predictions_use import URLPath

from replicate_nb import show, text
from replicate_nb.display import render_parts

from .conftest import TOKEN

LLAMA = "meta/meta-llama-3-8b-instruct"


class Sent(list):
    """(method, url, carried Authorization) of every request sent meanwhile."""

    def downloads(self) -> list[tuple[str, str, bool]]:
        return [s for s in self if s[1].endswith("/download")]


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Sent:
    seen = Sent()
    original = httpx.HTTPTransport.handle_request

    def record(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
        seen.append((request.method, str(request.url), "authorization" in request.headers))
        return original(self, request)

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", record)
    return seen


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (20, 120, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def file_url(r2) -> str:
    """An http URL of a PNG on the sandbox, as the real API's https file outputs are."""
    created = r2.files.create(content=("out.png", png(), "image/png"))
    return f"{created.urls.get}/download"


def temp_copy(path: URLPath) -> Path:
    """Where URLPath would download itself (only `__fspath__`/`str()` write it)."""
    return object.__getattribute__(path, "__path__")


def test_show_reads_a_urlpath_once_by_its_url_and_never_through_its_own_download(file_url, sent):
    path = URLPath(file_url)
    assert repr(path).startswith("<URLPath url=") and sent == []  # repr downloads nothing
    [bundle] = render_parts(path)
    assert bundle["text/plain"] == f"<image/png 8\N{MULTIPLICATION SIGN}6, {len(png())} B>"
    assert sent.downloads() == [("GET", file_url, False)]  # one read, no token
    with capture_output() as shown:
        show([path, path])
    assert "<image/png 8" in shown.stdout
    assert len(sent.downloads()) == 3  # one per file shown: no second trip per value
    assert not temp_copy(path).exists()  # URLPath's own download (str()) never ran


def test_text_of_urlpaths_gives_their_urls_without_a_request(file_url, sent):
    assert text([URLPath(file_url), " and ", URLPath(file_url)]) == f"{file_url} and {file_url}"
    assert sent == []


def test_show_of_a_2x_file_output_sends_no_token_to_the_file_host(r2, file_url, sent):
    output = replicate.FileOutput(file_url, r2)  # its read() would send the client's token
    [bundle] = render_parts(output)
    assert bundle["text/plain"].startswith("<image/png 8")
    assert sent.downloads() == [("GET", file_url, False)]
    assert TOKEN not in str(bundle)


def test_show_of_a_2x_run_output_decodes_its_data_uri_locally(r2, sent):
    [output] = r2.run(
        "black-forest-labs/flux-schnell",
        input={"prompt": "a kite", "megapixels": "0.25", "output_format": "png"},
    )
    assert isinstance(output, replicate.FileOutput)
    sent.clear()
    [bundle] = render_parts(output)
    assert bundle["text/plain"].startswith("<image/png 512")
    assert sent == []  # a data: URI: nothing to download


def test_text_and_show_of_a_2x_output_iterator(sb2):
    tokens = replicate.use(LLAMA, streaming=True)(prompt="Say hi", max_tokens=8)
    assert type(tokens).__name__ == "SyncOutputIterator"
    said = text(tokens)
    assert said and said == "".join(tokens)
    [bundle] = render_parts(tokens)
    assert bundle["text/plain"] == said


@pytest.fixture
def ipython():
    ip = globalipapp.get_ipython()
    ip.run_line_magic("load_ext", "replicate_nb")
    return ip


def test_load_ext_formats_urlpath_file_output_and_iterator(ipython, r2, file_url, sent, sb2):
    path = URLPath(file_url)
    data, _ = ipython.display_formatter.format(path)
    assert data["text/plain"].startswith("URLPath(<image/png 8")
    assert "image/png" in data and not temp_copy(path).exists()
    assert sent.downloads() == [("GET", file_url, False)]
    data, _ = ipython.display_formatter.format(replicate.FileOutput(file_url, r2))
    assert data["text/plain"].startswith("FileOutput(<image/png 8")
    tokens = replicate.use(LLAMA, streaming=True)(prompt="Say hi", max_tokens=8)
    data, _ = ipython.display_formatter.format(tokens)
    assert data["text/plain"] == "".join(tokens)
    data, _ = ipython.display_formatter.format(Path("/tmp"))  # other paths: as before
    assert data["text/plain"] == repr(Path("/tmp"))
    assert len(sent.downloads()) == 2


def test_the_display_helpers_import_without_the_1x_modules():
    code = (
        "import sys\n"
        "import replicate_nb.display, replicate_nb.outputs, replicate_nb.magics\n"
        "from replicate_nb import show, text\n"
        "print(sorted(m for m in sys.modules if m in "
        "{'replicate_nb._sdk', 'replicate_nb.connection', 'replicate.helpers'}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
