"""Record what a client does against the real API into a replay file the sandbox can serve.

    with replicate_nb.record("workshop.replay.json"):
        replicate.run("meta/meta-llama-3-8b-instruct", input={"prompt": "Say hi"})

    sandbox.start(replay="workshop.replay.json")   # later, offline: same input, same output

While the block runs, every Replicate client in the process that talks to the recorded API is
watched at the SDK's transport (`_sdk.observe_responses`): clients made before or inside the
block, sync and async, the module-level one, each event loop's clone, `run_many`'s. The recorder
notes the models and versions they read, the predictions they create or poll (with the input as
sent), and the server-sent events of any stream they read, as the client reads each body. On
exit, unfinished predictions are fetched until final, missing models are fetched, output files
are downloaded without credentials and embedded (or stored beside the recording, in
`<name>.files/`, when larger than `max_inline_bytes`), and the file is written; a block that saw
nothing writes nothing and warns. Request headers are never kept, so the API token cannot be
written; any text equal to a token sent is also masked before writing, as a second guard. The
format is described in `docs/replay-format.md`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import mimetypes
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from . import _datauri, _sdk
from . import replay_format as _format
from ._tap import EventParser, Tee
from ._terms import TERMINAL, split_name
from .outputs import download

DEFAULT_MAX_INLINE_BYTES = 256 * 1024
"""Output files up to this size are embedded as `data:` URIs; larger ones are stored beside."""
_MODEL = re.compile(r"^/v1/models/([^/]+)/([^/]+)$")
_VERSIONS = re.compile(r"^/v1/models/([^/]+)/([^/]+)/versions(?:/([^/]+))?$")
_CREATE = re.compile(r"^/v1/(?:predictions|(?:models|deployments)/[^/]+/[^/]+/predictions)$")
_PREDICTION = re.compile(r"^/v1/predictions/([^/]+)(?:/cancel)?$")
_KEPT = (
    "id",
    "model",
    "version",
    "status",
    "output",
    "error",
    "logs",
    "metrics",
    "created_at",
    "started_at",
    "completed_at",
    "deployment",
)
_MODEL_KEPT = (
    "owner",
    "name",
    "description",
    "visibility",
    "is_official",
    "github_url",
    "paper_url",
    "license_url",
    "cover_image_url",
    "created_at",
)


@contextlib.contextmanager
def record(
    path: str | Path,
    *,
    client: Any = None,
    max_inline_bytes: int = DEFAULT_MAX_INLINE_BYTES,
    wait: float = 60.0,
) -> Iterator[Recorder]:
    """Record the predictions run in this block, by any client of `client`'s API, into `path`.

    Args:
        path: the recording to write (JSON); files too large to embed go to `<stem>.files/`.
        client: a `replicate.Client` whose API is recorded (every client talking to that API
            is); by default the one `replicate_nb.connect()` installed, else the SDK's default.
        max_inline_bytes: output files up to this size are embedded as `data:` URIs.
        wait: on exit, how long to keep polling predictions that have not finished yet.
    """
    if client is None:
        from .connection import current_client

        client = current_client()
    recorder = Recorder(path, client=client, max_inline_bytes=max_inline_bytes)
    try:
        with _sdk.observe_responses(recorder.observe):
            yield recorder
    finally:
        recorder.save(wait=wait)


class Recorder:
    """What a recording has seen so far; `record()` makes one and saves it on exit."""

    def __init__(self, path: str | Path, *, client: Any, max_inline_bytes: int) -> None:
        self.path = Path(path)
        self.files_dir = self.path.with_name(f"{self.path.name.removesuffix('.json')}.files")
        self._client = client
        self._max_inline = max_inline_bytes
        self._lock = threading.Lock()
        self._api = _sdk.api_url(client)
        self._models: dict[str, dict[str, Any]] = {}
        self._versions: dict[str, dict[str, dict[str, Any]]] = {}
        self._predictions: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, Any] = {}
        self._uploads: dict[str, str] = {}
        self._streams: dict[str, list[dict[str, str]]] = {}
        self._masks: set[str] = {_sdk.api_token(client) or ""}
        self._converted: dict[str, Any] = {}
        self._secret_names: dict[str, set[str]] = {}  # schema's JSON -> its secret inputs

    def observe(self, request: httpx.Request, response: httpx.Response) -> None:
        """Watch one response of any SDK client: the recorded API's JSON, and any stream's events.

        Both are taken as the client reads the body, so nothing is read twice or early.
        """
        auth = request.headers.get("authorization", "")
        if " " in auth:
            self._masks.add(auth.split(" ", 1)[1].strip())
        if response.status_code >= 400:
            return
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            url = str(request.url)
            with self._lock:
                if url in self._streams:
                    return  # the first complete read of a stream is the one kept
                events: list[dict[str, str]] = []
                self._streams[url] = events
            response.stream = Tee(response.stream, EventParser(events.append).feed)
            return
        target = request.url
        same_api = (target.scheme, target.host, target.port) == (
            self._api.scheme,
            self._api.host,
            self._api.port,
        )
        if not (same_api and "json" in kind and target.path.startswith("/v1/")):
            return
        if response.is_stream_consumed:  # built from bytes (a mock transport): read already
            self._observe(request, response)
        else:
            chunks: list[bytes] = []

            def done() -> None:
                body = httpx.Response(200, headers=response.headers, content=b"".join(chunks))
                self._observe(request, body)

            response.stream = Tee(response.stream, chunks.append, done)

    def _observe(self, request: httpx.Request, response: httpx.Response) -> None:
        path = request.url.path
        try:
            body = response.json()
        except ValueError:
            return
        with self._lock:
            if request.method == "POST" and path == "/v1/files":
                sha256 = (body.get("checksums") or {}).get("sha256")
                if sha256 and body.get("urls", {}).get("get"):
                    self._uploads[body["urls"]["get"]] = sha256
            elif request.method == "GET" and _MODEL.match(path):
                self._add_model(body)
            elif request.method == "GET" and (match := _VERSIONS.match(path)):
                ref = f"{match[1]}/{match[2]}"
                for version in body.get("results", [body]) if match[3] is None else [body]:
                    self._add_version(ref, version)
            elif request.method == "POST" and _CREATE.match(path):
                try:
                    self._sent[body["id"]] = json.loads(request.content).get("input")
                except (ValueError, AttributeError, KeyError):
                    pass
                self._add_prediction(body)
            elif _PREDICTION.match(path):
                self._add_prediction(body)
            elif path == "/v1/predictions" and request.method == "GET":
                for item in body.get("results") or []:
                    if item.get("id") in self._predictions:
                        self._add_prediction(item)

    def _add_model(self, body: dict[str, Any]) -> None:
        if not isinstance(body, dict) or "owner" not in body or "name" not in body:
            return
        ref = f"{body['owner']}/{body['name']}"
        self._models[ref] = {k: body.get(k) for k in _MODEL_KEPT if body.get(k) is not None}
        if isinstance(body.get("latest_version"), dict):
            self._models[ref]["latest_version"] = body["latest_version"].get("id")
            self._add_version(ref, body["latest_version"])

    def _add_version(self, ref: str, body: Any) -> None:
        if isinstance(body, dict) and body.get("id") and body.get("openapi_schema"):
            self._versions.setdefault(ref, {})[body["id"]] = {
                k: body.get(k) for k in ("id", "created_at", "cog_version", "openapi_schema")
            }

    def _add_prediction(self, body: Any) -> None:
        if not isinstance(body, dict) or not body.get("id") or "status" not in body:
            return
        old = self._predictions.get(body["id"])
        if old is None or old.get("status") not in TERMINAL or body["status"] in TERMINAL:
            self._predictions[body["id"]] = body

    # saving
    def save(self, *, wait: float = 60.0) -> Path:
        """Finish unfinished predictions, fetch missing models, embed files, write the file.

        When nothing was recorded, nothing is written (an existing recording is kept) and a
        `UserWarning` says so.
        """
        if not self._predictions and not self._models:
            warnings.warn(
                f"record({str(self.path)!r}) saw no request to {str(self._api).rstrip('/')} "
                "and wrote nothing: run the predictions inside the `with` block, with a client "
                "of that API (pass client= to record another one).",
                UserWarning,
                stacklevel=3,
            )
            return self.path
        self._finish(wait)
        self._fetch_models()
        with self._lock:
            predictions = sorted(
                self._predictions.values(), key=lambda p: (p.get("created_at") or "", p["id"])
            )
            document = {
                "format": _format.FORMAT,
                "version": _format.VERSION,
                "recorded_at": _dt.datetime.now(_dt.UTC)
                .isoformat(timespec="seconds")
                .replace("+00:00", "Z"),
                "api": str(self._api).rstrip("/"),
                "models": [self._model_entry(ref) for ref in sorted(self._models)],
                "predictions": [self._prediction_entry(p) for p in predictions],
            }
        text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        for secret in self._masks:
            if len(secret) >= 8:
                text = text.replace(secret, _format.SECURE)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(text, encoding="utf-8")
        partial.replace(self.path)
        return self.path

    def _finish(self, wait: float) -> None:
        deadline = time.monotonic() + wait
        for prediction_id in [
            i for i, p in self._predictions.items() if p.get("status") not in TERMINAL
        ]:
            while True:
                body = self._get(f"/v1/predictions/{prediction_id}")
                if body is not None:
                    self._add_prediction(body)
                if body is None or body.get("status") in TERMINAL or time.monotonic() > deadline:
                    break
                time.sleep(max(0.05, float(getattr(self._client, "poll_interval", 0.5))))

    def _fetch_models(self) -> None:
        for prediction in list(self._predictions.values()):
            ref, version = prediction.get("model"), prediction.get("version")
            if not isinstance(ref, str) or split_name(ref) is None:
                continue
            if ref not in self._models and (body := self._get(f"/v1/models/{ref}")):
                self._add_model(body)
            known = self._versions.get(ref, {})
            if version and version != "hidden" and version not in known:
                body = self._get(f"/v1/models/{ref}/versions/{version}")
                if body is not None:
                    self._add_version(ref, body)

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            response = _sdk.sync_http(self._client).get(path)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    def _model_entry(self, ref: str) -> dict[str, Any]:
        versions = sorted(
            self._versions.get(ref, {}).values(), key=lambda v: (v.get("created_at") or "", v["id"])
        )
        return {**self._models[ref], "versions": versions}

    def _prediction_entry(self, body: dict[str, Any]) -> dict[str, Any]:
        entry = {k: body.get(k) for k in _KEPT if k in body}
        ref = body.get("model")
        schema = self._schema_of(ref, body.get("version"))
        secrets = self._secrets(schema) if schema else None  # None: every text is masked
        sent = self._sent.get(body["id"], body.get("input"))
        entry["input"] = self._input(sent, secrets)
        entry["output"] = self._files(body.get("output"))
        stream = (body.get("urls") or {}).get("stream")
        events = self._streams.get(stream) if stream else None
        entry["streamed"] = bool(events)
        if events:
            entry["stream_events"] = [
                {**e, "data": self._files(e["data"])} if e.get("event") == "output" else e
                for e in events
            ]
        return entry

    def _schema_of(self, ref: Any, version: Any) -> dict[str, Any] | None:
        if not isinstance(ref, str):
            return None
        versions = self._versions.get(ref, {})
        latest = (self._models.get(ref) or {}).get("latest_version")
        chosen = versions.get(version) or (versions.get(latest) if latest else None)
        return chosen["openapi_schema"] if chosen else None

    def _secrets(self, schema: dict[str, Any]) -> set[str]:
        key = _format.input_key(schema)
        if key not in self._secret_names:
            self._secret_names[key] = _format.secret_fields(schema)
        return self._secret_names[key]

    def _input(self, value: Any, secrets: set[str] | None) -> Any:
        """The sent input with uploads and big `data:` URIs as hashes and secrets masked.

        With no schema (`secrets` None), every text is masked: no input can be told from a secret.
        """
        if not isinstance(value, dict):
            return value

        def convert(item: Any) -> Any:
            if isinstance(item, list):
                return [convert(v) for v in item]
            if isinstance(item, dict):
                return {k: convert(v) for k, v in item.items()}
            if isinstance(item, str) and item in self._uploads:
                return {"$file_sha256": self._uploads[item]}
            if (
                isinstance(item, str)
                and _datauri.is_data_uri(item)
                and len(_datauri.decode(item)) > self._max_inline
            ):
                return _format.canonical(item)
            return item

        return _format.mask_secrets({k: convert(v) for k, v in value.items()}, secrets)

    def _files(self, value: Any) -> Any:
        """Output with https files downloaded and embedded, large files stored beside."""
        if isinstance(value, list):
            return [self._files(v) for v in value]
        if isinstance(value, dict):
            return {k: self._files(v) for k, v in value.items()}
        if not isinstance(value, str) or not value.startswith(("https:", "data:")):
            return value
        if value not in self._converted:
            self._converted[value] = self._file(value)
        return self._converted[value]

    def _file(self, url: str) -> Any:
        if url.startswith(_datauri.PREFIX):
            data = _datauri.decode(url)
            if len(data) <= self._max_inline:
                return url  # kept exactly as the API sent it
            content_type = _datauri.media_type(url) or _datauri.OCTET_STREAM
        else:
            try:
                data, declared = download(url, transport=_sdk.plain_transport(self._client))
            except httpx.HTTPError:
                return url  # kept as is: a replay then hands out the original URL
            content_type = (
                declared or mimetypes.guess_type(url.split("?")[0])[0] or _datauri.OCTET_STREAM
            )
        if len(data) <= self._max_inline:
            return _datauri.encode(data, content_type)
        digest = hashlib.sha256(data).hexdigest()
        name = digest[:16] + (mimetypes.guess_extension(content_type) or "")
        self.files_dir.mkdir(parents=True, exist_ok=True)
        target = self.files_dir / name
        if not target.exists():
            target.write_bytes(data)
        return {
            "$file": f"{self.files_dir.name}/{name}",
            "content_type": content_type,
            "sha256": digest,
            "size": len(data),
        }
