"""Which operations of Replicate's HTTP API the sandbox serves, written to its COVERAGE.md.

The operations (operationId, method, path) come from Replicate's OpenAPI description, kept as test
data in tests/data/replicate-http-api.openapi.json; the routes come from the sandbox's Starlette
app (`replicate_nb.sandbox.app.build_app`), built without serving. Paths are compared with the
`/v1` prefix added and parameter names ignored (`/predictions/{prediction_id}` is
`/v1/predictions/{id}`).

    python scripts/api_coverage.py           # rewrite COVERAGE.md
    python scripts/api_coverage.py --check   # exit 1, with a diff, if COVERAGE.md is out of date
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCUMENT = ROOT / "tests" / "data" / "replicate-http-api.openapi.json"
COVERAGE = ROOT / "replicate_nb" / "sandbox" / "COVERAGE.md"
PREFIX = "/v1"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace", "query")
HEADER = "# Replicate HTTP API operations served by the sandbox"

if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Operation:
    """One operation of the API description, and the sandbox route serving it (if any)."""

    operation_id: str
    method: str
    path: str
    served_by: str | None = None

    @property
    def implemented(self) -> bool:
        """Whether the sandbox has a route for this method and path."""
        return self.served_by is not None

    def line(self) -> str:
        """`- [x] predictions.create — POST /v1/predictions`."""
        mark = "x" if self.implemented else " "
        return f"- [{mark}] {self.operation_id} — {self.method} {self.served_by or self.path}"


def normalise(path: str) -> str:
    """A path with its parameter names erased: `/v1/predictions/{id}` -> `/v1/predictions/{}`."""
    return re.sub(r"\{[^}/]*\}", "{}", path.rstrip("/") or "/")


def operations(document: Path = DOCUMENT) -> list[tuple[str, str, str]]:
    """(operationId, METHOD, /v1 path) of every operation in the API description."""
    spec = json.loads(document.read_text(encoding="utf-8"))
    found = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                found.append((operation["operationId"], method.upper(), PREFIX + path))
    return found


def sandbox_routes() -> dict[tuple[str, str], str]:
    """(METHOD, normalised path) -> route path, for every route of a sandbox app (not served)."""
    from starlette.routing import Route

    from replicate_nb.sandbox.app import build_app
    from replicate_nb.sandbox.catalog import Catalog
    from replicate_nb.sandbox.control import Faults, RandomSource
    from replicate_nb.sandbox.engine import Engine
    from replicate_nb.sandbox.http import State
    from replicate_nb.sandbox.models import builtin_models
    from replicate_nb.sandbox.store import Store
    from replicate_nb.sandbox.webhooks import WebhookSender

    store = Store()  # in memory; no socket is opened and the lifespan never runs
    try:
        random = RandomSource(0)
        engine = Engine(
            catalog=Catalog(builtin_models()),
            store=store,
            random=random,
            faults=Faults(),
            webhooks=WebhookSender(store, random),
        )
        app = build_app(State(engine, require_token=None))
        routes = {}
        for route in app.routes:
            if isinstance(route, Route):
                for method in route.methods or {"GET"}:
                    routes[(method, normalise(route.path))] = route.path
        return routes
    finally:
        store.close()


def coverage(document: Path = DOCUMENT) -> list[Operation]:
    """Every operation of the description, sorted by operationId, with its sandbox route."""
    routes = sandbox_routes()
    return sorted(
        (
            Operation(op_id, method, path, routes.get((method, normalise(path))))
            for op_id, method, path in operations(document)
        ),
        key=lambda op: op.operation_id,
    )


def render(ops: list[Operation]) -> str:
    """The text of COVERAGE.md."""
    done = sum(op.implemented for op in ops)
    lines = [
        HEADER,
        "",
        *(op.line() for op in ops),
        "",
        f"Implemented: {done} of {len(ops)} operations.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write COVERAGE.md, or with --check compare it and exit 1 with a diff when it differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 with a diff if COVERAGE.md is out of date",
    )
    args = parser.parse_args(argv)
    text = render(coverage())
    current = COVERAGE.read_text(encoding="utf-8") if COVERAGE.exists() else ""
    relative = COVERAGE.relative_to(ROOT)
    if args.check:
        if current == text:
            print(f"{relative} is up to date.")
            return 0
        sys.stdout.writelines(
            difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"{relative} (on disk)",
                f"{relative} (expected)",
            )
        )
        print(f"\n{relative} is out of date: run python scripts/api_coverage.py", file=sys.stderr)
        return 1
    if current != text:
        COVERAGE.write_text(text, encoding="utf-8")
    print(f"wrote {relative}: {text.strip().splitlines()[-1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
