"""Deployment routes: create, get, list, update (a new release) and delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..._terms import split_name
from ..catalog import ACCOUNT, HARDWARE
from ..errors import Conflict, InvalidRequest, NotFound
from ..http import account_json, answer, api, check_owner, owner, read_json_object, state
from ..records import Deployment, now


def find_deployment(request: Request) -> Deployment:
    """The deployment named by the path, or a 404."""
    p = request.path_params
    missing = f"Deployment {p['owner']}/{p['name']} not found. Create it with POST /v1/deployments."
    found = state(request).engine.store.get_deployment(p["owner"], p["name"])
    if found is None:
        raise NotFound(missing)
    check_owner(request, found.owner, missing)
    return found


def _instances(body: dict[str, Any], key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise InvalidRequest(f"{key} must be an integer from 0 to {high}, got {value!r}.")
    return value


async def create_deployment(request: Request) -> Response:
    """deployments.create: name a model version and its hardware."""
    current = state(request)
    body = await read_json_object(request)
    missing = [k for k in ("name", "model", "version", "hardware") if not body.get(k)]
    if missing:
        raise InvalidRequest(f"Missing deployment field(s): {', '.join(missing)}.")
    fields = {k: body[k] for k in ("name", "model", "version", "hardware")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidRequest("name, model, version and hardware must be strings.")
    model = current.engine.catalog.version(*_split_ref(fields["model"]), fields["version"])
    _check_hardware(fields["hardware"])
    mine = owner(request) or ACCOUNT["username"]
    if current.engine.store.get_deployment(mine, fields["name"]) is not None:
        raise Conflict(f"Deployment {mine}/{fields['name']} already exists; update it with PATCH.")
    deployment = Deployment(
        owner=mine,
        name=fields["name"],
        model=model.ref,
        version=model.version_id,
        hardware=fields["hardware"],
        min_instances=_instances(body, "min_instances", 0, 5),
        max_instances=_instances(body, "max_instances", 1, 20),
        release_number=1,
        release_created_at=now(),
    )
    current.engine.store.save_deployment(deployment)
    return answer(deployment.to_json(account_json(request)), 200)  # create answers 200 [OAS]


def _split_ref(ref: str) -> tuple[str, str]:
    parts = split_name(ref)
    if parts is None:
        raise InvalidRequest(f"model must look like 'owner/name', got {ref!r}.")
    return parts


def _check_hardware(sku: Any) -> None:
    skus = [h["sku"] for h in HARDWARE]
    if sku not in skus:
        raise InvalidRequest(f"Unknown hardware {sku!r}; choose one of {', '.join(skus)}.")


async def list_deployments(request: Request) -> Response:
    """deployments.list: all deployments."""
    items = state(request).engine.store.list_deployments(owner=owner(request))
    by = account_json(request)
    return answer({"next": None, "previous": None, "results": [d.to_json(by) for d in items]})


async def get_deployment(request: Request) -> Response:
    """deployments.get: a deployment and its current release."""
    return answer(find_deployment(request).to_json(account_json(request)))


async def update_deployment(request: Request) -> Response:
    """deployments.update: change version or configuration (a new release)."""
    current = state(request)
    deployment = find_deployment(request)
    body = await read_json_object(request)
    unknown = set(body) - {"version", "hardware", "min_instances", "max_instances"}
    if unknown:
        raise InvalidRequest(
            f"Cannot update {sorted(unknown)}; updatable: version, hardware, "
            "min_instances, max_instances."
        )
    if "version" in body:
        owner, name = deployment.model.split("/", 1)
        model = current.engine.catalog.version(owner, name, str(body["version"]))
        deployment.version = model.version_id
    if "hardware" in body:
        _check_hardware(body["hardware"])
        deployment.hardware = body["hardware"]
    deployment.min_instances = _instances(body, "min_instances", deployment.min_instances, 5)
    deployment.max_instances = _instances(body, "max_instances", deployment.max_instances, 20)
    deployment.release_number += 1
    deployment.release_created_at = now()
    current.engine.store.save_deployment(deployment)
    return answer(deployment.to_json(account_json(request)))


async def delete_deployment(request: Request) -> Response:
    """deployments.delete: remove a deployment."""
    found = find_deployment(request)
    if not state(request).engine.store.delete_deployment(found.owner, found.name):
        raise NotFound(f"Deployment {found.owner}/{found.name} not found.")
    return Response(status_code=204)


ROUTES = [
    Route("/v1/deployments", api(list_deployments), methods=["GET"]),
    Route("/v1/deployments", api(create_deployment), methods=["POST"]),
    Route("/v1/deployments/{owner}/{name}", api(get_deployment), methods=["GET"]),
    Route("/v1/deployments/{owner}/{name}", api(update_deployment), methods=["PATCH"]),
    Route("/v1/deployments/{owner}/{name}", api(delete_deployment), methods=["DELETE"]),
]
