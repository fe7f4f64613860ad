"""Write the Python cell that runs a form's input with the official `replicate` client.

The snippet is what a learner pastes into the next cell to leave the form behind: only the
inputs the form would send, uploaded files as `open("name", "rb")` (the SDK uploads them), secret
inputs read with `getpass` (their value is never written out), and never the API token, which the
client reads from its own configuration.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

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


def snippet(
    inputs: Mapping[str, Any],
    *,
    model: str | None = None,
    version: str | None = None,
    files: Mapping[str, str] | None = None,
    secrets: Collection[str] = (),
    joins_text: bool = False,
) -> str:
    """The code that creates the same prediction as a form, ending with a newline.

    Args:
        inputs: the input the form would send, in display order.
        model: `owner/name`, when known; with `version` the run is pinned to that version.
        version: a version id; without `model` the snippet uses `predictions.create`.
        files: input name → file name, for inputs that came from an upload: opened with
            `open(name, "rb")` in a `with` block (the SDK uploads them; the block closes them).
        secrets: names of secret inputs: read with `getpass` instead of written out.
        joins_text: the model streams text pieces (`x-cog-array-display: concatenate`): print
            them joined.
    """
    files = files or {}
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
    if model is None and version is not None:
        lines += [
            f"{pad}prediction = replicate.predictions.create(",
            f"{pad}{_INDENT}version={literal(version)},",
        ]
        tail = ["prediction.wait()", "print(prediction.status, prediction.output)"]
    else:
        if model is None:
            lines.append(f"{pad}# This form came from a bare schema: put the model's name here.")
        ref = f"{model}:{version}" if model and version else model or "owner/name"
        lines += [f"{pad}output = replicate.run(", f"{pad}{_INDENT}{literal(ref)},"]
        tail = ['print("".join(output))' if joins_text else "print(output)"]
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
