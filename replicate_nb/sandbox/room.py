"""A workshop room: one account per token, per-attendee and room-wide limits, live activity.

`Roster` is the room's accounts (an instructor and the attendees) and the tokens file the
instructor hands out; `Room` adds what a shared sandbox needs: each attendee's create throttle
(as Replicate throttles low-credit accounts), a cap on predictions running room-wide, and the
activity the instructor's live view shows (counts, failures, a 422 streak, latest output, cost).
HTTP-free: routes call it; it raises the sandbox's API errors.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import hashlib
import io
import os
import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import _datauri
from ..costs import estimate
from .control import new_api_token, session_id
from .engine import TokenBucket
from .errors import RateLimited
from .records import Prediction

INSTRUCTOR = "instructor"
"""The instructor's username in every room."""

STUCK_AFTER = 3
"""Consecutive 422s (input the model refused) after which an attendee shows as stuck."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,38}$")
_FIELDS = ("username", "name", "token")


@dataclasses.dataclass(frozen=True)
class Account:
    """Who a token belongs to: a username, a display name, and whether it is the instructor."""

    username: str
    name: str
    instructor: bool = False

    def to_json(self) -> dict[str, Any]:
        """The API's account object (`GET /v1/account`)."""
        return {
            "type": "user",
            "username": self.username,
            "name": self.name,
            "github_url": None,
        }


