"""Models, versions, collections, hardware and the account the sandbox serves.

The catalog resolves every way a client can name a model (`owner/name`, `owner/name:version`, a
bare version id) and keeps each version's parsed input schema for validation.
"""

from __future__ import annotations

import contextvars
import dataclasses
import re
import threading
from collections.abc import Callable
from typing import Any

from .. import schema as cog_schema
from .._terms import parse_ref
from .errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidVersion,
    ModelNeedsVersion,
    NotFound,
)
from .models.base import ModelSpec, PredictContext
from .records import now

ACCOUNT = {
    "type": "organization",
    "username": "sandbox",
    "name": "replicate-nb sandbox",
    "github_url": "https://github.com/replicate/replicate-python",
}

_SAVED_FIELDS = (
    "owner",
    "name",
    "description",
    "visibility",
    "hardware",
    "github_url",
    "paper_url",
    "license_url",
    "cover_image_url",
    "readme",
    "weights_url",
    "created_at",
)

VIEWER: contextvars.ContextVar[str | None] = contextvars.ContextVar("sandbox_viewer", default=None)
"""The room account a request comes from (set by the routes' wrapper; None outside a room)."""

HARDWARE = [
    {"sku": "cpu", "name": "CPU"},
    {"sku": "gpu-t4", "name": "Nvidia T4 GPU"},
    {"sku": "gpu-l40s", "name": "Nvidia L40S GPU"},
    {"sku": "gpu-a100-large", "name": "Nvidia A100 (80GB) GPU"},
    {"sku": "gpu-h100", "name": "Nvidia H100 GPU"},
]

BUILTIN_COLLECTIONS = {
    "replicate/hello-world": "sandbox",
    "meta/meta-llama-3-8b-instruct": "language-models",
    "stability-ai/sdxl": "text-to-image",
    "black-forest-labs/flux-schnell": "text-to-image",
    "nightmareai/real-esrgan": "image-to-image",
    "andreasjansson/llama-2-13b-embeddings": "embedding-models",
    "sandbox/sleep": "sandbox",
    "sandbox/fail": "sandbox",
    "ostris/flux-dev-lora-trainer": "fine-tuning",
}


