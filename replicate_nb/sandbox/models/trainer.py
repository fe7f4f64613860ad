"""Stand-in for `ostris/flux-dev-lora-trainer`: "trains" on a zip of images, deterministically.

Training reads the images and learns two things anyone can see: their palette (the background
colour and the dominant colours, by median cut) and their dominant shape (each image's
foreground fills its bounding box like an ellipse, a rectangle or a polygon). The weights are
those facts as JSON; a version trained from them draws, when the prompt has the trigger word,
pictures in that palette made of that shape. Nothing here is a neural network.
"""

from __future__ import annotations

import collections
import io
import math
import zipfile
from typing import Any

from PIL import Image

from replicate_nb.sandbox.models import STANDIN_NOTICE, progress_line, schema_version_id
from replicate_nb.sandbox.models.base import (
    ModelSpec,
    Predict,
    PredictContext,
    Trainer,
    load_schema,
)
from replicate_nb.sandbox.models.images import (
    MIME,
    annotate,
    encode,
    flux_size,
    log_progress,
    render,
)

SCHEMA = load_schema("ostris__flux-dev-lora-trainer.derived.json")
WEIGHTS_FORMAT = "replicate-nb-sandbox-lora/1"
MAX_IMAGES = 200
MAX_PIXELS = 4096 * 4096
TRAIN_DELAY = 0.02
"""Seconds per tenth of the training: it takes a moment, so it can be followed."""
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
_THUMB = 64


def _hex(rgb: tuple[int, ...]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb[:3])


def _rgb(text: str) -> tuple[int, int, int]:
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def _images(archive: bytes) -> tuple[list[Image.Image], int]:
    """The training images of a zip (thumbnails), and how many caption files it had."""
    try:
        zipped = zipfile.ZipFile(io.BytesIO(archive))
    except zipfile.BadZipFile as exc:
        raise ValueError("input_images must be a zip file") from exc
    images: list[Image.Image] = []
    captions = 0
    for info in zipped.infolist():
        name = info.filename
        if name.startswith("__MACOSX/") or name.rsplit("/", 1)[-1].startswith("._"):
            continue
        if name.lower().endswith(".txt"):
            captions += 1
        if not name.lower().endswith(_IMAGE_SUFFIXES) or len(images) >= MAX_IMAGES:
            continue
        try:
            opened = Image.open(io.BytesIO(zipped.read(info)))
            if opened.width * opened.height > MAX_PIXELS:
                raise ValueError(f"{opened.width}x{opened.height} is too large")
            image = opened.convert("RGB")
        except Exception as exc:
            raise ValueError(f"could not read {name!r} from the zip: {exc}") from exc
        image.thumbnail((_THUMB, _THUMB))
        images.append(image)
    if not images:
        raise ValueError(f"the zip has no images ({', '.join(_IMAGE_SUFFIXES)})")
    return images, captions


