"""Prediction routes: create (by version, model or deployment), get, list, cancel and stream."""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import AsyncIterator
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ..errors import InvalidRequest, ProblemError
from ..http import account, answer, api, base_url, check_owner, owner, read_json_object, state
from ..records import Deployment, Prediction, format_time
from ..store import decode_cursor
from ..webhooks import check_webhook
from .deployments import find_deployment

MAX_CANCEL_AFTER = 7 * 24 * 3600
MAX_WAIT = 60
_PREFER = re.compile(r"^\s*wait(?:\s*=\s*(\d+))?\s*$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")


def _prefer_wait(request: Request) -> tuple[int, str] | None:
    """The seconds to wait and the `Preference-Applied` value, from `Prefer: wait[=N]`.

    N is clamped to 1..60, Replicate's limit, and the header reports what was applied.
    """
    header = request.headers.get("prefer")
    if header is None:
        return None
    match = _PREFER.match(header)
    if match is None:
        raise InvalidRequest(
            f"Prefer header {header!r} not understood; use 'wait' or 'wait=N' "
            f"with N seconds from 1 to {MAX_WAIT}."
        )
    if match.group(1) is None:
        return MAX_WAIT, "wait"
    seconds = min(MAX_WAIT, max(1, int(match.group(1))))
    return seconds, f"wait={seconds}"


def _cancel_after(request: Request) -> float | None:
    header = request.headers.get("cancel-after")
    if header is None:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.match(text)
        if not text or match is None or not any(match.groups()):
            raise InvalidRequest(
                f"Cancel-After {header!r} not understood; use a duration such "
                "as 30s, 5m or 1h30m, or a number of seconds."
            ) from None
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if not math.isfinite(seconds) or not 5 <= seconds <= MAX_CANCEL_AFTER:
        raise InvalidRequest(f"Cancel-After must be from 5 seconds to 7 days, got {header!r}.")
    return seconds


async def _start(
    request: Request, model_ref: tuple[str, str] | None, deployment: Deployment | None
) -> Prediction:
    """Read the create request, resolve its model, admit it (a room's limits) and start it."""
    current = state(request)
    catalog = current.engine.catalog
    body = await read_json_object(request)
    cancel_after = _cancel_after(request)
    if "input" not in body:
        raise InvalidRequest('The request body needs an "input" object, e.g. {"input": {...}}.')
    webhook, events = check_webhook(body.get("webhook"), body.get("webhook_events_filter"))
    if deployment is not None:
        model_owner, name = deployment.model.split("/", 1)
        model, by_version = catalog.version(model_owner, name, deployment.version), True
    elif model_ref is not None:
        model, by_version = catalog.by_name(*model_ref), False
    else:
        version = body.get("version")
        if not isinstance(version, str) or not version:
            raise InvalidRequest(
                'The request body needs a "version": a version id, '
                '"owner/name" or "owner/name:version".'
            )
        model, by_version = catalog.resolve(version)
    who = account(request)
    if current.room is not None and who is not None:
        current.room.admit(who, running=len(current.engine.runs))
    return current.engine.create(
        model=model,
        input=body["input"],
        by_version=by_version,
        webhook=webhook,
        webhook_events_filter=events,
        cancel_after=cancel_after,
        deployment=f"{deployment.owner}/{deployment.name}" if deployment else None,
        owner=owner(request),
    )


async def _create(
    request: Request, model_ref: tuple[str, str] | None = None, deployment: Deployment | None = None
) -> Response:
    current = state(request)
    who, room = account(request), current.room
    try:
        wait = _prefer_wait(request)
        prediction = await _start(request, model_ref, deployment)
    except ProblemError as exc:
        if room is not None and who is not None:
            room.refused(who, exc.status, exc.detail)  # the live view: who is stuck, and why
        raise
    if room is not None and who is not None:
        room.created(who, prediction)
    headers = {"Location": f"{base_url(request)}/v1/predictions/{prediction.id}"}
    if wait is not None:
        prediction = await current.engine.wait(prediction.id, wait[0])
        headers["Preference-Applied"] = wait[1]
    payload = prediction.to_json(base_url(request))
    if wait is not None and not prediction.done:
        payload["status"] = "starting"  # the SDK takes any other status as "output is final"
    return answer(payload, 201, headers)


async def create_prediction(request: Request) -> Response:
    """predictions.create: run a model version named by `version`."""
    return await _create(request)


async def create_model_prediction(request: Request) -> Response:
    """models.predictions.create: run a model by name (official models)."""
    return await _create(request, (request.path_params["owner"], request.path_params["name"]))


async def create_deployment_prediction(request: Request) -> Response:
    """deployments.predictions.create: run a deployment's version."""
    return await _create(request, deployment=find_deployment(request))


