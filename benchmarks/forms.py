"""Benchmark building a ModelForm from each sample schema, against a same-run widget baseline.

Run with `.venv/bin/python benchmarks/forms.py` (or `--quick` for fewer samples).

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
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = ", ".join(
        f"{name} {metadata.version(name)}" for name in ("ipywidgets", "traitlets", "jsonschema")
    )
    print(
        f"machine:  {usable} usable cores, {platform.machine()}, "
        f"{platform.python_implementation()} {platform.python_version()}, {versions}"
    )
    print(f"command:  {shlex.join([os.path.relpath(sys.executable), *sys.argv])}")
    return 0 if aim_ms < AIM_MS else 1


if __name__ == "__main__":
    sys.exit(main())
