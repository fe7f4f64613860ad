"""Model routes past reading: create, update, delete, versions.delete, readme, examples, search."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from .. import catalog_json
from ..errors import BadRequest, Conflict, InvalidRequest
from ..http import answer, api, base_url, read_json_object, state

_CREATE_FIELDS = ("description", "github_url", "paper_url", "license_url", "cover_image_url")
_UPDATE_FIELDS = ("description", "github_url", "paper_url", "license_url", "readme", "weights_url")


def _strings(body: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """The optional string fields of a body (unknown keys are ignored, as the API does)."""
    found = {}
    for name in names:
        if name in body:
            if not isinstance(body[name], str):
                raise InvalidRequest(f"{name!r} must be a string, not {type(body[name]).__name__}.")
            found[name] = body[name]
    return found


async def create_model(request: Request) -> Response:
    """models.create: a new model (no versions yet) under your account."""
    body = await read_json_object(request)
    missing = [k for k in ("owner", "name", "visibility", "hardware") if k not in body]
    if missing:
        raise InvalidRequest(
            f"The request body needs {', '.join(missing)}; e.g. "
            '{"owner": "sandbox", "name": "my-model", "visibility": "private", "hardware": "cpu"}.'
        )
    required = _strings(body, ("owner", "name", "visibility", "hardware"))
    catalog = state(request).engine.catalog
    model = catalog.create(**required, **_strings(body, _CREATE_FIELDS))
    return answer(catalog_json.model_json(model, base_url(request)), 201)


async def update_model(request: Request) -> Response:
    """models.update: change a model's description, URLs or README."""
    body = await read_json_object(request)
    catalog = state(request).engine.catalog
    p = request.path_params
    model = catalog.update(p["owner"], p["name"], **_strings(body, _UPDATE_FIELDS))
    return answer(catalog_json.model_json(model, base_url(request)))


async def delete_model(request: Request) -> Response:
    """models.delete: a private model of yours with no versions left."""
    state(request).engine.catalog.delete(request.path_params["owner"], request.path_params["name"])
    return Response(status_code=204)


async def delete_version(request: Request) -> Response:
    """models.versions.delete: accepted (202), unless a deployment still uses the version."""
    p = request.path_params
    engine = state(request).engine
    for deployment in engine.store.list_deployments():
        if deployment.model == f"{p['owner']}/{p['name']}" and deployment.version == p["version"]:
            raise Conflict(
                f"Deployment {deployment.owner}/{deployment.name} uses this version; point it "
                "at another version or delete it first."
            )
    engine.catalog.delete_version(p["owner"], p["name"], p["version"])
    return Response(status_code=202)


async def get_readme(request: Request) -> Response:
    """models.readme.get: the model's README as Markdown text."""
    p = request.path_params
    text = state(request).engine.catalog.readme(p["owner"], p["name"])
    return PlainTextResponse(text)


async def list_examples(request: Request) -> Response:
    """models.examples.list: the sandbox's models have no example predictions (an empty page)."""
    state(request).engine.catalog.model(request.path_params["owner"], request.path_params["name"])
    return answer({"next": None, "previous": None, "results": []})


async def search(request: Request) -> Response:
    """search: models (with metadata) and collections matching `query`."""
    query = request.query_params.get("query", "").strip()
    if not query:
        raise BadRequest('Query parameter "query" is required, e.g. /v1/search?query=flux.')
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 50:
        raise BadRequest(
            f'Query parameter "limit" must be a whole number from 1 to 50, not {raw!r}.'
        )
    catalog = state(request).engine.catalog
    return answer(catalog_json.search_json(catalog, query, int(raw), base_url(request)))


ROUTES = [
    Route("/v1/models", api(create_model), methods=["POST"]),
    Route("/v1/models/{owner}/{name}", api(update_model), methods=["PATCH"]),
    Route("/v1/models/{owner}/{name}", api(delete_model), methods=["DELETE"]),
    Route("/v1/models/{owner}/{name}/versions/{version}", api(delete_version), methods=["DELETE"]),
    Route("/v1/models/{owner}/{name}/readme", api(get_readme), methods=["GET"]),
    Route("/v1/models/{owner}/{name}/examples", api(list_examples), methods=["GET"]),
    Route("/v1/search", api(search), methods=["GET"]),
]
