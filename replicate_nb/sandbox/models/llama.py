"""Stand-in for `meta/meta-llama-3-8b-instruct`: streams synthetic English, token by token.

The text is built from a small phrase bank around the prompt's main words, so the answer reads
like prose about the prompt. Tokens look like a real tokenizer's (word pieces with a leading
space, punctuation apart, `"\\n\\n"` between paragraphs). Sampling inputs act on the phrase bank
as they would on a vocabulary: `temperature`, `top_k` and `top_p` shape which phrase is drawn,
`presence_penalty` and `frequency_penalty` discourage repeats; everything is deterministic.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from replicate_nb.sandbox.control import rng_for
from replicate_nb.sandbox.models import STANDIN_NOTICE
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SCHEMA = load_schema("meta__meta-llama-3-8b-instruct__5a6809ca.json")
TOKEN_DELAY = 0.003
"""Seconds between streamed tokens: small, but the stream is visibly incremental."""

_TOKEN_RE = re.compile(r"<\|[a-z_]+\|>|\n+|[ \t]*(?:[A-Za-z']+|\d{1,3}|[^\sA-Za-z\d'])")
_WORD_RE = re.compile(r"[A-Za-z][A-Za-z'-]*|[^\sA-Za-z]")
_STOPWORDS = frozenset(
    """a an the and or but if then so of to in on at by for from with about into over under is
    are was were be been being am do does did have has had i me my we our you your he she it its
    they them their this that these those what which who whom whose how why when where can could
    would should will shall may might must please tell write give make show explain describe
    list create short long brief poem haiku story sentence sentences paragraph few some any all
    more most very just also not no yes there here let lets let's like one two three""".split()
)
_THEMES: dict[str, dict[str, tuple[str, ...]]] = {
    "nature": {
        "triggers": (
            "ocean",
            "sea",
            "tree",
            "trees",
            "forest",
            "mountain",
            "mountains",
            "river",
            "rain",
            "sun",
            "moon",
            "flower",
            "flowers",
            "bird",
            "birds",
            "garden",
            "sky",
            "snow",
            "wind",
            "nature",
            "cat",
            "cats",
            "dog",
            "dogs",
            "autumn",
            "spring",
        ),
        "adj": ("quiet", "gentle", "vast", "ancient", "restless", "bright", "patient", "wild"),
        "noun": ("light", "seasons", "water", "stillness", "life", "rhythm", "colour", "change"),
    },
    "tech": {
        "triggers": (
            "computer",
            "computers",
            "code",
            "python",
            "software",
            "data",
            "ai",
            "model",
            "models",
            "network",
            "program",
            "programming",
            "algorithm",
            "algorithms",
            "internet",
            "robot",
            "robots",
            "quantum",
            "machine",
            "learning",
            "api",
        ),
        "adj": ("reliable", "efficient", "simple", "powerful", "flexible", "careful", "clear"),
        "noun": ("data", "systems", "tools", "patterns", "performance", "abstractions", "tests"),
    },
    "general": {
        "triggers": (),
        "adj": ("helpful", "important", "interesting", "practical", "simple", "surprising", "rich"),
        "noun": ("ideas", "people", "history", "questions", "details", "choices", "examples"),
    },
}
_VERBS = ("shapes", "connects", "reflects", "changes", "supports", "reveals", "depends on")
_OPENINGS = (
    "Here is a short overview of {topic}.",
    "Great question! Let's talk about {topic}.",
    "Sure! Here is what I know about {topic}.",
)
_BODY = (
    "{topic} is a {adj} subject because it {verb} {noun}.",
    "At its core, {topic} is about {noun} and {noun2}.",
    "Many people find that {topic} {verb} {noun} in {adj} ways.",
    "One {adj} way to think about {topic} is through {noun}.",
    "When you look closely, {topic} {verb} the {adj} {noun} around it.",
    "It also helps to remember that {noun} and {noun2} are closely linked.",
    "In practice, {topic} often {verb} {adj} {noun}.",
    "A good starting point is to ask how {topic} {verb} {noun2}.",
)
_CLOSINGS = (
    "I hope this helps!",
    "Let me know if you would like to know more about {topic}.",
    "Feel free to ask if you have more questions.",
)
_POEM_OPENING = "Here is a {form} about {topic}:"
_POEM_LINES = (
    "{adj} {bare} at dawn",
    "{noun} drifting through {adj} air",
    "silence holds the {noun}",
    "{adj} {noun} remember",
    "a {adj} hush of {noun}",
    "{topic} waits for {noun}",
    "soft {noun}, {adj} and slow",
)
_POEM_CLOSINGS = ("I hope you enjoy it!", "I hope this captures {topic}.")


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


class _Sampler:
    """Deterministic draws from ranked options, shaped like an LLM's next-token sampling."""

    def __init__(self, rng: Any, inputs: dict[str, Any]) -> None:
        self.rng = rng
        self.temperature = float(inputs.get("temperature", 0.6))
        self.top_p = float(inputs.get("top_p", 0.9))
        self.top_k = int(inputs.get("top_k", 50))
        self.presence = float(inputs.get("presence_penalty", 1.15))
        self.frequency = float(inputs.get("frequency_penalty", 0.2))
        self.counts: dict[str, int] = {}

    def pick(self, options: Sequence[str], step: float = 0.8, weight: float = 1.0) -> str:
        """Draw one option: each rank costs `step` logits, repeats cost `weight` x penalties."""
        logits = []
        for rank, option in enumerate(options):
            used = self.counts.get(option, 0)
            penalty = self.presence * (used > 0) + self.frequency * used
            logits.append(-rank * step - weight * penalty)
        order = sorted(range(len(options)), key=lambda i: (-logits[i], i))
        if self.top_k > 0:
            order = order[: self.top_k]
        chosen = order[0]
        if self.temperature > 0:
            weights = [math.exp((logits[i] - logits[order[0]]) / self.temperature) for i in order]
            total, kept, cumulative = sum(weights), [], 0.0
            for i, weight in zip(order, weights, strict=True):
                kept.append((i, weight))
                cumulative += weight / total
                if cumulative >= self.top_p:
                    break
            r = self.rng.random() * sum(weight for _, weight in kept)
            for i, weight in kept:
                chosen = i
                r -= weight
                if r < 0:
                    break
        option = options[chosen]
        self.counts[option] = self.counts.get(option, 0) + 1
        return option


