"""Persistent state of the sandbox in SQLite: predictions, files, deployments and settings.

In memory when embedded; a file in `data_dir` when the sandbox should survive restarts. All access
goes through one connection guarded by a lock, so the server thread and a test thread can share it.

A data directory is served by one sandbox at a time: `sandbox.lock` (an OS file lock, released
even when the process is killed) guards it, and `sandbox.owner` names the holder. The database is
checked before anything is served. What is stored is always JSON a response can carry, and the
stored predictions are bounded in bytes (`MAX_PREDICTION_BYTES`): past it, the oldest finished
predictions lose their input, output and logs and say so with `data_removed: true`, as
Replicate's do when their data expires. Running predictions are never touched.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock

from .errors import DatabaseUnreadable, DataDirInUse
from .records import Deployment, File, Prediction, now

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, body TEXT NOT NULL,
    content BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS file_chunks (
    file_id TEXT NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (file_id, seq));
CREATE TABLE IF NOT EXISTS deployments (
    owner TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (owner, name));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

PAGE_SIZE = 100
MAX_PREDICTION_BYTES = 256 * 2**20
MAX_FILE_BYTES_TOTAL = 2 * 2**30
_ESCAPED_SURROGATE = re.compile(r"\\ud[89a-f]", re.IGNORECASE)


def dumps(value: Any) -> str:
    """JSON that every response can carry: no NaN or infinity, no lone surrogates.

    Raises:
        ValueError: the value holds one of those (UnicodeEncodeError is a ValueError).
    """
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")
    return text


def printable(text: str) -> str:
    """`text` with lone surrogates written as `\\udxxx`, so that it can be sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _loads(body: str) -> Any:
    """Read a stored body; rows written before the strict `dumps` are repaired, never fatal."""
    value = json.loads(body, parse_constant=lambda _: None)
    if _ESCAPED_SURROGATE.search(body):
        text = json.dumps(value, ensure_ascii=False).encode("utf-8", "replace").decode("utf-8")
        value = json.loads(text)
    return value


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

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        max_prediction_bytes: int = MAX_PREDICTION_BYTES,
        max_file_bytes: int = MAX_FILE_BYTES_TOTAL,
    ) -> None:
        """Open (or create) the store.

        Raises:
            DataDirInUse: another sandbox serves `data_dir`.
            DatabaseUnreadable: its `sandbox.sqlite3` is corrupt or not a database.
        """
        self._dir_lock: filelock.BaseFileLock | None = None
        self.max_prediction_bytes = max_prediction_bytes
        self.max_file_bytes = max_file_bytes
        if data_dir is None:
            target = ":memory:"
        else:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            self._dir_lock = _lock_dir(Path(data_dir))
            target = str(Path(data_dir) / "sandbox.sqlite3")
        try:
            self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
            journal = "WAL" if data_dir else "MEMORY"
            self._db.execute(f"PRAGMA journal_mode={journal}")
            # WAL + NORMAL: a commit survives the process being killed (not a power cut), and
            # a prediction costs no fsync: the sandbox's data is worth that trade.
            self._db.execute("PRAGMA synchronous=NORMAL")
            problems = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError("; ".join(problems[:3]))
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            self._release_dir()
            raise DatabaseUnreadable(target, str(exc)) from None
        self._lock = threading.Lock()
        self._repair()
        self._prediction_bytes = self._sum("predictions", "LENGTH(body)")
        self._file_bytes = self._sum("file_chunks", "LENGTH(data)")

    def _repair(self) -> None:
        """Rewrite rows an older sandbox stored with NaN or infinity, which SQL cannot read, and
        move files it stored in one piece (`files.content`) to `file_chunks`."""
        with _transaction(self._db.cursor()) as cur:
            cur.execute(
                "INSERT OR IGNORE INTO file_chunks SELECT id, 0, content FROM files "
                "WHERE LENGTH(content) > 0"
            )
            cur.execute("UPDATE files SET content = x'' WHERE LENGTH(content) > 0")
        broken = self._db.execute(
            "SELECT seq, body FROM predictions WHERE NOT json_valid(body)"
        ).fetchall()
        self._db.executemany(
            "UPDATE predictions SET body = ? WHERE seq = ?",
            [(dumps(_loads(body)), seq) for seq, body in broken],
        )

    def _sum(self, table: str, expression: str) -> int:
        return self._db.execute(f"SELECT COALESCE(SUM({expression}), 0) FROM {table}").fetchone()[0]

    def _release_dir(self) -> None:
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    @contextmanager
    def _cursor(self) -> Iterator[sqlite3.Cursor]:
        with self._lock:
            yield self._db.cursor()

    def close(self) -> None:
        """Close the database and release the data directory."""
        with self._lock:
            self._db.close()
            self._release_dir()

    # predictions
    def save_prediction(self, prediction: Prediction) -> None:
        """Insert or update a prediction (its values must pass `dumps`)."""
        body = dumps(prediction.to_row())
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO predictions (id, body) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET body = excluded.body",
                (prediction.id, body),
            )
            self._prediction_bytes += len(body)  # an over-estimate on updates: see _evict
            if self._prediction_bytes > self.max_prediction_bytes:
                self._evict(cur)

    def _evict(self, cur: sqlite3.Cursor) -> None:
        """Remove the data of the oldest finished predictions until 90% of the bound is used."""
        self._prediction_bytes = self._sum("predictions", "LENGTH(body)")
        target = self.max_prediction_bytes * 9 // 10
        rows = cur.execute("SELECT seq, body FROM predictions ORDER BY seq ASC")
        updates = []
        for seq, body in rows:
            if self._prediction_bytes <= target:
                break
            prediction = Prediction.from_row(_loads(body))
            if not prediction.done or prediction.data_removed:
                continue
            prediction.remove_data(now())
            smaller = dumps(prediction.to_row())
            updates.append((smaller, seq))
            self._prediction_bytes -= len(body) - len(smaller)
        cur.executemany("UPDATE predictions SET body = ? WHERE seq = ?", updates)

    def get_prediction(self, prediction_id: str) -> Prediction | None:
        """A prediction by id, or None."""
        with self._cursor() as cur:
            row = cur.execute(
                "SELECT body FROM predictions WHERE id = ?", (prediction_id,)
            ).fetchone()
        return Prediction.from_row(_loads(row[0])) if row else None

    def list_predictions(
        self,
        cursor: tuple[str, int] | None = None,
        *,
        trainings: bool = False,
        created_after: str | None = None,
        created_before: str | None = None,
        source: str | None = None,
        owner: str | None = None,
    ) -> tuple[list[Prediction], str | None, str | None]:
        """One page of predictions (or of trainings), newest first, with next/previous cursors.

        `created_after` (inclusive) and `created_before` (exclusive) are timestamps written as
        `records.now()` writes them, so that they compare as strings; `source` is "api" or "web".
        With `owner`, only that room account's (pages and cursors included).
        """
        where = "(json_extract(body, '$.destination') IS NOT NULL) = ?"
        params: list[object] = [trainings]
        for clause, value in (
            ("json_extract(body, '$.created_at') >= ?", created_after),
            ("json_extract(body, '$.created_at') < ?", created_before),
            ("coalesce(json_extract(body, '$.source'), 'api') = ?", source),
            ("json_extract(body, '$.owner') = ?", owner),
        ):
            if value is not None:
                where += f" AND {clause}"
                params.append(value)

        def rows_where(condition: str, order: str, *args: object) -> list[tuple[int, str]]:
            query = f"SELECT seq, body FROM predictions WHERE {where} AND {condition} {order}"
            return cur.execute(query, (*params, *args)).fetchall()

        with self._cursor() as cur:
            if cursor and cursor[0] == "after":
                rows = rows_where("seq > ?", "ORDER BY seq ASC LIMIT ?", cursor[1], PAGE_SIZE + 1)
                more_newer = len(rows) > PAGE_SIZE
                rows = list(reversed(rows[:PAGE_SIZE]))
                more_older = bool(rows) and bool(rows_where("seq < ?", "LIMIT 1", rows[-1][0]))
            else:
                before = cursor[1] if cursor else None
                rows = rows_where(
                    "(? IS NULL OR seq < ?)",
                    "ORDER BY seq DESC LIMIT ?",
                    before,
                    before,
                    PAGE_SIZE + 1,
                )
                more_older = len(rows) > PAGE_SIZE
                rows = rows[:PAGE_SIZE]
                more_newer = (
                    bool(rows)
                    and before is not None
                    and bool(rows_where("seq > ?", "LIMIT 1", rows[0][0]))
                )
        items = [Prediction.from_row(_loads(body)) for _, body in rows]
        next_cursor = encode_cursor("before", rows[-1][0]) if more_older else None
        previous_cursor = encode_cursor("after", rows[0][0]) if more_newer else None
        return items, next_cursor, previous_cursor

    def unfinished_predictions(self) -> list[Prediction]:
        """Predictions stored as starting or processing (after a restart: interrupted)."""
        with self._cursor() as cur:
            rows = cur.execute("SELECT body FROM predictions").fetchall()
        found = (Prediction.from_row(_loads(body)) for (body,) in rows)
        return [p for p in found if not p.done]

    def count_predictions(self) -> int:
        """How many predictions exist."""
        with self._cursor() as cur:
            return cur.execute("SELECT COUNT(*) FROM predictions").fetchone()[0]

    # files
    def save_file(self, file: File, chunks: list[bytes]) -> bool:
        """Store a file's metadata and bytes; False (nothing stored) when over the total bound.

        The bytes are stored piece by piece as they came (`chunks`), and each piece is dropped
        from the list once stored: an upload is never held twice, in the list and in SQLite.
        """
        size = sum(map(len, chunks))
        with self._cursor() as cur:
            if self._file_bytes + size > self.max_file_bytes:
                return False
            with _transaction(cur):  # all of the file or none of it
                cur.execute(
                    "INSERT INTO files (id, body, content) VALUES (?, ?, x'')",
                    (file.id, dumps(file.__dict__)),
                )
                for seq, chunk in enumerate(chunks):
                    chunks[seq] = b""
                    cur.execute(
                        "INSERT INTO file_chunks (file_id, seq, data) VALUES (?, ?, ?)",
                        (file.id, seq, chunk),
                    )
                    del chunk
            self._file_bytes += size
        return True

    def get_file(self, file_id: str) -> File | None:
        """A file's metadata, or None."""
        with self._cursor() as cur:
            row = cur.execute("SELECT body FROM files WHERE id = ?", (file_id,)).fetchone()
        return File(**json.loads(row[0])) if row else None

    def file_content(self, file_id: str) -> bytes | None:
        """A file's bytes, or None."""
        with self._cursor() as cur:
            if cur.execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone() is None:
                return None
            rows = cur.execute(
                "SELECT data FROM file_chunks WHERE file_id = ? ORDER BY seq", (file_id,)
            ).fetchall()
        return b"".join(data for (data,) in rows)

    def list_files(self, *, owner: str | None = None) -> list[File]:
        """All files (or a room account's), newest first."""
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT body FROM files WHERE (? IS NULL OR json_extract(body, '$.owner') = ?) "
                "ORDER BY seq DESC",
                (owner, owner),
            ).fetchall()
        return [File(**json.loads(body)) for (body,) in rows]

    def delete_file(self, file_id: str) -> bool:
        """Delete a file; False when there was none."""
        with self._cursor() as cur:
            if cur.execute("DELETE FROM files WHERE id = ?", (file_id,)).rowcount == 0:
                return False
            size = cur.execute(
                "SELECT COALESCE(SUM(LENGTH(data)), 0) FROM file_chunks WHERE file_id = ?",
                (file_id,),
            ).fetchone()[0]
            cur.execute("DELETE FROM file_chunks WHERE file_id = ?", (file_id,))
            self._file_bytes -= size
        return True

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

    def list_deployments(self, *, owner: str | None = None) -> list[Deployment]:
        """All deployments (or one account's), by name."""
        with self._cursor() as cur:
            rows = cur.execute(
                "SELECT body FROM deployments WHERE (? IS NULL OR owner = ?) ORDER BY owner, name",
                (owner, owner),
            ).fetchall()
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


@contextmanager
def _transaction(cur: sqlite3.Cursor) -> Iterator[sqlite3.Cursor]:
    """One transaction on an autocommit connection: committed, or rolled back on any error."""
    cur.execute("BEGIN")
    try:
        yield cur
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def _lock_dir(data_dir: Path) -> filelock.BaseFileLock:
    """Hold `data_dir`'s lock for this sandbox, or say who holds it."""
    lock = filelock.FileLock(data_dir / "sandbox.lock")
    owner = data_dir / "sandbox.owner"
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        try:
            holder = owner.read_text(encoding="utf-8").strip()
        except OSError:
            holder = "holder unknown"
        raise DataDirInUse(str(data_dir), holder or "holder unknown") from None
    owner.write_text(
        f"pid {os.getpid()} on {socket.gethostname()}, since {now()}\n", encoding="utf-8"
    )
    return lock
