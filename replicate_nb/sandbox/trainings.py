"""Trainings: a run of a trainer's `train()` that, when it succeeds, adds a version to a model.

A training goes through the prediction machinery unchanged (lifecycle, logs, cancel, webhooks,
storage): it is a prediction whose `destination` is set, run against the trainer version's
`TrainingInput` schema. Its output is `{"version": "owner/name:<id>", "weights": <data: URI>}`.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from .. import _datauri
from .. import schema as cog_schema
from .._terms import split_name
from .catalog import ACCOUNT, Catalog
from .engine import Engine
from .errors import Forbidden, InvalidRequest, NotFound
from .models import schema_version_id
from .models.base import ModelSpec, Predict, PredictContext
from .records import Prediction

_DOCUMENTS: dict[str, dict[str, Any]] = {}  # trainer version id -> its training document


def training_schema(trainer: ModelSpec) -> cog_schema.InputSchema:
    """The trainer version's `TrainingInput`/`TrainingOutput`, read as an input schema."""
    document = _DOCUMENTS.get(trainer.version_id)
    if document is None:
        schemas = trainer.openapi_schema["components"]["schemas"]
        document = {
            "components": {
                "schemas": {
                    **schemas,
                    "Input": schemas["TrainingInput"],
                    "Output": schemas["TrainingOutput"],
                }
            }
        }
        _DOCUMENTS[trainer.version_id] = document
    return cog_schema.parse(document, cog_version=trainer.cog_version)


def start(
    engine: Engine,
    *,
    trainer: ModelSpec,
    destination: Any,
    input: Any,
    webhook: str | None = None,
    webhook_events_filter: list[str] | None = None,
    owner: str | None = None,
) -> Prediction:
    """Validate and start a training of `trainer` (a version) into `destination` (`owner/name`).

    `owner` is the room account training (None outside a room); the destination must be its.
    """
    if trainer.trainer is None:
        raise InvalidRequest(
            f"Version {trainer.version_id} of {trainer.ref} cannot be trained: it has no "
            "train(). Train a trainer such as ostris/flux-dev-lora-trainer."
        )
    parts = split_name(destination)
    if parts is None:
        raise InvalidRequest(
            f'"destination" must be the model to train into, as "owner/name"; got {destination!r}.'
        )
    dest_owner, dest_name = parts
    try:
        target = engine.catalog.model(dest_owner, dest_name)
    except NotFound:
        raise NotFound(
            f"The specified training destination does not exist: create {destination} first "
            "(POST /v1/models)."
        ) from None
    account = owner or ACCOUNT["username"]
    if target.owner != account:
        raise Forbidden(
            f"You can only train into models of your own account ({account!r}), "
            f"not {destination!r}."
        )
    runner = dataclasses.replace(trainer, predict=_training(engine.catalog, trainer, target))
    return engine.create(
        model=runner,
        input=input,
        by_version=True,
        webhook=webhook,
        webhook_events_filter=webhook_events_filter,
        schema=training_schema(trainer),
        destination=target.ref,
        owner=owner,
    )


def get(engine: Engine, training_id: str) -> Prediction:
    """A training by id (predictions are not trainings)."""
    try:
        found = engine.get(training_id)
    except NotFound:
        found = None
    if found is None or found.destination is None:
        raise NotFound(
            f"Training {training_id!r} not found. List trainings with GET /v1/trainings."
        )
    return found


def _training(catalog: Catalog, trainer: ModelSpec, target: ModelSpec) -> Predict:
    assert trainer.trainer is not None
    train = trainer.trainer.train

    async def run(ctx: PredictContext, inputs: dict[str, Any]) -> dict[str, Any]:
        weights = await train(ctx, inputs)
        destination = target.ref
        version_id = schema_version_id(
            {"destination": destination, "trainer": trainer.version_id, "weights": weights}
        )
        catalog.add_version(
            target.owner, target.name, version_id=version_id, source=trainer, weights=weights
        )
        ctx.log(f"Created version {destination}:{version_id}")
        encoded = json.dumps(weights, sort_keys=True).encode("utf-8")
        return {
            "version": f"{destination}:{version_id}",
            "weights": _datauri.encode(encoded, "application/json"),
        }

    return run
