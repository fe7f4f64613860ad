"""Show prediction outputs in a notebook: images, audio, video, files, text, lists, dicts, cards.

Every display carries a deterministic `text/plain` label (MIME type, pixel size, byte size) beside
its rich form: nbval compares text/plain and text/html (never images), so stored notebooks stay
comparable. The `render_*` functions build mime bundles for the IPython formatters that
`%load_ext replicate_nb` registers and for widgets; `stream_text` prints tokens as a model
produces them.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any

from IPython.display import display
from IPython.lib.pretty import pretty

from replicate_nb import _datauri
from replicate_nb._terms import RED, status_colour
from replicate_nb.outputs import File, Items, Node, Table, Text, tree

if TYPE_CHECKING:
    import replicate
    from replicate.prediction import Prediction
    from replicate.stream import ServerSentEvent

INLINE_LIMIT = 10_000_000
"""Bytes above which a file with an http(s) URL is shown from that URL instead of being embedded
in the notebook (a video of tens of MB would otherwise land in the .ipynb as base64). `data:`
outputs have no URL, so they are embedded whatever their size, with their size in the label."""
_NATIVE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif"})  # frontends render these raw
_BROWSER = {
    "image": frozenset({"png", "jpeg", "gif", "webp", "apng", "avif", "bmp"}),
    "audio": frozenset({"wav", "mpeg", "ogg", "flac", "aac", "mp4"}),
    "video": frozenset({"mp4", "webm"}),
}
_TIMES = "\N{MULTIPLICATION SIGN}"
_PRETTY_LIMIT = 50
_LOG_LINES = 10
_PROGRESS_BAR = re.compile(r"^(.*?)\s*\d+%\|.*\|\s*\d+/\d+")  # a tqdm line: its prefix, then 5%|█ |


@dataclass(frozen=True)
class _Shown:
    """One value rendered: its text/plain, an HTML fragment, and how show() displays it."""

    plain: str
    html: str
    bundle: dict[str, Any] | None = None  # a richer top-level form than plain + HTML
    parts: tuple[_Shown, ...] = ()  # show() displays these one after another instead
    is_image: bool = False

    def data(self) -> dict[str, Any]:
        return (
            self.bundle
            if self.bundle is not None
            else {"text/plain": self.plain, "text/html": self.html}
        )


def show(output: Any) -> None:
    """Display any model output in the notebook, each part with a deterministic text/plain.

    Files (FileOutput, `data:` URIs, URLs, bytes) are sniffed by content: images are shown,
    audio and video get players, anything else a download link. Lists of images become a
    grid, other lists a vertical sequence, dicts a table; token lists and iterators are
    joined into text; a `Prediction` becomes a status card.
    """
    for bundle in render_parts(output):
        display(bundle, raw=True)


def render_parts(output: Any) -> list[dict[str, Any]]:
    """The mime bundles `show(output)` displays, in order, without displaying them.

    For widgets: an `Output` widget takes them as
    `out.outputs = tuple({"output_type": "display_data", "data": b, "metadata": {}} for b in ...)`.
    """
    return render_tree(read(output))


def read(output: Any) -> Node:
    """`outputs.tree(output)` with files past `INLINE_LIMIT` left at their URL (read once)."""
    return tree(output, limit=INLINE_LIMIT)


def render_tree(node: Node) -> list[dict[str, Any]]:
    """The mime bundles of an output already read by `read()` (what `render_parts` shows)."""
    shown = _render(node)
    return [part.data() for part in shown.parts or (shown,)]


def describe(data: bytes, mime: str) -> str:
    """A short, stable label for file bytes, e.g. `<image/png 64×48, 1.2 kB>`."""  # noqa: RUF002
    size = _size(len(data))
    dims = _image_size(data) if mime.startswith("image/") else None
    return f"<{mime} {dims[0]}{_TIMES}{dims[1]}, {size}>" if dims else f"<{mime}, {size}>"


def render_file_output(output: Any) -> dict[str, Any]:
    """The mime bundle of a file output, with text/plain like `FileOutput(<image/png …>)`.

    For the 1.x and 2.x `FileOutput` and the 2.x `URLPath`: read once from its URL (never by
    `str()`, which makes a URLPath download itself to a temporary file).
    """
    shown = _render(read(output))
    return {**shown.data(), "text/plain": f"{type(output).__name__}({shown.plain})"}


def render_prediction(prediction: Prediction, *, output: Node | None = None) -> dict[str, Any]:
    """The mime bundle of a prediction card: status, model, time, progress, logs, output.

    `output` is the prediction's output already read (`read(prediction.output)`, as the live
    card's output view holds it), so its files are not read a second time.
    """
    return _prediction(prediction, output).data()


def terminal_text(logs: str) -> str:
    """Logs as a terminal shows them: a carriage return rewrites its line, and a run of
    progress-bar lines (tqdm, one per step in Replicate's logs) collapses into the latest one.
    """
    lines: list[str] = []
    bar: str | None = None  # the prefix of the progress bar the last line drew
    for raw in logs.split("\n"):
        line = next((part for part in reversed(raw.split("\r")) if part), "")
        match = _PROGRESS_BAR.match(line)
        if match and bar == match.group(1) and lines:
            lines[-1] = line
            continue
        bar = match.group(1) if match else None
        lines.append(line)
    return "\n".join(lines)


def stream_text(
    ref: str, input: dict[str, Any] | None = None, *, client: replicate.Client | None = None
) -> str:
    """Run a streaming model, printing tokens as they arrive; returns the full text.

    Tokens go to stdout without newlines (one stream output in the notebook), then a final
    newline. An `error` event raises the SDK's RuntimeError unchanged.
    """
    from replicate_nb.connection import current_client  # the 1.x client

    client = client if client is not None else current_client()
    parts: list[str] = []
    try:
        for event in client.stream(ref, input=input or {}):
            _print_token(event, parts)
    finally:
        if parts:
            print(flush=True)
    return "".join(parts)


async def async_stream_text(
    ref: str, input: dict[str, Any] | None = None, *, client: replicate.Client | None = None
) -> str:
    """Like `stream_text`, awaited on the running event loop (with a client for that loop)."""
    from replicate_nb.aio import loop_client
    from replicate_nb.connection import current_client

    client = loop_client(client if client is not None else current_client())
    parts: list[str] = []
    try:
        async for event in await client.async_stream(ref, input=input or {}):
            _print_token(event, parts)
    finally:
        if parts:
            print(flush=True)
    return "".join(parts)


def _print_token(event: ServerSentEvent, parts: list[str]) -> None:
    from replicate.stream import ServerSentEvent

    if event.event is ServerSentEvent.EventType.OUTPUT:
        token = str(event.data)  # a token starting with https:/data: arrives as a FileOutput
        print(token, end="", flush=True)
        parts.append(token)


def _render(node: Node) -> _Shown:
    if isinstance(node, File):
        return _file(node)
    if isinstance(node, Text):
        return _text(node.text)
    if isinstance(node, Table):
        return _table(node)
    if isinstance(node, Items):
        return _sequence(node)
    if _is_prediction(node.value):
        return _prediction(node.value)
    if isinstance(node.value, (list, tuple)):  # vectors read better on one line
        return _pretty(node.value, width=10_000)
    return _pretty(node.value)


def _is_prediction(value: Any) -> bool:
    """A 1.x `Prediction` (a card); other clients' objects show as themselves."""
    try:
        from replicate.prediction import Prediction
    except ImportError:  # replicate 2.x
        return False
    return isinstance(value, Prediction)


def _text(value: str) -> _Shown:
    html = f'<pre style="white-space:pre-wrap;margin:0">{escape(value)}</pre>'
    return _Shown(value, html, bundle={"text/plain": value})


def _pretty(value: Any, *, width: int = 79) -> _Shown:
    plain = pretty(value, max_width=width, max_seq_length=_PRETTY_LIMIT)
    return _Shown(
        plain, f'<pre style="margin:0">{escape(plain)}</pre>', bundle={"text/plain": plain}
    )


def _sequence(node: Items) -> _Shown:
    parts = tuple(_render(item) for item in node.items)
    multiline = any("\n" in p.plain for p in parts)
    plain = (
        "\n".join(p.plain for p in parts)
        if multiline
        else ("[" + ", ".join(p.plain for p in parts) + "]")
    )
    if all(p.is_image for p in parts):
        cells = "".join(
            f'<figure style="margin:0;max-width:256px">{p.html}'
            f'<figcaption style="font-size:smaller">{escape(p.plain)}</figcaption></figure>'
            for p in parts
        )
        html = f'<div style="display:flex;flex-wrap:wrap;gap:8px">{cells}</div>'
        return _Shown(plain, html)
    html = "".join(f'<div style="margin-bottom:6px">{p.html}</div>' for p in parts)
    return _Shown(plain, html, parts=parts)


def _table(node: Table) -> _Shown:
    rows, lines = [], []
    for key, value in node.rows:
        shown = _render(value)
        rows.append(
            f'<tr><th style="text-align:left;vertical-align:top">{escape(str(key))}</th>'
            f'<td style="text-align:left">{shown.html}</td></tr>'
        )
        lines.append(f"{key}: " + shown.plain.replace("\n", "\n  "))
    return _Shown("\n".join(lines), f"<table>{''.join(rows)}</table>")


def _file(node: File) -> _Shown:
    href = node.url
    if node.error is not None:
        label = f"<{href}: could not download ({node.error})>"
        return _Shown(label, f'<a href="{escape(href or "")}">{escape(label)}</a>')
    if href is not None and node.truncated:
        return _by_url(node.mime, href)
    return _media(node)


def _by_url(mime: str, href: str) -> _Shown:
    """A file too large to store in the notebook, shown from its URL (and saying so)."""
    label = f"<{mime}, over {_size(INLINE_LIMIT)}: shown from its URL, not stored in the notebook>"
    kind, _, subtype = mime.partition("/")
    url = escape(href)
    if subtype in _BROWSER.get(kind, ()) and kind == "image":
        html = f'<img src="{url}" alt="{escape(label)}" style="max-width:100%">'
    elif subtype in _BROWSER.get(kind, ()):
        size = ' style="max-width:100%"' if kind == "video" else ""
        html = f'<{kind} controls src="{url}" title="{escape(label)}"{size}></{kind}>'
    else:
        html = f'<a href="{url}">{url}</a> ({escape(mime)}, over {_size(INLINE_LIMIT)})'
    return _Shown(label, f"{html}<br><small>{escape(label)}</small>", is_image=kind == "image")


def _media(node: File) -> _Shown:
    data, mime, href = node.data, node.mime, node.url
    label = describe(data, mime)
    kind, _, subtype = mime.partition("/")
    src = _datauri.encode(data, mime)
    if subtype not in _BROWSER.get(kind, ()):
        name = node.filename()
        html = (
            f'<a href="{escape(href or src)}" download="{name}">{name}</a> '
            f"({escape(mime)}, {_size(len(data))})"
        )
        return _Shown(label, html)
    if kind == "image":
        html = f'<img src="{src}" alt="{escape(label)}" style="max-width:100%">'
        bundle = (
            {mime: src.partition(",")[2], "text/plain": label} if mime in _NATIVE_IMAGES else None
        )
        return _Shown(label, html, bundle=bundle, is_image=True)
    size = ' style="max-width:100%"' if kind == "video" else ""
    return _Shown(label, f'<{kind} controls src="{src}" title="{escape(label)}"{size}></{kind}>')


def _prediction(p: Prediction, node: Node | None = None) -> _Shown:
    ref = f"{p.model}:{p.version[:8]}" if p.version and p.version != "hidden" else p.model
    facts = [ref]
    elapsed = _elapsed(p)
    if elapsed is not None:
        facts.append(f"{elapsed:.2f} s")
    progress = p.progress
    if progress is not None:
        facts.append(f"{round(progress.percentage * 100)}% ({progress.current}/{progress.total})")
    lines = [f"Prediction {p.status}: " + ", ".join(facts)]
    colour = status_colour(p.status)
    head = f'<b style="color:{colour}">{escape(p.status)}</b> <code>{escape(ref)}</code> ' + escape(
        " · ".join(facts[1:])
    )
    if progress is not None:
        head += f' <progress value="{progress.current}" max="{progress.total}"></progress>'
    body = [f"<div>{head}</div>"]
    if p.error:
        lines.append(f"error: {p.error}")
        body.append(f'<div style="color:{RED}">{escape(str(p.error))}</div>')
    logs = [line for line in (p.logs or "").splitlines() if line.strip()][-_LOG_LINES:]
    if logs:
        lines += [f"logs (last {len(logs)} lines):", *(f"  {line}" for line in logs)]
        body.append(
            f'<pre style="margin:4px 0;font-size:smaller">{escape(chr(10).join(logs))}</pre>'
        )
    if p.output is not None:
        output = _render(node if node is not None else read(p.output))
        lines.append("output: " + output.plain.replace("\n", "\n  "))
        body.append(f"<div>{output.html}</div>")
    html = (
        '<div style="border:1px solid #8886;border-radius:6px;padding:6px 10px">'
        + "".join(body)
        + "</div>"
    )
    return _Shown("\n".join(lines), html)


def _elapsed(p: Prediction) -> float | None:
    """Seconds the model ran: `metrics.predict_time`, else completed_at - started_at."""
    predict_time = (p.metrics or {}).get("predict_time")
    if isinstance(predict_time, (int, float)):
        return float(predict_time)
    if p.started_at and p.completed_at:
        start, end = (
            datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (p.started_at, p.completed_at)
        )
        return (end - start).total_seconds()
    return None


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} B"
    return f"{n / 1000:.1f} kB" if n < 1_000_000 else f"{n / 1_000_000:.1f} MB"


def _image_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
