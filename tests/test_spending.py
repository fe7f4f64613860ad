"""Tests for the budget and usage(): counted in the client, through the paths users walk.

"The real API" is a sandbox started with `require_token`, reached as backend="replicate".
"""

from __future__ import annotations

import asyncio
import io
import time

import pytest
import replicate

import replicate_nb
from replicate_nb import Budget, sandbox
from replicate_nb.connection import disconnect
from replicate_nb.errors import BudgetExceeded, ReplicateNbError
from replicate_nb.sandbox.models.hello import HELLO_WORLD
from replicate_nb.spending import LEDGER

HELLO = f"{HELLO_WORLD.ref}:{HELLO_WORLD.version_id}"  # not official: run by version
TOKEN = "r8_" + "budgetTEST" + "0123456789abcdefghijkl"  # split: no token in git


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    for name in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    LEDGER.clear()
    yield
    disconnect()
    LEDGER.clear()


@pytest.fixture
def real_api():
    with sandbox.start(require_token=TOKEN) as server:
        yield server


def count_predictions(server: sandbox.Sandbox) -> int:
    return server.store.count_predictions()


def test_budget__predictions_stop_module_level_run_on_the_sandbox():
    client = replicate_nb.connect(backend="sandbox", budget=Budget(predictions=2))
    for name in ("Ada", "Alan"):
        replicate.run("black-forest-labs/flux-schnell", input={"prompt": name})
    with pytest.raises(BudgetExceeded) as caught:
        replicate.run("black-forest-labs/flux-schnell", input={"prompt": "Grace"})
    assert isinstance(caught.value, ReplicateNbError) and isinstance(caught.value, RuntimeError)
    message = str(caught.value)
    assert "2 predictions" in message and "$0.006" in message and "estimate" in message
    assert caught.value.spent == pytest.approx(0.006)
    assert count_predictions(client.connection.sandbox) == 2  # the third was never sent


def test_budget__dollars_stop_on_the_real_api(real_api):
    replicate_nb.connect(TOKEN, backend="replicate", base_url=real_api.base_url, budget=0.005)
    replicate.run("black-forest-labs/flux-schnell", input={"prompt": "one"})  # $0.003
    replicate.run("black-forest-labs/flux-schnell", input={"prompt": "two"})  # $0.006 spent
    with pytest.raises(BudgetExceeded, match=r"\$0\.006"):
        replicate.run("black-forest-labs/flux-schnell", input={"prompt": "three"})
    assert count_predictions(real_api) == 2


def test_budget__holds_for_async_run_and_predictions_create():
    replicate_nb.connect(backend="sandbox", budget=Budget(predictions=1))

    async def go():
        await replicate.async_run("black-forest-labs/flux-schnell", input={"prompt": "a"})
        await replicate.async_run("black-forest-labs/flux-schnell", input={"prompt": "b"})

    with pytest.raises(BudgetExceeded):
        asyncio.run(go())
    with pytest.raises(BudgetExceeded):
        replicate.predictions.create(version=HELLO, input={"text": "x"})


def test_budget__run_many_runs_what_fits_and_reports_the_rest():
    """Concurrent creates are counted before they are answered: never more than the budget."""
    client = replicate_nb.connect(backend="sandbox", budget=Budget(predictions=3))
    client.poll_interval = 0.02
    results = replicate_nb.run_many(
        "black-forest-labs/flux-schnell",
        [{"prompt": f"p{i}"} for i in range(6)],
        concurrency=6,
        progress=False,
    )
    assert sorted(r.status for r in results) == ["error"] * 3 + ["succeeded"] * 3
    assert all("budget reached" in r.error for r in results if not r.ok)
    assert count_predictions(client.connection.sandbox) == 3
    assert results.cost.dollars == pytest.approx(0.009)
    assert "~$0.009 on the real API (estimate)" in repr(results)


def test_run_many__each_result_has_an_estimate():
    client = replicate_nb.connect(backend="sandbox")
    client.poll_interval = 0.02
    results = replicate_nb.run_many(
        "meta/meta-llama-3-8b-instruct", [{"prompt": "hi"}, {"prompt": "yo"}], progress=False
    )
    for result in results:
        assert result.cost is not None and result.cost.dollars > 0
        assert "output tokens" in result.cost.basis
        assert "cost=~$" in repr(result)
    assert results.cost.dollars == pytest.approx(sum(r.cost.dollars for r in results))


