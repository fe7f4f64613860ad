"""Training routes: create (from a trainer version, into a destination), get, list and cancel."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import trainings
from ..errors import InvalidRequest
from ..http import answer, api, base_url, check_owner, owner, read_json_object, state
from ..records import Prediction
from ..webhooks import check_webhook
from .predictions import page


async def create_training(request: Request) -> Response:
    """trainings.create: train a trainer version into `destination`, a model of yours."""
    body = await read_json_object(request)
    for key in ("destination", "input"):
        if key not in body:
            raise InvalidRequest(
                f'The request body needs "{key}", e.g. '
                '{"destination": "sandbox/my-model", "input": {...}}.'
            )
    webhook, events = check_webhook(body.get("webhook"), body.get("webhook_events_filter"))
    engine = state(request).engine
    p = request.path_params
    training = trainings.start(
        engine,
        trainer=engine.catalog.version(p["owner"], p["name"], p["version"]),
        destination=body["destination"],
        input=body["input"],
        webhook=webhook,
        webhook_events_filter=events,
        owner=owner(request),
    )
    base = base_url(request)
    headers = {"Location": f"{base}/v1/trainings/{training.id}"}
    return answer(training.to_json(base), 201, headers)


async def list_trainings(request: Request) -> Response:
    """trainings.list: newest first, 100 a page, absolute cursor URLs."""
    return page(request, trainings=True)


def _mine(request: Request) -> Prediction:
    """The training of the path's id, if this caller may see it (else a 404, as if missing)."""
    training = trainings.get(state(request).engine, request.path_params["id"])
    missing = f"Training {training.id!r} not found. List trainings with GET /v1/trainings."
    check_owner(request, training.owner, missing)
    return training


async def get_training(request: Request) -> Response:
    """trainings.get: the training as it is now."""
    return answer(_mine(request).to_json(base_url(request)))


async def cancel_training(request: Request) -> Response:
    """trainings.cancel: stop a training that is still running."""
    engine = state(request).engine
    return answer((await engine.cancel(_mine(request).id)).to_json(base_url(request)))


ROUTES = [
    Route(
        "/v1/models/{owner}/{name}/versions/{version}/trainings",
        api(create_training),
        methods=["POST"],
    ),
    Route("/v1/trainings", api(list_trainings), methods=["GET"]),
    Route("/v1/trainings/{id}", api(get_training), methods=["GET"]),
    Route("/v1/trainings/{id}/cancel", api(cancel_training), methods=["POST"]),
]
