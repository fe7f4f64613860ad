"""Benchmark the sandbox against baselines measured in the same run.

Run with `.venv/bin/python benchmarks/sandbox.py` (or `--quick` for a smaller, faster run).

It prints three things:

1. Latency: the median and p90 of `client.run("replicate/hello-world", ...)` with the official
   `replicate` client against the sandbox, next to a bare `httpx` GET to the same server (both over
   keep-alive connections), and their ratio. For reference it also times the same two calls
   against a canned zero-work server.
2. Burst throughput: 1,000 predictions in flight at once through the official async client
   (`async_run` under `asyncio.gather`), spread over 10 `replicate.Client`s of 100 each (one SDK
   client's httpx pool holds 100 connections, and its create calls use their own 5 s pool timeout
   whatever `Client(timeout=)` says). The same burst against a canned zero-work server (uvicorn,
   same settings, fixed succeeded prediction) is the client's own ceiling on this machine.
3. The machine context and the command.

Servers and clients live in this one process: servers in background threads, clients on the main
thread, everything on 127.0.0.1 free ports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import platform
import resource
import shlex
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from importlib import metadata
from typing import Any

import httpx
import replicate
import uvicorn

from replicate_nb import sandbox

MODEL = "replicate/hello-world"
INPUT = {"text": "x"}
PER_CLIENT = 100  # an SDK client's httpx pool: 100 connections
BARE_PATH = "/v1/account"
STALL_MS = 20.0  # a bare loopback GET slower than this is a stall, not work


@dataclasses.dataclass(frozen=True)
class Settings:
    """How much to measure."""

    runs: int  # timed latency samples per call
    warmup: int  # untimed calls before them
    burst: int  # predictions in flight at once
    rounds: int  # bursts per server (alternating), the median is reported

    @property
    def clients(self) -> int:
        """SDK clients needed to carry the burst at PER_CLIENT each."""
        return max(1, -(-self.burst // PER_CLIENT))


FULL = Settings(runs=300, warmup=50, burst=1000, rounds=3)
QUICK = Settings(runs=40, warmup=10, burst=200, rounds=1)


# the canned zero-work server
CANNED_ID = "canned0000000000000000000x"
CANNED_VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
CANNED_ROUTE = f"/v1/models/{MODEL}/predictions"


def canned_prediction(base_url: str) -> bytes:
    """A fixed, already-succeeded prediction the SDK parses like a real one."""
    api = f"{base_url}/v1/predictions/{CANNED_ID}"
    body = {
        "id": CANNED_ID, "model": MODEL, "version": CANNED_VERSION, "input": INPUT,
        "logs": "", "output": "hello x", "data_removed": False, "error": None,
        "status": "succeeded", "source": "api",
        "created_at": "2026-11-21T00:00:00.000000Z",
        "started_at": "2026-11-21T00:00:00.000100Z",
        "completed_at": "2026-11-21T00:00:00.000200Z",
        "metrics": {"predict_time": 0.0001, "total_time": 0.0002},
        "urls": {"get": api, "cancel": f"{api}/cancel", "web": f"{base_url}/p/{CANNED_ID}"},
    }
    return json.dumps(body).encode()


def canned_app(prediction: bytes) -> Callable[..., Awaitable[None]]:
    """A raw ASGI app: the canned prediction on CANNED_ROUTE (POST), `{}` on GET, else 404."""
    json_headers = [(b"content-type", b"application/json")]

    async def app(scope: dict[str, Any], receive: Callable[..., Any],
                  send: Callable[..., Any]) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # drain the request body, as a real server would
            more = (await receive()).get("more_body", False)
        if scope["method"] == "POST" and scope["path"] == CANNED_ROUTE:
            status, body = 201, prediction
        elif scope["method"] == "GET":
            status, body = 200, b"{}"
        else:
            status, body = 404, b'{"detail": "not found"}'
        await send({"type": "http.response.start", "status": status, "headers": json_headers})
        await send({"type": "http.response.body", "body": body})

    return app


class CannedServer:
    """The canned app on uvicorn (h11, asyncio, 127.0.0.1, free port) in a background thread.

    uvicorn binds the socket itself here, as `uvicorn.run(app, host=..., port=...)` does.
    """

    def __init__(self) -> None:
        self._holder: dict[str, bytes] = {}
        config = uvicorn.Config(self._app, host="127.0.0.1", port=0, http="h11", loop="asyncio",
                                lifespan="off", interface="asgi3", log_level="warning",
                                access_log=False,
                                timeout_graceful_shutdown=2, timeout_keep_alive=30)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._server.serve()),
                                        name="canned-server", daemon=True)
        self._inner: Callable[..., Awaitable[None]] | None = None
        self.base_url = ""

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert self._inner is not None
        await self._inner(scope, receive, send)

    def start(self, timeout: float = 10.0) -> CannedServer:
        """Serve; returns once the port is known and the server accepts connections."""
        self._thread.start()
        deadline = time.perf_counter() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.perf_counter() > deadline:
                raise RuntimeError("the canned server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self._inner = canned_app(canned_prediction(self.base_url))
        return self

    def stop(self) -> None:
        """Stop the server and wait for its thread."""
        self._server.should_exit = True
        self._thread.join(15)

    def __enter__(self) -> CannedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# latency
@dataclasses.dataclass
class Latency:
    """Seconds per call, the timed samples only."""

    samples: list[float]

    @property
    def median(self) -> float:
        """The median, in seconds."""
        return statistics.median(self.samples)

    @property
    def p90(self) -> float:
        """The 90th percentile, in seconds."""
        return statistics.quantiles(self.samples, n=10)[-1]


def close_client(client: replicate.Client) -> None:
    """Close the sync httpx client a `replicate.Client` opened (it has no close method)."""
    sync = client._Client__client  # type: ignore[attr-defined]
    if sync is not None:
        sync.close()


async def aclose_client(client: replicate.Client) -> None:
    """Close the async httpx client a `replicate.Client` opened."""
    inner = client._Client__async_client  # type: ignore[attr-defined]
    if inner is not None:
        await inner.aclose()


def time_calls(calls: dict[str, Callable[[], object]], settings: Settings) -> dict[str, Latency]:
    """Time each call `settings.runs` times after warm-up, interleaved to share the noise."""
    for _ in range(settings.warmup):
        for call in calls.values():
            call()
    samples: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(settings.runs):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            samples[name].append(time.perf_counter() - start)
    return {name: Latency(values) for name, values in samples.items()}


def measure_latency(base_url: str, settings: Settings) -> dict[str, Latency]:
    """`client.run` and a bare GET against one server, each on its own keep-alive connection."""
    client = replicate.Client(base_url=base_url)
    bare = httpx.Client()

    def run() -> None:
        output = client.run(MODEL, input=INPUT)
        if output != "hello x":
            raise AssertionError(f"unexpected output {output!r}")

    def get() -> None:
        bare.get(base_url + BARE_PATH).raise_for_status()

    try:
        return time_calls({"run": run, "bare": get}, settings)
    finally:
        close_client(client)
        bare.close()


# burst
@dataclasses.dataclass
class Burst:
    """One burst: how long it took and how its predictions ended."""

    seconds: float
    total: int
    failures: Counter[str]

    @property
    def rate(self) -> float:
        """Predictions per second over the whole burst."""
        return self.total / self.seconds


async def one_prediction(client: replicate.Client) -> str | None:
    """Run the model once; the failure's kind, or None when the output is a hello string."""
    try:
        output = await client.async_run(MODEL, input=INPUT)
    except Exception as exc:
        return type(exc).__name__
    if not (isinstance(output, str) and output.startswith("hello ")):
        return f"unexpected output {output!r:.40}"
    return None