class _Writer:
    """Sentences (or poem lines) about the prompt's topic, drawn through a `_Sampler`."""

    def __init__(self, prompt: str, sampler: _Sampler) -> None:
        words = _WORD_RE.findall(prompt)
        runs: list[list[str]] = [[]]
        articles: list[str] = [""]
        for position, word in enumerate(words):
            if not word[0].isalpha() or word.lower() in _STOPWORDS or len(word) < 3:
                runs.append([])
                articles.append("the " if word.lower() in ("the", "a", "an") else "")
            else:
                runs[-1].append(word.lower() if position == 0 or word.isupper() else word)
        keywords = [word for run in runs for word in run]
        first = next((i for i, run in enumerate(runs) if run), None)
        self.bare = " ".join(runs[first][:3]) if first is not None else "this topic"
        self.topic = (articles[first] if first is not None else "") + self.bare
        lowered = {word.lower() for word in keywords}
        theme = next((t for t in _THEMES.values() if lowered & set(t["triggers"])), None)
        theme = theme or _THEMES["general"]
        others = [w for w in dict.fromkeys(keywords) if w not in self.bare.split()][:3]
        self.adjectives = theme["adj"]
        self.nouns = (*others, *theme["noun"])
        lowered_prompt = prompt.lower()
        self.form = next((f for f in ("haiku", "poem") if f in lowered_prompt), None)
        self.sampler = sampler

    def _fill(self, template: str) -> str:
        pick = self.sampler.pick
        noun = pick(self.nouns)
        noun2 = pick([n for n in self.nouns if n != noun])
        text = template.format(
            topic=self.topic,
            bare=self.bare,
            adj=pick(self.adjectives),
            noun=noun,
            noun2=noun2,
            verb=pick(_VERBS),
            form=self.form,
        )
        text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
        return text[0].upper() + text[1:]

    def opening(self) -> str:
        """The first sentence."""
        if self.form:
            return self._fill(_POEM_OPENING)
        return self._fill(self.sampler.pick(_OPENINGS, step=0.3, weight=3.0))

    def body(self) -> str:
        """One more sentence, or one more line of the poem."""
        return self._fill(self.sampler.pick(_POEM_LINES if self.form else _BODY, 0.3, 3.0))

    def closing(self) -> str:
        """The last sentence."""
        closings = _POEM_CLOSINGS if self.form else _CLOSINGS
        return self._fill(self.sampler.pick(closings, step=0.3, weight=3.0))


class _Stream:
    """Emits tokens to the context, at most `limit` of them."""

    def __init__(self, ctx: PredictContext, limit: int) -> None:
        self.ctx, self.limit, self.count = ctx, limit, 0

    async def push(self, text: str) -> bool:
        """Emit the tokens of `text`; False once the limit is reached."""
        for token in tokenize(text):
            if self.count >= self.limit:
                return False
            self.ctx.emit(token)
            self.count += 1
            await self.ctx.sleep(TOKEN_DELAY)
        return self.count < self.limit


async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> None:
    """Stream a synthetic answer to the prompt with `ctx.emit`; the output is the token list."""
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
    writer = _Writer(prompt or re.sub(r"<\|[a-z_]+\|>", " ", formatted), _Sampler(rng, inputs))
    goal = max(rng.randint(30, 40) if writer.form else rng.randint(40, 90), min_tokens)
    per_paragraph = 3 if writer.form else rng.randint(2, 3)
    joiner = "\n" if writer.form else " "

    stream = _Stream(ctx, max_tokens)
    opening, closing = writer.opening(), writer.closing()
    closing_size = len(tokenize(closing))
    ok = await stream.push(opening) and await stream.push("\n\n")
    in_paragraph = 0
    while ok and stream.count + closing_size + (in_paragraph > 0) < goal:
        ok = await stream.push((joiner if in_paragraph else "") + writer.body())
        in_paragraph += 1
        if ok and in_paragraph >= per_paragraph:
            ok = await stream.push("\n\n")
            in_paragraph = 0
    if ok:
        await stream.push(("\n\n" if in_paragraph else "") + closing)

    speed = rng_for("llama-speed", formatted)
    ctx.metrics.update(
        input_token_count=input_tokens,
        output_token_count=stream.count,
        tokens_per_second=round(speed.uniform(80.0, 120.0), 3),
        time_to_first_token=round(0.03 + 0.0002 * input_tokens, 4),
    )


LLAMA_3_8B_INSTRUCT = ModelSpec(
    owner="meta",
    name="meta-llama-3-8b-instruct",
    version_id="5a6809ca6288247d06daf6365557e5e429063f32a21146b2a807c682652136b8",
    openapi_schema=SCHEMA,
    predict=predict,
    description=(
        "Sandbox stand-in for meta/meta-llama-3-8b-instruct: streams synthetic, deterministic "
        "English built from a phrase bank around the prompt, with the real version's input "
        "schema and token metrics. Not a language model."
    ),
    official=True,
    cog_version="0.9.4",
    version_created_at="2024-04-17T21:58:45.726276Z",
    created_at="2024-04-17T21:58:45.726276Z",
)
