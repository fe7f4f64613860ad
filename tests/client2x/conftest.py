"""The sandbox driven by the next client generation, `replicate` 2.x, in strict response validation.

These tests run in `.venv-2x/` (the Makefile builds it: `replicate==2.0.0b4`), with
`--confcutdir=tests/client2x` (tests/conftest.py is for 1.x); with the kit's 1.x
client installed they are not collected.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib.metadata import version

import pytest

from replicate_nb import sandbox

if not version("replicate").startswith("2."):
    collect_ignore_glob = ["test_*.py"]

TOKEN = "sandbox-token-for-2x"  # any token: the sandbox is not in token mode here


@pytest.fixture(scope="session")
def sb2() -> Iterator[sandbox.Sandbox]:
    """One sandbox for the 2.x tests; the environment points module-level calls at it."""
    with sandbox.start(keepalive=0.2) as server:
        saved = {k: os.environ.get(k) for k in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL")}
        os.environ["REPLICATE_API_TOKEN"] = TOKEN
        os.environ["REPLICATE_BASE_URL"] = f"{server.base_url}/v1"  # 2.x: /v1 included
        os.environ["REPLICATE_POLL_INTERVAL"] = "0.05"
        try:
            yield server
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


@pytest.fixture
def r2(sb2: sandbox.Sandbox) -> Iterator[object]:
    """A 2.x client on the sandbox, validating every response against its models."""
    import replicate

    client = replicate.Replicate(
        base_url=f"{sb2.base_url}/v1", bearer_token=TOKEN, _strict_response_validation=True
    )
    yield client
    client.close()
