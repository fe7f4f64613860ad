"""What a run shows while it goes: phase and a ticking clock, progress, logs, streamed text, output.

Kept apart from `forms.ModelForm`, which owns the inputs and the lifecycle, so the view of a
prediction can be read (and reused) on its own: the form and the card both follow a prediction
with `RunView.follow`. The clock ticks on its own task between polls, streamed text and log
events are shown as they arrive, and logs are drawn as a terminal draws them
(`display.terminal_text`).

How often it polls (`poll_every`): a model that streams is followed through its stream URL
(tokens and logs as server-sent events, and a poll at once when the stream ends), so polls only
refresh the status meanwhile. Otherwise the sandbox, on this machine, is polled every 0.1 s;
the real API every 0.25 s for a prediction's first 5 s and then every 0.5 s (the SDK's own
`wait()` pace), far below Replicate's limit of 3,000 GETs a minute. A client whose
`poll_interval` is lower than that is polled at its own pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from html import escape
from typing import Any

import httpx
import ipywidgets as widgets
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction
from replicate.stream import ServerSentEvent

from replicate_nb import costs
from replicate_nb._terms import GREY, RED, TERMINAL, status_colour
from replicate_nb.display import terminal_text
from replicate_nb.forms.field import layout, style
from replicate_nb.forms.outputview import OutputView
from replicate_nb.outputs import text
from replicate_nb.schema import OutputSpec

TICK = 0.1  # seconds between clock updates while a run goes
SANDBOX_POLL = 0.1  # seconds between polls of a sandbox prediction that does not stream
API_POLLS = ((5.0, 0.25), (float("inf"), 0.5))  # the real API: (until this age, poll every)
STREAMING_POLL = 0.25, 0.5  # sandbox, real API: status polls while the stream brings the rest
_TEXT_EVERY = 0.05  # seconds between refreshes of streamed text
_LOG_CHARS = 20_000
_OUTPUT = ServerSentEvent.EventType.OUTPUT
_LOGS = ServerSentEvent.EventType.LOGS
_STALE = "rnb-stale"


def hidden() -> widgets.Layout:
    """A layout that starts hidden (shown once there is something to show)."""
    return widgets.Layout(display="none")


def poll_every(age: float, *, sandbox: bool, streaming: bool, client_interval: float) -> float:
    """Seconds to the next poll of a prediction `age` seconds old (see the module docstring)."""
    if streaming:
        ours = STREAMING_POLL[0] if sandbox else STREAMING_POLL[1]
    else:
        ours = SANDBOX_POLL if sandbox else next(every for until, every in API_POLLS if age < until)
    return min(ours, client_interval)


def cost_line(p: Prediction) -> str:
    """What an ended run would cost on Replicate, labelled an estimate; for a model the price
    table does not know, a short "no price" line instead of a made-up figure."""
    if not costs.priced(p.model):
        return "Cost on Replicate: no price on record for this model (no estimate)"
    return f"Cost on Replicate: {costs.estimate(p)}"


def cost_html(p: Prediction) -> str:
    """`cost_line` as HTML, the price's source as its tooltip."""
    title = f' title="{escape(costs.estimate(p).source)}"' if costs.priced(p.model) else ""
    return (
        f'<div class="rnb-cost" style="color:{GREY};font-size:smaller"{title}>'
        f"{escape(cost_line(p))}</div>"
    )