async def burst_async(base_url: str, settings: Settings) -> Burst:
    """`settings.burst` async_runs at once, PER_CLIENT per SDK client."""
    clients = [replicate.Client(base_url=base_url) for _ in range(settings.clients)]
    for client in clients:
        _ = client._async_client  # build the httpx clients (SSL contexts) outside the timing
    calls = [one_prediction(clients[i % len(clients)]) for i in range(settings.burst)]
    try:
        start = time.perf_counter()
        outcomes = await asyncio.gather(*calls)
        seconds = time.perf_counter() - start
    finally:
        for client in clients:
            await aclose_client(client)
    return Burst(seconds, settings.burst, Counter(o for o in outcomes if o is not None))


def run_bursts(targets: dict[str, str], settings: Settings) -> dict[str, list[Burst]]:
    """Alternate bursts between the servers, `settings.rounds` each, after a small warm-up."""
    warm = dataclasses.replace(settings, burst=min(settings.burst, 2 * PER_CLIENT))
    results: dict[str, list[Burst]] = {name: [] for name in targets}
    for url in targets.values():
        asyncio.run(burst_async(url, warm))
    for _ in range(settings.rounds):
        for name, url in targets.items():
            results[name].append(asyncio.run(burst_async(url, settings)))
    return results


# reporting
def ms(seconds: float) -> str:
    """Seconds as milliseconds, 3 significant-ish digits."""
    return f"{seconds * 1000:.3f} ms" if seconds < 0.01 else f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    """A short pass/fail word for an aim."""
    return "met" if ok else "NOT met"