def _shapes(image: Image.Image) -> tuple[list[str], tuple[int, int, int]]:
    """The kinds of an image's shapes and its background colour (the median border colour).

    Each blob of foreground (4-connected pixels far from the background) is an ellipse, a
    rectangle or a polygon by how much of its bounding box it fills (pi/4 for a disc, 1 for a
    box, 1/2 for a triangle).
    """
    width, height = image.size
    pixels = image.tobytes()  # RGB, row by row

    def at(x: int, y: int) -> tuple[int, int, int]:
        i = 3 * (y * width + x)
        return pixels[i], pixels[i + 1], pixels[i + 2]

    border = [at(x, y) for x in range(width) for y in (0, height - 1)]
    border += [at(x, y) for y in range(height) for x in (0, width - 1)]
    r, g, b = (sorted(c[i] for c in border)[len(border) // 2] for i in range(3))
    background = (r, g, b)
    todo = {
        (x, y) for y in range(height) for x in range(width) if math.dist(at(x, y), background) > 60
    }
    kinds = []
    while todo:
        blob, frontier = [], [todo.pop()]
        while frontier:
            x, y = frontier.pop()
            blob.append((x, y))
            for near in ((x + 1, y), (x - 1, y), (x, y + 1), (x, y - 1)):
                if near in todo:
                    todo.remove(near)
                    frontier.append(near)
        if len(blob) < 0.005 * width * height:
            continue  # specks
        xs, ys = [x for x, _ in blob], [y for _, y in blob]
        fill = len(blob) / ((max(xs) - min(xs) + 1) * (max(ys) - min(ys) + 1))
        kinds.append("rectangle" if fill > 0.9 else "ellipse" if fill > 0.62 else "polygon")
    return kinds, background


def learn(images: list[Image.Image], colours: int = 4) -> dict[str, Any]:
    """What the stand-in learns from images: background, palette and dominant shape.

    The palette is the strip of all images quantized by median cut, most frequent first, without
    the background, rare colours (under 2%: the blends along edges) and near-duplicates (closer
    than 48 in RGB). The shape is the kind most of the images' blobs are.
    """
    strip = Image.new("RGB", (_THUMB * len(images), _THUMB))
    for index, image in enumerate(images):
        strip.paste(image.resize((_THUMB, _THUMB)), (index * _THUMB, 0))
    quantized = strip.quantize(colors=4 * colours, method=Image.Quantize.MEDIANCUT)
    flat: list[int] = quantized.getpalette() or []
    found = [_shapes(image) for image in images]
    votes = collections.Counter(kind for kinds, _ in found for kind in kinds)
    background = collections.Counter(_hex(bg) for _, bg in found).most_common(1)[0][0]
    chosen = [_rgb(background)]
    indexes: list[tuple[int, int]] = quantized.getcolors() or []  # type: ignore[assignment]
    for count, i in sorted(indexes, reverse=True):
        rgb = (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2])
        common = count >= 0.02 * strip.width * strip.height  # not an edge's blend
        if common and len(chosen) <= colours and all(math.dist(rgb, c) >= 48 for c in chosen):
            chosen.append(rgb)
    palette = [_hex(c) for c in chosen[1:]] or [background]
    return {
        "format": WEIGHTS_FORMAT,
        "background": background,
        "palette": palette,
        "shape": votes.most_common(1)[0][0] if votes else "ellipse",
        "shape_votes": dict(sorted(votes.items())),
        "images": len(images),
    }


async def train(ctx: PredictContext, inputs: dict[str, Any]) -> dict[str, Any]:
    """`train()`: learn the palette and shape of the zip's images; returns the weights."""
    ctx.log(STANDIN_NOTICE)
    if inputs.get("skip_training_and_use_pretrained_hf_lora_url"):
        raise ValueError("the sandbox cannot download LoRAs; train from input_images instead")
    if not inputs.get("input_images"):
        raise ValueError("input_images must be provided")
    if inputs.get("lora_rank", 16) not in (16, 32, 64, 128):
        raise ValueError("lora_rank must be one of 16, 32, 64, 128")
    images, captions = await ctx.run_in_thread(_images, await ctx.read_file(inputs["input_images"]))
    ctx.log(f"Extracted {len(images)} images and {captions} captions from the zip")
    steps = int(inputs.get("steps", 1000))
    ctx.log("Starting train job")
    for tenth in range(11):
        ctx.log("flux_train_replicate: " + progress_line(steps * tenth // 10, steps, 1.6))
        if tenth < 10:
            await ctx.sleep(TRAIN_DELAY)
    weights = await ctx.run_in_thread(learn, images)
    weights.update(
        trigger_word=inputs.get("trigger_word") or "TOK",
        steps=steps,
        lora_rank=int(inputs.get("lora_rank", 16)),
    )
    ctx.log(f"Learned palette {' '.join(weights['palette'])} on {weights['background']}")
    ctx.log(f"Learned shape: {weights['shape']} (votes {weights['shape_votes']})")
    ctx.metrics["image_count"] = len(images)
    return weights


def _size(inputs: dict[str, Any]) -> tuple[int, int]:
    if inputs.get("aspect_ratio", "1:1") != "custom":
        return flux_size(inputs.get("aspect_ratio", "1:1"), "1")
    if inputs.get("width") is None or inputs.get("height") is None:
        raise ValueError("width and height must be defined if aspect ratio is 'custom'")
    return tuple(max(16, round(int(inputs[k]) / 16) * 16) for k in ("width", "height"))  # type: ignore[return-value]


def _draw(
    size: tuple[int, int], prompt: str, parts: tuple[Any, ...], style: Any, fmt: str, q: int
) -> str:
    palette = [_rgb(c) for c in [style["background"], *style["palette"]]] if style else None
    shape = style["shape"] if style else None
    return encode(
        annotate(render(*size, prompt, parts, palette=palette, shape=shape), prompt), fmt, q
    )


def predictor(weights: dict[str, Any] | None) -> Predict:
    """The `predict` of a FLUX LoRA version: with `weights`, the trigger word draws their style."""

    async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> list[str]:
        ctx.log(STANDIN_NOTICE)
        seed = ctx.seed(inputs.get("seed"))
        prompt = inputs.get("prompt", "")
        ctx.log(f"Prompt: {prompt}")
        size = _size(inputs)
        fmt, quality = inputs.get("output_format", "webp"), int(inputs.get("output_quality", 90))
        if fmt not in MIME:
            raise ValueError(f"unknown output_format {fmt!r}; use webp, jpg or png")
        style = None
        if weights is not None:
            trigger = weights["trigger_word"]
            if trigger in prompt and float(inputs.get("lora_scale", 1.0)) > 0:
                style = weights
                ctx.log(f"Trigger word {trigger} found: drawing the trained style")
            else:
                ctx.log(f"Trigger word {trigger} not in the prompt (or lora_scale <= 0): no style")
        count, steps = int(inputs.get("num_outputs", 1)), int(inputs.get("num_inference_steps", 28))
        await log_progress(ctx, steps, round(4.2 * 1024 * 1024 / (size[0] * size[1] * count), 2))
        outputs = []
        for index in range(count):
            parts = (seed, index, inputs.get("model", "dev"))
            outputs.append(await ctx.run_in_thread(_draw, size, prompt, parts, style, fmt, quality))
        ctx.metrics["image_count"] = count
        return outputs

    return predict


FLUX_DEV_LORA_TRAINER = ModelSpec(
    owner="ostris",
    name="flux-dev-lora-trainer",
    # No real version id is known for this schema (rebuilt from replicate/flux-fine-tuner's
    # train.py and predict.py by scripts/derive_trainer_schema.py): sha256 of the schema.
    version_id=schema_version_id(SCHEMA),
    openapi_schema=SCHEMA,
    predict=predictor(None),
    description=(
        "Sandbox stand-in for ostris/flux-dev-lora-trainer: trains on a zip of images by "
        "learning their palette and dominant shape (no neural network), and creates a version "
        "of your model that draws them when the prompt has the trigger word. Its schema is "
        "derived from the trainer's Cog source."
    ),
    hardware="gpu-h100",
    trainer=Trainer(train=train, predictor=predictor),
)
