"""Benchmark forms and cards: building a ModelForm, and the live card's cost per prediction.

Run with `.venv/bin/python benchmarks/forms.py` (or `--quick` for fewer samples).

Card overhead: the same sandbox predictions (sdxl at 64x64: 51 log lines, a progress bar, an
image) followed bare (`predictions.create` + `wait()`, polling at the card's sandbox pace,
`runview.SANDBOX_POLL`, so both wait alike) and with a live card (`PredictionCard.follow()`:
clock, progress, terminal logs, output render), alternating; the aim is a card at most 10%
slower per prediction.

For every schema in `tests/data/schemas/` it times `ModelForm(schema)`: parsing the schema (a
fresh copy each time, as a fetched version would be), one widget per field, validation of the
untouched form, and the run/status/history widgets. The aim is a median under 50 ms for the
43-field disco-diffusion schema, the largest sample. The baseline, measured in the same run, is
the bare minimum a form of that size costs: one `ipywidgets.Text` per field in a `VBox`.
Widgets are built outside a kernel (comm messages go nowhere), as in the unit tests.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import ipywidgets as widgets

from replicate_nb.forms import ModelForm

SCHEMAS = Path(__file__).resolve().parents[1] / "tests" / "data" / "schemas"
AIM_SCHEMA = "nightmareai__disco-diffusion__3c128f65"
AIM_MS = 50.0
TODAY_RATIO = 2.2  # form/baseline on 2026-11-22 (21.0 ms vs 9.6 ms), before the playground work
AIM_GROWTH = 1.5  # the form may cost at most 1.5x what it cost then, relative to the baseline
AIM_CARD = 1.10
SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


def card_overhead(rounds: int) -> tuple[float, float]:
    """Median seconds per prediction, bare and with a card (alternating, same sandbox).

    The card follows on the helpers' background loop, as `watch()` does (in a kernel, the
    kernel's own loop): one loop for every card, as in a notebook session.
    """
    import replicate

    from replicate_nb import sandbox
    from replicate_nb.aio import run_sync
    from replicate_nb.card import PredictionCard
    from replicate_nb.forms.runview import SANDBOX_POLL

    version = SDXL.partition(":")[2]
    bare, carded = [], []
    with sandbox.start() as sb:
        client = replicate.Client(base_url=sb.base_url)
        client.poll_interval = SANDBOX_POLL  # the card's poll, so both wait the same
        for i in range(rounds + 1):
            payload = {"prompt": f"p{i}", "width": 64, "height": 64, "seed": i}
            started = time.perf_counter()
            client.predictions.create(version=version, input=payload).wait()
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            prediction = client.predictions.create(version=version, input=payload)
            run_sync(PredictionCard(prediction, client=client).follow())
            carded.append(time.perf_counter() - started)
            widgets.Widget.close_all()
    return statistics.median(bare[1:]), statistics.median(carded[1:])


def measure(build: Callable[[], object], runs: int) -> list[float]:
    """Milliseconds per build, after one warm-up; widgets are closed between builds."""
    build()
    widgets.Widget.close_all()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        build()
        times.append((time.perf_counter() - started) * 1000)
        widgets.Widget.close_all()
    return times


def p90(times: list[float]) -> float:
    return statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]


def bare_form(names: list[str]) -> widgets.VBox:
    return widgets.VBox([widgets.Text(description=name) for name in names])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 builds per schema, not 30")
    runs = 5 if parser.parse_args(argv).quick else 30
    print(f"ModelForm build time, median of {runs} (p90), widgets closed between builds\n")
    print(f"{'schema':<50} {'fields':>6} {'median ms':>10} {'p90 ms':>8}")
    medians = {}
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        copies = iter([copy.deepcopy(schema) for _ in range(runs + 1)])
        fields = len(ModelForm(schema).fields)
        times = measure(lambda copies=copies: ModelForm(next(copies)), runs)
        medians[path.stem] = (fields, statistics.median(times))
        print(f"{path.stem:<50} {fields:>6} {statistics.median(times):>10.1f} {p90(times):>8.1f}")
    fields, aim_ms = medians[AIM_SCHEMA]
    names = [f"field_{i}" for i in range(fields)]
    baseline = statistics.median(measure(lambda: bare_form(names), runs))
    met = "met" if aim_ms < AIM_MS else "NOT met"
    print(
        f"\naim:      {AIM_SCHEMA} median {aim_ms:.1f} ms vs {AIM_MS:.0f} ms: "
        f"ratio {aim_ms / AIM_MS:.2f} ({met}; under 1 meets it)"
    )
    print(
        f"baseline: {fields} bare ipywidgets.Text in a VBox: {baseline:.1f} ms; "
        f"form/baseline {aim_ms / baseline:.1f}x"
    )
    growth = (aim_ms / baseline) / TODAY_RATIO
    print(
        f"growth:   form/baseline {aim_ms / baseline:.2f}x vs {TODAY_RATIO}x before the "
        f"playground: {growth:.2f} ({'met' if growth <= AIM_GROWTH else 'NOT met'}; aim "
        f"<= {AIM_GROWTH})"
    )
    bare_s, card_s = card_overhead(5 if runs == 5 else 20)
    card_ratio = card_s / bare_s
    print(
        f"card:     sdxl 64x64 per prediction, bare create+wait() {bare_s * 1000:.0f} ms, with a "
        f"live card {card_s * 1000:.0f} ms: ratio {card_ratio:.2f} "
        f"({'met' if card_ratio <= AIM_CARD else 'NOT met'}; aim <= {AIM_CARD})"
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("ipywidgets", "traitlets", "jsonschema")
    )
    print(
        f"machine:  {usable} usable cores, {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, {versions}"
    )
    print(f"command:  {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    return 0 if growth <= AIM_GROWTH and card_ratio <= AIM_CARD else 1


if __name__ == "__main__":
    sys.exit(main())
