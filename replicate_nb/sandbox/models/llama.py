"""Stand-in for `meta/meta-llama-3-8b-instruct`: streams a templated answer, token by token.

`replies.compose` writes the answer to the prompt's request and topic; this module splits it into
tokens like a real tokenizer's (word pieces with a leading space, punctuation apart, `"\\n\\n"`
between paragraphs) and streams them at the sandbox's `stream_rate`, honouring `max_tokens`,
`min_tokens`, `prompt_template` and the sampling inputs. Everything is deterministic.
"""

from __future__ import annotations

import re
from typing import Any

from replicate_nb.sandbox.control import rng_for
from replicate_nb.sandbox.models import STANDIN_NOTICE
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema
from replicate_nb.sandbox.models.replies import Sampler, compose

SCHEMA = load_schema("meta__meta-llama-3-8b-instruct__5a6809ca.json")

_TOKEN_RE = re.compile(r"<\|[a-z_]+\|>|\n+|[ \t]*(?:[A-Za-z']+|\d{1,3}|[^\sA-Za-z\d'])")


def tokenize(text: str) -> list[str]:
    """Split text into Llama-like tokens: word pieces with a leading space, newlines apart."""
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        piece = match.group()
        if piece.startswith(("\n", "<|")):
            tokens.append(piece)
            continue
        lead = " " if piece[0] in " \t" else ""
        word = piece.lstrip(" \t")
        if len(word) <= 6 or not word.isalpha():
            tokens.append(lead + word)
        elif len(word) <= 10:
            tokens += [lead + word[: len(word) // 2], word[len(word) // 2 :]]
        else:
            third = len(word) // 3
            tokens += [lead + word[:third], word[third : 2 * third], word[2 * third :]]
    return tokens


async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> None:
    """Stream a templated answer to the prompt with `ctx.emit`; the output is the token list."""
    ctx.log(STANDIN_NOTICE)
    max_tokens, min_tokens = int(inputs.get("max_tokens", 512)), int(inputs.get("min_tokens", 0))
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}; raise max_tokens")
    prompt = inputs.get("prompt", "")
    template = inputs.get("prompt_template", "{prompt}")
    formatted = template.replace("{prompt}", prompt).replace(
        "{system_prompt}", inputs.get("system_prompt", "")
    )
    seed = ctx.seed(inputs.get("seed")) if "seed" in inputs else None
    input_tokens = len(tokenize(formatted))
    shown = formatted if len(formatted) <= 300 else formatted[:300] + "..."
    ctx.log(f"Formatted prompt: {shown}")
    ctx.log(f"Prompt has {input_tokens} tokens")
    if min_tokens > max_tokens:
        ctx.log(
            f"min_tokens ({min_tokens}) is above max_tokens ({max_tokens}): "
            f"stopping at {max_tokens}"
        )
    sampling = [
        inputs.get(k)
        for k in ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty")
    ]
    rng = rng_for("meta/meta-llama-3-8b-instruct", formatted, *sampling, seed)
    asked = prompt or re.sub(r"<\|[a-z_]+\|>", " ", formatted)
    reply = compose(
        asked, Sampler(rng, inputs), min_tokens=min_tokens, count=lambda t: len(tokenize(t))
    )
    tokens = tokenize(reply)[:max_tokens]
    for token in tokens:
        ctx.emit(token)
        await ctx.sleep(1 / ctx.stream_rate)
    ctx.metrics.update(
        input_token_count=input_tokens,
        output_token_count=len(tokens),
        tokens_per_second=round(ctx.stream_rate, 3),
        time_to_first_token=round(0.03 + 0.0002 * input_tokens, 4),
    )


LLAMA_3_8B_INSTRUCT = ModelSpec(
    owner="meta",
    name="meta-llama-3-8b-instruct",
    version_id="5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8",
    openapi_schema=SCHEMA,
    predict=predict,
    description=(
        "Sandbox stand-in for meta/meta-llama-3-8b-instruct: streams a deterministic answer "
        "written from templates for the prompt's request (a greeting, a list, a poem, an "
        "explanation...) and topic, with the real version's input schema and token metrics. "
        "Not a language model."
    ),
    official=True,
    cog_version="0.9.4",
    version_created_at="2024-04-17T21:58:45.726276Z",
    created_at="2024-04-17T21:58:45.726276Z",
)
