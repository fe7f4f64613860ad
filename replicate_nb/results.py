"""What a batch returns: one `RunResult` per input, collected in a `BatchResults` list."""

from __future__ import annotations

import collections
import dataclasses
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any

from .costs import ESTIMATE_LABEL, Estimate, format_dollars


@dataclasses.dataclass(frozen=True, repr=False)
class RunResult:
    """The outcome of one input: output or error, prediction id, status, time and attempts.

    `status` is the prediction's ("succeeded", "failed", "canceled"), or "error" when no
    prediction could be created or followed (then `error` says why). `output` is the API's JSON
    output (URLs stay strings).
    """

    input: Mapping[str, Any]
    output: Any = None
    prediction_id: str | None = None
    status: str = "error"
    error: str | None = None
    duration: float = 0.0
    attempts: int = 0
    cost: Estimate | None = None

    @property
    def ok(self) -> bool:
        """Whether the prediction succeeded."""
        return self.status == "succeeded"

    def __repr__(self) -> str:
        short = reprlib.Repr()
        short.maxstring = short.maxother = 60
        shown = (
            f"output={short.repr(self.output)}" if self.ok else f"error={short.repr(self.error)}"
        )
        return (
            f"RunResult(status={self.status!r}, {shown}, prediction_id={self.prediction_id!r},"
            f" duration={self.duration:.2f}, attempts={self.attempts}, "
            f"cost={'None' if self.cost is None else f'~{format_dollars(self.cost.dollars)}'}, "
            f"input={short.repr(self.input)})"
        )


class BatchResults(list[RunResult]):
    """One `RunResult` per input, in input order, with a one-line summary as its repr."""

    def __init__(self, results: Iterable[RunResult] = (), *, wall_time: float = 0.0) -> None:
        super().__init__(results)
        self.wall_time = wall_time

    @property
    def outputs(self) -> list[Any]:
        """The outputs in input order (None where an input did not succeed)."""
        return [r.output if r.ok else None for r in self]

    @property
    def succeeded(self) -> list[RunResult]:
        """The results that succeeded."""
        return [r for r in self if r.ok]

    @property
    def cost(self) -> Estimate:
        """What all these predictions would cost on the real API (an estimate)."""
        priced = [r.cost for r in self if r.cost is not None]
        return Estimate(
            sum(c.dollars for c in priced),
            f"{len(priced)} prediction{'' if len(priced) == 1 else 's'}",
            priced[0].model if priced and all(c.model == priced[0].model for c in priced) else None,
        )

    @property
    def failed(self) -> list[RunResult]:
        """The results that did not succeed (failed, canceled or error)."""
        return [r for r in self if not r.ok]

    def __repr__(self) -> str:
        counts = collections.Counter(r.status for r in self)
        parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "empty"
        hint = "; see .failed" if self.failed else ""
        cost = f"; ~{format_dollars(self.cost.dollars)} on the real API ({ESTIMATE_LABEL})"
        return f"<BatchResults: {len(self)} runs in {self.wall_time:.2f} s: {parts}{cost}{hint}>"
