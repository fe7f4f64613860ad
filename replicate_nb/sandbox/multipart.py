"""Read a `multipart/form-data` upload held in memory into its parts (the files API's bodies).

The body is already read (and size-checked) by the route, so the parts stay in memory: no
temporary files to leak when a client sends a truncated body, which Starlette's spooling form
parser does. Parsing itself is python-multipart's.
"""

from __future__ import annotations

import dataclasses

from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import InvalidRequest


@dataclasses.dataclass
class Part:
    """One part: its form name, optional filename and content type, and bytes."""

    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def parse(body: bytes, content_type: str, *, max_parts: int = 16) -> dict[str, Part]:
    """The complete parts of `body` by name (the first of each name wins)."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InvalidRequest("Upload files as multipart/form-data with a boundary.")
    parts: dict[str, Part] = {}
    headers: dict[bytes, bytes] = {}
    field, value, chunks = bytearray(), bytearray(), bytearray()

    def on_header_end() -> None:
        headers[bytes(field).lower()] = bytes(value)
        field.clear()
        value.clear()

    def on_part_end() -> None:
        disposition, params = parse_options_header(headers.get(b"content-disposition", b""))
        name = params.get(b"name")
        if disposition != b"form-data" or name is None:
            raise InvalidRequest(
                'Each multipart part needs "Content-Disposition: form-data; name=...".'
            )
        if len(parts) >= max_parts:
            raise InvalidRequest(f"Too many multipart parts (at most {max_parts}).")
        filename = params.get(b"filename")
        part_type = headers.get(b"content-type")
        parts.setdefault(
            name.decode("utf-8", "replace"),
            Part(
                name=name.decode("utf-8", "replace"),
                filename=filename.decode("utf-8", "replace") if filename is not None else None,
                content_type=part_type.decode("latin-1").strip() if part_type else None,
                data=bytes(chunks),
            ),
        )
        headers.clear()
        chunks.clear()

    parser = MultipartParser(
        boundary,
        {
            "on_header_field": lambda d, s, e: field.extend(d[s:e]),
            "on_header_value": lambda d, s, e: value.extend(d[s:e]),
            "on_header_end": on_header_end,
            "on_part_data": lambda d, s, e: chunks.extend(d[s:e]),
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except InvalidRequest:
        raise
    except Exception as exc:  # python-multipart's parse errors share no public base class
        raise InvalidRequest(f"The multipart body could not be read: {exc}") from exc
    return parts
