"""This kernel's predictions and their estimated cost; a budget that stops creates past it.

`connect()` gives each client it builds a `Meter`: a pair of httpx event hooks on every request the
official client sends. The response hook notes each prediction and training this kernel creates or
reads back (id, model, status, metrics) in one process-wide ledger; the request hook refuses a
prediction or training create, before it is sent, once the connection's `Budget` is spent
(`BudgetExceeded`). Trainings are billed by hardware time as predictions are, so they count
against a dollar budget; a `predictions=` budget counts predictions, and once reached refuses
trainings too. That works
the same against the real API and a sandbox, and whatever made the request: `replicate.run`,
`predictions.create`, `run_many` or a form. `usage()` summarises the ledger.

The SDK passes one set of options to both its sync and async httpx clients, so each hook works for
both: it does its work when called and returns an awaitable that an async client awaits and a sync
client ignores.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import re
import threading
from collections.abc import Generator, Mapping
from html import escape
from typing import Any

import httpx

from .costs import ESTIMATE_LABEL, _plural, estimate, format_dollars
from .errors import BudgetExceeded

_CREATE = re.compile(r"/v1/(?:predictions|(?:models|deployments)/[^/]+/[^/]+/predictions)$")
_CREATE_TRAINING = re.compile(r"/v1/(?:trainings|models/[^/]+/[^/]+/versions/[^/]+/trainings)$")
_ONE = re.compile(r"/v1/(?:predictions|trainings)/[^/]+(?:/cancel)?$")
_KEPT = ("id", "model", "status", "metrics", "created_at")


@dataclasses.dataclass(frozen=True)
class Budget:
    """A spending limit for one connection: estimated dollars, a number of predictions, or both.

    `connect(budget=2.5)` means $2.50; `connect(budget=Budget(predictions=40))` means 40
    predictions. Checked before each create: predictions still running when it is reached may
    take the total a little past it.
    """

    dollars: float | None = None
    predictions: int | None = None

    def __post_init__(self) -> None:
        if self.dollars is None and self.predictions is None:
            raise ValueError("a Budget needs dollars=... or predictions=... (or both)")
        if self.dollars is not None and (
            isinstance(self.dollars, bool)
            or not isinstance(self.dollars, int | float)
            or not self.dollars >= 0
        ):
            raise ValueError(f"budget dollars must be a number >= 0, got {self.dollars!r}")
        if self.predictions is not None and (
            isinstance(self.predictions, bool)
            or not isinstance(self.predictions, int)
            or self.predictions < 0
        ):
            raise ValueError(
                f"budget predictions must be a whole number >= 0, got {self.predictions!r}"
            )

    @classmethod
    def coerce(cls, value: Budget | float | None) -> Budget | None:
        """Accept a `Budget`, a number of dollars, or None (no budget)."""
        if value is None or isinstance(value, Budget):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(
                f"budget must be a number of dollars or a Budget(...), not {value!r}; "
                "e.g. connect(budget=2.50) or connect(budget=Budget(predictions=40))"
            )
        return cls(dollars=float(value))

    def describe(self) -> str:
        """The limit in words, e.g. "a budget of $2.50 or 40 predictions"."""
        parts = []
        if self.dollars is not None:
            parts.append(f"{format_dollars(self.dollars)} ({ESTIMATE_LABEL})")
        if self.predictions is not None:
            parts.append(f"{self.predictions} prediction{'' if self.predictions == 1 else 's'}")
        return "a budget of " + " or ".join(parts)


class _Done:
    """An awaitable that is already finished (what a hook returns to an async client)."""

    def __await__(self) -> Generator[None, None, None]:
        return
        yield


_DONE = _Done()


class Ledger:
    """Every prediction and training this process saw through a metered client (latest state)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}

    def note(self, body: Any, *, kind: str = "prediction") -> str | None:
        """Record a prediction's or training's JSON (only what pricing needs); returns its id."""
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            return None
        record = {key: body.get(key) for key in _KEPT}
        record["kind"] = kind
        output = body.get("output")
        if isinstance(output, list):
            record["output"] = [None] * len(output)  # pricing counts outputs, never reads them
        with self._lock:
            self._records[body["id"]] = record
        return body["id"]

    def records(self, ids: set[str] | None = None) -> list[dict[str, Any]]:
        """The recorded predictions (all, or those with these ids), oldest first."""
        with self._lock:
            return [dict(r) for i, r in self._records.items() if ids is None or i in ids]

    def clear(self) -> None:
        """Forget everything (tests, or a fresh start)."""
        with self._lock:
            self._records.clear()


LEDGER = Ledger()
"""The process-wide ledger that `usage()` summarises."""


