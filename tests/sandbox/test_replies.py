"""The language-model stand-in answers the prompt's request and topic, and says it is a stand-in."""

from __future__ import annotations

import random
import re

import pytest

from replicate_nb.sandbox.models import replies
from replicate_nb.sandbox.models.llama import tokenize


def reply(prompt: str, *, min_tokens: int = 0, **inputs: float) -> str:
    sampler = replies.Sampler(random.Random(prompt), inputs)
    return replies.compose(prompt, sampler, min_tokens=min_tokens, count=lambda t: len(tokenize(t)))


# (prompt, words the answer must contain, words it must not)
TABLE = [
    ("Say hi", ["Hi", "stand-in"], ["overview", "say"]),
    ("hello", ["stand-in"], ["about hello"]),
    ("Hello, how are you?", ["doing well", "stand-in"], ["about hello"]),
    ("Name three rivers", ["1. The Nile", "2. The Amazon", "3. The Yangtze"], ["name", "4."]),
    ("Name three rivers in Europe", ["The Danube", "The Rhine"], ["Nile"]),
    ("List 5 programming languages", ["1. Python", "5. Java"], ["6."]),
    ("Name two planets", ["1. Mercury", "2. Venus"], ["3."]),
    ("Give me some ideas for a birthday party", ["1. A classic idea for a birthday party"], []),
    ("Write a haiku about llamas", ["haiku about llamas:", "llamas"], ["write", "overview"]),
    ("A haiku about rain", ["haiku about rain:"], []),
    ("Write a poem about autumn", ["poem about autumn:"], []),
    ("Write a short story about the ocean", ["Once upon a time, the ocean"], ["short story is"]),
    ("Explain quantum computing in simple terms", ["quantum computing"], ["simple terms"]),
    ("Tell me about the sea", ["the sea"], ["tell", "me about"]),
    ("What is a neural network?", ["A neural network is"], ["what"]),
    ("Why is the sky blue?", ["question about the sky.", "The sky"], ["sky blue"]),
    ("How does a neural network learn?", ["a neural network"], ["network learn"]),
    ("Tell me about volcanoes", ["Volcanoes are"], ["Volcanoes is"]),
]


@pytest.mark.parametrize(("prompt", "present", "absent"), TABLE, ids=[t[0] for t in TABLE])
def test_the_reply_answers_the_request_and_its_topic(prompt, present, absent):
    text = reply(prompt)
    for words in present:
        assert words in text, text
    for words in absent:
        assert words.lower() not in text.lower(), text
    assert text == reply(prompt)  # deterministic


@pytest.mark.parametrize("prompt", [t[0] for t in TABLE] + ["x", "", "Ocean waves at night"])
def test_every_reply_is_honest_and_well_formed(prompt):
    text = reply(prompt)
    assert text[0].isupper() and text.rstrip()[-1] in ".!?"
    assert "  " not in text and not re.search(r"\b(a|an) (a|an|the)\b", text)
    assert re.search(r"\ba [aeiou]", text) is None, text  # "an idea", never "a idea"
    first = text.split("\n\n")[0]
    assert "{" not in text and "}" not in text
    if "haiku" not in prompt and "poem" not in prompt and "story" not in prompt:
        assert "stand-in" in text, text  # says what it is
    assert first.strip()


def test_a_haiku_has_three_lines():
    text = reply("Write a haiku about llamas")
    _, poem, _ = text.split("\n\n")
    assert len(poem.splitlines()) == 3


def test_min_tokens_grows_the_reply_by_whole_sentences():
    for prompt in ("Name three rivers", "Write a haiku about rain", "Say hi", "Explain recursion"):
        text = reply(prompt, min_tokens=150)
        assert len(tokenize(text)) >= 150 and text.rstrip()[-1] in ".!?", prompt


def test_sampling_inputs_change_the_wording_not_the_facts():
    hot, cold = (
        reply("Name three rivers", temperature=1.5, top_p=1.0),
        reply("Name three rivers", temperature=0.0),
    )
    for text in (hot, cold):
        assert "1. The Nile" in text
    assert reply("Tell me about volcanoes", temperature=1.5, top_p=1.0) != reply(
        "Tell me about volcanoes", temperature=0.0
    )


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("llamas", "llamas"),
        ("the sea, please", "the sea"),
        ("Quantum computing in simple terms", "Quantum computing"),
        ("recursion for a child", "recursion"),
        ("the sky blue", "the sky"),
    ],
)
def test_noun_phrase(text, phrase):
    assert replies.noun_phrase(text, question=text == "the sky blue") == phrase
