"""The screen in a real browser (Debian's Chromium through Playwright) against `python -m dashboard`."""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest

from tests.dashboard.conftest import HOSTILE_NAME
from tests.servers import DEEP_TEXT, wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PARTS = [
    "c360-directory",
    "c360-search",
    "c360-profile",
    "c360-photo",
    "c360-reason",
    "c360-insights",
    "c360-spend",
    "c360-clicks",
    "c360-online",
    "c360-heatmap",
    "c360-map",
    "c360-survey",
    "c360-sql",
    "c360-timeline",
    "c360-verify",
    "c360-wrapup",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


class Watch:
    """Console errors, dialogs and requests of a page, collected while a test drives it."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda msg: msg.type == "error" and self.errors.append(msg.text))
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", self._request)

    def _request(self, request) -> None:
        parts = urlsplit(request.url)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOCAL_HOSTS:
            self.outside.append(request.url)


def _last_name(data_dir, customer_id: int) -> str:
    """A customer's last name from the data, to search for as a user would."""
    line = (data_dir / "crm" / "profiles.jsonl").read_text(encoding="utf-8").splitlines()[customer_id - 1]
    return json.loads(line)["last_name"]


def _open(page, url: str) -> Watch:
    watch = Watch(page)
    page.goto(url)
    page.locator(".c360-profile").first.wait_for(timeout=60_000)
    return watch


def _text(page, css_class: str) -> str:
    """All text under the first element of a class, through Panel's shadow roots."""
    return " ".join(page.locator(f".{css_class}").first.evaluate(DEEP_TEXT).split())


def _profile_text(page) -> str:
    return _text(page, "c360-profile")


def test_every_part_is_on_screen_offline_and_without_errors(page, dashboard_server):
    watch = _open(page, dashboard_server.url)
    for part in PARTS:
        page.locator(f".{part}").first.wait_for(state="attached", timeout=30_000)
    assert "Erika Gallardo" in _profile_text(page)
    assert watch.outside == [], "the page must load nothing from outside the server"
    assert watch.errors == []


def _style(page, selector: str, prop: str) -> str:
    """A computed style of the first element matching ``selector`` (Playwright's selectors pierce shadow roots)."""
    return page.locator(selector).first.evaluate(f"e => getComputedStyle(e).getPropertyValue('{prop}')")


def test_the_screen_stylesheet_reaches_inside_every_pane(page, dashboard_server):
    _open(page, dashboard_server.url)
    assert _style(page, ".c360-profile .c360-contact", "color") == "rgb(107, 114, 128)"  # --c360-muted
    assert _style(page, ".c360-online .c360-badge", "border-radius") != "0px"
    assert _style(page, ".c360-insights .c360-kpi", "display") == "grid"


def test_kiosk_type_is_larger_and_dark_theme_lightens_muted_text(page, dashboard_server):
    _open(page, dashboard_server.url)
    screen = float(_style(page, ".c360-insights dd", "font-size").removesuffix("px"))
    _open(page, f"{dashboard_server.url}?kiosk=1&theme=dark")
    assert float(_style(page, ".c360-insights dd", "font-size").removesuffix("px")) >= 1.4 * screen
    assert _style(page, ".c360-profile .c360-contact", "color") == "rgb(160, 174, 192)"


def test_behind_the_scenes_card_shows_the_last_query_when_opened(page, dashboard_server):
    watch = _open(page, dashboard_server.url)
    page.get_by_text("Behind the scenes").first.click()
    wait_until(lambda: "SELECT" in _text(page, "c360-sql").upper(), timeout=30, message="the SQL shows")
    assert "Last query ·" in _text(page, "c360-sql")
    assert watch.errors == []


def test_search_select_and_linked_updates(page, dashboard_server, dashboard_data):
    last_name = _last_name(dashboard_data, 7)
    watch = _open(page, dashboard_server.url)
    insights_before = _text(page, "c360-insights")
    search = page.locator(".c360-search input").first
    search.fill("")
    search.press_sequentially(last_name.lower(), delay=30)
    row = page.locator(".c360-directory .tabulator-row").filter(has_text=last_name).first
    row.wait_for(timeout=45_000)
    name = row.locator('.tabulator-cell[tabulator-field="name"]').first.inner_text().splitlines()[0]
    row.click()
    wait_until(lambda: name in _profile_text(page), timeout=45, message="profile follows the selection")
    wait_until(lambda: _text(page, "c360-insights") != insights_before, timeout=45)
    assert watch.errors == [] and watch.dialogs == []


def test_hostile_search_text_and_names_stay_text(page, dashboard_server):
    watch = _open(page, dashboard_server.url)
    search = page.locator(".c360-search input").first
    for text in ["'; DROP TABLE profiles; --", "%_\\", "<img src=x onerror=alert(1)>"]:
        search.fill(text)
        page.locator(".c360-status").first.wait_for()
    search.fill("onerror")
    row = page.locator(".c360-directory .tabulator-row").filter(has_text="onerror").first
    row.wait_for(timeout=45_000)
    row.click()
    wait_until(lambda: HOSTILE_NAME in _profile_text(page), timeout=45, message="the name shows as text")
    assert watch.dialogs == [], "no script from customer data may run"
    assert watch.errors == []


def test_live_click_plot_moves(page, dashboard_server):
    _open(page, dashboard_server.url)
    plot = page.locator(".c360-clicks").first
    plot.wait_for()
    first = plot.screenshot()
    wait_until(lambda: plot.screenshot() != first, timeout=20, interval=1, message="the live plot changes")


def test_two_browsers_keep_their_own_customer(browser, dashboard_server, dashboard_data):
    other = _last_name(dashboard_data, 7)
    pages = [browser.new_context().new_page() for _ in range(2)]
    try:
        for page, query in zip(pages, [other, "Gallardo"], strict=True):
            _open(page, dashboard_server.url)
            page.locator(".c360-search input").first.fill(query.lower())
            row = page.locator(".c360-directory .tabulator-row").filter(has_text=query).first
            row.wait_for(timeout=45_000)
            row.click()
        wait_until(lambda: other in _profile_text(pages[0]), timeout=45)
        wait_until(lambda: "Gallardo" in _profile_text(pages[1]), timeout=45)
        assert "Gallardo" not in _profile_text(pages[0])
    finally:
        for page in pages:
            page.context.close()


# What each directory cell must show whole at a support desk's laptop width.
LAPTOP = {"width": 1366, "height": 768}
SHOWN_COLUMNS = ("name", "phone", "tenure_years", "status")
CELLS_FIT = """table => {
  const holder = table.querySelector('.tabulator-tableholder');
  const cells = Array.from(table.querySelectorAll('.tabulator-row .tabulator-cell'))
    .filter(cell => cell.offsetParent !== null && cell.textContent.trim());
  return {
    sideways: holder.scrollWidth > holder.clientWidth + 1,
    right: Math.max(...cells.map(cell => cell.getBoundingClientRect().right)),
    fields: [...new Set(cells.map(cell => cell.getAttribute('tabulator-field')))],
    clipped: cells.filter(cell => Array.from(cell.querySelectorAll('*')).concat([cell])
      .some(node => node.scrollWidth > node.clientWidth + 1)).map(cell => cell.textContent),
  };
}"""


def test_the_directory_fits_a_laptop_with_the_email_masked(browser, dashboard_server, dashboard_data):
    context = browser.new_context(viewport=LAPTOP)
    try:
        page = context.new_page()
        _open(page, dashboard_server.url)
        table = page.locator(".c360-directory .tabulator").first
        table.locator(".tabulator-row").first.wait_for(timeout=45_000)
        fit = table.evaluate(CELLS_FIT)
        assert set(fit["fields"]) == set(SHOWN_COLUMNS), "name, phone, tenure and status, nothing else"
        assert not fit["sideways"] and fit["right"] <= LAPTOP["width"], "no scrolling sideways"
        assert fit["clipped"] == [], "every cell shown whole"
        first = table.locator('.tabulator-row .tabulator-cell[tabulator-field="name"]').first.inner_text()
        name, email = first.splitlines()
        assert re.fullmatch(r"\S\*\*\*@[\w.]+", email), "the email under the name, masked"
        emails = [
            json.loads(line).get("email", "")
            for line in (dashboard_data / "crm" / "profiles.jsonl").read_text(encoding="utf-8").splitlines()
        ]
        shown = table.evaluate("t => t.innerHTML")
        assert not [e for e in emails if e and e in shown], "no full email reaches the browser"
        assert name in {
            json.loads(line)["name"] for line in (dashboard_data / "crm" / "profiles.jsonl").open()
        }
    finally:
        context.close()


def test_the_map_draws_customers_and_zooms_without_loading_anything_from_outside(page, dashboard_server):
    watch = _open(page, dashboard_server.url)
    canvas = page.locator(".c360-map canvas").first
    canvas.wait_for(timeout=45_000)
    wait_until(lambda: "customers" in _text(page, "c360-map"), timeout=45, message="the map's legend")
    assert "Customer location, tenure and sentiment" in _text(page, "c360-map")
    before = canvas.screenshot()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.4)
    for _ in range(5):
        page.mouse.wheel(0, -300)
    wait_until(lambda: canvas.screenshot() != before, timeout=30, interval=0.5, message="a zoomed image")
    page.locator(".c360-map button").filter(has_text="Persona").first.click()
    wait_until(lambda: "tenure and persona" in _text(page, "c360-map"), timeout=30)
    assert watch.outside == [] and watch.errors == []


def test_kiosk_rotates_and_survives_a_server_restart(page, dashboard_server):
    watch = _open(page, f"{dashboard_server.url}?kiosk=1&rotate=5&theme=dark")
    assert page.locator(".c360-search").count() == 0, "the kiosk has no editing controls"
    for part in ("c360-reason", "c360-timeline"):
        page.locator(f".{part}").first.wait_for(state="attached", timeout=30_000)
    assert page.locator(".c360-note").count() == 0, "no agent notes on a wall display"
    first = _profile_text(page)
    wait_until(lambda: _profile_text(page) != first, timeout=20, interval=0.5, message="kiosk rotation")
    dashboard_server.stop()
    dashboard_server.start()
    shown = _profile_text(page)
    wait_until(
        lambda: page.locator(".c360-profile").count() and _profile_text(page) != shown,
        timeout=60,
        interval=1,
        message="the kiosk reconnects and keeps rotating after a restart",
    )
    assert watch.outside == []
