"""The sandbox's built-in stand-in models and the small helpers they share.

Each stand-in mirrors a real Replicate model's input schema (copied as data in `schemas/`) but
produces synthetic, deterministic output: same inputs and seed give byte-identical output in
every process. Every stand-in says so: its description starts with "Sandbox stand-in for ...",
its first log line is `STANDIN_NOTICE`, and its images carry a small "sandbox" mark.

Models:
    replicate/hello-world, meta/meta-llama-3-8b-instruct, stability-ai/sdxl,
    black-forest-labs/flux-schnell, nightmareai/real-esrgan,
    andreasjansson/llama-2-13b-embeddings, sandbox/sleep, sandbox/fail and
    ostris/flux-dev-lora-trainer (which trains: see trainer.py and sandbox/trainings.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from tqdm import tqdm

from replicate_nb.sandbox.models.base import ModelSpec

STANDIN_NOTICE = "replicate-nb sandbox stand-in: outputs are synthetic"
"""The first log line of every stand-in prediction."""


def schema_version_id(schema: dict[str, Any]) -> str:
    """A 64-hex version id for a schema with no real version id: sha256 of its canonical JSON."""
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode("utf-8")).hexdigest()


def data_uri(data: bytes, mime: str) -> str:
    """Encode bytes as a base64 `data:` URI of the given MIME type."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def progress_line(current: int, total: int, rate: float) -> str:
    """A tqdm progress line at a nominal `rate` (it/s), e.g. ` 40%|████      | 20/50 [...]`.

    Timings are derived from `rate`, not the wall clock, so logs are deterministic; the line is
    what tqdm itself prints, which the official clients parse into `prediction.progress`.
    """
    elapsed = current / rate if rate > 0 else 0.0
    return tqdm.format_meter(current, total, elapsed, rate=rate if current else None)


def builtin_models() -> list[ModelSpec]:
    """All built-in stand-in models, in a stable order."""
    from replicate_nb.sandbox.models import (
        embeddings,
        hello,
        images,
        llama,
        teaching,
        trainer,
        upscaler,
    )

    return [
        hello.HELLO_WORLD,
        llama.LLAMA_3_8B_INSTRUCT,
        images.SDXL,
        images.FLUX_SCHNELL,
        upscaler.REAL_ESRGAN,
        embeddings.LLAMA_2_13B_EMBEDDINGS,
        teaching.SLEEP,
        teaching.FAIL,
        trainer.FLUX_DEV_LORA_TRAINER,
    ]
