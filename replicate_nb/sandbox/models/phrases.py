"""The language-model stand-in's words: template banks by request, theme words, a few facts.

Templates use `str.format` fields filled by `replies`: `{topic}` (with its article), `{bare}`
(without), `{adj}`, `{noun}`, `{noun2}` and `{verb}` from the topic's theme, `{is}`, `{was}`,
`{it}` and `{them}` agreeing with the topic; a capitalised field (`{Topic}`) is capitalised.
"""

from __future__ import annotations

KNOWN: dict[str, tuple[str, ...]] = {
    "rivers": (
        "the Nile",
        "the Amazon",
        "the Yangtze",
        "the Mississippi",
        "the Danube",
        "the Ganges",
        "the Mekong",
        "the Rhine",
        "the Volga",
        "the Thames",
    ),
    "planets": ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"),
    "colours": ("red", "blue", "green", "yellow", "purple", "orange", "teal", "indigo"),
    "fruits": ("apples", "bananas", "mangoes", "oranges", "cherries", "pears", "figs", "plums"),
    "countries": ("Japan", "Brazil", "Kenya", "Canada", "Norway", "India", "Mexico", "Peru"),
    "oceans": (
        "the Pacific Ocean",
        "the Atlantic Ocean",
        "the Indian Ocean",
        "the Southern Ocean",
        "the Arctic Ocean",
    ),
    "animals": (
        "the elephant",
        "the octopus",
        "the red fox",
        "the snow leopard",
        "the hummingbird",
        "the otter",
        "the giraffe",
        "the wolf",
    ),
    "mountains": (
        "Mount Everest",
        "K2",
        "Kilimanjaro",
        "Denali",
        "the Matterhorn",
        "Mont Blanc",
        "Aconcagua",
        "Mount Fuji",
    ),
    "programming languages": ("Python", "JavaScript", "Rust", "Go", "Java", "C", "Haskell"),
    "languages": ("Spanish", "Mandarin", "Arabic", "Hindi", "French", "Swahili", "Portuguese"),
    "cities": ("Tokyo", "Lagos", "Paris", "Lima", "Istanbul", "Sydney", "Toronto", "Cairo"),
    "vegetables": ("carrots", "spinach", "broccoli", "peppers", "onions", "beans", "leeks"),
    "birds": (
        "the robin",
        "the kingfisher",
        "the albatross",
        "the puffin",
        "the barn owl",
        "the sparrow",
        "the heron",
    ),
    "trees": (
        "the oak",
        "the birch",
        "the baobab",
        "the maple",
        "the redwood",
        "the olive",
        "the willow",
    ),
    "flowers": ("roses", "tulips", "sunflowers", "daisies", "lilies", "orchids", "poppies"),
    "instruments": (
        "the piano",
        "the violin",
        "the guitar",
        "the flute",
        "the drums",
        "the cello",
        "the trumpet",
    ),
    "sports": ("football", "tennis", "basketball", "cricket", "swimming", "cycling", "rowing"),
    "rivers in europe": (
        "the Danube",
        "the Rhine",
        "the Volga",
        "the Thames",
        "the Seine",
        "the Elbe",
        "the Loire",
    ),
    "countries in europe": ("France", "Poland", "Portugal", "Norway", "Greece", "Ireland"),
    "cities in europe": ("Paris", "Lisbon", "Vienna", "Prague", "Berlin", "Madrid"),
}
ALIASES = {"colors": "colours", "musical instruments": "instruments", "fruit": "fruits"}

THEMES: tuple[tuple[frozenset[str], tuple[str, ...], tuple[str, ...]], ...] = (
    (
        frozenset(
            "ocean sea tree trees forest mountain mountains river rivers rain sun moon flower "
            "flowers bird birds garden sky snow wind nature cat cats dog dogs autumn spring "
            "winter summer llama llamas volcano volcanoes leaves storm lake".split()
        ),
        ("quiet", "gentle", "vast", "ancient", "restless", "bright", "patient", "wild"),
        ("light", "water", "stillness", "life", "rhythm", "colour", "change", "silence"),
    ),
    (
        frozenset(
            "computer computers code python software data ai model models network networks "
            "program programming algorithm algorithms internet robot robots quantum machine "
            "learning api recursion neural computing database".split()
        ),
        ("reliable", "efficient", "simple", "powerful", "flexible", "careful", "clear"),
        ("data", "design", "structure", "performance", "logic", "testing", "feedback"),
    ),
)
GENERAL = (
    ("helpful", "important", "interesting", "practical", "simple", "surprising", "rich"),
    ("history", "context", "practice", "curiosity", "detail", "culture", "experience"),
)
VERBS = (
    ("shapes", "shape"),
    ("connects", "connect"),
    ("reflects", "reflect"),
    ("changes", "change"),
    ("supports", "support"),
    ("reveals", "reveal"),
    ("depends on", "depend on"),
)
PREPOSITIONS = frozenset("for of to in on at that which about from with by".split())
SINGULAR_S = frozenset(
    "news physics mathematics economics politics ethics gas bus glass grass chess class "
    "this is was its analysis basis crisis thesis".split()
)

