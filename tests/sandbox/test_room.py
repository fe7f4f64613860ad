"""A room sandbox: one account per token, isolation on every route, limits, the CLI, TLS."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys

import httpx
import pytest
import replicate
from replicate.exceptions import ReplicateError
from starlette.routing import Route

from replicate_nb import sandbox
from replicate_nb.sandbox.models.hello import HELLO_WORLD
from replicate_nb.sandbox.models.upscaler import REAL_ESRGAN as UPSCALER
from replicate_nb.sandbox.room import INSTRUCTOR, LOW_CREDIT, Limits, Room, Roster
from tests.conftest import close_client

HELLO = f"{HELLO_WORLD.ref}:{HELLO_WORLD.version_id}"  # not official: run by version
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f"
    b"\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00"
    b"\x00IEND\xaeB`\x82"
)


@pytest.fixture
def roster():
    return Roster.generate(3)


@pytest.fixture
def room_sb(roster):
    with sandbox.start(room=Room(roster), keepalive=0.2) as server:
        yield server


def as_user(server, roster, username, make_client):
    return make_client(server.base_url, api_token=roster.token(username))


# the roster and its tokens file


def test_roster__one_unguessable_token_per_account(roster):
    accounts = roster.accounts()
    assert [a.username for a in accounts] == [
        INSTRUCTOR,
        "attendee-01",
        "attendee-02",
        "attendee-03",
    ]
    tokens = {roster.token(a.username) for a in accounts}
    assert len(tokens) == 4
    assert all(t.startswith("r8_") and len(t) == 40 and t[3:].isalnum() for t in tokens)
    assert roster.token("attendee-01") not in repr(roster)
    assert Roster.generate(3).token("attendee-01") != roster.token("attendee-01")


def test_roster__file_round_trip_owner_only(tmp_path, roster):
    path = tmp_path / "tokens.csv"
    roster.write(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again, added = Roster.read(path)
    assert not added
    assert again.token("attendee-02") == roster.token("attendee-02")
    assert path.read_text().splitlines()[0] == "username,name,token"


def test_roster__names_from_the_instructor_get_tokens(tmp_path):
    path = tmp_path / "hub-users.csv"
    path.write_text("username,name,token\nada,Ada Lovelace,\ngrace,,\n")
    roster, added = Roster.read(path)
    assert added
    assert [a.username for a in roster.accounts()] == [INSTRUCTOR, "ada", "grace"]
    assert roster.accounts()[2].name == "grace"
    assert roster.account(roster.token("ada")).name == "Ada Lovelace"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("user,token\nada,x\n", "header"),
        ("username,name,token\nAda Smith,,\n", "lowercase"),
        ("username,name,token\nada,,t1\ngrace,,t1\n", "share a token"),
    ],
)
def test_roster__bad_files_are_refused_clearly(tmp_path, text, words):
    path = tmp_path / "t.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=words):
        Roster.read(path)


# accounts and isolation


def test_account__answers_the_attendees_name(room_sb, roster, make_client):
    me = as_user(room_sb, roster, "attendee-02", make_client)
    account = me.accounts.current()
    assert (account.username, account.name) == ("attendee-02", "Attendee 02")
    with pytest.raises(ReplicateError) as caught:
        make_client(room_sb.base_url, api_token="r8_" + "x" * 37).accounts.current()
    assert caught.value.status == 401


def _resources_of(client, server):
    """What attendee A owns: a prediction still running, a file, a deployment, a model."""
    running = client.predictions.create(version="sandbox/sleep", input={"seconds": 30})
    done = client.predictions.create(version=HELLO, input={"text": "mine"})
    done.wait()
    file = client.files.create(io.BytesIO(PNG), filename="a-secret.png")
    model = server.catalog.model("replicate", "hello-world")
    client.deployments.create(
        name="a-secret-deploy",
        model=model.ref,
        version=model.version_id,
        hardware="cpu",
        min_instances=0,
        max_instances=1,
    )
    client.models.create(
        owner="attendee-01", name="a-secret-model", visibility="private", hardware="cpu"
    )
    return running, done, file


def _path_for(route: Route, running_id: str, file_id: str) -> list[str]:
    """Every way to fill the route's parameters with attendee A's ids."""
    path = route.path
    if "{id}" in path:
        ids = [file_id] if "/files/" in path else [running_id]
        return [path.replace("{id}", i) for i in ids]
    if "{owner}" in path and "/deployments/" in path:
        return [path.replace("{owner}", "attendee-01").replace("{name}", "a-secret-deploy")]
    if "{owner}" in path:
        path = path.replace("{version}", "0" * 64)
        return [
            path.replace("{owner}", "attendee-01").replace("{name}", "a-secret-model"),
            path.replace("{owner}", "replicate").replace("{name}", "hello-world"),
        ]
    return [path.split("{")[0]] if "{" in path else [path]


def test_isolation__every_route_hides_another_attendees_work(room_sb, roster, make_client):
    """B walks every route of the app with A's ids: never sees, cancels or deletes A's work."""
    a = as_user(room_sb, roster, "attendee-01", make_client)
    running, done, file = _resources_of(a, room_sb)
    secrets = [
        running.id,
        done.id,
        file.id,
        "a-secret-deploy",
        "a-secret.png",
        "mine",
        "a-secret-model",
    ]
    b_headers = {"Authorization": f"Bearer {roster.token('attendee-02')}"}
    walked = 0
    with httpx.Client(
        base_url=room_sb.base_url, headers=b_headers, timeout=10, follow_redirects=True
    ) as b:
        for route in room_sb.app.routes:
            if not isinstance(route, Route) or route.path.startswith("/_room"):
                continue  # the live view is the instructor's (tested in test_room_view.py)
            for method in sorted(route.methods - {"HEAD"}):
                for path in _path_for(route, running.id, file.id):
                    body = {"input": {"text": "b"}} if method in ("POST", "PUT", "PATCH") else None
                    reply = b.request(method, path, json=body)
                    walked += 1
                    assert reply.status_code < 500, (method, path, reply.text)
                    # a 404 may quote what B asked for; nothing else of A's may show
                    asked = path.split("/") if reply.status_code == 404 else []
                    for secret in secrets:
                        if secret not in asked:
                            assert secret not in reply.text, (method, path, secret)
                    if "{id}" in route.path or "attendee-01/" in path:
                        assert reply.status_code in (404, 422), (method, path, reply.status_code)
    assert walked > 20
    # and A's work is untouched
    assert a.predictions.get(running.id).status in ("starting", "processing")
    assert a.files.get(file.id).name == "a-secret.png"
    assert a.deployments.get("attendee-01/a-secret-deploy").name == "a-secret-deploy"
    assert {p.id for p in a.predictions.list().results} >= {running.id, done.id}
    assert a.models.get("attendee-01/a-secret-model").name == "a-secret-model"
    a.predictions.cancel(running.id)


def test_isolation__lists_show_only_your_own(room_sb, roster, make_client):
    a = as_user(room_sb, roster, "attendee-01", make_client)
    b = as_user(room_sb, roster, "attendee-02", make_client)
    mine = a.predictions.create(version=HELLO, input={"text": "a"})
    theirs = b.predictions.create(version=HELLO, input={"text": "b"})
    assert [p.id for p in a.predictions.list().results] == [mine.id]
    assert [p.id for p in b.predictions.list().results] == [theirs.id]
    a.files.create(io.BytesIO(PNG), filename="a.png")
    assert [f.name for f in b.files.list()] == []


def test_isolation__another_attendees_file_is_no_model_input(room_sb, roster, make_client):
    a = as_user(room_sb, roster, "attendee-01", make_client)
    b = as_user(room_sb, roster, "attendee-02", make_client)
    file = a.files.create(io.BytesIO(PNG), filename="a.png")
    stolen = b.predictions.create(version=UPSCALER.version_id, input={"image": file.urls["get"]})
    stolen.wait()
    assert stolen.status == "failed" and "not found" in stolen.error


def test_isolation__capability_urls_refuse_another_attendees_token(room_sb, roster, make_client):
    a = as_user(room_sb, roster, "attendee-01", make_client)
    prediction = a.predictions.create(
        version="meta/meta-llama-3-8b-instruct", input={"prompt": "hi"}
    )
    file = a.files.create(io.BytesIO(PNG), filename="a.png")
    b_headers = {"Authorization": f"Bearer {roster.token('attendee-02')}"}
    stream = httpx.get(prediction.urls["stream"], headers=b_headers)
    assert stream.status_code == 404
    download = httpx.get(f"{room_sb.base_url}/v1/files/{file.id}/download", headers=b_headers)
    assert download.status_code == 404


def test_faults__only_the_instructor_may_change_them(room_sb, roster):
    url = f"{room_sb.base_url}/_sandbox/faults"
    attendee = {"Authorization": f"Bearer {roster.token('attendee-01')}"}
    teacher = {"Authorization": f"Bearer {roster.token(INSTRUCTOR)}"}
    assert httpx.get(url).status_code == 401
    assert httpx.put(url, json={"latency": 0}, headers=attendee).status_code == 403
    assert httpx.put(url, json={"latency": 0}, headers=teacher).status_code == 200


# limits


def test_limits__low_credit_throttle_per_attendee(roster, make_client):
    with sandbox.start(room=Room(roster, LOW_CREDIT)) as server:
        a = as_user(server, roster, "attendee-01", make_client)
        b = as_user(server, roster, "attendee-02", make_client)
        a.predictions.create(version=HELLO, input={"text": "1"})
        reply = httpx.post(
            f"{server.base_url}/v1/predictions",
            json={"version": HELLO, "input": {"text": "2"}},
            headers={"Authorization": f"Bearer {roster.token('attendee-01')}"},
        )
        assert reply.status_code == 429
        body = reply.json()
        assert body["retry_after"] >= 1 and reply.headers["Retry-After"] == str(body["retry_after"])
        assert "6 requests per minute with a burst of 1" in body["detail"]
        assert body["detail"].startswith("Request was throttled.")
        b.predictions.create(version=HELLO, input={"text": "b"})  # not A's limit


def test_limits__room_wide_cap_on_running_predictions(roster, make_client):
    with sandbox.start(room=Room(roster, Limits(room_running=1))) as server:
        a = as_user(server, roster, "attendee-01", make_client)
        b = as_user(server, roster, "attendee-02", make_client)
        slow = a.predictions.create(version="sandbox/sleep", input={"seconds": 30})
        with pytest.raises(ReplicateError) as caught:
            b.predictions.create(version=HELLO, input={"text": "b"})
        assert caught.value.status == 429 and "whole room" in caught.value.detail
        a.predictions.cancel(slow.id)
        b.predictions.create(version=HELLO, input={"text": "b"})


def test_room__unchanged_kit_cells_via_the_two_environment_variables(room_sb, roster, monkeypatch):
    """An attendee's kernel: REPLICATE_BASE_URL + REPLICATE_API_TOKEN, then connect() as usual."""
    import replicate_nb

    monkeypatch.setenv("REPLICATE_BASE_URL", room_sb.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", roster.token("attendee-03"))
    try:
        client = replicate_nb.connect()
        assert client.connection.backend == "replicate"
        assert client.connection.account == "attendee-03"
        assert (
            replicate.run(
                "replicate/hello-world:"
                + room_sb.catalog.model("replicate", "hello-world").version_id,
                input={"text": "room"},
            )
            == "hello room"
        )
    finally:
        replicate_nb.disconnect()


# the CLI


def _cli(*args, cwd=None):
    return subprocess.Popen(
        [sys.executable, "-m", "replicate_nb.sandbox", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )


def _stop(proc):
    proc.send_signal(signal.SIGINT)
    assert proc.wait(15) == 0
    proc.stdout.close()
    proc.stderr.close()


def test_cli__room_writes_tokens_and_prints_the_live_view(tmp_path):
    tokens = tmp_path / "room.csv"
    proc = _cli("--room", "2", "--tokens", str(tokens))
    try:
        first = proc.stdout.readline()
        base_url = first.split()[-1]
        lines = [proc.stdout.readline()]
        while "live view" not in lines[-1]:
            lines.append(proc.stdout.readline())
        lines = [line for line in lines if line.startswith("Room of")] + lines[-1:]
        roster, _ = Roster.read(tokens)
        assert len(roster.accounts()) == 3
        assert str(tokens) in lines[0]
        assert lines[-1].strip().endswith(f"/_room/?token={roster.token(INSTRUCTOR)}")
        me = {"Authorization": f"Bearer {roster.token('attendee-02')}"}
        assert httpx.get(f"{base_url}/v1/account", headers=me).json()["username"] == "attendee-02"
    finally:
        _stop(proc)


def test_cli__an_existing_tokens_file_is_served_again(tmp_path):
    tokens = tmp_path / "room.csv"
    Roster.generate(1).write(tokens)
    done = subprocess.run(
        [sys.executable, "-m", "replicate_nb.sandbox", "--room", "3", "--tokens", str(tokens)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "already exists" in done.stderr


def test_cli__all_interfaces_need_tokens():
    done = subprocess.run(
        [sys.executable, "-m", "replicate_nb.sandbox", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--room N or --tokens FILE" in done.stderr and "--require-token" in done.stderr


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_tls__serves_https_with_the_given_certificate(tmp_path, roster, make_client, monkeypatch):
    """The official client trusts a self-signed certificate through SSL_CERT_FILE (as the guide
    tells attendees): it builds its own transport, so `verify=` would not reach it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    with sandbox.start(room=Room(roster), tls_cert=cert, tls_key=key) as server:
        assert server.base_url.startswith("https://127.0.0.1:")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        me = replicate.Client(roster.token("attendee-01"), base_url=server.base_url)
        try:
            assert me.accounts.current().username == "attendee-01"
        finally:
            close_client(me)  # before the server stops: a TLS connection must close first


def test_tls__needs_both_files():
    with pytest.raises(ValueError, match="both"):
        sandbox.Sandbox(tls_cert="cert.pem")


def test_isolation__trainings_and_models_are_their_owners(room_sb, roster, make_client):
    from tests.sandbox.test_trainings import TRAINER, TRAINER_VERSION, style_zip

    a = as_user(room_sb, roster, "attendee-01", make_client)
    b = as_user(room_sb, roster, "attendee-02", make_client)
    a.models.create(owner="attendee-01", name="style", visibility="private", hardware="gpu-h100")
    with pytest.raises(ReplicateError) as not_yours:
        b.models.create(owner="attendee-01", name="mine", visibility="private", hardware="cpu")
    assert not_yours.value.status == 403 and "'attendee-02'" in not_yours.value.detail
    training = a.trainings.create(
        model=TRAINER,
        version=TRAINER_VERSION,
        input={"input_images": io.BytesIO(style_zip()), "trigger_word": "ZXQ", "steps": 50},
        destination="attendee-01/style",
    )
    for call in (b.trainings.get, b.trainings.cancel):
        with pytest.raises(ReplicateError) as hidden:
            call(training.id)
        assert hidden.value.status == 404
    assert [t.id for t in b.trainings.list().results] == []
    with pytest.raises(ReplicateError) as hidden:
        b.trainings.create(
            model=TRAINER,
            version=TRAINER_VERSION,
            input={"input_images": io.BytesIO(style_zip()), "trigger_word": "ZXQ"},
            destination="attendee-01/style",
        )
    assert hidden.value.status == 404
    assert [t.id for t in a.trainings.list().results] == [training.id]


def _global_ipv4() -> str | None:
    """A non-loopback IPv4 address of this machine, as `ip` lists it (None when it has none)."""
    try:
        listed = subprocess.run(
            ["ip", "-o", "-4", "addr", "show", "scope", "global"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    fields = listed.split()
    return fields[fields.index("inet") + 1].partition("/")[0] if "inet" in fields else None


def test_all_interfaces__the_machines_own_names_and_addresses_are_allowed_hosts(roster):
    """Bound to 0.0.0.0, attendees come by the machine's hostname or address; others are 403.

    Every request goes to 127.0.0.1: only its Host header names the machine."""
    address = _global_ipv4()
    hostname = socket.gethostname()
    token = {"Authorization": f"Bearer {roster.token('attendee-01')}"}
    with sandbox.start(host="0.0.0.0", room=Room(roster)) as server:
        local = f"http://127.0.0.1:{server.port}/v1/account"
        hosts = [hostname] + ([address] if address else [])
        for host in hosts:
            answer = httpx.get(local, headers={**token, "Host": f"{host}:{server.port}"})
            assert answer.status_code == 200, (host, answer.text)
            assert answer.json()["username"] == "attendee-01"
        refused = httpx.get(local, headers={**token, "Host": f"evil.example:{server.port}"})
        assert refused.status_code == 403 and "evil.example" in refused.json()["detail"]
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address: only the hostname was tried")