class Meter:
    """One connection's event hooks: note predictions in the ledger, enforce its budget."""

    def __init__(self, budget: Budget | None = None, *, ledger: Ledger = LEDGER) -> None:
        self.budget = budget
        self.ledger = ledger
        self._lock = threading.Lock()
        self._created: dict[str, str] = {}  # id -> "prediction" or "training"
        self._in_flight = 0  # prediction creates sent, not answered yet: they count already

    def event_hooks(self) -> dict[str, list[Any]]:
        """`event_hooks=` for `replicate.Client(...)` (works for its sync and async clients)."""
        return {"request": [self.on_request], "response": [self.on_response]}

    @property
    def spent(self) -> float:
        """The estimated cost of this connection's predictions and trainings, in dollars."""
        with self._lock:
            return self._spent()

    def _spent(self) -> float:
        return sum(estimate(r).dollars for r in self.ledger.records(set(self._created)))

    def _made(self, kind: str) -> int:
        return sum(1 for k in self._created.values() if k == kind)

    @property
    def count(self) -> int:
        """How many predictions this connection created (answered creates)."""
        with self._lock:
            return self._made("prediction")

    @property
    def trainings(self) -> int:
        """How many trainings this connection created (answered creates)."""
        with self._lock:
            return self._made("training")

    def on_request(self, request: httpx.Request) -> _Done:
        """Refuse a prediction or training create past the budget, before anything is sent."""
        if request.method != "POST":
            return _DONE
        if _CREATE.search(request.url.path):
            kind = "prediction"
        elif _CREATE_TRAINING.search(request.url.path):
            kind = "training"
        else:
            return _DONE
        with self._lock:
            if self.budget is not None:
                count = self._made("prediction") + self._in_flight
                over_count = self.budget.predictions is not None and count >= (
                    self.budget.predictions
                )
                spent = self._spent()
                over_dollars = self.budget.dollars is not None and spent >= self.budget.dollars
                if over_count or over_dollars:
                    raise BudgetExceeded(
                        budget=self.budget,
                        spent=spent,
                        count=count,
                        trainings=self._made("training"),
                        refused=kind,
                    )
            self._in_flight += kind == "prediction"
        request.extensions["replicate_nb_create"] = kind
        return _DONE

    def on_response(self, response: httpx.Response) -> Any:
        """Note the prediction a create, get or cancel answered with."""
        request = response.request
        create = request.extensions.get("replicate_nb_create")
        if create == "prediction":
            with self._lock:
                self._in_flight -= 1
        wanted = create or (request.method in ("GET", "POST") and _ONE.search(request.url.path))
        json_body = response.headers.get("content-type", "").startswith("application/json")
        if not wanted or not json_body or not 200 <= response.status_code < 300:
            return _DONE
        if isinstance(response.stream, httpx.AsyncByteStream):
            return self._note_async(response, create)
        response.read()
        self._note(response, create)
        return _DONE

    async def _note_async(self, response: httpx.Response, create: str | None) -> None:
        await response.aread()
        self._note(response, create)

    def _note(self, response: httpx.Response, create: str | None) -> None:
        try:
            body = json.loads(response.content)
        except ValueError:
            return
        path = response.request.url.path
        kind = create or ("training" if "/trainings" in path else "prediction")
        found = self.ledger.note(body, kind=kind)
        if create and found is not None:
            with self._lock:
                self._created[found] = kind


@dataclasses.dataclass(frozen=True)
class ModelUsage:
    """One model's line in `Usage`: how many runs (predictions; a trainer's trainings), and their
    estimated cost."""

    model: str
    predictions: int
    dollars: float


@dataclasses.dataclass(frozen=True)
class Usage:
    """This kernel's predictions and trainings seen through `connect()`'s clients, and their
    estimated cost (`statuses` and `models` cover both)."""

    predictions: int
    statuses: Mapping[str, int]
    models: tuple[ModelUsage, ...]
    dollars: float
    budget: Budget | None = None
    budget_spent: float = 0.0
    budget_count: int = 0
    trainings: int = 0

    def __repr__(self) -> str:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.statuses.items())) or "none"
        trained = f", {_plural(self.trainings, 'training')}" if self.trainings else ""
        text = (
            f"<Usage: {self.predictions} predictions{trained} ({statuses}); would cost "
            f"~{format_dollars(self.dollars)} on the real API ({ESTIMATE_LABEL})"
        )
        if self.budget is not None:
            text += (
                f"; this connection: ~{format_dollars(self.budget_spent)} in "
                f"{self.budget_count} predictions of {self.budget.describe()}"
            )
        return text + ">"

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{escape(m.model)}</td><td>{m.predictions}</td>"
            f"<td>~{format_dollars(m.dollars)}</td></tr>"
            for m in self.models
        )
        note = (
            f"<p>This connection: ~{format_dollars(self.budget_spent)} in {self.budget_count} "
            f"predictions, of {escape(self.budget.describe())}.</p>"
            if self.budget is not None
            else ""
        )
        return (
            "<div><table><caption>Predictions and trainings of this kernel, and what they would "
            "cost on the "
            f"real API ({ESTIMATE_LABEL})</caption><thead><tr><th>Model</th><th>Predictions</th>"
            f"<th>Cost ({ESTIMATE_LABEL})</th></tr></thead><tbody>{rows}</tbody><tfoot><tr>"
            f"<th>Total</th><th>{self.predictions}</th><th>~{format_dollars(self.dollars)}</th>"
            f"</tr></tfoot></table>{note}</div>"
        )


def summarise(records: list[dict[str, Any]], meter: Meter | None = None) -> Usage:
    """A `Usage` of these ledger records (and the budget state of `meter`, if any)."""
    statuses = collections.Counter(str(r.get("status")) for r in records)
    per_model: dict[str, list[float]] = {}
    for record in records:
        per_model.setdefault(str(record.get("model")), []).append(estimate(record).dollars)
    models = tuple(ModelUsage(m, len(d), sum(d)) for m, d in sorted(per_model.items()))
    trainings = sum(1 for r in records if r.get("kind") == "training")
    return Usage(
        predictions=len(records) - trainings,
        trainings=trainings,
        statuses=dict(statuses),
        models=models,
        dollars=sum(m.dollars for m in models),
        budget=meter.budget if meter is not None else None,
        budget_spent=meter.spent if meter is not None else 0.0,
        budget_count=meter.count if meter is not None else 0,
    )


def usage() -> Usage:
    """A summary of this kernel's predictions and what they would cost on the real API.

    Counts every prediction created or read back through a client `connect()` made (on the
    sandbox too: the figures are what the real models would have cost), by model and status,
    and the state of the current connection's budget. All costs are estimates.
    """
    from .connection import current_meter

    return summarise(LEDGER.records(), current_meter())
