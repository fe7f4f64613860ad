"""HTTP routes of the sandbox: parse the request, call the engine, store or catalog, serialise.

Every error leaves as `application/problem+json`; nothing a client sends can produce a 500.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from .catalog import ACCOUNT, HARDWARE
from .control import Faults
from .engine import Engine
from .errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ProblemError,
    Unauthenticated,
    UnsupportedMediaType,
)
from .records import Deployment, File, now
from .webhooks import check_webhook

log = logging.getLogger("replicate_nb.sandbox")

MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_JSON_BYTES = 50 * 1024 * 1024
KEEPALIVE_SECONDS = 10.0
_PREFER = re.compile(r"^\s*wait(?:\s*=\s*(\d+))?\s*$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
Handler = Callable[[Request], Awaitable[Response]]


class State:
    """What the routes need: the engine (with store and catalog) and the auth setting."""

    def __init__(self, engine: Engine, *, require_token: str | None) -> None:
        self.engine = engine
        self.require_token = require_token


def _state(request: Request) -> State:
    return request.app.state.sandbox


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(body, status_code=status, headers=headers)


def api(handler: Handler, *, auth: bool = True, faults: bool = True) -> Handler:
    """Wrap a route: fault injection first, then the token check."""

    async def endpoint(request: Request) -> Response:
        state = _state(request)
        if faults:
            await state.engine.before_request()
        if auth and state.require_token is not None:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            if scheme.lower() not in ("bearer", "token") or not secrets.compare_digest(
                    token.strip().encode(), state.require_token.encode()):
                raise Unauthenticated()
        return await handler(request)

    return endpoint


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"Request bodies must be less than {limit // 1024 // 1024}MB in size.")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"Request bodies must be less than {limit // 1024 // 1024}MB in size.")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise InvalidRequest("The client disconnected before sending the whole body.") from exc
    return b"".join(chunks)


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await _read_body(request, MAX_JSON_BYTES)
    if not raw.strip():
        raise InvalidRequest('The request body is empty; send a JSON object such as {"input": {}}.')
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(body, dict):
        raise InvalidRequest(f"The request body must be a JSON object, not {type(body).__name__}.")
    return body


def _prefer_wait(request: Request) -> int | None:
    header = request.headers.get("prefer")
    if header is None:
        return None
    match = _PREFER.match(header)
    if match is None:
        raise InvalidRequest(f"Prefer header {header!r} not understood; use 'wait' or 'wait=N' "
                             "with N seconds from 1 to 60.")
    return min(60, max(1, int(match.group(1)))) if match.group(1) else 60


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
            raise InvalidRequest(f"Cancel-After {header!r} not understood; use a duration such "
                                 "as 30s, 5m or 1h30m, or a number of seconds.") from None
        h, m, s = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s
    if seconds < 5:
        raise InvalidRequest(f"Cancel-After must be at least 5 seconds, got {header!r}.")
    return seconds


# predictions
async def _create(request: Request, model_ref: tuple[str, str] | None = None,
                  deployment: Deployment | None = None) -> Response:
    state = _state(request)
    catalog = state.engine.catalog
    body = await _json_object(request)
    wait = _prefer_wait(request)
    cancel_after = _cancel_after(request)
    if "input" not in body:
        raise InvalidRequest('The request body needs an "input" object, e.g. {"input": {...}}.')
    webhook, events = check_webhook(body.get("webhook"), body.get("webhook_events_filter"))
    if deployment is not None:
        model, by_version = catalog.version(*deployment.model.split("/"), deployment.version), True
    elif model_ref is not None:
        model, by_version = catalog.model(*model_ref), False
    else:
        version = body.get("version")
        if not isinstance(version, str) or not version:
            raise InvalidRequest('The request body needs a "version": a version id, '
                                 '"owner/name" or "owner/name:version".')
        model, by_version = catalog.resolve(version)
    prediction = state.engine.create(
        model=model, input=body["input"], by_version=by_version, webhook=webhook,
        webhook_events_filter=events, cancel_after=cancel_after,
        deployment=f"{deployment.owner}/{deployment.name}" if deployment else None)
    headers = {"Location": f"{_base_url(request)}/v1/predictions/{prediction.id}"}
    if wait is not None:
        prediction = await state.engine.wait(prediction.id, wait)
        headers["Preference-Applied"] = request.headers["prefer"].strip().replace(" ", "")
    payload = prediction.to_json(_base_url(request))
    if wait is not None and not prediction.done:
        payload["status"] = "starting"  # the SDK takes any other status as "output is final"
    return _json(payload, 201, headers)


async def create_prediction(request: Request) -> Response:
    """predictions.create: run a model version named by `version`."""
    return await _create(request)


async def create_model_prediction(request: Request) -> Response:
    """models.predictions.create: run a model by name (official models)."""
    return await _create(request, (request.path_params["owner"], request.path_params["name"]))


async def create_deployment_prediction(request: Request) -> Response:
    """deployments.predictions.create: run a deployment's version."""
    deployment = _deployment(request)
    return await _create(request, deployment=deployment)


