"""Teaching models of the sandbox, owned by `sandbox`: `sandbox/sleep` and `sandbox/fail`.

They exist to show prediction mechanics rather than outputs: `sandbox/sleep` runs for a chosen
time with tqdm-style progress (try cancelling it), `sandbox/fail` fails with a chosen message.
Their schemas (`schemas/sandbox__*.json`) follow Cog's conventions.
"""

from __future__ import annotations

import math
from typing import Any

from replicate_nb.sandbox.models import STANDIN_NOTICE, progress_line, schema_version_id
from replicate_nb.sandbox.models.base import ModelSpec, PredictContext, load_schema

SLEEP_SCHEMA = load_schema("sandbox__sleep.json")
FAIL_SCHEMA = load_schema("sandbox__fail.json")
MAX_TICKS = 100
"""At most this many progress lines per run (one every 0.1 s for runs up to 10 s)."""
TICK = 0.1


class SandboxFailure(Exception):
    """The failure `sandbox/fail` raises on purpose; its text is the `message` input."""


def ticks_for(seconds: float) -> int:
    """How many progress steps a run of `seconds` logs (1 to `MAX_TICKS`)."""
    return max(1, min(MAX_TICKS, math.ceil(round(seconds / TICK, 6))))


async def predict_sleep(ctx: PredictContext, inputs: dict[str, Any]) -> str:
    """Wait `seconds` (cancellably), logging progress, then return `message`."""
    ctx.log(STANDIN_NOTICE)
    seconds = float(inputs.get("seconds", 1))
    if seconds < 0:
        raise ValueError(f"seconds cannot be negative, got {seconds:g}")
    ticks = ticks_for(seconds)
    step = seconds / ticks
    ctx.log(f"Sleeping for {seconds:g} s")
    rate = 1 / step if step > 0 else float(ticks)
    for tick in range(ticks + 1):
        ctx.log(progress_line(tick, ticks, rate))
        if tick < ticks:
            await ctx.sleep(step)
    ctx.log(f"Slept {seconds:g} s")
    return inputs.get("message", "done")


async def predict_fail(ctx: PredictContext, inputs: dict[str, Any]) -> None:
    """Log, wait `after` seconds (cancellably), then fail with `message` as the error."""
    ctx.log(STANDIN_NOTICE)
    after = float(inputs.get("after", 0))
    message = (
        inputs.get("message")
        or FAIL_SCHEMA["components"]["schemas"]["Input"]["properties"]["message"]["default"]
    )
    ctx.log(f"Running for {after:g} s, then failing on purpose")
    if after > 0:
        await ctx.sleep(after)
    ctx.log("Failing now")
    raise SandboxFailure(message)


SLEEP = ModelSpec(
    owner="sandbox",
    name="sleep",
    version_id=schema_version_id(SLEEP_SCHEMA),
    openapi_schema=SLEEP_SCHEMA,
    predict=predict_sleep,
    description=(
        "Sandbox teaching model: runs for `seconds` with tqdm-style progress logs, then returns "
        "`message`. Use it to watch status, logs and progress, and to try cancelling."
    ),
    sandbox_only=True,
)

FAIL = ModelSpec(
    owner="sandbox",
    name="fail",
    version_id=schema_version_id(FAIL_SCHEMA),
    openapi_schema=FAIL_SCHEMA,
    predict=predict_fail,
    description=(
        "Sandbox teaching model: waits `after` seconds, then fails with `message` as the "
        "prediction's error. Use it to see how failures surface in the client."
    ),
    sandbox_only=True,
)
