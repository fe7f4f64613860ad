"""What the language-model stand-in answers: the prompt's request and topic, put into templates.

No weights, so no understanding: `compose` recognises the common shapes of an instruction
(a greeting, "name three X", "write a haiku about X", "explain X", a question, a story) with
regular expressions, extracts the topic's noun phrase, and fills templates for that shape from
small phrase banks (and, for lists, a little knowledge of common categories). The answer says it
comes from a stand-in. A `Sampler` draws every choice, deterministically, shaped by the sampling
inputs as a vocabulary would be.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from replicate_nb.sandbox.models import phrases

_NUMBERS = {
    "a couple of": 2,
    "a few": 3,
    "some": 3,
    "several": 4,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
_COUNT = "|".join([r"\d{1,2}", *sorted(_NUMBERS, key=len, reverse=True)])
_DETERMINERS = ("the", "a", "an", "my", "your", "our", "this", "that", "some")
_GREETING = re.compile(
    r"^(?:(?:please\s+)?(?:say|send|give me)\s+(?:a\s+)?)?"
    r"(?:hi|hello|hey|howdy|greetings|good (?:morning|afternoon|evening))\b"
    r"|^greet\b|^how are you\b"
)
_LIST = re.compile(
    rf"^(?:please\s+)?(?:name|list|give me|tell me|suggest|recommend|what are)\s+"
    rf"(?P<count>{_COUNT})\s+(?P<things>.+)$"
)
_POEM = re.compile(
    r"\b(?P<form>haiku|limerick|sonnet|poem|verse)s?\b(?:\s+(?:about|on|of|for)\s+(?P<topic>.+))?"
)
_STORY = re.compile(r"\b(?:story|tale|fable)\b(?:\s+(?:about|of|on)\s+(?P<topic>.+))?")
_EXPLAIN = re.compile(
    r"^(?:please\s+)?(?:can you\s+|could you\s+)?"
    r"(?:explain|describe|define|summari[sz]e|teach me about|tell me about|talk about|"
    r"what is|what's|what are|who is|who was|who were)\s+(?P<topic>.+)$"
)
_QUESTION = re.compile(
    r"^(?P<word>how|why|when|where|which|can|could|should|is|are|do|does|will)\s+"
    r"(?:(?:is|are|was|were|do|does|did|can|could|would|should|will)\s+)?(?P<topic>.+)$"
)
_QUALIFIERS = re.compile(
    r"\s+(?:in (?:simple|plain|a few|one|two|three|\d+) \w+(?: \w+)?|briefly|simply|"
    r"for (?:a child|kids|children|beginners|a beginner|me)|like i'?m (?:five|5)|"
    r"step by step|in detail|please|work|works)\b.*$"
)


class Sampler:
    """Deterministic draws from ranked options, shaped like an LLM's next-token sampling.

    Each rank costs `step` logits and repeats cost `weight` times the presence and frequency
    penalties; `temperature`, `top_k` and `top_p` then act on those logits as on a vocabulary.
    """

    def __init__(self, rng: Any, inputs: dict[str, Any]) -> None:
        self.rng = rng
        self.temperature = float(inputs.get("temperature", 0.6))
        self.top_p = float(inputs.get("top_p", 0.9))
        self.top_k = int(inputs.get("top_k", 50))
        self.presence = float(inputs.get("presence_penalty", 1.15))
        self.frequency = float(inputs.get("frequency_penalty", 0.2))
        self.counts: dict[str, int] = {}

    def pick(self, options: Sequence[str], step: float = 0.8, weight: float = 1.0) -> str:
        """Draw one option."""
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


def _clean(text: str) -> str:
    """The prompt as one lowercase-insensitive line without trailing punctuation."""
    return re.sub(r"\s+", " ", text).strip().rstrip(".!?;: ")


def noun_phrase(text: str, *, question: bool = False) -> str:
    """The topic's noun phrase in what follows an instruction ("llamas", "the sea").

    Qualifiers ("in simple terms", "for a child") and anything after punctuation are dropped;
    in a question, the last word is its verb or adjective ("why is the sky blue" -> "the sky").
    """
    phrase = re.split(r"[,.;:!?()\"]", text, maxsplit=1)[0].strip()
    phrase = _QUALIFIERS.sub("", phrase).strip()
    words = phrase.split()
    if question and len(words) >= 2:
        words = words[:-1]
    if words and words[0].lower() in _DETERMINERS:
        words = [words[0].lower(), *words[1:7]]
    else:
        words = words[:6]
    return " ".join(words)


def _bare(topic: str) -> str:
    words = topic.split()
    return " ".join(words[1:] if len(words) > 1 and words[0] in _DETERMINERS else words)


def _singular(things: str) -> str:
    """`ideas for a party` -> `idea for a party` (the head noun only)."""
    words = things.split()
    head = _head(words)
    words[head] = _singular_word(words[head])
    return " ".join(words)


def _singular_word(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _known(things: str) -> tuple[str, ...] | None:
    """What the stand-in knows of a category: by its whole name, else by a bare head noun."""
    key = things.lower()
    key = phrases.ALIASES.get(key, key)
    if key in phrases.KNOWN:
        return phrases.KNOWN[key]
    words = key.split()
    if len(words) == _head(words) + 1:  # no qualifier after the head noun
        return phrases.KNOWN.get(phrases.ALIASES.get(words[-1], words[-1]))
    return None


def _head(words: list[str]) -> int:
    """The index of a noun phrase's head: the word before its first preposition, else the last."""
    for i, word in enumerate(words):
        if i and word.lower() in phrases.PREPOSITIONS:
            return i - 1
    return len(words) - 1


