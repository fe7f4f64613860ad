"""Stand-in for `replicate/hello-world`: returns "hello " + text, exactly like the real model."""

from __future__ import annotations

from typing import Any

from replicate_nb.sandbox.models import STANDIN_NOTICE
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SCHEMA = load_schema("replicate__hello-world__5c7d5dc6.json")


async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> str:
    """Prefix the `text` input with "hello "."""
    ctx.log(STANDIN_NOTICE)
    return "hello " + inputs["text"]


HELLO_WORLD = ModelSpec(
    owner="replicate",
    name="hello-world",
    version_id="5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa",
    openapi_schema=SCHEMA,
    predict=predict,
    description=(
        "Sandbox stand-in for replicate/hello-world: a tiny model that says hello, with the "
        "real version's id and input schema; its output is computed locally."
    ),
    cog_version="0.3.0",
    version_created_at="2022-04-26T19:29:04.418669Z",
    created_at="2022-04-26T19:29:04.418669Z",
)
