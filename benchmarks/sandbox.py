"""Benchmark the sandbox against baselines measured in the same run.

Run with `.venv/bin/python benchmarks/sandbox.py` (or `--quick` for a smaller, faster run).

It prints three things:

1. Latency: the median and p90 of `client.run("replicate/hello-world:<version>", ...)` (a create
   and, as 1.0.7 does for a versioned ref, a version read) with the official
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
import gc
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

MODEL_NAME = "replicate/hello-world"
VERSION = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
MODEL = f"{MODEL_NAME}:{VERSION}"  # not an official model: it runs by version, as online
INPUT = {"text": "x"}
PER_CLIENT = 100  # an SDK client's httpx pool: 100 connections
BARE_PATH = "/v1/account"
STALL_MS = 20.0  # a loopback call slower than this (and 10x the canned one) is a stall


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


FULL = Settings(runs=300, warmup=50, burst=1000, rounds=5)
QUICK = Settings(runs=40, warmup=10, burst=200, rounds=2)


# the canned zero-work server
CANNED_ID = "canned0000000000000000000x"
CANNED_ROUTE = "/v1/predictions"
CANNED_VERSION_ROUTE = f"/v1/models/{MODEL_NAME}/versions/{VERSION}"
CANNED_THREAD = "canned-server"


def canned_prediction(base_url: str) -> bytes:
    """A fixed, already-succeeded prediction the SDK parses like a real one."""
    api = f"{base_url}/v1/predictions/{CANNED_ID}"
    body = {
        "id": CANNED_ID,
        "model": MODEL_NAME,
        "version": VERSION,
        "input": INPUT,
        "logs": "",
        "output": "hello x",
        "data_removed": False,
        "error": None,
        "status": "succeeded",
        "source": "api",
        "created_at": "2026-11-21T00:00:00.000000Z",
        "started_at": "2026-11-21T00:00:00.000100Z",
        "completed_at": "2026-11-21T00:00:00.000200Z",
        "metrics": {"predict_time": 0.0001, "total_time": 0.0002},
        "urls": {"get": api, "cancel": f"{api}/cancel", "web": f"{base_url}/p/{CANNED_ID}"},
    }
    return json.dumps(body).encode()


def canned_version() -> bytes:
    """The version `run()` of an `owner/name:version` ref reads after creating (its second call)."""
    from replicate_nb.sandbox.catalog_json import version_json
    from replicate_nb.sandbox.models.hello import HELLO_WORLD

    return json.dumps(version_json(HELLO_WORLD)).encode()


def canned_app(prediction: bytes) -> Callable[..., Awaitable[None]]:
    """A raw ASGI app: the canned prediction on CANNED_ROUTE (POST), the version on
    CANNED_VERSION_ROUTE, `{}` on other GETs, else 404: the calls `run()` makes, with no work."""
    json_headers = [(b"content-type", b"application/json")]
    version = canned_version()

    async def app(
        scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:  # drain the request body, as a real server would
            more = (await receive()).get("more_body", False)
        if scope["method"] == "POST" and scope["path"] == CANNED_ROUTE:
            status, body = 201, prediction
        elif scope["method"] == "GET" and scope["path"] == CANNED_VERSION_ROUTE:
            status, body = 200, version
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
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=0,
            http="h11",
            loop="asyncio",
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._server.serve()), name=CANNED_THREAD, daemon=True
        )
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
@dataclasses.dataclass(frozen=True)
class Target:
    """A server to measure: its URL and the name of the thread that serves it."""

    name: str
    base_url: str
    thread_name: str


@dataclasses.dataclass
class Burst:
    """One burst: how long it took, how its predictions ended and the CPU each side used."""

    seconds: float
    total: int
    failures: Counter[str]
    server_cpu: float | None  # CPU seconds of the server's thread, None where unmeasurable
    client_cpu: float  # CPU seconds of this (client) thread

    @property
    def rate(self) -> float:
        """Predictions per second over the whole burst."""
        return self.total / self.seconds


def thread_cpu_clock(thread_name: str) -> Callable[[], float] | None:
    """A reader of a thread's CPU time (Linux), or None when the thread cannot be found."""
    if not hasattr(time, "pthread_getcpuclockid"):
        return None
    for thread in threading.enumerate():
        if thread.name == thread_name and thread.ident is not None:
            clock = time.pthread_getcpuclockid(thread.ident)
            return lambda: time.clock_gettime(clock)
    return None


