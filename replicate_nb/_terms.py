"""Replicate's words, defined once for the helpers and the sandbox: statuses, colours, refs, masks.

Standard library only, so that the sandbox and the client side can both import it (as they
import `_datauri`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

SECRET_MASK = "**********"
"""What Cog shows for a `Secret`, and the API for a redacted input."""

TERMINAL = frozenset({"succeeded", "failed", "canceled"})
"""The statuses a prediction or training never leaves."""

GREEN = "#1a7f37"
RED = "#cf222e"
GREY = "#57606a"  # 5.9:1 on white: readable small text (WCAG AA)
BLUE = "#0969da"
_STATUS_COLOURS = {"succeeded": GREEN, "failed": RED, "canceled": GREY}
_PROBLEMS = frozenset({"error", "not sent"})  # the forms' own statuses for a run that failed


def status_colour(status: str) -> str:
    """The colour a status is written in: green, red, grey once ended; blue while running."""
    if status in _PROBLEMS:
        return RED
    return _STATUS_COLOURS.get(status, BLUE)


class ModelRef(NamedTuple):
    """A parsed `owner/name` or `owner/name:version` reference."""

    owner: str
    name: str
    version: str | None = None

    @property
    def model(self) -> str:
        """`owner/name`."""
        return f"{self.owner}/{self.name}"

    def __str__(self) -> str:
        return f"{self.model}:{self.version}" if self.version else self.model


_REF = re.compile(r"^(?P<owner>[^/\s]+)/(?P<name>[^/:\s]+)(?::(?P<version>[^\s/:]+))?$")


def parse_ref(ref: object) -> ModelRef | None:
    """`owner/name[:version]` split into its parts, or None when `ref` is not one."""
    match = _REF.match(ref) if isinstance(ref, str) else None
    if match is None:
        return None
    return ModelRef(match["owner"], match["name"], match["version"])


def split_name(ref: object) -> tuple[str, str] | None:
    """`owner/name` (no version) as `(owner, name)`, or None when `ref` is not one."""
    parsed = parse_ref(ref)
    if parsed is None or parsed.version is not None:
        return None
    return parsed.owner, parsed.name
