"""Where a form's parts go: inputs left and the run right (stacked when narrow), and the fold.

The two columns sit in a wrapping flex row with minimum widths, so a wide cell shows them side by
side and a narrow one (or a phone) stacks the run under the inputs, with no JavaScript.

The fold rule: a model with at most `ALL_OPEN` inputs shows them all. Otherwise the required
inputs and the first `FIRST_OPEN` inputs by `x-order` are open, and the rest sit under one
"More inputs (n)" fold. The fold never hides a changed or invalid input: whenever the form
re-places its fields (on `set`, `load`, `reset`, a refused Run, and when the fold is closed), any
folded input that differs from its default or has an error moves up among the open ones, in
`x-order`. Fields never move while the fold is open, so nothing jumps under the cursor.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from html import escape
from urllib.parse import urlsplit

import ipywidgets as widgets

from replicate_nb._terms import BLUE, GREY, RED
from replicate_nb.forms.field import FieldWidget

ALL_OPEN = 6
FIRST_OPEN = 4
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
STYLE = f"""<style>
.rnb-form .rnb-stale {{ opacity: .45; }}
.rnb-form .rnb-output img {{ max-height: 70vh; max-width: 100%; }}
.rnb-form .rnb-columns {{ gap: 8px 24px; }}
.rnb-form .rnb-code-tabs .widget-hbox, .rnb-form .rnb-actions {{ gap: 6px; }}
.rnb-form .rnb-json pre, .rnb-form .rnb-code pre {{ font-size: 12px; }}
.rnb-form .rnb-description p {{ margin: 0; }}
.rnb-form .rnb-reason {{ color: {RED}; font-size: smaller; }}
.rnb-form .rnb-actions {{ padding: 6px 0; border-top: 1px solid var(--jp-border-color2, #ddd); }}
.rnb-form .rnb-code pre {{ white-space: pre; }}
.rnb-form .widget-button:focus-visible {{ outline: 2px solid {BLUE}; }}
</style>"""


def backend_of(base_url: str | None) -> str:
    """ "sandbox" for a loopback address, "Replicate API" for api.replicate.com, else the host."""
    host = urlsplit(base_url or "https://api.replicate.com").hostname or ""
    if host in _LOOPBACK:
        return "sandbox"
    return "Replicate API" if host == "api.replicate.com" else host


def header_html(model: str | None, version: str | None, *, backend: str, description: str) -> str:
    """The form's title: model, version (or "official model"), where it runs, what it is."""
    if model and not version:
        what = "official model, runs by name"
    elif version:
        what = f"version {version[:8]}"
    else:
        what = "bare schema: Run needs a model"
    where = "sandbox (offline stand-in)" if backend == "sandbox" else backend
    html = (
        f'<div style="font-size:1.15em"><b>{escape(model or "Model inputs")}</b></div>'
        f'<div style="color:{GREY}">{escape(what)} · runs on <b>{escape(where)}</b></div>'
    )
    if description:
        html += f'<div style="color:{GREY};font-size:smaller">{escape(description)}</div>'
    return STYLE + html


def inputs_column(fold: Fold, actions: widgets.Widget) -> widgets.VBox:
    """The inputs, scrolling within at most 60% of the window, with the buttons always below."""
    scroll = widgets.VBox(
        [fold.open, fold.accordion],
        layout=widgets.Layout(max_height="60vh", overflow="auto", padding="0 4px 0 0"),
        _dom_classes=("rnb-inputs",),
    )
    return widgets.VBox([scroll, actions])


def columns(left: widgets.Widget, right: widgets.Widget) -> widgets.Box:
    """Inputs and run side by side, wrapping to one column under ~760 px."""
    left.layout = widgets.Layout(flex="1 1 360px", min_width="300px", max_width="640px")
    right.layout = widgets.Layout(flex="1 1 380px", min_width="300px")
    return widgets.Box(
        [left, right],
        layout=widgets.Layout(flex_flow="row wrap", align_items="flex-start", width="100%"),
        _dom_classes=("rnb-columns",),
    )


class Fold:
    """The open inputs above, the rest in a "More inputs (n)" fold, placed by the module's rule."""

    def __init__(self, fields: Sequence[FieldWidget]) -> None:
        self.fields = list(fields)
        few = len(self.fields) <= ALL_OPEN
        self.base_open = {
            w.field.name
            for i, w in enumerate(self.fields)
            if few or w.field.required or i < FIRST_OPEN
        }
        self.open = widgets.VBox(_dom_classes=("rnb-open",))
        self.folded = widgets.VBox(_dom_classes=("rnb-folded",))
        self.accordion = widgets.Accordion([self.folded], selected_index=None)
        if few:
            self.accordion.layout.display = "none"
        self.accordion.observe(self._toggled, "selected_index")
        self._errors: Collection[str] = ()
        self.place()

    def place(self, errors: Collection[str] | None = None) -> None:
        """Re-place fields by the rule; `errors` names the invalid inputs (kept from last time)."""
        if errors is not None:
            self._errors = errors
        shown = [w for w in self.fields if self._shows(w)]
        hidden = [w for w in self.fields if not self._shows(w)]
        if list(self.open.children) != shown:
            self.open.children = shown
        if list(self.folded.children) != hidden:
            self.folded.children = hidden
        self.accordion.set_title(0, f"More inputs ({len(hidden)})")
        if not hidden and len(self.fields) > ALL_OPEN:
            self.accordion.selected_index = None

    def _shows(self, w: FieldWidget) -> bool:
        name = w.field.name
        if name in self.base_open:
            return True
        if self.accordion.selected_index is not None and w in self.folded.children:
            return False  # the fold is open: leave it where the person is working
        return name in self._errors or w.changed

    def _toggled(self, change: dict) -> None:
        if change["new"] is None:  # closed: bring out what was changed inside it
            self.place()
