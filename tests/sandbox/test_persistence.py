"""`data_dir`: a restart keeps finished predictions and files; interrupted runs become failed."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest
import replicate

from replicate_nb import sandbox
from replicate_nb.sandbox.engine import RESTART_ERROR
from replicate_nb.sandbox.errors import DatabaseUnreadable, DataDirInUse

HELLO = "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"


def test_restart_keeps_predictions_and_files(tmp_path, make_client):
    with sandbox.start(data_dir=tmp_path) as first:
        client = make_client(first.base_url)
        done = client.predictions.create(version=HELLO, input={"text": "kept"})
        done.wait()
        file = client.files.create(io.BytesIO(b"still here"), filename="k.txt")
        running = client.models.predictions.create(model="sandbox/sleep", input={"seconds": 60})
        time.sleep(0.2)
        secret = client.webhooks.default.secret().key
    with sandbox.start(data_dir=tmp_path) as second:
        client = make_client(second.base_url)
        again = client.predictions.get(done.id)
        assert again.status == "succeeded" and again.output == "hello kept"
        assert again.urls["get"].startswith(second.base_url)
        interrupted = client.predictions.get(running.id)
        assert interrupted.status == "failed"
        assert interrupted.error == RESTART_ERROR
        assert client.files.get(file.id).size == len(b"still here")
        download = httpx.get(f"{second.base_url}/v1/files/{file.id}/download")
        assert download.content == b"still here"
        assert client.webhooks.default.secret().key == secret
        assert [p.id for p in client.predictions.list().results] == [running.id, done.id]


def test_killed_server_loses_no_prediction(tmp_path, make_client):
    """Even a SIGKILL mid-prediction leaves a failed prediction behind, never a hole."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = proc.stdout.readline().split()[-1]
        client = make_client(base_url)
        running = client.models.predictions.create(model="sandbox/sleep", input={"seconds": 60})
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
    with sandbox.start(data_dir=tmp_path) as restarted:
        found = make_client(restarted.base_url).predictions.get(running.id)
        assert found.status == "failed"
        assert "stopped while this prediction was running" in found.error


def test_second_sandbox_on_a_data_dir_fails_naming_the_holder(tmp_path, make_client):
    with sandbox.start(data_dir=tmp_path) as first:
        client = make_client(first.base_url)
        running = client.models.predictions.create(model="sandbox/sleep", input={"seconds": 60})
        with pytest.raises(DataDirInUse) as info:
            sandbox.start(data_dir=tmp_path)
        assert f"pid {os.getpid()} on {socket.gethostname()}" in str(info.value)
        assert str(tmp_path) in str(info.value)
        assert client.predictions.get(running.id).status in ("starting", "processing")
        client.predictions.cancel(running.id)
    with sandbox.start(data_dir=tmp_path):  # released on stop
        pass


def test_cli_on_a_held_data_dir_exits_before_listening(tmp_path):
    with sandbox.start(data_dir=tmp_path):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "replicate_nb.sandbox",
                "--port",
                "0",
                "--data-dir",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert "Sandbox listening" not in done.stdout
    assert done.stderr.count("\n") == 1 and "in use by another sandbox (pid" in done.stderr


def _fill_and_stop(data_dir) -> None:
    with sandbox.start(data_dir=data_dir) as sb:
        with httpx.Client() as http:
            for i in range(40):
                http.post(
                    f"{sb.base_url}/v1/predictions",
                    json={"version": HELLO, "input": {"text": "x" * 2000 + str(i)}},
                    headers={"Prefer": "wait"},
                )


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_unreadable_database_fails_before_listening_in_one_line(tmp_path, damage):
    _fill_and_stop(tmp_path)
    database = tmp_path / "sandbox.sqlite3"
    if damage == "truncate":
        with database.open("r+b") as handle:
            handle.truncate(database.stat().st_size // 2)
    else:
        database.write_bytes(b"not a database at all\n" * 100)
    with pytest.raises(DatabaseUnreadable) as info:
        sandbox.start(data_dir=tmp_path)
    assert str(database) in str(info.value) and "move it aside" in str(info.value)
    done = subprocess.run(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Sandbox listening" not in done.stdout
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert str(database) in done.stderr


def test_rows_json_cannot_carry_never_break_a_read(tmp_path, make_client):
    """Rows an older sandbox stored with NaN or a lone surrogate are read, not a 500."""
    with sandbox.start(data_dir=tmp_path) as first:
        done = make_client(first.base_url).predictions.create(version=HELLO, input={"text": "a"})
        done.wait()
    database = sqlite3.connect(tmp_path / "sandbox.sqlite3")
    body = json.loads(database.execute("SELECT body FROM predictions").fetchone()[0])
    body["output"] = [float("nan"), float("inf"), "\ud800"]
    database.execute("UPDATE predictions SET body = ?", (json.dumps(body),))
    database.commit()
    database.close()
    with sandbox.start(data_dir=tmp_path) as second:
        got = httpx.get(f"{second.base_url}/v1/predictions/{done.id}")
        assert got.status_code == 200 and got.json()["output"] == [None, None, "?"]
        listed = httpx.get(f"{second.base_url}/v1/predictions")
        assert listed.status_code == 200 and listed.json()["results"][0]["id"] == done.id


def test_restart_keeps_created_models_and_trained_versions(tmp_path, make_client):
    """Created, updated and deleted models and the versions trainings made survive a restart,
    and a trained version still runs by `owner/name:version`, drawing what it learned."""
    from .test_trainings import (
        PINK,
        SMALL,
        TEAL,
        TRAINER,
        TRAINER_VERSION,
        colours,
        near,
        style_zip,
    )

    with sandbox.start(data_dir=tmp_path) as first:
        client = make_client(first.base_url)
        client.models.create(owner="sandbox", name="kept", visibility="private", hardware="cpu")
        client.models.create(owner="sandbox", name="gone", visibility="private", hardware="cpu")
        api = f"{first.base_url}/v1/models/sandbox"
        assert httpx.patch(f"{api}/kept", json={"readme": "# Kept"}).status_code == 200
        assert httpx.delete(f"{api}/gone").status_code == 204
        training = client.trainings.create(
            model=TRAINER,
            version=TRAINER_VERSION,
            input={"input_images": io.BytesIO(style_zip()), "trigger_word": "ZXQ", "steps": 50},
            destination="sandbox/kept",
        )
        while training.status not in ("succeeded", "failed", "canceled"):
            time.sleep(0.05)
            training.reload()
        assert training.status == "succeeded", training.error
        trained = training.output["version"]
    with sandbox.start(data_dir=tmp_path) as second:
        client = make_client(second.base_url)
        model = client.models.get("sandbox/kept")
        assert model.latest_version.id == trained.split(":")[1]
        assert httpx.get(f"{second.base_url}/v1/models/sandbox/kept/readme").text == "# Kept"
        with pytest.raises(replicate.exceptions.ReplicateError) as gone:
            client.models.get("sandbox/gone")
        assert gone.value.status == 404
        output = client.run(trained, input={"prompt": "a ZXQ poster", **SMALL})
        drawn = colours(output[0].read() if isinstance(output, list) else output.read())
        assert near(PINK, drawn) or near(TEAL, drawn)
        assert client.trainings.get(training.id).output["version"] == trained
