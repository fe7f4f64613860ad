"""watch(): a live card that follows any prediction to its end, cancels it on interrupt or on its
Cancel button, and leaves a static HTML copy for kernel-less viewers."""

from __future__ import annotations

import asyncio

import ipywidgets as w
import pytest

from replicate_nb.card import PredictionCard, async_watch, background_card, cancel_watched, watch

SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
LLAMA = "meta/meta-llama-3-8b-instruct"


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


def sleeper(client, seconds=30):
    version = client.models.get("sandbox/sleep").latest_version.id
    return client.predictions.create(version=version, input={"seconds": seconds})


class Shown:
    """Stands in for IPython's display(): keeps the bundle shown, then each update's."""

    def __init__(self):
        self.bundles = []

    def __call__(self, obj, display_id=False):
        self.bundles.append(obj._repr_mimebundle_())
        return self

    def update(self, obj):
        self.bundles.append(obj._repr_mimebundle_())


def test_watch_follows_to_the_end_and_keeps_a_static_html_copy(client, monkeypatch):
    shown = Shown()
    monkeypatch.setattr("replicate_nb.card.display", shown)
    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "a kite", "width": 64, "height": 64}
    )
    assert watch(prediction, client=client) is prediction
    assert prediction.status == "succeeded" and prediction.output  # the caller's object, updated
    live, final = shown.bundles
    assert "text/html" not in live and live["text/plain"].startswith("PredictionCard(")
    assert "application/vnd.jupyter.widget-view+json" in final  # the live view, and beside it
    assert "<img" in final["text/html"] and "succeeded" in final["text/html"]  # a static copy
    assert final["text/plain"].startswith("Prediction succeeded")
    assert "Cost on Replicate: ~$" in final["text/plain"]  # the estimate stays in the saved card
    assert "(estimate: " in final["text/html"] and 'class="rnb-cost"' in final["text/html"]


def test_a_card_shows_progress_terminal_logs_and_the_output(client):
    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "a kite", "width": 64, "height": 64}
    )
    card = PredictionCard(prediction, client=client)
    asyncio.run(card.follow())
    assert "succeeded" in card.view.status.value and "generated in" in card.view.status.value
    assert card.view.progress.description == "50/50"
    assert card.view.logs.value.count("it/s]") == 1  # 51 tqdm lines drawn as one
    assert '<img src="data:image/png;base64,' in card.view.output.outputs[0]["data"]["text/html"]
    assert card.cancel_button.disabled


def test_streamed_text_is_drawn_on_the_card(client):
    prediction = client.models.predictions.create(
        model=LLAMA, input={"prompt": "the sea", "max_tokens": 400}
    )
    card = PredictionCard(prediction, client=client)
    shown: list[str] = []
    show_text = card.view.show_text
    card.view.show_text = lambda value: (shown.append(value), show_text(value))
    asyncio.run(card.follow())
    assert prediction.status == "succeeded"
    assert shown and shown[-1]  # the stream reader drew it (how many steps depends on timing)
    assert "".join(prediction.output)[:20] in card.view.text.value


def test_cancel_button_cancels_the_watched_prediction(client):
    prediction = sleeper(client)

    async def scenario():
        card = PredictionCard(prediction, client=client)
        task = asyncio.ensure_future(card.follow())
        await asyncio.sleep(0.3)
        card.cancel_button.click()
        return await asyncio.wait_for(task, 20)

    assert asyncio.run(scenario()).status == "canceled"
    assert client.predictions.get(prediction.id).status == "canceled"


def test_interrupting_the_watch_cancels_the_prediction(client):
    prediction = sleeper(client)

    async def scenario():
        task = asyncio.ensure_future(async_watch(prediction, client=client))
        await asyncio.sleep(0.3)
        task.cancel()  # what a kernel interrupt does to the awaiting cell
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    assert client.predictions.get(prediction.id).status == "canceled"


def test_the_interrupt_hook_cancels_background_cards(client, monkeypatch):
    monkeypatch.setattr("replicate_nb.card.display", Shown())
    prediction = sleeper(client)

    async def scenario():
        card = background_card(
            prediction, client=client
        )  # what `%load_ext` shows for a running prediction
        assert card is not None
        await asyncio.sleep(0.3)
        assert cancel_watched() == 1  # a later cell was interrupted
        await asyncio.wait_for(card.task, 20)
        return card

    card = asyncio.run(scenario())
    assert prediction.status == "canceled" and "canceled" in card.view.status.value
    assert background_card(prediction) is None  # an ended prediction gets the static card


def test_a_card_is_cheap_to_build_and_starts_without_a_request(client, monkeypatch):
    # The card's cost per prediction (benchmarks/forms.py): its widgets (each Style and Layout is
    # a widget too, so shared ones count once) and no GET before its first poll.
    from ipywidgets.widgets.widget import _instances
    from replicate.prediction import Predictions

    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "a kite", "width": 64, "height": 64}
    )
    prediction.wait()
    w.Widget.close_all()
    card = PredictionCard(prediction, client=client)
    assert len(_instances) <= 30, sorted(type(x).__name__ for x in _instances.values())
    gets: list[str] = []
    get = Predictions.async_get

    async def counting(self, id):
        gets.append(id)
        return await get(self, id)

    monkeypatch.setattr(Predictions, "async_get", counting)
    asyncio.run(card.follow())  # it has ended: shown as it is
    assert gets == [] and "succeeded" in card.view.status.value
    assert card.view.output.outputs
