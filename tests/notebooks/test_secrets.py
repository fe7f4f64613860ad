"""With a token set, the kit runs against "the real API" and no output ever shows the token.

The real API is played offline by a sandbox that requires the (fake) token and answers as the real
API does (non-official models only by version); the kernel finds it through REPLICATE_API_TOKEN and
REPLICATE_BASE_URL, as a learner's kernel would. The notebooks are the ones the instructor guide's
table says need no sandbox (`kit.online()`).
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from replicate_nb import sandbox
from tests.notebooks.kit import KIT, online

SENTINEL = "r8_" + "SECRETsentinel" + "9876543210zyxwvutsrqpo"  # split: no token in git


def test_the_guide_names_notebooks_that_run_online():
    assert "01_welcome_and_setup.ipynb" in online() and len(online()) >= 4


@pytest.mark.parametrize("name", online())
def test_kit_runs_on_the_real_api_without_showing_the_token(name, monkeypatch, tmp_path):
    with sandbox.start(require_token=SENTINEL) as real_api:
        monkeypatch.setenv("REPLICATE_API_TOKEN", SENTINEL)
        monkeypatch.setenv("REPLICATE_BASE_URL", real_api.base_url)
        notebook = nbformat.read(KIT / name, as_version=4)
        NotebookClient(
            notebook,
            timeout=120,
            kernel_name="python3",
            resources={"metadata": {"path": str(tmp_path)}},
        ).execute()
    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "Connected to Replicate at http://127.0.0.1" in outputs  # the token was used...
    assert "as sandbox" in outputs  # ...and accepted: the account was read
    assert SENTINEL not in outputs
    assert SENTINEL not in json.dumps(notebook.metadata)
