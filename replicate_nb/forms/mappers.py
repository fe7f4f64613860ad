"""Schema field → input widget: one small mapper per kind of Cog input, chained by `widget_for`.

Each `widget_from_*` takes a `schema.Field` and returns a `FieldWidget`, or None when the field
is not its kind; `MAPPERS` is the order they are tried in.
"""

from __future__ import annotations

from replicate_nb.forms.field import FieldWidget
from replicate_nb.forms.fields import (
    SLIDER_MAX_STEPS,
    BooleanField,
    EnumField,
    JsonField,
    NumberField,
    TextField,
)
from replicate_nb.forms.private_fields import SecretField, UriField
from replicate_nb.schema import Field


def widget_from_enum(field: Field) -> FieldWidget | None:
    """A Dropdown for `enum` fields (inline, or `allOf`/`$ref` to an enum component)."""
    return EnumField(field) if field.kind == "enum" else None


def widget_from_boolean(field: Field) -> FieldWidget | None:
    """A Checkbox for booleans."""
    return BooleanField(field) if field.kind == "boolean" else None


def widget_from_number(field: Field) -> FieldWidget | None:
    """A blank-able number entry; linked to a slider when both bounds exist (not huge ranges)."""
    if field.kind not in ("integer", "number"):
        return None
    low, high = field.minimum, field.maximum
    bounded = (
        low is not None
        and high is not None
        and low <= high
        and (field.kind != "integer" or high - low <= SLIDER_MAX_STEPS)
    )
    return NumberField(field, slider=bounded)


def widget_from_uri(field: Field) -> FieldWidget | None:
    """A file upload plus URL box for `format: uri` (Cog's Path and File)."""
    return UriField(field) if field.kind == "uri" else None


def widget_from_secret(field: Field) -> FieldWidget | None:
    """A Password box for `format: password` / `x-cog-secret` (Cog's Secret)."""
    return SecretField(field) if field.kind == "secret" else None


def widget_from_text(field: Field) -> FieldWidget | None:
    """A Textarea or Text box for other strings."""
    return TextField(field) if field.kind == "string" else None


def widget_from_json(field: Field) -> FieldWidget | None:
    """A JSON box for arrays, objects and unions."""
    return JsonField(field) if field.kind == "json" else None


MAPPERS = (
    widget_from_enum,
    widget_from_boolean,
    widget_from_number,
    widget_from_uri,
    widget_from_secret,
    widget_from_text,
    widget_from_json,
)
"""Tried in order; the first widget returned is used."""


def widget_for(field: Field) -> FieldWidget:
    """The widget for one schema field: the first mapper in `MAPPERS` that takes it."""
    for mapper in MAPPERS:
        widget = mapper(field)
        if widget is not None:
            return widget
    raise ValueError(f"no widget for input {field.name!r} of kind {field.kind!r}")
