"""Tests for estimate(): the bundled price table and how each kind of model is priced."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from replicate_nb.costs import Estimate, estimate, format_dollars, price_table


def test_price_table__every_price_has_a_source_and_the_table_a_date():
    table = price_table()
    assert "estimate" in table["about"].lower()
    dt.date.fromisoformat(table["read_on"])
    assert re.search(r"\d{4}-\d\d-\d\d", table["hardware"]["source"])
    for model, entry in table["models"].items():
        assert entry["source"], model
        if "hardware" in entry:
            assert entry["hardware"] in table["hardware"]["per_second"], model
    assert table["unknown_model_hardware"] in table["hardware"]["per_second"]


def test_price_table__covers_every_builtin_stand_in():
    from replicate_nb.sandbox.models import builtin_models

    assert {m.ref for m in builtin_models()} <= set(price_table()["models"])


def test_estimate__official_image_model_is_priced_per_image():
    cost = estimate(
        {
            "model": "black-forest-labs/flux-schnell",
            "status": "succeeded",
            "metrics": {"image_count": 2, "predict_time": 1.5},
        }
    )
    assert cost.dollars == pytest.approx(0.006)
    assert str(cost) == "~$0.006 (estimate: 2 images x $0.003/image)"


def test_estimate__image_count_falls_back_to_the_outputs():
    cost = estimate(
        {"model": "black-forest-labs/flux-schnell", "status": "succeeded", "output": ["a"]}
    )
    assert cost.dollars == pytest.approx(0.003)


def test_estimate__official_language_model_is_priced_per_token():
    cost = estimate(
        {
            "model": "meta/meta-llama-3-8b-instruct",
            "metrics": {"input_token_count": 1000, "output_token_count": 2000},
        }
    )
    assert cost.dollars == pytest.approx((1000 * 0.05 + 2000 * 0.25) / 1e6)
    assert "1000 input + 2000 output tokens" in cost.basis


def test_estimate__community_model_is_priced_by_time_on_its_hardware():
    cost = estimate({"model": "stability-ai/sdxl", "metrics": {"predict_time": 4.0}})
    assert cost.dollars == pytest.approx(4.0 * 0.000975)
    assert cost.basis == "4.00 s on Nvidia L40S GPU at $0.000975/s"


def test_estimate__unknown_model_is_priced_high_and_says_so():
    cost = estimate({"model": "me/greeter", "metrics": {"predict_time": 1.0}})
    assert cost.dollars == pytest.approx(0.0014)
    assert "not in the price table" in cost.basis


def test_estimate__teaching_models_are_free():
    cost = estimate({"model": "sandbox/sleep", "metrics": {"predict_time": 30.0}})
    assert cost.dollars == 0
    assert "no real counterpart" in cost.basis


@pytest.mark.parametrize(
    "metrics", [None, {}, {"predict_time": "soon"}, {"predict_time": -1}, {"predict_time": True}]
)
def test_estimate__missing_or_odd_metrics_cost_nothing(metrics):
    assert estimate({"model": "stability-ai/sdxl", "metrics": metrics}).dollars == 0


def test_estimate__reads_an_sdk_prediction(client):
    prediction = client.models.predictions.create(
        model="black-forest-labs/flux-schnell", input={"prompt": "a fox"}, wait=True
    )
    cost = estimate(prediction)
    assert isinstance(cost, Estimate)
    assert cost.dollars == pytest.approx(0.003)
    assert cost.model == "black-forest-labs/flux-schnell"


def test_estimate__custom_price_table():
    table = {"models": {"me/m": {"per_image": 1.0, "source": "mine"}}}
    assert estimate({"model": "me/m", "metrics": {"image_count": 3}}, prices=table).dollars == 3


@pytest.mark.parametrize(
    ("dollars", "shown"),
    [(0, "$0"), (2.5, "$2.50"), (0.003, "$0.003"), (0.0000123, "$0.000012"), (1e-9, "<$0.000001")],
)
def test_format_dollars(dollars, shown):
    assert format_dollars(dollars) == shown
