"""The fields whose contents stay out of saved widget state: file uploads and secrets.

A saved notebook carries every widget's synced state; an uploaded file's bytes and a secret's text
are therefore moved into Python attributes the moment they arrive, and the widget is cleared.
"""

from __future__ import annotations

import io
import mimetypes
import os
from html import escape
from typing import Any

import ipywidgets as widgets

from replicate_nb import _datauri
from replicate_nb.forms.field import FieldWidget, layout
from replicate_nb.forms.front import FileDrop
from replicate_nb.outputs import sniff
from replicate_nb.schema import MISSING, Field

MAX_DATA_URI_BYTES = 10_000_000
"""Largest upload sent inline as a `data:` URI (the JavaScript client's cap too)."""


class SecretField(FieldWidget):
    """A Password box whose text is moved into `self._secret` and cleared from widget state."""

    def __init__(self, field: Field) -> None:
        self._secret: str | None = None
        control = widgets.Password(layout=layout("wide"), continuous_update=False)
        control.observe(self._typed, "value")
        super().__init__(field, control)

    def __repr__(self) -> str:
        return f"SecretField({self.field.name!r}, [secure])"

    def _read(self) -> Any:
        return self._secret or MISSING

    def _write(self, value: Any) -> None:
        self._expect(value, str, "a string")
        self._secret = value or None
        self.control.placeholder = "set (hidden): type to replace" if self._secret else ""
        self._changed()

    def _typed(self, change: dict) -> None:
        if change["new"]:
            self.control.value = ""  # the widget (and a saved notebook) never keeps the secret
            self.write(change["new"])


class UriField(FieldWidget):
    """A file upload or drop (sent as a `data:` URI) beside a URL box, with a preview.

    The upload wins until a URL is typed. The preview of an uploaded image is a thumbnail of at
    most 96 px (the only trace of the file in widget state); a typed URL is previewed by link.
    """

    def __init__(self, field: Field) -> None:
        self.url = widgets.Text(layout=layout("wide"), placeholder="https://… or upload a file")
        upload = widgets.FileUpload(accept=field.accept or "", multiple=False, description="Upload")
        self.filename: str | None = None
        self._uri: str | None = None
        self._problem = ""
        self.preview = widgets.HTML(_dom_classes=("rnb-preview",))
        upload.observe(self._uploaded, "value")
        self.url.observe(self._typed, "value")
        drop = FileDrop(lambda data, name, mime: self._take(data, name or None, mime or None))
        body = widgets.VBox(
            [widgets.HBox([upload, self.url]), widgets.HBox([drop, self.preview])],
            layout=layout("row"),
        )
        super().__init__(field, upload, body)

    def _read(self) -> Any:
        if self._problem:
            raise ValueError(self._problem)
        return self._uri or self.url.value.strip()

    def _write(self, value: Any) -> None:
        if value is MISSING or (isinstance(value, str) and not _datauri.is_data_uri(value)):
            self._keep(None, None, "")
            self.url.value = value or ""
        elif isinstance(value, str):
            mime = _datauri.media_type(value) or _datauri.OCTET_STREAM
            self.url.value = ""
            self._keep(
                value,
                self.field.name + (mimetypes.guess_extension(mime) or ""),
                "",
                f"a data: URI ({mime})",
            )
        elif isinstance(value, bytes | bytearray):
            self._take(bytes(value), None, None)
        elif isinstance(value, os.PathLike):
            with open(value, "rb") as file:
                self._take(file.read(), os.path.basename(os.fspath(value)), None)
        elif hasattr(value, "read"):
            self._take(value.read(), os.path.basename(getattr(value, "name", "") or ""), None)
        else:
            self._expect(value, (), "a URL, a data: URI, a path, bytes or a binary file")

    def _take(self, data: bytes | str, name: str | None, mime: str | None) -> None:
        self._expect(data, bytes, "a file opened in binary mode ('rb')")
        assert isinstance(data, bytes)  # _expect raised otherwise
        mime = mime or (mimetypes.guess_type(name)[0] if name else None) or sniff(data)
        name = name or self.field.name + (mimetypes.guess_extension(mime) or "")
        size = f"{len(data) / 1000:.1f} kB"
        self.url.value = ""
        if len(data) > MAX_DATA_URI_BYTES:
            self._keep(
                None,
                None,
                f"{name} is {size}, too large to send inline (limit "
                f"{MAX_DATA_URI_BYTES // 1_000_000} MB): give a URL instead, e.g. the "
                "urls['get'] of client.files.create(open(path, 'rb'))",
            )
        else:
            uri = _datauri.encode(data, mime)
            self._keep(uri, name, "", f"{name}, {size}, sent as a data: URI")

    def _keep(self, uri: str | None, name: str | None, problem: str, note: str = "") -> None:
        self._uri, self.filename, self._problem = uri, name, problem
        self.annotate(note=note)
        if hasattr(self, "preview"):
            self.preview.value = _thumbnail(uri) if uri else ""
        self._changed()

    def _uploaded(self, change: dict) -> None:
        if change["new"]:
            item = change["new"][0]
            self.control.value = ()  # the bytes live in Python, not in the saved widget state
            self._take(bytes(item["content"]), item["name"], item.get("type") or None)

    def _typed(self, change: dict) -> None:
        if change["new"] and (self._uri or self._problem):
            self._keep(None, None, "")
        else:
            url = change["new"].strip()
            self.preview.value = (
                f'<a href="{escape(url)}" target="_blank" rel="noopener">open the URL</a>'
                if url.startswith(("https://", "http://"))
                else ""
            )
            self._changed()


def _thumbnail(uri: str) -> str:
    """A 96 px thumbnail `<img>` of an image `data:` URI, or "" for other files."""
    if not _datauri.media_type(uri).startswith("image/"):
        return ""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(_datauri.decode(uri))) as image:
            image.thumbnail((96, 96))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, "JPEG", quality=70)
    except (UnidentifiedImageError, OSError, ValueError):
        return ""
    src = _datauri.encode(buffer.getvalue(), "image/jpeg")
    return f'<img src="{src}" alt="preview of the file" height="48">'
