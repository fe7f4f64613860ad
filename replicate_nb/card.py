"""`watch(prediction)`: a live card for any prediction, with the run view the form uses.

The card shows the phase (starting, processing, then how it ended), a ticking clock, progress and
a log tail drawn as a terminal draws them, streamed text, a Cancel button, and the output when it
arrives. `watch()` follows the prediction to its end while the cell runs (a kernel interrupt
cancels it); a running `Prediction` displayed with `%load_ext replicate_nb` gets a card that
follows in the background instead, so its Cancel button works. Once the run ends, the card's
display also carries a static HTML rendering (`display.render_prediction`), so nbviewer, GitHub
and `make notebooks` show the result without a kernel.
"""

from __future__ import annotations

import asyncio
import time
from html import escape
from typing import Any

import ipywidgets as widgets
import replicate
from IPython.display import display
from replicate.prediction import Prediction

from replicate_nb import _sdk
from replicate_nb._terms import TERMINAL
from replicate_nb.aio import loop_client, run_sync
from replicate_nb.connection import current_client
from replicate_nb.display import render_prediction
from replicate_nb.forms.field import layout, style
from replicate_nb.forms.layout import backend_of
from replicate_nb.forms.runview import RunView, cost_html, cost_line
from replicate_nb.schema import OutputSpec

_FIELDS = ("status", "output", "logs", "error", "metrics", "started_at", "completed_at", "urls")
_cards: set[PredictionCard] = set()  # cards still following, for the interrupt hook


class PredictionCard(widgets.VBox):
    """A live view of one prediction; `await card.follow()` runs it to the end."""

    def __init__(self, prediction: Prediction, *, client: replicate.Client | None = None) -> None:
        self.prediction = prediction
        self._client = client
        streams = "stream" in (prediction.urls or {})
        spec = OutputSpec(
            {}, is_iterator=streams, is_concatenate=streams, is_file=False, is_file_list=False
        )
        self.view = RunView(spec, lambda text: text)
        self.cancel_button = widgets.Button(description="Cancel", icon="stop")
        self.cancel_button.on_click(lambda _: self._schedule_cancel())
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel_wanted = False
        self.task: asyncio.Future | None = None
        ref = prediction.model or prediction.version or "prediction"
        title = widgets.HTML(
            f"<b>{escape(ref)}</b>", layout=layout("head"), style=style(widgets.HTML)
        )
        super().__init__(
            [widgets.HBox([title, self.cancel_button]), *self.view.parts, self.view.logs],
            layout=widgets.Layout(border="1px solid #8886", padding="4px 8px"),
            _dom_classes=("rnb-card",),
        )
        self.view.say(prediction.status, "", prediction)

    def __repr__(self) -> str:
        return f"PredictionCard({self.prediction.id!r}, {self.prediction.status!r})"

    @property
    def done(self) -> bool:
        """Whether the prediction has ended (succeeded, failed or canceled)."""
        return self.prediction.status in TERMINAL

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = dict(super()._repr_mimebundle_(**kwargs) or {})
        bundle["text/plain"] = repr(self)
        if self.done:  # what a notebook without a kernel (nbviewer, GitHub) shows
            bundle.update(render_prediction(self.prediction, output=self.view.outputs.node))
            bundle["text/html"] += cost_html(self.prediction)  # as the live card showed it
            bundle["text/plain"] += "\n" + cost_line(self.prediction)
        return bundle

    async def follow(self) -> Prediction:
        """Follow the prediction to its end, live; cancelled (Ctrl-C), it cancels the prediction."""
        given = self._client if self._client is not None else current_client()
        client = loop_client(given)
        self._loop, self._cancel_wanted = asyncio.get_running_loop(), False
        _cards.add(self)
        started = time.monotonic()
        self.view.start_clock()
        try:
            current = _sdk.bound(self.prediction, client)  # followed on this loop's client
            await self.view.follow(
                client,
                current,
                sandbox=backend_of(str(_sdk.api_url(given))) == "sandbox",  # its http is built
                started=started,
                cancel_wanted=self._take_cancel,
                reloaded=self._copy,
            )
        finally:
            _cards.discard(self)
            self.view.stop_clock()
            self.cancel_button.disabled = True
        return self.prediction

    def _copy(self, current: Prediction) -> None:
        """Keep the caller's Prediction object up to date (it is theirs: `p.output` works)."""
        for name in _FIELDS:
            setattr(self.prediction, name, getattr(current, name))

    def _schedule_cancel(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._ask_cancel)

    def _ask_cancel(self) -> None:
        self._cancel_wanted = True
        self.view.nudge()

    def _take_cancel(self) -> bool:
        wanted, self._cancel_wanted = self._cancel_wanted, False
        return wanted


async def async_watch(
    prediction: Prediction, *, client: replicate.Client | None = None
) -> Prediction:
    """Show a live card for `prediction` and follow it to its end; returns it, updated.

    Cancelling the awaiting task (a kernel interrupt) cancels the prediction. When the run
    ends, the card's display is refreshed with a static HTML copy for kernel-less viewers.
    """
    card = PredictionCard(prediction, client=client)
    handle = display(card, display_id=True)
    try:
        return await card.follow()
    finally:
        if handle is not None:
            handle.update(card)


def watch(prediction: Prediction, *, client: replicate.Client | None = None) -> Prediction:
    """Show a live card for `prediction` and follow it to its end; returns it, updated.

    A kernel interrupt (Ctrl-C) cancels the prediction. When the run ends, the card's display
    is refreshed with a static HTML copy, so the saved notebook shows the result anywhere.
    """
    card = PredictionCard(prediction, client=client)
    handle = display(card, display_id=True)
    try:
        return run_sync(card.follow())
    finally:
        if handle is not None:
            handle.update(card)


def cancel_watched() -> int:
    """Cancel every prediction a card is following (the kernel-interrupt hook); returns how many."""
    cards = list(_cards)
    for card in cards:
        card._schedule_cancel()
    return len(cards)


def background_card(
    prediction: Prediction, *, client: replicate.Client | None = None
) -> PredictionCard | None:
    """Display a card following a running `prediction` on the running loop (the formatter's
    path: its Cancel button works), refreshed with the static HTML at the end; None when the
    prediction has ended or no loop runs (then the static card is the whole story)."""
    if prediction.status in TERMINAL:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return None
    card = PredictionCard(prediction, client=client)
    handle = display(card, display_id=True)

    async def follow() -> None:
        try:
            await card.follow()
        except Exception as e:  # shown on the card, never left as "exception never retrieved"
            card.view.say("error", f"{type(e).__name__}: {e}")
        finally:
            if handle is not None:
                handle.update(card)

    card.task = asyncio.ensure_future(follow())
    return card
