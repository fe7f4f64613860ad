"""Uploads are streamed: a refused body is not read past the limit nor held, an accepted one is
held at most about once more than the store keeps (peak RSS growth ≤ 2x the body).

The server runs in its own process so that its resident memory (`/proc/PID/status`: VmRSS now,
VmHWM the peak since `clear_refs`) is measured alone, without the client's copy of the body.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

MB = 2**20
pytestmark = pytest.mark.skipif(
    not Path("/proc/self/clear_refs").exists(), reason="measures memory through Linux's /proc"
)


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("Sandbox listening on http://127.0.0.1:"), line
    try:
        yield proc, int(line.rsplit(":", 1)[1])
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()


def _status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS


def _chunked_upload(port: int, size: int) -> tuple[bytes, int]:
    """Send a chunked multipart upload of `size` file bytes; (the answer's head, bytes sent)."""
    head = (
        b'--b\r\nContent-Disposition: form-data; name="content"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    piece = b"x" * MB
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST /v1/files HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            "Content-Type: multipart/form-data; boundary=b\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
            while sent < size:
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
                sent += len(piece)
            tail = b"\r\n--b--\r\n"
            sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(tail), tail))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading and closed: its answer is already sent
        answer = b""
        try:
            while b"\r\n\r\n" not in answer:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except ConnectionResetError:
            pass
    return answer.partition(b"\r\n\r\n")[0], sent


def test_refused_chunked_uploads_stop_at_the_limit_and_are_not_held(server):
    proc, port = server
    head, sent = _chunked_upload(port, 1 * MB)  # warm up the upload path
    assert head.startswith(b"HTTP/1.1 201"), head
    time.sleep(0.2)
    baseline = _status(proc.pid, "VmRSS")
    _reset_peak(proc.pid)
    for _ in range(8):
        head, sent = _chunked_upload(port, 101 * MB)
        assert head.startswith(b"HTTP/1.1 413"), head
        assert b"connection: close" in head.lower()
    time.sleep(0.5)
    held = _status(proc.pid, "VmRSS") - baseline
    peak = _status(proc.pid, "VmHWM") - baseline
    print(f"8 refused 101 MB uploads: held {held / MB:.0f} MB, peak growth {peak / MB:.0f} MB")
    # the allocator may keep up to about one body of freed pages for reuse; 8 held would be 800 MB
    assert held < 2 * 101 * MB, f"eight refused uploads still hold {held / MB:.0f} MB"
    assert peak < 2 * 101 * MB, f"peak growth {peak / MB:.0f} MB over 2x one body"
    head, sent = _chunked_upload(port, 400 * MB)  # reading stops at the limit: cut off early
    assert head.startswith(b"HTTP/1.1 413") and sent < 200 * MB, (head, sent // MB)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
        assert http.get("/v1/account").status_code == 200  # the server serves on


def test_an_accepted_99mb_upload_peaks_under_twice_its_size(server):
    proc, port = server
    body_size = 99 * MB
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as http:
        content = bytes(range(256)) * (body_size // 256)
        warm = http.post("/v1/files", files={"content": ("w.bin", b"w" * MB)})
        assert warm.status_code == 201
        time.sleep(0.2)
        baseline = _status(proc.pid, "VmRSS")
        _reset_peak(proc.pid)
        uploaded = http.post("/v1/files", files={"content": ("big.bin", content)})
        assert uploaded.status_code == 201, uploaded.text
        peak = _status(proc.pid, "VmHWM") - baseline
        kept = _status(proc.pid, "VmRSS") - baseline
        print(f"accepted 99 MB upload: peak growth {peak / MB:.0f} MB, kept {kept / MB:.0f} MB")
        assert uploaded.json()["size"] == len(content)
        assert peak <= 2 * body_size, f"peak growth {peak / MB:.0f} MB over 2x the 99 MB body"
        download = http.get(f"/v1/files/{uploaded.json()['id']}/download")
        assert download.content == content
        assert http.delete(f"/v1/files/{uploaded.json()['id']}").status_code == 204
