"""IPython glue: the `%replicate_connect` and `%%replicate` magics, and rich output formatters.

`%load_ext replicate_nb` calls `load_ipython_extension`, which makes file outputs (1.x and 2.x
`FileOutput`, 2.x `URLPath`), 2.x `OutputIterator`s and 1.x `Prediction`s display richly, and
registers the magics. The formatters are registered by class name (nothing is imported, so either
client generation works) and read a file by its URL, never by `str()`, which makes a 2.x
`URLPath` download itself. The cell magic turns its body into model input:
a JSON object, `key: value` lines coerced by the model's input schema, or plain text for the
model's prompt field.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import replicate
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display

from replicate_nb import schema
from replicate_nb._terms import ModelRef, parse_ref
from replicate_nb.display import (
    read,
    render_file_output,
    render_prediction,
    render_tree,
    show,
    stream_text,
)
from replicate_nb.errors import BackendError, InvalidModelRef
from replicate_nb.outputs import file_url

if TYPE_CHECKING:
    from replicate.prediction import Prediction

_KEY_LINE = re.compile(r"^([A-Za-z_]\w*)\s*:\s?(.*)$")
_PROMPT_FIELDS = ("prompt", "text", "prompts", "input", "query", "question", "message")
_FILES = (  # (module, class) of each client's file outputs
    ("replicate.helpers", "FileOutput"),  # 1.x
    ("replicate", "FileOutput"),  # 2.x (its exported classes name `replicate` their module)
    ("replicate", "AsyncFileOutput"),  # 2.x
)
_ITERATORS = (("replicate.lib._predictions_use", "SyncOutputIterator"),)  # 2.x use(); not exported
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


def load_ipython_extension(ipython: InteractiveShell) -> None:
    """Register the output and Prediction formatters and the replicate magics."""
    if ipython.display_formatter is None:
        raise UsageError("%load_ext replicate_nb needs an IPython shell with display formatters")
    formatter = ipython.display_formatter.mimebundle_formatter
    for module, name in _FILES:
        formatter.for_type_by_name(module, name, render_file_output)
    for module, name in _ITERATORS:
        formatter.for_type_by_name(module, name, _output_bundle)
    formatter.for_type(os.PathLike, _path_bundle)  # 2.x URLPath subclasses os.PathLike
    formatter.for_type_by_name("replicate.prediction", "Prediction", _prediction_bundle)  # 1.x
    if _cancel_on_interrupt not in ipython.events.callbacks["post_run_cell"]:
        ipython.events.register("post_run_cell", _cancel_on_interrupt)
    ipython.register_magics(ReplicateMagics)


def _output_bundle(output: Any) -> dict[str, Any]:
    """What `show(output)` shows, as one bundle (an iterator is read through once)."""
    bundles = render_tree(read(output))
    if len(bundles) == 1:
        return bundles[0]
    return {
        "text/plain": "\n".join(b["text/plain"] for b in bundles),
        "text/html": "".join(f"<div>{b.get('text/html', '')}</div>" for b in bundles),
    }


def _path_bundle(path: os.PathLike[str]) -> dict[str, Any] | None:
    """A path with a URL (2.x `URLPath`) is shown as that file; None leaves other paths be."""
    return render_file_output(path) if file_url(path) is not None else None


def _prediction_bundle(prediction: Prediction) -> dict[str, Any]:
    """A running prediction gets a live card (displayed above); an ended one its static card."""
    from replicate_nb.card import background_card

    card = background_card(prediction)
    if card is None:
        return render_prediction(prediction)
    return {"text/plain": f"Prediction {prediction.id}: followed live in the card above"}


def _cancel_on_interrupt(result: Any) -> None:
    """A cell stopped by a kernel interrupt cancels every prediction a live card follows."""
    card = sys.modules.get("replicate_nb.card")  # not loaded: no card follows anything
    if card is not None and isinstance(getattr(result, "error_in_exec", None), KeyboardInterrupt):
        card.cancel_watched()


@magics_class
class ReplicateMagics(Magics):
    """The replicate_nb magics."""

    @magic_arguments()
    @argument(
        "backend",
        nargs="?",
        default="auto",
        choices=("auto", "sandbox", "replicate"),
        help="where to send predictions (default: auto)",
    )
    @line_magic
    def replicate_connect(self, line: str) -> None:
        """Connect to Replicate or to an offline sandbox, and show the status line."""
        args = parse_argstring(self.replicate_connect, line)
        from replicate_nb.connection import connect  # the 1.x client

        try:
            client = connect(backend=args.backend)
        except BackendError as e:
            raise UsageError(str(e)) from None
        display(client)

    @magic_arguments()
    @argument("ref", help="the model, as owner/name or owner/name:version")
    @argument("--stream", action="store_true", help="print text tokens as they arrive")
    @argument("-o", "--output", metavar="NAME", help="also store the output in this variable")
    @cell_magic
    def replicate(self, line: str, cell: str) -> None:
        """Run a model; the cell body is its input (JSON, `key: value` lines, or a prompt)."""
        args = parse_argstring(self.replicate, line)
        ref = parse_ref(args.ref)
        if ref is None:
            raise UsageError(str(InvalidModelRef(args.ref)))
        from replicate_nb.connection import current_client  # the 1.x client

        client = current_client()
        model_input = parse_input(cell, lambda: _input_schema(client, ref), ref=args.ref)
        if args.stream:
            result: Any = stream_text(args.ref, model_input, client=client)
        else:
            result = client.run(args.ref, input=model_input)
            if isinstance(result, Iterator):  # keep the items for --output once shown
                result = list(result)
            show(result)
        if args.output and self.shell is not None:
            self.shell.user_ns[args.output] = result


def parse_input(
    body: str, get_schema: Callable[[], schema.InputSchema], *, ref: str = "the model"
) -> dict[str, Any]:
    """Turn a cell body into model input: JSON object, `key: value` lines, or prompt text.

    The schema is fetched (via `get_schema`) only for the last two forms: it tells which keys
    exist, how to coerce their values, and which field takes plain text.
    """
    body = body.strip()
    if not body:
        return {}
    if body.startswith("{"):
        try:
            return json.loads(body)  # starts with "{", so a dict when it parses
        except json.JSONDecodeError as e:
            raise UsageError(f"the cell looks like JSON but is not valid JSON: {e}") from None
    fields = {f.name: f for f in get_schema().fields}
    pairs = _key_values(body, fields)
    if pairs is not None:
        return {name: _coerce(fields[name], raw) for name, raw in pairs.items()}
    return {_prompt_field(fields, ref).name: body}


def _key_values(body: str, fields: dict[str, schema.Field]) -> dict[str, str] | None:
    """`key: value` pairs when the first line names a known input; later lines that do not
    start with a known `key:` continue the previous value. None for plain text."""
    pairs: dict[str, str] = {}
    key = None
    for line in body.splitlines():
        match = _KEY_LINE.match(line)
        if match and match[1] in fields:
            key = match[1]
            pairs[key] = match[2]
        elif key is None:
            return None
        else:
            pairs[key] += "\n" + line
    return {name: raw.strip() for name, raw in pairs.items()}


def _coerce(field: schema.Field, raw: str) -> Any:
    if field.kind == "enum":
        for choice in field.choices or ():
            if str(choice) == raw:
                return choice
        choices = ", ".join(str(c) for c in field.choices or ())
        raise UsageError(f"{field.name}: {raw!r} is not one of: {choices}")
    try:
        if field.kind == "integer":
            return int(raw)
        if field.kind == "number":
            return float(raw)
    except ValueError:
        raise UsageError(
            f"{field.name}: {raw!r} is not {'an' if field.kind == 'integer' else 'a'} {field.kind}"
        ) from None
    if field.kind == "boolean":
        if raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        raise UsageError(f"{field.name}: {raw!r} is not a boolean (write true or false)")
    if field.kind == "json" or (raw.startswith('"') and raw.endswith('"') and len(raw) > 1):
        try:
            return json.loads(raw)
        except ValueError:
            if field.kind == "json" and field.type is not None:
                raise UsageError(f"{field.name}: {raw!r} is not valid JSON") from None
    return raw


def _prompt_field(fields: dict[str, schema.Field], ref: str) -> schema.Field:
    for name in _PROMPT_FIELDS:
        if name in fields:
            return fields[name]
    for field in fields.values():
        if field.required and field.kind == "string":
            return field
    raise UsageError(
        f"{ref} has no prompt-like text input, so plain text cannot be its input; write JSON "
        f"or `key: value` lines (its inputs: {', '.join(fields) or 'none'})"
    )


def _input_schema(client: replicate.Client, ref: ModelRef) -> schema.InputSchema:
    model = client.models.get(ref.model)
    version = model.versions.get(ref.version) if ref.version else model.latest_version
    if version is None:
        raise UsageError(f"{ref.model} publishes no input schema; write its input as a JSON object")
    return schema.parse(version.openapi_schema, cog_version=version.cog_version)
