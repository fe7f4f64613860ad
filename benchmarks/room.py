"""Benchmark a room sandbox: 60 simulated attendees running batches, with and without the live view.

    .venv/bin/python benchmarks/room.py [--attendees 60] [--batch 10] [--quick]

The room sandbox runs in its own process (`python -m replicate_nb.sandbox --room N`), as it would
on the instructor's machine. Each simulated attendee has its own token and its own client and runs
`run_many` on a batch of `replicate/hello-world` inputs plus one `black-forest-labs/flux-schnell`
image (so the live view has thumbnails to load). The same workload runs twice in one run: first
with no page open (the baseline), then with the instructor's live view open in headless Chromium.
It prints the sandbox's throughput in both phases and their ratio, and the page's update latency:
for each update the page renders, the time from the room's last change on the server to the row
on screen (both clocks are this machine's), which includes the page's 0.25 s update pacing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import replicate

from replicate_nb.batch import async_run_many
from replicate_nb.sandbox.models.hello import HELLO_WORLD
from replicate_nb.sandbox.room import INSTRUCTOR, Roster

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
POLL = 0.1
HELLO = f"{HELLO_WORLD.ref}:{HELLO_WORLD.version_id}"  # not an official model: by version


def start_room(attendees: int, tokens: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "replicate_nb.sandbox",
            "--port",
            "0",
            "--room",
            str(attendees),
            "--tokens",
            str(tokens),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    base_url = proc.stdout.readline().split()[-1]
    while "live view" not in proc.stdout.readline():  # the room's lines, up to the live view
        pass
    return proc, base_url


async def attendee(base_url: str, token: str, batch: int, tag: str) -> tuple[int, int]:
    client = replicate.Client(token, base_url=base_url)
    client.poll_interval = POLL
    inputs = [{"text": f"{tag}-{i}"} for i in range(batch)]
    hello = await async_run_many(HELLO, inputs, concurrency=4, progress=False, client=client)
    image = await async_run_many(
        "black-forest-labs/flux-schnell",
        [{"prompt": f"a lighthouse {tag}", "megapixels": "0.25"}],
        progress=False,
        client=client,
    )
    http = client._Client__async_client  # type: ignore[attr-defined]
    if http is not None:
        await http.aclose()
    results = [*hello, *image]
    return sum(r.ok for r in results), len(results)


def workload(base_url: str, roster: Roster, batch: int, tag: str) -> tuple[float, int, int]:
    """Every attendee's batch at once; returns (seconds, succeeded, total)."""

    async def everyone() -> list[tuple[int, int]]:
        names = [a.username for a in roster.accounts() if not a.instructor]
        return await asyncio.gather(
            *(attendee(base_url, roster.token(n), batch, f"{tag}-{n}") for n in names)
        )

    started = time.perf_counter()
    counts = asyncio.run(everyone())
    return time.perf_counter() - started, sum(c[0] for c in counts), sum(c[1] for c in counts)


def with_page_open(
    base_url: str, roster: Roster, batch: int
) -> tuple[float, int, int, list[float]]:
    """The workload while the live view is open; also the page's update latencies."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base_url}/_room/?token={roster.token(INSTRUCTOR)}")
        page.wait_for_selector("#rows tr")
        page.evaluate("window.roomLatencies = []")
        outcome: list[tuple[float, int, int]] = []
        runner = threading.Thread(
            target=lambda: outcome.append(workload(base_url, roster, batch, "open"))
        )
        runner.start()
        while runner.is_alive():  # keep Playwright's own loop turning while the load runs
            page.wait_for_timeout(200)
        page.wait_for_timeout(1000)  # the last updates
        latencies = page.evaluate("window.roomLatencies")
        shown = page.locator("#rows tr").count()
        page.screenshot(path="test-artifacts/room-benchmark.png", full_page=False)
        browser.close()
    assert shown == len(roster.accounts()), shown
    return (*outcome[0], latencies)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--attendees", type=int, default=60)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="5 attendees, batches of 3")
    args = parser.parse_args()
    attendees, batch = (5, 3) if args.quick else (args.attendees, args.batch)
    print(
        f"# benchmarks/room.py: {attendees} attendees x ({batch} hello-world + 1 flux-schnell); "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, replicate "
        f"{replicate.__version__ if hasattr(replicate, '__version__') else '1.x'}"
    )
    Path("test-artifacts").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        tokens = Path(folder) / "tokens.csv"
        proc, base_url = start_room(attendees, tokens)
        try:
            roster, _ = Roster.read(tokens)
            closed, ok_closed, n_closed = workload(base_url, roster, batch, "closed")
            opened, ok_open, n_open, latencies = with_page_open(base_url, roster, batch)
        finally:
            proc.terminate()
            proc.wait(15)
    rate_closed, rate_open = n_closed / closed, n_open / opened
    print(
        f"page closed: {n_closed} predictions ({ok_closed} ok) in {closed:.1f} s: "
        f"{rate_closed:.1f} predictions/s"
    )
    print(
        f"page open:   {n_open} predictions ({ok_open} ok) in {opened:.1f} s: "
        f"{rate_open:.1f} predictions/s"
    )
    print(f"ratio open/closed throughput: {rate_open / rate_closed:.2f}")
    if latencies:
        print(
            f"page updates: {len(latencies)}; latency from a change in the room to the page: "
            f"median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {percentile(latencies, 0.95) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
        )
    return 0 if ok_closed == n_closed and ok_open == n_open and latencies else 1


if __name__ == "__main__":
    sys.exit(main())
