"""Persistent state of the sandbox in SQLite: predictions, files, deployments and settings.

In memory when embedded; a file in `data_dir` when the sandbox should survive restarts. All access
goes through one connection guarded by a lock, so the server thread and a test thread can share it.
"""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .records import Deployment, File, Prediction

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL,
    content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS deployments (
    owner TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (owner, name));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

PAGE_SIZE = 100


def encode_cursor(direction: str, seq: int) -> str:
    """An opaque pagination cursor."""
    return base64.urlsafe_b64encode(f"{direction}:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[str, int] | None:
    """The (direction, seq) behind a cursor, or None when it is not one of ours."""
    try:
        direction, seq = base64.urlsafe_b64decode(cursor.encode()).decode().split(":")
        if direction in ("before", "after"):
            return direction, int(seq)
    except (ValueError, UnicodeError):
        pass
    return None


class Store:
    """Predictions, files, deployments and settings in one SQLite database."""

    def __init__(self, data_dir: str | Path | None = None) -> None:
        if data_dir is None:
            target = ":memory:"
        else:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            target = str(Path(data_dir) / "sandbox.sqlite3")
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL" if data_dir else "PRAGMA journal_mode=MEMORY")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # predictions
    def save_prediction(self, prediction: Prediction) -> None:
        """Insert or update a prediction."""
        body = json.dumps(prediction.to_row())
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO predictions (id, body) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (prediction.id, body),
            )

    def get_prediction(self, prediction_id: str) -> Prediction | None:
        """A prediction by id, or None."""
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT body FROM predictions WHERE id = ?", (prediction_id,)
            ).fetchone()
        return Prediction.from_row(json.loads(row[0])) if row else None

    def list_predictions(
        self,
        cursor: tuple[str, int] | None = None,
        *,
        trainings: bool = False,
        created_after: str | None = None,
        created_before: str | None = None,
    ) -> tuple[list[Prediction], str | None, str | None]:
        """One page of predictions (or of trainings), newest first, with next/previous cursors.

        `created_after`/`created_before` are timestamps in `records.now()` form (exclusive).
        """
        kind = (
            "(json_extract(body, '$.destination') IS NOT NULL) = ? "
            "AND (? IS NULL OR json_extract(body, '$.created_at') > ?) "
            "AND (? IS NULL OR json_extract(body, '$.created_at') < ?)"
        )
        params = (trainings, created_after, created_after, created_before, created_before)
        with self._cursor() as cur:
            if cursor and cursor[0] == "after":
                rows = cur.execute(
                    f"SELECT seq, body FROM predictions WHERE seq > ? AND {kind} "
                    "ORDER BY seq ASC LIMIT ?",
                    (cursor[1], *params, PAGE_SIZE + 1),
                ).fetchall()
                more_newer = len(rows) > PAGE_SIZE
                rows = list(reversed(rows[:PAGE_SIZE]))
                more_older = (
                    bool(rows)
                    and cur.execute(
                        f"SELECT 1 FROM predictions WHERE seq < ? AND {kind} LIMIT 1",
                        (rows[-1][0], *params),
                    ).fetchone()
                )
            else:
                before = cursor[1] if cursor else None
                rows = cur.execute(
                    f"SELECT seq, body FROM predictions WHERE (? IS NULL OR seq < ?) AND {kind} "
                    "ORDER BY seq DESC LIMIT ?",
                    (before, before, *params, PAGE_SIZE + 1),
                ).fetchall()
                more_older = len(rows) > PAGE_SIZE
                rows = rows[:PAGE_SIZE]
                more_newer = (
                    bool(rows)
                    and before is not None
                    and cur.execute(
                        f"SELECT 1 FROM predictions WHERE seq > ? AND {kind} LIMIT 1",
                        (rows[0][0], *params),
                    ).fetchone()
                )
        items = [Prediction.from_row(json.loads(body)) for _, body in rows]
        next_cursor = encode_cursor("before", rows[-1][0]) if more_older else None
        previous_cursor = encode_cursor("after", rows[0][0]) if more_newer else None
        return items, next_cursor, previous_cursor

    def unfinished_predictions(self) -> list[Prediction]:
        """Predictions stored as starting or processing (after a restart: interrupted)."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT body FROM predictions").fetchall()
        found = (Prediction.from_row(json.loads(body)) for (body,) in rows)
        return [p for p in found if not p.done]

    def count_predictions(self) -> int:
        """How many predictions exist."""
        with self._cursor() as cur:
            return cur.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    # files
    def save_file(self, file: File, content: bytes) -> None:
        """Store a file's metadata and bytes."""
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO files (id, body, content) VALUES (?, ?, ?)",
                (file.id, json.dumps(file.__dict__), content),
            )

    def get_file(self, file_id: str) -> File | None:
        """A file's metadata, or None."""
        with self._cursor() as cur:
            row = cur.execute("SELECT body FROM files WHERE id = ?", (file_id,)).fetchone()
        return File(**json.loads(row[0])) if row else None

    def file_content(self, file_id: str) -> bytes | None:
        """A file's bytes, or None."""
        with self._cursor() as cur:
            row = cur.execute("SELECT content FROM files WHERE id = ?", (file_id,)).fetchone()
        return bytes(row[0]) if row else None

    def list_files(self) -> list[File]:
        """All files, newest first."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT body FROM files ORDER BY seq DESC").fetchall()
        return [File(**json.loads(body)) for (body,) in rows]

    def delete_file(self, file_id: str) -> bool:
        """Delete a file; False when there was none."""
        with self._cursor() as cur:
            return cur.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount > 0

    # deployments
    def save_deployment(self, deployment: Deployment) -> None:
        """Insert or replace a deployment."""
        with self._cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO deployments (owner, name, body) VALUES (?, ?, ?)",
                (deployment.owner, deployment.name, json.dumps(deployment.__dict__)),
            )

    def get_deployment(self, owner: str, name: str) -> Deployment | None:
        """A deployment, or None."""
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT body FROM deployments WHERE owner = ? AND name = ?", (owner, name)
            ).fetchone()
        return Deployment(**json.loads(row[0])) if row else None

    def list_deployments(self) -> list[Deployment]:
        """All deployments, by name."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT body FROM deployments ORDER BY owner, name").fetchall()
        return [Deployment(**json.loads(body)) for (body,) in rows]

    def delete_deployment(self, owner: str, name: str) -> bool:
        """Delete a deployment; False when there was none."""
        with self._cursor() as cur:
            return (
                cur.execute(
                    "DELETE FROM deployments WHERE owner = ? AND name = ?", (owner, name)
                ).rowcount
                > 0
            )

    # settings
    def setting(self, key: str, default: Any = None) -> Any:
        """A stored setting (JSON value)."""
        with self._cursor() as cur:
            row = cur.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_setting(self, key: str, value: Any) -> None:
        """Store a setting."""
        with self._cursor() as cur:
            cur.execute(
                "INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                (key, json.dumps(value)),
            )
