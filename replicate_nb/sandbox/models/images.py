"""Stand-ins for `stability-ai/sdxl` and `black-forest-labs/flux-schnell`: synthetic pictures.

Each image is a gradient with a few shapes whose colours and places are drawn from the prompt,
the seed and the image's index, captioned with the prompt and marked "sandbox" in a corner.
Images are encoded with fixed settings, so the same inputs give byte-identical `data:` URIs.
"""

from __future__ import annotations

import io
import math
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from replicate_nb.sandbox.control import rng_for
from replicate_nb.sandbox.models import STANDIN_NOTICE, data_uri, progress_line, schema_version_id
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SDXL_SCHEMA = load_schema("stability-ai__sdxl__7762fd07.json")
FLUX_SCHEMA = load_schema("black-forest-labs__flux-schnell.derived.json")
STEP_DELAY = 0.003
"""Seconds per denoising step: small, but progress is visible."""
MAX_SIDE = 2048
"""The largest width or height the stand-ins draw."""
MIN_SIDE = 8

MIME = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
_COLOURS = {
    "red": (200, 40, 40),
    "orange": (240, 140, 30),
    "yellow": (240, 210, 50),
    "green": (50, 160, 70),
    "blue": (40, 90, 210),
    "purple": (130, 60, 170),
    "pink": (240, 130, 180),
    "white": (240, 240, 240),
    "black": (20, 20, 20),
    "sunset": (250, 120, 60),
    "ocean": (20, 110, 160),
    "forest": (30, 100, 50),
}
# cog-flux's sizes for 1 megapixel; "0.25" halves both sides.
_FLUX_SIZES = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "21:9": (1536, 640),
    "3:2": (1216, 832),
    "2:3": (832, 1216),
    "4:5": (896, 1088),
    "5:4": (1088, 896),
    "3:4": (896, 1152),
    "4:3": (1152, 896),
    "9:16": (768, 1344),
    "9:21": (640, 1536),
}


def flux_size(aspect_ratio: str, megapixels: str) -> tuple[int, int]:
    """Width and height for flux-schnell's `aspect_ratio` and `megapixels` inputs."""
    if aspect_ratio not in _FLUX_SIZES:
        raise ValueError(f"unknown aspect_ratio {aspect_ratio!r}; use one of {list(_FLUX_SIZES)}")
    width, height = _FLUX_SIZES[aspect_ratio]
    factor = math.sqrt(float(megapixels))
    return max(16, round(width * factor / 16) * 16), max(16, round(height * factor / 16) * 16)


def render(
    width: int,
    height: int,
    prompt: str,
    parts: tuple[Any, ...],
    *,
    palette: list[tuple[int, int, int]] | None = None,
    shape: str | None = None,
) -> Image.Image:
    """Draw the synthetic picture for `prompt`; `parts` (seed, index, ...) seed the drawing.

    A trained style (see trainer.py) gives the colours (`palette`: the background, then the
    shapes' colours) and the kind of every shape (`shape`: ellipse, rectangle or polygon).
    """
    rng = rng_for("image", prompt, *parts)
    named = palette[1:] if palette else [rgb for w, rgb in _COLOURS.items() if w in prompt.lower()]
    top = (
        palette[0]
        if palette
        else named[0]
        if named
        else tuple(rng.randrange(256) for _ in range(3))
    )
    bottom = palette[0] if palette else tuple(rng.randrange(256) for _ in range(3))
    gradient = Image.linear_gradient("L")
    turn = rng.choice([None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_270])
    gradient = (gradient.transpose(turn) if turn else gradient).resize((width, height))
    image = Image.composite(
        Image.new("RGB", (width, height), bottom), Image.new("RGB", (width, height), top), gradient
    )
    draw = ImageDraw.Draw(image)
    side = min(width, height)
    for _ in range(rng.randint(5, 10)):
        colour = (
            named[rng.randrange(len(named))]
            if named and (palette or rng.random() < 0.3)
            else tuple(rng.randrange(256) for _ in range(3))
        )
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(0.04, 0.25) * side, rng.uniform(0.04, 0.25) * side
        kind = rng.choice(("ellipse", "rectangle", "polygon"))
        kind = shape or kind
        if kind == "ellipse":
            draw.ellipse((cx - rx, cy - rx, cx + rx, cy + rx), fill=colour)
        elif kind == "rectangle":
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=colour)
        else:
            angles = sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(3, 6)))
            draw.polygon(
                [(cx + rx * math.cos(a), cy + rx * math.sin(a)) for a in angles], fill=colour
            )
    return image


