"""What every route shares: the app's state, auth and faults, and strict request-body reading.

Bodies are read with a size limit and parsed strictly: JSON that Python accepts but cannot answer
with (NaN, Infinity, lone surrogates, absurd nesting) is refused up front with a 422, so nothing
stored can later make a response fail.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from .catalog import ACCOUNT, VIEWER
from .engine import Engine
from .errors import InvalidRequest, NotFound, PayloadTooLarge, Unauthenticated

if TYPE_CHECKING:
    from .room import Account, Room

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_JSON_BYTES = 50 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class State:
    """What the routes need: the engine (with store and catalog), the auth setting, the room."""

    def __init__(
        self, engine: Engine, *, require_token: str | None, room: Room | None = None
    ) -> None:
        self.engine = engine
        self.require_token = require_token
        self.room = room


def state(request: Request) -> State:
    """The sandbox state of the app serving `request`."""
    return request.app.state.sandbox


def base_url(request: Request) -> str:
    """`scheme://host:port` as the client addressed us (URLs in answers use it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return JSONResponse(body, status_code=status, headers=headers)


def api(handler: Handler, *, auth: bool = True, faults: bool = True) -> Handler:
    """Wrap a route: fault injection first (before any work), then the token check."""

    async def endpoint(request: Request) -> Response:
        current = state(request)
        if faults:
            await current.engine.before_request()
        if current.room is not None and (auth or _token(request)):
            # open routes (stream and download capability URLs) still refuse another
            # attendee's resource when a token comes with the request, as Python's client sends
            found = current.room.roster.account(_token(request))
            if found is None and auth:
                raise Unauthenticated()
            request.state.account = found
            viewing = VIEWER.set(found.username if found is not None else None)
            try:
                return await handler(request)
            finally:
                VIEWER.reset(viewing)
        if auth and current.require_token is not None:
            if not hmac.compare_digest(_token(request).encode(), current.require_token.encode()):
                raise Unauthenticated()
        return await handler(request)

    endpoint.__doc__ = handler.__doc__
    return endpoint


def _token(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() in ("bearer", "token") else ""


def account(request: Request) -> Account | None:
    """The room account making the request (None outside a room)."""
    return getattr(request.state, "account", None)


def owner(request: Request) -> str | None:
    """The username whose resources this request may see (None outside a room: everything)."""
    found = account(request)
    return found.username if found is not None else None


def account_json(request: Request) -> dict[str, Any]:
    """`GET /v1/account`'s answer: the room account of the token, else the sandbox's own."""
    found = account(request)
    return found.to_json() if found is not None else ACCOUNT


def check_owner(request: Request, resource_owner: str | None, missing: str) -> None:
    """A 404 (`missing`, as if it did not exist) for another room account's resource."""
    mine = owner(request)
    if mine is not None and resource_owner != mine:
        raise NotFound(missing)


def _size(limit: int) -> str:
    return f"{limit // 2**20}MB" if limit >= 2**20 else f"{limit // 2**10}KB"


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than `limit` bytes (declared or sent) with a 413."""
    too_large = PayloadTooLarge(f"Request bodies must be less than {_size(limit)} in size.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise InvalidRequest("The client disconnected before sending the whole body.") from exc
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def loads(raw: bytes | str, what: str) -> Any:
    """Parse JSON strictly; `what` names the thing in the error ("The request body")."""
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
        # What we store we must be able to send back: no infinities, no lone surrogates.
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc}.") from exc
    return value


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 422 that says what is wrong with it."""
    raw = await read_body(request, MAX_JSON_BYTES)
    if not raw.strip():
        raise InvalidRequest('The request body is empty; send a JSON object such as {"input": {}}.')
    body = loads(raw, "The request body")
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {type(body).__name__}.")
    return body
