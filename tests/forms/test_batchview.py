"""run_many's progress in a notebook: the run view that the form and the card use (status line,
ticking clock, bar), counting inputs by outcome and ending with the batch's estimated cost."""

from __future__ import annotations

import ipywidgets as w
import pytest

from replicate_nb import progress
from replicate_nb.batch import run_many
from replicate_nb.forms.batchview import BatchView
from replicate_nb.forms.runview import RunView
from tests.conftest import HELLO


@pytest.fixture(autouse=True)
def close_widgets():
    yield
    w.Widget.close_all()


@pytest.fixture
def shown(monkeypatch):
    """Pretend to be in a kernel and keep what `run_many` displays."""
    displayed: list[object] = []
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.setattr("replicate_nb.forms.batchview.display", displayed.append)
    return displayed


def test_run_many_in_a_notebook_shows_its_progress_in_the_run_view(client, shown):
    results = run_many(HELLO, [{"text": f"t{i}"} for i in range(5)] + [{}], client=client)
    [view] = shown
    assert isinstance(view, BatchView) and isinstance(view.view, RunView)  # one run view
    status = view.view.status.value
    assert "failed" in status and " s" in status  # one input lacks its required text
    assert (view.view.progress.value, view.view.progress.description) == (1.0, "6/6")
    assert view.counts.value.startswith("1 error, 5 succeeded · would cost ")
    assert view.counts.value.endswith(" on Replicate (estimate)")
    assert len(results) == 6 and len(results.succeeded) == 5


def test_a_batch_view_counts_inputs_as_they_finish(client, shown):
    seen: list[str] = []
    original = BatchView.advance

    def advance(self, result):
        original(self, result)
        seen.append(self.view.progress.description)

    BatchView.advance = advance
    try:
        run_many(HELLO, [{"text": f"t{i}"} for i in range(3)], concurrency=1, client=client)
    finally:
        BatchView.advance = original
    [view] = shown
    assert seen == ["1/3", "2/3", "3/3"]
    assert view.view.status.value.startswith('<b style="color:') and "succeeded" in (
        view.view.status.value
    )


def test_outside_a_kernel_run_many_keeps_the_terminal_bar(client, capsys):
    run_many(HELLO, [{"text": "x"}], client=client)
    assert "1/1" in capsys.readouterr().err  # tqdm, on stderr
