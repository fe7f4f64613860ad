"""A batch's live progress (`run_many` in a notebook), drawn with the run view of form and card.

The status line says where the batch is (running, then how it ended), with the ticking clock
while it runs; the bar counts finished inputs; a line under it counts them by outcome and, at
the end, gives the estimate of what the batch would cost on Replicate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from html import escape
from typing import Any

import ipywidgets as widgets
from IPython.display import display

from replicate_nb.costs import ESTIMATE_LABEL, format_dollars
from replicate_nb.forms.runview import RunView
from replicate_nb.schema import OutputSpec

_NO_OUTPUT = OutputSpec(
    {}, is_iterator=False, is_concatenate=False, is_file=False, is_file_list=False
)


class BatchView(widgets.VBox):
    """`run_many`'s progress: a `RunView` status line and bar over the batch's inputs."""

    def __init__(self, ref: str, total: int) -> None:
        self.total, self.outcomes = total, Counter[str]()
        self.view = RunView(_NO_OUTPUT, lambda text: text)
        self.counts = widgets.HTML(_dom_classes=("rnb-batch-counts",))
        self.view.progress.layout.display = ""
        self._count()
        title = widgets.HTML(f"<b>{escape(ref)}</b> · {total} input{'s' * (total != 1)}")
        super().__init__(
            [title, *self.view.parts[:1], self.counts],
            layout=widgets.Layout(border="1px solid #8886", padding="4px 8px"),
            _dom_classes=("rnb-batch",),
        )
        self.view.say("processing", "", None)
        self.view.start_clock()
        display(self)

    def __repr__(self) -> str:
        return f"BatchView({sum(self.outcomes.values())}/{self.total})"

    def advance(self, result: Any) -> None:
        """One input finished: count it by its status."""
        self.outcomes[getattr(result, "status", "error")] += 1
        self._count()

    def finish(self, results: Sequence[Any] | None) -> None:
        """The batch ended: how it went, how long it took, and its estimated cost."""
        seconds = self.view.stop_clock()
        if results is None:
            self.view.say("canceled", f"interrupted after {seconds:.1f} s")
            return
        failed = sum(n for status, n in self.outcomes.items() if status != "succeeded")
        self.view.say("succeeded" if not failed else "failed", f"{seconds:.1f} s")
        cost = getattr(results, "cost", None)
        if cost is not None:
            dollars = format_dollars(cost.dollars)
            dollars = dollars if dollars.startswith("<") else "~" + dollars
            self.counts.value += f" · would cost {escape(dollars)} on Replicate ({ESTIMATE_LABEL})"

    def _count(self) -> None:
        done = sum(self.outcomes.values())
        bar = self.view.progress
        bar.value, bar.description = (
            (done / self.total if self.total else 1.0),
            f"{done}/{self.total}",
        )
        parts = [f"{n} {status}" for status, n in sorted(self.outcomes.items())]
        self.counts.value = escape(", ".join(parts) or "none finished yet")
