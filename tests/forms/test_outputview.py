"""The output view of the form and the card: each file can be opened, downloaded, its URL copied."""

from __future__ import annotations

import asyncio
import base64
import json

import ipywidgets as w
import pytest
from replicate.helpers import FileOutput

from replicate_nb.card import PredictionCard
from replicate_nb.forms.front import CopyButton
from replicate_nb.forms.outputview import FileActions, OutputView
from tests.test_outputs import data_uri, files_client, image

SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


def rows(view: OutputView) -> list[list[w.Widget]]:
    return [list(row.children) for row in view.files.children]


def test_each_file_gets_open_and_download__https_files_also_copy_url():
    png = image()
    seen: list[str] = []
    remote = FileOutput("https://files.example/out/cat.png", files_client(seen, png))
    view = OutputView(w.HTML())
    asyncio.run(view.show([remote, data_uri(png, "image/png")]))
    (https, copy, _), (inline, _) = rows(view)
    assert isinstance(https, FileActions) and isinstance(copy, CopyButton)
    assert (https.name, https.mime, https.url) == ("cat.png", "image/png", remote.url)
    assert (copy.text, copy.label) == (remote.url, "Copy URL")
    assert isinstance(inline, FileActions)
    assert (inline.name, inline.mime, inline.url) == ("output-2.png", "image/png", "")
    assert len(view.output.outputs) == 1 and seen == [remote.url]  # read once


def test_a_data_file_reaches_the_browser_only_when_a_button_asks():
    png = image()
    view = OutputView(w.HTML())
    asyncio.run(view.show(data_uri(png, "image/png")))
    [[actions, _]] = rows(view)
    state = {k: v for k, v in actions.get_state().items() if k != "_esm"}
    assert {k: state[k] for k in ("name", "mime", "url")} == {
        "name": "output.png",
        "mime": "image/png",
        "url": "",
    }
    assert base64.b64encode(png)[8:40].decode() not in json.dumps(state, default=str)
    sent = []
    actions.send = lambda content, buffers=None: sent.append((content, buffers))
    actions._received(actions, {"event": "download"}, [])
    actions._received(actions, {"event": "other"}, [])
    assert sent == [({"event": "download", "mime": "image/png"}, [png])]


def test_an_https_file_keeps_no_bytes_in_python():
    seen: list[str] = []
    remote = FileOutput("https://files.example/a.png", files_client(seen, image()))
    view = OutputView(w.HTML())
    asyncio.run(view.show(remote))
    [[actions, _, _]] = rows(view)
    sent = []
    actions.send = lambda content, buffers=None: sent.append(buffers)
    actions._received(actions, {"event": "open"}, [])
    assert sent == [[b""]]  # the browser opens the URL itself; nothing to hand over


def test_a_failed_download_gets_no_actions():
    view = OutputView(w.HTML())
    seen: list[str] = []
    asyncio.run(view.show(FileOutput("https://files.example/x", files_client(seen, status=500))))
    assert rows(view) == [] and "could not download" in str(view.output.outputs)


def test_the_json_view_hides_the_files_too():
    view = OutputView(w.HTML())
    asyncio.run(view.show(data_uri(image(), "image/png")))
    view.mode.value = "JSON"
    assert view.files.layout.display == "none" and view.output.layout.display == "none"
    view.mode.value = "Preview"
    assert view.files.layout.display == "" and view.clear() is None and rows(view) == []


def test_the_card_shows_file_actions_under_an_image_output(client):
    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "a kite", "width": 64, "height": 64}
    )
    card = PredictionCard(prediction, client=client)
    asyncio.run(card.follow())
    [[actions, label]] = rows(card.view.outputs)
    assert actions.name == "output.png" and actions.url == ""  # the sandbox answers data: URIs
    assert "output.png · image/png" in label.value
    assert card.view.outputs.files in card.children


def test_the_cards_static_copy_renders_the_tree_its_view_read(client):
    from replicate.prediction import Prediction

    seen: list[str] = []
    remote = FileOutput("https://files.example/a.png", files_client(seen, image()))
    prediction = Prediction(
        id="p1", model="o/n", version="v1", status="succeeded", output=[remote], urls={}
    )
    card = PredictionCard(prediction, client=client)
    asyncio.run(card.view.outputs.show(prediction.output))
    assert seen == [remote.url]
    bundle = card._repr_mimebundle_()
    assert bundle["text/plain"].startswith("Prediction succeeded") and "<img" in bundle["text/html"]
    assert seen == [remote.url]  # the static copy did not download the file again
