"""The sandbox's API errors, each rendered by the app as `application/problem+json`.

ProblemError                 status, title, detail (what went wrong and what to do)
├── BadRequest               400 (a missing or malformed query parameter)
├── Unauthenticated          401
├── Forbidden                403 (not yours; a foreign Host or Origin)
├── NotFound                 404
│   └── ModelNeedsVersion    404, `owner/name` of a model that is not official
├── MethodNotAllowed         405
├── Conflict                 409
├── PayloadTooLarge          413
├── UnsupportedMediaType     415
├── InvalidRequest           422 (a malformed request body or header)
├── InvalidInput             422 with `invalid_fields`
├── InvalidVersion           422
├── RateLimited              429 with `Retry-After`
├── InjectedFault            5xx, only under fault injection
└── InternalError            500, an unexpected error (a bug), logged with its traceback

StartupError (RuntimeError)  the sandbox cannot start; raised before it listens
├── DataDirInUse             another sandbox holds the data directory's lock
└── DatabaseUnreadable       `sandbox.sqlite3` is corrupt, truncated or not a database

ModelOutputError (ValueError)   a model's output or log that JSON cannot carry
WorkersExhausted (RuntimeError) every worker thread is held by cancelled, uninterruptible code
"""

from __future__ import annotations

import math
from typing import Any


class ProblemError(Exception):
    """An API error with an RFC 7807 body; subclasses set `status` and `title`."""

    status: int = 400
    title: str = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    def to_json(self) -> dict[str, Any]:
        """The problem+json body."""
        return {"title": self.title, "detail": self.detail, "status": self.status, **self.extra}

    def headers(self) -> dict[str, str]:
        """Extra response headers (e.g. `Retry-After`)."""
        return {}


class BadRequest(ProblemError):
    """A query parameter that is missing or malformed (what the search endpoint answers)."""

    status = 400
    title = "Bad request"


class Unauthenticated(ProblemError):
    """No token, or the wrong one, when the sandbox requires a token."""

    status = 401
    title = "Unauthenticated"

    def __init__(self, detail: str = "You did not pass a valid authentication token") -> None:
        super().__init__(detail)


class Forbidden(ProblemError):
    """Not yours (another's resource, a room's control plane), or a foreign Host or Origin."""

    status = 403
    title = "Forbidden"


class NotFound(ProblemError):
    """An unknown route or resource."""

    status = 404
    title = "Not found"


class ModelNeedsVersion(NotFound):
    """A model named without a version that is not official: Replicate runs it only by version.

    The detail starts with the real API's text for this case and then names the ref to use.
    """

    def __init__(self, ref: str, pinned: str) -> None:
        super().__init__(
            f"The requested resource could not be found. {ref} is not an official model, so "
            f"only a version of it runs: use {pinned!r}. (Only official models run by name; "
            "find a model's version with models.get(...).latest_version.id or on its API tab.)"
        )


class MethodNotAllowed(ProblemError):
    """A known path with a method it does not serve."""

    status = 405
    title = "Method not allowed"


class Conflict(ProblemError):
    """A resource that already exists, or an operation its state forbids."""

    status = 409
    title = "Conflict"


class PayloadTooLarge(ProblemError):
    """A request body or file over the size limit.

    The rest of such a body is not read, so the answer closes the connection
    (`Connection: close`) instead of leaving the server to drain it.
    """

    status = 413
    title = "Payload too large"

    def headers(self) -> dict[str, str]:
        """`Connection: close`: the unread rest of the body ends with the connection."""
        return {"Connection": "close"}


class UnsupportedMediaType(ProblemError):
    """A body in a content type the endpoint does not read."""

    status = 415
    title = "Unsupported media type"


class InvalidRequest(ProblemError):
    """A body, query or header that cannot be understood."""

    status = 422
    title = "Invalid request"


class InvalidInput(ProblemError):
    """Prediction input that does not match the model's input schema."""

    status = 422
    title = "Input validation failed"

    def __init__(self, detail: str, invalid_fields: list[dict[str, Any]]) -> None:
        super().__init__(detail, invalid_fields=invalid_fields)


class InvalidVersion(ProblemError):
    """A version that does not exist."""

    status = 422
    title = "Invalid version or not permitted"

    def __init__(self, version: str) -> None:
        super().__init__(
            f"The specified version {version!r} does not exist (or perhaps you don't have "
            "permission to use it?). List a model's versions with "
            "GET /v1/models/{owner}/{name}/versions."
        )


class RateLimited(ProblemError):
    """Too many prediction creates (fault injection, or a room's limits)."""

    status = 429
    title = "Too many requests"

    def __init__(self, retry_after: float, *, detail: str | None = None) -> None:
        self.retry_after = max(1, math.ceil(retry_after))
        super().__init__(
            detail
            or f"Request was throttled. Expected available in {self.retry_after} second"
            f"{'s' if self.retry_after != 1 else ''}.",
            retry_after=self.retry_after,
        )

    def headers(self) -> dict[str, str]:
        """`Retry-After` in whole seconds, as Replicate sends it."""
        return {"Retry-After": str(self.retry_after)}


class InjectedFault(ProblemError):
    """A server error injected on purpose; no work was done, so a retry is safe."""

    title = "Service unavailable (injected fault)"

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(
            "The sandbox injected this error on purpose (faults.error_rate); nothing was changed. "
            "Retry the request."
        )


class InternalError(ProblemError):
    """An unexpected error inside the sandbox: a bug, answered as problem+json, never a crash.

    The answer names only an error id; the exception and its traceback go to the sandbox's log
    under that id (as Jupyter Server does), since an exception's text can quote what it should
    not (paths, inputs, other accounts' data).
    """

    status = 500
    title = "Internal error"

    def __init__(self, error_id: str) -> None:
        super().__init__(
            f"The sandbox hit an unexpected error (error id {error_id}). The connection stays "
            "usable; please report this with the sandbox's log, which has the details under "
            "that id."
        )


class StartupError(RuntimeError):
    """The sandbox cannot start; the message says why and what to do (raised before listening)."""


class DataDirInUse(StartupError):
    """Another sandbox (this process or another) serves the same data directory."""

    def __init__(self, data_dir: str, holder: str) -> None:
        super().__init__(
            f"the data directory {data_dir} is in use by another sandbox ({holder}); stop that "
            "sandbox first, or pass another data_dir / --data-dir"
        )


class DatabaseUnreadable(StartupError):
    """The data directory's database cannot be read (corrupt, truncated or not SQLite)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(
            f"{path} cannot be read ({reason}); move it aside (e.g. rename it to "
            f"{path}.broken) to start with an empty sandbox, or restore it from a backup"
        )


class ModelOutputError(ValueError):
    """A model returned or streamed a value JSON cannot carry (NaN, infinity, a lone surrogate)."""

    log_traceback = False  # the message says all; the prediction's logs stay the model's own


class WorkersExhausted(RuntimeError):
    """No worker thread is free: all are held by cancelled code that cannot be interrupted."""
