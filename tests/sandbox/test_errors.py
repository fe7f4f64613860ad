"""Errors: problem+json with a detail that says what to fix; never a 500."""

from __future__ import annotations

import http.client
import json
import re

import httpx
import pytest
from replicate.exceptions import ReplicateError

from replicate_nb import sandbox
from tests.conftest import ESRGAN, HELLO_VERSION, send_head_only

SDXL = "stability-ai/sdxl:7762fd07cf82c948538e41f63f77d685e02b063e37e496e96eefd46c929f9bdc"


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_token_required_missing_and_wrong(make_client):
    with sandbox.start(require_token="right") as locked:
        for token in (None, "wrong"):
            with pytest.raises(ReplicateError) as info:
                make_client(locked.base_url, api_token=token).models.list()
            assert info.value.status == 401
            assert "wrong" not in str(info.value) and "right" not in str(info.value)
        assert make_client(locked.base_url, api_token="right").models.list().results
        legacy = httpx.get(
            f"{locked.base_url}/v1/account", headers={"Authorization": "Token right"}
        )
        assert legacy.status_code == 200
        assert "right" not in repr(locked)


def test_unknown_route_is_404_problem(sb):
    body = _problem(httpx.get(f"{sb.base_url}/v1/nothing/here"), 404)
    assert "/v1" in body["detail"]


def test_python_base_url_with_v1_is_explained(sb):
    body = _problem(httpx.get(f"{sb.base_url}/v1/v1/models"), 404)
    assert "without /v1" in body["detail"]


def test_wrong_method_is_405_problem(sb):
    _problem(httpx.delete(f"{sb.base_url}/v1/account"), 405)


def test_unknown_prediction_is_404(client):
    with pytest.raises(ReplicateError) as info:
        client.predictions.get("doesnotexist")
    assert info.value.status == 404


def test_unknown_version_is_422(client):
    with pytest.raises(ReplicateError) as info:
        client.predictions.create(version="0" * 64, input={})
    assert info.value.status == 422
    assert info.value.title == "Invalid version or not permitted"


@pytest.mark.parametrize(
    ("input", "kind", "field"),
    [
        ({}, "required", "input"),
        ({"text": 5}, "type", "input.text"),
        ({"text": "a", "colour": "red"}, "additional_property_not_allowed", "input"),
    ],
)
def test_hello_world_input_validation(sb, input, kind, field):
    response = httpx.post(
        f"{sb.base_url}/v1/predictions", json={"version": HELLO_VERSION, "input": input}
    )
    body = _problem(response, 422)
    assert body["title"] == "Input validation failed"
    assert {"type": kind, "field": field} == {
        k: body["invalid_fields"][0][k] for k in ("type", "field")
    }
    assert body["detail"].startswith(f"- {field}: ")


def test_bounds_and_enums_are_checked_together(client):
    with pytest.raises(ReplicateError) as info:
        client.run(SDXL, input={"num_outputs": 9, "scheduler": "FAST", "guidance_scale": 0})
    detail = info.value.detail
    assert "input.num_outputs: Must be less than or equal to 4" in detail
    assert "input.scheduler" in detail and "K_EULER" in detail
    assert "input.guidance_scale: Must be greater than or equal to 1" in detail


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"", b"\xff\xfe", b'{"input": 1}'])
def test_malformed_bodies_are_422(sb, body):
    response = httpx.post(
        f"{sb.base_url}/v1/models/sandbox/sleep/predictions",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    _problem(response, 422)


def test_missing_version_field_is_explained(sb):
    body = _problem(httpx.post(f"{sb.base_url}/v1/predictions", json={"input": {}}), 422)
    assert '"version"' in body["detail"]


def test_bad_prefer_header_is_explained(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/predictions",
        json={"version": HELLO_VERSION, "input": {"text": "a"}},
        headers={"Prefer": "wait=soon"},
    )
    assert "wait=N" in _problem(response, 422)["detail"]


def test_non_loopback_webhook_is_refused(sb):
    response = httpx.post(
        f"{sb.base_url}/v1/predictions",
        json={
            "version": HELLO_VERSION,
            "input": {"text": "a"},
            "webhook": "https://example.com/hook",
        },
    )
    assert "127.0.0.1" in _problem(response, 422)["detail"]


def test_files_need_multipart(sb):
    _problem(httpx.post(f"{sb.base_url}/v1/files", json={"a": 1}), 415)


def test_oversized_json_body_is_413(sb):
    from replicate_nb.sandbox import http

    status, body = send_head_only(
        sb,
        "POST",
        "/v1/predictions",
        {"Content-Type": "application/json", "Content-Length": str(http.MAX_JSON_BYTES + 1)},
    )
    assert status == 413 and body["status"] == 413 and "less than 50MB" in body["detail"]


def test_model_failure_is_a_failed_prediction_not_an_http_error(client):
    prediction = client.predictions.create(
        version=ESRGAN, input={"image": "data:image/png;base64,AAAA"}
    )
    prediction.wait()
    assert prediction.status == "failed"
    assert "could not read the image" in prediction.error
    assert "Traceback" in prediction.logs


def test_internet_inputs_fail_with_a_clear_error(client):
    prediction = client.predictions.create(
        version=ESRGAN, input={"image": "https://example.com/cat.png"}
    )
    prediction.wait()
    assert prediction.status == "failed"
    assert "never goes to the internet" in prediction.error


@pytest.mark.parametrize("url", ["http://[::1/", "http://[nope]/hook", "http:///hook", "ftp://x/"])
def test_malformed_webhook_urls_are_422(sb, url):
    """Found by the fuzzer: an unclosed IPv6 bracket made urlsplit raise, answered 500."""
    response = httpx.post(
        f"{sb.base_url}/v1/predictions",
        json={"version": HELLO_VERSION, "input": {"text": "a"}, "webhook": url},
    )
    _problem(response, 422)


def test_unexpected_error_is_a_500_problem_on_a_connection_that_stays_usable(
    fresh_sb, monkeypatch, caplog
):
    real_get = fresh_sb.engine.get

    def get(prediction_id: str):
        if prediction_id == "boom":
            raise KeyError("a bug")
        return real_get(prediction_id)

    monkeypatch.setattr(fresh_sb.engine, "get", get)
    connection = http.client.HTTPConnection(fresh_sb.host, fresh_sb.port, timeout=10)
    connection.request("GET", "/v1/predictions/boom")
    failed = connection.getresponse()
    body = json.loads(failed.read())
    assert failed.status == 500 and failed.getheader("content-type") == "application/problem+json"
    assert failed.getheader("connection") != "close"
    error_id = re.search(r"error id ([0-9a-f]{12})", body["detail"]).group(1)
    assert "KeyError" not in body["detail"] and "a bug" not in body["detail"]  # only in the log
    first_socket = connection.sock
    for _ in range(200):
        connection.request("GET", "/v1/account")
        reply = connection.getresponse()
        reply.read()
        assert reply.status == 200
    assert connection.sock is first_socket  # the same connection all along
    connection.close()
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage() for r in errors] == [
        f"unexpected error {error_id} on GET /v1/predictions/boom"
    ]
    assert "KeyError: 'a bug'" in caplog.text  # the traceback, under the id
