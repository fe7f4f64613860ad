"""The replay file format, shared by `recording.py` (the recorder) and `sandbox/replay.py`.

Its constants, the canonical form of an input (files compared by content), and which inputs are
secret, read with `schema.parse`, the one reader of Cog schemas (so a secret behind `$ref`,
`allOf` or `anyOf` is one here too). The format is described in `docs/replay-format.md`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from . import _datauri, schema

FORMAT = "replicate-nb-replay"
VERSION = 1
SECURE = "[secure]"
"""What a secret value is written as."""


def canonical(value: Any, *, file_sha256: Callable[[str], str | None] | None = None) -> Any:
    """An input with files as `{"$file_sha256": ...}`, so uploads match whatever URL they got.

    `data:` URIs are hashed; other strings go through `file_sha256(url)`, which returns a hash
    for an uploaded file's URL and None for anything else.
    """
    if isinstance(value, dict):
        return {k: canonical(v, file_sha256=file_sha256) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v, file_sha256=file_sha256) for v in value]
    if _datauri.is_data_uri(value):
        try:
            return {"$file_sha256": hashlib.sha256(_datauri.decode(value)).hexdigest()}
        except ValueError:  # not decodable: compared as text
            return value
    if isinstance(value, str) and file_sha256 is not None:
        digest = file_sha256(value)
        if digest:
            return {"$file_sha256": digest}
    return value


def input_key(value: Any) -> str:
    """A canonical JSON text of an input value, to compare inputs by."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def secret_fields(openapi_schema: dict[str, Any]) -> set[str]:
    """Names of the inputs a version's schema marks secret (never recorded, ignored to match)."""
    return {f.name for f in schema.parse(openapi_schema).fields if f.kind == "secret"}


def mask_secrets(value: dict[str, Any], secrets: set[str] | None) -> dict[str, Any]:
    """The input with its secret values as `SECURE`.

    `secrets=None` means the schema is unknown, so no input can be told apart from a secret:
    then every text in it is masked (a secret is always a string), and numbers, booleans and
    files' hashes are kept.
    """
    if secrets is not None:
        return {k: SECURE if k in secrets else v for k, v in value.items()}
    return {k: _mask_text(v) for k, v in value.items()}


def _mask_text(value: Any) -> Any:
    if isinstance(value, str):
        return SECURE
    if isinstance(value, list):
        return [_mask_text(v) for v in value]
    if isinstance(value, dict) and "$file_sha256" not in value:
        return {k: _mask_text(v) for k, v in value.items()}
    return value
