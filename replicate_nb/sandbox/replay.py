"""Serve recordings made with `replicate_nb.record`: recorded models, and recorded results by input.

`install(catalog, "workshop.replay.json", store=...)` adds every recorded model (replacing a
built-in stand-in of the same name) with a `predict` that looks the sent input up among the
recorded predictions of that model. A match replays the recorded logs, output (token by token when
it was streamed) and status, spread over min(recorded predict_time, `MAX_REPLAY_SECONDS`).
An input with no recording is refused at create time with a 422 that names the closest recorded
inputs, unless `fallback="stand-in"` and a built-in stand-in of that name exists, which then runs.
The file format is described in `docs/replay-format.md`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import _datauri
from .. import schema as cog_schema
from .._terms import TERMINAL, split_name
from ..replay_format import FORMAT, VERSION, canonical, secret_fields
from ..replay_format import input_key as _key
from .catalog import Catalog
from .errors import InvalidInput
from .models.base import ModelSpec, Predict, PredictContext
from .store import Store

MAX_REPLAY_SECONDS = 2.0
"""A replay takes as long as the recorded prediction ran, but never longer than this."""
FALLBACKS = (None, "stand-in")
_FILE_URL = re.compile(r"/v1/files/([^/?#]+)")


class ReplayedFailure(Exception):
    """A recorded failure, raised again; its traceback is already in the recorded logs."""

    log_traceback = False


def load(path: str | Path) -> dict[str, Any]:
    """Read and check one recording file.

    Raises:
        ValueError: the file is not a replicate-nb recording, or a newer format version.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the recording {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(
            f"{str(path)!r} is not a replicate-nb recording (no "
            f'"format": "{FORMAT}"); make one with replicate_nb.record()'
        )
    if data.get("version") != VERSION:
        raise ValueError(
            f"{str(path)!r} is format version {data.get('version')!r}; this "
            f"replicate-nb reads version {VERSION}. Upgrade replicate-nb."
        )
    return data


@dataclasses.dataclass
class _Recorded:
    entry: dict[str, Any]
    key: str
    fields: dict[str, str]  # input name -> canonical JSON of its value
    folder: Path


class Replayer:
    """The `predict` of one replayed model: finds, then plays back, a recorded prediction."""

    def __init__(
        self,
        ref: str,
        recorded: list[_Recorded],
        *,
        iterator: bool,
        secrets: set[str],
        store: Store | None,
        fallback: Predict | None,
        sources: str,
    ) -> None:
        self.ref = ref
        self.iterator = iterator
        self._recorded = recorded
        self._secrets = secrets
        self._store = store
        self._fallback = fallback
        self._sources = sources
        self._turns: dict[str, itertools.cycle[_Recorded]] = {}

    def _fields(self, input: Any) -> dict[str, str]:
        value = canonical(input, file_sha256=self._upload_sha256)
        if not isinstance(value, dict):
            return {}
        return {k: _key(v) for k, v in value.items() if k not in self._secrets}

    def _upload_sha256(self, url: str) -> str | None:
        match = _FILE_URL.search(url)
        if match is None or self._store is None:
            return None
        file = self._store.get_file(match.group(1))
        return file.checksums.get("sha256") if file is not None else None

    def match(self, input: Any) -> _Recorded | None:
        """The next recorded prediction for this input (recordings of one input take turns)."""
        key = _key(self._fields(input))
        if key not in self._turns:
            same = [r for r in self._recorded if r.key == key]
            if not same:
                return None
            self._turns[key] = itertools.cycle(same)
        return next(self._turns[key])

    def check_input(self, input: Any) -> None:
        """Refuse, at create time, an input that was never recorded (when there is no fallback)."""
        if self._fallback is not None:
            return
        key = _key(self._fields(input))
        if any(r.key == key for r in self._recorded):
            return
        raise self._not_recorded(input)

    def _not_recorded(self, input: Any) -> InvalidInput:
        sent = self._fields(input)

        def score(item: tuple[int, _Recorded]) -> tuple[int, int, int]:
            equal = sum(1 for k, v in sent.items() if item[1].fields.get(k) == v)
            return (-equal, len(set(sent) ^ set(item[1].fields)), item[0])

        ranked, seen = [], set()
        for _, recorded in sorted(enumerate(self._recorded), key=score):
            if recorded.key not in seen:
                seen.add(recorded.key)
                ranked.append(recorded)
        lines = []
        for recorded in ranked[:3]:
            equal = sum(1 for k, v in sent.items() if recorded.fields.get(k) == v)
            total = len(set(sent) | set(recorded.fields))
            shown = _key(recorded.entry.get("input"))
            shown = shown if len(shown) <= 200 else shown[:199] + "…"
            lines.append(f"- {shown} ({equal} of {total} inputs equal)")
        closest = ranked[0].fields if ranked else {}
        differing = sorted(k for k in set(sent) | set(closest) if sent.get(k) != closest.get(k))
        invalid = [
            {
                "type": "not_recorded",
                "field": f"input.{k}",
                "description": f"recorded {closest.get(k, '(left out)')}, sent "
                f"{sent.get(k, '(left out)')}",
            }
            for k in differing
        ]
        hint = (
            "Send one of the recorded inputs, or record this one against the real API."
            if lines
            else "This recording has no predictions of this model to replay."
        )
        detail = (
            f"No recorded prediction of {self.ref} has this input (replaying "
            f"{self._sources}); replays match the input exactly as sent.\n"
            + (f"Closest recorded inputs:\n{chr(10).join(lines)}\n" if lines else "")
            + hint
        )
        return InvalidInput(detail, invalid)

    async def __call__(self, ctx: PredictContext, inputs: dict[str, Any]) -> Any:
        """Play the recorded prediction for the sent input (or run the fallback stand-in)."""
        recorded = self.match(getattr(ctx, "sent_input", inputs))
        if recorded is None:
            if self._fallback is None:  # only when the recording changed under us
                raise self._not_recorded(getattr(ctx, "sent_input", inputs))
            return await self._fallback(ctx, inputs)
        return await _play(ctx, recorded, iterator=self.iterator)


async def _play(ctx: PredictContext, recorded: _Recorded, *, iterator: bool) -> Any:
    """Replay logs and outputs in their recorded order, then the recorded ending."""
    entry = recorded.entry
    output = await ctx.run_in_thread(_resolve_files, entry.get("output"), recorded.folder)
    items = output if isinstance(output, list) else []
    steps: list[tuple[str, Any]] = []
    if entry.get("stream_events"):
        outputs = iter(items)
        for event in entry["stream_events"]:
            if event.get("event") == "logs":
                steps.append(("logs", event.get("data", "")))
            elif event.get("event") == "output" and iterator:
                steps.append(("output", next(outputs, event.get("data"))))
        steps += [("output", item) for item in outputs] if iterator else []
    else:
        logs = entry.get("logs") or ""
        steps = [("logs", line) for line in logs.split("\n")[: -1 if logs.endswith("\n") else None]]
        steps += [("output", item) for item in items] if iterator else []
    ctx.metrics.update(
        {
            k: v
            for k, v in (entry.get("metrics") or {}).items()
            if k not in ("predict_time", "total_time")
        }
    )
    pause = replay_seconds(entry) / (len(steps) + 1)
    for kind, value in steps:
        await ctx.sleep(pause)
        if kind == "logs":
            ctx.log(value)
        else:
            ctx.emit(value)
    await ctx.sleep(pause)
    status = entry.get("status")
    if status == "failed":
        raise ReplayedFailure(entry.get("error") or "The recorded prediction failed.")
    if status == "canceled":
        raise asyncio.CancelledError
    return output


def replay_seconds(entry: dict[str, Any]) -> float:
    """How long a replay runs: the recorded predict_time, capped at `MAX_REPLAY_SECONDS`."""
    seconds = (entry.get("metrics") or {}).get("predict_time")
    if not isinstance(seconds, int | float) or seconds < 0:
        return 0.0
    return min(float(seconds), MAX_REPLAY_SECONDS)


def _resolve_files(value: Any, folder: Path) -> Any:
    """Recorded output with files stored beside the recording turned back into `data:` URIs."""
    if isinstance(value, list):
        return [_resolve_files(v, folder) for v in value]
    if isinstance(value, dict):
        if isinstance(value.get("$file"), str):
            data = (folder / value["$file"]).read_bytes()
            return _datauri.encode(data, value.get("content_type") or _datauri.OCTET_STREAM)
        return {k: _resolve_files(v, folder) for k, v in value.items()}
    return value


def install(
    catalog: Catalog,
    paths: str | Path | Sequence[str | Path],
    *,
    store: Store | None = None,
    fallback: str | None = None,
) -> list[ModelSpec]:
    """Serve the models and predictions of one or more recordings from `catalog`.

    Raises:
        ValueError: a file is not a recording, or `fallback` is not None or "stand-in".
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"replay_fallback must be None or 'stand-in', got {fallback!r}")
    files = [Path(paths)] if isinstance(paths, str | Path) else [Path(p) for p in paths]
    sources = ", ".join(p.name for p in files)
    models: dict[str, dict[str, Any]] = {}
    predictions: list[tuple[dict[str, Any], Path]] = []
    for path in files:
        data = load(path)
        for model in data.get("models") or []:
            models[f"{model['owner']}/{model['name']}"] = model
        predictions += [
            (p, path.parent) for p in data.get("predictions") or [] if p.get("status") in TERMINAL
        ]
    for ref in {p["model"] for p, _ in predictions} - set(models):
        owner, name = split_name(ref) or (ref, "")
        models[ref] = {"owner": owner, "name": name, "versions": []}
    served = []
    existing = {m.ref: m for m in catalog.models()}
    for ref, model in models.items():
        mine = [(p, folder) for p, folder in predictions if p["model"] == ref]
        version = _version(model, [p for p, _ in mine])
        secrets = secret_fields(version["openapi_schema"])
        recorded = []
        for entry, folder in mine:
            fields = {
                k: _key(v)
                for k, v in (canonical(entry.get("input")) or {}).items()
                if k not in secrets
            }
            recorded.append(_Recorded(entry, _key(fields), fields, folder))
        builtin = existing.get(ref)
        iterator = cog_schema.parse(
            version["openapi_schema"], cog_version=version.get("cog_version")
        ).output.is_iterator
        predict = Replayer(
            ref,
            recorded,
            iterator=iterator,
            secrets=secrets,
            store=store,
            sources=sources,
            fallback=builtin.predict if builtin and fallback else None,
        )
        spec = _spec(model, version, predict, sources)
        catalog.add(spec, replace=True)
        served.append(spec)
    return served


def _version(model: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, Any]:
    """The version to serve: the one the latest recorded prediction used, else the latest."""
    versions = {v["id"]: v for v in model.get("versions") or [] if v.get("openapi_schema")}
    used = [e.get("version") for e in entries if e.get("version") in versions]
    chosen = used[-1] if used else model.get("latest_version")
    if chosen in versions:
        return versions[chosen]
    if versions:
        return list(versions.values())[-1]
    return _synthetic_version(entries)


def _synthetic_version(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """A permissive schema for a model recorded without its version (no access to it)."""
    names = list(dict.fromkeys(k for e in entries for k in (e.get("input") or {})))
    props = {n: {"title": n.replace("_", " ").title(), "x-order": i} for i, n in enumerate(names)}
    iterator = any(e.get("streamed") for e in entries)
    output = (
        {"type": "array", "items": {}, "x-cog-array-type": "iterator", "title": "Output"}
        if iterator
        else {"title": "Output"}
    )
    schema = {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "paths": {},
        "components": {
            "schemas": {
                "Input": {"title": "Input", "type": "object", "properties": props},
                "Output": output,
            }
        },
    }
    digest = hashlib.sha256(_key(schema).encode()).hexdigest()
    return {"id": digest, "openapi_schema": schema, "cog_version": None}


def _spec(
    model: dict[str, Any], version: dict[str, Any], predict: Replayer, sources: str
) -> ModelSpec:
    defaults: dict[str, Any] = {f.name: f.default for f in dataclasses.fields(ModelSpec)}
    return ModelSpec(
        owner=model["owner"],
        name=model["name"],
        version_id=version["id"],
        openapi_schema=version["openapi_schema"],
        predict=predict,
        description=model.get("description") or f"Replayed from {sources}.",
        official=bool(model.get("is_official")),
        sandbox_only=model["owner"] == "sandbox",  # a recorded teaching model (sandbox/sleep)
        cog_version=version.get("cog_version") or defaults["cog_version"],
        version_created_at=version.get("created_at") or defaults["version_created_at"],
        created_at=model.get("created_at") or defaults["created_at"],
        visibility=model.get("visibility") or "public",
        github_url=model.get("github_url"),
        paper_url=model.get("paper_url"),
        license_url=model.get("license_url"),
        cover_image_url=model.get("cover_image_url"),
        run_count=model.get("run_count") or 0,
    )
