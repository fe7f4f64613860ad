"""The few front-end pieces stock ipywidgets lack: copy to clipboard, Ctrl/Cmd+Enter, a file drop.

Each is a small anywidget (plain ES module, no build step) that only reports what happened in
the browser; what to do about it stays in Python (`on_run`, `on_file`), so the form's logic is
testable without a browser. They work wherever anywidget does: JupyterLab, Notebook 7, VS Code,
Colab.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anywidget
import traitlets

from replicate_nb._terms import GREY

_COPY_ESM = """
function render({ model, el }) {
  const button = document.createElement("button");
  button.className = "jupyter-button widget-button rnb-copy";
  button.type = "button";
  const label = () => { button.textContent = model.get("label"); };
  label();
  button.title = "Copy to the clipboard";
  button.addEventListener("click", async () => {
    const text = model.get("text");
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {  // no clipboard permission (an insecure origin): copy through a selection
      const area = document.createElement("textarea");
      area.value = text;
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    button.textContent = "Copied";
    setTimeout(label, 1500);
  });
  model.on("change:label", label);
  el.appendChild(button);
}
export default { render };
"""

_KEYS_ESM = """
function render({ model, el }) {
  // Capture phase on the document: the form sees Ctrl/Cmd+Enter before the notebook's own
  // "run cell" shortcut. `el` may not be in the page yet at render time: look up its form late.
  const onKey = (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    const form = el.closest(".rnb-form");
    const target = event.target;
    if (!form || !form.contains(target)) return;
    if (!(target instanceof HTMLTextAreaElement || target instanceof HTMLInputElement)) return;
    event.preventDefault();
    event.stopPropagation();
    target.dispatchEvent(new Event("change", { bubbles: true }));  // sync the text first
    target.blur();
    target.focus();
    setTimeout(() => model.send({ event: "run" }), 0);
  };
  document.addEventListener("keydown", onKey, true);
  return () => document.removeEventListener("keydown", onKey, true);
}
export default { render };
"""

_DROP_ESM = """
function render({ model, el }) {
  const zone = document.createElement("div");
  zone.className = "rnb-drop";
  zone.textContent = model.get("label");
  zone.tabIndex = -1;
  zone.style.cssText = "border:1px dashed #8c959f;border-radius:4px;padding:4px 8px;" +
    "color:GREY;font-size:smaller;";
  const over = (on) => { zone.style.background = on ? "#ddf4ff" : ""; };
  zone.addEventListener("dragover", (e) => { e.preventDefault(); over(true); });
  zone.addEventListener("dragleave", () => over(false));
  zone.addEventListener("drop", async (e) => {
    e.preventDefault();
    over(false);
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (!file) return;
    const buffer = await file.arrayBuffer();
    model.send({ event: "file", name: file.name, type: file.type }, undefined, [buffer]);
  });
  el.appendChild(zone);
}
export default { render };
""".replace("GREY", GREY)


class CopyButton(anywidget.AnyWidget):
    """A button that copies `text` to the clipboard (the text is synced: never put a secret in)."""

    _esm = _COPY_ESM
    text = traitlets.Unicode("").tag(sync=True)
    label = traitlets.Unicode("Copy").tag(sync=True)

    def __repr__(self) -> str:
        return f"CopyButton({self.label!r})"


class RunKeys(anywidget.AnyWidget):
    """Invisible: Ctrl/Cmd+Enter in any text box of the enclosing `.rnb-form` calls `on_run`."""

    _esm = _KEYS_ESM

    def __init__(self, on_run: Callable[[], None]) -> None:
        super().__init__()
        self._on_run = on_run
        self.on_msg(self._received)

    def __repr__(self) -> str:
        return "RunKeys()"

    def _received(self, _widget: Any, content: Any, _buffers: list[bytes]) -> None:
        if isinstance(content, dict) and content.get("event") == "run":
            self._on_run()


class FileDrop(anywidget.AnyWidget):
    """A drop target: a file dropped on it calls `on_file(data, name, mime)`; nothing is synced."""

    _esm = _DROP_ESM
    label = traitlets.Unicode("or drop a file here").tag(sync=True)

    def __init__(self, on_file: Callable[[bytes, str, str], None]) -> None:
        super().__init__()
        self._on_file = on_file
        self.on_msg(self._received)

    def __repr__(self) -> str:
        return "FileDrop()"

    def _received(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        if isinstance(content, dict) and content.get("event") == "file" and buffers:
            name, mime = str(content.get("name") or ""), str(content.get("type") or "")
            self._on_file(bytes(buffers[0]), name, mime)
