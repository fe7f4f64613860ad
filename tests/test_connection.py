"""Tests for connect(): backend choice, module rebinding, status, login, secrecy.

"The real API" is played offline by a sandbox started with `require_token`, reached through
REPLICATE_BASE_URL; nothing here touches the internet.
"""

from __future__ import annotations

import importlib
import json
import logging
import traceback

import httpx
import ipywidgets
import pytest
import replicate
from IPython.testing import globalipapp
from ipywidgets.widgets.widget import _instances as widget_instances
from replicate.exceptions import ReplicateError

from replicate_nb import sandbox
from replicate_nb.connection import (
    REPLICATE_URL,
    ConnectedClient,
    Connection,
    connect,
    current_client,
    current_connection,
    disconnect,
    login,
)
from replicate_nb.errors import BackendError, ReplicateNbError
from tests.conftest import HELLO

connect_module = importlib.import_module("replicate_nb.connection")
SENTINEL = "r8_" + "FAKEtokenSENTINEL" + "0123456789abcdefghij"  # split: no token in git
SHORTCUTS = (
    "default_client",
    "run",
    "async_run",
    "stream",
    "async_stream",
    "collections",
    "deployments",
    "files",
    "hardware",
    "models",
    "predictions",
    "trainings",
    "webhooks",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch):
    """No token or base URL from the outside; every test ends disconnected, widgets closed."""
    for name in ("REPLICATE_API_TOKEN", "REPLICATE_BASE_URL"):
        monkeypatch.setenv(name, "placeholder")  # so teardown restores the original state
        monkeypatch.delenv(name)
    yield
    disconnect()
    ipywidgets.Widget.close_all()


@pytest.fixture
def real_api(monkeypatch):
    """A sandbox that plays the real API: it wants SENTINEL, and REPLICATE_BASE_URL names it."""
    with sandbox.start(require_token=SENTINEL) as server:
        monkeypatch.setenv("REPLICATE_BASE_URL", server.base_url)
        yield server


def is_up(base_url: str) -> bool:
    try:
        httpx.get(f"{base_url}/v1/models/replicate/hello-world", timeout=2)
    except httpx.ConnectError:
        return False
    return True


# choosing the backend


def test_connect__auto_without_token_starts_sandbox():
    client = connect()
    conn = current_connection()
    assert isinstance(client, ConnectedClient) and isinstance(client, replicate.Client)
    assert conn is client.connection
    assert conn.backend == "sandbox" and conn.sandbox is not None
    assert conn.base_url == conn.sandbox.base_url
    assert client.run(HELLO, input={"text": "bob"}) == "hello bob"


def test_connect__auto_with_env_token_uses_real_api(real_api, monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", SENTINEL)
    client = connect()
    assert client.connection == Connection("replicate", real_api.base_url, account="sandbox")
    assert replicate.run(HELLO, input={"text": "env"}) == "hello env"


def test_connect__token_and_base_url_arguments(real_api, monkeypatch):
    monkeypatch.delenv("REPLICATE_BASE_URL")
    client = connect(SENTINEL, base_url=real_api.base_url + "/")
    assert client.connection.base_url == real_api.base_url
    assert client.connection.account == "sandbox"


def test_connect__real_api_defaults_to_replicate_url(monkeypatch):
    # login(backend_check=False) connects without a request, so nothing leaves the machine.
    monkeypatch.setattr("getpass.getpass", lambda prompt: SENTINEL)
    client = login(backend_check=False)
    assert client.connection.base_url == REPLICATE_URL == "https://api.replicate.com"


def test_connect__replicate_without_token_raises_backend_error():
    with pytest.raises(BackendError) as info:
        connect(backend="replicate")
    assert isinstance(info.value, RuntimeError) and isinstance(info.value, ReplicateNbError)
    assert "replicate_nb.login()" in str(info.value)
    assert "REPLICATE_API_TOKEN" in str(info.value)
    assert current_connection() is None


def test_connect__trust_env_false_ignores_environment(real_api, monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", SENTINEL)
    assert connect(trust_env=False).connection.backend == "sandbox"
    with pytest.raises(BackendError):
        connect(backend="replicate", trust_env=False)


def test_connect__sandbox_never_gets_the_env_token(monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", SENTINEL)
    client = connect(backend="sandbox", require_token="local-only")
    assert client.run(HELLO, input={"text": "x"}) == "hello x"


def test_connect__passes_sandbox_options():
    client = connect(backend="sandbox", seed=7, require_token="abc")
    assert repr(client.connection.sandbox).endswith("require_token=[secure]>")


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"backend": "cloud"}, ValueError, "backend must be"),
        ({"backend": "sandbox", "base_url": "http://x"}, ValueError, "port="),
        ({"backend": "replicate", "token": "t", "seed": 1}, TypeError, "only apply to"),
    ],
)
def test_connect__rejects_bad_options(kwargs, error, words):
    with pytest.raises(error, match=words):
        connect(**kwargs)


