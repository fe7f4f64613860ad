"""`data_dir`: a restart keeps finished predictions and files; interrupted runs become failed."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time

import httpx

from replicate_nb import sandbox
from replicate_nb.sandbox.engine import RESTART_ERROR

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