async def get_prediction(request: Request) -> Response:
    """predictions.get: the prediction as it is now."""
    prediction = _state(request).engine.get(request.path_params["id"])
    return _json(prediction.to_json(_base_url(request)))


async def cancel_prediction(request: Request) -> Response:
    """predictions.cancel: stop a prediction that is still running."""
    prediction = await _state(request).engine.cancel(request.path_params["id"])
    return _json(prediction.to_json(_base_url(request)))


async def list_predictions(request: Request) -> Response:
    """predictions.list: newest first, 100 a page, absolute cursor URLs."""
    from .store import decode_cursor

    cursor = request.query_params.get("cursor")
    position = decode_cursor(cursor) if cursor else None
    if cursor and position is None:
        raise InvalidRequest(f"Cursor {cursor!r} is not valid; follow the next/previous URLs.")
    engine = _state(request).engine
    items, next_cursor, previous_cursor = engine.store.list_predictions(position)
    base = _base_url(request)
    results = [engine.get(p.id).to_json(base) if p.id in engine.runs else p.to_json(base)
               for p in items]
    return _json({
        "next": f"{base}/v1/predictions?cursor={next_cursor}" if next_cursor else None,
        "previous": f"{base}/v1/predictions?cursor={previous_cursor}" if previous_cursor else None,
        "results": results,
    })


async def stream_prediction(request: Request) -> Response:
    """The `urls.stream` server-sent events: output, logs, error, done."""
    engine = _state(request).engine
    prediction_id = request.path_params["id"]
    engine.get(prediction_id)  # 404 before the stream starts
    events = engine.events(prediction_id, after=request.headers.get("last-event-id"),
                           keepalive=request.app.state.keepalive)

    async def body() -> AsyncIterator[str]:
        async for event in events:
            if event is None:
                yield ": keep-alive\n\n"
                continue
            name, event_id, data = event
            lines = "".join(f"data: {line}\n" for line in data.split("\n"))
            yield f"event: {name}\nid: {event_id}\n{lines}\n"

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})


# models
async def list_models(request: Request) -> Response:
    """models.list: every model the sandbox serves."""
    catalog = _state(request).engine.catalog
    base = _base_url(request)
    models = catalog.models()
    if request.query_params.get("sort_direction") == "asc":
        models = list(reversed(models))
    return _json({"next": None, "previous": None,
                  "results": [catalog.model_json(m, base) for m in models]})


async def search_models(request: Request) -> Response:
    """models.search: the `QUERY` method with the query as the body."""
    raw = (await _read_body(request, 64 * 1024)).decode("utf-8", errors="replace").strip()
    try:  # the JS client sends the query JSON-encoded
        decoded = json.loads(raw)
        query = decoded if isinstance(decoded, str) else raw
    except (ValueError, RecursionError):
        query = raw
    catalog = _state(request).engine.catalog
    base = _base_url(request)
    return _json({"next": None, "previous": None,
                  "results": [catalog.model_json(m, base) for m in catalog.search(query)]})


async def get_model(request: Request) -> Response:
    """models.get: a model with its latest version."""
    catalog = _state(request).engine.catalog
    model = catalog.model(request.path_params["owner"], request.path_params["name"])
    return _json(catalog.model_json(model, _base_url(request)))


async def list_versions(request: Request) -> Response:
    """models.versions.list: official models expose none, as on Replicate."""
    catalog = _state(request).engine.catalog
    model = catalog.model(request.path_params["owner"], request.path_params["name"])
    if model.official:
        raise NotFound("This model is an official model and does not expose a list of versions. "
                       f"Run it by name: POST /v1/models/{model.ref}/predictions.")
    return _json({"next": None, "previous": None, "results": [catalog.version_json(model)]})


