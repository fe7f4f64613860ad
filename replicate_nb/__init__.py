"""Replicate's predictions API made comfortable in notebooks, online or offline (sandbox).

Importing this package is cheap: each helper's module (and ipywidgets, IPython, the SDK) loads on
first use of a name, so `import replicate_nb` stays fast in every kernel start.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "BatchResults": "results",
    "Budget": "spending",
    "ConcatenateIterator": "inputs",
    "Estimate": "costs",
    "Input": "inputs",
    "ModelForm": "forms",
    "RunResult": "results",
    "Secret": "inputs",
    "allow_nested_asyncio": "aio",
    "async_run_many": "batch",
    "async_stream_text": "display",
    "async_text": "outputs",
    "async_watch": "card",
    "connect": "connection",
    "disconnect": "connection",
    "estimate": "costs",
    "form": "forms",
    "login": "connection",
    "record": "recording",
    "run_many": "batch",
    "run_sync": "aio",
    "show": "display",
    "stream_text": "display",
    "text": "outputs",
    "usage": "spending",
    "watch": "card",
}

__all__ = sorted([*_HOMES, "load_ipython_extension"])


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'replicate_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext replicate_nb`: rich display of outputs and predictions, and the magics."""
    from . import magics

    magics.load_ipython_extension(ipython)
