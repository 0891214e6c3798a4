"""The privacy policy (README "Privacy: what each view sends to the browser"), checked on what a real page
receives: the HTML and every websocket frame of the representative's screen and of the kiosk, in Chromium."""

from __future__ import annotations

import re

import orjson
import pytest

from dashboard.markup import mask_email, mask_phone, mask_ssn
from tests.servers import wait_until

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BASE64_RUN = re.compile(r"[A-Za-z0-9+/=]{200,}")


class Received:
    """Everything the server sends a page: the document and every websocket frame, as text."""

    def __init__(self, page):
        self.parts: list[str] = []
        page.on("websocket", lambda socket: socket.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        self.parts.append(payload if isinstance(payload, str) else payload.decode("utf-8", "replace"))

    def open(self, page, url: str) -> None:
        self.parts.append(page.goto(url).text())
        page.locator(".c360-profile").first.wait_for(timeout=60_000)

    @property
    def text(self) -> str:
        return "\n".join(self.parts)


@pytest.fixture(scope="module")
def profiles(dashboard_data) -> dict[int, dict]:
    lines = (dashboard_data / "crm" / "profiles.jsonl").read_bytes().splitlines()
    return {doc["id"]: doc for doc in map(orjson.loads, lines)}


def _never_in(received: str, profiles: dict[int, dict], *fields: str) -> list[str]:
    return [
        f"{field} of #{i}"
        for i, d in profiles.items()
        for field in fields
        if d.get(field) and d[field] in received
    ]


def test_the_representatives_screen_sends_full_phones_masked_emails_and_four_ssn_digits(
    page, dashboard_server, services, profiles
):
    received = Received(page)
    received.open(page, dashboard_server.url)
    page.locator(".c360-directory .tabulator-row").first.wait_for(timeout=60_000)
    shown = services.directory.search("", page_size=15).rows["id"].tolist()
    selected = profiles[services.featured[0]]
    wait_until(lambda: mask_ssn(selected["ssn"]) in received.text, timeout=30, message="the profile's data")
    text = received.text

    assert _never_in(text, profiles, "email", "ssn") == [], "no full email or SSN of anyone"
    assert _never_in(text, {i: profiles[i] for i in [*shown, selected["id"]]}, "birth_date") == []
    for customer in shown:  # the directory: the full phone to match the caller ID, the email masked
        phone, email = profiles[customer].get("phone_number"), profiles[customer].get("email")
        assert phone is None or phone in text
        assert email is None or mask_email(email) in text
    assert mask_phone(selected["phone_number"]) in text and mask_email(selected["email"]) in text
    if selected["id"] not in shown:
        assert selected["phone_number"] not in text, "the profile masks the phone"


def test_the_kiosk_sends_no_phone_email_birth_date_or_ssn_digit(page, dashboard_server, profiles):
    received = Received(page)
    received.open(page, f"{dashboard_server.url}?kiosk=1&rotate=5")

    # Polled on what was received, not on a change of the profile card: the card's first change could be
    # from its empty state to the first customer, which showed one customer only. A call into the page
    # lets Playwright deliver the frames that arrived meanwhile (its sync API dispatches only then).
    def two_customers() -> dict:
        page.evaluate("0")
        shown = {i: d for i, d in profiles.items() if d["name"] in received.text}
        return shown if len(shown) >= 2 else {}

    shown = wait_until(two_customers, timeout=60, interval=0.5, message="two customers on the kiosk")
    text = received.text
    assert _never_in(text, profiles, "phone_number", "email", "ssn") == []
    assert _never_in(text, shown, "birth_date") == []
    words = BASE64_RUN.sub("", text)  # the photos' base64 spells "SSN" now and then
    found = [words[max(0, i - 100) : i + 100] for i in (words.find("SSN"), words.find("***")) if i >= 0]
    assert found == [], "not even masked contact details"