GREETINGS = ("Hi there!", "Hello!", "Hi!")
GREETING_BODY = (
    "I'm the sandbox stand-in for Llama 3, so my replies come from templates, not a trained "
    "model, but hello all the same.",
    "This is the sandbox stand-in for Llama 3 saying hello: no model weights, just templates.",
)
HOW_ARE_YOU = "I'm doing well, thank you for asking."
GREETING_CLOSINGS = ("How can I help you today?", "What would you like to talk about?")

LIST_OPENINGS = ("Here are {count} {things}:", "Sure! Here are {count} {things}:")
UNKNOWN_ITEMS = (
    "a classic {one}",
    "a simple {one}",
    "a surprising {one}",
    "a modern {one}",
    "a lesser-known {one}",
    "a {adj} {one}",
    "an everyday {one}",
    "a favourite {one}",
)
LIST_MORE = (
    "Each of these {things} is {adj} in its own way.",
    "Any of these {things} would be a good place to start.",
    "People often mention these {things} first.",
)
LIST_CLOSINGS = (
    "This list comes from the sandbox stand-in, so check a real model for the details.",
    "A real model would know more; this list is the sandbox stand-in's best effort.",
)

POEM_OPENING = "Here is a {form} about {topic}:"
HAIKU = (
    ("{Adj} {bare} at dawn", "{Bare} in the {noun}", "Over {adj} {noun}"),
    (
        "{noun} drifting through {adj} air",
        "a {adj} wind moves through the {noun}",
        "{bare} and {noun} meet again",
    ),
    ("silence holds the {noun}", "the {noun} remembers", "and the {noun} is still"),
)
VERSES = (
    "{Adj} {bare} at dawn",
    "{noun} drifting through {adj} air",
    "silence holds the {noun}",
    "a {adj} hush of {noun}",
    "{bare} waits for {noun}",
    "soft {noun}, {adj} and slow",
    "the {noun} turns to {noun2}",
)
POEM_CLOSINGS = ("I hope you enjoy it!", "I hope this captures {topic}.")

STORY_OPENING = "Here is a short story about {topic}:"
STORY_LINES = (
    "Once upon a time, {topic} {was} {adj} and full of {noun}.",
    "Every morning, {topic} {verb} the {noun} a little more.",
    "One day, something {adj} happened to the {noun}.",
    "Nobody had expected {topic} to matter so much to the {noun2}.",
    "Slowly, the {noun} and the {noun2} learned to trust each other.",
    "In the end, {topic} and the {noun} found a {adj} way forward.",
)
STORY_CLOSINGS = ("The end.", "And that is the story of {topic}.")

EXPLAIN_OPENINGS = (
    "Sure! Here is a simple explanation of {topic}.",
    "Here is what I know about {topic}.",
    "Great question! Let's look at {topic}.",
)
QUESTION_OPENINGS = (
    "Good question about {topic}.",
    "That is a good question about {topic}.",
)
BODY = (
    "{Topic} {is} a {adj} subject because {it} {verb} {noun}.",
    "At heart, {topic} {is} about {noun} and {noun2}.",
    "Many people find that {topic} {verb} {noun} in {adj} ways.",
    "One {adj} way to think about {topic} is through {noun}.",
    "When you look closely, {topic} {verb} the {adj} {noun} around {them}.",
    "It also helps to remember that {noun} and {noun2} are closely linked.",
    "In practice, {topic} often {verb} {adj} {noun}.",
    "A good starting point is to ask how {topic} {verb} {noun2}.",
)
TOPIC_OPENINGS = (
    "Here is what I can say about {topic}.",
    "Sure! Let's talk about {topic}.",
)
CLOSINGS = (
    "I'm the sandbox stand-in, so a real model would go deeper.",
    "That is the sandbox stand-in's take; ask a real model for the details.",
    "I hope this helps, as far as a sandbox stand-in can.",
)