async def get_version(request: Request) -> Response:
    """models.versions.get: a version with its openapi_schema."""
    catalog = _state(request).engine.catalog
    p = request.path_params
    return _json(catalog.version_json(catalog.version(p["owner"], p["name"], p["version"])))


# files
async def create_file(request: Request) -> Response:
    """files.create: a multipart upload with a `content` part."""
    state = _state(request)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        raise UnsupportedMediaType("Upload files as multipart/form-data with a 'content' part.")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FILE_BYTES + 64 * 1024:
        raise PayloadTooLarge("Files must be less than 100MB in size")
    try:
        async with request.form(max_files=4, max_fields=16) as form:
            file, data = await _file_from_form(state, form)
    except (ClientDisconnect, ValueError, KeyError, AssertionError) as exc:
        raise InvalidRequest(f"The multipart body could not be read: {exc}") from exc
    except HTTPException as exc:
        raise InvalidRequest(f"The multipart body could not be read: {exc.detail}") from exc
    state.engine.store.save_file(file, data)
    return _json(file.to_json(_base_url(request)), 201)


async def _file_from_form(state: State, form: Any) -> tuple[File, bytes]:
    upload = form.get("content")
    if not isinstance(upload, UploadFile):
        raise InvalidRequest("The multipart body needs a file part named 'content'.")
    data = await upload.read()
    if len(data) > MAX_FILE_BYTES:
        raise PayloadTooLarge("Files must be less than 100MB in size")
    metadata = await _metadata(form.get("metadata"))
    name = form.get("filename") if isinstance(form.get("filename"), str) else None
    kind = form.get("type") if isinstance(form.get("type"), str) else None
    file = File(
        id=state.engine.random.token(24),
        name=name or upload.filename or "file",
        content_type=kind or upload.content_type or "application/octet-stream",
        size=len(data),
        etag=hashlib.md5(data).hexdigest(),
        checksums={"sha256": hashlib.sha256(data).hexdigest(),
                   "md5": hashlib.md5(data).hexdigest()},
        metadata=metadata,
        created_at=now(),
        expires_at=(_dt.datetime.now(_dt.UTC) + _dt.timedelta(days=1))
        .isoformat(timespec="microseconds").replace("+00:00", "Z"),
    )
    return file, data


