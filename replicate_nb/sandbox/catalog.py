"""Models, versions, collections, hardware and the account the sandbox serves.

The catalog resolves every way a client can name a model (`owner/name`, `owner/name:version`, a
bare version id) and keeps each version's parsed input schema for validation.
"""

from __future__ import annotations

import threading
from typing import Any

from .. import schema as cog_schema
from .errors import Conflict, InvalidVersion, ModelNeedsVersion, NotFound
from .models.base import ModelSpec

ACCOUNT = {
    "type": "organization",
    "username": "sandbox",
    "name": "replicate-nb sandbox",
    "github_url": "https://github.com/replicate/replicate-python",
}

HARDWARE = [
    {"sku": "cpu", "name": "CPU"},
    {"sku": "gpu-t4", "name": "Nvidia T4 GPU"},
    {"sku": "gpu-l40s", "name": "Nvidia L40S GPU"},
    {"sku": "gpu-a100-large", "name": "Nvidia A100 (80GB) GPU"},
    {"sku": "gpu-h100", "name": "Nvidia H100 GPU"},
]

COLLECTIONS = {
    "text-to-image": ("Text to image", "Models that make images from a text prompt."),
    "language-models": ("Language models", "Models that write text, token by token."),
    "image-to-image": ("Image to image", "Models that transform an image you give them."),
    "embedding-models": ("Embedding models", "Models that turn text into vectors."),
    "sandbox": ("Sandbox teaching models", "Models for learning the lifecycle: sleep and fail."),
}

BUILTIN_COLLECTIONS = {
    "replicate/hello-world": "sandbox",
    "meta/meta-llama-3-8b-instruct": "language-models",
    "stability-ai/sdxl": "text-to-image",
    "black-forest-labs/flux-schnell": "text-to-image",
    "nightmareai/real-esrgan": "image-to-image",
    "andreasjansson/llama-2-13b-embeddings": "embedding-models",
    "sandbox/sleep": "sandbox",
    "sandbox/fail": "sandbox",
}


class Catalog:
    """The models a sandbox serves (built-in stand-ins plus any registered later)."""

    def __init__(self, models: list[ModelSpec]) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelSpec] = {}
        self._collections: dict[str, list[str]] = {}
        self._schemas: dict[str, cog_schema.InputSchema] = {}
        for model in models:
            self.add(model, collection=BUILTIN_COLLECTIONS.get(model.ref))

    def add(
        self, model: ModelSpec, *, replace: bool = False, collection: str | None = None
    ) -> None:
        """Serve a model; `replace=True` swaps one of the same name."""
        with self._lock:
            if model.ref in self._models and not replace:
                raise Conflict(f"A model named {model.ref!r} already exists in this sandbox.")
            self._models[model.ref] = model
            self._schemas[model.version_id] = cog_schema.parse(
                model.openapi_schema, cog_version=model.cog_version
            )
            if collection:
                self._collections.setdefault(collection, [])
                if model.ref not in self._collections[collection]:
                    self._collections[collection].append(model.ref)

    def models(self) -> list[ModelSpec]:
        """All models, in the order they were added."""
        with self._lock:
            return list(self._models.values())

    def model(self, owner: str, name: str) -> ModelSpec:
        """A model by owner and name."""
        found = self._models.get(f"{owner}/{name}")
        if found is None:
            raise NotFound(
                f"Model {owner}/{name} not found in the sandbox. Known models: "
                f"{', '.join(sorted(self._models))}."
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
        if not model.runs_by_name:
            raise ModelNeedsVersion(model.ref, model.pinned_ref)
        return model

    def by_version(self, version_id: str) -> ModelSpec:
        """The model that owns a version id."""
        for model in self.models():
            if model.version_id == version_id:
                return model
        raise InvalidVersion(version_id)

    def resolve(self, ref: str) -> tuple[ModelSpec, bool]:
        """The model named by a create's `version` field, and whether a version id was given.

        Accepts a bare version id, `owner/name:version`, or `owner/name` of a model that runs
        by name (see `by_name`).
        """
        if "/" in ref:
            base, _, version_id = ref.partition(":")
            owner, _, name = base.partition("/")
            if not version_id:
                return self.by_name(owner, name), False
            model = self.model(owner, name)
            if version_id != model.version_id:
                raise InvalidVersion(ref)
            return model, True
        return self.by_version(ref), True

    def version(self, owner: str, name: str, version_id: str) -> ModelSpec:
        """A model, checking that it has this version."""
        model = self.model(owner, name)
        if version_id != model.version_id:
            raise NotFound(
                f"Version {version_id!r} of {owner}/{name} not found; its version is "
                f"{model.version_id}."
            )
        return model

    def input_schema(self, model: ModelSpec) -> cog_schema.InputSchema:
        """The parsed input schema of a model's version."""
        return self._schemas[model.version_id]

    def search(self, query: str) -> list[ModelSpec]:
        """Models whose name, owner or description contains every word of the query."""
        words = query.lower().split()
        return [
            m
            for m in self.models()
            if all(w in f"{m.owner}/{m.name} {m.description}".lower() for w in words)
        ]

    def collections(self) -> dict[str, list[str]]:
        """Collection slug -> model refs."""
        with self._lock:
            return {slug: list(refs) for slug, refs in self._collections.items()}

    # JSON shapes
    @staticmethod
    def version_json(model: ModelSpec) -> dict[str, Any]:
        """The API's version object."""
        return {
            "id": model.version_id,
            "created_at": model.version_created_at,
            "cog_version": model.cog_version,
            "openapi_schema": model.openapi_schema,
        }

    def model_json(self, model: ModelSpec, base_url: str) -> dict[str, Any]:
        """The API's model object, with its latest version."""
        return {
            "url": f"{base_url}/{model.owner}/{model.name}",
            "owner": model.owner,
            "name": model.name,
            "description": model.description,
            "visibility": model.visibility,
            "github_url": model.github_url,
            "paper_url": model.paper_url,
            "license_url": model.license_url,
            "run_count": model.run_count,
            "cover_image_url": model.cover_image_url,
            "default_example": None,
            "latest_version": self.version_json(model),
            "is_official": model.official,
            "created_at": model.created_at,
        }

    def collection_json(self, slug: str, base_url: str, *, with_models: bool) -> dict[str, Any]:
        """The API's collection object (list items carry no models)."""
        refs = self.collections().get(slug)
        if refs is None:
            raise NotFound(
                f"Collection {slug!r} not found. Known collections: "
                f"{', '.join(sorted(self.collections()))}."
            )
        name, description = COLLECTIONS.get(slug, (slug, ""))
        body: dict[str, Any] = {"name": name, "slug": slug, "description": description}
        if with_models:
            body["full_description"] = description
            body["models"] = [self.model_json(self._models[r], base_url) for r in refs]
        return body