class Roster:
    """The room's accounts by token; tokens are compared by their hash, never stored in logs."""

    def __init__(self, entries: Iterable[tuple[Account, str]]) -> None:
        self._by_hash: dict[bytes, Account] = {}
        self._entries: list[tuple[Account, str]] = []
        for account, token in entries:
            digest = _digest(token)
            if digest in self._by_hash:
                raise ValueError(f"two accounts share a token ({account.username!r})")
            if any(a.username == account.username for a, _ in self._entries):
                raise ValueError(f"username {account.username!r} appears twice")
            self._by_hash[digest] = account
            self._entries.append((account, token))
        if not any(a.instructor for a, _ in self._entries):
            raise ValueError(f"a room needs an account named {INSTRUCTOR!r}")

    @classmethod
    def generate(cls, attendees: int) -> Roster:
        """An instructor and `attendees` attendees (attendee-01, ...), each with a new token."""
        if not 1 <= attendees <= 1000:
            raise ValueError(f"a room has 1 to 1000 attendees, got {attendees}")
        width = max(2, len(str(attendees)))
        entries = [(Account(INSTRUCTOR, "Instructor", instructor=True), new_api_token())]
        for n in range(1, attendees + 1):
            number = str(n).zfill(width)
            entries.append((Account(f"attendee-{number}", f"Attendee {number}"), new_api_token()))
        return cls(entries)

    @classmethod
    def read(cls, path: str | Path) -> tuple[Roster, bool]:
        """Read a tokens file (CSV: username,name,token); rows without a token get one.

        Returns the roster and whether tokens were added (then write it back). An instructor
        row is added when the file has none.
        """
        text = Path(path).read_text(encoding="utf-8")
        rows = list(csv.DictReader(io.StringIO(text)))
        if rows and set(_FIELDS) - set(rows[0]):
            raise ValueError(f"{path}: the header must be {','.join(_FIELDS)}")
        entries, added = [], False
        for line, row in enumerate(rows, start=2):
            username = (row.get("username") or "").strip()
            if not _USERNAME.match(username):
                raise ValueError(
                    f"{path}, line {line}: username {username!r} must be lowercase letters, "
                    "digits, '-' or '_' (as JupyterHub names users)"
                )
            token = (row.get("token") or "").strip()
            if not token:
                token, added = new_api_token(), True
            name = (row.get("name") or "").strip() or username
            entries.append((Account(username, name, username == INSTRUCTOR), token))
        if not any(a.instructor for a, _ in entries):
            entries.insert(0, (Account(INSTRUCTOR, "Instructor", True), new_api_token()))
            added = True
        return cls(entries), added

    def write(self, path: str | Path) -> None:
        """Write the tokens file the instructor hands out, readable by its owner only."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(_FIELDS)
        for account, token in self._entries:
            writer.writerow((account.username, account.name, token))
        target = Path(path)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(out.getvalue())
        target.chmod(0o600)

    def account(self, token: str) -> Account | None:
        """The account of a token, or None."""
        return self._by_hash.get(_digest(token))

    def accounts(self) -> list[Account]:
        """Every account, instructor first."""
        return [a for a, _ in self._entries]

    def token(self, username: str) -> str:
        """The token of `username` (for the CLI's start message and for tests)."""
        for account, token in self._entries:
            if account.username == username:
                return token
        raise KeyError(username)

    def __repr__(self) -> str:
        return f"<Roster {len(self._entries)} accounts, tokens=[secure]>"


def first_image(output: Any) -> str | None:
    """The first `data:image/...` URI in an output (a thumbnail for the live view), or None."""
    items = output if isinstance(output, list) else [output]
    for item in items:
        if _datauri.is_data_uri(item) and _datauri.media_type(item).startswith("image/"):
            return item
    return None


def _text(output: Any) -> str:
    if isinstance(output, list) and all(isinstance(i, str) for i in output):
        text = "".join(output)
    else:
        text = output if isinstance(output, str) else repr(output)
    text = " ".join(text.split())
    return text if len(text) <= 120 else text[:119] + "…"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


@dataclasses.dataclass(frozen=True)
class Limits:
    """Per-attendee create throttle and a room-wide cap on running predictions.

    Attributes:
        per_minute: prediction creates each account may make per minute (None: no limit).
        burst: creates allowed at once before the per-minute rate applies.
        room_running: predictions running at once in the whole room; beyond it, 429.
    """

    per_minute: float | None = None
    burst: int = 1
    room_running: int = 120

    def __post_init__(self) -> None:
        if self.per_minute is not None and not self.per_minute > 0:
            raise ValueError(f"per_minute must be > 0, got {self.per_minute!r}")
        if self.burst < 1:
            raise ValueError(f"burst must be at least 1, got {self.burst!r}")
        if self.room_running < 1:
            raise ValueError(f"room_running must be at least 1, got {self.room_running!r}")


LOW_CREDIT = Limits(per_minute=6, burst=1)
"""Replicate's throttle for accounts with less than $5 of credit: 6 creates a minute, burst 1."""


@dataclasses.dataclass
class Activity:
    """What the live view shows about one account."""

    account: Account
    predictions: int = 0
    running: set[str] = dataclasses.field(default_factory=set)
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    refused: int = 0
    streak_422: int = 0
    last_error: str | None = None
    latest: str | None = None  # id of the newest finished prediction with output
    latest_model: str | None = None
    latest_image: bool = False
    latest_text: str | None = None
    dollars: float = 0.0
    updated: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """One row of the live view."""
        return {
            "username": self.account.username,
            "name": self.account.name,
            "instructor": self.account.instructor,
            "predictions": self.predictions,
            "running": len(self.running),
            "succeeded": self.succeeded,
            "failed": self.failed,
            "canceled": self.canceled,
            "refused": self.refused,
            "stuck": self.streak_422 >= STUCK_AFTER,
            "streak_422": self.streak_422,
            "last_error": self.last_error,
            "latest": self.latest,
            "latest_model": self.latest_model,
            "latest_image": self.latest_image,
            "latest_text": self.latest_text,
            "dollars": self.dollars,
            "updated": self.updated,
        }


class Room:
    """A room's roster, limits, live activity and the instructor's view sessions."""

    def __init__(self, roster: Roster, limits: Limits | None = None) -> None:
        self.roster = roster
        self.limits = limits or Limits()
        self._lock = threading.Lock()
        self._buckets: dict[str, TokenBucket] = {}
        self._activity = {a.username: Activity(a) for a in roster.accounts()}
        self._owner_of: dict[str, str] = {}
        self._sessions: set[str] = set()
        self.changed_at = time.time()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    # limits
    def admit(self, account: Account, *, running: int) -> None:
        """Let a create through, or raise `RateLimited` (the attendee's throttle, the room cap)."""
        if running >= self.limits.room_running:
            raise RateLimited(
                1,
                detail=(
                    f"Request was throttled. The workshop sandbox is running "
                    f"{running} predictions, its limit for the whole room; try again in a "
                    "second."
                ),
            )
        if self.limits.per_minute is None:
            return
        with self._lock:
            bucket = self._buckets.get(account.username)
            if bucket is None:
                bucket = self._buckets[account.username] = TokenBucket(
                    self.limits.per_minute / 60, capacity=self.limits.burst
                )
            wait = bucket.admit()
        if wait:
            seconds = max(1, round(wait))
            raise RateLimited(
                wait,
                detail=(
                    "Request was throttled. Your rate limit for creating predictions is "
                    f"{self.limits.per_minute:g} requests per minute with a burst of "
                    f"{self.limits.burst} requests in this workshop room (as Replicate limits "
                    f"accounts with less than $5.0 in credit). Your rate limit resets in "
                    f"~{seconds}s."
                ),
            )

    # activity
    def created(self, account: Account, prediction: Prediction) -> None:
        """A prediction was created for `account`."""
        with self._lock:
            row = self._activity[account.username]
            row.predictions += 1
            row.running.add(prediction.id)
            row.streak_422 = 0
            self._owner_of[prediction.id] = account.username
        self._touch(row)

    def refused(self, account: Account, status: int, detail: str) -> None:
        """A create was refused (422: input the model does not take; 429: throttled)."""
        with self._lock:
            row = self._activity[account.username]
            row.refused += 1
            row.last_error = f"{status}: {detail}"[:300]
            if status == 422:
                row.streak_422 += 1
        self._touch(row)

    def finished(self, prediction: Prediction) -> None:
        """A prediction reached a terminal status (called by the engine)."""
        with self._lock:
            username = self._owner_of.pop(prediction.id, None)
            row = self._activity.get(username or "")
            if row is None:
                return
            row.running.discard(prediction.id)
            if prediction.status == "succeeded":
                row.succeeded += 1
                if prediction.output is not None:
                    row.latest, row.latest_model = prediction.id, prediction.model
                    row.latest_image = first_image(prediction.output) is not None
                    row.latest_text = None if row.latest_image else _text(prediction.output)
            elif prediction.status == "failed":
                row.failed += 1
                row.last_error = f"failed: {prediction.error}"[:300]
            else:
                row.canceled += 1
            row.dollars += estimate(prediction.to_row()).dollars
        self._touch(row)

    def running(self) -> list[str]:
        """Ids of every prediction running in the room."""
        with self._lock:
            return [pid for row in self._activity.values() for pid in row.running]

    def snapshot(self) -> dict[str, Any]:
        """The live view's data: one row per account, and when it last changed."""
        with self._lock:
            rows = [row.to_json() for row in self._activity.values()]
        return {"changed_at": self.changed_at, "sent_at": time.time(), "rows": rows}

    def _touch(self, row: Activity) -> None:
        row.updated = self.changed_at = time.time()
        with self._lock:
            waiters = list(self._waiters)
        for loop, event in waiters:
            loop.call_soon_threadsafe(event.set)

    async def wait_for_change(self, timeout: float) -> None:
        """Return when activity changes, or after `timeout` seconds."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            self._waiters.append(entry)
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._lock:
                self._waiters.remove(entry)

    # the instructor's sessions (the live view's cookie)
    def open_session(self) -> str:
        """A new session id for the instructor's browser."""
        value = session_id()
        with self._lock:
            self._sessions.add(value)
        return value

    def has_session(self, value: str | None) -> bool:
        """Whether a cookie value is one of the instructor's sessions."""
        if not value:
            return False
        with self._lock:
            return value in self._sessions
