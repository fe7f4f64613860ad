"""run_sync, loop_client and allow_nested_asyncio: from scripts, running loops and real kernels."""

from __future__ import annotations

import _thread
import asyncio
import inspect
import queue
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import replicate
from jupyter_client.manager import start_new_kernel
from nbclient import NotebookClient

from replicate_nb import sandbox
from replicate_nb.aio import loop_client, run_sync
from replicate_nb.errors import EventLoopError
from tests.conftest import HELLO


async def async_add(a: int, b: int = 1) -> int:
    """Add two numbers, eventually."""
    await asyncio.sleep(0)
    return a + b


async def async_hello(client: replicate.Client, text: str) -> str:
    return await loop_client(client).async_run(HELLO, {"text": text})


async def async_sleep_remotely(client: replicate.Client, seconds: float) -> str:
    """Run sandbox/sleep; on cancellation cancel the prediction (what a good helper does)."""
    prediction = await loop_client(client).models.predictions.async_create(
        model="sandbox/sleep", input={"seconds": seconds}
    )
    try:
        await prediction.async_wait()
    except asyncio.CancelledError:
        await prediction.async_cancel()
        raise
    return prediction.status


def test_run_sync__returns_the_result_from_plain_code() -> None:
    assert run_sync(async_add(1, 2)) == 3


def test_run_sync__accepts_any_awaitable() -> None:
    async def main() -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(5)
        return future

    future = run_sync(main())
    assert run_sync(future) == 5


def test_run_sync__works_inside_a_running_loop() -> None:
    async def outer() -> int:
        return run_sync(async_add(40, 2))  # a sync call while this loop is running

    assert asyncio.run(outer()) == 42


def test_run_sync__twin_keeps_name_doc_and_signature() -> None:
    add = run_sync(async_add)
    assert add.__name__ == "add"
    assert add.__qualname__ == "add"
    assert add.__doc__ == async_add.__doc__
    assert str(inspect.signature(add)) == "(a: 'int', b: 'int' = 1) -> 'int'"
    assert not inspect.iscoroutinefunction(add)
    assert add(1) == 2
    assert add(1, b=5) == 6


def test_run_sync__twin_works_inside_a_running_loop() -> None:
    add = run_sync(async_add)

    async def outer() -> int:
        return add(2, 3)

    assert asyncio.run(outer()) == 5


def test_run_sync__propagates_exceptions() -> None:
    async def boom() -> None:
        raise ValueError("bad input 'x'")

    with pytest.raises(ValueError, match="bad input 'x'"):
        run_sync(boom())


def test_run_sync__rejects_what_is_not_async() -> None:
    with pytest.raises(TypeError, match="coroutine or an async def"):
        run_sync(lambda: 1)  # type: ignore[call-overload]


def test_run_sync__on_its_own_loop_raises_instead_of_deadlocking() -> None:
    async def inner() -> int:
        return run_sync(async_add(1))

    with pytest.raises(EventLoopError, match="await it"):
        run_sync(inner())


def test_loop_client__outside_a_loop_raises() -> None:
    with pytest.raises(EventLoopError, match="running event loop"):
        loop_client(replicate.Client(base_url="http://127.0.0.1:9"))


def test_loop_client__one_clone_per_client_and_loop(client: replicate.Client) -> None:
    async def clones() -> tuple[replicate.Client, replicate.Client, replicate.Client]:
        first = loop_client(client)
        return first, loop_client(client), loop_client(first)

    first, again, of_clone = run_sync(clones())
    assert first is again is of_clone
    assert first is not client
    assert first._base_url == client._base_url
    assert first.poll_interval == client.poll_interval
    other_loop = asyncio.run(clones())[0]
    assert other_loop is not first


def test_loop_client__copies_options_and_follows_poll_interval(
    sb: sandbox.Sandbox, make_client: Callable
) -> None:
    headers = {"X-Extra": "1"}
    client = make_client(sb.base_url, api_token="r8_sentinel", headers=headers)

    async def clone() -> replicate.Client:
        return loop_client(client)

    client.poll_interval = 0.123
    copy = run_sync(clone())
    assert (copy._api_token, copy.poll_interval) == ("r8_sentinel", 0.123)
    assert copy._client_kwargs["headers"] == {"X-Extra": "1"}
    assert copy._client_kwargs["headers"] is not headers


def test_loop_client__same_client_twenty_times_in_a_row(client: replicate.Client) -> None:
    hello = run_sync(async_hello)
    assert [hello(client, str(i)) for i in range(20)] == [f"hello {i}" for i in range(20)]


def test_loop_client__alternating_loops_never_cross(client: replicate.Client) -> None:
    for i in range(3):
        assert asyncio.run(async_hello(client, f"run {i}")) == f"hello run {i}"
        assert run_sync(async_hello(client, f"bg {i}")) == f"hello bg {i}"


