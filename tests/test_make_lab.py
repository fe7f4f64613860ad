"""`make lab`: JupyterLab on notebooks/ from the lab's own install, with no news popup."""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ANNOUNCEMENTS = "@jupyterlab/apputils-extension:announcements"
TEST_TOOLS = {"pytest", "nbval", "hypothesis", "playwright", "ruff", "nbclient", "pyyaml"}


@dataclasses.dataclass
class LabProcess:
    """A running `make lab` (its own process group) and the URL JupyterLab printed."""

    proc: subprocess.Popen[str]
    url: str
    output: list[str]

    def get(self, path: str) -> str:
        """GET a path of the server with the printed token."""
        token = self.url.split("token=", 1)[1]
        base = self.url.split("/lab", 1)[0]
        sep = "&" if "?" in path else "?"
        with urllib.request.urlopen(f"{base}{path}{sep}token={token}", timeout=30) as reply:
            return reply.read().decode()

    def stop(self) -> None:
        """Stop make and JupyterLab (SIGTERM to the group, then SIGKILL)."""
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        except ProcessLookupError:
            pass
        finally:
            self.proc.stdout.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_make_lab(cwd: Path, env: dict[str, str], *, timeout: float = 300) -> LabProcess:
    """Run `make lab` in `cwd` on a free port and wait for the URL it prints."""
    port = _free_port()
    env = {**env, "JUPYTER_PORT": str(port), "JUPYTER_PORT_RETRIES": "0", "BROWSER": "true"}
    proc = subprocess.Popen(
        ["make", "lab"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        for line in proc.stdout:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    wanted = re.compile(rf"(http://127\.0\.0\.1:{port}/lab\?token=\w+)")
    output: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        output.append(line)
        if found := wanted.search(line):
            lab = LabProcess(proc, found.group(1), output)
            while time.monotonic() < deadline:  # the URL is printed just before it listens
                try:
                    lab.get("/api/status")
                    return lab
                except OSError:
                    time.sleep(0.2)
            break
    LabProcess(proc, "", output).stop()
    pytest.fail(f"`make lab` served no JupyterLab URL in {timeout:.0f} s:\n{''.join(output)}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabProcess]:
    private = tmp_path_factory.mktemp("jupyter")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "JUPYTER_"))}
    env |= {
        "JUPYTER_RUNTIME_DIR": str(private / "runtime"),
        "JUPYTER_CONFIG_DIR": str(private / "config"),  # no user settings: a first launch
    }
    started = start_make_lab(ROOT, env)
    try:
        yield started
    finally:
        started.stop()


def test_make_lab_opens_the_notebooks(lab: LabProcess):
    listing = json.loads(lab.get("/api/contents"))
    names = {item["name"] for item in listing["content"]}
    assert "01_welcome_and_setup.ipynb" in names and "README.md" in names


def test_make_lab_runs_the_venvs_kernel(lab: LabProcess):
    specs = json.loads(lab.get("/api/kernelspecs"))
    argv = specs["kernelspecs"]["python3"]["spec"]["argv"]
    assert Path(argv[0]) == ROOT / ".venv" / "bin" / "python", argv


def test_make_lab_has_no_news_popup(lab: LabProcess):
    page = lab.get("/lab")
    found = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', page, re.DOTALL
    )
    assert found, "no page config in /lab"
    disabled = json.loads(found.group(1)).get("disabledExtensions", [])
    assert ANNOUNCEMENTS in disabled, (
        f"{ANNOUNCEMENTS} is enabled: it asks about Jupyter news on the first launch "
        "(the Makefile's lab set-up disables it with `jupyter labextension disable`)"
    )


def test_make_lab_installs_only_the_lab():
    done = subprocess.run(
        ["make", "-n", "-B", ".venv/.lab-stamp"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    installs = [line for line in done.stdout.splitlines() if "pip install" in line]
    assert any('-e ".[lab]"' in line for line in installs), installs
    assert not any("test" in line for line in installs), installs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lab_needs = project["dependencies"] + project["optional-dependencies"]["lab"]
    names = {re.split(r"[<>=!~\[ ]", r, maxsplit=1)[0] for r in lab_needs}
    assert not names & TEST_TOOLS, f"the lab would install test tools: {names & TEST_TOOLS}"


def test_notebook_checkpoints_are_ignored():
    done = subprocess.run(
        ["git", "check-ignore", "-q", "notebooks/.ipynb_checkpoints/01-checkpoint.ipynb"],
        cwd=ROOT,
    )
    assert done.returncode == 0, ".ipynb_checkpoints is not in .gitignore"