def _mine(request: Request) -> Prediction:
    """The prediction of the path's id, if this caller may see it (else a 404, as if missing)."""
    prediction_id = request.path_params["id"]
    prediction = state(request).engine.get(prediction_id)
    check_owner(
        request,
        prediction.owner,
        f"Prediction {prediction_id!r} not found. List predictions with GET /v1/predictions.",
    )
    return prediction


async def get_prediction(request: Request) -> Response:
    """predictions.get: the prediction as it is now."""
    return answer(_mine(request).to_json(base_url(request)))


async def cancel_prediction(request: Request) -> Response:
    """predictions.cancel: stop a prediction that is still running."""
    prediction = await state(request).engine.cancel(_mine(request).id)
    return answer(prediction.to_json(base_url(request)))


def _list_filters(request: Request) -> dict[str, str]:
    """`created_after`, `created_before` (ISO 8601 date-times) and `source` (only "web")."""
    filters = {}
    for name in ("created_after", "created_before"):
        value = request.query_params.get(name)
        if value is None:
            continue
        try:
            filters[name] = format_time(_dt.datetime.fromisoformat(value.strip()))
        except (ValueError, OverflowError):
            plus = " (in a URL, write + as %2B)" if " " in value.strip() else ""
            raise InvalidRequest(
                f"{name}={value!r} is not an ISO 8601 (RFC 3339) date-time; write it like "
                f"2025-01-01T00:00:00Z{plus}."
            ) from None
    source = request.query_params.get("source")
    if source is not None:
        if source != "web":
            raise InvalidRequest(
                f"source={source!r} is not supported; the only filter is source=web (leave it "
                "out to list predictions from the API and the web)."
            )
        filters["source"] = source
    return filters


async def list_predictions(request: Request) -> Response:
    """predictions.list: newest first, 100 a page, absolute cursor URLs; filters as on Replicate."""
    return page(request, trainings=False)


def page(request: Request, *, trainings: bool) -> Response:
    """One page of predictions or trainings, newest first, with absolute cursor URLs."""
    cursor = request.query_params.get("cursor")
    position = decode_cursor(cursor) if cursor else None
    if cursor and (position is None or not 0 <= position[1] < 2**63):  # SQLite INTEGER range
        raise InvalidRequest(f"Cursor {cursor!r} is not valid; follow the next/previous URLs.")
    filters = {} if trainings else _list_filters(request)
    engine = state(request).engine
    items, next_cursor, previous_cursor = engine.store.list_predictions(
        position, trainings=trainings, owner=owner(request), **filters
    )
    base = base_url(request)
    here = f"{base}/v1/{'trainings' if trainings else 'predictions'}"
    results = [
        engine.get(p.id).to_json(base) if p.id in engine.runs else p.to_json(base) for p in items
    ]
    kept = {k: v for k, v in request.query_params.items() if k in filters}

    def link(position: str | None) -> str | None:
        return f"{here}?{urlencode({**kept, 'cursor': position})}" if position else None

    return answer(
        {"next": link(next_cursor), "previous": link(previous_cursor), "results": results}
    )


async def stream_prediction(request: Request) -> Response:
    """The `urls.stream` server-sent events: output, logs, error, done (a capability URL)."""
    engine = state(request).engine
    prediction = engine.streamed(request.path_params["token"])  # 404 before the stream starts
    check_owner(request, prediction.owner, "No stream at this URL.")
    prediction_id = prediction.id
    if request.method == "HEAD":  # headers only: never hold a connection open for no body
        return Response(media_type="text/event-stream", headers={"Cache-Control": "no-store"})
    events = engine.events(
        prediction_id,
        after=request.headers.get("last-event-id"),
        keepalive=request.app.state.keepalive,
    )

    async def body() -> AsyncIterator[str]:
        async for event in events:
            if event is None:
                yield ": keep-alive\n\n"
                continue
            name, event_id, data = event
            lines = "".join(f"data: {line}\n" for line in data.split("\n"))
            yield f"event: {name}\nid: {event_id}\n{lines}\n"

    return StreamingResponse(
        body(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
    )


ROUTES = [
    Route("/v1/predictions", api(create_prediction), methods=["POST"]),
    Route("/v1/predictions", api(list_predictions), methods=["GET"]),
    Route("/v1/predictions/{id}", api(get_prediction)),
    Route("/v1/predictions/{id}/cancel", api(cancel_prediction), methods=["POST"]),
    Route("/v1/models/{owner}/{name}/predictions", api(create_model_prediction), methods=["POST"]),
    Route(
        "/v1/deployments/{owner}/{name}/predictions",
        api(create_deployment_prediction),
        methods=["POST"],
    ),
    Route("/v1/streams/{token}", api(stream_prediction, capability=True, faults=False)),
]
