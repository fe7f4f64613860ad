"""The output view in a real JupyterLab: each output file opens full size and downloads (the
bytes of a `data:` file reach the browser only on click, as a widget message)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_lab_forms import fill_prompt, opened_form, shot

pytestmark = pytest.mark.browser
PNG = b"\x89PNG\r\n\x1a\n"


def test_an_output_file_opens_full_size_and_downloads_with_a_name(page: Page, lab_url: str):
    form = opened_form(page, lab_url, "image_form.ipynb")
    fill_prompt(form, "a red kite")
    form.get_by_title("Run (Ctrl+Enter)").click()
    expect(form.locator(".rnb-output img")).to_be_visible(timeout=60_000)
    actions = form.locator(".rnb-file-actions")
    expect(actions).to_have_count(1)
    expect(form.locator(".rnb-files")).to_contain_text("output.png · image/png")
    actions.scroll_into_view_if_needed()
    shot(page, "output_file_actions")
    with page.expect_download() as saved:
        actions.get_by_role("button", name="Download").click()
    assert saved.value.suggested_filename == "output.png"
    assert Path(saved.value.path()).read_bytes()[:8] == PNG
    with page.context.expect_page() as opened:
        actions.get_by_role("button", name="Open").click()
    tab = opened.value
    tab.wait_for_url(re.compile(r"^blob:"), timeout=30_000)  # the image itself, full size
    assert tab.evaluate("document.contentType") == "image/png"
