"""The store on its own (no server): round trips, strict JSON, byte bounds, one owner per dir."""

from __future__ import annotations

import json

import pytest

from replicate_nb.sandbox.errors import DatabaseUnreadable, DataDirInUse
from replicate_nb.sandbox.records import File, Prediction, now
from replicate_nb.sandbox.store import PAGE_SIZE, Store, dumps


def _prediction(i: int, *, status: str = "succeeded", output: object = "x") -> Prediction:
    return Prediction(
        id=f"p{i:04d}",
        model="replicate/hello-world",
        version="v",
        input={"text": str(i)},
        created_at=now(),
        status=status,
        output=output,
        logs="a log line\n",
    )


def _file(i: int, size: int) -> File:
    return File(
        id=f"f{i}",
        name="a.bin",
        content_type="application/octet-stream",
        size=size,
        etag="e",
        checksums={},
        metadata={},
        created_at=now(),
        expires_at=now(),
    )


def test_predictions_round_trip_and_page_newest_first():
    store = Store()
    for i in range(PAGE_SIZE + 5):
        store.save_prediction(_prediction(i))
    assert store.get_prediction("p0003").input == {"text": "3"}
    page, next_cursor, previous = store.list_predictions()
    assert [p.id for p in page[:2]] == ["p0104", "p0103"] and previous is None
    assert next_cursor is not None and len(page) == PAGE_SIZE
    assert store.count_predictions() == PAGE_SIZE + 5


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "\ud800"])
def test_nothing_json_cannot_carry_is_stored(bad):
    store = Store()
    with pytest.raises(ValueError):
        store.save_prediction(_prediction(1, output=[bad]))
    assert store.get_prediction("p0001") is None
    with pytest.raises(ValueError):
        dumps({"x": bad})


def test_prediction_bytes_are_bounded_oldest_finished_data_removed_first():
    store = Store(max_prediction_bytes=200_000)
    store.save_prediction(_prediction(0, status="processing", output="r" * 20_000))
    for i in range(1, 60):
        store.save_prediction(_prediction(i, output="o" * 20_000))
    assert store._prediction_bytes <= 200_000
    running = store.get_prediction("p0000")
    assert running.output == "r" * 20_000 and not running.data_removed  # never a running one
    oldest, newest = store.get_prediction("p0001"), store.get_prediction("p0059")
    assert oldest.data_removed and oldest.output is None and oldest.input == {}
    assert "storage bound" in oldest.logs and oldest.status == "succeeded"
    assert newest.output == "o" * 20_000 and not newest.data_removed
    assert oldest.to_json("http://x")["data_removed"] is True


def test_file_bytes_are_bounded_and_deleting_frees_room():
    store = Store(max_file_bytes=100)
    assert store.save_file(_file(1, 60), [b"a" * 60])
    assert not store.save_file(_file(2, 60), [b"b" * 60])
    assert store.get_file("f2") is None
    assert store.delete_file("f1")
    assert store.save_file(_file(2, 60), [b"b" * 60])


def test_a_data_dir_has_one_store_at_a_time_naming_its_holder(tmp_path):
    first = Store(tmp_path)
    with pytest.raises(DataDirInUse, match="pid "):
        Store(tmp_path)
    first.save_prediction(_prediction(1))
    first.close()
    again = Store(tmp_path)
    assert again.get_prediction("p0001").status == "succeeded"
    again.close()


def test_an_unreadable_database_is_refused_and_releases_the_dir(tmp_path):
    (tmp_path / "sandbox.sqlite3").write_bytes(b"garbage" * 1000)
    with pytest.raises(DatabaseUnreadable, match=r"sandbox\.sqlite3"):
        Store(tmp_path)
    (tmp_path / "sandbox.sqlite3").unlink()
    Store(tmp_path).close()  # the failed attempt did not keep the lock


def test_rows_with_nan_from_older_versions_are_repaired_on_open(tmp_path):
    store = Store(tmp_path)
    store.save_prediction(_prediction(1))
    row = _prediction(1).to_row() | {"output": float("nan")}
    with store._cursor() as cur:
        cur.execute("UPDATE predictions SET body = ?", (json.dumps(row),))
    store.close()
    reopened = Store(tmp_path)
    assert reopened.get_prediction("p0001").output is None
    assert reopened.list_predictions()[0][0].id == "p0001"
    reopened.close()
