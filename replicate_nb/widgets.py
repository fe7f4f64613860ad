"""Schema field → ipywidget: one small mapper per kind of Cog input, chained by `widget_for`.

Each `widget_from_*` takes a `schema.Field` and returns a `FieldWidget` or None when the field is
not its kind. A `FieldWidget` is a heading (name, required mark, description, default, bounds, the
current error) above the control, with one contract for the form: `read()` gives the JSON value or
`MISSING` when the field is blank (blank means "not sent": the model decides), and raises
ValueError for text that does not parse; `write(value)` sets it from Python and raises `FormError`
for a value of the wrong type. Secrets and uploaded files are kept in Python attributes, never in
synced widget state, so a saved notebook holds neither.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from replicate_nb.errors import FormError
from replicate_nb.schema import MISSING, Field

_SLIDER_MAX_STEPS = 10_000  # an integer range wider than this (seeds: 0..2**32-1) gets no slider
_NOT_SET = "(not set)"
_RED = "#cf222e"
_LAYOUTS = {"wide": {"width": "95%"}, "narrow": {"width": "12em"}, "row": {}, "head": {}}
_shared: dict[str, widgets.Layout] = {}
Listener = Callable[[str], None]


def _layout(kind: str) -> widgets.Layout:
    """A Layout shared by all widgets of a kind (each Layout is a widget too: ~0.1 ms apiece)."""
    layout = _shared.get(kind)
    if layout is None or layout.comm is None:  # closed by Widget.close_all()
        layout = _shared[kind] = widgets.Layout(**_LAYOUTS[kind])
    return layout


def _show(value: Any, limit: int = 40) -> str:
    text = (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, default=repr)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(field: Field) -> list[str]:
    """The hint line: description, default, bounds and rules, as Cog's playground shows them."""
    facts = [field.description] if field.description else []
    if field.has_default and field.kind != "secret":
        facts.append(f"default {_show(field.default)}")
    elif not field.required:
        facts.append("blank: not sent")
    for word, bound in (
        ("min", field.minimum),
        ("max", field.maximum),
        ("min length", field.min_length),
        ("max length", field.max_length),
    ):
        if bound is not None:
            facts.append(f"{word} {bound}")
    if field.pattern:
        facts.append(f"pattern {field.pattern}")
    if field.accept:
        facts.append(f"accepts {field.accept}")
    return facts


class FieldWidget(widgets.VBox):
    """One model input: a heading above its control, read and written as JSON values."""

    def __init__(
        self, field: Field, control: widgets.Widget, body: widgets.Widget | None = None
    ) -> None:
        self.field = field
        self.control = control
        self.error = ""
        self.note = ""
        self._listeners: list[Listener] = []
        self.reset()
        self.head = widgets.HTML(self._head_html(), layout=_layout("head"))
        super().__init__(
            [self.head, body or control],
            layout=_layout("row"),
            _dom_classes=("rnb-field", f"rnb-field-{field.name}"),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field.name!r})"

    @property
    def label(self) -> str:
        """The plain-text label: the input's name, with `*` when required."""
        return self.field.name + (" *" if self.field.required else "")

    def read(self) -> Any:
        """The value to send, or `MISSING` when blank; ValueError when the text does not parse."""
        value = self._read()
        return MISSING if isinstance(value, str) and not value else value

    def write(self, value: Any) -> None:
        """Show `value` (`MISSING` or None: blank); FormError when its type cannot be shown."""
        self._write(MISSING if value is None else value)

    def _read(self) -> Any:
        return self.control.value

    def _write(self, value: Any) -> None:
        raise NotImplementedError

    def _expect(self, value: Any, types: type | tuple[type, ...], expected: str) -> None:
        if value is not MISSING and (
            not isinstance(value, types)
            or (
                isinstance(value, bool)
                and bool not in (types if isinstance(types, tuple) else (types,))
            )
        ):
            raise FormError(
                f"{self.field.name} takes {expected}, not "
                f"{'a secret' if self.field.kind == 'secret' else _show(value)} "
                f"({type(value).__name__})"
            )

    def reset(self) -> None:
        """Show the field's default, or leave it blank when it has none."""
        try:
            self.write(self.field.default)
        except FormError:  # a default the control cannot show (not in the schema's own enum)
            self.write(MISSING)

    def on_change(self, listener: Listener) -> None:
        """Call `listener(field_name)` whenever the person (or `write`) changes the value."""
        self._listeners.append(listener)

    def annotate(self, *, error: str | None = None, note: str | None = None) -> None:
        """Change the error or note shown in the heading (re-rendered only when it changed)."""
        old = (self.error, self.note)
        self.error = self.error if error is None else error
        self.note = self.note if note is None else note
        if (self.error, self.note) != old and hasattr(self, "head"):
            self.head.value = self._head_html()

    def _head_html(self) -> str:
        f = self.field
        html = f"<b><code>{escape(f.name)}</code></b>"
        if f.required:
            html += f' <span style="color:{_RED}" title="required">*</span>'
        if f.title.lower() != f.name.replace("_", " ").lower():
            html += f" {escape(f.title)}"
        if f.deprecated:
            html += ' <i style="color:#9a6700">(deprecated)</i>'
        facts = [*_facts(f), self.note] if self.note else _facts(f)
        if facts:
            hint = " · ".join(escape(fact) for fact in facts)
            html += f'<br><span style="color:#57606a;font-size:smaller">{hint}</span>'
        if self.error:
            html += f'<div style="color:{_RED}">{escape(self.error)}</div>'
        return f'<div style="line-height:1.4">{html}</div>'

    def _changed(self, _change: Any = None) -> None:
        for listener in self._listeners:
            listener(self.field.name)


