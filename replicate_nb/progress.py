"""`run_many`'s progress: the run view the form and the card use, in a notebook; tqdm elsewhere."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Protocol


class Progress(Protocol):
    """What `run_many` tells its progress display: each finished input, then how it ended."""

    def advance(self, result: Any) -> None:
        """One input finished (its `RunResult`)."""

    def finish(self, results: Sequence[Any] | None) -> None:
        """The batch ended (its results; None when it was interrupted)."""


class _Terminal:
    """A tqdm bar (a script, a terminal, or `progress=False`: disabled)."""

    def __init__(self, ref: str, total: int, *, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(total=total, desc=ref, unit="run", disable=not enabled)

    def advance(self, result: Any) -> None:
        self._bar.update(1)

    def finish(self, results: Sequence[Any] | None) -> None:
        self._bar.close()


def in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel, where widgets display (not a plain IPython)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return shell is not None and getattr(shell, "kernel", None) is not None


def batch_progress(ref: str, total: int, *, enabled: bool) -> Progress:
    """The progress display for a batch of `total` inputs of model `ref`."""
    if enabled and in_kernel():
        from replicate_nb.forms.batchview import BatchView

        return BatchView(ref, total)
    return _Terminal(ref, total, enabled=enabled)
