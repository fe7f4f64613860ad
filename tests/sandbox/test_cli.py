"""`python -m replicate_nb.sandbox`: prints its address first, serves, stops on SIGINT/SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from tests.conftest import HELLO_VERSION


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("Sandbox listening on http://127.0.0.1:"), line
    return proc, line.split()[-1]


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_signal(stop):
    proc, base_url = _start()
    try:
        reply = httpx.post(
            f"{base_url}/v1/predictions",
            json={"version": HELLO_VERSION, "input": {"text": "cli"}},
            headers={"Prefer": "wait"},
        )
        assert reply.json()["output"] == "hello cli"
    finally:
        proc.send_signal(stop)
        assert proc.wait(15) == 0
        proc.stdout.close()
        proc.stderr.close()


def test_flags_reach_the_server():
    proc, base_url = _start("--require-token", "t0k", "--rate-limit", "1", "--latency", "0.01")
    try:
        assert httpx.get(f"{base_url}/v1/account").status_code == 401
        headers = {"Authorization": "Bearer t0k"}
        assert httpx.get(f"{base_url}/v1/account", headers=headers).status_code == 200
        faults = httpx.get(f"{base_url}/_sandbox/faults").json()
        assert faults["create_rate_limit"] == 1 and faults["latency"] == 0.01
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


def test_bad_flag_values_exit_with_a_message():
    done = subprocess.run(
        [sys.executable, "-m", "replicate_nb.sandbox", "--error-rate", "7"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "fraction" in done.stderr


def test_it_prints_the_base_url_of_each_client_generation():
    proc, base_url = _start()
    try:
        told = proc.stdout.readline() + proc.stdout.readline()
        assert f"replicate 1.x: REPLICATE_BASE_URL={base_url}\n" in told
        assert f"replicate 2.x and JavaScript: REPLICATE_BASE_URL={base_url}/v1 " in told
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()