class EnumField(FieldWidget):
    """A Dropdown of the enum's choices, keeping their JSON type; blank unless defaulted."""

    def __init__(self, field: Field) -> None:
        choices = [(str(c), c) for c in field.choices or ()]
        defaulted = any(same_value(c, field.default) for _, c in choices)
        blank = [] if defaulted else [(_NOT_SET, MISSING)]
        control = widgets.Dropdown(options=blank + choices, layout=_layout("narrow"))
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _write(self, value: Any) -> None:
        if value is MISSING and self.control.options[0][1] is not MISSING:
            value = self.field.default  # not sent: the model's default applies, so show it
        matches = [v for _, v in self.control.options if same_value(v, value)]
        if not matches:
            choices = ", ".join(_show(c) for c in self.field.choices or ())
            raise FormError(f"{self.field.name} is one of {choices}; got {_show(value)}")
        self.control.value = matches[0]


class BooleanField(FieldWidget):
    """A Checkbox; a true/false/(not set) Dropdown when an optional field has no default."""

    def __init__(self, field: Field) -> None:
        if field.has_default or field.required:
            control: widgets.Widget = widgets.Checkbox(indent=False, layout=_layout("narrow"))
        else:
            control = widgets.Dropdown(
                options=[(_NOT_SET, MISSING), ("true", True), ("false", False)],
                layout=_layout("narrow"),
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
            layout=_layout("narrow"), placeholder="blank: not sent" if not field.required else ""
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
            control = widgets.Textarea(rows=min(10, max(3, lines + 1)), layout=_layout("wide"))
        else:
            control = widgets.Text(layout=_layout("wide"))
        control.observe(self._changed, "value")
        super().__init__(field, control)

    def _write(self, value: Any) -> None:
        self._expect(value, str, "a string")
        self.control.value = value or ""


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (1 == 1.0), booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


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
            rows=2, layout=_layout("wide"), placeholder="JSON: " + " or ".join(map(str, kinds))
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
        and (field.kind != "integer" or high - low <= _SLIDER_MAX_STEPS)
    )
    return NumberField(field, slider=bounded)


def widget_from_uri(field: Field) -> FieldWidget | None:
    """A file upload plus URL box for `format: uri` (Cog's Path and File)."""
    from replicate_nb.private_fields import UriField  # it builds on this module's FieldWidget

    return UriField(field) if field.kind == "uri" else None


def widget_from_secret(field: Field) -> FieldWidget | None:
    """A Password box for `format: password` / `x-cog-secret` (Cog's Secret)."""
    from replicate_nb.private_fields import SecretField

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