# rebinding the SDK's module-level shortcuts


def test_connect__rebinds_every_shortcut():
    client = connect()
    assert replicate.default_client is client
    for name in ("run", "async_run", "stream", "async_stream"):
        assert getattr(replicate, name).__self__ is client
    for name in (
        "collections",
        "deployments",
        "files",
        "hardware",
        "models",
        "predictions",
        "trainings",
        "webhooks",
    ):
        assert getattr(replicate, name)._client is client


def test_connect__shortcuts_follow_even_after_first_use(monkeypatch, fresh_sb):
    # Play a session that used `replicate.run` before connecting: a default client frozen
    # (by its first request) on another server.
    used = replicate.Client()
    monkeypatch.setenv("REPLICATE_BASE_URL", fresh_sb.base_url)
    for name in SHORTCUTS:
        monkeypatch.setattr(
            replicate, name, used if name == "default_client" else getattr(used, name)
        )
    replicate.run(HELLO, input={"text": "before"})
    before = len(used.predictions.list().results)

    client = connect(backend="sandbox", trust_env=False)
    assert replicate.run(HELLO, input={"text": "after"}) == "hello after"
    assert replicate.predictions.list().results[0].input == {"text": "after"}
    assert len(used.predictions.list().results) == before

    disconnect()
    assert replicate.run == used.run and replicate.default_client is used
    used._client.close()
    assert client.connection.sandbox is not None and not is_up(client.connection.base_url)


def test_connect_again_replaces_previous_and_stops_its_sandbox():
    first = connect(backend="sandbox")
    old_url = first.connection.base_url
    first.run(HELLO, input={"text": "a"})
    second = connect(backend="sandbox")
    assert current_client() is second and replicate.default_client is second
    assert second.connection.base_url != old_url
    assert not is_up(old_url)
    with pytest.raises(RuntimeError, match="closed"):
        first.run(HELLO, input={"text": "b"})


def test_disconnect__restores_module_exactly_and_stops_sandbox():
    before = {name: getattr(replicate, name) for name in SHORTCUTS}
    connect()
    url = current_connection().base_url
    connect()  # "exactly as before the first connect", not as before the latest one
    disconnect()
    assert all(getattr(replicate, name) is value for name, value in before.items())
    assert current_connection() is None
    assert current_client() is replicate.default_client
    assert not is_up(url)


def test_disconnect__without_connect_does_nothing():
    before = replicate.default_client
    disconnect()
    assert replicate.default_client is before and current_connection() is None


# status line


def test_status__sandbox_one_line_text_and_html():
    client = connect()
    bundle = client._repr_mimebundle_()
    url = client.connection.base_url
    assert bundle["text/plain"] == (f"Connected to the offline sandbox at {url} (stand-in models)")
    assert url in bundle["text/html"] and "\n" not in bundle["text/html"]
    assert repr(client) == f"<ConnectedClient {bundle['text/plain']}, token=[secure]>"


def test_status__real_api_names_the_account(real_api):
    client = connect(SENTINEL)
    assert client._repr_mimebundle_()["text/plain"] == (
        f"Connected to Replicate at {real_api.base_url} as sandbox"
    )


def test_status__explains_account_failure_without_traceback(monkeypatch):
    with sandbox.start(require_token="someone-else") as other:
        monkeypatch.setenv("REPLICATE_BASE_URL", other.base_url)
        client = connect(SENTINEL)
        status = client._repr_mimebundle_()["text/plain"]
    assert status == (
        f"Connected to Replicate at {other.base_url}; account unknown: 401 "
        "Unauthenticated (You did not pass a valid authentication token)"
    )
    assert "Traceback" not in status and "\n" not in status