def print_context(settings: Settings) -> None:
    """Machine, versions and command."""
    versions = ", ".join(f"{name} {metadata.version(name)}"
                         for name in ("replicate", "httpx", "httpcore", "uvicorn", "h11",
                                      "starlette"))
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine:  {usable} usable cores ({os.cpu_count()} total), {platform.machine()}, "
          f"{platform.system()} {platform.release()}")
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"versions: {versions}")
    print(f"command:  {shlex.join(['python', *sys.argv])}  (cwd {os.getcwd()})")
    print(f"settings: {settings}")


def print_latency(sandbox_lat: dict[str, Latency], canned_lat: dict[str, Latency]) -> float:
    """The latency table; returns the run/bare ratio on the sandbox."""
    print("\n== latency: one client, keep-alive, sequential calls ==")
    rows = [("sandbox", "client.run(hello-world)", sandbox_lat["run"]),
            ("sandbox", f"bare httpx GET {BARE_PATH}", sandbox_lat["bare"]),
            ("canned", "client.run(hello-world)", canned_lat["run"]),
            ("canned", f"bare httpx GET {BARE_PATH}", canned_lat["bare"])]
    for server, call, lat in rows:
        print(f"  {server:8} {call:32} median {ms(lat.median):>10}   p90 {ms(lat.p90):>10}")
    ratio = sandbox_lat["run"].median / sandbox_lat["bare"].median
    print(f"  ratio run/bare on the sandbox: {ratio:.2f}x  (aim <= 3x: {verdict(ratio <= 3)})")
    floor = canned_lat["bare"].median
    print(f"  sandbox run vs a bare GET to the canned server: "
          f"{sandbox_lat['run'].median / floor:.1f}x")
    bare = sandbox_lat["bare"].median
    if bare * 1000 > STALL_MS and bare > 10 * floor:
        print(f"  WARNING: a bare GET to the sandbox takes {ms(bare)}, {bare / floor:.0f}x the "
              "same GET to the canned server: a fixed stall (Nagle + delayed ACK, ~40 ms) rather "
              "than work. The ratio above then compares two stalls; see benchmarks/README.md.")
    return ratio


def print_bursts(bursts: dict[str, list[Burst]], settings: Settings) -> float:
    """The burst table; returns the sandbox/ceiling throughput ratio (medians)."""
    print(f"\n== burst: {settings.burst} async_run at once, spread over {settings.clients} "
          f"replicate.Clients x {PER_CLIENT} (one client's pool holds {PER_CLIENT} "
          "connections) ==")
    medians = {}
    for name, rounds in bursts.items():
        rates = [b.rate for b in rounds]
        medians[name] = statistics.median(rates)
        failures = sum((b.failures for b in rounds), Counter())
        print(f"  {name:8} median {medians[name]:8.0f} predictions/s   rounds "
              f"[{', '.join(f'{r:.0f}' for r in rates)}]   "
              f"burst time {statistics.median(b.seconds for b in rounds):.2f} s   "
              f"failures {sum(failures.values())}/{settings.burst * len(rounds)}"
              + (f" {dict(failures)}" if failures else ""))
    ratio = medians["sandbox"] / medians["canned"]
    print(f"  ratio sandbox/ceiling: {ratio:.2f}  (aim >= 0.8: {verdict(ratio >= 0.8)})")
    return ratio


# main
def raise_fd_limit(needed: int) -> None:
    """Both ends of every burst connection live in this process: make room for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@contextlib.contextmanager
def servers() -> Iterator[dict[str, str]]:
    """The sandbox and the canned server, stopped on the way out."""
    with sandbox.start() as sb, CannedServer() as canned:
        yield {"sandbox": sb.base_url, "canned": canned.base_url}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"smaller run: {QUICK.runs} latency samples, burst of {QUICK.burst}")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    settings = QUICK if parse_args(argv).quick else FULL
    raise_fd_limit(2 * settings.burst + 512)
    started = time.perf_counter()
    print("replicate-nb sandbox benchmark")
    print_context(settings)
    with servers() as urls:
        sandbox_lat = measure_latency(urls["sandbox"], settings)
        canned_lat = measure_latency(urls["canned"], settings)
        print_latency(sandbox_lat, canned_lat)
        bursts = run_bursts(urls, settings)
        print_bursts(bursts, settings)
    failures = sum(sum(b.failures.values()) for rounds in bursts.values() for b in rounds)
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
