"""A form's past runs: each `Run` keeps what was sent, masks secrets; the History tab lists them.

A `Run` is what a notebook prints when someone evaluates `form.history`, so every way of looking
at it (`repr`, `str`, `input`, the history list's labels) masks secret values; the values
themselves stay in a private attribute, for `form.load(run)`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from html import escape
from typing import Any

import ipywidgets as widgets
from replicate.prediction import Prediction

from replicate_nb import _datauri
from replicate_nb.outputs import file_url

SECURE = "[secure]"


def mask(values: dict[str, Any], secrets: Collection[str]) -> dict[str, Any]:
    """A copy of `values` with each secret input's value replaced by `[secure]`."""
    return {k: SECURE if k in secrets else v for k, v in values.items()}


def scrub(prediction: Prediction, secrets: Collection[str]) -> Prediction:
    """Mask secret inputs in the prediction's `input` (in place, so its repr holds none)."""
    if isinstance(prediction.input, dict) and secrets:
        prediction.input = mask(prediction.input, secrets)
    return prediction


class Run:
    """One run from a form: the prediction, the input it was sent, and when it started."""

    __slots__ = ("_sent", "prediction", "seconds", "secrets", "started")

    def __init__(
        self,
        prediction: Prediction,
        sent: dict[str, Any],
        started: datetime,
        *,
        secrets: Collection[str] = (),
    ) -> None:
        self.prediction = prediction
        self.started = started
        self.seconds: float | None = None
        self.secrets = frozenset(secrets)
        self._sent = dict(sent)

    @property
    def input(self) -> dict[str, Any]:
        """The input that was sent, with secret values shown as `[secure]`."""
        return mask(self._sent, self.secrets)

    def sent(self) -> dict[str, Any]:
        """The input exactly as sent, secrets included (for `form.load`; never displayed)."""
        return dict(self._sent)

    def __repr__(self) -> str:
        return (
            f"Run({self.prediction.id!r}, {self.prediction.status!r}, input={self.input!r}, "
            f"started={self.started:%H:%M:%S})"
        )

    def describe(self) -> str:
        """One line for the history list, with secret inputs shown as `[secure]`."""
        shown = ", ".join(
            f"{k}={SECURE if k in self.secrets else repr(v)[:24]}" for k, v in self._sent.items()
        )
        took = f"{self.seconds:.1f} s" if self.seconds is not None else "…"
        p = self.prediction
        return f"{self.started:%H:%M:%S}  {p.id}  {p.status}  {took}  {shown or '(defaults)'}"


class HistoryView(widgets.VBox):
    """Past runs, newest first: a thumbnail for image outputs, one line, and "Load inputs"."""

    def __init__(self, load: Callable[[Run], None]) -> None:
        self._load = load
        self._rows: dict[int, widgets.Widget] = {}
        self.empty = widgets.HTML("<i>No runs yet.</i>")
        super().__init__([self.empty], _dom_classes=("rnb-history",))

    def __repr__(self) -> str:
        return f"HistoryView({len(self._rows)} runs)"

    def show(self, runs: list[Run]) -> None:
        """Show `runs` (rows of earlier runs are kept; the last one is redrawn as it changes)."""
        rows = []
        for i, run in enumerate(runs):
            if i not in self._rows or i == len(runs) - 1:
                self._rows[i] = self._row(run)
            rows.append(self._rows[i])
        self.children = rows[::-1] or [self.empty]

    def _row(self, run: Run) -> widgets.Widget:
        button = widgets.Button(
            description="Load inputs", tooltip="Put this run's inputs back into the form"
        )
        button.on_click(lambda _: self._load(run))
        label = widgets.HTML(f"<code>{escape(run.describe())}</code>")
        thumb = widgets.HTML(_thumbnail(run.prediction.output))
        return widgets.HBox([thumb, button, label], layout=widgets.Layout(align_items="center"))


def _thumbnail(output: Any) -> str:
    """A 48 px thumbnail of the first image in an output (an `<img>`), or nothing."""
    first = output[0] if isinstance(output, list) and output else output
    url = file_url(first)  # by its URL: nothing is read or downloaded for a thumbnail
    if _datauri.is_data_uri(url):
        if not _datauri.media_type(url).startswith("image/"):
            return ""
    elif not (
        isinstance(url, str)
        and url.startswith("https://")
        and url.lower().endswith((".png", ".jpg", ".jpeg", ".webp"))
    ):
        return ""
    return (
        f'<img src="{escape(url)}" alt="output of this run" '
        'style="width:48px;height:48px;object-fit:cover;border-radius:4px">'
    )