def test_status__unreachable_api(monkeypatch):
    with sandbox.start() as gone:
        url = gone.base_url
    monkeypatch.setenv("REPLICATE_BASE_URL", url)
    client = connect(SENTINEL)
    assert client.connection.problem == "could not reach the API (ConnectError)"


# secrecy (STYLE rule 8)


def test_token_never_appears_in_reprs_logs_or_errors(monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    with sandbox.start(require_token="a-different-token") as other:
        monkeypatch.setenv("REPLICATE_BASE_URL", other.base_url)
        client = connect(SENTINEL)
        conn = client.connection
        with pytest.raises(ReplicateError) as info:
            client.run(HELLO, input={"text": "x"})
    seen = [
        repr(client),
        str(client),
        json.dumps(client._repr_mimebundle_()),
        repr(conn),
        str(conn),
        json.dumps(conn._repr_mimebundle_()),
        str(info.value),
        repr(info.value),
        "".join(traceback.format_exception(info.value)),
        caplog.text,
    ]
    assert info.value.status == 401
    assert "[secure]" in repr(client) and "[secure]" in repr(conn)
    for text in seen:
        assert SENTINEL not in text


# login


@pytest.fixture
def widget_kernel(monkeypatch):
    """Pretend to run in a Jupyter kernel; collect what login() displays."""
    globalipapp.get_ipython()  # Output.append_display_data formats with the shell
    displayed: list = []
    monkeypatch.setattr(connect_module, "_in_widget_kernel", lambda: True)
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: displayed.extend(objs))
    return displayed


def login_form(displayed) -> tuple[ipywidgets.Password, ipywidgets.Button, ipywidgets.Output]:
    form, out = displayed
    password, button = form.children
    return password, button, out


def test_login__widget_connects_then_clears_and_closes(real_api, widget_kernel, caplog):
    caplog.set_level(logging.DEBUG)
    assert login() is None
    password, button, out = login_form(widget_kernel)
    password.value = SENTINEL
    button.click()

    assert current_connection().account == "sandbox"
    assert connect_module.os.environ["REPLICATE_API_TOKEN"] == SENTINEL
    assert password.value == "" and password.comm is None and button.comm is None
    states = [w.get_state() for w in (*widget_instances.values(), password, button, out)]
    assert all(SENTINEL not in json.dumps(state, default=str) for state in states)
    [shown] = out.outputs
    assert shown["data"]["text/plain"] == (
        f"Connected to Replicate at {real_api.base_url} as sandbox"
    )
    assert SENTINEL not in caplog.text


def test_login__widget_empty_token_keeps_form_open(widget_kernel):
    login()
    password, button, out = login_form(widget_kernel)
    button.click()
    assert current_connection() is None
    assert out.outputs[0]["text"].startswith("Login failed: no token was entered")
    assert password.comm is not None


def test_login__getpass_outside_notebook(real_api, monkeypatch, capsys):
    monkeypatch.setattr("getpass.getpass", lambda prompt: SENTINEL + "\n")
    client = login()
    assert client is current_client() and client.connection.account == "sandbox"
    out = capsys.readouterr().out
    assert out == f"Connected to Replicate at {real_api.base_url} as sandbox\n"


def test_login__backend_check_false_skips_account_lookup(monkeypatch, capsys):
    with sandbox.start(require_token="someone-else") as other:
        monkeypatch.setenv("REPLICATE_BASE_URL", other.base_url)
        monkeypatch.setattr("getpass.getpass", lambda prompt: SENTINEL)
        client = login(backend_check=False)
    assert client.connection == Connection("replicate", other.base_url)
    assert SENTINEL not in capsys.readouterr().out


def test_connect_with_replicate_2x_installed_says_how_to_point_it_at_a_sandbox(monkeypatch):
    import importlib.metadata

    from replicate_nb.errors import UnsupportedClient

    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata,
        "version",
        lambda name: "2.0.0b4" if name == "replicate" else real(name),
    )
    with pytest.raises(UnsupportedClient, match=r"REPLICATE_BASE_URL=http://127\.0\.0\.1:PORT/v1"):
        connect()
    assert current_connection() is None  # nothing was started
