"""What a sandbox model is: its catalog entry and the context its `predict` runs in.

A model's `predict(ctx, inputs)` is a coroutine run by the engine as a task on the server's loop;
it logs with `ctx.log`, emits iterator items with `ctx.emit`, does CPU work through
`ctx.run_in_thread`, and returns the final output. Cancelling the task cancels the prediction.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol


class PredictContext(Protocol):
    """The engine's side of a running prediction, as a model sees it."""

    prediction_id: str
    metrics: dict[str, Any]
    stream_rate: float
    """Tokens per second a streaming text model emits (the sandbox's `stream_rate`)."""

    def log(self, text: str) -> None:
        """Append a line (a newline is added) to the prediction's logs."""

    def emit(self, item: Any) -> None:
        """Append one item to an iterator output (streamed as an `output` event)."""

    def seed(self, value: int | None) -> int:
        """The seed to use: `value`, or a drawn one when blank; logs `Using seed: N` either way."""

    async def sleep(self, seconds: float) -> None:
        """Wait, cancellably (a cancel interrupts it)."""

    async def run_in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking work (image drawing) off the server loop."""

    async def read_file(self, value: str) -> bytes:
        """The bytes behind a file input: a `data:` URI or a file of this sandbox's files API."""


Predict = Callable[[PredictContext, dict[str, Any]], Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class Trainer:
    """How a trainable model trains (Cog's `train()`), and what a version it trained runs.

    `train(ctx, inputs)` returns the learned weights as a JSON object; `predictor(weights)` is the
    `predict` of the version a training creates from them (so weights alone rebuild a version).
    """

    train: Callable[[PredictContext, dict[str, Any]], Awaitable[dict[str, Any]]]
    predictor: Callable[[dict[str, Any]], Predict]


@dataclasses.dataclass
class ModelSpec:
    """A model and one of its versions, as the catalog serves them (`version_id` "" = none yet)."""

    owner: str
    name: str
    version_id: str
    openapi_schema: dict[str, Any]
    predict: Predict
    description: str
    official: bool = False
    """On Replicate, only official models run by name (`owner/name`); all others need a version."""
    sandbox_only: bool = False
    """The model exists only in the sandbox (teaching and registered models): it runs by name."""
    cog_version: str = "0.9.4"
    version_created_at: str = "2024-01-01T00:00:00.000000Z"
    created_at: str = "2024-01-01T00:00:00.000000Z"
    visibility: str = "public"
    github_url: str | None = None
    paper_url: str | None = None
    license_url: str | None = None
    cover_image_url: str | None = None
    run_count: int = 0
    hardware: str = "cpu"
    readme: str | None = None
    weights_url: str | None = None
    trainer: Trainer | None = None
    weights: dict[str, Any] | None = None
    """What a training learned, for versions created by one (see `Trainer`)."""
    trained_by: str | None = None
    """The version id of the trainer whose training created this version (with `weights`)."""

    @property
    def has_version(self) -> bool:
        """False for a model created with `models.create` that has no version yet."""
        return bool(self.version_id)

    @property
    def ref(self) -> str:
        """`owner/name`."""
        return f"{self.owner}/{self.name}"

    @property
    def runs_by_name(self) -> bool:
        """Whether `owner/name` without a version may run it (the real API's rule, plus ours)."""
        return self.official or self.sandbox_only

    @property
    def pinned_ref(self) -> str:
        """`owner/name:version`, the ref that runs any model."""
        return f"{self.ref}:{self.version_id}"


def load_schema(filename: str) -> dict[str, Any]:
    """Load a version's `openapi_schema` shipped as data in `models/schemas/`."""
    text = resources.files(__package__).joinpath("schemas", filename).read_text(encoding="utf-8")
    return json.loads(text)