class _Fill:
    """Fills templates with the topic and with words of the topic's theme."""

    def __init__(self, topic: str, prompt: str, sampler: Sampler) -> None:
        self.topic, self.bare, self.sampler = topic, _bare(topic), sampler
        words = {w.lower() for w in re.findall(r"[A-Za-z']+", prompt)}
        adjectives, nouns = next(
            ((a, n) for t, a, n in phrases.THEMES if words & t), phrases.GENERAL
        )
        self.adjectives = adjectives
        self.nouns = tuple(n for n in nouns if n not in self.bare.lower().split())

    def __call__(self, template: str, **extra: str) -> str:
        pick = self.sampler.pick
        noun = pick(self.nouns)
        noun2 = pick([n for n in self.nouns if n != noun])
        plural = _plural(self.bare)
        verb = (
            dict(phrases.VERBS)[pick([v for v, _ in phrases.VERBS])]
            if plural
            else pick([v for v, _ in phrases.VERBS])
        )
        values = {
            "topic": self.topic,
            "bare": self.bare,
            "adj": pick(self.adjectives),
            "noun": noun,
            "noun2": noun2,
            "verb": verb,
            "is": "are" if plural else "is",
            "was": "were" if plural else "was",
            "it": "they" if plural else "it",
            "them": "them" if plural else "it",
            **extra,
        }
        values.update({k.capitalize(): _capital(v) for k, v in list(values.items())})
        text = template.format(**values)
        text = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", text)
        return _capital(text)

    def choose(self, options: Sequence[str], **extra: str) -> str:
        """Fill one of the templates, drawn with a strong penalty on repeats."""
        return self(self.sampler.pick(options, step=0.3, weight=3.0), **extra)


def _plural(phrase: str) -> bool:
    """Whether a noun phrase is plural, by its head ("llamas", not "glass" or "physics")."""
    words = phrase.split()
    head = words[_head(words)].lower() if words else ""
    return head.endswith("s") and not head.endswith("ss") and head not in phrases.SINGULAR_S


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def compose(prompt: str, sampler: Sampler, *, min_tokens: int, count: Callable[[str], int]) -> str:
    """A whole reply to `prompt`: greetings, lists and poems as long as their shape, prose
    40 to 90 tokens; any reply grows by whole sentences to reach `min_tokens`.

    Args:
        prompt: the user's prompt.
        sampler: draws every choice (and, through its `rng`, the length of prose).
        min_tokens: the fewest tokens the reply may have.
        count: the tokenizer's token count of a text.
    """
    text = _clean(prompt)
    lowered = text.lower()
    prose = max(min_tokens, sampler.rng.randint(40, 90))
    length = min_tokens
    if not lowered or _GREETING.match(lowered):
        return _greeting(lowered, sampler, length, count)
    if match := _LIST.match(lowered):
        things = noun_phrase(text[match.start("things") :])
        return _list(match.group("count"), things, sampler, length, count)
    if match := _POEM.search(lowered):
        topic = noun_phrase(text[match.start("topic") :]) if match.group("topic") else ""
        return _poem(match.group("form"), topic or "this moment", prompt, sampler, length, count)
    if match := _STORY.search(lowered):
        topic = noun_phrase(text[match.start("topic") :]) if match.group("topic") else ""
        fill = _Fill(topic or "a small village", prompt, sampler)
        return _story(fill, prose, count)
    if match := _EXPLAIN.match(lowered):
        fill = _Fill(noun_phrase(text[match.start("topic") :]) or "this", prompt, sampler)
        return _prose(fill, phrases.EXPLAIN_OPENINGS, phrases.BODY, phrases.CLOSINGS, prose, count)
    if match := _QUESTION.match(lowered):
        topic = noun_phrase(text[match.start("topic") :], question=True) or "this"
        fill = _Fill(topic, prompt, sampler)
        return _prose(fill, phrases.QUESTION_OPENINGS, phrases.BODY, phrases.CLOSINGS, prose, count)
    topic = noun_phrase(_topic_words(text)) or "this"
    if topic[:1].isupper() and not topic.split()[0].isupper():
        topic = topic[0].lower() + topic[1:]  # capitalised only as the prompt's first word
    fill = _Fill(topic, prompt, sampler)
    return _prose(fill, phrases.TOPIC_OPENINGS, phrases.BODY, phrases.CLOSINGS, prose, count)


