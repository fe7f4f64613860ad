"""File routes: multipart upload, get, list, delete and download."""

from __future__ import annotations

import datetime as _dt
import hashlib
import mimetypes
import re
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import multipart
from ..errors import InvalidRequest, NotFound, PayloadTooLarge, UnsupportedMediaType
from ..http import (
    MAX_FILE_BYTES,
    State,
    answer,
    api,
    base_url,
    check_owner,
    loads,
    owner,
    state,
)
from ..records import File, now

_MIME = re.compile(r"^[\w!#$%&'*+.^`|~-]+/[\w!#$%&'*+.^`|~-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_MULTIPART_OVERHEAD = 64 * 1024
_TOO_LARGE = "Files must be less than 100MB in size"


async def create_file(request: Request) -> Response:
    """files.create: a multipart upload with a `content` part (and optional metadata)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType("Upload files as multipart/form-data with a 'content' part.")
    parts = await multipart.read(
        request, limit=MAX_FILE_BYTES + _MULTIPART_OVERHEAD, too_large=_TOO_LARGE
    )
    current = state(request)
    file, chunks = _file_from_parts(current, parts)
    file.owner = owner(request)
    if not current.engine.store.save_file(file, chunks):
        raise PayloadTooLarge(
            "The sandbox's file storage is full: delete files you no longer need "
            "(files.delete) and upload again."
        )
    return answer(file.to_json(base_url(request)), 201)


def _file_from_parts(current: State, parts: dict[str, multipart.Part]) -> tuple[File, list[bytes]]:
    content = parts.get("content")
    if content is None or content.filename is None:
        raise InvalidRequest("The multipart body needs a file part named 'content'.")
    size = content.size
    if size > MAX_FILE_BYTES:
        raise PayloadTooLarge(_TOO_LARGE)
    name = _text(parts.get("filename")) or content.filename or "file"
    if _CONTROL.search(name):
        raise InvalidRequest(f"The file name {name!r} contains control characters; rename it.")
    kind = _text(parts.get("type"))
    if kind is not None and not _MIME.match(kind):
        raise InvalidRequest(f"The file type {kind!r} is not a MIME type such as 'image/png'.")
    part_type = (content.content_type or "").split(";")[0].strip()
    kind = kind or (part_type if _MIME.match(part_type) else None)
    kind = kind or mimetypes.guess_type(name)[0] or "application/octet-stream"
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    for chunk in content.chunks:
        md5.update(chunk)
        sha256.update(chunk)
    file = File(
        id=current.engine.random.token(24),
        name=name,
        content_type=kind,
        size=size,
        etag=md5.hexdigest(),
        checksums={"sha256": sha256.hexdigest(), "md5": md5.hexdigest()},
        metadata=_metadata(parts),
        created_at=now(),
        expires_at=(_dt.datetime.now(_dt.UTC) + _dt.timedelta(days=1))
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
    )
    return file, content.chunks


def _text(part: multipart.Part | None) -> str | None:
    if part is None:
        return None
    try:
        return part.data.decode("utf-8").strip() or None
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"The multipart field {part.name!r} is not UTF-8 text.") from exc


def _metadata(parts: dict[str, multipart.Part]) -> dict[str, Any]:
    """A `metadata` part (a JSON object), or `metadata[key]` fields as the 2.x client sends."""
    part = parts.get("metadata")
    if part is not None and part.data.strip():
        value = loads(part.data, "File metadata")
        if not isinstance(value, dict):
            raise InvalidRequest("File metadata must be a JSON object.")
        return value
    found: dict[str, Any] = {}
    for name, field in parts.items():
        keys = _BRACKETS.findall(name[len("metadata") :]) if name.startswith("metadata[") else []
        if not keys or "".join(f"[{k}]" for k in keys) != name[len("metadata") :]:
            continue
        target = found
        for key in keys[:-1]:
            nested = target.setdefault(key, {})
            if not isinstance(nested, dict):
                raise InvalidRequest(f"The multipart field {name!r} conflicts with another.")
            target = nested
        target[keys[-1]] = _text(field) or ""
    return found


def _file(request: Request) -> File:
    missing = f"File {request.path_params['id']!r} not found. List files with GET /v1/files."
    file = state(request).engine.store.get_file(request.path_params["id"])
    if file is None:
        raise NotFound(missing)
    check_owner(request, file.owner, missing)
    return file


async def list_files(request: Request) -> Response:
    """files.list: uploaded files, newest first."""
    base = base_url(request)
    files = state(request).engine.store.list_files(owner=owner(request))
    return answer({"next": None, "previous": None, "results": [f.to_json(base) for f in files]})


async def get_file(request: Request) -> Response:
    """files.get: a file's metadata."""
    return answer(_file(request).to_json(base_url(request)))


async def delete_file(request: Request) -> Response:
    """files.delete: remove a file."""
    if not state(request).engine.store.delete_file(_file(request).id):
        raise NotFound(f"File {request.path_params['id']!r} not found.")
    return Response(status_code=204)


async def download_file(request: Request) -> Response:
    """files.download: a file's bytes, named safely for any file name (RFC 6266).

    Always an attachment, never rendered in the sandbox's origin: an uploaded `text/html` or SVG
    must not run script there (nosniff is on every answer; see `http.RequestGuard`).
    """
    file = _file(request)
    content = state(request).engine.store.file_content(file.id) or b""
    quoted = urllib.parse.quote(file.name, safe="")
    return Response(
        content,
        media_type=file.content_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}",
            "Content-Security-Policy": "sandbox",
        },
    )


ROUTES = [
    Route("/v1/files", api(create_file), methods=["POST"]),
    Route("/v1/files", api(list_files), methods=["GET"]),
    Route("/v1/files/{id}", api(get_file), methods=["GET"]),
    Route("/v1/files/{id}", api(delete_file), methods=["DELETE"]),
    Route("/v1/files/{id}/download", api(download_file, faults=False)),
]
