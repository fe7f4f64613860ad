"""Request guards: Host and Origin checks, the token, faults, and strict request-body reading.

A local server is reachable from every web page the user opens, so before any route runs,
`RequestGuard` refuses a `Host` the sandbox is not known by (DNS rebinding) and an `Origin` that is
not the sandbox itself (cross-site requests; the official clients send none), and marks every
answer `nosniff`; no answer carries CORS headers. `api` wraps each route: faults, then the token
(in token mode every route needs it, except capability URLs). JSON routes read only bodies declared
as JSON, with a size limit, parsed strictly: JSON that Python accepts but cannot answer with (NaN,
Infinity, lone surrogates, absurd nesting) is refused up front with a 422, so nothing stored can
later make a response fail.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import socket
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .catalog import ACCOUNT, VIEWER
from .engine import Engine
from .errors import (
    Forbidden,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unauthenticated,
    UnsupportedMediaType,
)

if TYPE_CHECKING:
    from .room import Account, Room

WILDCARDS = ("0.0.0.0", "::")
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_JSON_BYTES = 50 * 1024 * 1024
Handler = Callable[[Request], Awaitable[Response]]


class AllowedHosts:
    """The names a sandbox answers to in the `Host` header (with any port), against DNS rebinding.

    Always `localhost` and every loopback address (127.0.0.0/8, `[::1]`), as Jupyter Server's
    `local_hostnames` check does; plus the names given (the address the server is bound to, and
    any `allowed_hosts`). A wildcard address (`0.0.0.0`, `::`: serving a room) adds this
    machine's own names and addresses (`machine_names`), which attendees connect by. `"*"`
    accepts every Host, as Jupyter's `allow_remote_access` does.
    """

    def __init__(self, *names: str) -> None:
        wildcard = any(n in WILDCARDS for n in names)
        found = (*names, *machine_names()) if wildcard else names
        self.names = frozenset(_hostname(n) for n in ("localhost", *found) if n)

    def allows(self, host: str) -> bool:
        """Whether a `Host` header value (`name`, `name:port`, `[v6]:port`) is one of ours."""
        name = _hostname(host)
        return "*" in self.names or name in self.names or _is_loopback(name)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AllowedHosts) and other.names == self.names

    def __hash__(self) -> int:
        return hash(self.names)

    def __repr__(self) -> str:
        return f"AllowedHosts({', '.join(repr(n) for n in sorted(self.names))})"


def machine_names() -> list[str]:
    """This machine's names and addresses other machines may reach it by (loopback left out).

    Its hostname and FQDN, the addresses the hostname resolves to, and the address of the
    interface that routes outward, for IPv4 and IPv6 (found by a UDP `connect`, which sends no
    packet). Addresses of further interfaces need `--allow-host` (the standard library cannot
    list them, and no dependency is added for it).
    """
    hostname = socket.gethostname()
    names = [hostname, socket.getfqdn()]
    try:
        names += [str(info[4][0]).partition("%")[0] for info in socket.getaddrinfo(hostname, None)]
    except OSError:
        pass
    for family, documentation_address in (
        (socket.AF_INET, "192.0.2.1"),
        (socket.AF_INET6, "2001:db8::1"),
    ):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as probe:
                probe.connect((documentation_address, 9))  # picks a route; nothing is sent
                names.append(probe.getsockname()[0])
        except OSError:
            pass
    return [n for n in dict.fromkeys(names) if n and not _is_loopback(_hostname(n))]


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _hostname(value: str) -> str:
    """The host of a `Host` header or a configured name: no port, no brackets, lower case."""
    value = value.strip().lower()
    if value.startswith("["):
        name, closed, port = value[1:].partition("]")
        if closed and (not port or (port[0] == ":" and port[1:].isdigit())):
            return name
        return value
    if value.count(":") == 1:
        name, _, port = value.partition(":")
        return name.rstrip(".") if port.isdigit() else value
    return value.rstrip(".")  # a name, an IPv4 address or a bare IPv6 address (configuration)


class State:
    """What the routes need: the engine (with store and catalog), the token, the allowed hosts
    and the room."""

    def __init__(
        self,
        engine: Engine,
        *,
        require_token: str | None,
        room: Room | None = None,
        hosts: AllowedHosts | None = None,
    ) -> None:
        self.engine = engine
        self.require_token = require_token
        self.room = room
        self.hosts = hosts if hosts is not None else AllowedHosts()


def state(request: Request) -> State:
    """The sandbox state of the app serving `request`."""
    return request.app.state.sandbox


def base_url(request: Request) -> str:
    """`scheme://host:port` as the client addressed us (URLs in answers use it)."""
    return f"{request.url.scheme}://{request.url.netloc}"


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return JSONResponse(body, status_code=status, headers=headers)


def problem_response(exc: ProblemError) -> Response:
    """The `application/problem+json` answer for an API error."""
    return JSONResponse(
        exc.to_json(), exc.status, headers=exc.headers(), media_type="application/problem+json"
    )


def api(handler: Handler, *, capability: bool = False, faults: bool = True) -> Handler:
    """Wrap a route: fault injection first (before any work), then the token check.

    `capability=True` declares a capability URL: its path carries an unguessable secret that the
    handler checks, so it needs no token (Replicate's stream URLs; the JS client sends no token
    there). Every route of the app must be wrapped: `build_app` refuses one that is not.
    """

    async def endpoint(request: Request) -> Response:
        current = state(request)
        if faults:
            await current.engine.before_request()
        if current.room is not None and (not capability or _token(request)):
            # open routes (stream and download capability URLs) still refuse another
            # attendee's resource when a token comes with the request, as Python's client sends
            found = current.room.roster.account(_token(request))
            if found is None and not capability:
                raise Unauthenticated()
            request.state.account = found
            viewing = VIEWER.set(found.username if found is not None else None)
            try:
                return await handler(request)
            finally:
                VIEWER.reset(viewing)
        if not capability and current.require_token is not None:
            if not hmac.compare_digest(_token(request).encode(), current.require_token.encode()):
                raise Unauthenticated()
        return await handler(request)

    endpoint.__doc__ = handler.__doc__
    endpoint.access = "capability" if capability else "token"  # type: ignore[attr-defined]
    return endpoint


class RequestGuard:
    """ASGI middleware: refuse a foreign Host or Origin before any route runs; mark answers nosniff.

    A foreign Host means a page whose name was made to resolve to this machine (DNS rebinding);
    a foreign Origin means a page on another site sending requests the browser lets through
    without asking (form posts, `text/plain` bodies). Both are 403 problems that say what to do.
    """

    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self.app = app
        self.state = state  # read per request: the allowed hosts may change while serving

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope (HTTP requests are checked, the lifespan passes)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Content-Type-Options"] = "nosniff"
            await send(message)

        refused = self.refusal(Headers(scope=scope))
        if refused is not None:
            await problem_response(refused)(scope, receive, send_nosniff)
            return
        await self.app(scope, receive, send_nosniff)

    def refusal(self, headers: Headers) -> Forbidden | None:
        """The 403 for a request with a foreign Host or Origin, or None to serve it."""
        host = headers.get("host")
        if host is not None and not self.state.hosts.allows(host):
            name = _hostname(host)
            return Forbidden(
                f"This sandbox does not answer to the Host {host!r}: a web page may be trying to "
                "reach it under another name (DNS rebinding). It answers to localhost, loopback "
                "addresses and the names it was given. If you reach it under this name on "
                f"purpose, start it with allowed_hosts=[{name!r}] "
                f"(command line: --allow-host {name})."
            )
        origin = headers.get("origin")
        if origin is not None and _netloc(origin) != (host or "").lower().strip():
            return Forbidden(
                f"Cross-origin request refused: the Origin {origin!r} is not this sandbox. It "
                "serves programs (the official clients send no Origin), not pages of other web "
                "sites; call it from Python or Node.js, not from a browser page."
            )
        return None


def _netloc(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).netloc.lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket: not our origin either
        return None


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


def _is_json(content_type: str) -> bool:
    kind = content_type.partition(";")[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object, or a 415/422 that says what is wrong with it.

    The body must be declared JSON: a type a web page can send cross-site without asking
    (`text/plain`, a form) is refused, whatever it holds.
    """
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        got = f"Content-Type {content_type!r}" if content_type else "no Content-Type"
        raise UnsupportedMediaType(
            f"Send the body as JSON with Content-Type: application/json (this request has {got})."
        )
    raw = await read_body(request, MAX_JSON_BYTES)
    if not raw.strip():
        raise InvalidRequest('The request body is empty; send a JSON object such as {"input": {}}.')
    body = loads(raw, "The request body")
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {type(body).__name__}.")
    return body