def test_budget__refused_creates_do_not_count():
    """A create the server refuses (422) made no prediction, so it spends nothing."""
    replicate_nb.connect(backend="sandbox", budget=Budget(predictions=1))
    with pytest.raises(replicate.exceptions.ReplicateError):
        replicate.run("black-forest-labs/flux-schnell", input={"num_outputs": 99})
    replicate.run("black-forest-labs/flux-schnell", input={"prompt": "fits"})


def test_budget__a_new_connection_starts_a_new_budget():
    replicate_nb.connect(backend="sandbox", budget=Budget(predictions=1))
    replicate.run(HELLO, input={"text": "a"})
    replicate_nb.connect(backend="sandbox", budget=Budget(predictions=1))
    replicate.run(HELLO, input={"text": "b"})


@pytest.mark.parametrize(
    ("budget", "error"),
    [("5", TypeError), (-1, ValueError), (True, TypeError), (Budget, TypeError)],
)
def test_budget__bad_values_are_refused(budget, error):
    with pytest.raises(error):
        replicate_nb.connect(backend="sandbox", budget=budget)


def test_budget__needs_a_limit():
    with pytest.raises(ValueError, match=r"dollars=\.\.\. or predictions="):
        Budget()


def test_usage__summarises_this_kernels_predictions_by_model():
    replicate_nb.connect(backend="sandbox", budget=1.0)
    replicate.run("black-forest-labs/flux-schnell", input={"prompt": "x", "num_outputs": 2})
    replicate.run("meta/meta-llama-3-8b-instruct", input={"prompt": "hello"})
    summary = replicate_nb.usage()
    assert summary.predictions == 2
    assert summary.statuses == {"succeeded": 2}
    by_model = {m.model: m for m in summary.models}
    assert by_model["black-forest-labs/flux-schnell"].dollars == pytest.approx(0.006)
    assert summary.dollars == pytest.approx(sum(m.dollars for m in summary.models))
    assert summary.budget == Budget(dollars=1.0) and summary.budget_count == 2
    shown = repr(summary)
    assert "2 predictions (2 succeeded)" in shown and "(estimate)" in shown
    html = summary._repr_html_()
    assert "estimate" in html and "black-forest-labs/flux-schnell" in html


def test_usage__keeps_no_outputs():
    replicate_nb.connect(backend="sandbox")
    replicate.run("black-forest-labs/flux-schnell", input={"prompt": "x"})
    assert all(r.get("output") == [None] for r in LEDGER.records())


def _train(client: replicate.Client, destination: str) -> replicate.training.Training:
    from tests.sandbox.test_trainings import TRAINER, TRAINER_VERSION, style_zip

    return client.trainings.create(
        model=TRAINER,
        version=TRAINER_VERSION,
        input={"input_images": io.BytesIO(style_zip()), "trigger_word": "ZXQ", "steps": 50},
        destination=destination,
    )


def _finished(training: replicate.training.Training) -> None:
    deadline = time.monotonic() + 30
    while training.status not in ("succeeded", "failed", "canceled"):
        assert time.monotonic() < deadline, training.status
        time.sleep(0.05)
        training.reload()


def test_budget__trainings_are_billed_and_stop_past_the_budget():
    """A training costs hardware time as a prediction does: it spends the budget, and once the
    budget is spent no training is created (nothing is sent)."""
    client = replicate_nb.connect(backend="sandbox", budget=0.0001)
    client.models.create(owner="sandbox", name="budget-style", visibility="private", hardware="cpu")
    training = _train(client, "sandbox/budget-style")
    _finished(training)
    assert training.status == "succeeded"
    meter = client.meter
    assert meter.trainings == 1 and meter.spent > 0.0001  # H100 time: past the budget
    with pytest.raises(BudgetExceeded, match="no new training was created") as caught:
        _train(client, "sandbox/budget-style")
    assert caught.value.trainings == 1 and "1 training" in str(caught.value)
    with pytest.raises(BudgetExceeded, match="no new prediction"):
        replicate.run(HELLO, input={"text": "after"})
    assert len(client.trainings.list().results) == 1  # the refused one was never sent
    summary = replicate_nb.usage()
    assert summary.trainings == 1 and summary.predictions == 0
    trainer = {m.model: m for m in summary.models}["ostris/flux-dev-lora-trainer"]
    assert trainer.dollars == pytest.approx(meter.spent) and summary.dollars == trainer.dollars
    assert "0 predictions, 1 training" in repr(summary)