class Catalog:
    """The models a sandbox serves (built-in stand-ins, registered ones, created and trained ones).

    Each model has a list of versions (oldest first; a model made with `models.create` starts
    with none). `model()` answers with the model's latest version, which is what runs by name.
    """

    def __init__(self, models: list[ModelSpec]) -> None:
        self._lock = threading.RLock()
        self._models: dict[str, ModelSpec] = {}
        self._versions: dict[str, list[ModelSpec]] = {}
        self._by_version: dict[str, ModelSpec] = {}
        self._collections: dict[str, list[str]] = {}
        self._schemas: dict[str, cog_schema.InputSchema] = {}
        self.private_owners: frozenset[str] = frozenset()  # a room's accounts: theirs to see
        self._created: set[str] = set()  # refs made with models.create (kept across restarts)
        self.on_change: Callable[[str, dict[str, Any] | None], None] | None = None
        """Called with a created model's ref and `snapshot` (None once deleted) on each change."""
        for model in models:
            self.add(model, collection=BUILTIN_COLLECTIONS.get(model.ref))

    def add(
        self, model: ModelSpec, *, replace: bool = False, collection: str | None = None
    ) -> None:
        """Serve a model with its one version; `replace=True` swaps one of the same name.

        Publication is atomic for readers on other threads (`register()` racing traffic): the
        schema is parsed first and the model becomes visible last, so a request never finds a
        model without its schema.
        """
        parsed = self._parse(model) if model.has_version else None
        with self._lock:
            if model.ref in self._models and not replace:
                raise Conflict(f"A model named {model.ref!r} already exists in this sandbox.")
            for old in self._versions.pop(model.ref, []):
                self._unindex(old)
            if model.readme is None and model.has_version:
                model.readme = f"# {model.ref}\n\n{model.description}\n"
            self._versions[model.ref] = []
            if parsed is not None:
                self._push(model, parsed)
            else:
                self._models[model.ref] = model
            if collection:
                self._collections.setdefault(collection, [])
                if model.ref not in self._collections[collection]:
                    self._collections[collection].append(model.ref)

    @staticmethod
    def _parse(version: ModelSpec) -> cog_schema.InputSchema:
        return cog_schema.parse(version.openapi_schema, cog_version=version.cog_version)

    def _push(self, version: ModelSpec, parsed: cog_schema.InputSchema | None = None) -> None:
        """Index a version; what readers look up first (the model) is set last."""
        self._schemas[version.version_id] = parsed or self._parse(version)
        self._by_version[version.version_id] = version
        self._versions[version.ref].append(version)
        self._models[version.ref] = version

    def _unindex(self, version: ModelSpec) -> None:
        self._by_version.pop(version.version_id, None)
        self._schemas.pop(version.version_id, None)

    def _hidden(self, model: ModelSpec) -> bool:
        """Whether a room account's model is out of sight of the current viewer."""
        return model.owner in self.private_owners and model.owner != VIEWER.get()

    def models(self) -> list[ModelSpec]:
        """All models (each as its latest version) the viewer may see, in the order added."""
        with self._lock:
            return [m for m in self._models.values() if not self._hidden(m)]

    def model(self, owner: str, name: str) -> ModelSpec:
        """A model by owner and name, as its latest version."""
        found = self._models.get(f"{owner}/{name}")
        if found is None or self._hidden(found):
            raise NotFound(
                f"Model {owner}/{name} not found in the sandbox. Known models: "
                f"{', '.join(sorted(m.ref for m in self.models()))}."
            )
        return found

    def by_name(self, owner: str, name: str) -> ModelSpec:
        """A model run by `owner/name` alone: official models, and models only the sandbox has.

        Raises:
            ModelNeedsVersion: any other model (api.replicate.com answers 404 for it too).
        """
        if ":" in name:
            raise NotFound(
                f"The requested resource could not be found: {owner}/{name} names a version; "
                'run a version with POST /v1/predictions and {"version": "<version id>"}.'
            )
        model = self.model(owner, name)
        self.input_schema(model)  # a model with no version yet: nothing to run
        if not model.runs_by_name:
            raise ModelNeedsVersion(model.ref, model.pinned_ref)
        return model

    def versions(self, owner: str, name: str) -> list[ModelSpec]:
        """A model's versions, newest first."""
        self.model(owner, name)
        with self._lock:
            return list(reversed(self._versions[f"{owner}/{name}"]))

    def by_version(self, version_id: str) -> ModelSpec:
        """The model version with this id."""
        found = self._by_version.get(version_id)
        if found is None or self._hidden(found):
            raise InvalidVersion(version_id)
        return found

    def resolve(self, ref: str) -> tuple[ModelSpec, bool]:
        """The model named by a create's `version` field, and whether a version id was given.

        Accepts a bare version id, `owner/name:version`, or `owner/name` of a model that runs
        by name (see `by_name`).
        """
        if "/" in ref:
            parsed = parse_ref(ref)
            if parsed is None:
                raise InvalidVersion(ref)
            if parsed.version is None:
                return self.by_name(parsed.owner, parsed.name), False
            model = self.model(parsed.owner, parsed.name)
            found = self._by_version.get(parsed.version)
            if found is None or found.ref != model.ref:
                raise InvalidVersion(ref)
            return found, True
        return self.by_version(ref), True

    def version(self, owner: str, name: str, version_id: str) -> ModelSpec:
        """One version of a model."""
        model = self.model(owner, name)
        found = self._by_version.get(version_id)
        if found is None or found.ref != model.ref:
            known = ", ".join(v.version_id for v in self.versions(owner, name)) or "none yet"
            raise NotFound(
                f"Version {version_id!r} of {owner}/{name} not found; its versions: {known}."
            )
        return found

    def input_schema(self, model: ModelSpec) -> cog_schema.InputSchema:
        """The parsed input schema of a model's version."""
        found = self._schemas.get(model.version_id)
        if found is None:
            raise NotFound(
                f"Model {model.ref} has no version to run yet: train one into it "
                f"(destination {model.ref!r}) and run it as {model.ref}:<version id>."
            )
        return found

    def search(self, query: str) -> list[ModelSpec]:
        """Models whose name, owner or description contains every word of the query."""
        words = query.lower().split()
        return [
            m
            for m in self.models()
            if all(w in f"{m.owner}/{m.name} {m.description}".lower() for w in words)
        ]

    # the account's own models: create, update, delete, add and delete versions
    def create(
        self, *, owner: str, name: str, visibility: str, hardware: str, **meta: Any
    ) -> ModelSpec:
        """A new model with no version, owned by the sandbox's account (`models.create`)."""
        _check_owner(owner, "create models")
        if not _NAME.match(name):
            raise InvalidRequest(
                f"Model name {name!r} is not valid: use lowercase letters, digits, '-', '_' "
                "and '.', starting with a letter or digit."
            )
        if visibility not in ("public", "private"):
            raise InvalidRequest(f"visibility must be 'public' or 'private', not {visibility!r}.")
        skus = [h["sku"] for h in HARDWARE]
        if hardware not in skus:
            raise InvalidRequest(f"hardware {hardware!r} is not a SKU; use one of {skus}.")
        stamp = now()
        model = ModelSpec(
            owner=owner,
            name=name,
            version_id="",
            openapi_schema={},
            predict=_no_version,
            description=meta.get("description") or "",
            visibility=visibility,
            hardware=hardware,
            github_url=meta.get("github_url"),
            paper_url=meta.get("paper_url"),
            license_url=meta.get("license_url"),
            cover_image_url=meta.get("cover_image_url"),
            created_at=stamp,
            version_created_at=stamp,
        )
        with self._lock:
            self.add(model)
            self._created.add(model.ref)
            self._changed(model.ref)
        return model

    def _changed(self, ref: str) -> None:
        if ref in self._created and self.on_change is not None:
            self.on_change(ref, self.snapshot(ref))

    def snapshot(self, ref: str) -> dict[str, Any] | None:
        """What `restore` needs to serve a created model again: its metadata and, for each
        version a training made, the trainer's version id and the weights (None: no such model)."""
        with self._lock:
            model = self._models.get(ref)
            if model is None:
                return None
            return {
                "model": {field: getattr(model, field) for field in _SAVED_FIELDS},
                "versions": [
                    {
                        "version_id": v.version_id,
                        "trainer": v.trained_by,
                        "weights": v.weights,
                        "created_at": v.version_created_at,
                    }
                    for v in self._versions[ref]
                ],
            }

    def restore(self, saved: dict[str, Any]) -> list[str]:
        """Serve again a created model that `snapshot` described; the version ids it could not
        rebuild (their trainer is not served)."""
        model = ModelSpec(**saved["model"], version_id="", openapi_schema={}, predict=_no_version)
        with self._lock:
            self.add(model)
            self._created.add(model.ref)
            lost = []
            for version in saved["versions"]:
                source = self._by_version.get(version["trainer"] or "")
                if source is None or source.trainer is None:
                    lost.append(version["version_id"])
                    continue
                self._add_version(
                    model.ref,
                    version_id=version["version_id"],
                    source=source,
                    weights=version["weights"],
                    created_at=version["created_at"],
                )
        return lost

    def update(self, owner: str, name: str, **meta: Any) -> ModelSpec:
        """Change a model's metadata (`models.update`): description, URLs, readme."""
        model = self.model(owner, name)
        _check_owner(owner, "update models")
        with self._lock:
            versions = [dataclasses.replace(v, **meta) for v in self._versions[model.ref]]
            for version in versions:
                self._by_version[version.version_id] = version
            self._versions[model.ref] = versions
            self._models[model.ref] = (
                versions[-1] if versions else dataclasses.replace(model, **meta)
            )
            self._changed(model.ref)
            return self._models[model.ref]

    def delete(self, owner: str, name: str) -> None:
        """Delete a model (`models.delete`): only your own private models with no versions."""
        model = self.model(owner, name)
        _check_owner(owner, "delete models")
        if model.visibility != "private":
            raise Conflict(f"Only private models can be deleted; {model.ref} is public.")
        if model.has_version:
            raise Conflict(
                f"{model.ref} still has versions: delete them first "
                f"(DELETE /v1/models/{model.ref}/versions/<id>)."
            )
        with self._lock:
            del self._models[model.ref], self._versions[model.ref]
            for refs in self._collections.values():
                if model.ref in refs:
                    refs.remove(model.ref)
            self._changed(model.ref)
            self._created.discard(model.ref)

    def add_version(
        self, owner: str, name: str, *, version_id: str, source: ModelSpec, weights: dict[str, Any]
    ) -> ModelSpec:
        """A new latest version of a model, running `source`'s code with these weights."""
        model = self.model(owner, name)
        with self._lock:
            version = self._add_version(
                model.ref, version_id=version_id, source=source, weights=weights
            )
            self._changed(model.ref)
        return version

    def _add_version(
        self,
        ref: str,
        *,
        version_id: str,
        source: ModelSpec,
        weights: dict[str, Any],
        created_at: str | None = None,
    ) -> ModelSpec:
        if source.trainer is None:
            raise InvalidRequest(f"{source.ref} cannot train; it has no train().")
        version = dataclasses.replace(
            self._models[ref],
            version_id=version_id,
            openapi_schema=source.openapi_schema,
            predict=source.trainer.predictor(weights),
            cog_version=source.cog_version,
            version_created_at=created_at or now(),
            trainer=None,
            weights=weights,
            trained_by=source.version_id,
            official=False,
        )
        with self._lock:
            old = self._by_version.get(version_id)
            if old is not None and old.ref == ref:  # the same training again
                self._versions[ref].remove(old)
            self._push(version)
        return version

    def delete_version(self, owner: str, name: str, version_id: str) -> None:
        """Delete one of your models' versions (`models.versions.delete`)."""
        version = self.version(owner, name, version_id)
        _check_owner(owner, "delete versions")
        with self._lock:
            versions = self._versions[version.ref]
            versions.remove(version)
            self._unindex(version)
            self._models[version.ref] = (
                versions[-1]
                if versions
                else dataclasses.replace(
                    version, version_id="", openapi_schema={}, predict=_no_version
                )
            )
            self._changed(version.ref)

    def readme(self, owner: str, name: str) -> str:
        """A model's README (Markdown)."""
        model = self.model(owner, name)
        if model.readme is None:
            raise NotFound(
                f"README not found: {model.ref} has none. Set one with PATCH "
                f'/v1/models/{model.ref} and a body {{"readme": "# ..."}}.'
            )
        return model.readme

    def collections(self) -> dict[str, list[str]]:
        """Collection slug -> model refs."""
        with self._lock:
            return {slug: list(refs) for slug, refs in self._collections.items()}


_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


def _check_owner(owner: str, what: str) -> None:
    account = VIEWER.get() or ACCOUNT["username"]
    if owner != account:
        raise Forbidden(
            f"You can only {what} of your own account, {account!r} "
            f"(GET /v1/account), not {owner!r}."
        )


async def _no_version(ctx: PredictContext, inputs: dict[str, Any]) -> Any:
    raise RuntimeError("this model has no version to run")
