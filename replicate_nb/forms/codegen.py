"""Write the Python cell that runs a form's input with the official `replicate` client.

The snippet is what a learner pastes into the next cell to leave the form behind: only the
inputs the form would send, uploaded files as `open("name", "rb")` (the SDK uploads them), secret
inputs read with `getpass` (their value is never written out), and never the API token, which the
client reads from its own configuration.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from replicate_nb import _datauri

_INDENT = "    "


def literal(value: Any) -> str:
    """A Python literal for a JSON value (`true` → `True`, strings double-quoted)."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are valid Python escapes
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{literal(str(k))}: {literal(v)}" for k, v in value.items()) + "}"
    return repr(value)


REAL_API = "https://api.replicate.com"


@dataclass(frozen=True)
class Call:
    """The prediction a form would create, which each writer writes in its language.

    Attributes:
        inputs: the input the form would send, in display order.
        model: `owner/name`, when known; with `version` the run is pinned to that version.
        version: a version id; without `model` the code creates a prediction of that version.
        files: input name → file name, for inputs that came from an upload.
        secrets: names of secret inputs: never written out.
        joins_text: the model streams text pieces (`x-cog-array-display: concatenate`).
        base_url: the API's origin (another one, a sandbox's, is written out).
    """

    inputs: Mapping[str, Any]
    _: KW_ONLY
    model: str | None = None
    version: str | None = None
    files: Mapping[str, str] = field(default_factory=dict)
    secrets: Collection[str] = ()
    joins_text: bool = False
    base_url: str = REAL_API

    @property
    def by_version(self) -> bool:
        """Whether only a version is known (the code creates a prediction of it)."""
        return self.model is None and self.version is not None

    @property
    def ref(self) -> str:
        """What `run()` is given: `owner/name:version`, `owner/name`, or a placeholder."""
        if self.model and self.version:
            return f"{self.model}:{self.version}"
        return self.model or "owner/name"


def snippet(call: Call) -> str:
    """The Python code that creates the same prediction as a form, ending with a newline.

    Uploaded files are opened with `open(name, "rb")` in a `with` block (the SDK uploads them;
    the block closes them), secret inputs are read with `getpass`, and text pieces are printed
    joined.
    """
    inputs, files, secrets = call.inputs, call.files, call.secrets
    opened = {name: f"{name}_file" for name in inputs if name in files}
    lines = ["import replicate"]
    if any(name in secrets for name in inputs):
        lines.append("from getpass import getpass")
    lines.append("")
    pad = _INDENT if opened else ""
    if opened:
        lines.append(
            "with "
            + ", ".join(
                f'open({literal(files[name])}, "rb") as {var}' for name, var in opened.items()
            )
            + ":"
        )
    if call.by_version:
        lines += [
            f"{pad}prediction = replicate.predictions.create(",
            f"{pad}{_INDENT}version={literal(call.version)},",
        ]
        tail = ["prediction.wait()", "print(prediction.status, prediction.output)"]
    else:
        if call.model is None:
            lines.append(f"{pad}# This form came from a bare schema: put the model's name here.")
        lines += [f"{pad}output = replicate.run(", f"{pad}{_INDENT}{literal(call.ref)},"]
        tail = ['print("".join(output))' if call.joins_text else "print(output)"]
    if not inputs:
        lines.append(f"{pad}{_INDENT}input={{}},")
    else:
        lines.append(f"{pad}{_INDENT}input={{")
        for name, value in inputs.items():
            code = (
                f"getpass({literal(name + ': ')})"
                if name in secrets
                else opened.get(name) or literal(value)
            )
            lines.append(f"{pad}{_INDENT * 2}{literal(name)}: {code},")
        lines.append(f"{pad}{_INDENT}}},")
    return "\n".join([*lines, f"{pad})", *tail, ""])


def _env_name(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).upper()


def javascript(call: Call) -> str:
    """The same prediction with the official JavaScript client (`npm install replicate`).

    Files are read with `readFile` (the client uploads them), secrets come from environment
    variables named after the input (`api_key` → `process.env.API_KEY`), and the token from
    `REPLICATE_API_TOKEN`, which the client reads itself. Another `base_url` (the sandbox) is
    written out as the client's `baseUrl`.
    """
    inputs, files, secrets, base_url = call.inputs, call.files, call.secrets, call.base_url
    lines = ['import Replicate from "replicate";']
    if any(name in files for name in inputs):
        lines.append('import { readFile } from "node:fs/promises";')
    options = "" if base_url == REAL_API else f"{{ baseUrl: {literal(base_url + '/v1')} }}"
    lines += ["", f"const replicate = new Replicate({options});"]
    body = ["  input: {"] if inputs else ["  input: {},"]
    for name, value in inputs.items():
        if name in secrets:
            code = f"process.env.{_env_name(name)}"
        elif name in files:
            code = f"await readFile({literal(files[name])})"
        else:
            code = json.dumps(value, ensure_ascii=False)
        body.append(f"    {json.dumps(name)}: {code},")
    if inputs:
        body.append("  },")
    if call.by_version:
        lines += [
            "let prediction = await replicate.predictions.create({",
            f"  version: {literal(call.version)},",
            *body,
            "});",
            "prediction = await replicate.wait(prediction);",
            "console.log(prediction.status, prediction.output);",
        ]
    else:
        if call.model is None:
            lines.append("// This form came from a bare schema: put the model's name here.")
        lines += [f"const output = await replicate.run({literal(call.ref)}, {{", *body, "});"]
        joined = 'console.log(output.join(""));' if call.joins_text else "console.log(output);"
        lines.append(joined)
    return "\n".join([*lines, ""])


def _shell(text: str) -> str:
    """`text` in single quotes for a POSIX shell."""
    return "'" + text.replace("'", "'\\''") + "'"


def curl(call: Call) -> str:
    """The same prediction as one cURL command against the HTTP API (`Prefer: wait`).

    The token is `$REPLICATE_API_TOKEN`; secrets are environment variables named after the
    input, and files are inlined as `data:` URIs with `base64` when the command runs.
    """
    holes: dict[str, str] = {}
    body: dict[str, Any] = {}
    for name, value in call.inputs.items():
        if name in call.secrets:
            holes[name] = f'"${_env_name(name)}"'
        elif name in call.files:
            mime = _datauri.media_type(value) if _datauri.is_data_uri(value) else ""
            encoded = f"$(base64 < {_shell(call.files[name])} | tr -d '\\n')"
            holes[name] = f'"{_datauri.PREFIX}{mime or _datauri.OCTET_STREAM};base64,{encoded}"'
        else:
            body[name] = value
            continue
        body[name] = f"\0{name}\0"
    payload: dict[str, Any] = {"input": body}
    if call.model is None or call.version is not None:
        payload = {"version": call.version or "<version id>", **payload}
        url = f"{call.base_url}/v1/predictions"
    else:
        url = f"{call.base_url}/v1/models/{call.model}/predictions"
    data = _shell(json.dumps(payload, ensure_ascii=False))
    for name, hole in holes.items():  # step out of the quotes for the shell's part
        data = data.replace(json.dumps(f"\0{name}\0"), f"\"'{hole}'\"")
    return "\n".join(
        [
            f"curl --silent --show-error {url} \\",
            "  --request POST \\",
            '  --header "Authorization: Bearer $REPLICATE_API_TOKEN" \\',
            '  --header "Content-Type: application/json" \\',
            '  --header "Prefer: wait" \\',
            f"  --data {data}",
            "",
        ]
    )


WRITERS = {"Python": snippet, "JavaScript": javascript, "HTTP": curl}
"""Each language of the Code tabs and the function that writes it."""
