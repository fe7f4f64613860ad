"""`ModelForm`: the playground for one model version, built from its version's input schema.

It lays out one widget per input (`forms.mappers`), validates with
`schema.InputSchema.validate` before anything is sent, runs the prediction through the official
client on the kernel's own event loop (status, elapsed time, progress, logs, streamed text, then
the output through `forms.outputview`), and keeps a history of runs. What it sends is exactly
`form.value`: required fields, fields whose value differs from their default, and filled-in fields
that have no default. Blank fields and untouched defaults are left out, so the model's own
defaults apply (a blank `seed` stays random).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Coroutine
from datetime import datetime
from html import escape
from typing import Any

import ipywidgets as widgets
import replicate
from replicate.exceptions import ReplicateError
from replicate.prediction import Prediction

from replicate_nb import _sdk
from replicate_nb._terms import TERMINAL
from replicate_nb.aio import loop_client
from replicate_nb.connection import current_client
from replicate_nb.errors import FormError
from replicate_nb.forms import codegen
from replicate_nb.forms.codetabs import LANGUAGES, CodeTabs
from replicate_nb.forms.field import FieldWidget, same_value
from replicate_nb.forms.front import RunKeys
from replicate_nb.forms.history import HistoryView, Run, scrub
from replicate_nb.forms.layout import Fold, backend_of, columns, header_html, inputs_column
from replicate_nb.forms.mappers import widget_for
from replicate_nb.forms.private_fields import SecretField, UriField
from replicate_nb.forms.runview import RunView
from replicate_nb.schema import MISSING, parse

_DETAIL_LINE = re.compile(r"^- input(?:\.(\w+)\S*)?: (.+)$", re.MULTILINE)
_REQUIRED = re.compile(r"^(\w+) is required$")
_GOT = re.compile(r" \(got .*\)$")  # the value quoted at the end of a validation message


class ModelForm(widgets.VBox):
    """An ipywidgets form for one model version: fill in, Run, watch, read the code.

    Build it with `replicate_nb.form(...)`. Programmatic use mirrors the buttons:
    `set(**inputs)`, `value`, `errors`, `await submit()`, `cancel()`, `reset()`, `code()`.
    """

    def __init__(
        self,
        openapi_schema: dict,
        *,
        model: str | None = None,
        version: str | None = None,
        cog_version: str | None = None,
        description: str = "",
        client: replicate.Client | None = None,
    ) -> None:
        self.schema = parse(openapi_schema, cog_version=cog_version)
        self.model, self.version, self._client = model, version, client
        self.inputs: dict[str, FieldWidget] = {f.name: widget_for(f) for f in self.schema.fields}
        self.task: asyncio.Future | None = None
        self.last_prediction: Prediction | None = None
        self.history: list[Run] = []
        self.last_error: Exception | None = None
        self._tasks: set[asyncio.Future] = set()
        self._current: Prediction | None = None
        self._running = self._cancel_requested = False
        self._server_errors: dict[str, str] = {}
        self.button = widgets.Button(
            description="Run", button_style="primary", icon="play", tooltip="Run (Ctrl+Enter)"
        )
        self.cancel_button = widgets.Button(description="Cancel", icon="stop", disabled=True)
        self.reset_button = widgets.Button(description="Reset", icon="undo")
        for button in (self.button, self.cancel_button, self.reset_button):
            button.layout.width = "7.5em"
        self.reason = widgets.HTML(_dom_classes=("rnb-reason",))
        self.view = RunView(self.schema.output, self._redact)
        self.status, self.progress, self.text = self.view.status, self.view.progress, self.view.text
        self.output, self.logs = self.view.output, self.view.logs
        self._code_tabs: CodeTabs | None = None  # built when the Code tab is first opened
        self.history_view = HistoryView(self.load)
        self.tabs = widgets.Tab(
            [
                widgets.VBox([*self.view.parts, widgets.HTML("<b>Logs</b>"), self.logs]),
                widgets.VBox(),
                self.history_view,
            ],
            titles=("Output", "Code", "History (0)"),
            _dom_classes=("rnb-tabs",),
        )
        self.tabs.observe(lambda _: self._refresh(), "selected_index")
        for button, handler in (
            (self.button, self._on_run),
            (self.cancel_button, self._on_cancel),
            (self.reset_button, lambda _: self.reset()),
        ):
            button.on_click(handler)
        for widget in self.inputs.values():
            widget.on_change(self._edited)
        self.fold = Fold(list(self.inputs.values()))
        actions = widgets.HBox(
            [self.button, self.cancel_button, self.reset_button, self.reason],
            layout=widgets.Layout(align_items="center", flex_flow="row wrap"),
            _dom_classes=("rnb-actions",),
        )
        keys = RunKeys(self._on_keys)
        left = inputs_column(self.fold, widgets.VBox([actions, keys]))
        backend = backend_of(self._api_url())
        self.backend = backend
        super().__init__(
            [
                widgets.HTML(header_html(model, version, backend=backend, description=description)),
                columns(left, self.tabs),
            ],
            _dom_classes=("rnb-form",),
        )
        self._refresh()

    def __repr__(self) -> str:
        return f"ModelForm({self._name!r}, {len(self.inputs)} fields)"

    @property
    def fields(self) -> list[str]:
        """The input names, in display order (`x-order`)."""
        return list(self.inputs)

    @property
    def value(self) -> dict[str, Any]:
        """The input Run would send: required fields, changed defaults, filled-in blanks.

        Fields equal to their default are left out (the model applies it), as are blank
        fields and fields whose text does not parse (those are in `errors`).
        """
        return self._collect()[0]

    @property
    def errors(self) -> dict[str, str]:
        """Problems by input name, e.g. `{"prompt": "prompt is required"}`; empty when valid.

        Local checks (parsing, `schema.validate`) come first, then what the API rejected last
        time (422 `invalid_fields`) until that field is edited.
        """
        return self._collect()[1]

    def set(self, **inputs: Any) -> None:
        """Fill in inputs by name (None: blank); FormError for an unknown name or wrong type."""
        unknown = [name for name in inputs if name not in self.inputs]
        if unknown:
            raise FormError(
                f"{', '.join(map(repr, unknown))}: not an input of {self._name}; "
                f"its inputs are {', '.join(self.inputs)}"
            )
        try:
            for name, value in inputs.items():
                self.inputs[name].write(value)
        finally:
            self.fold.place(self._refresh()[1])

    def reset(self) -> None:
        """Put every input back to its default (blank when it has none)."""
        self._server_errors.clear()
        for widget in self.inputs.values():
            widget.reset()
        self.fold.place(self._refresh()[1])

    def load(self, run: Run | int) -> None:
        """Put a past run's inputs back into the form: a `Run` from `history`, or its index."""
        self.reset()
        self.set(**(self.history[run] if isinstance(run, int) else run).sent())

    def code(self, language: str = "Python") -> str:
        """Code that makes the same prediction: "Python", "JavaScript" or "HTTP" (cURL).

        Only the inputs the form would send, the version pinned, files by name, secrets
        read from the environment (or `getpass`), and never the API token.
        """
        value = self.value
        files = {
            name: w.filename
            for name, w in self.inputs.items()
            if isinstance(w, UriField) and w.filename and name in value
        }
        writer = codegen.WRITERS.get(language)
        if writer is None:
            raise FormError(f"code() writes {', '.join(LANGUAGES)}, not {language!r}")
        call = codegen.Call(
            value,
            model=self.model,
            version=self.version,
            files=files,
            secrets=self._secrets,
            joins_text=self.schema.output.is_concatenate,
            base_url=self._api_url(),
        )
        return writer(call)

    async def submit(self) -> Prediction:
        """Validate, create the prediction, follow it to the end and show it; returns it.

        A failed or canceled prediction is returned too (its status says so). Raises FormError
        when the form has errors, has no model, or is already running, and the SDK's
        ReplicateError when the API refuses the request (422 messages go next to the fields).
        """
        if self._running:
            raise FormError("a run is in progress: wait for it, or cancel it first")
        value, errors = self._refresh()
        problem = "; ".join(m if m.startswith(n) else f"{n}: {m}" for n, m in errors.items())
        if not problem and self.model is None and self.version is None:
            problem = (
                "this form was made from a bare schema, so it has no model to run; make "
                "it with form('owner/name'), a Model or a Version to run it"
            )
        if problem:
            self.view.say("not sent", problem)
            self.view.mark_stale("This run was not sent")
            self.fold.place(errors)
            raise FormError(f"not sent: {problem}")
        client = loop_client(self._client if self._client is not None else current_client())
        self._start()
        started = time.monotonic()
        try:
            prediction = scrub(await self._create(client, value), self._secrets)
            self._current = self.last_prediction = prediction
            run = Run(prediction, value, datetime.now(), secrets=self._secrets)
            self.history.append(run)
            self._list_history()
            await self.view.follow(
                client,
                prediction,
                sandbox=self.backend == "sandbox",
                started=started,
                cancel_wanted=self._take_cancel,
                reloaded=lambda p: scrub(p, self._secrets),  # a reload echoes the input back
            )
            run.seconds = time.monotonic() - started
            return prediction
        except ReplicateError as e:
            self._rejected(e)
            raise
        finally:
            self.view.stop_clock()
            self._current, self._running = None, False
            self.cancel_button.disabled = True
            self._list_history()
            self._refresh()

    async def _create(self, client: replicate.Client, value: dict[str, Any]) -> Prediction:
        """Create the prediction; when cancelled meanwhile, cancel it once the create answers.

        A cancelled request may still have reached the API, so the create runs on (shielded)
        and the prediction it made, if any, is cancelled: nothing is left running unseen.
        """
        creating = asyncio.ensure_future(
            client.predictions.async_create(version=self.version, input=value)
            if self.version
            else client.models.predictions.async_create(model=self.model or "", input=value)
        )
        try:
            return await asyncio.shield(creating)
        except asyncio.CancelledError:
            creating.add_done_callback(lambda done: self._cancel_orphan(client, done))
            raise

    def _cancel_orphan(self, client: replicate.Client, creating: asyncio.Future) -> None:
        if creating.cancelled() or creating.exception() is not None:
            return  # no prediction was made
        prediction = scrub(creating.result(), self._secrets)
        self.last_prediction = prediction
        self._background(client.predictions.async_cancel(prediction.id))

    def _background(self, work: Coroutine[Any, Any, Any]) -> asyncio.Future:
        """Run `work` as a task the form holds, whose failure is shown, never left unretrieved."""
        task = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _guarded(self, work: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await work
        except (FormError, ReplicateError):
            return None  # already shown in the status line and next to the fields
        except Exception as e:  # a bug or a network problem: say it in the form, keep it
            self.last_error = e
            self.view.say("error", f"{type(e).__name__}: {self._redact(str(e))}")
            return None

    @property
    def code_tabs(self) -> CodeTabs:
        """The Code tab's Python / JavaScript / HTTP snippets (built on first use)."""
        if self._code_tabs is None:
            self._code_tabs = CodeTabs()
            self.tabs.children[1].children = (self._code_tabs,)
        return self._code_tabs

    def _api_url(self) -> str:
        """The API this form's client talks to, e.g. `https://api.replicate.com`."""
        return str(_sdk.api_url(self._client or current_client())).rstrip("/")

    @property
    def _secrets(self) -> frozenset[str]:
        return frozenset(name for name, w in self.inputs.items() if isinstance(w, SecretField))

    async def cancel(self) -> None:
        """Cancel the running prediction on the server; does nothing when no run is going."""
        self._cancel_requested = self._running
        prediction = self._current
        if prediction is not None and prediction.status not in TERMINAL:
            client = loop_client(self._client if self._client is not None else current_client())
            await client.predictions.async_cancel(prediction.id)
            self._cancel_requested = False
            self.view.nudge()  # show "canceled" as soon as the API says it

    def _take_cancel(self) -> bool:
        """Whether a cancel was asked before the prediction existed (then it is sent once)."""
        wanted, self._cancel_requested = self._cancel_requested, False
        return wanted

    @property
    def _name(self) -> str:
        return self.model or (f"version {self.version[:8]}" if self.version else "schema")

    def _collect(self) -> tuple[dict[str, Any], dict[str, str]]:
        value: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, widget in self.inputs.items():
            try:
                given = widget.read()
            except ValueError as e:
                errors[name] = str(e)
                continue
            f = widget.field
            if given is not MISSING and (
                f.required or not f.has_default or not same_value(given, f.default)
            ):
                value[name] = given
        for problem in self.schema.validate(value):
            name, message = self._blame(problem.field, problem.description)
            errors[name] = f"{errors[name]}; {message}" if name in errors else message
        for name, message in self._server_errors.items():
            errors.setdefault(name, message)
        return value, errors

    def _refresh(self) -> tuple[dict[str, Any], dict[str, str]]:
        value, errors = self._collect()
        for name, widget in self.inputs.items():
            widget.annotate(error=errors.get(name, ""))
        reason = ""
        if errors:
            reason = f"Fix {len(errors)} input{'s' * (len(errors) > 1)}: " + ", ".join(errors)
        elif self.model is None and self.version is None:
            reason = "A bare schema: no model to run (see the Code tab)"
        self.reason.value = escape(reason)
        self.button.disabled = self._running or bool(reason)
        if self.tabs.selected_index == 1:  # the Code tab is open: keep it current
            self.code_tabs.show({language: self.code(language) for language in LANGUAGES})
        return value, errors

    def _blame(self, path: str, message: str) -> tuple[str, str]:
        """The input a problem is about (`input.seed` → seed, "x is required" → x)."""
        name = path.removeprefix("input.").split(".")[0] if path != "input" else ""
        if not name:
            required = _REQUIRED.match(message)
            name = required.group(1) if required else "input"
        if isinstance(self.inputs.get(name), SecretField):
            message = _GOT.sub("", message)  # never quote a secret
        return name, message

    def _edited(self, name: str) -> None:
        self._server_errors.pop(name, None)
        self._refresh()

    def _redact(self, message: str) -> str:
        for widget in self.inputs.values():
            secret = widget.read() if isinstance(widget, SecretField) else MISSING
            if secret is not MISSING:
                message = message.replace(secret, "[secure]")
        return message

    def _start(self) -> None:
        self._running, self._cancel_requested = True, False
        self.button.disabled, self.cancel_button.disabled = True, False
        self.view.clear()
        self.tabs.selected_index = 0
        self.view.say("starting", "creating the prediction")
        self.view.start_clock()

    def _rejected(self, e: ReplicateError) -> None:
        if e.status == 422 and e.detail:
            for name, message in _DETAIL_LINE.findall(e.detail):
                name, message = self._blame(f"input.{name}" if name else "input", message)
                self._server_errors[name] = message
            self._refresh()
            self.fold.place(self._server_errors)
        detail = f"{e.title or 'the API refused the request'} ({e.status}): {e.detail or ''}"
        self.view.say("error", self._redact(detail.strip()))
        self.view.mark_stale("The API refused this run")

    def _list_history(self) -> None:
        self.history_view.show(self.history)
        self.tabs.set_title(2, f"History ({len(self.history)})")

    def _schedule(self, work: Coroutine[Any, Any, Any]) -> asyncio.Future | None:
        """Run `work` on the kernel's event loop (button handlers run inside it)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            work.close()
            self.button.disabled = False
            self.view.say(
                "error",
                "buttons need a running event loop (a Jupyter kernel); in a "
                "script, call `await form.submit()` inside asyncio.run(...)",
            )
            return None
        return self._background(work)

    def _on_run(self, _button: widgets.Button) -> None:
        if not self._running:
            self.button.disabled = True  # at once: a second click must not start a second run
            self.task = self._schedule(self._run_from_button())

    async def _run_from_button(self) -> Prediction | None:
        try:
            return await self.submit()
        finally:
            self.button.disabled = False

    def _on_cancel(self, _button: widgets.Button) -> None:
        self._schedule(self.cancel())

    def _on_keys(self) -> None:
        if not self._running and not self.button.disabled:
            self._on_run(self.button)
