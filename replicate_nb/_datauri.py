"""`data:` URIs (RFC 2397), written and read in one place by the helpers and the sandbox alike.

Standard library only, so that the sandbox and the client side can both import it.
"""

from __future__ import annotations

import base64
import binascii
from typing import TypeGuard
from urllib.parse import unquote_to_bytes

PREFIX = "data:"
OCTET_STREAM = "application/octet-stream"
"""The media type of bytes of no known kind."""


def encode(data: bytes, mime: str) -> str:
    """A base64 `data:` URI of `data` with the media type `mime`."""
    return f"{PREFIX}{mime};base64,{base64.b64encode(data).decode('ascii')}"


def is_data_uri(value: object) -> TypeGuard[str]:
    """Whether `value` is a str that looks like a `data:` URI (has the prefix and a comma)."""
    return isinstance(value, str) and value.startswith(PREFIX) and "," in value


def media_type(uri: str) -> str:
    """The declared media type of a `data:` URI ("" when it declares none)."""
    return uri[len(PREFIX) :].split(",", 1)[0].split(";", 1)[0].strip()


def decode(uri: str) -> bytes:
    """The bytes of a `data:` URI, base64 or percent-encoded.

    Raises:
        ValueError: not a `data:` URI, or not valid base64.
    """
    if not uri.startswith(PREFIX):
        raise ValueError(f"not a data: URI: {uri[:40]!r}")
    header, sep, payload = uri[len(PREFIX) :].partition(",")
    if not sep:
        raise ValueError(f"not a data: URI (no comma): {uri[:40]!r}")
    if header.split(";")[-1] != "base64":
        return unquote_to_bytes(payload)
    try:
        return base64.b64decode(payload, validate=False)
    except binascii.Error as exc:
        raise ValueError(f"the data: URI {uri[:40]!r}... is not valid base64: {exc}") from exc
