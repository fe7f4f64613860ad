"""The sandbox's Starlette application: its routes, the control plane, and one error renderer.

Every error leaves as `application/problem+json`; nothing a client sends can produce a 500. A
bug that does is logged once with its traceback under an error id, and answered as a problem+json
500 that names only that id (never the exception's text), on a connection that stays open for the
next request. Every route is wrapped by `http.api` (token, or a declared capability URL) and every
request passes `http.RequestGuard` first (Host and Origin).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from . import hints
from .control import Faults
from .errors import (
    Forbidden,
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    ProblemError,
)
from .http import (
    RequestGuard,
    State,
    account,
    answer,
    api,
    base_url,
    problem_response,
    read_json_object,
    state,
)
from .routes import ROUTES
from .routes import room as room_view

log = logging.getLogger("replicate_nb.sandbox")

KEEPALIVE_SECONDS = 10.0


async def faults_endpoint(request: Request) -> Response:
    """GET or PUT the fault injection settings (control plane; in a room, the instructor's)."""
    who = account(request)
    if who is not None and not who.instructor:
        raise Forbidden("Only the instructor can change the room's fault injection settings.")
    engine = state(request).engine
    if request.method == "PUT":
        body = await read_json_object(request)
        try:
            engine.faults = Faults.coerce(body)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(str(exc)) from exc
    return answer(engine.faults.to_json())


async def prediction_page(request: Request) -> Response:
    """The `urls.web` of a prediction: redirects to its API resource."""
    return RedirectResponse(f"/v1/predictions/{request.path_params['id']}")


async def index(request: Request) -> Response:
    """What this server is and where its API lives."""
    return answer(
        {
            "name": "replicate-nb sandbox",
            "api": f"{base_url(request)}/v1",
            "models": [m.ref for m in state(request).engine.catalog.models()],
        }
    )


# errors
class _ContainErrors:
    """ASGI middleware: an unexpected error becomes a logged problem+json 500, not a crash.

    Starlette's outermost error middleware re-raises after answering, and uvicorn then drops
    the keep-alive connection without `Connection: close`; this one answers and keeps it. An
    error after the response started cannot be answered: it still propagates.
    """

    def __init__(self, app: ASGIApp, *, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking(message: Any) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking)
        except Exception:
            if started:
                raise
            error_id = self.state.engine.random.error_id()
            log.exception("unexpected error %s on %s %s", error_id, scope["method"], scope["path"])
            await problem_response(InternalError(error_id))(scope, receive, send)


async def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            exc = MethodNotAllowed(hints.wrong_method(request.method, request.url.path))
        elif exc.status_code == 404:
            served = [r.path_regex for r in request.app.routes if isinstance(r, Route)]
            exc = NotFound(
                hints.no_route(request.method, request.url.path, base_url(request), served=served)
            )
        else:
            exc = InvalidRequest(str(exc.detail))
    assert isinstance(exc, ProblemError)  # the handlers are registered for these only
    return problem_response(exc)


def build_app(state: State, *, keepalive: float = KEEPALIVE_SECONDS) -> Starlette:
    """The sandbox's Starlette application."""
    routes = [
        Route("/", api(index, faults=False)),
        Route("/p/{id}", api(prediction_page, faults=False)),
        Route("/_sandbox/faults", api(faults_endpoint, faults=False), methods=["GET", "PUT"]),
        *ROUTES,
        *room_view.ROUTES,
    ]
    unguarded = [r.path for r in routes if not hasattr(r.endpoint, "access")]
    if unguarded:  # a route must say whether it needs the token or is a capability URL
        raise RuntimeError(f"routes not wrapped by http.api: {unguarded}")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.engine.attach()
        yield
        await state.engine.shutdown()
        await state.engine.webhooks.close()

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(_ContainErrors, state=state),
            Middleware(RequestGuard, state=state),
        ],
        exception_handlers={HTTPException: _problem, ProblemError: _problem},
    )
    app.state.sandbox = state
    app.state.keepalive = keepalive
    return app
