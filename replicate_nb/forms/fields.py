"""The kinds of input widget: enum, boolean, number (with a slider when bounded), text and JSON.

Each builds on `field.FieldWidget`; files and secrets, whose contents stay out of widget state,
are in `private_fields`. `mappers` picks one for a schema field.
"""

from __future__ import annotations

import json
import math
from typing import Any

import ipywidgets as widgets

from replicate_nb.errors import FormError
from replicate_nb.forms.field import FieldWidget, layout, same_value, show_value, style
from replicate_nb.schema import MISSING, Field

SLIDER_MAX_STEPS = 10_000  # an integer range wider than this (seeds: 0..2**32-1) gets no slider
_NOT_SET = "(not set)"


class EnumField(FieldWidget):
    """A Dropdown of the enum's choices, keeping their JSON type; blank unless defaulted."""

    def __init__(self, field: Field) -> None:
        choices = [(str(c), c) for c in field.choices or ()]
        defaulted = any(same_value(c, field.default) for _, c in choices)
        blank = [] if defaulted else [(_NOT_SET, MISSING)]
        control = widgets.Dropdown(
            options=blank + choices, layout=layout("narrow"), style=style(widgets.Dropdown)
        )
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _write(self, value: Any) -> None:
        if value is MISSING and self.control.options[0][1] is not MISSING:
            value = self.field.default  # not sent: the model's default applies, so show it
        matches = [v for _, v in self.control.options if same_value(v, value)]
        if not matches:
            choices = ", ".join(show_value(c) for c in self.field.choices or ())
            raise FormError(f"{self.field.name} is one of {choices}; got {show_value(value)}")
        self.control.value = matches[0]


class BooleanField(FieldWidget):
    """A Checkbox; a true/false/(not set) Dropdown when an optional field has no default."""

    def __init__(self, field: Field) -> None:
        if field.has_default or field.required:
            control: widgets.Widget = widgets.Checkbox(
                indent=False, layout=layout("narrow"), style=style(widgets.Checkbox)
            )
        else:
            control = widgets.Dropdown(
                options=[(_NOT_SET, MISSING), ("true", True), ("false", False)],
                layout=layout("narrow"),
                style=style(widgets.Dropdown),
            )
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _write(self, value: Any) -> None:
        self._expect(value, bool, "True or False")
        if value is MISSING and isinstance(self.control, widgets.Checkbox):
            value = self.field.default if isinstance(self.field.default, bool) else False
        self.control.value = value


def _format_number(value: float) -> str:
    return str(value) if isinstance(value, int) else format(value, ".15g")


def _parse_number(text: str, integer: bool) -> int | float:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"{text!r} is not a finite number")
    if integer and not number.is_integer():
        raise ValueError(f"{text!r} is not a whole number")
    return int(number) if integer else number


def _decimals(value: float) -> int:
    text = _format_number(value)
    return len(text.partition(".")[2]) if "e" not in text else 15


def _step(low: float, high: float, default: Any) -> float:
    """A power of ten near 1/100 of the range, fine enough that min and default lie on it.

    The browser snaps a slider to `min + k * step` and sends the snapped value back: a
    default off that grid would come back changed, and then be sent as if the person chose it.
    """
    span = high - low
    exponent = math.floor(math.log10(span / 100)) if span > 0 else 0
    grid = [v for v in (low, default) if isinstance(v, int | float)]
    return 10.0 ** min(exponent, *(-_decimals(v) for v in grid))


class NumberField(FieldWidget):
    """A text entry that may be blank, linked to a slider when the field has both bounds."""

    def __init__(self, field: Field, *, slider: bool) -> None:
        self.integer = field.type == "integer"
        self.entry = widgets.Text(
            layout=layout("narrow"),
            placeholder="blank: not sent" if not field.required else "",
            style=style(widgets.Text),
        )
        self.slider: widgets.Widget | None = None
        low, high = field.minimum, field.maximum
        if slider and low is not None and high is not None:
            cls = widgets.IntSlider if self.integer else widgets.FloatSlider
            self.slider = cls(
                min=low,
                max=high,
                readout=False,
                step=1 if self.integer else _step(low, high, field.default),
            )
            self.slider.observe(self._slid, "value")  # the entry's observer reports changes
        self._linking = False
        self.entry.observe(self._typed, "value")
        body = widgets.HBox([self.slider, self.entry]) if self.slider else None
        super().__init__(field, self.slider or self.entry, body)

    def _read(self) -> Any:
        text = self.entry.value.strip()
        return _parse_number(text, self.integer) if text else MISSING

    def _write(self, value: Any) -> None:
        expected = "a whole number" if self.integer else "a number"
        self._expect(value, int if self.integer else (int, float), expected)
        self.entry.value = "" if value is MISSING else _format_number(value)

    def _typed(self, change: dict) -> None:
        if self.slider is not None and not self._linking:
            try:
                number = _parse_number(change["new"], self.integer)
            except ValueError:
                number = None
            if number is not None:
                self._linking = True
                try:
                    self.slider.value = number  # clamped by the slider; the entry keeps its text
                finally:
                    self._linking = False
        self._changed()

    def _slid(self, change: dict) -> None:
        try:  # a browser slider snaps an off-grid entry to its steps: keep the entry then
            snapped = abs(self.read() - change["new"]) < change["owner"].step / 2
        except (TypeError, ValueError):
            snapped = False
        if not self._linking and not snapped:
            self._linking = True
            try:
                self.entry.value = _format_number(change["new"])
            finally:
                self._linking = False


class TextField(FieldWidget):
    """A Textarea for long text (prompts, templates, multi-line defaults), else a Text box."""

    def __init__(self, field: Field) -> None:
        if field.is_long_text:
            lines = field.default.count("\n") + 1 if isinstance(field.default, str) else 1
            control = widgets.Textarea(
                rows=min(10, max(3, lines + 1)),
                layout=layout("wide"),
                style=style(widgets.Text),
            )
        else:
            control = widgets.Text(layout=layout("wide"), style=style(widgets.Text))
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _write(self, value: Any) -> None:
        self._expect(value, str, "a string")
        self.control.value = value or ""


def _allows_string(schema: dict) -> bool:
    members = schema.get("anyOf") or schema.get("oneOf") or [schema]
    return any(isinstance(m, dict) and m.get("type") == "string" for m in members)


class JsonField(FieldWidget):
    """A Textarea holding JSON (arrays, objects, unions); bare text is taken for a string union."""

    def __init__(self, field: Field) -> None:
        kinds = [
            m.get("type", "value")
            for m in field.schema.get("anyOf") or [field.schema]
            if isinstance(m, dict)
        ]
        control = widgets.Textarea(
            rows=2, layout=layout("wide"), placeholder="JSON: " + " or ".join(map(str, kinds))
        )
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _read(self) -> Any:
        text = self.control.value
        if not text.strip():
            return MISSING
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            if _allows_string(self.field.schema):
                return text
            raise ValueError(
                f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})"
            ) from None

    def _write(self, value: Any) -> None:
        try:
            self.control.value = "" if value is MISSING else json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            self._expect(value, (), "a JSON value (str, number, bool, list, dict)")
