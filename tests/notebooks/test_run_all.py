"""Every notebook survives JupyterLab's "Run All": all cells queued at once, each one answered.

nbval sends one cell at a time, so it cannot see a kernel that drops queued cells (the archived
nest_asyncio does this on ipykernel 7); this test queues everything, as the browser does.
"""

from __future__ import annotations

import queue
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

from tests.notebooks.kit import executed, read

RAISES = {"raises-exception", "nbval-raises-exception"}


def _queue_all(path: Path, timeout: float = 120) -> list[dict]:
    notebook = read(path)
    cells = [c for c in notebook.cells if c.cell_type == "code"]
    km, kc = start_new_kernel(kernel_name="python3", cwd=str(path.parent))
    try:
        # As JupyterLab does: stop on error, except in cells tagged raises-exception.
        ids = [kc.execute(c.source, store_history=True, allow_stdin=False,
                          stop_on_error=not RAISES & set(c.metadata.get("tags", [])))
               for c in cells]
        replies: dict[str, dict] = {}
        while len(replies) < len(ids):
            try:
                message = kc.get_shell_msg(timeout=timeout)
            except queue.Empty:
                break
            parent = message["parent_header"].get("msg_id")
            if parent in ids:
                replies[parent] = message["content"]
        return [{"cell": c, "reply": replies.get(i)} for c, i in zip(cells, ids, strict=True)]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


@pytest.mark.parametrize("path", executed(), ids=lambda p: str(p.relative_to(p.parents[1])))
def test_run_all_answers_every_cell(path: Path):
    results = _queue_all(path)
    missing = [n for n, r in enumerate(results) if r["reply"] is None]
    assert not missing, f"cells {missing} never got an execute_reply (dropped by the kernel)"
    for n, result in enumerate(results):
        raises = RAISES & set(result["cell"].metadata.get("tags", []))
        status = result["reply"]["status"]
        if raises:
            assert status == "error", f"cell {n} is tagged to raise but did not"
        else:
            assert status == "ok", (f"cell {n} failed: {result['reply'].get('ename')}: "
                                    f"{result['reply'].get('evalue')}")