async def one_prediction(client: replicate.Client) -> str | None:
    """Run the model once; the failure's kind, or None when the output is a hello string."""
    try:
        output = await client.async_run(MODEL, input=INPUT)
    except Exception as exc:
        return type(exc).__name__
    if not (isinstance(output, str) and output.startswith("hello ")):
        return f"unexpected output {output!r:.40}"
    return None


async def burst_async(target: Target, settings: Settings) -> Burst:
    """`settings.burst` async_runs at once, PER_CLIENT per SDK client."""
    clients = [replicate.Client(base_url=target.base_url) for _ in range(settings.clients)]
    for client in clients:
        _ = client._async_client  # build the httpx clients (SSL contexts) outside the timing
    calls = [one_prediction(clients[i % len(clients)]) for i in range(settings.burst)]
    server_clock = thread_cpu_clock(target.thread_name)
    try:
        server_start = server_clock() if server_clock else 0.0
        client_start = time.thread_time()
        start = time.perf_counter()
        outcomes = await asyncio.gather(*calls)
        seconds = time.perf_counter() - start
        client_cpu = time.thread_time() - client_start
        server_cpu = server_clock() - server_start if server_clock else None
    finally:
        for client in clients:
            await aclose_client(client)
    return Burst(
        seconds,
        settings.burst,
        Counter(o for o in outcomes if o is not None),
        server_cpu,
        client_cpu,
    )


def run_bursts(targets: list[Target], settings: Settings) -> dict[str, list[Burst]]:
    """Alternate bursts between the servers, `settings.rounds` each, after a small warm-up."""
    warm = dataclasses.replace(settings, burst=min(settings.burst, 2 * PER_CLIENT))
    results: dict[str, list[Burst]] = {target.name: [] for target in targets}
    for target in targets:
        asyncio.run(burst_async(target, warm))
    for _ in range(settings.rounds):
        for target in targets:
            gc.collect()  # start every burst from the same heap state
            results[target.name].append(asyncio.run(burst_async(target, settings)))
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
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("replicate", "httpx", "httpcore", "uvicorn", "h11", "starlette")
    )
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine:  {usable} usable cores ({os.cpu_count()} total), {platform.machine()}, "
        f"{platform.system()} {platform.release()}"
    )
    print(f"python:   {platform.python_implementation()} {platform.python_version()}")
    print(f"versions: {versions}")
    print(
        f"command:  {shlex.join([os.path.relpath(sys.executable), *sys.argv])}  (cwd {os.getcwd()})"
    )
    print(f"settings: {settings}")


def stalls(sandbox_lat: dict[str, Latency], canned_lat: dict[str, Latency]) -> list[str]:
    """Calls that take a fixed stall on the sandbox: > STALL_MS and > 10x the canned server."""
    found = []
    for call in ("run", "bare"):
        mine, theirs = sandbox_lat[call].median, canned_lat[call].median
        if mine * 1000 > STALL_MS and mine > 10 * theirs:
            found.append(call)
    return found


def print_latency(sandbox_lat: dict[str, Latency], canned_lat: dict[str, Latency]) -> float:
    """The latency table; returns the run/bare ratio on the sandbox."""
    print(
        "\n== latency: sequential calls, each kind on its own keep-alive connection, interleaved =="
    )
    labels = {"run": "client.run(hello-world)", "bare": f"bare httpx GET {BARE_PATH}"}
    for server, lat in (("sandbox", sandbox_lat), ("canned", canned_lat)):
        for call, label in labels.items():
            print(
                f"  {server:8} {label:32} median {ms(lat[call].median):>10}   "
                f"p90 {ms(lat[call].p90):>10}"
            )
    ratio = sandbox_lat["run"].median / sandbox_lat["bare"].median
    stalled = stalls(sandbox_lat, canned_lat)
    note = ": it compares stalls, see the warning" if stalled else ""
    print(
        f"  ratio run/bare on the sandbox: {ratio:.2f}x  "
        f"(aim <= 3x: {verdict(ratio <= 3 and not stalled)}{note})"
    )
    run = sandbox_lat["run"].median
    print(
        f"  sandbox run / canned bare GET: {run / canned_lat['bare'].median:.1f}x   "
        f"sandbox run / canned run: {run / canned_lat['run'].median:.1f}x"
    )
    for call in stalled:
        mine, theirs = sandbox_lat[call].median, canned_lat[call].median
        print(
            f"  WARNING: {labels[call]} on the sandbox takes {ms(mine)}, {mine / theirs:.0f}x "
            "the same call on the canned server: a fixed ~40 ms stall, not work (Nagle + "
            "delayed ACK, see benchmarks/README.md)."
        )
    return ratio


