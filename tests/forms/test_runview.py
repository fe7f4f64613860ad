"""RunView live: the form and the card follow a prediction through its stream when it streams,
poll fast otherwise (so `processing` is seen), and tick the clock several times a second."""

from __future__ import annotations

import asyncio
import re

import ipywidgets as w
import pytest

from replicate_nb.card import PredictionCard
from replicate_nb.forms import form
from replicate_nb.forms.runview import RunView, poll_every

SDXL = "stability-ai/sdxl"
SDXL_VERSION = "7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"
LLAMA = "meta/meta-llama-3-8b-instruct"
SDK_POLL = 0.5  # replicate.Client's own poll_interval, what `connect()` leaves in place


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


@pytest.fixture
def sdk_client(client):
    """The session sandbox's client with the SDK's default poll interval, as users have it."""
    client.poll_interval = SDK_POLL
    return client


def record_phases(view: RunView) -> list[str]:
    """The phases the status line showed, in order, without repeats."""
    phases: list[str] = []
    say = view.say

    def recording(status, detail, prediction=None):
        if not phases or phases[-1] != status:
            phases.append(status)
        say(status, detail, prediction)

    view.say = recording
    return phases


def record_text(view: RunView) -> list[tuple[str, int]]:
    """(phase, length) each time the streamed text was redrawn."""
    drawn: list[tuple[str, int]] = []
    show_text = view.show_text
    view.show_text = lambda value: (drawn.append((view.phase, len(value))), show_text(value))
    return drawn


def test_the_sandbox_is_polled_fast_and_the_real_api_politely():
    sandbox = poll_every(0.0, sandbox=True, streaming=False, client_interval=SDK_POLL)
    assert 0.05 <= sandbox <= 0.25
    assert poll_every(1.0, sandbox=False, streaming=False, client_interval=SDK_POLL) == 0.25
    assert poll_every(30.0, sandbox=False, streaming=False, client_interval=SDK_POLL) == SDK_POLL
    assert poll_every(1.0, sandbox=False, streaming=True, client_interval=SDK_POLL) == SDK_POLL
    assert poll_every(1.0, sandbox=True, streaming=False, client_interval=0.02) == 0.02  # yours


def test_a_form_run_that_does_not_stream_is_seen_processing(sdk_client):
    # sdxl's stand-in processes for 50 steps of a few ms: a 0.5 s poll jumps from starting to
    # succeeded; the form's sandbox poll (0.1 s) sees the model at work.
    async def scenario():
        f = form(SDXL, client=sdk_client)
        phases = record_phases(f.view)
        f.set(prompt="a lighthouse", width=64, height=64)
        return await f.submit(), phases

    prediction, phases = asyncio.run(scenario())
    assert prediction.status == "succeeded"
    assert phases == ["starting", "processing", "succeeded"], phases


def test_a_card_on_a_run_that_does_not_stream_is_seen_processing(sdk_client):
    prediction = sdk_client.predictions.create(  # 100 steps: processing for about 0.3 s
        version=SDXL_VERSION,
        input={"prompt": "a kite", "width": 64, "height": 64, "num_inference_steps": 100},
    )
    card = PredictionCard(prediction, client=sdk_client)
    phases = record_phases(card.view)
    asyncio.run(card.follow())
    assert prediction.status == "succeeded"
    assert "processing" in phases and phases[-1] == "succeeded", phases


def test_streamed_text_grows_in_place_while_the_status_says_processing(sdk_client):
    async def scenario():
        f = form(LLAMA, client=sdk_client)
        text_widget = f.view.text
        drawn = record_text(f.view)
        f.set(prompt="Tell me about the ocean", max_tokens=300, min_tokens=300)
        prediction = await f.submit()
        return f, prediction, drawn, text_widget

    f, prediction, drawn, text_widget = asyncio.run(scenario())
    assert prediction.status == "succeeded"
    growing = [(phase, length) for phase, length in drawn if length and phase != "succeeded"]
    lengths = [length for _, length in growing]
    assert len(set(lengths)) >= 3, drawn  # token by token (a few at a time), not all at once
    assert lengths == sorted(lengths)  # it only grows
    assert {phase for phase, _ in growing} == {"processing"}, drawn  # never under "starting"
    assert f.view.text is text_widget and f.text.layout.display == ""  # the same widget, grown


