"""The base class of every input widget: a heading (name, type, bounds, description) and a control.

A `FieldWidget` has one contract for the form: `read()` gives the JSON value or `MISSING` when the
field is blank (blank means "not sent": the model decides), and raises ValueError for text that
does not parse; `write(value)` sets it from Python and raises `FormError` for a value of the wrong
type. The kinds of field (`fields`, `private_fields`) build on it; nothing here imports them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from html import escape
from typing import Any

import ipywidgets as widgets

from replicate_nb._terms import GREY, RED
from replicate_nb.errors import FormError
from replicate_nb.forms.markdown import render_markdown
from replicate_nb.schema import MISSING, Field

_LAYOUTS = {
    "wide": {"width": "100%"},
    "narrow": {"width": "12em"},
    "row": {"margin": "0 0 6px 0"},
    "head": {},
}
_shared: dict[str, widgets.Layout] = {}
_styles: dict[type, widgets.Style] = {}
Listener = Callable[[str], None]


def layout(kind: str) -> widgets.Layout:
    """A Layout shared by all widgets of a kind (each Layout is a widget too: ~0.1 ms apiece)."""
    shared = _shared.get(kind)
    if shared is None or shared.comm is None:  # closed by Widget.close_all()
        shared = _shared[kind] = widgets.Layout(**_LAYOUTS[kind])
    return shared


def style(cls: type[widgets.DOMWidget]) -> widgets.Style:
    """The default Style of widget class `cls`, shared by all its instances (never change it:
    each Style is a widget too, and a form of 43 inputs built ~100 of them)."""
    shared = _styles.get(cls)
    if shared is None or shared.comm is None:  # closed by Widget.close_all()
        shared = _styles[cls] = cls.class_traits()["style"].klass()
    return shared


def show_value(value: Any, limit: int = 40) -> str:
    """A short JSON-ish rendering of a value for hints and messages (cut at `limit`)."""
    text = (
        repr(value)
        if isinstance(value, str)
        else json.dumps(value, ensure_ascii=False, default=repr)
    )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value (1 == 1.0), booleans only with booleans."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def type_name(field: Field) -> str:
    """What the field takes, as the hint names it: `integer`, `string (enum)`, `file or URL`…"""
    if field.kind == "enum":
        return f"{field.type or 'value'} (enum)"
    if field.kind == "uri":
        return "file or URL"
    if field.kind == "json":
        return f"JSON {field.type}" if field.type else "JSON"
    return field.kind


def facts(field: Field) -> list[str]:
    """The hint line: type, default, bounds and rules (the description goes below it)."""
    found = [type_name(field)]
    if field.has_default and field.kind != "secret":
        found.append(f"default {show_value(field.default)}")
    elif not field.required:
        found.append("blank: not sent")
    for word, bound in (
        ("min", field.minimum),
        ("max", field.maximum),
        ("min length", field.min_length),
        ("max length", field.max_length),
    ):
        if bound is not None:
            found.append(f"{word} {bound}")
    if field.pattern:
        found.append(f"pattern {field.pattern}")
    if field.accept:
        found.append(f"accepts {field.accept}")
    return found


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
        self._description = render_markdown(field.description) if field.description else ""
        self.reset()
        self.head = widgets.HTML(
            self._head_html(), layout=layout("head"), style=style(widgets.HTML)
        )
        super().__init__(
            [self.head, body or control],
            layout=layout("row"),
            _dom_classes=("rnb-field", f"rnb-field-{field.name}"),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.field.name!r})"

    @property
    def label(self) -> str:
        """The plain-text label: the input's name, with `*` when required."""
        return self.field.name + (" *" if self.field.required else "")

    @property
    def changed(self) -> bool:
        """Whether the field holds something other than its default (blank when it has none)."""
        try:
            value = self.read()
        except ValueError:
            return True
        if not self.field.has_default:
            return value is not MISSING
        return value is MISSING or not same_value(value, self.field.default)

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
                f"{'a secret' if self.field.kind == 'secret' else show_value(value)} "
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
            html += f' <span style="color:{RED}" title="required">*</span>'
        if f.title.lower() != f.name.replace("_", " ").lower():
            html += f" {escape(f.title)}"
        if f.deprecated:
            html += ' <i style="color:#7d4e00">(deprecated)</i>'
        hint = " · ".join(escape(fact) for fact in [*facts(f), self.note] if fact)
        html += f' <span style="color:{GREY};font-size:smaller">{hint}</span>'
        if self._description:
            html += (
                f'<div class="rnb-description" style="color:{GREY};font-size:smaller">'
                f"{self._description}</div>"
            )
        if self.error:
            html += f'<div class="rnb-error" style="color:{RED}">{escape(self.error)}</div>'
        return f'<div style="line-height:1.4">{html}</div>'

    def _changed(self, _change: Any = None) -> None:
        for listener in self._listeners:
            listener(self.field.name)
