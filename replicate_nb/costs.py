"""What a prediction would cost on the real API: an estimate from a bundled, dated price table.

Pure functions, no HTTP: `estimate(prediction)` reads the prediction's model, status, metrics
(`predict_time`, `input_token_count`, `output_token_count`, `image_count`) and output, and prices
it from `prices.json` the way Replicate bills: official models per output (tokens, images), other
models for their predict time on the hardware they run on. Every figure is an estimate: prices
and hardware change, and the table says where each price comes from and when it was read.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

ESTIMATE_LABEL = "estimate"
"""The word every shown figure carries: these are never Replicate's bill."""


@dataclasses.dataclass(frozen=True)
class Estimate:
    """An estimated cost in US dollars, with how it was worked out and where the price is from.

    `str()` is what people see: `~$0.0030 (estimate: 1 image x $0.003/image)`.
    """

    dollars: float
    basis: str
    model: str | None = None
    source: str = ""

    def __str__(self) -> str:
        return f"~{format_dollars(self.dollars)} ({ESTIMATE_LABEL}: {self.basis})"

    def __repr__(self) -> str:
        return f"Estimate(~{format_dollars(self.dollars)}, {self.basis!r})"


def format_dollars(dollars: float) -> str:
    """Dollars for people: cents when it is that much, else enough decimals to see the figure."""
    if dollars == 0:
        return "$0"
    if dollars >= 0.01:
        return f"${dollars:,.2f}"
    if dollars < 0.000001:
        return "<$0.000001"
    return "$" + f"{dollars:.6f}".rstrip("0")


@functools.cache
def price_table() -> dict[str, Any]:
    """The bundled price table (`replicate_nb/prices.json`), read once."""
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return json.loads(text)


def priced(model: Any, *, prices: Mapping[str, Any] | None = None) -> bool:
    """Whether the price table has a price for `model` (`owner/name`)."""
    table = price_table() if prices is None else prices
    return isinstance(model, str) and model in table.get("models", {})


def _field(prediction: Any, name: str) -> Any:
    if isinstance(prediction, Mapping):
        return prediction.get(name)
    return getattr(prediction, name, None)


def _number(metrics: Mapping[str, Any], name: str) -> float:
    value = metrics.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return 0.0
    return float(value)


def _plural(count: float, word: str) -> str:
    shown = f"{count:g}"
    return f"{shown} {word}" if shown == "1" else f"{shown} {word}s"


def estimate(prediction: Any, *, prices: Mapping[str, Any] | None = None) -> Estimate:
    """Estimate what `prediction` would cost (or cost) on the real API.

    Args:
        prediction: a `replicate` `Prediction`, or its JSON as a dict (model, status, metrics,
            output are read; a prediction still running is priced by what it has used so far).
        prices: a price table shaped like `replicate_nb/prices.json`; the bundled one by default.

    Returns:
        An `Estimate`. Official models are priced per output (tokens, images), others by
        predict time x their hardware's price per second; a model missing from the table is
        priced as time on the table's `unknown_model_hardware`, and the basis says so.
    """
    table = price_table() if prices is None else prices
    model = _field(prediction, "model")
    model = model if isinstance(model, str) else None
    metrics = _field(prediction, "metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    entry = table.get("models", {}).get(model or "", {})
    source = entry.get("source", "")

    if entry.get("free"):
        return Estimate(0.0, "sandbox teaching model, no real counterpart", model, source)
    if "per_image" in entry:
        images = _number(metrics, "image_count")
        output = _field(prediction, "output")
        if not images and _field(prediction, "status") == "succeeded" and isinstance(output, list):
            images = float(len(output))
        price = float(entry["per_image"])
        basis = f"{_plural(images, 'image')} x {format_dollars(price)}/image"
        return Estimate(images * price, basis, model, source)
    if "per_million_input_tokens" in entry or "per_million_output_tokens" in entry:
        tokens_in = _number(metrics, "input_token_count")
        tokens_out = _number(metrics, "output_token_count")
        price_in = float(entry.get("per_million_input_tokens", 0.0))
        price_out = float(entry.get("per_million_output_tokens", 0.0))
        dollars = (tokens_in * price_in + tokens_out * price_out) / 1_000_000
        basis = (
            f"{tokens_in:g} input + {tokens_out:g} output tokens at ${price_in:g} + "
            f"${price_out:g} per million"
        )
        return Estimate(dollars, basis, model, source)

    hardware = table.get("hardware", {})
    sku = entry.get("hardware") or table.get("unknown_model_hardware", "cpu")
    rate = float(hardware.get("per_second", {}).get(sku, 0.0))
    name = hardware.get("names", {}).get(sku, sku)
    seconds = _number(metrics, "predict_time")
    basis = f"{seconds:.2f} s on {name} at ${rate:g}/s"
    if not entry:
        basis += f" ({table.get('unknown_model_note', 'model not in the price table')})"
        source = hardware.get("source", "")
    return Estimate(seconds * rate, basis, model, source)
