"""The instructor's live view of a room: a static page, its login, its event stream and actions.

Like Jupyter Server's token login: the address printed at start (`/_room/?token=...`) or the login
form trades the instructor's token for a session cookie (HttpOnly, SameSite=Strict, only for
`/_room`), then redirects so the token leaves the address bar. Every other `/_room` route wants
that cookie; the one action (cancel everything running) also wants a custom header, which a
cross-site form can never send.
"""

from __future__ import annotations

import asyncio
import io
import json
import urllib.parse
from collections import OrderedDict
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ... import _datauri
from ..errors import Forbidden, InvalidRequest, NotFound
from ..http import answer, read_body, state
from ..room import Room, first_image

COOKIE = "replicate_nb_room"
SNAPSHOT_EVERY = 0.25  # seconds: at most four updates a second, however busy the room
_THUMB_SIZE = 96
_thumbs: OrderedDict[str, bytes] = OrderedDict()
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self'; frame-ancestors 'none'",
    # same-origin, not no-referrer: with no-referrer the page's own form posts carry `Origin: null`,
    # which the Origin guard (http.RequestGuard) rightly refuses as a foreign page
    "Referrer-Policy": "same-origin",
}


def _page(name: str) -> str:
    return resources.files("replicate_nb.sandbox").joinpath("room_page", name).read_text("utf-8")


def _room(request: Request) -> Room:
    room = state(request).room
    if room is None:
        raise NotFound("This sandbox serves no room: start it with --room N or --tokens FILE.")
    return room


def _signed_in(request: Request) -> Room:
    room = _room(request)
    if not room.has_session(request.cookies.get(COOKIE)):
        raise Forbidden("Sign in to the room first: open /_room/ with the instructor token.")
    return room


def _login(request: Request, room: Room, token: str) -> Response:
    account = room.roster.account(token)
    if account is None or not account.instructor:
        message = "That is not the instructor's token." if token else ""
        html = _page("login.html").replace("{message}", message)
        return HTMLResponse(html, 403 if token else 200, headers=_HEADERS)
    response = RedirectResponse("/_room/", 303, headers=_HEADERS)
    response.set_cookie(
        COOKIE,
        room.open_session(),
        path="/_room",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def page(request: Request) -> Response:
    """The live view, or its login form (a `?token=` address signs in and redirects)."""
    room = _room(request)
    token = request.query_params.get("token")
    if token is not None:
        return _login(request, room, token)
    if not room.has_session(request.cookies.get(COOKIE)):
        return _login(request, room, "")
    return HTMLResponse(_page("index.html"), headers=_HEADERS)


async def login(request: Request) -> Response:
    """The login form's POST: `token=...` (form-encoded)."""
    room = _room(request)
    raw = await read_body(request, 4096)
    fields = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
    return _login(request, room, (fields.get("token") or [""])[0].strip())


async def asset(request: Request) -> Response:
    """The page's script and style sheet."""
    name = request.path_params["name"]
    kinds = {"room.js": "text/javascript", "room.css": "text/css"}
    if name not in kinds:
        raise NotFound(f"No room asset {name!r}.")
    return Response(_page(name), media_type=kinds[name], headers=_HEADERS)


async def events(request: Request) -> Response:
    """Server-sent `snapshot` events: every row, whenever the room changes (at most 4/s)."""
    room = _signed_in(request)
    keepalive = request.app.state.keepalive

    async def body() -> AsyncIterator[str]:
        sent = None
        while True:
            if room.changed_at != sent:
                sent = room.changed_at
                yield f"event: snapshot\ndata: {json.dumps(room.snapshot())}\n\n"
                await asyncio.sleep(SNAPSHOT_EVERY)
                continue
            await room.wait_for_change(keepalive)
            if room.changed_at == sent:
                yield ": keep-alive\n\n"

    return StreamingResponse(body(), media_type="text/event-stream", headers=_HEADERS)


async def thumbnail(request: Request) -> Response:
    """A small picture of a prediction's first image output."""
    _signed_in(request)
    prediction_id = request.path_params["id"]
    cached = _thumbs.get(prediction_id)
    if cached is None:
        prediction = state(request).engine.get(prediction_id)
        image = first_image(prediction.output)
        if image is None:
            raise NotFound(f"Prediction {prediction_id!r} has no image output.")
        cached = await asyncio.to_thread(_shrink, image)
        _thumbs[prediction_id] = cached
        while len(_thumbs) > 512:
            _thumbs.popitem(last=False)
    return Response(cached, media_type="image/png", headers=_HEADERS)


def _shrink(data_uri: str) -> bytes:
    from PIL import Image

    raw = _datauri.decode(data_uri)
    with Image.open(io.BytesIO(raw)) as picture:
        picture.thumbnail((_THUMB_SIZE, _THUMB_SIZE))
        out = io.BytesIO()
        picture.convert("RGB").save(out, "PNG")
    return out.getvalue()


async def cancel_all(request: Request) -> Response:
    """Cancel every prediction running in the room; answers how many."""
    room = _signed_in(request)
    if request.headers.get("x-room-action") != "cancel":
        raise InvalidRequest("Send the X-Room-Action: cancel header (the page does).")
    engine = state(request).engine
    running = room.running()
    results: list[Any] = await asyncio.gather(
        *(engine.cancel(pid) for pid in running), return_exceptions=True
    )
    canceled = sum(1 for r in results if not isinstance(r, BaseException))
    return answer({"canceled": canceled}, headers=_HEADERS)


ROUTES = [
    Route("/_room/", page, methods=["GET"]),
    Route("/_room/login", login, methods=["POST"]),
    Route("/_room/events", events, methods=["GET"]),
    Route("/_room/thumb/{id}", thumbnail, methods=["GET"]),
    Route("/_room/cancel", cancel_all, methods=["POST"]),
    Route("/_room/{name}", asset, methods=["GET"]),
]
for _route in ROUTES:  # the live view checks its own session cookie (see `login`), not the token
    _route.endpoint.access = "session"  # type: ignore[attr-defined]