def cpu_per_prediction(bursts: list[Burst], attr: str) -> float | None:
    """Median CPU seconds per prediction of one side ('server_cpu' or 'client_cpu')."""
    values = [getattr(b, attr) / b.total for b in bursts if getattr(b, attr) is not None]
    return statistics.median(values) if values else None


def us(seconds: float | None) -> str:
    """Seconds as microseconds, or n/a."""
    return "    n/a" if seconds is None else f"{seconds * 1e6:5.0f} us"


def print_bursts(bursts: dict[str, list[Burst]], settings: Settings) -> float:
    """The burst table; returns the sandbox/ceiling ratio (median of per-round pairs)."""
    print(
        f"\n== burst: {settings.burst} async_run at once, spread over {settings.clients} "
        f"replicate.Clients x {PER_CLIENT} (one SDK client's pool holds {PER_CLIENT} "
        "connections) =="
    )
    for name, rounds in bursts.items():
        failures = sum((b.failures for b in rounds), Counter())
        print(
            f"  {name:8} median {statistics.median(b.rate for b in rounds):5.0f} "
            f"predictions/s   rounds [{', '.join(f'{b.rate:.0f}' for b in rounds)}]   "
            f"burst {statistics.median(b.seconds for b in rounds):.2f} s   "
            f"failures {sum(failures.values())}/{settings.burst * len(rounds)}"
            + (f" {dict(failures)}" if failures else "")
        )
    pairs = [
        mine.rate / theirs.rate
        for mine, theirs in zip(bursts["sandbox"], bursts["canned"], strict=True)
    ]
    ratio = statistics.median(pairs)
    print(
        f"  ratio sandbox/ceiling: {ratio:.2f}  (aim >= 0.8: {verdict(ratio >= 0.8)}; median "
        f"of the rounds run back to back: [{', '.join(f'{r:.2f}' for r in pairs)}])"
    )
    print("  CPU per prediction (servers and client share one process, hence one GIL):")
    totals = {}
    for name, rounds in bursts.items():
        server = cpu_per_prediction(rounds, "server_cpu")
        client = cpu_per_prediction(rounds, "client_cpu")
        totals[name] = None if server is None or client is None else server + client
        print(
            f"    {name:8} server thread {us(server)}   client thread {us(client)}   "
            f"sum {us(totals[name])}"
        )
    if totals["sandbox"] and totals["canned"]:
        print(
            f"  CPU-cost ratio canned/sandbox: {totals['canned'] / totals['sandbox']:.2f}  "
            "(the throughput ratio if CPU were the only limit; steadier than wall time)"
        )
    return ratio


# main
def raise_fd_limit(needed: int) -> None:
    """Both ends of every burst connection live in this process: make room for them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@contextlib.contextmanager
def servers() -> Iterator[list[Target]]:
    """The sandbox and the canned server, stopped on the way out."""
    with sandbox.start() as sb, CannedServer() as canned:
        yield [
            Target("sandbox", sb.base_url, f"sandbox-{sb.port}"),
            Target("canned", canned.base_url, CANNED_THREAD),
        ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smaller run: {QUICK.runs} latency samples, burst of {QUICK.burst}",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    settings = QUICK if parse_args(argv).quick else FULL
    raise_fd_limit(2 * settings.burst + 512)
    started = time.perf_counter()
    print("replicate-nb sandbox benchmark")
    print_context(settings)
    with servers() as targets:
        sandbox_lat = measure_latency(targets[0].base_url, settings)
        canned_lat = measure_latency(targets[1].base_url, settings)
        print_latency(sandbox_lat, canned_lat)
        bursts = run_bursts(targets, settings)
        print_bursts(bursts, settings)
    failures = sum(sum(b.failures.values()) for rounds in bursts.values() for b in rounds)
    print(f"\ntotal time {time.perf_counter() - started:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