def annotate(image: Image.Image, caption: str) -> Image.Image:
    """Mark an image "sandbox" (top right) and write `caption` small along its bottom."""
    width, height = image.size
    size = max(8, min(width, height) // 40)
    pad = max(1, size // 4)
    font = ImageFont.load_default(size=size)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), "sandbox", font=font)
    x0 = max(0, width - (right - left) - 3 * pad)
    draw.rectangle((x0, 0, width, bottom - top + 2 * pad), fill=(0, 0, 0))
    draw.text((x0 + pad - left, pad - top), "sandbox", fill=(255, 255, 255), font=font)
    text = " ".join(caption.split())[: 2 * width // size + 1]
    while text and draw.textlength(text, font=font) > width - 2 * pad:
        text = text[:-2] + "…"
    if text:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        y0 = height - (bottom - top) - 2 * pad
        draw.rectangle((0, y0, min(width, right - left + 2 * pad), height), fill=(0, 0, 0))
        draw.text((pad - left, y0 + pad - top), text, fill=(255, 255, 255), font=font)
    return image


def encode(image: Image.Image, fmt: str, quality: int = 80) -> str:
    """Encode an image as a `data:` URI in `fmt` (png, jpg or webp), with fixed settings."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, "PNG")
    elif fmt == "jpg":
        image.save(buffer, "JPEG", quality=quality, optimize=True)
    elif fmt == "webp":
        image.save(buffer, "WEBP", quality=quality, method=4)
    else:
        raise ValueError(f"unknown output_format {fmt!r}; use webp, jpg or png")
    return data_uri(buffer.getvalue(), MIME[fmt])


def _open(data: bytes, what: str, load: bool = True) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        if load:
            image.load()
    except Exception as exc:
        raise ValueError(f"could not read the {what}: {exc}") from exc
    return image


def _fit(data: bytes, what: str, mode: str, size: tuple[int, int]) -> Image.Image:
    return _open(data, what).convert(mode).resize(size, Image.Resampling.LANCZOS)


def _check_size(width: int, height: int) -> None:
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise ValueError(
            f"the sandbox stand-in draws images from {MIN_SIDE} to {MAX_SIDE} px "
            f"on a side; got {width}x{height}: use a smaller width/height "
            f"or input image"
        )


async def log_progress(ctx: PredictContext, steps: int, rate: float) -> None:
    """Log a tqdm progress line per step, pausing briefly between steps."""
    for step in range(steps + 1):
        ctx.log(progress_line(step, steps, rate))
        if step < steps:
            await ctx.sleep(STEP_DELAY)


def _sdxl_image(
    size: tuple[int, int],
    prompt: str,
    parts: tuple[Any, ...],
    init: bytes | None,
    mask: bytes | None,
    strength: float,
) -> str:
    image = render(*size, prompt, parts)
    if init is not None:
        base = _fit(init, "image", "RGB", size)
        blended = Image.blend(base, image, strength)
        image = Image.composite(blended, base, _fit(mask, "mask", "L", size)) if mask else blended
    return encode(annotate(image, prompt), "png")


async def predict_sdxl(ctx: PredictContext, inputs: dict[str, Any]) -> list[str]:
    """Draw `num_outputs` PNG images of `width` x `height` (img2img/inpaint when given `image`)."""
    ctx.log(STANDIN_NOTICE)
    seed = ctx.seed(inputs.get("seed"))
    prompt = inputs.get("prompt", "")
    size = (int(inputs.get("width", 1024)), int(inputs.get("height", 1024)))
    init = mask = None
    if inputs.get("image"):
        init = await ctx.read_file(inputs["image"])
        size = _open(init, "image", load=False).size  # header only: cheap on the loop
        if inputs.get("mask"):
            mask = await ctx.read_file(inputs["mask"])
            ctx.log("inpainting mode")
        else:
            ctx.log("img2img mode")
    else:
        if inputs.get("mask"):
            ctx.log("mask ignored: inpainting needs an image as well")
        ctx.log("txt2img mode")
    _check_size(*size)
    count, steps = int(inputs.get("num_outputs", 1)), int(inputs.get("num_inference_steps", 50))
    ctx.log(f"Prompt: {prompt}")
    await log_progress(ctx, steps, round(7.6 * 1024 * 1024 / (size[0] * size[1] * count), 2))
    extra = (
        inputs.get("negative_prompt", ""),
        inputs.get("scheduler"),
        inputs.get("guidance_scale"),
        inputs.get("prompt_strength"),
    )
    strength = float(inputs.get("prompt_strength", 0.8))
    outputs = []
    for index in range(count):
        parts = (seed, index, *extra)
        outputs.append(
            await ctx.run_in_thread(_sdxl_image, size, prompt, parts, init, mask, strength)
        )
    ctx.metrics["image_count"] = count
    return outputs


def _flux_image(
    size: tuple[int, int], prompt: str, parts: tuple[Any, ...], fmt: str, quality: int
) -> str:
    return encode(annotate(render(*size, prompt, parts), prompt), fmt, quality)


async def predict_flux(ctx: PredictContext, inputs: dict[str, Any]) -> list[str]:
    """Draw `num_outputs` images sized by `aspect_ratio`/`megapixels` in `output_format`."""
    ctx.log(STANDIN_NOTICE)
    seed = ctx.seed(inputs.get("seed"))
    prompt = inputs.get("prompt", "")
    size = flux_size(inputs.get("aspect_ratio", "1:1"), inputs.get("megapixels", "1"))
    count, steps = int(inputs.get("num_outputs", 1)), int(inputs.get("num_inference_steps", 4))
    fmt, quality = inputs.get("output_format", "webp"), int(inputs.get("output_quality", 80))
    if fmt not in MIME:
        raise ValueError(f"unknown output_format {fmt!r}; use webp, jpg or png")
    await log_progress(ctx, steps, round(9.8 * 1024 * 1024 / (size[0] * size[1] * count), 2))
    outputs = []
    for index in range(count):
        outputs.append(
            await ctx.run_in_thread(_flux_image, size, prompt, (seed, index), fmt, quality)
        )
    ctx.log(f"Total safe images: {count} out of {count}")
    ctx.metrics["image_count"] = count
    return outputs


SDXL = ModelSpec(
    owner="stability-ai",
    name="sdxl",
    version_id="7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc",
    openapi_schema=SDXL_SCHEMA,
    predict=predict_sdxl,
    description=(
        "Sandbox stand-in for stability-ai/sdxl: draws synthetic PNG pictures (gradients and "
        'shapes from the prompt and seed, marked "sandbox") with the real version\'s input '
        "schema. Not a diffusion model."
    ),
)

FLUX_SCHNELL = ModelSpec(
    owner="black-forest-labs",
    name="flux-schnell",
    # No real version id is known for this schema (rebuilt from cog-flux's predict.py):
    # the id is the sha256 of the schema's canonical JSON.
    version_id=schema_version_id(FLUX_SCHEMA),
    openapi_schema=FLUX_SCHEMA,
    predict=predict_flux,
    description=(
        "Sandbox stand-in for black-forest-labs/flux-schnell: draws synthetic pictures "
        '(gradients and shapes from the prompt and seed, marked "sandbox") in webp, jpg or '
        "png, with the model's input schema. Not a diffusion model."
    ),
    official=True,
)
