"""Catalog routes: models, versions, search, collections, hardware, account, webhook secret."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import catalog_json
from ..catalog import HARDWARE
from ..errors import InvalidRequest, NotFound
from ..http import account_json, answer, api, base_url, loads, owner, read_body, state


async def list_models(request: Request) -> Response:
    """models.list: every model the sandbox serves."""
    catalog = state(request).engine.catalog
    base = base_url(request)
    models = catalog.models()
    if request.query_params.get("sort_direction") == "asc":
        models = list(reversed(models))
    return answer(
        {
            "next": None,
            "previous": None,
            "results": [catalog_json.model_json(m, base) for m in models],
        }
    )


async def search_models(request: Request) -> Response:
    """models.search: the `QUERY` method with the query as the body."""
    raw = (await read_body(request, 64 * 1024)).decode("utf-8", errors="replace").strip()
    try:  # the JS client sends the query JSON-encoded
        decoded = loads(raw, "The query")
        query = decoded if isinstance(decoded, str) else raw
    except InvalidRequest:
        query = raw
    catalog = state(request).engine.catalog
    base = base_url(request)
    return answer(
        {
            "next": None,
            "previous": None,
            "results": [catalog_json.model_json(m, base) for m in catalog.search(query)],
        }
    )


async def get_model(request: Request) -> Response:
    """models.get: a model with its latest version."""
    catalog = state(request).engine.catalog
    model = catalog.model(request.path_params["owner"], request.path_params["name"])
    return answer(catalog_json.model_json(model, base_url(request)))


async def list_versions(request: Request) -> Response:
    """models.versions.list: official models expose none, as on Replicate."""
    catalog = state(request).engine.catalog
    model = catalog.model(request.path_params["owner"], request.path_params["name"])
    if model.official:
        raise NotFound(
            "This model is an official model and does not expose a list of versions. "
            f"Run it by name: POST /v1/models/{model.ref}/predictions."
        )
    versions = catalog.versions(model.owner, model.name)
    return answer(
        {
            "next": None,
            "previous": None,
            "results": [catalog_json.version_json(v) for v in versions],
        }
    )


async def get_version(request: Request) -> Response:
    """models.versions.get: a version with its openapi_schema."""
    catalog = state(request).engine.catalog
    p = request.path_params
    return answer(catalog_json.version_json(catalog.version(p["owner"], p["name"], p["version"])))


async def get_account(request: Request) -> Response:
    """account.get: the sandbox's account, or in a room the token's own."""
    return answer(account_json(request))


async def list_hardware(request: Request) -> Response:
    """hardware.list: a bare array of SKUs."""
    return answer(HARDWARE)


async def list_collections(request: Request) -> Response:
    """collections.list: collections without their models."""
    catalog = state(request).engine.catalog
    base = base_url(request)
    results = [
        catalog_json.collection_json(catalog, slug, base, with_models=False)
        for slug in catalog.collections()
    ]
    return answer({"next": None, "previous": None, "results": results})


async def get_collection(request: Request) -> Response:
    """collections.get: a collection with its models."""
    catalog = state(request).engine.catalog
    return answer(
        catalog_json.collection_json(
            catalog, request.path_params["slug"], base_url(request), with_models=True
        )
    )


async def webhook_secret(request: Request) -> Response:
    """webhooks.default.secret.get: the key that signs this account's webhooks."""
    return answer({"key": state(request).engine.webhooks.secret(owner(request))})


ROUTES = [
    Route("/v1/models", api(list_models), methods=["GET"]),
    Route("/v1/models", api(search_models), methods=["QUERY"]),
    Route("/v1/models/{owner}/{name}", api(get_model)),
    Route("/v1/models/{owner}/{name}/versions", api(list_versions)),
    Route("/v1/models/{owner}/{name}/versions/{version}", api(get_version)),
    Route("/v1/account", api(get_account)),
    Route("/v1/hardware", api(list_hardware)),
    Route("/v1/collections", api(list_collections)),
    Route("/v1/collections/{slug}", api(get_collection)),
    Route("/v1/webhooks/default/secret", api(webhook_secret)),
]