class RunView:
    """The widgets that show one prediction as it runs; `redact` hides secrets in any text."""

    def __init__(self, output_spec: OutputSpec, redact: Callable[[str], str]) -> None:
        self._spec = output_spec
        self._redact = redact
        _html = style(widgets.HTML)  # shared: every Style and Layout is a widget of its own
        _plain = {"layout": layout("head"), "style": _html}
        self.status = widgets.HTML(**_plain, _dom_classes=("rnb-status",))
        self.progress = widgets.FloatProgress(min=0, max=1, layout=hidden())
        self.notice = widgets.HTML(layout=hidden(), style=_html, _dom_classes=("rnb-notice",))
        self.text = widgets.HTML(layout=hidden(), style=_html, _dom_classes=("rnb-stream",))
        self.outputs = OutputView(self.text)
        self.output, self.json, self.mode = (
            self.outputs.output,
            self.outputs.json,
            self.outputs.mode,
        )
        self.logs = widgets.HTML(**_plain, _dom_classes=("rnb-logs",))
        self.phase = ""
        self._detail = ""
        self._prediction: Prediction | None = None
        self._started: float | None = None
        self._clock: asyncio.Task | None = None
        self._streamed_logs = ""
        self._wake: asyncio.Event | None = None

    @property
    def parts(self) -> list[widgets.Widget]:
        """The view's widgets, top to bottom (logs apart: the form places them)."""
        row = widgets.HBox([self.status, self.progress], layout=widgets.Layout(flex_flow="wrap"))
        return [row, self.notice, self.mode, self.text, self.output, self.outputs.files, self.json]

    def clear(self) -> None:
        """Forget the previous run."""
        self.progress.layout.display = self.text.layout.display = "none"
        self.notice.layout.display = "none"
        self.text.value = self.logs.value = self.notice.value = ""
        self.outputs.clear()
        self.output.remove_class(_STALE)
        self.text.remove_class(_STALE)
        self._streamed_logs = ""
        self._prediction = None

    def mark_stale(self, why: str) -> None:
        """Say that what is shown is the previous run's output, dimmed, and why it stayed."""
        if not (self.output.outputs or self.text.value):
            return
        self.output.add_class(_STALE)
        self.text.add_class(_STALE)
        self.progress.layout.display = "none"
        self.notice.value = (
            f'<div role="status" style="color:{RED}">{escape(why)}: the output below is from '
            "the previous run.</div>"
        )
        self.notice.layout.display = ""

    def say(self, status: str, detail: str, prediction: Prediction | None = None) -> None:
        """The status line: status, a detail, the prediction id and its error."""
        self.phase, self._detail, self._prediction = status, detail, prediction
        self._render()

    def _render(self) -> None:
        colour = status_colour(self.phase)
        detail = self._detail
        if self._clock is not None and self._started is not None:
            detail = f"{time.monotonic() - self._started:.1f} s"
        html = f'<b style="color:{colour}">{escape(self.phase)}</b> · {escape(detail)}'
        p = self._prediction
        if p is not None:
            predict_time = (p.metrics or {}).get("predict_time")
            if p.status == "succeeded" and isinstance(predict_time, int | float):
                html += f" · generated in {predict_time:.2f} s"
            html += f" · <code>{escape(p.id)}</code>"
            web = (p.urls or {}).get("web", "")
            if web.startswith("https://"):
                html += f' <a href="{escape(web)}" target="_blank" rel="noopener">web</a>'
            if p.error:
                html += f'<div style="color:{RED}">{escape(self._redact(str(p.error)))}</div>'
            if p.status in TERMINAL:
                html += cost_html(p)
        self.status.value = html

    def start_clock(self) -> None:
        """Tick the elapsed time in the status line every 0.1 s until `stop_clock`."""
        self._started = time.monotonic()
        self.stop_clock()
        self._clock = asyncio.ensure_future(self._tick())

    def stop_clock(self) -> float:
        """Stop the ticking clock; returns the seconds since `start_clock`."""
        clock, self._clock = self._clock, None
        if clock is not None:
            clock.cancel()
            self._render()
        return time.monotonic() - self._started if self._started is not None else 0.0

    async def _tick(self) -> None:
        while True:
            self._render()
            await asyncio.sleep(TICK)

    async def follow(
        self,
        client: replicate.Client,
        prediction: Prediction,
        *,
        sandbox: bool,
        started: float,
        cancel_wanted: Callable[[], bool],
        reloaded: Callable[[Prediction], object] = lambda _: None,
    ) -> Prediction:
        """Follow `prediction` to its end, live, then show its output; returns it, reloaded.

        Streamed when the model streams, polled at `poll_every` otherwise. `cancel_wanted()` is
        asked before every poll (True: cancel it on the server); `nudge()` polls at once;
        `reloaded` sees each reload. Cancelled itself (Ctrl-C), it cancels the prediction.
        """
        self._wake = asyncio.Event()
        streams = self._spec.is_concatenate and "stream" in (prediction.urls or {})
        reader = None
        if streams and prediction.status not in TERMINAL:
            reader = asyncio.ensure_future(self._stream_then_poll(prediction))
        try:
            while True:
                if cancel_wanted() and prediction.status not in TERMINAL:
                    await client.predictions.async_cancel(prediction.id)
                self.show_progress(prediction, time.monotonic() - started, live=not streams)
                if prediction.status in TERMINAL:
                    break
                pause = poll_every(
                    time.monotonic() - started,
                    sandbox=sandbox,
                    streaming=reader is not None and not reader.done(),
                    client_interval=client.poll_interval,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), pause)
                self._wake.clear()
                await prediction.async_reload()
                reloaded(prediction)
        except asyncio.CancelledError:  # Ctrl-C or the task cancelled: leave nothing running
            if prediction.status not in TERMINAL:
                await asyncio.shield(client.predictions.async_cancel(prediction.id))
            raise
        finally:
            self._wake = None
            if reader is not None:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)
        await self.show_output(prediction)
        return prediction

    def nudge(self) -> None:
        """Poll now rather than at the next interval (a cancel was asked; the stream ended)."""
        if self._wake is not None:
            self._wake.set()

    async def _stream_then_poll(self, prediction: Prediction) -> None:
        await self.read_stream(prediction)
        self.nudge()  # the stream ended: the prediction has too, or is about to

    async def read_stream(self, prediction: Prediction) -> None:
        """Show streamed text and logs as they arrive; polling reports the end."""
        pieces: list[str] = []
        shown = 0.0
        try:
            async for event in prediction.async_stream():
                if self.phase == "starting" and event.event in (_OUTPUT, _LOGS):
                    self.say("processing", self._detail, prediction)  # the model is running
                if event.event is _OUTPUT:
                    pieces.append(str(event.data))
                    if time.monotonic() - shown >= _TEXT_EVERY:
                        self.show_text("".join(pieces))
                        shown = time.monotonic()
                elif event.event is _LOGS:
                    line = str(event.data)  # one line a event: SSE framing drops its "\n"
                    self._streamed_logs += line if line.endswith("\n") else line + "\n"
                    self._show_logs(self._streamed_logs)
        except (RuntimeError, httpx.HTTPError, ReplicateError):
            pass  # an error event or a dropped stream: polling reports the outcome
        self.show_text("".join(pieces))

    def show_progress(self, p: Prediction, elapsed: float, *, live: bool) -> None:
        """Status, progress bar and log tail; `live` also shows text outputs as they grow."""
        if not (self.phase == "processing" and p.status == "starting"):  # the stream knows better
            self.say(p.status, f"{elapsed:.1f} s", p)
        progress = p.progress
        if progress is not None:
            self.progress.layout.display = ""
            self.progress.value = progress.percentage
            self.progress.description = f"{progress.current}/{progress.total}"
        if p.logs and len(p.logs) >= len(self._streamed_logs):
            self._show_logs(p.logs)
        if live and self.is_text(p.output):
            self.show_text(text(p.output))

    def _show_logs(self, logs: str) -> None:
        shown = escape(self._redact(terminal_text(logs[-_LOG_CHARS:])))
        if shown:
            self.logs.value = (
                f'<pre style="margin:0;max-height:16em;overflow:auto;white-space:pre-wrap">'
                f"{shown}</pre>"
            )

    def show_text(self, value: str) -> None:
        """Show text (a language model's output) as preformatted text, grown in place."""
        self.text.layout.display = ""
        self.text.value = f'<pre style="white-space:pre-wrap;margin:0">{escape(value)}</pre>'

    def is_text(self, output: Any) -> bool:
        """Whether `output` is a token list the model streams (shown as text, not rendered)."""
        return (
            self._spec.is_concatenate
            and isinstance(output, list)
            and bool(output)
            and all(isinstance(token, str) for token in output)
        )

    async def show_output(self, p: Prediction) -> None:
        """Show the final output: text, or what `show()` would show with file actions; its JSON."""
        if p.output is None:
            return
        self.outputs.show_json(p.output)
        if self.is_text(p.output):
            self.show_text(text(p.output))
            return
        await self.outputs.show(p.output)
