"""Forms in a real JupyterLab 4 and Notebook 7: layout, Run and Ctrl+Enter, streaming, honest
state after a refused run, the Code tabs' copy buttons, and an axe-core accessibility scan."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ARTIFACTS, AXE

pytestmark = pytest.mark.browser
UIS = ["lab", "notebook"]


def open_notebook(page: Page, lab_url: str, name: str, ui: str) -> None:
    """Open `name` in JupyterLab (a throwaway workspace, so no tab is restored) or Notebook 7."""
    if ui == "lab":
        page.goto(f"{lab_url}/lab/workspaces/t{uuid.uuid4().hex[:8]}/tree/{name}?reset")
        page.locator(".jp-Notebook >> visible=true").wait_for(timeout=60_000)
        expect(page.locator("#jp-main-statusbar", has_text="Idle")).to_be_visible(timeout=60_000)
    else:
        page.goto(f"{lab_url}/notebooks/{name}")
        page.locator(".jp-Notebook >> visible=true").wait_for(timeout=60_000)
        expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(
            1, timeout=60_000
        )


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


def opened_form(page: Page, lab_url: str, notebook: str, ui: str = "lab") -> Locator:
    open_notebook(page, lab_url, notebook, ui)
    run_all(page)
    form = page.locator(".rnb-form")
    expect(form).to_be_visible(timeout=90_000)
    return form


def fill_prompt(form: Locator, prompt: str) -> None:
    """Type the prompt, then wait until the kernel has it (the Code tab quotes it)."""
    form.get_by_role("tab", name="Code").click()
    form.locator(".rnb-field-prompt textarea").fill(prompt)
    expect(form.locator(".rnb-code").first).to_contain_text(prompt, timeout=30_000)


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def in_viewport(page: Page, locator: Locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


@pytest.mark.parametrize("ui", UIS)
def test_image_form_shows_prompt_and_image_in_one_viewport(page: Page, lab_url: str, ui: str):
    form = opened_form(page, lab_url, "image_form.ipynb", ui)
    fill_prompt(form, "a lighthouse at dusk")
    form.get_by_title("Run (Ctrl+Enter)").click()
    image = form.locator(".rnb-output img")
    expect(image).to_be_visible(timeout=60_000)
    expect(image).to_have_attribute("src", re.compile(r"^data:image/png;base64,"))
    expect(form.locator(".rnb-status")).to_contain_text("succeeded")
    expect(form.locator(".rnb-status")).to_contain_text("generated in")
    expect(form.get_by_text("50/50", exact=True)).to_be_visible()  # the progress bar label
    form.evaluate("form => form.scrollIntoView({block: 'start'})")  # as a person scrolls to it
    page.wait_for_timeout(300)
    shot(page, f"image_form_{ui}")
    prompt = form.locator(".rnb-field-prompt textarea")
    run = form.get_by_title("Run (Ctrl+Enter)")
    assert in_viewport(page, prompt) and in_viewport(page, image), "prompt and image apart"
    assert in_viewport(page, run), "Run is out of sight of the prompt"
    # untouched defaults stay unsent, even after the browser's sliders rendered them
    form.get_by_role("tab", name="Code").click()
    code = form.locator(".rnb-code").first
    expect(code).to_contain_text('"width": 256')
    expect(code).not_to_contain_text("guidance_scale")


def test_ctrl_enter_runs_and_text_streams_in_while_processing(page: Page, lab_url: str):
    form = opened_form(page, lab_url, "text_form.ipynb")
    fill_prompt(form, "Tell me about the ocean")
    watch = page.evaluate_handle(  # sample the page every frame, in the page (no round trips)
        """() => { const seen = []; const form = document.querySelector('.rnb-form');
            const tick = () => {
              const stream = form.querySelector('.rnb-stream');
              const status = form.querySelector('.rnb-status').innerText;
              seen.push([stream ? stream.innerText.length : 0, status]);
              if (!status.includes('succeeded') && seen.length < 20000) requestAnimationFrame(tick);
            };
            tick(); return seen; }"""
    )
    form.locator(".rnb-field-prompt textarea").press("Control+Enter")
    stream, status = form.locator(".rnb-stream"), form.locator(".rnb-status")
    page.wait_for_function("document.querySelector('.rnb-stream')?.innerText.length > 0")
    shot(page, "text_form_streaming")
    expect(status).to_contain_text("succeeded", timeout=60_000)
    seen = watch.json_value()
    growing = {length for length, text in seen if length and "processing" in text}
    assert len(growing) >= 3, f"no token-by-token growth while processing: {seen[::20]}"
    expect(stream).to_contain_text("ocean")
    assert page.locator(".jp-InputArea-prompt").count() == 2  # Ctrl+Enter did not run a cell
    shot(page, "text_form_done")


def test_a_refused_run_marks_the_previous_output(page: Page, lab_url: str):
    form = opened_form(page, lab_url, "rejected_form.ipynb")
    expect(form.locator(".rnb-notice")).to_contain_text("not sent", timeout=90_000)
    expect(form.locator(".rnb-output.rnb-stale img")).to_be_visible()
    expect(form.locator(".rnb-status")).to_contain_text("num_outputs")
    expect(form.locator(".rnb-reason")).to_contain_text("num_outputs")
    expect(form.get_by_title("Run (Ctrl+Enter)")).to_be_disabled()
    form.locator(".rnb-status").scroll_into_view_if_needed()
    shot(page, "rejected_form")


def test_code_tabs_copy_and_the_form_passes_axe(page: Page, lab_url: str):
    form = opened_form(page, lab_url, "image_form.ipynb")
    fill_prompt(form, "a quiet harbour")
    for language, expected in [
        ("Python", "replicate.run("),
        ("JavaScript", "new Replicate("),
        ("HTTP", "curl --silent"),
    ]:
        form.get_by_role("tab", name=language, exact=True).click()
        form.get_by_role("button", name=f"Copy {language}").click()
        copied = page.evaluate("navigator.clipboard.readText()")
        assert expected in copied and "a quiet harbour" in copied, copied
        assert (
            "r8_" not in copied and "Bearer $REPLICATE_API_TOKEN" in copied
        ) or language != "HTTP"
    shot(page, "code_tabs")
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        """async () => (await axe.run(document.querySelector('.rnb-form'))).violations
             .map(v => ({id: v.id, impact: v.impact, help: v.help,
                         nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 120))}))"""
    )
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert bad == [], bad
