"""`python -m replicate_nb.sandbox`: prints its address first, serves, stops on SIGINT/SIGTERM."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys

import httpx
import pytest

from replicate_nb.sandbox.__main__ import _parser
from replicate_nb.sandbox.control import Faults
from tests.conftest import HELLO_VERSION, start_cli


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_signal(stop):
    proc, base_url = start_cli()
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


@pytest.mark.parametrize("attempt", range(5))
def test_a_signal_sent_as_the_address_appears_stops_it_cleanly(attempt):
    proc, _ = start_cli()  # the signal races the start: it must be handled from the line on
    try:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0, proc.stderr.read()
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()


def test_flags_reach_the_server():
    proc, base_url = start_cli(
        "--require-token", "t0k", "--create-rate-limit", "1", "--latency", "0.01"
    )
    try:
        assert httpx.get(f"{base_url}/v1/account").status_code == 401
        headers = {"Authorization": "Bearer t0k"}
        assert httpx.get(f"{base_url}/v1/account", headers=headers).status_code == 200
        assert httpx.get(f"{base_url}/_sandbox/faults").status_code == 401  # control needs it too
        faults = httpx.get(f"{base_url}/_sandbox/faults", headers=headers).json()
        assert faults["create_rate_limit"] == 1 and faults["latency"] == 0.01
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


def test_replay_fallback_takes_the_value_the_python_option_takes(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(
        '{"format": "replicate-nb-replay", "version": 1, "models": [], "predictions": []}'
    )
    proc, base_url = start_cli("--replay", str(path), "--replay-fallback", "stand-in")
    try:
        reply = httpx.post(
            f"{base_url}/v1/predictions",
            json={"version": HELLO_VERSION, "input": {"text": "unrecorded"}},
            headers={"Prefer": "wait"},
        )
        assert reply.json()["output"] == "hello unrecorded"
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()


def test_fault_flags_are_the_faults_fields():
    flags = {a.dest for a in _parser()._actions}
    fields = {f.name for f in dataclasses.fields(Faults)}
    assert fields <= flags, f"no flag for {fields - flags}: name each --{{field-with-dashes}}"


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
    proc, base_url = start_cli()
    try:
        told = proc.stdout.readline() + proc.stdout.readline()
        assert f"replicate 1.x: REPLICATE_BASE_URL={base_url}\n" in told
        assert f"replicate 2.x and JavaScript: REPLICATE_BASE_URL={base_url}/v1 " in told
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()
        proc.stderr.close()
