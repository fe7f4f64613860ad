"""The lower half of a form: what a run shows while it goes (status, progress, logs, text, output).

Kept apart from `forms.ModelForm`, which owns the inputs and the lifecycle, so the view of a
prediction can be read on its own: every method here only renders a `Prediction` into widgets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from html import escape
from typing import Any

import httpx
import ipywidgets as widgets
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction
from replicate.stream import ServerSentEvent

from replicate_nb.display import render_parts
from replicate_nb.outputs import text
from replicate_nb.schema import OutputSpec

RED = "#cf222e"
_COLOURS = {
    "succeeded": "#1a7f37",
    "failed": RED,
    "canceled": "#6e7781",
    "not sent": RED,
    "error": RED,
}
_TEXT_EVERY = 0.1  # seconds between refreshes of streamed text
_LOG_CHARS = 20_000
_OUTPUT = ServerSentEvent.EventType.OUTPUT


def hidden() -> widgets.Layout:
    """A layout that starts hidden (shown once there is something to show)."""
    return widgets.Layout(display="none")


class RunView:
    """The widgets that show one prediction as it runs; `redact` hides secrets in any text."""

    def __init__(self, output_spec: OutputSpec, redact: Callable[[str], str]) -> None:
        self._spec = output_spec
        self._redact = redact
        self.status = widgets.HTML()
        self.progress = widgets.FloatProgress(min=0, max=1, layout=hidden())
        self.text = widgets.HTML(layout=hidden(), _dom_classes=("rnb-stream",))
        self.output = widgets.Output()
        self.logs = widgets.HTML()

    def clear(self) -> None:
        """Forget the previous run."""
        self.progress.layout.display = self.text.layout.display = "none"
        self.text.value = self.logs.value = ""
        self.output.outputs = ()

    def say(self, status: str, detail: str, prediction: Prediction | None = None) -> None:
        """The status line: status, a detail, the prediction id and its error."""
        colour = _COLOURS.get(status, "#0969da")
        html = f'<b style="color:{colour}">{escape(status)}</b> · {escape(detail)}'
        if prediction is not None:
            html += f" · <code>{escape(prediction.id)}</code>"
            web = (prediction.urls or {}).get("web", "")
            if web.startswith("https://"):
                html += f' <a href="{escape(web)}" target="_blank">web</a>'
            if prediction.error:
                html += f'<div style="color:{RED}">{escape(self._redact(prediction.error))}</div>'
        self.status.value = html

    async def read_stream(self, prediction: Prediction) -> None:
        """Show streamed text as it arrives (at most every 0.1 s); polling reports the end."""
        pieces: list[str] = []
        shown = 0.0
        try:
            async for event in prediction.async_stream():
                if event.event is _OUTPUT:
                    pieces.append(str(event.data))
                    if time.monotonic() - shown >= _TEXT_EVERY:
                        self.show_text("".join(pieces))
                        shown = time.monotonic()
        except (RuntimeError, httpx.HTTPError, ReplicateError):
            pass  # an error event or a dropped stream: polling reports the outcome
        self.show_text("".join(pieces))

    def show_progress(self, p: Prediction, elapsed: float, *, live: bool) -> None:
        """Status, progress bar and log tail; `live` also shows text outputs as they grow."""
        self.say(p.status, f"{elapsed:.1f} s", p)
        progress = p.progress
        if progress is not None:
            self.progress.layout.display = ""
            self.progress.value = progress.percentage
            self.progress.description = f"{progress.current}/{progress.total}"
        logs = escape(self._redact((p.logs or "")[-_LOG_CHARS:]))
        if logs:
            self.logs.value = f'<pre style="margin:0;max-height:20em;overflow:auto">{logs}</pre>'
        if live and self.is_text(p.output):
            self.show_text(text(p.output))

    def show_text(self, value: str) -> None:
        """Show text (a language model's output) as preformatted text."""
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
        """Show the final output: text, or the display bundles `show()` would use."""
        if p.output is None:
            return
        if self.is_text(p.output):
            self.show_text(text(p.output))
            return
        bundles = await asyncio.to_thread(render_parts, p.output)
        self.output.outputs = tuple(
            {"output_type": "display_data", "data": b, "metadata": {}} for b in bundles
        )
