"""A form's past runs: each `Run` keeps what was sent, and shows secret inputs only as `[secure]`.

A `Run` is what a notebook prints when someone evaluates `form.history`, so every way of looking
at it (`repr`, `str`, `input`, the history list's labels) masks secret values; the values
themselves stay in a private attribute, for `form.load(run)`.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from replicate.prediction import Prediction

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
