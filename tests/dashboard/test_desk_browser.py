"""The call desk in Chromium against `python -m dashboard`: verify → wrap-up → reload finds the note in the
timeline; nothing private is sent before the caller is verified; a saved wrap-up survives kill -9."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import orjson
import pandas as pd
import pytest
from playwright.sync_api import Error as PlaywrightError

from connectors.desk import SQLiteDesk
from connectors.layout import Layout
from dashboard.markup import mask_phone, mask_ssn
from tests.dashboard.conftest import DashboardServer
from tests.dashboard.test_privacy import Received
from tests.hostile_data import SCRIPT_COMMENT
from tests.servers import DEEP_TEXT, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def verifying_server(dashboard_data, tmp_path_factory) -> Iterator[DashboardServer]:
    server = DashboardServer(
        dashboard_data, {"C360_VERIFY": "on"}, log=tmp_path_factory.mktemp("desk") / "server.log"
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def featured(dashboard_data) -> dict:
    layout = Layout(dashboard_data)
    customer = layout.read_manifest()["featured_customers"][0]
    return orjson.loads(layout.profiles.read_bytes().splitlines()[customer - 1])


def _text(page, css_class: str) -> str:
    return " ".join(page.locator(f".{css_class}").first.evaluate(DEEP_TEXT).split())


def _open(page, url: str) -> None:
    """Open the screen; a page whose server came back may reload itself meanwhile (its watchdog), which
    aborts the navigation: then it is opened again."""
    try:
        page.goto(url)
    except PlaywrightError as error:
        if "ERR_ABORTED" not in str(error):
            raise
        page.goto(url)
    page.locator(".c360-wrapup").first.wait_for(timeout=60_000)


def _verify(page, profile: dict) -> None:
    inputs = page.locator(".c360-verify input")
    inputs.nth(0).wait_for(timeout=30_000)
    for index, answer in enumerate((profile["birth_date"], profile["address"]["zip"], profile["ssn"][-4:])):
        inputs.nth(index).fill(answer)
        inputs.nth(index).press("Tab")
    page.locator(".c360-verify button").filter(has_text="Verify").first.click()
    page.locator(".c360-verify .c360-verified").first.wait_for(timeout=30_000)


def _wrap_up(page, note: str) -> None:
    area = page.locator(".c360-wrapup textarea").first
    area.fill(note)
    area.press("Tab")
    page.locator(".c360-wrapup button").filter(has_text="Save wrap-up").first.click()
    page.locator(".c360-wrapup .c360-saved").first.wait_for(timeout=30_000)


def test_verify_then_wrap_up_then_reload_finds_the_note_in_the_timeline(page, verifying_server, featured):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _open(page, verifying_server.url)
    assert page.locator(".c360-timeline").count() == 0, "no timeline before verification"
    _verify(page, featured)
    page.locator(".c360-timeline").first.wait_for(timeout=30_000)
    note = f"browser run: {SCRIPT_COMMENT}"
    _wrap_up(page, note)

    page.reload()
    page.locator(".c360-wrapup").first.wait_for(timeout=60_000)
    _verify(page, featured)
    wait_until(lambda: note in _text(page, "c360-timeline"), timeout=30, message="the note in the timeline")
    assert dialogs == [] and not page.evaluate("() => window.__c360_pwned || null"), "shown as text"


def test_before_verification_nothing_private_is_sent(page, verifying_server, featured, dashboard_data):
    history = pd.read_parquet(Layout(dashboard_data).contacts)
    notes = history.loc[history["customer_id"] == featured["id"], "note"].tolist()
    received = Received(page)
    received.parts.append(page.goto(verifying_server.url).text())
    page.locator(".c360-caller").first.wait_for(timeout=60_000)
    wait_until(lambda: featured["first_name"] in received.text, timeout=30, message="the caller's first name")
    text = received.text
    assert mask_ssn(featured["ssn"]) not in text and mask_phone(featured["phone_number"]) not in text
    assert featured["address"]["street"] not in text and featured["birth_date"] not in text
    assert "Web session ·" not in text and "Next best offers" not in text, "no timeline, no offers"
    assert notes and [note for note in notes if note in text] == [], "no agent's note"
    _verify(page, featured)
    page.locator(".c360-profile").first.wait_for(timeout=60_000)
    try:
        wait_until(
            lambda: mask_ssn(featured["ssn"]) in received.text, timeout=30, message="the profile after it"
        )
    except AssertionError as error:  # say what the server said (seen once in CI, not reproduced alone)
        raise AssertionError(f"{error}; the server's log ends: {verifying_server.logged()[-3000:]}") from None


def test_a_saved_wrapup_survives_kill_9_of_the_server(page, dashboard_data, tmp_path):
    server = DashboardServer(dashboard_data, log=tmp_path / "server.log")  # verification off
    server.start()
    try:
        _open(page, server.url)
        note = "saved right before kill -9"
        _wrap_up(page, note)
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=30)
        server.start()
        _open(page, server.url)
        wait_until(lambda: note in _text(page, "c360-timeline"), timeout=30, message="the note after restart")
    finally:
        server.stop()
    store = SQLiteDesk(Layout(dashboard_data).desk)
    try:
        customer = Layout(dashboard_data).read_manifest()["featured_customers"][0]
        assert store.contacts(customer).note.tolist().count(note) == 1
    finally:
        store.close()
