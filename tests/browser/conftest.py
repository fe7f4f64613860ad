"""JupyterLab in headless Chromium: a server with generated notebooks, a browser, a fresh page.

The recipe and its stabilisation steps follow `reference/jupyter.md` §6.1: a private workspaces
dir and a fresh workspace per test (no restored tabs), news and update checks off, the
notification toast silenced through an `overrides.json`, `/api/status` polled before use.
Screenshots and the server log go to `test-artifacts/browser/` (gitignored). Fixtures are
module-scoped: Playwright's sync API keeps an event loop running in the main thread while it is
open, which would break every later test that calls `asyncio.run`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SETUP = 'import replicate_nb\nclient = replicate_nb.connect(backend="sandbox")\nclient'
NOTEBOOKS = {
    "image_form": [
        SETUP,
        "from replicate_nb.forms import form\n"
        'image_form = form("stability-ai/sdxl")\n'
        "image_form.set(width=256, height=256)\nimage_form",
    ],
    "text_form": [
        SETUP,
        "from replicate_nb.forms import form\n"
        'text_form = form("meta/meta-llama-3-8b-instruct")\n'
        "text_form.set(max_tokens=400)\ntext_form",
    ],
    "rejected_form": [
        SETUP,
        "from replicate_nb.forms import form\n"
        'rejected = form("stability-ai/sdxl")\n'
        'rejected.set(prompt="a red boat", width=256, height=256)\nrejected',
        "await rejected.submit()\n"
        "rejected.set(num_outputs=9)  # more than the model allows\n"
        "try:\n    await rejected.submit()\nexcept Exception as e:\n    print(type(e).__name__)",
    ],
}
AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
NOTIFICATIONS_OFF = {
    "@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kernelspec_is_the_venvs() -> None:
    spec = Path(sys.prefix) / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    if not spec.is_file():
        pytest.fail(
            f"{spec} is missing: run `{sys.executable} -m ipykernel install --sys-prefix "
            "--name python3` (the Makefile does) so JupyterLab runs this venv's Python."
        )


@pytest.fixture(scope="module")
def lab_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of generated notebooks (nbformat), one per scenario."""
    root = tmp_path_factory.mktemp("lab")
    for name, cells in NOTEBOOKS.items():
        notebook = nbformat.v4.new_notebook()
        notebook.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        notebook.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(notebook, root / f"{name}.ipynb")
    return root


@pytest.fixture(scope="module")
def lab_url(lab_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A JupyterLab server on a free 127.0.0.1 port, no token, isolated settings."""
    _kernelspec_is_the_venvs()
    private = tmp_path_factory.mktemp("jupyter")
    (private / "settings").mkdir()
    (private / "settings" / "overrides.json").write_text(json.dumps(NOTIFICATIONS_OFF))
    port = _free_port()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(private / "config"),
        "JUPYTER_RUNTIME_DIR": str(private / "runtime"),
    }
    env.pop("REPLICATE_API_TOKEN", None)  # the notebooks use the sandbox
    with open(ARTIFACTS / "lab.log", "w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter",
                "lab",
                "--no-browser",
                "--allow-root",
                "--ServerApp.ip=127.0.0.1",
                f"--ServerApp.port={port}",
                "--ServerApp.port_retries=0",
                "--IdentityProvider.token=",
                "--ServerApp.password=",
                f"--ServerApp.root_dir={lab_dir}",
                f"--LabApp.workspaces_dir={private / 'workspaces'}",
                f"--LabApp.user_settings_dir={private / 'user-settings'}",
                f"--LabApp.app_settings_dir={private / 'settings'}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=lab_dir,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url + "/api/status", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start; see {ARTIFACTS / 'lab.log'}")
                time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (no browser download needed)."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: `apt-get install -y chromium` (CI's .ci/run does), "
            "or set CHROMIUM_PATH."
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; a full-page screenshot is kept whatever the outcome."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()
