"""With a token set, the kit runs against "the real API" and no output ever shows the token.

The real API is played offline by a sandbox that requires the (fake) token; the kernel finds it
through REPLICATE_API_TOKEN and REPLICATE_BASE_URL, as a learner's kernel would.
"""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from replicate_nb import sandbox
from tests.notebooks.kit import KIT

SENTINEL = "r8_" + "SECRETsentinel" + "9876543210zyxwvutsrqpo"  # split: no token in git
UNCHANGED_ON_THE_REAL_API = ["01_welcome_and_setup.ipynb", "02_first_predictions.ipynb",
                             "05_streaming.ipynb", "07_forms.ipynb"]


@pytest.mark.parametrize("name", UNCHANGED_ON_THE_REAL_API)
def test_kit_runs_on_the_real_api_without_showing_the_token(name, monkeypatch, tmp_path):
    with sandbox.start(require_token=SENTINEL) as real_api:
        monkeypatch.setenv("REPLICATE_API_TOKEN", SENTINEL)
        monkeypatch.setenv("REPLICATE_BASE_URL", real_api.base_url)
        notebook = nbformat.read(KIT / name, as_version=4)
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = json.dumps([cell.get("outputs", []) for cell in notebook.cells])
    assert "Connected to Replicate at http://127.0.0.1" in outputs  # the token was used...
    assert "as sandbox" in outputs  # ...and accepted: the account was read
    assert SENTINEL not in outputs
    assert SENTINEL not in json.dumps(notebook.metadata)
