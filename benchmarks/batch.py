"""Benchmark run_many against naive asyncio.gather and a sequential loop, on a local sandbox.

    .venv/bin/python benchmarks/batch.py [--quick]

The sandbox runs in its own process (as the real API would be elsewhere), so the client's own
overhead is what is measured. Every figure is wall-clock time on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import replicate

from replicate_nb.batch import run_many

SLEEP = "sandbox/sleep"
HELLO = "replicate/hello-world:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
POLL = 0.05  # seconds between polls, for run_many and for every naive variant that polls


@contextmanager
def sandbox_process() -> Iterator[str]:
    """A sandbox in a child process on a free port; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        yield line.rsplit(" ", 1)[-1].strip()
    finally:
        proc.terminate()
        proc.wait(10)


def client_for(base_url: str) -> replicate.Client:
    client = replicate.Client(base_url=base_url)
    client.poll_interval = POLL
    return client


async def close(client: replicate.Client) -> None:
    http = client._Client__async_client
    if http is not None:
        await http.aclose()


def request_latency(base_url: str) -> float:
    """Median seconds of a GET on a kept-alive connection (a Nagle stall shows as ~40 ms)."""
    with replicate.Client(base_url=base_url)._client as http:
        http.get("/v1/account")
        times = []
        for _ in range(5):
            started = time.perf_counter()
            http.get("/v1/account")
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def count_predictions(base_url: str) -> int:
    with replicate.Client(base_url=base_url)._client as http:
        total, url = 0, "/v1/predictions"
        while url:
            page = http.get(url).json()
            total += len(page["results"])
            url = page["next"]
        return total


async def naive_gather(
    base_url: str, ref: str, inputs: list[dict], limit: int | None, **params: object
) -> tuple[float, collections.Counter[str]]:
    """`asyncio.gather` of `client.async_run` on ONE client (optionally under a Semaphore)."""
    client = client_for(base_url)
    semaphore = asyncio.Semaphore(limit) if limit else None

    async def one(item: dict) -> object:
        if semaphore is None:
            return await client.async_run(ref, item, **params)
        async with semaphore:
            return await client.async_run(ref, item, **params)

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(i) for i in inputs), return_exceptions=True)
    elapsed = time.perf_counter() - started
    await close(client)
    return elapsed, collections.Counter(
        type(o).__name__ for o in outcomes if isinstance(o, BaseException)
    )


def timed_run_many(
    base_url: str, ref: str, inputs: list[dict], concurrency: int
) -> tuple[float, collections.Counter[str]]:
    client = client_for(base_url)
    started = time.perf_counter()
    results = run_many(ref, inputs, concurrency=concurrency, client=client, progress=False)
    elapsed = time.perf_counter() - started
    return elapsed, collections.Counter(r.status for r in results if not r.ok)


def sleep_benchmark(base_url: str, n: int, concurrency: int, seconds: float, repeats: int) -> None:
    inputs = [{"seconds": seconds, "message": str(i)} for i in range(n)]
    ideal = n / concurrency * seconds
    print(
        f"\n## {n} x {SLEEP} ({seconds} s each), concurrency {concurrency}; "
        f"ideal {ideal:.2f} s; median of {repeats} after a warm-up; every client that polls "
        f"polls every {POLL} s"
    )
    print(f"  (sandbox answers a kept-alive request in {request_latency(base_url) * 1000:.1f} ms)")
    timed_run_many(base_url, HELLO, [{"text": "warm"}] * concurrency, concurrency)
    methods = {
        "run_many (Prefer: wait=2, then polls)": lambda: timed_run_many(
            base_url, SLEEP, inputs, concurrency
        ),
        "naive gather + Semaphore, async_run(wait=False) (polls)": lambda: asyncio.run(
            naive_gather(base_url, SLEEP, inputs, concurrency, wait=False)
        ),
        "naive gather + Semaphore, async_run() default (Prefer: wait)": lambda: asyncio.run(
            naive_gather(base_url, SLEEP, inputs, concurrency)
        ),
    }
    for name, measure in methods.items():
        runs = [measure() for _ in range(repeats)]
        elapsed = statistics.median(t for t, _ in runs)
        errors = sum((e for _, e in runs), collections.Counter())
        print(
            f"  {name:<64} {elapsed:6.2f} s  {elapsed / ideal:5.2f}x ideal"
            f"{'  errors: ' + str(dict(errors)) if errors else ''}"
        )
    sample = inputs[: max(1, n // 10)]
    client = client_for(base_url)
    started = time.perf_counter()
    for item in sample:
        client.run(SLEEP, item)
    client._client.close()
    per_item = (time.perf_counter() - started) / len(sample)
    name = f"sequential client.run() loop (extrapolated from {len(sample)} inputs)"
    print(f"  {name:<64} {per_item * n:6.2f} s  {per_item * n / ideal:5.2f}x ideal")


def burst_benchmark(base_url: str, n: int, concurrency: int) -> None:
    inputs = [{"text": str(i)} for i in range(n)]
    print(f"\n## {n} x {HELLO} (quick), concurrency {concurrency}")
    before = count_predictions(base_url)
    elapsed, errors = asyncio.run(naive_gather(base_url, HELLO, inputs, None))
    failed = sum(errors.values())
    print(
        f"  naive gather of {n} async_run() on one client, no limit: {elapsed:6.2f} s, "
        f"{failed} failed {dict(errors) if errors else ''}"
    )
    middle = count_predictions(base_url)
    elapsed, errors = timed_run_many(base_url, HELLO, inputs, concurrency)
    created = count_predictions(base_url) - middle
    print(
        f"  run_many(concurrency={concurrency}): {elapsed:6.2f} s, "
        f"{n - sum(errors.values())}/{n} succeeded, {n / elapsed:.0f} predictions/s, "
        f"{created} predictions created (naive created {middle - before})"
    )


def import_time() -> None:
    code = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"
    print("\n## import time in a fresh interpreter (median of 5)")
    for mod in ("replicate_nb", "replicate_nb.batch"):
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code.format(mod=mod)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(5)
        ]
        median = statistics.median(runs)
        print(f"  import {mod:<20} {median * 1000:6.0f} ms")
        if mod == "replicate_nb" and median > 0.3:
            heavy = subprocess.run(
                [sys.executable, "-X", "importtime", "-c", "import " + mod],
                capture_output=True,
                text=True,
            ).stderr.splitlines()[1:]
            top = sorted(heavy, key=lambda line: -int(line.split("|")[1]))[:8]
            print("  over 0.3 s; heaviest imports (cumulative us):", *top, sep="\n    ")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args()
    sleeps, bursts, repeats = (40, 200, 1) if args.quick else (200, 1000, 5)
    burst_limit = 50 if args.quick else 200
    print(f"python {sys.version.split()[0]}, replicate {replicate.__about__.__version__}")
    with sandbox_process() as base_url:
        sleep_benchmark(base_url, sleeps, 20, 0.2, repeats)
    with sandbox_process() as base_url:
        burst_benchmark(base_url, bursts, burst_limit)
    import_time()


if __name__ == "__main__":
    main()