def test_loop_client__script_with_asyncio_run_twice(tmp_path: Path) -> None:
    script = tmp_path / "twice.py"
    script.write_text(
        textwrap.dedent("""
        import asyncio
        import replicate
        from replicate_nb import sandbox
        from replicate_nb.aio import loop_client, run_sync

        async def hello(client, text):
            return await loop_client(client).async_run(HELLO, {"text": text})

        HELLO = "replicate/hello-world:" + (
            "5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa"
        )
        with sandbox.start() as sb:
            client = replicate.Client(base_url=sb.base_url)
            client.poll_interval = 0.02
            print(asyncio.run(hello(client, "one")))
            print(asyncio.run(hello(client, "two")))
            print(run_sync(hello(client, "three")))
            print(asyncio.run(hello(client, "four")))
    """)
    )
    done = subprocess.run(
        [sys.executable, "-X", "dev", "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["hello one", "hello two", "hello three", "hello four"]
    for bad in ("Event loop is closed", "different event loop", "Traceback", "Warning"):
        assert bad not in done.stderr


def test_run_sync__ctrl_c_cancels_the_remote_prediction(
    fresh_sb: sandbox.Sandbox, fresh_client: replicate.Client
) -> None:
    sleep_remotely = run_sync(async_sleep_remotely)
    timer = threading.Timer(0.5, _thread.interrupt_main)
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sleep_remotely(fresh_client, 30)
    timer.join()
    assert time.monotonic() - started < 5
    assert fresh_sb.engine.unfinished() == []
    [prediction], _, _ = fresh_sb.store.list_predictions()
    assert prediction.status == "canceled"


def _execute_notebook(cells: list[str], path: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(
        nb, kernel_name="python3", timeout=60, resources={"metadata": {"path": str(path)}}
    ).execute()
    return nb


def _text(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(
        o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == name
    )


def test_run_sync__in_a_jupyter_kernel(tmp_path: Path) -> None:
    nb = _execute_notebook(
        [
            "import replicate\n"
            "from replicate_nb import sandbox\n"
            "from replicate_nb.aio import loop_client, run_sync\n"
            "from replicate_nb.batch import async_run_many, run_many\n"
            "sb = sandbox.start()\n"
            "client = replicate.Client(base_url=sb.base_url)\n"
            "client.poll_interval = 0.02\n"
            f"HELLO = {HELLO!r}",
            "async def async_hello(text):\n"
            "    clone = loop_client(client)\n"
            "    return await clone.async_run(HELLO, {'text': text})\n"
            "hello = run_sync(async_hello)\n"
            "print(run_sync(async_hello('a')), hello('b'), hello.__name__)",
            "results = run_many(HELLO, [{'text': t} for t in 'xyz'],\n"
            "                   client=client)\n"
            "print(results.outputs)",
            "kernel_loop = await async_run_many(HELLO, [{'text': 'k'}],\n"
            "                                   client=client, progress=False)\n"
            "print(kernel_loop.outputs, await async_hello('on the kernel loop'))",
            "print(hello('again'), run_many(HELLO, [{'text': 'z'}],\n"
            "                               client=client, progress=False).outputs)",
            "sb.stop()",
        ],
        tmp_path,
    )
    for cell in nb.cells:
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.outputs
    assert _text(nb.cells[1]) == "hello a hello b hello\n"
    assert _text(nb.cells[2]) == "['hello x', 'hello y', 'hello z']\n"
    # the progress bar, drawn from the background thread, lands under the cell that ran it
    assert any(
        "application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in nb.cells[2].outputs
    )
    assert _text(nb.cells[3]) == "['hello k'] hello on the kernel loop\n"
    assert _text(nb.cells[4]) == "hello again ['hello z']\n"


def _run_all(cells: list[str]) -> list[tuple[str | None, str]]:
    """Queue every cell at once, as JupyterLab's "Run All" does; (status, output) per cell."""
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        ids = [kc.execute(source) for source in cells]
        replies: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while len(replies) < len(ids) and time.monotonic() < deadline:
            try:
                msg = kc.get_shell_msg(timeout=5)
            except queue.Empty:
                continue
            parent = msg["parent_header"].get("msg_id")
            if parent in ids:
                replies[parent] = msg["content"]["status"]
        outputs: dict[str, list[str]] = {i: [] for i in ids}
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=2)
            except queue.Empty:
                break
            parent = msg["parent_header"].get("msg_id")
            content = msg["content"]
            if parent in outputs and msg["msg_type"] == "stream":
                outputs[parent].append(content["text"])
            elif parent in outputs and msg["msg_type"] == "error":
                outputs[parent].append(f"{content['ename']}: {content['evalue']}")
        return [(replies.get(i), "".join(outputs[i])) for i in ids]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_allow_nested_asyncio__survives_run_all() -> None:
    cells = [
        "import replicate_nb.aio as a; a.allow_nested_asyncio(); a.allow_nested_asyncio()\n"
        "import asyncio; print(asyncio.run(asyncio.sleep(0.1, result=42)))",
        "print('cell1 ran')",
        "x = await asyncio.sleep(0.1, result='ok'); print('top-level await', x)",
        "print('run_sync', a.run_sync(asyncio.sleep(0.1, result=7)))",
        "print('nested again', asyncio.run(asyncio.sleep(0, result='yes')))",
    ]
    assert _run_all(cells) == [
        ("ok", "42\n"),
        ("ok", "cell1 ran\n"),
        ("ok", "top-level await ok\n"),
        ("ok", "run_sync 7\n"),
        ("ok", "nested again yes\n"),
    ]
