"""Parameter metadata for the models you register in the sandbox: `Input`, `Secret` and friends.

These mirror Cog's names so a predictor written for Cog reads the same here:

    from pathlib import Path
    from replicate_nb import Input

    def upscale(image: Path, scale: int = Input(default=2, ge=1, le=4)) -> Path:
        ...

`replicate_nb.sandbox.predictors` turns the hints and these defaults into a Cog-style schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

from .schema import MISSING

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Input:
    """A parameter's default and constraints, as `cog.Input` takes them.

    Attributes:
        default: the value used when the caller leaves the input out. `None` on a type that is not
            Optional means "no default, not required" (the classic blank `seed`). Leave it unset to
            make the input required.
        description: the help text forms show next to the field.
        ge: the smallest allowed number (`minimum`).
        le: the largest allowed number (`maximum`).
        min_length: the shortest allowed string (`minLength`).
        max_length: the longest allowed string (`maxLength`).
        regex: a pattern the string must match (`pattern`, searched as JSON Schema does).
        choices: the allowed values; the schema gets a separate enum component.
        deprecated: mark the input deprecated in the schema.
    """

    default: Any = MISSING
    description: str | None = None
    ge: float | None = None
    le: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    regex: str | None = None
    choices: Sequence[Any] | None = None
    deprecated: bool | None = None

    @property
    def has_default(self) -> bool:
        """Whether a default was given (`None` counts as one)."""
        return self.default is not MISSING and self.default is not Ellipsis


class Secret:
    """A string input that is never shown: a `Secret` parameter receives one of these.

    The schema marks it `format: password` and `x-cog-secret`; read it with `get_secret_value()`.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The secret text."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class ConcatenateIterator(Iterator[T], Generic[T]):
    """Return annotation for streamed text: `-> ConcatenateIterator[str]`.

    Like Cog's, it marks the output `x-cog-array-display: concatenate`, so clients join the
    tokens; a plain `Iterator[str]` streams items that are shown as a list.
    """

    def __next__(self) -> T:  # pragma: no cover - a marker type, never instantiated
        raise StopIteration
