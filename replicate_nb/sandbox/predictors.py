"""Register your own Python function or Cog-style predictor class as a sandbox model.

`build_model("me/upscaler", fn)` reads the type hints and `Input(...)` defaults of `fn` (or of a
class's `predict`) and writes the version schema Cog would write for the same signature (see
`reference/forms.md` §1), then wraps the callable as a `ModelSpec` whose `predict` coroutine:

- runs a class's `setup()` once, lazily, before its first prediction (its prints land in that
  prediction's logs; if it raises, that prediction fails and the next one tries again);
- turns file inputs into local temporary files (`pathlib.Path`), secrets into `Secret`;
- runs sync code in a worker thread so the server never blocks, and streams the items of
  generators (sync or async), checking for cancel between items;
- sends what the model prints (from any thread it runs in) to the prediction's logs, live;
- encodes `Path`/`bytes` outputs as `data:` URIs.
"""

from __future__ import annotations

import asyncio
import collections.abc as cabc
import dataclasses
import functools
import inspect
import mimetypes
import re
import shutil
import tempfile
import threading
from pathlib import Path, PurePath
from typing import Any

import filetype

from .. import _datauri
from .._terms import SECRET_MASK, split_name
from ..inputs import Secret
from . import capture
from .cog_document import COG_VERSION
from .models import schema_version_id
from .models.base import ModelSpec, PredictContext
from .records import now
from .signatures import Param, describe

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")


def build_model(ref: str, target: Any, *, description: str | None = None) -> ModelSpec:
    """A `ModelSpec` serving `target` (a typed function, or a class/instance with `predict`).

    Raises:
        ValueError: `ref` is not `owner/name`, or a default breaks its own constraints.
        TypeError: `target` has no usable signature (missing or unsupported annotation).
    """
    parts = split_name(ref)
    if parts is None or not _NAME.match(ref):
        raise ValueError(
            f"model name {ref!r} must look like 'owner/name' (letters, digits, "
            "'-', '_' and '.'), e.g. 'me/my-model'"
        )
    owner, name = parts
    fn, setup, label = _callable(target)
    try:
        signature = inspect.signature(fn, eval_str=True)
    except NameError as exc:
        raise TypeError(
            f"{label}: a type hint could not be resolved ({exc}); import the "
            "names it uses at module level"
        ) from exc
    streams = inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)
    params, document = describe(signature, label, streams=streams)
    output = document["components"]["schemas"]["Output"]
    stamp = now()
    return ModelSpec(
        owner=owner,
        name=name,
        version_id=schema_version_id(document),
        openapi_schema=document,
        predict=_Runner(
            fn,
            setup,
            params,
            iterator=output["type"] == "array" and output.get("x-cog-array-type") == "iterator",
        ),
        description=description or _summary(target, label),
        cog_version=COG_VERSION,
        version_created_at=stamp,
        created_at=stamp,
        sandbox_only=True,
    )


def _callable(target: Any) -> tuple[Any, Any, str]:
    """The predict callable, the setup callable (or None) and a label for error messages."""
    if inspect.isclass(target):
        if not callable(getattr(target, "predict", None)):
            raise TypeError(
                f"class {target.__qualname__} has no predict() method; a predictor "
                "class needs predict(self, ...) (and optionally setup(self))"
            )
        label = f"{target.__qualname__}.predict"
        try:
            target = target()
        except TypeError as exc:
            raise TypeError(
                f"class {target.__qualname__} could not be created without "
                f"arguments ({exc}); register an instance instead"
            ) from exc
    elif not inspect.isroutine(target) and callable(getattr(target, "predict", None)):
        label = f"{type(target).__qualname__}.predict"
    elif callable(target):
        return target, None, getattr(target, "__qualname__", repr(target))
    else:
        raise TypeError(
            f"cannot register {target!r}: pass a function with type hints or a "
            "class with a predict() method"
        )
    return target.predict, getattr(target, "setup", None), label


def _summary(target: Any, label: str) -> str:
    doc = inspect.getdoc(target) or ""
    return doc.strip().splitlines()[0] if doc.strip() else f"Registered in the sandbox: {label}."