def _topic_words(text: str) -> str:
    """For a prompt of no known shape: from its first content word on ("Ocean waves at night")."""
    words = text.split()
    skip = {"please", "write", "make", "give", "show", "me", "us", "create", "generate"}
    while words and words[0].lower() in skip:
        words = words[1:]
    return " ".join(words)


def _grow(
    parts: list[str],
    more: Callable[[], str],
    closing: str,
    length: int,
    count: Callable[[str], int],
    joiner: str = " ",
) -> str:
    """Join `parts`, adding paragraphs of `more()` until the reply with `closing` is long enough."""
    paragraph: list[str] = []
    while count("\n\n".join([*parts, joiner.join(paragraph), closing])) < length:
        paragraph.append(more())
        if len(paragraph) == 3:
            parts.append(joiner.join(paragraph))
            paragraph = []
    if paragraph:
        parts.append(joiner.join(paragraph))
    return "\n\n".join([*parts, closing])


def _greeting(lowered: str, sampler: Sampler, length: int, count: Callable[[str], int]) -> str:
    fill = _Fill("hello", lowered, sampler)
    lines = [fill.choose(phrases.GREETINGS)]
    if "how are you" in lowered:
        lines.append(phrases.HOW_ARE_YOU)
    lines.append(fill.choose(phrases.GREETING_BODY))
    closing = fill.choose(phrases.GREETING_CLOSINGS)
    return _grow([" ".join(lines)], lambda: fill.choose(phrases.BODY), closing, length, count)


def _list(
    number: str, things: str, sampler: Sampler, length: int, count: Callable[[str], int]
) -> str:
    n = int(number) if number.isdigit() else _NUMBERS[number]
    n = max(1, min(n, 10))
    fill = _Fill(things, things, sampler)
    known = _known(things) or ()
    one = _singular(things)
    items = list(known[:n])
    pool = [t for t in phrases.UNKNOWN_ITEMS if "{adj}" not in t] + ["a {adj} {one}"]
    while len(items) < n:
        items.append(fill(pool[len(items) % len(pool)], one=one))
    shown = number if not number.isdigit() else str(n)
    opening = fill.choose(phrases.LIST_OPENINGS, count=shown, things=things)
    lines = "\n".join(f"{i}. {_capital(item)}" for i, item in enumerate(items, 1))
    closing = fill.choose(phrases.LIST_CLOSINGS)
    return _grow(
        [opening, lines],
        lambda: fill.choose(phrases.LIST_MORE, things=things),
        closing,
        length,
        count,
    )


def _poem(
    form: str, topic: str, prompt: str, sampler: Sampler, length: int, count: Callable[[str], int]
) -> str:
    fill = _Fill(topic, prompt, sampler)
    opening = fill(phrases.POEM_OPENING, form=form)
    if form == "haiku":
        stanzas = ["\n".join(fill.choose(line) for line in phrases.HAIKU)]
    else:
        stanzas = ["\n".join(fill.choose(phrases.VERSES) for _ in range(4)) for _ in range(2)]
    closing = fill.choose(phrases.POEM_CLOSINGS)
    more = lambda: fill.choose(phrases.VERSES)  # noqa: E731
    return _grow([opening, *stanzas], more, closing, length, count, joiner="\n")


def _story(fill: _Fill, length: int, count: Callable[[str], int]) -> str:
    """A beginning, a middle drawn from the story lines, an ending."""
    first, *middle, last = phrases.STORY_LINES
    parts = [fill(phrases.STORY_OPENING), fill(first)]
    closing = fill.choose(phrases.STORY_CLOSINGS)
    return _grow(parts, lambda: fill.choose(middle), f"{fill(last)} {closing}", length, count)


def _prose(
    fill: _Fill,
    openings: Sequence[str],
    body: Sequence[str],
    closings: Sequence[str],
    length: int,
    count: Callable[[str], int],
) -> str:
    opening = fill.choose(openings)
    closing = fill.choose(closings)
    return _grow([opening], lambda: fill.choose(body), closing, length, count)
