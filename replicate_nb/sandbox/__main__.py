"""`python -m replicate_nb.sandbox`: serve the sandbox until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

from .control import Faults
from .engine import STREAM_RATE
from .errors import StartupError
from .http import WILDCARDS, machine_names
from .room import INSTRUCTOR, LOW_CREDIT, Limits, Room, Roster
from .server import Sandbox

_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m replicate_nb.sandbox",
        description="Serve a Replicate-compatible sandbox with stand-in models. Python clients: "
        "REPLICATE_BASE_URL=http://HOST:PORT; JavaScript: baseUrl http://HOST:PORT/v1.",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (0 = a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="interface (default 127.0.0.1)")
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer requests for this Host name (repeatable; '*' = any). Always answered: "
        "localhost, loopback addresses and --host; other names get a 403 (DNS rebinding)",
    )
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
        choices=["stand-in"],
        help="stand-in: answer unrecorded inputs with the built-in stand-in of the same name, "
        "not a 422",
    )
    room = parser.add_argument_group(
        "a workshop room (one account per attendee; attendees set REPLICATE_BASE_URL and "
        "REPLICATE_API_TOKEN)"
    )
    room.add_argument(
        "--room",
        type=int,
        metavar="N",
        help="serve a room of N attendees: writes their tokens (and the instructor's) to --tokens",
    )
    room.add_argument(
        "--tokens",
        metavar="FILE",
        help="the room's tokens file (CSV username,name,token; default room-tokens.csv); an "
        "existing file is reused, rows without a token get one",
    )
    room.add_argument(
        "--throttle",
        choices=["none", "low-credit"],
        default="none",
        help="per-attendee create limit: low-credit = 6 a minute, burst 1, as Replicate limits "
        "accounts under $5 of credit",
    )
    room.add_argument(
        "--room-running",
        type=int,
        default=Limits().room_running,
        metavar="N",
        help="predictions running at once in the whole room before 429 (protects the machine)",
    )
    tls = parser.add_argument_group("TLS (serve https)")
    tls.add_argument("--tls-cert", metavar="PEM", help="certificate file")
    tls.add_argument("--tls-key", metavar="PEM", help="private key file")
    faults = parser.add_argument_group("fault injection (off by default)")
    faults.add_argument(
        "--create-rate-limit",
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


def _room(args: argparse.Namespace) -> tuple[Room | None, Path | None]:
    """The room the arguments ask for (tokens read or generated, the file written), or None."""
    if args.room is None and args.tokens is None:
        return None, None
    path = Path(args.tokens or "room-tokens.csv")
    if path.exists():
        if args.room is not None:
            raise ValueError(
                f"{path} already exists: drop --room to serve its accounts again, or remove it "
                "to make new tokens"
            )
        roster, added = Roster.read(path)
    elif args.room is None:
        raise ValueError(f"{path} does not exist: pass --room N to make tokens for N attendees")
    else:
        roster, added = Roster.generate(args.room), True
    if added:
        roster.write(path)
    limits = LOW_CREDIT if args.throttle == "low-credit" else Limits()
    return Room(roster, Limits(limits.per_minute, limits.burst, args.room_running)), path


def _shown_hosts(host: str, port: int, scheme: str) -> list[str]:
    """Addresses to tell people: the bound one, or this machine's names for 0.0.0.0 / ::."""
    if host not in WILDCARDS:
        return [f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"]
    shown = [f"[{n}]" if ":" in n else n for n in machine_names()]
    return [f"{scheme}://{n}:{port}" for n in shown] or [f"{scheme}://127.0.0.1:{port}"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, print the address, serve until interrupted."""
    args = _parser().parse_args(argv)
    try:
        room, tokens_file = _room(args)
        if args.host not in _LOOPBACK and room is None and not args.require_token:
            raise ValueError(
                f"--host {args.host} lets other machines in: serve a room (--room N or --tokens "
                "FILE) or pass --require-token, so that every request needs a token"
            )
        faults = Faults(
            create_rate_limit=args.create_rate_limit,
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
            allowed_hosts=args.allow_host,
            room=room,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            stream_rate=args.stream_rate,
        )
        for spec in args.model:
            ref, target = _import_model(spec)
            sandbox.register(ref, target, replace=True)
    except StartupError as exc:  # before listening: a busy or unreadable data directory
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except (ValueError, TypeError, OSError, ImportError, AttributeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def announce() -> None:  # once stop signals are handled: a signal sent on it stops cleanly
        print(f"Sandbox listening on {sandbox.base_url}", flush=True)
        print(
            f"  replicate 1.x: REPLICATE_BASE_URL={sandbox.base_url}\n"
            f"  replicate 2.x and JavaScript: REPLICATE_BASE_URL={sandbox.api_url} (with /v1)",
            flush=True,
        )
        if room is not None:
            attendees = len(room.roster.accounts()) - 1
            addresses = _shown_hosts(args.host, sandbox.port, sandbox.scheme)
            print(
                f"Room of {attendees} attendees; their tokens are in {tokens_file} (hand each "
                "attendee their row). Attendees set REPLICATE_BASE_URL and REPLICATE_API_TOKEN:",
                flush=True,
            )
            for address in addresses:
                print(f"  REPLICATE_BASE_URL={address}", flush=True)
            print(
                f"Instructor's live view: {addresses[0]}/_room/"
                f"?token={room.roster.token(INSTRUCTOR)}",
                flush=True,
            )

    sandbox.serve_forever(ready=announce)
    return 0


if __name__ == "__main__":
    sys.exit(main())
