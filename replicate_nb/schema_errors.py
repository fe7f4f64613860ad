"""Replicate's wording for a refused input: `invalid_fields` entries and the 422 `detail` text.

`schema.InputSchema.validate` finds the problems with jsonschema; this turns each error into the
entries Replicate answers with (its `type` names, e.g. `number_lte`, and messages that quote the
value, never a secret's), so the sandbox's 422s and the form's inline errors read the same.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from replicate_nb._jsonschema import jsonschema
from replicate_nb._terms import SECRET_MASK

_NULL_MESSAGE = "null is not allowed; leave the input out to use the default"
_TYPE_WORDS = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
}
_RENAMES = {
    "minimum": "number_gte",
    "maximum": "number_lte",
    "minLength": "string_gte",
    "maxLength": "string_lte",
    "additionalProperties": "additional_property_not_allowed",
}
_MESSAGES = {
    "type": "Must be {expected} (got {got})",
    "anyOf": "Must be {expected} (got {got})",
    "minimum": "Must be greater than or equal to {bound} (got {got})",
    "maximum": "Must be less than or equal to {bound} (got {got})",
    "enum": "Does not match one of: {choices} (got {got})",
    "minLength": "Must be at least {bound} characters long (got {got}, {length} characters)",
    "maxLength": "Must be at most {bound} characters long (got {got}, {length} characters)",
    "pattern": "Must match the pattern {bound} (got {got})",
    "format": "Must be a valid {bound} (got {got})",
    "format:uri": "Expected a URL or data: URI (got {got})",
}


@dataclass(frozen=True)
class InvalidField:
    """One entry of Replicate's 422 `invalid_fields` list."""

    type: str
    field: str
    description: str

    def to_json(self) -> dict:
        """The entry as Replicate serialises it."""
        return {"type": self.type, "field": self.field, "description": self.description}


def not_an_object(value: Any) -> InvalidField:
    """The entry for an `input` that is not an object."""
    return InvalidField("type", "input", f"Must be an object of inputs (got {_show(value)})")


def null_input(name: str) -> InvalidField:
    """The entry for an input sent as null."""
    return InvalidField("type", f"input.{name}", _NULL_MESSAGE)


def invalid_fields(
    error: jsonschema.ValidationError, *, inputs: Collection[str], secrets: Collection[str]
) -> Iterator[InvalidField]:
    """Replicate's `invalid_fields` entries for one jsonschema error of a prediction's input.

    `inputs` are the schema's input names (listed when an unknown one is sent); the values of
    `secrets` are never quoted.
    """
    field = ".".join(["input", *(str(p) for p in error.absolute_path)])
    kind, got = str(error.validator), error.instance
    name = _RENAMES.get(kind, kind)
    if kind == "required" and isinstance(got, dict):
        for prop in error.validator_value:
            if prop not in got:  # one error per missing name; duplicates are merged
                yield InvalidField(name, field, f"{prop} is required")
    elif kind == "additionalProperties" and isinstance(got, dict):
        props = error.schema.get("properties", {})
        patterns = error.schema.get("patternProperties", {})
        known = ", ".join(inputs if field == "input" else props) or "none"
        what = "inputs" if field == "input" else "properties"
        for key in sorted(got, key=str):
            if key not in props and not any(re.search(p, key) for p in patterns):
                message = f"Additional property {key} is not allowed; known {what}: {known}"
                yield InvalidField(name, field, message)
    else:
        path = error.absolute_path
        secret = bool(path) and path[0] in secrets
        yield InvalidField(name, field, _describe(error, secret=secret))


def _show(value: Any, limit: int = 60) -> str:
    """Quote a submitted value for an error message, shortened."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _describe(error: jsonschema.ValidationError, *, secret: bool = False) -> str:
    """Human message for one jsonschema error, quoting the value (unless `secret`) and the rule."""
    kind, bound, got = str(error.validator), error.validator_value, error.instance
    if secret:
        got = SECRET_MASK
    template = _MESSAGES.get(f"{kind}:{bound}") or _MESSAGES.get(kind)
    if template is None:
        return error.message
    if kind in ("anyOf", "oneOf"):
        types = [m.get("type") for m in bound if isinstance(m, dict)]
    else:
        types = bound if isinstance(bound, list) else [bound]
    words = [_TYPE_WORDS.get(t, "a value") if isinstance(t, str) else "a value" for t in types]
    return template.format(
        expected=" or ".join(dict.fromkeys(words)),
        bound=int(bound) if isinstance(bound, float) and bound.is_integer() else bound,
        got=_show(got),
        choices=", ".join(str(c) for c in bound) if kind == "enum" else "",
        length=len(got) if isinstance(got, str) else "",
    )


def problem_detail(invalid: Iterable[InvalidField]) -> str:
    """Replicate's 422 `detail` text: one `- field: description` line per problem."""
    return "".join(f"- {e.field}: {e.description}\n" for e in invalid)
