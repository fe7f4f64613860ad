"""The API's JSON objects for what the catalog serves: models, versions, search, collections."""

from __future__ import annotations

from typing import Any

from .catalog import Catalog
from .errors import NotFound
from .models.base import ModelSpec

COLLECTIONS = {
    "text-to-image": ("Text to image", "Models that make images from a text prompt."),
    "language-models": ("Language models", "Models that write text, token by token."),
    "image-to-image": ("Image to image", "Models that transform an image you give them."),
    "embedding-models": ("Embedding models", "Models that turn text into vectors."),
    "sandbox": ("Sandbox teaching models", "Models for learning the lifecycle: sleep and fail."),
    "fine-tuning": ("Fine-tuning", "Trainers that make a new version of your model from data."),
}
"""Collection slug -> (name, description)."""


def version_json(model: ModelSpec) -> dict[str, Any]:
    """The API's version object."""
    return {
        "id": model.version_id,
        "created_at": model.version_created_at,
        "cog_version": model.cog_version,
        "openapi_schema": model.openapi_schema,
    }


def model_json(model: ModelSpec, base_url: str) -> dict[str, Any]:
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
        "latest_version": version_json(model) if model.has_version else None,
        "is_official": model.official,
        "created_at": model.created_at,
    }


def search_json(catalog: Catalog, query: str, limit: int, base_url: str) -> dict[str, Any]:
    """The `GET /v1/search` answer: matching models (with metadata) and collections."""
    words = query.lower().split()
    found = []
    for model in catalog.search(query):
        text = f"{model.ref} {model.description}".lower()
        hits = sum(text.count(w) for w in words)
        found.append((-hits, model.ref, model))
    found.sort(key=lambda item: item[:2])
    tags: dict[str, list[str]] = {}
    for slug, refs in catalog.collections().items():
        for ref in refs:
            tags.setdefault(ref, []).append(slug)
    models = [
        {
            "model": model_json(model, base_url),
            "metadata": {
                "generated_description": model.description,
                "score": float(-score),
                "tags": tags.get(model.ref, []),
            },
        }
        for score, _, model in found[:limit]
    ]
    collections = []
    for slug, refs in catalog.collections().items():
        name, description = COLLECTIONS.get(slug, (slug, ""))
        if words and all(w in f"{slug} {name} {description}".lower() for w in words):
            collections.append(
                {"name": name, "slug": slug, "description": description, "models": refs}
            )
    return {"query": query, "models": models, "collections": collections, "pages": []}


def collection_json(
    catalog: Catalog, slug: str, base_url: str, *, with_models: bool
) -> dict[str, Any]:
    """The API's collection object (list items carry no models)."""
    refs = catalog.collections().get(slug)
    if refs is None:
        raise NotFound(
            f"Collection {slug!r} not found. Known collections: "
            f"{', '.join(sorted(catalog.collections()))}."
        )
    name, description = COLLECTIONS.get(slug, (slug, ""))
    body: dict[str, Any] = {"name": name, "slug": slug, "description": description}
    if with_models:
        body["full_description"] = description
        body["models"] = [model_json(catalog.model(*r.split("/")), base_url) for r in refs]
    return body
