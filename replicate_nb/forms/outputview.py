"""A run's final output in the form and the card: Preview | JSON, and open/download/copy per file.

The output is read once into `outputs.tree` (off the event loop), then rendered from that tree:
the display bundles `show()` would use, and under them one row of actions for each file. An
https file opens and downloads from its URL, and its URL can be copied (`front.CopyButton`); a
`data:` file has no URL, so its bytes stay in Python and go to the browser only when Open or
Download is clicked (`FileActions`), as a message, never as synced widget state.
"""

from __future__ import annotations

import asyncio
import json
from html import escape
from typing import Any

import anywidget
import ipywidgets as widgets
import traitlets

from replicate_nb import _datauri
from replicate_nb.display import read, render_tree
from replicate_nb.forms.field import style
from replicate_nb.forms.front import CopyButton
from replicate_nb.outputs import File, Node, files

_JSON_CHARS = 20_000

_ACTIONS_ESM = """
function render({ model, el }) {
  el.classList.add("rnb-file-actions");
  el.style.cssText = "display:flex;gap:4px;margin-right:4px;";
  const make = (label, title) => {
    const button = document.createElement("button");
    button.className = "jupyter-button widget-button";
    button.type = "button";
    button.style.cssText = "width:auto;padding:0 10px;";
    button.textContent = label;
    button.title = title;
    el.appendChild(button);
    return button;
  };
  const name = () => model.get("name");
  const url = () => model.get("url");
  let pending = null;  // what to do with the bytes Python sends back (data: files)
  const ask = (event, then) => { pending = then; model.send({ event }); };
  model.on("msg:custom", (content, buffers) => {
    if (!pending || !buffers || !buffers.length) return;
    const blob = new Blob([buffers[0]], { type: content.mime || "application/octet-stream" });
    const done = pending;
    pending = null;
    done(URL.createObjectURL(blob));
  });
  const save = (href) => {
    const a = document.createElement("a");
    a.href = href;
    a.download = name();
    a.rel = "noopener";
    document.body.appendChild(a);
    a.click();
    a.remove();
  };
  make("Open", "Open full size in a new tab").addEventListener("click", () => {
    if (url()) { window.open(url(), "_blank", "noopener"); return; }
    const tab = window.open("", "_blank");  // opened now, while the click allows pop-ups
    ask("open", (href) => { if (tab) tab.location.href = href; else window.open(href, "_blank"); });
  });
  make("Download", "Save the file as " + name()).addEventListener("click", () => {
    if (url()) save(url()); else ask("download", save);
  });
}
export default { render };
"""


class FileActions(anywidget.AnyWidget):
    """Open and Download buttons for one output file.

    Synced: the file's name, type and http(s) URL (empty for a `data:` file). A `data:` file's
    bytes stay here and are sent to the browser only when a button asks for them.
    """

    _esm = _ACTIONS_ESM
    name = traitlets.Unicode("").tag(sync=True)
    mime = traitlets.Unicode("").tag(sync=True)
    url = traitlets.Unicode("").tag(sync=True)

    def __init__(self, file: File, *, index: int = 0) -> None:
        super().__init__(name=file.filename(index), mime=file.mime, url=file.url or "")
        self._data = b"" if file.url else file.data
        self.on_msg(self._received)

    def __repr__(self) -> str:
        return f"FileActions({self.name!r}, {self.mime!r})"

    def _received(self, _widget: Any, content: Any, _buffers: list[bytes]) -> None:
        if isinstance(content, dict) and content.get("event") in ("open", "download"):
            self.send({"event": content["event"], "mime": self.mime}, [self._data])


def file_row(file: File, *, index: int = 0) -> widgets.Widget:
    """The actions under one file: Open, Download and, for an https file, Copy URL."""
    parts: list[widgets.Widget] = [FileActions(file, index=index)]
    if file.url:
        parts.append(CopyButton(text=file.url, label="Copy URL"))
    label = widgets.HTML(f"<small>{escape(file.filename(index))} · {escape(file.mime)}</small>")
    return widgets.HBox([*parts, label], layout=widgets.Layout(align_items="center"))


def short_json(value: Any) -> str:
    """The output as indented JSON, long `data:` URIs cut to their head (the JSON view)."""

    def cut(v: Any) -> Any:
        if _datauri.is_data_uri(v) and len(v) > 80:
            return f"{v[:60]}… ({len(v):,} characters)"
        if isinstance(v, list):
            return [cut(i) for i in v]
        if isinstance(v, dict):
            return {k: cut(i) for k, i in v.items()}
        return v

    shown = json.dumps(cut(value), indent=2, ensure_ascii=False, default=str)
    return shown if len(shown) <= _JSON_CHARS else shown[:_JSON_CHARS] + "\n…"


class OutputView:
    """The output widgets: the rendered output, a file-actions row per file, JSON, the toggle.

    `text` is the run view's streamed-text widget, hidden with the preview in the JSON view.
    """

    def __init__(self, text: widgets.HTML) -> None:
        self._text = text
        self.output = widgets.Output(_dom_classes=("rnb-output",))
        self.files = widgets.VBox(_dom_classes=("rnb-files",))
        self.json = widgets.HTML(
            layout=widgets.Layout(display="none"),
            style=style(widgets.HTML),  # shared: a Style is a widget of its own
            _dom_classes=("rnb-json",),
        )
        self.mode = widgets.ToggleButtons(
            options=["Preview", "JSON"],
            layout=widgets.Layout(display="none"),
            style={"button_width": "6em"},
            tooltips=["The output as it looks", "The output as the API returned it"],
        )
        self.mode.observe(self._switch, "value")
        self.node: Node | None = None
        """The output shown, as `outputs.tree` read it (None before, or for streamed text)."""

    def clear(self) -> None:
        """Forget the previous output."""
        self.mode.layout.display = self.json.layout.display = "none"
        self.json.value = ""
        self.output.outputs = ()
        self.files.children = ()
        self.node = None
        self.mode.value = "Preview"

    def show_json(self, output: Any) -> None:
        """Fill the JSON view and offer the toggle."""
        self.json.value = f'<pre style="margin:0">{escape(short_json(output))}</pre>'
        self.mode.layout.display = ""

    async def show(self, output: Any) -> None:
        """Read the output once (in a thread: downloads block) and show it with its files."""
        node = self.node = await asyncio.to_thread(read, output)
        self.output.outputs = tuple(
            {"output_type": "display_data", "data": b, "metadata": {}} for b in render_tree(node)
        )
        found = files(node)
        numbered = len(found) > 1
        self.files.children = [
            file_row(f, index=i + 1 if numbered else 0)
            for i, f in enumerate(found)
            if f.error is None
        ]

    def _switch(self, change: dict) -> None:
        preview = change["new"] == "Preview"
        self.json.layout.display = "none" if preview else ""
        self.output.layout.display = self.files.layout.display = "" if preview else "none"
        if self._text.value:
            self._text.layout.display = "" if preview else "none"
