"""The sandbox played as an attacker: a rebinding page, a cross-site page, a caller without the
token, a guessed stream URL, and a reader looking for the secrets a model was given.

Each test names what a web page (or another local user) could do before the guard existed.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from replicate_nb import Input, Secret, sandbox
from replicate_nb.sandbox.http import AllowedHosts
from tests.conftest import start_cli
from tests.sandbox.test_webhooks import Receiver

TOKEN = "attacker-test-token"
HELLO = "replicate/hello-world"
LLAMA = "meta/meta-llama-3-8b-instruct"
COVERAGE = Path(__file__).parents[2] / "replicate_nb" / "sandbox" / "COVERAGE.md"
# Routes that answer without the token because their URL is its own credential. A new entry
# needs a reason; a new route that is neither here nor token-protected fails the walk below.
CAPABILITY_URLS = {"/v1/streams/{token}"}  # Replicate's stream URLs are capability URLs
SESSION_PREFIX = "/_room/"  # the room's live view: its own login and session cookie
SECRET = "sk-live-4f9a0c2e8b7d"  # shaped like a key, not a real one
MASK = "**********"


def _problem(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# DNS rebinding: a page at evil.example re-resolves its name to 127.0.0.1
@pytest.fixture
def http(sb) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sb.base_url, timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/predictions"),
        ("GET", "/v1/files"),
        ("PUT", "/_sandbox/faults"),
        ("DELETE", "/v1/files/x"),
        ("GET", "/"),
        ("GET", "/v1/no/such/route"),
    ],
)
def test_foreign_host_is_refused_before_any_route(sb, http, method, path):
    host = f"evil.example:{sb.port}"
    body = _problem(http.request(method, path, headers={"Host": host}, json={}), 403)
    assert repr(host) in body["detail"]
    assert "allowed_hosts=['evil.example']" in body["detail"]
    assert "--allow-host evil.example" in body["detail"]


def test_rebinding_cannot_change_faults(fresh_sb):
    reply = httpx.put(
        f"{fresh_sb.base_url}/_sandbox/faults",
        json={"error_rate": 1},
        headers={"Host": f"evil.example:{fresh_sb.port}"},
    )
    assert reply.status_code == 403
    assert fresh_sb.faults.error_rate == 0


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1:{port}", "localhost:{port}", "LocalHost", "127.0.0.2:{port}", "[::1]:{port}"],
)
def test_local_hosts_are_answered(sb, http, host):
    assert http.get("/v1/account", headers={"Host": host.format(port=sb.port)}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "localhost.evil.example", "127.0.0.1.nip.io", "127.0.0.1:x", "[::1"]
)
def test_lookalike_hosts_are_refused(http, host):
    _problem(http.get("/v1/account", headers={"Host": host}), 403)


def test_allowed_hosts_are_a_value_the_server_owns():
    with sandbox.start(allowed_hosts=["notebook.lan"]) as lan:
        assert lan.allowed_hosts == AllowedHosts("127.0.0.1", "notebook.lan")
        headers = {"Host": f"notebook.lan:{lan.port}"}
        assert httpx.get(f"{lan.base_url}/v1/account", headers=headers).status_code == 200
        lan.allowed_hosts = []  # changed live: the next request is checked against the new list
        assert httpx.get(f"{lan.base_url}/v1/account", headers=headers).status_code == 403
        lan.allowed_hosts = ["*"]  # Jupyter's allow_remote_access: any Host
        headers = {"Host": "anything.example"}
        assert httpx.get(f"{lan.base_url}/v1/account", headers=headers).status_code == 200


def test_bound_address_is_allowed():
    hosts = AllowedHosts("10.1.2.3")
    assert hosts.allows("10.1.2.3:8000") and hosts.allows("localhost") and hosts.allows("[::1]")
    assert not hosts.allows("10.1.2.4:8000")
    assert repr(hosts) == "AllowedHosts('10.1.2.3', 'localhost')"


def test_cli_allow_host_reaches_the_server():
    proc, base_url = start_cli("--allow-host", "room.lan")
    try:
        for host, status in (("room.lan", 200), ("other.lan", 403)):
            assert httpx.get(f"{base_url}/v1/account", headers={"Host": host}).status_code == status
    finally:
        proc.terminate()
        assert proc.wait(15) == 0
        proc.stdout.close()
        proc.stderr.close()


# cross-site requests: a page on another site posts to http://127.0.0.1:PORT
@pytest.mark.parametrize(
    "origin",
    ["http://evil.example", "null", "http://localhost:8888", "http://127.0.0.1:1", "http://[::1"],
)
def test_foreign_origin_is_refused(sb, http, origin):
    before = sb.engine.count()
    reply = http.post(
        f"/v1/models/{HELLO}/predictions", json={"input": {"text": "x"}}, headers={"Origin": origin}
    )
    assert "Cross-origin" in _problem(reply, 403)["detail"]
    assert sb.engine.count() == before


def test_same_origin_is_served(sb, http):
    reply = http.get("/v1/account", headers={"Origin": sb.base_url})
    assert reply.status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type", "body"),
    [
        ("/v1/predictions", "text/plain", json.dumps({"version": HELLO, "input": {"text": "x"}})),
        (f"/v1/models/{HELLO}/predictions", "text/plain", '{"input": {"text": "x"}}'),
        (f"/v1/models/{HELLO}/predictions", "application/x-www-form-urlencoded", "input=x"),
        (f"/v1/models/{HELLO}/predictions", "multipart/form-data; boundary=b", "--b--\r\n"),
        (f"/v1/models/{HELLO}/predictions", None, '{"input": {"text": "x"}}'),
        ("/v1/deployments", "text/plain", '{"name": "d", "model": "replicate/hello-world"}'),
    ],
)
def test_simple_requests_create_nothing(sb, http, path, content_type, body):
    """What a form or `fetch(..., {mode: "no-cors"})` can send without a preflight."""
    before = sb.engine.count(), len(sb.store.list_deployments())
    headers = {"Content-Type": content_type} if content_type else {}
    detail = _problem(http.post(path, content=body, headers=headers), 415)["detail"]
    assert "Content-Type: application/json" in detail
    assert (sb.engine.count(), len(sb.store.list_deployments())) == before


def test_simple_request_cannot_set_faults(fresh_sb):
    reply = httpx.put(
        f"{fresh_sb.base_url}/_sandbox/faults",
        content='{"error_rate": 1}',
        headers={"Content-Type": "text/plain"},
    )
    _problem(reply, 415)
    assert fresh_sb.faults.error_rate == 0


def test_json_with_a_json_suffix_type_is_read(http):
    reply = http.post(
        f"/v1/models/{LLAMA}/predictions",
        content='{"input": {"prompt": "x", "max_tokens": 1}}',
        headers={"Content-Type": "application/vnd.api+json; charset=utf-8"},
    )
    assert reply.status_code == 201, reply.text


def test_uploads_take_multipart_only(http):
    _problem(http.post("/v1/files", json={"content": "x"}), 415)


def test_preflight_gets_no_cors_grant(sb, http):
    preflight = {
        "Origin": "http://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    for headers in (preflight, {}):
        reply = http.options(f"/v1/models/{HELLO}/predictions", headers=headers)
        assert reply.status_code in (403, 405)
        assert not [h for h in reply.headers if h.lower().startswith("access-control-")]


def test_every_answer_is_nosniff_and_downloads_are_attachments(sb, http):
    uploaded = http.post(
        "/v1/files", files={"content": ("x.html", b"<script>alert(1)</script>", "text/html")}
    ).json()
    download = http.get(f"/v1/files/{uploaded['id']}/download")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith("attachment;")
    assert download.headers["content-security-policy"] == "sandbox"
    answers = [
        http.get("/v1/account"),
        http.get("/v1/nothing"),
        http.get("/v1/account", headers={"Host": "evil.example"}),
        http.post("/v1/predictions", content="x", headers={"Content-Type": "text/plain"}),
    ]
    for reply in answers:
        assert reply.headers["x-content-type-options"] == "nosniff", reply.request.url
        assert not [h for h in reply.headers if h.lower().startswith("access-control-")]


# token mode: every route needs the token, or is a capability URL
@pytest.fixture(scope="module")
def locked() -> Iterator[tuple[sandbox.Sandbox, dict[str, str]]]:
    """A token sandbox with one of everything, and live values for every path parameter."""
    with (
        sandbox.start(require_token=TOKEN, seed=7) as server,
        httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ) as http,
    ):
        created = http.post(
            f"/v1/models/{LLAMA}/predictions", json={"input": {"prompt": "hi", "max_tokens": 3}}
        ).json()
        file = http.post("/v1/files", files={"content": ("a.txt", b"a", "text/plain")}).json()
        hello = server.catalog.model("replicate", "hello-world")
        deployment = {"name": "d", "model": HELLO, "version": hello.version_id, "hardware": "cpu"}
        assert http.post("/v1/deployments", json=deployment).status_code == 200
        values = {
            "id": created["id"],
            "owner": "replicate",
            "name": "hello-world",
            "version": hello.version_id,
            "slug": next(iter(server.catalog.collections())),
            "file": file["id"],
            "token": created["urls"]["stream"].rsplit("/", 1)[-1],
        }
        yield server, values


def _walk(server: sandbox.Sandbox) -> list[tuple[Route, str]]:
    routes = [r for r in server.app.routes if isinstance(r, Route)]
    assert len(routes) == len(server.app.routes)
    return [(r, m) for r in routes for m in sorted(r.methods or ()) if m != "HEAD"]


def _url(route: Route, values: dict[str, str]) -> str:
    path = route.path.replace("{id}", "{file}") if "/files/" in route.path else route.path
    if route.path.startswith("/v1/deployments/"):
        path = path.replace("{owner}", "sandbox").replace("{name}", "d")
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def test_every_route_declares_its_access(locked):
    server, _ = locked
    access = {(r.path, m): getattr(r.endpoint, "access", None) for r, m in _walk(server)}
    assert set(access.values()) <= {"token", "capability", "session"}, access
    assert {path for (path, _), kind in access.items() if kind == "capability"} == CAPABILITY_URLS
    sessions = {path for (path, _), kind in access.items() if kind == "session"}
    assert all(path.startswith(SESSION_PREFIX) for path in sessions), sessions


def test_every_route_needs_the_token(locked):
    """Without the token every route but the capability URLs is a 401 (faults, downloads too)."""
    server, values = locked
    open_routes = []
    with httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        for route, method in _walk(server):
            if route.path in CAPABILITY_URLS or route.path.startswith(SESSION_PREFIX):
                continue
            url = _url(route, values)
            for headers in ({}, {"Authorization": "Bearer wrong"}):
                reply = anonymous.request(method, url, headers=headers)
                if reply.status_code != 401:
                    open_routes.append((method, url, reply.status_code))
            if method != "DELETE":  # the same request with the token gets past the check
                with_token = anonymous.request(
                    method, url, headers={"Authorization": f"Bearer {TOKEN}"}, json={}
                )
                assert with_token.status_code != 401, (method, url, with_token)
    assert not open_routes, open_routes
    assert len(_walk(server)) >= 30


def test_coverage_operations_are_all_walked(locked):
    """Every operation COVERAGE.md says is implemented is a route of the app (so walked above)."""
    server, _ = locked
    served = {(m, r.path) for r, m in _walk(server)}
    listed = re.findall(r"^- \[x\] \S+ — (\w+) (\S+)$", COVERAGE.read_text(), re.MULTILINE)
    assert len(listed) >= 26
    assert set(listed) <= served, set(listed) - served


def test_stream_is_a_capability_url(locked):
    server, values = locked
    with httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        assert anonymous.get(f"/v1/streams/{values['token']}").status_code == 200
        flipped = values["token"][:-1] + ("0" if values["token"][-1] != "0" else "1")
        guesses = [values["id"], values["id"] + "0" * 26, flipped]
        for guess in guesses:
            _problem(anonymous.get(f"/v1/streams/{guess}"), 404)


def test_stream_urls_are_unguessable_even_with_a_seed():
    """Two sandboxes with the same seed hand out the same prediction ids, not the same streams."""
    urls = []
    for _ in range(2):
        with sandbox.start(seed=7) as seeded:
            created = httpx.post(
                f"{seeded.base_url}/v1/models/{LLAMA}/predictions",
                json={"input": {"prompt": "hi", "max_tokens": 1}},
            ).json()
            urls.append((created["id"], created["urls"]["stream"].rsplit("/", 1)[-1]))
    (first_id, first_token), (second_id, second_token) = urls
    assert first_id == second_id  # the seed still makes ids reproducible
    assert first_token != second_token
    assert first_token.startswith(first_id) and len(first_token) == len(first_id) + 26


def test_randomness_lives_in_control_only():
    package = Path(sandbox.__file__).parent
    users = {
        p.name
        for p in package.rglob("*.py")
        if re.search(r"^import (random|secrets)\b|uuid4\(|secrets\.", p.read_text(), re.M)
    }
    assert users == {"control.py"}


# secret inputs: the model gets them; nothing shows them again
def vault(api_key: Secret, note: str = Input(default="hi")) -> str:
    """Uses the key, prints it (as careless code does) and returns only its hash."""
    value = api_key.get_secret_value()
    print(f"calling the service with {value}")
    if note == "fail":
        raise RuntimeError(f"the service refused key {value}")
    return hashlib.sha256(value.encode()).hexdigest()


def keyring(keys: list[Secret]) -> str:
    return ",".join(hashlib.sha256(k.get_secret_value().encode()).hexdigest()[:8] for k in keys)


def _events(url: str) -> str:
    with httpx.Client(timeout=10) as http:
        return http.get(url).text


def test_secret_inputs_reach_the_model_and_nothing_else(tmp_path, make_client):
    receiver = Receiver()
    try:
        with sandbox.start(data_dir=tmp_path) as server:
            server.register("me/vault", vault)
            client = make_client(server.base_url)
            prediction = client.models.predictions.create(
                model="me/vault", input={"api_key": SECRET}, webhook=receiver.url
            )
            prediction.wait()
            assert prediction.output == hashlib.sha256(SECRET.encode()).hexdigest()
            assert prediction.input == {"api_key": MASK}
            assert f"calling the service with {MASK}" in prediction.logs
            failed = client.models.predictions.create(
                model="me/vault", input={"api_key": SECRET, "note": "fail"}
            )
            failed.wait()
            assert failed.status == "failed" and failed.error == f"the service refused key {MASK}"
            receiver.wait_for("succeeded")
            api = f"{server.base_url}/v1/predictions"
            seen = [
                httpx.get(f"{api}/{prediction.id}").text,
                httpx.get(f"{api}/{failed.id}").text,
                httpx.get(api).text,
                *(r["body"] for r in receiver.received),
            ]
        with sandbox.start(data_dir=tmp_path) as again:  # after a restart: only what was stored
            seen.append(httpx.get(f"{again.base_url}/v1/predictions/{prediction.id}").text)
        database = sqlite3.connect(tmp_path / "sandbox.sqlite3")
        seen += [row[0] for row in database.execute("SELECT body FROM predictions")]
        database.close()
    finally:
        receiver.close()
    assert len(seen) >= 6
    leaks = [text[:200] for text in seen if SECRET in text]
    assert not leaks, leaks
    assert (tmp_path / "sandbox.sqlite3").read_bytes().find(SECRET.encode()) == -1


def test_streamed_secret_model_shows_no_secret(fresh_sb, fresh_client):
    def chatty(api_key: Secret) -> Iterator[str]:
        print(f"key {api_key.get_secret_value()}")
        yield "one"

    fresh_sb.register("me/chatty", chatty)
    prediction = fresh_client.models.predictions.create(
        model="me/chatty", input={"api_key": SECRET}
    )
    prediction.wait()
    events = _events(prediction.urls["stream"])
    assert f"key {MASK}" in events and SECRET not in events
    assert prediction.output == ["one"]


def test_a_list_of_secrets_is_masked_item_by_item(fresh_sb, fresh_client):
    fresh_sb.register("me/keyring", keyring)
    keys = [SECRET, SECRET + "2"]
    prediction = fresh_client.models.predictions.create(model="me/keyring", input={"keys": keys})
    prediction.wait()
    assert prediction.input == {"keys": [MASK, MASK]}
    expected = ",".join(hashlib.sha256(k.encode()).hexdigest()[:8] for k in keys)
    assert prediction.output == expected


def test_invalid_secret_is_not_quoted_back(fresh_sb):
    fresh_sb.register("me/vault", vault)
    reply = httpx.post(
        f"{fresh_sb.base_url}/v1/models/me/vault/predictions",
        json={"input": {"api_key": 12345678}},
    )
    body = _problem(reply, 422)
    assert "12345678" not in json.dumps(body) and MASK in body["detail"]
