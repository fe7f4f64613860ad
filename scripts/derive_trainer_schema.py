# ruff: noqa: B008 - Cog-style signatures put Input(...) in defaults by design (it is immutable)
"""Rebuild the stand-in trainer's schema from the Cog signatures of ostris/flux-dev-lora-trainer.

Source: replicate/flux-fine-tuner (the Cog model behind ostris/flux-dev-lora-trainer), `train()`
in train.py at commit 73950cd and `Predictor.predict()` in predict.py at commit 0b498cc. The
signatures below copy their names, types, defaults, bounds and choices; the descriptions are
shortened. The schema is generated with the sandbox's own Cog-style generator
(`replicate_nb.sandbox.signatures`), so it is *derived*, not what the API returns for a version.

    python scripts/derive_trainer_schema.py   # rewrites ostris__flux-dev-lora-trainer.derived.json
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "replicate_nb/sandbox/models/schemas/ostris__flux-dev-lora-trainer.derived.json"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from replicate_nb.inputs import Input, Secret  # noqa: E402
from replicate_nb.sandbox.signatures import describe  # noqa: E402

ASPECT_RATIOS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]


def predict(
    prompt: str = Input(description="Prompt; include the training's trigger word to use it."),
    image: Path = Input(description="Input image for img2img or inpainting.", default=None),
    mask: Path = Input(description="Mask for inpainting (white areas are redrawn).", default=None),
    aspect_ratio: str = Input(
        description="Aspect ratio (1 megapixel); 'custom' uses width and height.",
        choices=[*ASPECT_RATIOS, "custom"],
        default="1:1",
    ),
    width: int = Input(
        description="Width when aspect_ratio=custom.", ge=256, le=1440, default=None
    ),
    height: int = Input(
        description="Height when aspect_ratio=custom.", ge=256, le=1440, default=None
    ),
    num_outputs: int = Input(description="Number of images to output.", ge=1, le=4, default=1),
    lora_scale: float = Input(
        description="How strongly the trained LoRA is applied.", default=1.0, le=2.0, ge=-1.0
    ),
    num_inference_steps: int = Input(
        description="Number of inference steps.", ge=1, le=50, default=28
    ),
    model: str = Input(
        description="Run with the dev (about 28 steps) or schnell (about 4 steps) model.",
        choices=["dev", "schnell"],
        default="dev",
    ),
    guidance_scale: float = Input(description="Guidance scale.", ge=0, le=10, default=3.5),
    prompt_strength: float = Input(
        description="Prompt strength for img2img / inpainting.", ge=0.0, le=1.0, default=0.8
    ),
    seed: int = Input(description="Random seed. Set for reproducible generation.", default=None),
    extra_lora: str = Input(description="Another LoRA to combine with this one.", default=None),
    extra_lora_scale: float = Input(
        description="How strongly the extra LoRA is applied.", default=1.0, le=2.0, ge=-1.0
    ),
    output_format: str = Input(
        description="Format of the output images.", choices=["webp", "jpg", "png"], default="webp"
    ),
    output_quality: int = Input(
        description="Quality of the output images (0-100).", default=90, ge=0, le=100
    ),
    replicate_weights: str = Input(description="LoRA weights to use instead.", default=None),
    disable_safety_checker: bool = Input(description="Disable the safety checker.", default=False),
) -> list[Path]:
    """The trained model's predict()."""
    raise NotImplementedError


def train(
    input_images: Path = Input(
        description="A zip file of the training images (10 or more recommended), with optional "
        "captions as one .txt file per image.",
        default=None,
    ),
    trigger_word: str = Input(
        description="A word that is not a real word, like TOK, that stands for what you train.",
        default="TOK",
    ),
    autocaption: bool = Input(description="Caption the images automatically.", default=True),
    autocaption_prefix: str = Input(
        description="Text at the start of every caption.", default=None
    ),
    autocaption_suffix: str = Input(description="Text at the end of every caption.", default=None),
    steps: int = Input(
        description="Number of training steps (500-4000 recommended).", ge=10, le=6000, default=1000
    ),
    learning_rate: float = Input(description="Learning rate.", default=4e-4),
    batch_size: int = Input(description="Batch size.", default=1),
    lora_rank: int = Input(description="LoRA rank: 16, 32, 64 or 128.", default=16),
    hf_repo_id: str = Input(
        description="Hugging Face repository to upload the LoRA to.", default=None
    ),
    hf_token: Secret = Input(description="Hugging Face token for the upload.", default=None),
    skip_training_and_use_pretrained_hf_lora_url: str = Input(
        description="Skip training and use this pre-trained LoRA URL instead.", default=None
    ),
) -> Path:
    """The trainer's train()."""
    raise NotImplementedError


def document() -> dict:
    """Predict's document, with train()'s inputs and output added as TrainingInput/Output."""
    _, doc = describe(inspect.signature(predict, eval_str=True), "predict", streams=False)
    _, trained = describe(inspect.signature(train, eval_str=True), "train", streams=False)
    doc["info"] = {"title": "Cog", "version": "0.1.0"}  # what Cog writes, as in the other schemas
    schemas = doc["components"]["schemas"]
    schemas["TrainingInput"] = {
        **trained["components"]["schemas"]["Input"],
        "title": "TrainingInput",
    }
    schemas["TrainingOutput"] = {
        "title": "TrainingOutput",
        "type": "object",
        "required": ["weights"],
        "properties": {"weights": {"title": "Weights", "type": "string", "format": "uri"}},
    }
    return doc


if __name__ == "__main__":
    TARGET.write_text(json.dumps(document(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
