"""Forms in a real JupyterLab: type a prompt, click Run, see the image or the streamed text."""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

pytestmark = pytest.mark.browser


def open_notebook(page: Page, lab_url: str, name: str) -> None:
    """Open `name` in a throwaway workspace, so no tab from another test is restored."""
    page.goto(f"{lab_url}/lab/workspaces/t{uuid.uuid4().hex[:8]}/tree/{name}?reset")
    page.locator(".jp-Notebook >> visible=true").wait_for(timeout=60_000)
    expect(page.locator("#jp-main-statusbar", has_text="Idle")).to_be_visible(timeout=60_000)


def run_all(page: Page, attempts: int = 3) -> None:
    """Run ▸ Run All Cells, retried: one issued before the session is wired up is dropped."""
    for _ in range(attempts):
        page.get_by_role("menuitem", name="Run", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        try:
            expect(page.locator(".jp-InputArea-prompt").first).not_to_have_text(
                "[ ]:", timeout=5_000
            )
            return
        except AssertionError:
            continue
    raise AssertionError("Run All Cells never started")


def fill_prompt(page: Page, form: Locator, prompt: str) -> None:
    """Type the prompt, then wait until the kernel has it (the Code view quotes it)."""
    form.get_by_title("Code", exact=True).click()
    form.locator(".rnb-field-prompt textarea").fill(prompt)
    expect(form.get_by_text(f'"prompt": "{prompt}"')).to_be_visible(timeout=30_000)


def run_form(page: Page, lab_url: str, notebook: str, prompt: str) -> Locator:
    """Open the notebook, run all its cells, type the prompt into its form and press Run."""
    open_notebook(page, lab_url, notebook)
    run_all(page)
    form = page.locator(".rnb-form")
    expect(form).to_be_visible(timeout=90_000)
    fill_prompt(page, form, prompt)
    form.get_by_title("Run", exact=True).click()
    return form


def test_image_form_runs_and_shows_the_image(page: Page, lab_url: str) -> None:
    form = run_form(page, lab_url, "image_form.ipynb", "a lighthouse at dusk")
    image = form.locator(".jp-OutputArea-output img")
    expect(image).to_be_visible(timeout=60_000)
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(form.get_by_text("succeeded", exact=True)).to_be_visible()
    expect(form.get_by_text("50/50", exact=True)).to_be_visible()  # the progress bar label
    # untouched defaults stay unsent, even after the browser's sliders rendered them
    expect(form.get_by_text('"width": 256,')).to_be_visible()
    expect(form.get_by_text('"guidance_scale"')).to_have_count(0)


def test_text_form_streams_text_as_it_arrives(page: Page, lab_url: str) -> None:
    form = run_form(page, lab_url, "text_form.ipynb", "Tell me about the ocean")
    stream = form.locator(".rnb-stream")
    lengths: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lengths.add(len(stream.inner_text()) if stream.is_visible() else 0)
        if form.get_by_text("succeeded", exact=True).is_visible():
            break
        page.wait_for_timeout(30)
    expect(form.get_by_text("succeeded", exact=True)).to_be_visible()
    assert len(lengths - {0}) >= 2, f"the text arrived all at once: {sorted(lengths)}"
    expect(stream).to_contain_text("ocean")