async def _metadata(part: Any) -> dict[str, Any]:
    if part is None:
        return {}
    raw = await part.read() if isinstance(part, UploadFile) else part
    try:
        value = json.loads(raw or "{}")
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidRequest(f"File metadata must be a JSON object: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("File metadata must be a JSON object.")
    return value


def _file(request: Request) -> File:
    file = _state(request).engine.store.get_file(request.path_params["id"])
    if file is None:
        raise NotFound(f"File {request.path_params['id']!r} not found. "
                       "List files with GET /v1/files.")
    return file


async def list_files(request: Request) -> Response:
    """files.list: uploaded files, newest first."""
    base = _base_url(request)
    files = _state(request).engine.store.list_files()
    return _json({"next": None, "previous": None, "results": [f.to_json(base) for f in files]})


async def get_file(request: Request) -> Response:
    """files.get: a file's metadata."""
    return _json(_file(request).to_json(_base_url(request)))


async def delete_file(request: Request) -> Response:
    """files.delete: remove a file."""
    if not _state(request).engine.store.delete_file(request.path_params["id"]):
        raise NotFound(f"File {request.path_params['id']!r} not found.")
    return Response(status_code=204)


async def download_file(request: Request) -> Response:
    """files.download: a file's bytes."""
    file = _file(request)
    content = _state(request).engine.store.file_content(file.id) or b""
    return Response(content, media_type=file.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{file.name}"'})


# deployments
def _deployment(request: Request) -> Deployment:
    p = request.path_params
    found = _state(request).engine.store.get_deployment(p["owner"], p["name"])
    if found is None:
        raise NotFound(f"Deployment {p['owner']}/{p['name']} not found. Create it with "
                       "POST /v1/deployments.")
    return found


def _instances(body: dict[str, Any], key: str, default: int, high: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
        raise InvalidRequest(f"{key} must be an integer from 0 to {high}, got {value!r}.")
    return value


async def create_deployment(request: Request) -> Response:
    """deployments.create: name a model version and its hardware."""
    state = _state(request)
    body = await _json_object(request)
    missing = [k for k in ("name", "model", "version", "hardware") if not body.get(k)]
    if missing:
        raise InvalidRequest(f"Missing deployment field(s): {', '.join(missing)}.")
    fields = {k: body[k] for k in ("name", "model", "version", "hardware")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise InvalidRequest("name, model, version and hardware must be strings.")
    model = state.engine.catalog.version(*_split_ref(fields["model"]), fields["version"])
    _check_hardware(fields["hardware"])
    owner = ACCOUNT["username"]
    if state.engine.store.get_deployment(owner, fields["name"]) is not None:
        from .errors import Conflict
        raise Conflict(f"Deployment {owner}/{fields['name']} already exists; update it with PATCH.")
    deployment = Deployment(
        owner=owner, name=fields["name"], model=model.ref, version=model.version_id,
        hardware=fields["hardware"], min_instances=_instances(body, "min_instances", 0, 5),
        max_instances=_instances(body, "max_instances", 1, 20), release_number=1,
        release_created_at=now())
    state.engine.store.save_deployment(deployment)
    return _json(deployment.to_json(ACCOUNT), 200)  # deployments.create answers 200 [OAS]


def _split_ref(ref: str) -> tuple[str, str]:
    owner, _, name = ref.partition("/")
    if not owner or not name or "/" in name:
        raise InvalidRequest(f"model must look like 'owner/name', got {ref!r}.")
    return owner, name


def _check_hardware(sku: Any) -> None:
    skus = [h["sku"] for h in HARDWARE]
    if sku not in skus:
        raise InvalidRequest(f"Unknown hardware {sku!r}; choose one of {', '.join(skus)}.")


async def list_deployments(request: Request) -> Response:
    """deployments.list: all deployments."""
    items = _state(request).engine.store.list_deployments()
    return _json({"next": None, "previous": None,
                  "results": [d.to_json(ACCOUNT) for d in items]})


async def get_deployment(request: Request) -> Response:
    """deployments.get: a deployment and its current release."""
    return _json(_deployment(request).to_json(ACCOUNT))


async def update_deployment(request: Request) -> Response:
    """deployments.update: change version or configuration (a new release)."""
    state = _state(request)
    deployment = _deployment(request)
    body = await _json_object(request)
    unknown = set(body) - {"version", "hardware", "min_instances", "max_instances"}
    if unknown:
        raise InvalidRequest(f"Cannot update {sorted(unknown)}; updatable: version, hardware, "
                             "min_instances, max_instances.")
    if "version" in body:
        model = state.engine.catalog.version(*deployment.model.split("/"), str(body["version"]))
        deployment.version = model.version_id
    if "hardware" in body:
        _check_hardware(body["hardware"])
        deployment.hardware = body["hardware"]
    deployment.min_instances = _instances(body, "min_instances", deployment.min_instances, 5)
    deployment.max_instances = _instances(body, "max_instances", deployment.max_instances, 20)
    deployment.release_number += 1
    deployment.release_created_at = now()
    state.engine.store.save_deployment(deployment)
    return _json(deployment.to_json(ACCOUNT))


async def delete_deployment(request: Request) -> Response:
    """deployments.delete: remove a deployment."""
    p = request.path_params
    if not _state(request).engine.store.delete_deployment(p["owner"], p["name"]):
        raise NotFound(f"Deployment {p['owner']}/{p['name']} not found.")
    return Response(status_code=204)


# account, hardware, collections, webhooks
async def get_account(request: Request) -> Response:
    """account.get: the sandbox's account."""
    return _json(ACCOUNT)


async def list_hardware(request: Request) -> Response:
    """hardware.list: a bare array of SKUs."""
    return _json(HARDWARE)


async def list_collections(request: Request) -> Response:
    """collections.list: collections without their models."""
    catalog = _state(request).engine.catalog
    base = _base_url(request)
    results = [catalog.collection_json(slug, base, with_models=False)
               for slug in catalog.collections()]
    return _json({"next": None, "previous": None, "results": results})


async def get_collection(request: Request) -> Response:
    """collections.get: a collection with its models."""
    catalog = _state(request).engine.catalog
    return _json(catalog.collection_json(request.path_params["slug"], _base_url(request),
                                         with_models=True))


async def webhook_secret(request: Request) -> Response:
    """webhooks.default.secret.get: the key that signs webhooks."""
    return _json({"key": _state(request).engine.webhooks.secret})


# control plane and pages
async def faults_endpoint(request: Request) -> Response:
    """GET or PUT the fault injection settings (control plane for any client)."""
    engine = _state(request).engine
    if request.method == "PUT":
        body = await _json_object(request)
        try:
            engine.faults = Faults.coerce(body)
        except (TypeError, ValueError) as exc:
            raise InvalidRequest(str(exc)) from exc
    return _json(engine.faults.to_json())


async def prediction_page(request: Request) -> Response:
    """The `urls.web` of a prediction: redirects to its API resource."""
    return RedirectResponse(f"/v1/predictions/{request.path_params['id']}")


async def index(request: Request) -> Response:
    """What this server is and where its API lives."""
    return _json({"name": "replicate-nb sandbox", "api": f"{_base_url(request)}/v1",
                  "models": [m.ref for m in _state(request).engine.catalog.models()]})


# errors
async def _problem(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        if exc.status_code == 405:
            exc = MethodNotAllowed(f"{request.method} is not supported on {request.url.path}.")
        elif exc.status_code == 404:
            exc = NotFound(f"No route {request.method} {request.url.path}. The API lives under "
                           "/v1 (Python: base URL without /v1; JavaScript: with /v1).")
        else:
            exc = InvalidRequest(str(exc.detail))
    if not isinstance(exc, ProblemError):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        body = {"title": "Internal error", "status": 500,
                "detail": f"The sandbox hit an unexpected error ({type(exc).__name__}: {exc})."}
        return JSONResponse(body, 500, media_type="application/problem+json")
    return JSONResponse(exc.to_json(), exc.status, headers=exc.headers(),
                        media_type="application/problem+json")


def build_app(state: State, *, keepalive: float = KEEPALIVE_SECONDS) -> Starlette:
    """The sandbox's Starlette application."""
    v1 = "/v1"
    routes = [
        Route("/", index),
        Route("/p/{id}", prediction_page),
        Route("/_sandbox/faults", faults_endpoint, methods=["GET", "PUT"]),
        Route(f"{v1}/predictions", api(create_prediction), methods=["POST"]),
        Route(f"{v1}/predictions", api(list_predictions), methods=["GET"]),
        Route(f"{v1}/predictions/{{id}}", api(get_prediction)),
        Route(f"{v1}/predictions/{{id}}/cancel", api(cancel_prediction), methods=["POST"]),
        Route(f"{v1}/streams/{{id}}", api(stream_prediction, auth=False, faults=False)),
        Route(f"{v1}/models", api(list_models), methods=["GET"]),
        Route(f"{v1}/models", api(search_models), methods=["QUERY"]),
        Route(f"{v1}/models/{{owner}}/{{name}}", api(get_model)),
        Route(f"{v1}/models/{{owner}}/{{name}}/predictions", api(create_model_prediction),
              methods=["POST"]),
        Route(f"{v1}/models/{{owner}}/{{name}}/versions", api(list_versions)),
        Route(f"{v1}/models/{{owner}}/{{name}}/versions/{{version}}", api(get_version)),
        Route(f"{v1}/files", api(create_file), methods=["POST"]),
        Route(f"{v1}/files", api(list_files), methods=["GET"]),
        Route(f"{v1}/files/{{id}}", api(get_file), methods=["GET"]),
        Route(f"{v1}/files/{{id}}", api(delete_file), methods=["DELETE"]),
        Route(f"{v1}/files/{{id}}/download", api(download_file, auth=False, faults=False)),
        Route(f"{v1}/deployments", api(list_deployments), methods=["GET"]),
        Route(f"{v1}/deployments", api(create_deployment), methods=["POST"]),
        Route(f"{v1}/deployments/{{owner}}/{{name}}", api(get_deployment), methods=["GET"]),
        Route(f"{v1}/deployments/{{owner}}/{{name}}", api(update_deployment), methods=["PATCH"]),
        Route(f"{v1}/deployments/{{owner}}/{{name}}", api(delete_deployment), methods=["DELETE"]),
        Route(f"{v1}/deployments/{{owner}}/{{name}}/predictions",
              api(create_deployment_prediction), methods=["POST"]),
        Route(f"{v1}/account", api(get_account)),
        Route(f"{v1}/hardware", api(list_hardware)),
        Route(f"{v1}/collections", api(list_collections)),
        Route(f"{v1}/collections/{{slug}}", api(get_collection)),
        Route(f"{v1}/webhooks/default/secret", api(webhook_secret)),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state.engine.attach()
        yield
        await state.engine.shutdown()
        await state.engine.webhooks.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={Exception: _problem, HTTPException: _problem,
                                        ProblemError: _problem})
    app.state.sandbox = state
    app.state.keepalive = keepalive
    return app
