"""`python -m replicate_nb.sandbox`: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from .control import Faults
from .engine import STREAM_RATE
from .server import Sandbox


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m replicate_nb.sandbox",
        description="Serve a Replicate-compatible sandbox with stand-in models. Python clients: "
        "REPLICATE_BASE_URL=http://HOST:PORT; JavaScript: baseUrl http://HOST:PORT/v1.",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (0 = a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument("--data-dir", help="keep predictions and files in this folder")
    parser.add_argument(
        "--require-token",
        default=os.environ.get("REPLICATE_NB_SANDBOX_TOKEN"),
        help="require this API token (default: $REPLICATE_NB_SANDBOX_TOKEN, else none)",
    )
    parser.add_argument("--seed", type=int, help="seed for ids and drawn seeds")
    parser.add_argument(
        "--stream-rate",
        type=float,
        default=STREAM_RATE,
        metavar="TOKENS_PER_SECOND",
        help=f"how fast the language model streams (default {STREAM_RATE:g})",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="OWNER/NAME=MODULE:ATTR",
        help="serve a function or predictor class importable from the current "
        "directory (repeatable), e.g. me/greeter=predict:Predictor",
    )
    parser.add_argument(
        "--replay",
        action="append",
        default=[],
        metavar="FILE",
        help="serve the models and recorded predictions of a recording made with "
        "replicate_nb.record (repeatable)",
    )
    parser.add_argument(
        "--replay-fallback",
        action="store_const",
        const="stand-in",
        help="answer unrecorded inputs with the built-in stand-in, not a 422",
    )
    faults = parser.add_argument_group("fault injection (off by default)")
    faults.add_argument(
        "--rate-limit",
        type=float,
        metavar="PER_SECOND",
        help="prediction creates per second before 429 + Retry-After",
    )
    faults.add_argument(
        "--error-rate",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help="fraction of API requests answered with a 5xx",
    )
    faults.add_argument("--error-status", type=int, default=503, help="status of injected errors")
    faults.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay added to every API response",
    )
    faults.add_argument(
        "--queue-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="how long new predictions stay 'starting'",
    )
    return parser


def _import_model(spec: str) -> tuple[str, object]:
    """`owner/name=module:attr` -> the name and the object, imported from the current directory."""
    ref, _, target = spec.partition("=")
    module_name, _, attr = target.partition(":")
    if not ref or not module_name or not attr:
        raise ValueError(
            f"--model {spec!r}: write it as owner/name=module:attr, e.g. "
            "me/greeter=predict:Predictor"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    found: object = importlib.import_module(module_name)
    for part in attr.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise AttributeError(
                f"--model {spec!r}: module {module_name!r} has no {attr!r}"
            ) from None
    return ref, found


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the address, serve until interrupted."""
    args = _parser().parse_args(argv)
    try:
        faults = Faults(
            create_rate_limit=args.rate_limit,
            error_rate=args.error_rate,
            error_status=args.error_status,
            latency=args.latency,
            queue_delay=args.queue_delay,
        )
        sandbox = Sandbox(
            host=args.host,
            port=args.port,
            require_token=args.require_token,
            faults=faults,
            data_dir=args.data_dir,
            seed=args.seed,
            replay=args.replay or None,
            replay_fallback=args.replay_fallback,
            stream_rate=args.stream_rate,
        )
        for spec in args.model:
            ref, target = _import_model(spec)
            sandbox.register(ref, target, replace=True)
    except (ValueError, TypeError, OSError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Sandbox listening on {sandbox.base_url}", flush=True)
    sandbox.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
