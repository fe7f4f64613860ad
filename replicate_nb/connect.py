"""Choose the backend (real API or sandbox), build the client, and keep the token secret."""

from __future__ import annotations

import replicate

_current: replicate.Client | None = None


def current_client() -> replicate.Client:
    """The client helpers use by default: the one `connect()` made, else the SDK's default."""
    return _current if _current is not None else replicate.default_client
