"""The errors replicate_nb's helpers raise, all under one base class.

    ReplicateNbError(Exception)
    ├── BackendError(RuntimeError)       the chosen backend cannot be used
    ├── UnsupportedClient(RuntimeError)  the installed `replicate` is a generation the helpers skip
    ├── EventLoopError(RuntimeError)     a sync twin or loop helper called where it cannot work
    ├── InvalidArgument(ValueError)      an argument a helper cannot use (a wrong value)
    │   ├── InvalidArgumentType(TypeError)  an argument of a type the helper does not take
    │   │   └── BatchInputError          a batch input that is not a dict of model inputs
    │   └── InvalidModelRef              a model reference that is not `owner/name[:version]`
    ├── FormError(ValueError)            a form used against its schema (unknown input, wrong type)
    ├── BudgetExceeded(RuntimeError)     a new prediction would go past `connect(budget=...)`
    └── PredictionTimeout(TimeoutError)  a prediction outran its timeout and was canceled

Each class also subclasses the stdlib type whose meaning matches, so `except TimeoutError` keeps
working. Messages quote what the user passed and say what to do next. Errors of the official SDK
(`replicate.exceptions.ReplicateError`, `ModelError`) are never wrapped: they pass through as is.
"""

from __future__ import annotations

from typing import Any


class ReplicateNbError(Exception):
    """Base class of every error replicate_nb's helpers raise."""


class BackendError(ReplicateNbError, RuntimeError):
    """The chosen backend cannot be used (e.g. `backend="replicate"` with no API token)."""


class UnsupportedClient(ReplicateNbError, RuntimeError):
    """The installed `replicate` is 2.x: the helpers build on 1.x; the sandbox serves both."""


class EventLoopError(ReplicateNbError, RuntimeError):
    """A helper was called from a place where its event-loop contract cannot hold."""


class InvalidArgument(ReplicateNbError, ValueError):
    """An argument a helper cannot use; the message says which, and what to pass instead."""


class InvalidArgumentType(InvalidArgument, TypeError):
    """An argument of a type the helper does not take (also a `TypeError`)."""


class InvalidModelRef(InvalidArgument):
    """A model reference that is not `owner/name` or `owner/name:version`."""

    def __init__(self, ref: object) -> None:
        self.ref = ref
        super().__init__(
            f"{ref!r} is not a model reference. Write it as 'owner/name:version' (e.g. "
            "'replicate/hello-world:5c7d5dc6…'), or as 'owner/name' for an official model "
            "(e.g. 'meta/meta-llama-3-8b-instruct')."
        )


class BatchInputError(InvalidArgumentType):
    """A batch input that is not a dict of model inputs."""

    def __init__(self, index: int, value: Any) -> None:
        self.index = index
        self.value = value
        shown = repr(value)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        super().__init__(
            f"inputs[{index}] is {shown} ({type(value).__name__}), but each input must be a dict "
            "of model inputs, e.g. [{'text': 'Alice'}, {'text': 'Bob'}]."
        )


class FormError(ReplicateNbError, ValueError):
    """A model form was asked for something its schema does not allow, or cannot run yet.

    Raised by `ModelForm.set` for an unknown input or a value of the wrong type, and by
    `ModelForm.submit` when the form has errors or no model to run.
    """


class PredictionTimeout(ReplicateNbError, TimeoutError):
    """A prediction ran longer than its timeout, so it was canceled on the server."""

    def __init__(self, prediction_id: str, timeout: float) -> None:
        self.prediction_id = prediction_id
        self.timeout = timeout
        super().__init__(
            f"prediction {prediction_id} ran longer than timeout={timeout:g} s, so it was "
            "canceled; pass a larger timeout (or timeout=None) to let it finish."
        )


class BudgetExceeded(ReplicateNbError, RuntimeError):
    """A new prediction or training was refused, before it was sent, because the budget is spent.

    `spent` is the estimated cost of this connection's predictions and trainings in dollars,
    `count` how many predictions it created, `trainings` how many trainings, `budget` the
    `Budget` in force.
    """

    def __init__(
        self,
        *,
        budget: Any,
        spent: float,
        count: int,
        trainings: int = 0,
        refused: str = "prediction",
    ) -> None:
        from .costs import format_dollars

        self.budget = budget
        self.spent = spent
        self.count = count
        self.trainings = trainings
        made = f"{count} prediction{'' if count == 1 else 's'}"
        if trainings:
            made += f" and {trainings} training{'' if trainings == 1 else 's'}"
        super().__init__(
            f"budget reached: no new {refused} was created. This connection made {made} "
            f"that would cost an estimated "
            f"{format_dollars(spent)} on the real API, against {budget.describe()}. See "
            "replicate_nb.usage() for the details, or connect again with a larger budget "
            "(replicate_nb.connect(budget=...))."
        )