# running a prediction
class _Runner:
    """The `predict(ctx, inputs)` coroutine of a registered model."""

    def __init__(self, fn: Any, setup: Any, params: list[Param], *, iterator: bool) -> None:
        self._fn = fn
        self._setup = setup
        self._params = params
        self._iterator = iterator
        self._ready = setup is None
        self._lock = threading.Lock()
        self._async_lock: asyncio.Lock | None = None
        self._takes_files = any(p.kind == "path" for p in params)

    async def __call__(self, ctx: PredictContext, inputs: dict[str, Any]) -> Any:
        workdir = Path(tempfile.mkdtemp(prefix="replicate-nb-")) if self._takes_files else None
        with capture.logs_to(ctx.log):
            try:
                await self._run_setup(ctx)
                kwargs = {
                    p.name: await _convert(ctx, p, inputs[p.name], workdir)
                    if p.name in inputs
                    else p.fallback
                    for p in self._params
                }
                return await self._invoke(ctx, kwargs)
            finally:
                if workdir is not None:
                    shutil.rmtree(workdir, ignore_errors=True)

    async def _run_setup(self, ctx: PredictContext) -> None:
        if self._ready:
            return
        if inspect.iscoroutinefunction(self._setup):
            self._async_lock = self._async_lock or asyncio.Lock()
            async with self._async_lock:
                if not self._ready:
                    await self._setup()
                    self._ready = True
            return

        def setup_once() -> None:
            with self._lock:
                if not self._ready:
                    self._setup()
                    self._ready = True

        await ctx.run_in_thread(setup_once)

    async def _invoke(self, ctx: PredictContext, kwargs: dict[str, Any]) -> Any:
        fn = self._fn
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            result = fn(**kwargs)
        elif inspect.iscoroutinefunction(fn):
            result = await fn(**kwargs)
        else:
            result = await ctx.run_in_thread(functools.partial(fn, **kwargs))
        if not self._iterator:
            return await ctx.run_in_thread(encode_output, result)
        if hasattr(result, "__anext__"):
            async for item in result:
                ctx.emit(encode_output(item))
            return None
        if not isinstance(result, cabc.Iterable) or isinstance(result, str | bytes | dict):
            raise TypeError(
                f"the model streams (its output is an iterator) but returned a "
                f"{type(result).__name__}; yield the items or return a list"
            )
        iterator = iter(result)
        try:
            while True:
                item = await ctx.run_in_thread(_next_encoded, iterator)
                if item is _DONE:
                    return None
                ctx.emit(item)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()  # stops a generator at its next yield
                except ValueError:
                    pass  # still running in its thread after a cancel; it stops when it yields


_DONE = object()


def _next_encoded(iterator: cabc.Iterator[Any]) -> Any:
    try:
        return encode_output(next(iterator))
    except StopIteration:
        return _DONE


async def _convert(ctx: PredictContext, param: Param, value: Any, workdir: Path | None) -> Any:
    """A JSON input as the callable expects it: Path files, Secret text, floats for floats."""
    if param.many and isinstance(value, list):
        return [await _convert_one(ctx, param, v, workdir, f"_{i}") for i, v in enumerate(value)]
    return await _convert_one(ctx, param, value, workdir, "")


async def _convert_one(
    ctx: PredictContext, param: Param, value: Any, workdir: Path | None, suffix: str
) -> Any:
    if param.kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if param.kind == "secret" and isinstance(value, str):
        return param.factory(value)
    if param.kind != "path" or not isinstance(value, str) or workdir is None:
        return value
    data = await ctx.read_file(value)
    mime = _datauri.media_type(value) if _datauri.is_data_uri(value) else ""
    extension = mimetypes.guess_extension(mime) if mime else None
    if extension is None:
        guessed = filetype.guess_extension(data)
        extension = f".{guessed}" if guessed else ""
    path = workdir / f"{param.name}{suffix}{extension}"
    path.write_bytes(data)
    return param.factory(path)


def encode_output(value: Any) -> Any:
    """An output as JSON: files (`Path`, `bytes`) become `data:` URIs; containers recurse."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, PurePath):
        data = Path(value).read_bytes()
        return _datauri.encode(data, mimetypes.guess_type(value.name)[0] or _sniff(data))
    if isinstance(value, bytes | bytearray | memoryview):
        return _datauri.encode(bytes(value), _sniff(bytes(value)))
    if isinstance(value, Secret) or type(value).__name__ == "Secret":
        return SECRET_MASK
    if isinstance(value, dict):
        return {str(k): encode_output(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_output(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return encode_output({f.name: getattr(value, f.name) for f in dataclasses.fields(value)})
    for method in ("model_dump", "tolist"):  # pydantic models, numpy arrays and scalars
        if callable(getattr(value, method, None)):
            return encode_output(getattr(value, method)())
    raise TypeError(
        f"the model returned a {type(value).__name__}, which cannot be sent as JSON; "
        "return str, numbers, bools, lists, dicts, a pathlib.Path or bytes"
    )


def _sniff(data: bytes) -> str:
    kind = filetype.guess_mime(data)
    if kind:
        return kind
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return "text/plain"
