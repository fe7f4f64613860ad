"""The sandbox's control plane: its one source of randomness and its fault settings.

Every random id, secret and drawn seed in the sandbox comes from a `RandomSource`, so a sandbox
started with `seed=` is reproducible end to end; credentials (a room's API tokens, the live view's
session cookie, the capability part of a stream URL, webhook signing secrets) come from the OS
CSPRNG instead, so that no seed can predict them. `Faults` groups the fault-injection options.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import random
import secrets
import threading
from typing import Any

MAX_LATENCY = 60.0
MAX_QUEUE_DELAY = 3600.0
_ID_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, as Replicate's ids look
CAPABILITY_CHARS = 26  # 130 bits


class RandomSource:
    """Seedable source of ids, secrets and seeds (thread-safe)."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed if seed is not None else int.from_bytes(os.urandom(8)))
        self._lock = threading.Lock()

    def prediction_id(self) -> str:
        """A 26-character lowercase base32 id, like `kr2d2jhqbsrj60cjb2vtmekgh4`."""
        with self._lock:
            return "".join(self._rng.choices(_ID_ALPHABET, k=26))

    def token(self, nbytes: int = 24) -> str:
        """URL-safe random text (file ids, webhook message ids)."""
        with self._lock:
            raw = self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def capability(self) -> str:
        """An unguessable token (130 bits) from the OS CSPRNG, never from the seed.

        It is what makes a URL its own credential (a stream URL works without the API token), so
        a sandbox started with `seed=` must not be able to predict it.
        """
        return "".join(secrets.choice(_ID_ALPHABET) for _ in range(CAPABILITY_CHARS))

    def error_id(self) -> str:
        """An id for an unexpected error, shared by its 500 answer and its log record."""
        return secrets.token_hex(6)

    def secret_key(self) -> str:
        """A webhook signing secret in Replicate's `whsec_<base64>` form, from the OS CSPRNG.

        Never from the seed: whoever knows a sandbox's seed must not be able to forge its
        webhooks.
        """
        return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()

    def seed(self) -> int:
        """A seed for a prediction whose `seed` input was left blank."""
        with self._lock:
            return self._rng.randrange(0, 2**16)

    def uniform(self) -> float:
        """A float in [0, 1), for fault injection decisions."""
        with self._lock:
            return self._rng.random()


_TOKEN_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def new_api_token() -> str:
    """A room attendee's API token, shaped like Replicate's (`r8_` and 37 letters or digits).

    From the operating system's CSPRNG, never from the seed: a token is a credential.
    """
    return "r8_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(37))


def session_id() -> str:
    """A session cookie value for the instructor's live view (CSPRNG, 256 bits)."""
    return secrets.token_urlsafe(32)


def rng_for(*parts: Any) -> random.Random:
    """A deterministic generator for a model: same parts (input values, seed) give the same stream.

    Models draw their synthetic outputs from this, never from global randomness, so the same
    input and seed give byte-identical output across processes and restarts.
    """
    return random.Random(repr(parts))


@dataclasses.dataclass(frozen=True)
class Faults:
    """Fault injection settings; all off by default.

    Attributes:
        create_rate_limit: prediction creates allowed per second; beyond it, 429 + `Retry-After`.
        error_rate: fraction (0..1) of API requests answered with `error_status` before any work.
        error_status: the status of injected server errors (503 by default, which the SDK retries
            on GETs; 500 is not retried).
        latency: seconds added before every API response.
        queue_delay: seconds a new prediction stays `starting` before it runs.
    """

    create_rate_limit: float | None = None
    error_rate: float = 0.0
    error_status: int = 503
    latency: float = 0.0
    queue_delay: float = 0.0

    def __post_init__(self) -> None:
        for name in ("create_rate_limit", "error_rate", "error_status", "latency", "queue_delay"):
            value = getattr(self, name)
            if value is None and name == "create_rate_limit":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.create_rate_limit is not None and self.create_rate_limit <= 0:
            raise ValueError(
                f"create_rate_limit must be > 0 creates per second, got {self.create_rate_limit!r}"
            )
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(
                f"error_rate must be a fraction between 0 and 1, got {self.error_rate!r}"
            )
        if not 500 <= self.error_status <= 599:
            raise ValueError(f"error_status must be a 5xx status, got {self.error_status!r}")
        if not 0 <= self.latency <= MAX_LATENCY:
            raise ValueError(f"latency must be 0 to {MAX_LATENCY} seconds, got {self.latency!r}")
        if not 0 <= self.queue_delay <= MAX_QUEUE_DELAY:
            raise ValueError(
                f"queue_delay must be 0 to {MAX_QUEUE_DELAY} seconds, got {self.queue_delay!r}"
            )

    @classmethod
    def coerce(cls, value: Faults | dict[str, Any] | None) -> Faults:
        """Accept a `Faults`, a dict of its fields, or None (no faults)."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
            if unknown:
                raise ValueError(
                    f"unknown fault option(s) {sorted(unknown)}; known: "
                    f"{[f.name for f in dataclasses.fields(cls)]}"
                )
            return cls(**value)
        raise TypeError(f"faults must be a Faults or a dict, not {type(value).__name__}")

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON object (for `/_sandbox/faults`)."""
        return dataclasses.asdict(self)
