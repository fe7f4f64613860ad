"""Choose the backend (real API or sandbox), build the client, and keep the token secret.

`connect()` builds a `ConnectedClient` and rebinds the module-level shortcuts of the official SDK
(`replicate.run`, `replicate.predictions`, ..., `replicate.default_client`) to it. The SDK freezes
its settings on first use and binds those shortcuts to `replicate.default_client` at import, so
setting environment variables after import changes nothing; rebinding does. `disconnect()` puts
the original objects back. This is the one module that reads `REPLICATE_API_TOKEN` and
`REPLICATE_BASE_URL`, and only when `trust_env` is true.
"""

from __future__ import annotations

import getpass
import importlib.util
import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any, Literal

import httpx
import replicate
from replicate.exceptions import ReplicateError

from replicate_nb import _sdk
from replicate_nb._terms import GREEN, RED
from replicate_nb.errors import BackendError, InvalidArgument, InvalidArgumentType
from replicate_nb.spending import Budget, Meter

if TYPE_CHECKING:
    from replicate_nb.sandbox import Sandbox

REPLICATE_URL = "https://api.replicate.com"
"""The real API's base URL (the Python SDK adds `/v1` itself)."""

_ENV_TOKEN = "REPLICATE_API_TOKEN"
_SANDBOX_TOKEN = "sandbox"  # sent to a sandbox, so the SDK never falls back to an env token
_SHORTCUTS = (
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
)  # what replicate/__init__.py binds to default_client at import
_TOKEN_HELP = (
    "call replicate_nb.login(), pass connect(token=...), or set the "
    "REPLICATE_API_TOKEN environment variable (tokens: "
    "https://replicate.com/account/api-tokens)"
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, repr=False)
class Connection:
    """What `connect()` set up: backend, base URL, the sandbox it started, the account.

    `account` is the username on the real API (None on the sandbox, or when it could not be
    read, in which case `problem` says why). `token_source` says where the token came from
    (e.g. "REPLICATE_API_TOKEN"), never what it is. Holds no token.
    """

    backend: Literal["sandbox", "replicate"]
    base_url: str
    sandbox: Sandbox | None = None
    account: str | None = None
    problem: str | None = None
    token_source: str | None = None

    @property
    def status(self) -> str:
        """One line for people: where requests go, as whom, and whose token says so."""
        if self.backend == "sandbox":
            return f"Connected to the offline sandbox at {self.base_url} (stand-in models)"
        source = f" (token from {self.token_source})" if self.token_source else ""
        if self.account is not None:
            return f"Connected to Replicate at {self.base_url} as {self.account}{source}"
        if self.problem is not None:
            return (
                f"Connected to Replicate at {self.base_url}{source}; account unknown: "
                f"{self.problem}"
            )
        return f"Connected to Replicate at {self.base_url}{source}"

    def __repr__(self) -> str:
        return (
            f"Connection(backend={self.backend!r}, base_url={self.base_url!r}, "
            f"account={self.account!r}, token=[secure])"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        colour = RED if self.problem else GREEN
        html = f'<div><span style="color:{colour}">&#9679;</span> {escape(self.status)}</div>'
        return {"text/plain": self.status, "text/html": html}


class ConnectedClient(_sdk.ScopedClient):
    """A `replicate.Client` that knows its `Connection` and shows it as a one-line status.

    A subclass (rather than a plain client with a status attached) so that `display(client)`
    and the cell's result show the status, and `repr()` can never print the token. The token
    goes to the API's origin only, and each event loop gets its own async client (`ScopedClient`).
    """

    def __init__(
        self,
        api_token: str | None = None,
        *,
        base_url: str | None = None,
        timeout: httpx.Timeout | None = None,
        connection: Connection | None = None,
        meter: Meter | None = None,
        **kwargs: Any,
    ) -> None:
        self.meter = meter or Meter()
        kwargs.setdefault("event_hooks", self.meter.event_hooks())
        super().__init__(api_token, base_url=base_url, timeout=timeout, **kwargs)
        self.connection = connection

    def __repr__(self) -> str:
        where = (
            self.connection.status if self.connection else f"base_url={str(_sdk.api_url(self))!r}"
        )
        return f"<ConnectedClient {where}, token=[secure]>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        if self.connection is None:
            return {"text/plain": repr(self)}
        return self.connection._repr_mimebundle_()


_lock = threading.RLock()
_current: ConnectedClient | None = None
_saved: dict[str, Any] | None = None  # the SDK's module attributes before the first connect()
_env_before: tuple[str | None] | None = None  # REPLICATE_API_TOKEN before the first login()


def current_client() -> replicate.Client:
    """The client helpers use by default: the one `connect()` made, else the SDK's default."""
    return _current if _current is not None else replicate.default_client


def current_connection() -> Connection | None:
    """The active `Connection`, or None when `connect()` has not been called (or was undone)."""
    client = _current
    return client.connection if client is not None else None


def current_meter() -> Meter | None:
    """The active connection's `Meter` (its predictions and budget), or None."""
    client = _current
    return client.meter if client is not None else None


def connect(
    token: str | None = None,
    *,
    backend: str = "auto",
    base_url: str | None = None,
    trust_env: bool = True,
    budget: Budget | float | None = None,
    **sandbox_options: Any,
) -> ConnectedClient:
    """Connect to Replicate or to an offline sandbox, and make `replicate.*` use that client.

    Args:
        token: an API token for the real API. When it is not given and `trust_env` is true,
            the token is looked for in `REPLICATE_API_TOKEN`, then in Colab's secrets (a secret
            named REPLICATE_API_TOKEN); else ask for one with `login()`. The status line says
            which source was used, never the token.
        backend: "auto" (the real API if there is a token, else a sandbox), "sandbox" or
            "replicate".
        base_url: the real API's URL; defaults to `REPLICATE_BASE_URL` (with `trust_env`),
            else https://api.replicate.com.
        trust_env: read `REPLICATE_API_TOKEN` / `REPLICATE_BASE_URL` from the environment.
        budget: stop new predictions once this connection's predictions would cost this many
            dollars on the real API (an estimate, see `replicate_nb.usage()`), or pass
            `Budget(predictions=N)` to allow N predictions. Enforced in the client, so it holds
            on the real API and the sandbox alike.
        **sandbox_options: passed to `replicate_nb.sandbox.start` (port, seed, faults, ...).

    Returns:
        The new client; it displays as a one-line status. A previous connection is replaced
        (its client closed, a sandbox it started stopped).

    Raises:
        BackendError: `backend="replicate"` without a token.
        UnsupportedClient: the installed `replicate` is 2.x (the message says how to point it
            at a sandbox yourself).
    """
    _sdk.check_generation()
    return _connect(
        token,
        backend=backend,
        base_url=base_url,
        trust_env=trust_env,
        check_account=True,
        sandbox_options=sandbox_options,
        meter=Meter(Budget.coerce(budget)),
    )


def disconnect() -> None:
    """Undo `connect()` and `login()`: restore `replicate.*` and the token, stop the sandbox."""
    global _current, _saved, _env_before
    with _lock:
        if _saved is not None:
            for name, value in _saved.items():
                setattr(replicate, name, value)
        old, _current, _saved = _current, None, None
        if _env_before is not None:
            if _env_before[0] is None:
                os.environ.pop(_ENV_TOKEN, None)
            else:
                os.environ[_ENV_TOKEN] = _env_before[0]
            _env_before = None
    if old is not None:
        _release(old)
        logger.info("disconnected from %s", old.connection.base_url if old.connection else "?")


def login(*, backend_check: bool = True) -> ConnectedClient | None:
    """Ask for an API token without echoing it, then connect to the real API with it.

    The token is checked first (the account is looked up, one API request): a token the API
    refuses is never stored, and the connection stays as it was. Once accepted, it is put in
    this kernel's `REPLICATE_API_TOKEN` (for subprocesses); `disconnect()` takes it out again.
    In a notebook this shows a password box; on submit the status line is shown and the box
    is cleared and closed, so the token is not saved with the notebook's widget state (it
    returns None at once). Elsewhere it prompts with `getpass` and returns the client.

    Args:
        backend_check: check the token against the API before using it.

    Raises:
        BackendError: no token was entered, or the API refused it or could not be reached.
    """
    if _in_widget_kernel():
        _login_widget(backend_check)
        return None
    token = getpass.getpass("Replicate API token: ").strip()
    client = _login_with(token, backend_check)
    print(client.connection.status if client.connection else repr(client))
    return client


def _connect(
    token: str | None,
    *,
    backend: str,
    base_url: str | None,
    trust_env: bool,
    check_account: bool,
    sandbox_options: Mapping[str, Any],
    meter: Meter | None = None,
    strict: bool = False,
    token_source: str | None = None,
) -> ConnectedClient:
    if backend not in ("auto", "sandbox", "replicate"):
        raise InvalidArgument(f"backend must be 'auto', 'sandbox' or 'replicate', got {backend!r}")
    env: Mapping[str, str] = os.environ if trust_env else {}
    source = token_source
    if token is None and backend != "sandbox" and trust_env:
        token, source = _found_token(env)
    elif token is not None and source is None:
        source = "connect(token=...)"
    if backend == "auto":
        backend = "replicate" if token else "sandbox"
    if backend == "sandbox":
        if base_url is not None:
            raise InvalidArgument(
                "base_url is for backend='replicate'; a sandbox picks its own "
                "(pass port=... to choose the port)"
            )
        client = _sandbox_client(token, sandbox_options, meter)
    else:
        if sandbox_options:
            raise InvalidArgumentType(
                f"sandbox options {sorted(sandbox_options)} only apply to "
                "backend='sandbox' (with backend='auto' a token selects the real API)"
            )
        if not token:
            raise BackendError(f"backend='replicate' needs an API token: {_TOKEN_HELP}.")
        url = (base_url or env.get("REPLICATE_BASE_URL") or REPLICATE_URL).rstrip("/")
        client = ConnectedClient(token, base_url=url, meter=meter)
        account, problem = _account(client, token) if check_account else (None, None)
        if strict and problem is not None:
            _sdk.close(client)
            raise BackendError(
                f"the token was not accepted by {url}: {problem}. Check it (tokens: "
                "https://replicate.com/account/api-tokens) and log in again."
            )
        client.connection = Connection(
            "replicate", url, account=account, problem=problem, token_source=source
        )
    _install(client)
    logger.info("%s", client.connection.status if client.connection else "connected")
    return client


def _found_token(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The token from the environment, else from Colab's secrets, and which it was."""
    if env.get(_ENV_TOKEN):
        return env[_ENV_TOKEN], _ENV_TOKEN
    secret = _colab_secret(_ENV_TOKEN)
    if secret:
        return secret, f"the Colab secret {_ENV_TOKEN}"
    return None, None


def _colab_secret(name: str) -> str | None:
    """A secret from Colab's secrets panel, as huggingface_hub reads HF_TOKEN; None elsewhere."""
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        value = userdata.get(name)
    except Exception as exc:
        logger.info("no Colab secret %s (%s)", name, type(exc).__name__)
        return None
    return value.strip() or None if isinstance(value, str) else None


def _sandbox_client(
    token: str | None, options: Mapping[str, Any], meter: Meter | None
) -> ConnectedClient:
    from replicate_nb import sandbox

    server = sandbox.start(**options)
    api_token = token or options.get("require_token") or _SANDBOX_TOKEN
    client = ConnectedClient(api_token, base_url=server.base_url, meter=meter)
    client.connection = Connection("sandbox", server.base_url, sandbox=server)
    return client


def _account(client: replicate.Client, token: str) -> tuple[str | None, str | None]:
    """The account's username, or None and a one-line reason (never the token)."""
    try:
        return client.accounts.current().username, None
    except ReplicateError as e:
        reason = " ".join(str(part) for part in (e.status, e.title) if part)
        reason = f"{reason} ({e.detail})" if e.detail else reason
    except httpx.HTTPError as e:
        reason = f"could not reach the API ({type(e).__name__})"
    return None, reason.replace(token, "[secure]")


def _install(client: ConnectedClient) -> None:
    """Make `client` current and rebind the SDK's module-level shortcuts to it."""
    global _current, _saved
    with _lock:
        if _saved is None:
            _saved = {name: getattr(replicate, name) for name in _SHORTCUTS}
        for name in _SHORTCUTS:
            setattr(replicate, name, client if name == "default_client" else getattr(client, name))
        old, _current = _current, client
    if old is not None:
        _release(old)


def _release(client: ConnectedClient) -> None:
    """Close a replaced client's connections and stop the sandbox it was connected to."""
    _sdk.close(client)
    if client.connection is not None and client.connection.sandbox is not None:
        client.connection.sandbox.stop()


def _login_with(token: str, backend_check: bool) -> ConnectedClient:
    global _env_before
    if not token:
        raise BackendError(f"no token was entered: {_TOKEN_HELP}.")
    client = _connect(
        token,
        backend="replicate",
        base_url=None,
        trust_env=True,
        check_account=backend_check,
        sandbox_options={},
        strict=backend_check,
        token_source="login()",
    )
    with _lock:  # checked: now kept for this process (e.g. subprocesses), until disconnect()
        if _env_before is None:
            _env_before = (os.environ.get(_ENV_TOKEN),)
        os.environ[_ENV_TOKEN] = token
    return client


def _in_widget_kernel() -> bool:
    """Whether we run in a Jupyter kernel that can show ipywidgets (not a terminal IPython)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return (
        shell is not None
        and getattr(shell, "kernel", None) is not None
        and importlib.util.find_spec("ipywidgets") is not None
    )


def _login_widget(backend_check: bool) -> None:
    import ipywidgets as widgets
    from IPython.display import display

    box = widgets.Password(description="API token", placeholder="r8_...", continuous_update=False)
    button = widgets.Button(description="Log in", button_style="primary")
    form = widgets.HBox([box, button])
    out = widgets.Output()

    def submit(_: Any) -> None:
        token, box.value = box.value.strip(), ""
        try:
            client = _login_with(token, backend_check)
        except (BackendError, ReplicateError, httpx.HTTPError) as e:
            message = str(e).replace(token, "[secure]") if token else str(e)
            out.append_stdout(f"Login failed: {message}\n")
            return
        out.append_display_data(client.connection)
        for widget in (box, button, form):
            widget.close()

    button.on_click(submit)
    display(form, out)
