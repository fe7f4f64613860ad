"""Stand-in for `andreasjansson/llama-2-13b-embeddings`: deterministic unit vectors per text.

A text's vector sums sparse per-word vectors and a little text-specific noise, then is
normalised: identical texts give identical vectors and texts sharing words have a higher cosine
similarity, which is enough for notebooks that demonstrate search. Not a language model.
"""

from __future__ import annotations

import math
import re
from typing import Any

from replicate_nb.sandbox.control import rng_for
from replicate_nb.sandbox.models import STANDIN_NOTICE
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SCHEMA = load_schema("andreasjansson__llama-2-13b-embeddings__7115a4c6.json")
DIMENSIONS = 5120
"""Length of every vector, as Llama 2 13B's hidden size."""
MAX_PROMPTS = 100
_WORD_DIMS = 96  # non-zero dimensions of one word's sparse vector
_NOISE = 0.35  # weight of the text-specific dense part
_WORD_RE = re.compile(r"\w+")


def embed(text: str) -> list[float]:
    """The unit vector of `text`, rounded to 6 decimals."""
    rng = rng_for("embedding", text)
    noise = [rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)]
    noise_norm = math.sqrt(sum(x * x for x in noise)) or 1.0
    vector = [_NOISE * x / noise_norm for x in noise]
    words = _WORD_RE.findall(text.lower())
    for word in words:
        word_rng = rng_for("embedding-word", word)
        weight = 1.0 / math.sqrt(_WORD_DIMS * len(words))
        for dim in word_rng.sample(range(DIMENSIONS), _WORD_DIMS):
            vector[dim] += weight if word_rng.random() < 0.5 else -weight
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [round(x / norm, 6) for x in vector]


def split_prompts(prompts: str, separator: str) -> list[str]:
    """The texts of the `prompts` input, or a clear error when there are none or too many."""
    if not separator:
        raise ValueError("prompt_separator is empty; use e.g. the default blank line '\\n\\n'")
    if not prompts:
        raise ValueError("prompts is empty: give at least one text to embed")
    texts = prompts.split(separator)
    if len(texts) > MAX_PROMPTS:
        raise ValueError(
            f"got {len(texts)} prompts but the maximum is {MAX_PROMPTS} per "
            f"prediction; split them over several predictions"
        )
    return texts


def embed_all(texts: list[str]) -> list[list[float]]:
    """One vector per text (identical texts are embedded once)."""
    cache: dict[str, list[float]] = {}
    for text in texts:
        if text not in cache:
            cache[text] = embed(text)
    return [list(cache[text]) for text in texts]


async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> list[list[float]]:
    """Embed each text of `prompts` (split on `prompt_separator`)."""
    ctx.log(STANDIN_NOTICE)
    texts = split_prompts(inputs["prompts"], inputs.get("prompt_separator", "\n\n"))
    ctx.log(f"Embedding {len(texts)} prompt{'s' if len(texts) != 1 else ''}")
    return await ctx.run_in_thread(embed_all, texts)


LLAMA_2_13B_EMBEDDINGS = ModelSpec(
    owner="andreasjansson",
    name="llama-2-13b-embeddings",
    # The full id of the version the schema was copied from, as published in public client code.
    version_id="7115a4c65b86815e31412e53de1211c520164c190945a84c425b59dccbc47148",
    openapi_schema=SCHEMA,
    predict=predict,
    description=(
        f"Sandbox stand-in for andreasjansson/llama-2-13b-embeddings: returns deterministic, "
        f"synthetic {DIMENSIONS}-dimension unit vectors (texts sharing words are closer), with "
        f"the real version's input schema."
    ),
)