def test_a_card_streams_text_under_processing(sdk_client):
    async def scenario():
        prediction = await asyncio.to_thread(  # created, then followed at once
            sdk_client.models.predictions.create,
            model=LLAMA,
            input={"prompt": "Tell me about the ocean", "max_tokens": 300, "min_tokens": 300},
        )
        card = PredictionCard(prediction, client=sdk_client)
        drawn = record_text(card.view)
        await card.follow()
        return drawn

    drawn = asyncio.run(scenario())
    growing = [(phase, length) for phase, length in drawn if length and phase != "succeeded"]
    assert len({length for _, length in growing}) >= 3, drawn
    assert {phase for phase, _ in growing} == {"processing"}, drawn


def test_the_elapsed_time_ticks_several_times_a_second(sdk_client):
    seen: list[str] = []

    async def scenario():
        f = form("sandbox/sleep", client=sdk_client)
        f.set(seconds=1)
        f.view.status.observe(lambda change: seen.append(change["new"]), "value")
        return await f.submit()

    assert asyncio.run(scenario()).status == "succeeded"
    clock = {m.group(1) for v in seen if (m := re.search(r"· (\d+\.\d) s", v))}
    assert len(clock) >= 5, seen  # a 1 s run shows at least 5 readings of its clock


# what it would cost on the real API (issue 14): shown once a run ends, labelled an estimate


def cost_line(view: RunView) -> str:
    [line] = re.findall(r'<div class="rnb-cost"[^>]*>(.*?)</div>', view.status.value)
    return line


def test_a_form_run_shows_its_estimated_cost_once_it_ends(client):
    async def scenario():
        f = form(SDXL, client=client)
        f.set(prompt="a lighthouse", width=64, height=64)
        f.button.click()
        await asyncio.sleep(0)
        assert "rnb-cost" not in f.view.status.value  # not while it runs
        return f, await f.task

    f, prediction = asyncio.run(scenario())
    line = cost_line(f.view)
    assert prediction.status == "succeeded"
    assert line.startswith("Cost on Replicate: ~$") and "(estimate: " in line
    assert "on Nvidia L40S GPU" in line  # sdxl is billed for its time on its hardware
    assert 'title="Community model' in f.view.status.value  # where the price comes from


def test_a_language_model_run_is_priced_per_token(client):
    async def scenario():
        f = form(LLAMA, client=client)
        f.set(prompt="Tell me about the ocean", max_tokens=40)
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    tokens = prediction.metrics["output_token_count"]
    assert f"{tokens:g} output tokens" in cost_line(f.view) and "estimate" in cost_line(f.view)


def test_a_card_shows_the_estimated_cost(client):
    prediction = client.predictions.create(
        version=SDXL_VERSION, input={"prompt": "a kite", "width": 64, "height": 64}
    )
    card = PredictionCard(prediction, client=client)
    asyncio.run(card.follow())
    assert cost_line(card.view).startswith("Cost on Replicate: ~$")
    assert "(estimate: " in cost_line(card.view)


def test_a_model_without_a_price_says_so_instead_of_a_figure(fresh_sb, fresh_client):
    def echo(text: str) -> str:
        return text

    fresh_sb.register("me/echo", echo)

    async def scenario():
        f = form("me/echo", client=fresh_client)
        f.set(text="hi")
        return f, await f.submit()

    f, prediction = asyncio.run(scenario())
    assert prediction.status == "succeeded"
    assert cost_line(f.view) == "Cost on Replicate: no price on record for this model (no estimate)"
    assert "$" not in f.view.status.value
