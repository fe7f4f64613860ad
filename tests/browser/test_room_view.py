"""The instructor's live view in headless Chromium: login, live rows, filters, cancel, axe scan.

Screenshots go to test-artifacts/browser/ (look at them after a change to the page).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import replicate
from playwright.sync_api import Browser, Page, expect
from replicate.exceptions import ReplicateError

from replicate_nb import sandbox
from replicate_nb.sandbox.room import INSTRUCTOR, Room, Roster
from tests.browser.conftest import ARTIFACTS
from tests.conftest import close_client

AXE = Path(__file__).resolve().parents[1] / "js" / "node_modules" / "axe-core" / "axe.min.js"


class Classroom:
    """A room sandbox with six attendees doing different things."""

    def __init__(self) -> None:
        self.roster = Roster.generate(6)
        self.server = sandbox.start(room=Room(self.roster), keepalive=0.5)
        self.clients: list[replicate.Client] = []

    def attendee(self, n: int) -> replicate.Client:
        client = replicate.Client(
            self.roster.token(f"attendee-0{n}"), base_url=self.server.base_url
        )
        client.poll_interval = 0.05
        self.clients.append(client)
        return client

    def close(self) -> None:
        for client in self.clients:
            close_client(client)
        self.server.stop()


@pytest.fixture(scope="module")
def room() -> Iterator[Classroom]:
    classroom = Classroom()
    painter = classroom.attendee(1)
    painter.run("black-forest-labs/flux-schnell", input={"prompt": "a red lighthouse"})
    writer = classroom.attendee(2)
    writer.run("meta/meta-llama-3-8b-instruct", input={"prompt": "a haiku about llamas"})
    stuck = classroom.attendee(3)
    for _ in range(3):
        with pytest.raises(ReplicateError):
            stuck.run("black-forest-labs/flux-schnell", input={"num_outputs": 99})
    classroom.sleeper = classroom.attendee(4).predictions.create(
        version="sandbox/sleep", input={"seconds": 120}
    )
    failing = classroom.attendee(5).predictions.create(version="sandbox/fail", input={})
    failing.wait()
    yield classroom
    classroom.close()


@pytest.fixture
def view(browser: Browser, room: Classroom, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The live view, signed in through the address the sandbox prints at start."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{room.server.base_url}/_room/?token={room.roster.token(INSTRUCTOR)}")
    expect(page.locator("#connection")).to_have_text("live")
    yield page
    page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def row(page: Page, username: str):
    return page.locator(f'tr[data-username="{username}"]')


def test_view__signs_in_then_drops_the_token_from_the_address(view: Page, room: Classroom):
    assert view.url == f"{room.server.base_url}/_room/"
    cookie = next(c for c in view.context.cookies() if c["name"] == "replicate_nb_room")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/_room"
    assert room.roster.token(INSTRUCTOR) not in cookie["value"]


def test_view__a_row_per_attendee_with_what_they_did(view: Page, room: Classroom):
    expect(view.locator("#rows tr")).to_have_count(7)
    painter = row(view, "attendee-01")
    expect(painter.locator("img.thumb")).to_have_attribute(
        "alt", "Latest image from Attendee 01 (black-forest-labs/flux-schnell)"
    )
    assert painter.locator("img.thumb").evaluate("img => img.complete && img.naturalWidth > 0")
    expect(painter.locator("td").nth(6)).to_have_text("~$0.003")
    expect(row(view, "attendee-02").locator("td.text")).not_to_be_empty()
    stuck = row(view, "attendee-03")
    expect(stuck).to_have_class("stuck")
    expect(stuck.locator(".badge.stuck")).to_contain_text("3 refused inputs in a row")
    expect(stuck.locator("td.error")).to_contain_text("422")
    expect(row(view, "attendee-04").locator("td").nth(2)).to_have_text("1")
    expect(row(view, "attendee-05").locator("td").nth(3)).to_have_text("1")
    expect(view.locator("#summary")).to_contain_text("6 attendees")
    view.screenshot(path=str(ARTIFACTS / "room-view.png"), full_page=True)


def test_view__updates_live_without_a_reload(view: Page, room: Classroom):
    newcomer = row(view, "attendee-06")
    expect(newcomer.locator("td").nth(1)).to_have_text("0")
    started = time.monotonic()
    room.attendee(6).run("black-forest-labs/flux-schnell", input={"prompt": "a boat"})
    expect(newcomer.locator("img.thumb")).to_be_visible()
    expect(newcomer.locator("td").nth(1)).to_have_text("1")
    assert view.evaluate("window.roomLatencies.length") >= 2
    print(f"row updated {time.monotonic() - started:.2f} s after the create was sent")


def test_view__filters_by_name_and_by_state(view: Page):
    view.get_by_label("Filter attendees").fill("attendee-02")
    expect(view.locator("#rows tr")).to_have_count(1)
    view.get_by_label("Filter attendees").fill("")
    view.get_by_label("Show").select_option("stuck")
    expect(view.locator("#rows tr")).to_have_count(1)
    expect(view.locator("#rows tr")).to_have_attribute("data-username", "attendee-03")
    view.screenshot(path=str(ARTIFACTS / "room-view-stuck.png"), full_page=True)
    view.get_by_label("Show").select_option("all")
    expect(view.locator("#rows tr")).to_have_count(7)


def test_view__has_no_serious_accessibility_violations(view: Page):
    expect(view.locator("#rows tr")).to_have_count(7)
    view.add_script_tag(path=str(AXE))
    result = view.evaluate("axe.run(document, {resultTypes: ['violations']})")
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == []


def test_view__cancel_everything_running(view: Page, room: Classroom):
    expect(row(view, "attendee-04").locator("td").nth(2)).to_have_text("1")
    view.on("dialog", lambda dialog: dialog.accept())
    view.get_by_role("button", name="Cancel everything running").click()
    expect(view.locator("#notice")).to_have_text("Canceled 1 running prediction.")
    expect(row(view, "attendee-04").locator("td").nth(2)).to_have_text("0")
    assert room.attendee(4).predictions.get(room.sleeper.id).status == "canceled"


def test_login__form_takes_the_instructor_token_only(browser: Browser, room: Classroom):
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(f"{room.server.base_url}/_room/")
        page.get_by_label("Instructor token").fill(room.roster.token("attendee-01"))
        page.get_by_role("button", name="Open the live view").click()
        expect(page.get_by_role("alert")).to_have_text("That is not the instructor's token.")
        page.get_by_label("Instructor token").fill(room.roster.token(INSTRUCTOR))
        page.get_by_role("button", name="Open the live view").click()
        expect(page.locator("#connection")).to_have_text("live")
        page.screenshot(path=str(ARTIFACTS / "room-login-done.png"))
    finally:
        context.close()


def test_routes__want_the_session_and_the_action_header(room: Classroom):
    base = room.server.base_url
    assert httpx.get(f"{base}/_room/events").status_code == 403
    assert httpx.post(f"{base}/_room/cancel").status_code == 403
    attendee = httpx.get(f"{base}/_room/", params={"token": room.roster.token("attendee-02")})
    assert attendee.status_code == 403 and "replicate_nb_room" not in attendee.headers.get(
        "set-cookie", ""
    )
    with httpx.Client(base_url=base, follow_redirects=True) as browser_like:
        signed = browser_like.get("/_room/", params={"token": room.roster.token(INSTRUCTOR)})
        assert signed.status_code == 200  # followed the redirect, with the cookie
        assert browser_like.post("/_room/cancel").status_code == 422  # a form cannot send it
