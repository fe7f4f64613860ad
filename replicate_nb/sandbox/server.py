"""A sandbox server: wiring of store, catalog, engine and app, served by uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn

from . import replay as replaying
from . import saved
from .app import KEEPALIVE_SECONDS, build_app
from .catalog import Catalog
from .connections import GuardedH11Protocol
from .control import Faults, RandomSource
from .engine import STREAM_RATE, Engine
from .http import AllowedHosts, State
from .models import builtin_models, schema_version_id
from .models.base import ModelSpec
from .predictors import build_model
from .room import Room
from .store import Store
from .webhooks import WebhookSender


class _Server(uvicorn.Server):
    """uvicorn's server, ending the engine's runs and streams before it waits for connections.

    uvicorn waits (up to `timeout_graceful_shutdown`) for open responses before the app's
    lifespan shutdown runs, and then cancels them with a traceback; an open event stream would
    hold every stop for that long. Stopping the runs first sends each stream its `done` event.
    """

    def __init__(self, config: uvicorn.Config, engine: Engine) -> None:
        super().__init__(config)
        self._engine = engine

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """End runs and streams, then shut down as uvicorn does."""
        await self._engine.shutdown()
        await super().shutdown(sockets)


class Sandbox:
    """A running sandbox; `.base_url` is what `replicate.Client(base_url=...)` needs.

    Use `start()` to make one. It is a context manager: leaving the block stops the server.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        require_token: str | None = None,
        faults: Faults | dict[str, Any] | None = None,
        data_dir: str | Path | None = None,
        seed: int | None = None,
        keepalive: float = KEEPALIVE_SECONDS,
        replay: str | Path | Sequence[str | Path] | None = None,
        replay_fallback: str | None = None,
        allowed_hosts: Sequence[str] = (),
        room: Room | None = None,
        tls_cert: str | Path | None = None,
        tls_key: str | Path | None = None,
        stream_rate: float = STREAM_RATE,
    ) -> None:
        if not (isinstance(stream_rate, int | float) and 0 < stream_rate < float("inf")):
            raise ValueError(
                f"stream_rate must be a positive number of tokens per second, not {stream_rate!r}"
            )
        if (tls_cert is None) != (tls_key is None):
            raise ValueError("TLS needs both a certificate (tls_cert) and its key (tls_key)")
        if room is not None and require_token is not None:
            raise ValueError("a room has its own tokens: drop require_token")
        self.host = host
        self.room = room
        self.scheme = "https" if tls_cert is not None else "http"
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.store = Store(self.data_dir)  # raises StartupError before anything listens
        try:
            self._build(
                port=port,
                require_token=require_token,
                faults=faults,
                seed=seed,
                keepalive=keepalive,
                replay=replay,
                replay_fallback=replay_fallback,
                allowed_hosts=allowed_hosts,
                tls=(tls_cert, tls_key),
                stream_rate=stream_rate,
            )
        except BaseException:
            self.store.close()  # release the data directory for the next attempt
            raise

    def _build(
        self,
        *,
        port: int,
        require_token: str | None,
        faults: Any,
        seed: int | None,
        keepalive: float,
        replay: Any,
        replay_fallback: str | None,
        allowed_hosts: Sequence[str],
        tls: tuple[str | Path | None, str | Path | None],
        stream_rate: float,
    ) -> None:
        host, room, (tls_cert, tls_key) = self.host, self.room, tls
        self.random = RandomSource(seed)
        self.catalog = Catalog(builtin_models())
        saved.restore(self.store, self.catalog)  # models made with models.create, trained
        if replay is not None:
            replaying.install(self.catalog, replay, store=self.store, fallback=replay_fallback)
        self.webhooks = WebhookSender(self.store, self.random)
        self.engine = Engine(
            catalog=self.catalog,
            store=self.store,
            random=self.random,
            faults=Faults.coerce(faults),
            webhooks=self.webhooks,
            stream_rate=stream_rate,
        )
        self._require_token = require_token
        if room is not None:
            self.engine.finish_listeners.append(room.finished)
            self.catalog.private_owners = frozenset(a.username for a in room.roster.accounts())
        self.state = State(
            self.engine,
            require_token=require_token,
            room=room,
            hosts=AllowedHosts(host, *allowed_hosts),
        )
        self.app = build_app(self.state, keepalive=keepalive)
        # IPPROTO_TCP explicitly: asyncio enables TCP_NODELAY only on sockets that say TCP, and
        # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
        self._socket = socket.socket(
            socket.AF_INET6 if ":" in host else socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self._socket.listen(2048)  # connections queue from now on, before uvicorn accepts them
        self.port: int = self._socket.getsockname()[1]
        self.webhooks.base_url = self.base_url
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            loop="asyncio",
            http=GuardedH11Protocol,  # h11 plus a request-head timeout and a connection cap
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
            ssl_certfile=str(tls_cert) if tls_cert is not None else None,
            ssl_keyfile=str(tls_key) if tls_key is not None else None,
        )
        self._server = _Server(config, self.engine)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT` (https with TLS), without `/v1` (Python adds it; JS wants it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def allowed_hosts(self) -> AllowedHosts:
        """The `Host` names answered (besides localhost and loopback); assign names to change them.

        Any other Host gets a 403, against DNS rebinding (see `http.AllowedHosts`).
        """
        return self.state.hosts

    @allowed_hosts.setter
    def allowed_hosts(self, names: Sequence[str]) -> None:
        self.state.hosts = AllowedHosts(self.host, *names)

    @property
    def api_url(self) -> str:
        """`http://HOST:PORT/v1`: the base URL of replicate 2.x and of the JavaScript client."""
        return f"{self.base_url}/v1"

    def client_env(self, generation: int = 1) -> dict[str, str]:
        """The environment variables that point a `replicate` client of `generation` here.

        1.x wants `REPLICATE_BASE_URL` without `/v1`; 2.x (and its `replicate.use`, which reads
        only the environment) wants it with `/v1`, and needs some token: "sandbox" unless this
        sandbox requires a token, which is then yours to set (it is never returned).
        """
        if generation not in (1, 2):
            raise ValueError(
                f"generation must be 1 or 2 (replicate 1.x or 2.x), not {generation!r}"
            )
        env = {"REPLICATE_BASE_URL": self.base_url if generation == 1 else self.api_url}
        if self._require_token is None:
            env["REPLICATE_API_TOKEN"] = "sandbox"
        return env

    @property
    def faults(self) -> Faults:
        """The fault settings in force; assign a `Faults` or a dict to change them live."""
        return self.engine.faults

    @faults.setter
    def faults(self, value: Faults | dict[str, Any] | None) -> None:
        self.engine.faults = Faults.coerce(value)

    def register(
        self, ref: str, target: Any, *, description: str | None = None, replace: bool = False
    ) -> ModelSpec:
        """Serve your own Python function or Cog-style predictor class as model `ref`.

        `target` is a function with type hints (parameters may default to `replicate_nb.Input`),
        or a class (or instance) with `predict(...)` and optionally `setup()`, which runs once,
        before the first prediction. Generators stream. See `predictors.build_model`.

        The version id is the sha256 of the schema's canonical JSON, so the same signature gets
        the same id in every session; when another model here already has that id (an identical
        signature), the model's name is mixed in so that bare version ids stay unambiguous.

        Raises:
            ValueError: `ref` is not `owner/name`, is taken (pass `replace=True`), or a default
                is out of its bounds.
            TypeError: a parameter or the return type has a missing or unsupported annotation.
        """
        model = build_model(ref, target, description=description)
        served = {m.version_id: m.ref for m in self.catalog.models()}
        if not replace and model.ref in served.values():
            raise ValueError(
                f"the sandbox already serves {model.ref!r}; pass replace=True to "
                "swap it, or choose another name"
            )
        if served.get(model.version_id, model.ref) != model.ref:  # same signature, other model
            model.version_id = schema_version_id(
                {"model": model.ref, "openapi_schema": model.openapi_schema}
            )
        self.catalog.add(model, replace=replace)
        return model

    def __repr__(self) -> str:
        token = ", require_token=[secure]" if self._require_token else ""
        room = f", room of {len(self.room.roster.accounts())} accounts" if self.room else ""
        return f"<Sandbox {self.base_url}{token}{room}>"

    def start_in_thread(self, timeout: float = 10.0) -> Sandbox:
        """Serve from a daemon thread; returns once the server accepts connections."""
        self._thread = threading.Thread(
            target=self._serve, name=f"sandbox-{self.port}", daemon=True
        )
        self._thread.start()
        waited = 0.0
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the sandbox on {self.base_url} failed to start")
            self._thread.join(0.01)
            waited += 0.01
            if waited > timeout:
                raise TimeoutError(f"the sandbox on {self.base_url} did not start in {timeout}s")
        return self

    def _serve(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def serve_forever(self, *, ready: Callable[[], None] | None = None) -> None:
        """Serve in this thread until SIGINT or SIGTERM (the CLI), then shut down cleanly.

        `ready` runs once the stop signals are handled (the CLI prints its address there), so a
        signal sent as soon as the address appears still stops the server cleanly.
        uvicorn re-raises the stop signal once it has shut down; the handlers installed here
        absorb it, so a requested stop exits with status 0 after the bookkeeping is done. They
        also ask uvicorn to exit, so a signal that arrives before uvicorn installs its own
        handlers (during startup) still stops the server instead of being lost.
        """

        def stop_early(*_: object) -> None:  # before uvicorn's own handlers take over
            self._server.should_exit = True

        for stop in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop, stop_early)
        if ready is not None:
            ready()
        self._server.run(sockets=[self._socket])
        self._close()

    def stop(self) -> None:
        """Stop the server, finish its bookkeeping and release the port."""
        if self._thread is not None:
            self._server.should_exit = True
            self._thread.join(15)
            self._thread = None
            self._close()

    def _close(self) -> None:
        self._socket.close()
        self.store.close()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start(
    port: int = 0,
    *,
    host: str = "127.0.0.1",
    require_token: str | None = None,
    faults: Faults | dict[str, Any] | None = None,
    data_dir: str | Path | None = None,
    seed: int | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
    replay: str | Path | Sequence[str | Path] | None = None,
    replay_fallback: str | None = None,
    allowed_hosts: Sequence[str] = (),
    room: Room | None = None,
    tls_cert: str | Path | None = None,
    tls_key: str | Path | None = None,
    stream_rate: float = STREAM_RATE,
) -> Sandbox:
    """Start a sandbox in a background thread on 127.0.0.1 (a free port by default).

    Args:
        port: the port; 0 picks a free one.
        host: the interface; loopback unless you really mean to share it.
        require_token: when set, API calls must send `Authorization: Bearer <token>`.
        faults: fault injection (`Faults` or a dict of its fields); off by default.
        data_dir: keep predictions and files in this folder across restarts.
        seed: seed for ids, secrets and drawn seeds (reproducible sandboxes).
        keepalive: seconds between keep-alive comments on idle streams.
        replay: one or more recordings made with `replicate_nb.record`: their models replace
            built-ins of the same name and recorded inputs get their recorded results.
        replay_fallback: `"stand-in"` to answer unrecorded inputs with the built-in stand-in
            (when there is one) instead of a 422.
        allowed_hosts: more names the server answers to in the `Host` header (it always
            answers to localhost, loopback addresses and `host`); `["*"]` accepts any. Requests
            under other names get a 403, against DNS rebinding.
        room: serve a workshop room (`sandbox.room.Room`): one account per token, isolated.
        tls_cert: serve HTTPS with this certificate (PEM), with `tls_key`.
        tls_key: the certificate's private key (PEM).
        stream_rate: tokens per second the language model streams (the default, 40, is a
            little above what Replicate's 7B chat model streamed in public benchmarks, slow
            enough to watch; tests may pass a fast rate).
    """
    sandbox = Sandbox(
        host=host,
        port=port,
        require_token=require_token,
        faults=faults,
        data_dir=data_dir,
        seed=seed,
        keepalive=keepalive,
        replay=replay,
        replay_fallback=replay_fallback,
        allowed_hosts=allowed_hosts,
        room=room,
        tls_cert=tls_cert,
        tls_key=tls_key,
        stream_rate=stream_rate,
    )
    return sandbox.start_in_thread()
