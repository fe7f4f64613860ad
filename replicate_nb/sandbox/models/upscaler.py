"""Stand-in for `nightmareai/real-esrgan`: really resizes its input image (Lanczos), as PNG.

There is no super-resolution network: the image is resized by `scale` with Pillow and, when big
enough to carry it, marked "sandbox" in a corner. `face_enhance` is accepted and only logged.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from replicate_nb import _datauri
from replicate_nb.sandbox.models import STANDIN_NOTICE
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SCHEMA = load_schema("nightmareai__real-esrgan__42fed1c4.json")
MAX_SIDE = 4096
"""The largest output width or height, in pixels."""
_MARK_MIN = (96, 32)  # smaller outputs are left unmarked: a mark would cover them


def _read(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as exc:
        raise ValueError(f"could not read the image: {exc}; give a PNG, JPEG or WebP file") from exc
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def output_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The upscaled size of a `width` x `height` image, or a clear error if out of range."""
    if scale <= 0:
        raise ValueError(f"scale must be greater than 0, got {scale}; use e.g. 2 or 4")
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if max(size) > MAX_SIDE:
        largest = MAX_SIDE / max(width, height)
        raise ValueError(
            f"the output would be {size[0]}x{size[1]} px, over the maximum of {MAX_SIDE} px on "
            f"a side; use a smaller scale (at most {int(largest * 100) / 100:g} for this "
            f"{width}x{height} image) or a smaller image"
        )
    return size


def upscale(data: bytes, scale: float) -> tuple[str, tuple[int, int], tuple[int, int]]:
    """Resize the image in `data` by `scale`; returns the PNG data URI and both sizes."""
    image = _read(data)
    size = output_size(image.width, image.height, scale)
    result = image.resize(size, Image.Resampling.LANCZOS)
    if size[0] >= _MARK_MIN[0] and size[1] >= _MARK_MIN[1]:
        font = ImageFont.load_default(size=max(8, min(size) // 40))
        draw = ImageDraw.Draw(result)
        left, top, right, bottom = draw.textbbox((0, 0), "sandbox", font=font)
        x0 = size[0] - (right - left) - 4
        draw.rectangle((x0, 0, size[0], bottom - top + 4), fill=(0, 0, 0))
        draw.text((x0 + 2 - left, 2 - top), "sandbox", fill=(255, 255, 255), font=font)
    buffer = io.BytesIO()
    result.save(buffer, "PNG")
    return _datauri.encode(buffer.getvalue(), "image/png"), image.size, size


async def predict(ctx: PredictContext, inputs: dict[str, Any]) -> str:
    """Upscale `image` by `scale` and return it as a PNG `data:` URI."""
    ctx.log(STANDIN_NOTICE)
    scale = float(inputs.get("scale", 4))
    if scale <= 0:
        output_size(1, 1, scale)  # raises the error about scale
    data = await ctx.read_file(inputs["image"])
    if inputs.get("face_enhance"):
        ctx.log("face_enhance: GFPGAN is not part of the sandbox stand-in; upscaling only")
    uri, before, after = await ctx.run_in_thread(upscale, data, scale)
    ctx.log(f"Upscaled {before[0]}x{before[1]} -> {after[0]}x{after[1]} (scale {scale:g})")
    return uri


REAL_ESRGAN = ModelSpec(
    owner="nightmareai",
    name="real-esrgan",
    version_id="42fed1c4974146d4d2414e2be2c5277c7fcf05fcc3a73abf41610695738c1d7b",
    openapi_schema=SCHEMA,
    predict=predict,
    description=(
        "Sandbox stand-in for nightmareai/real-esrgan: resizes the input image by `scale` with "
        "a Lanczos filter (no super-resolution network), with the real model's input schema."
    ),
    cog_version="0.8.6",
)
