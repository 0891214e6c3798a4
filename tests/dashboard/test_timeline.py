"""The timeline: one list newest first, paged and filtered; web sessions at a 30-minute gap; notes escaped
and kept out of the kiosk; a produced click extends the current session."""

from __future__ import annotations

import pandas as pd
import param
import pytest

from connectors import config
from connectors.directory import Directory
from dashboard.services import live_key
from dashboard.store import CustomerStore
from dashboard.timeline import KINDS, TimelineView, entries_html, page_of_entries, sessions, timeline
from tests.dashboard.conftest import HOSTILE_ID, HOSTILE_NOTE
from tests.sample_data import web_user
from tests.servers import wait_until

SITE = "https://www.c360bank.example"


def _clicks(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.to_datetime([row[0] for row in rows]),
            "product": [row[1] for row in rows],
            "url": [f"{SITE}{row[2]}" for row in rows],
        }
    )


def test_clicks_more_than_thirty_minutes_apart_are_separate_sessions():
    clicks = _clicks(
        ("2026-10-30 10:00:00", "auto_loan", "/products/auto-loan/overview"),
        ("2026-10-30 10:20:00", "auto_loan", "/products/auto-loan/apply"),
        ("2026-10-30 10:50:00", "debit_card", "/accounts/debit-card/statements"),  # 30 min: same session
        ("2026-10-30 11:20:01", "personal_credit_card", "/accounts/personal-credit-card/close"),  # new one
        ("2026-10-30 11:25:00", "personal_credit_card", "/accounts/personal-credit-card/compare-rates"),
    )
    found = sessions(clicks.sample(frac=1, random_state=3))  # any order in, sessions out
    assert [entry.title for entry in found] == [
        "Web session · 3 clicks · 50 min",
        "Web session · 2 clicks · 5 min",
    ]
    first, second = found
    assert first.at == pd.Timestamp("2026-10-30 10:50:00") and second.at == pd.Timestamp(
        "2026-10-30 11:25:00"
    )
    assert first.detail == "seen: Auto Loan, Debit Card" and first.flags == ("Auto Loan › apply",)
    assert second.flags == ("Personal Credit Card › close",), "compare-rates is no page that matters here"


def _contacts(*rows: tuple[str, str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "contact_id": range(1, len(rows) + 1),
            "started_at": pd.to_datetime([row[0] for row in rows]),
            "channel": ["phone"] * len(rows),
            "reason": [row[1] for row in rows],
            "duration_s": [300] * len(rows),
            "outcome": ["resolved"] * len(rows),
            "note": [row[2] for row in rows],
            "agent": ["rep-001"] * len(rows),
        }
    )


def test_everything_is_in_one_list_newest_first_paged_and_filtered():
    holdings = pd.DataFrame(
        {
            "product": ["debit_card", "auto_loan"],
            "opened_date": pd.to_datetime(["2020-01-05", "2026-10-01"]),
            "closed_date": pd.to_datetime([None, "2026-10-20"]),
        }
    )
    transactions = pd.DataFrame(
        {
            "date": pd.to_datetime(["2026-10-02", "2026-10-03", "2026-10-04", "2026-10-25"]),
            "payee": ["A Market", "A Market", "A Market", "SQ *NOVA"],
            "category": ["Groceries"] * 4,
            "amount": [80.0, 90.0, 85.0, 2400.0],
            "fee": [0.0, 35.0, 0.0, 0.0],
            "declined": [False, False, False, False],
            "disputed": [False, False, False, True],
        }
    )
    surveys = pd.DataFrame(
        {"submitted": pd.to_datetime(["2026-09-01 08:00"]), "rating": [2], "comment": ["Fees!"]}
    )
    wrap_ups = _contacts(("2026-10-31 09:00", "fees", "Refunded the fee."))
    history = _contacts(
        ("2026-10-26 12:00", "disputed_transaction", "Disputed."), ("2026-03-01 12:00", "fees", "")
    )
    clicks = _clicks(("2026-10-30 10:00:00", "auto_loan", "/products/auto-loan/apply"))
    entries = timeline([history, wrap_ups], holdings, transactions, surveys, [clicks], customer_id=7)
    assert [entry.at for entry in entries] == sorted((entry.at for entry in entries), reverse=True)
    assert [entry.kind for entry in entries[:5]] == ["contact", "web", "contact", "transaction", "account"]
    assert {entry.kind for entry in entries} == set(KINDS)
    assert [entry.title for entry in entries if entry.kind == "transaction"] == [
        "$2,400.00 at SQ *NOVA",
        "$90.00 at A Market",
    ], "only the notable charges: the disputed large one and the one with a fee"
    assert entries[3].flags == ("unusual", "disputed")
    assert [e.title for e in entries if e.kind == "account"] == [
        "Closed Auto Loan",
        "Opened Auto Loan",
        "Opened Debit Card",
    ]
    first, pages = page_of_entries(entries, list(KINDS), 1, 4)
    last, _ = page_of_entries(entries, list(KINDS), pages, 4)
    assert pages == -(-len(entries) // 4) and first == entries[:4] and last == entries[(pages - 1) * 4 :]
    contacts_only, contact_pages = page_of_entries(entries, ["contact"], 9, 2)
    assert contact_pages == 2 and [e.at for e in contacts_only] == [pd.Timestamp("2026-03-01 12:00")]
    assert page_of_entries([], list(KINDS), 1, 4) == ([], 1)


def test_notes_are_escaped_and_left_out_of_the_kiosk():
    entries = timeline([_contacts(("2026-10-31 09:00", "fees", HOSTILE_NOTE))], *_empty(), [], customer_id=1)
    html = entries_html(entries, private=True)
    assert (
        "<script>" not in html and "&lt;script&gt;alert(&#x27;note&#x27;)&lt;/script&gt; &amp; left" in html
    )
    assert "script" not in entries_html(entries, private=False)


def _empty() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    holdings = pd.DataFrame(
        {"product": [], "opened_date": pd.to_datetime([]), "closed_date": pd.to_datetime([])}
    )
    transactions = pd.DataFrame(
        {name: [] for name in ("date", "payee", "category", "amount", "fee", "declined", "disputed")}
    )
    surveys = pd.DataFrame({"submitted": pd.to_datetime([]), "rating": [], "comment": []})
    return holdings, transactions, surveys


def test_the_view_pages_and_filters_the_selected_customers_timeline(services):
    store = CustomerStore(services)
    view = TimelineView(store=store, stream=services.stream, page_size=3)
    store.customer_id = HOSTILE_ID
    assert "page 1 of" in view.status.object and view.previous.disabled
    view.kinds.value = ["contact"]
    shown = view.body.object
    assert "&lt;script&gt;" in shown and "<script>" not in shown and "c360-tl-contact" in shown
    assert "c360-tl-web" not in shown and "c360-tl-account" not in shown
    pages = int(view.status.object.split(" of ")[1].split(" ")[0])
    for _ in range(pages + 2):
        view.next.clicks += 1
    assert f"page {pages} of {pages}" in view.status.object and view.next.disabled
    store.customer_id = 1
    assert "page 1 of" in view.status.object, "a new customer starts on the first page"


def test_the_kiosks_timeline_has_no_controls_and_no_notes(services):
    store = CustomerStore(services)
    store.customer_id = HOSTILE_ID
    kiosk = TimelineView(store=store, stream=services.stream, kiosk=True)
    kiosk.kinds.value = ["contact"]  # not shown in the kiosk: it shows every kind
    assert "c360-note" not in kiosk.body.object and "script" not in kiosk.body.object
    assert kiosk.body.object.count("<li") <= 5
    assert all(widget not in kiosk.__panel__().objects for widget in (kiosk.kinds, kiosk.status))


class Selection(param.Parameterized):
    """What the timeline needs of a session's store: the selected customer's record."""

    record = param.Parameter(default=None)


@pytest.mark.kafka
def test_a_produced_click_extends_the_current_web_session_within_seconds(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    with Directory(config.load(["--data-dir", str(kafka_settings.data_dir)], environ={})) as directory:
        record = directory.customer(1)
    view = TimelineView(store=Selection(record=record), stream=stream)
    erika = web_user(web_users, 1)
    send_messages(kafka_settings, [click_message(erika, "auto_loan")])
    wait_until(
        lambda: view.refresh() or view.entries[0].title.startswith("Web session · 1 click"), timeout=15
    )
    assert live_key(stream, 1)[0] == "clicking", "while she clicks, sessions share per window"
    twin = TimelineView(store=Selection(record=record), stream=stream)
    assert twin.entries is view.entries or twin._shown != view._shown  # shared, unless a window ended
    send_messages(
        kafka_settings,
        [click_message(erika, "personal_credit_card", f"{SITE}/accounts/personal-credit-card/close")],
    )
    wait_until(
        lambda: view.refresh() or view.entries[0].title.startswith("Web session · 2 clicks"), timeout=15
    )
    assert view.entries[0].flags == ("Personal Credit Card › close",)
    assert "Personal Credit Card › close" in view.body.object


def test_sessions_on_the_same_customer_share_one_timeline(services, offline_customer):
    kiosk, other, screen = (CustomerStore(services, desk=desk) for desk in (False, False, True))
    for store in (kiosk, other, screen):
        store.customer_id = offline_customer
    shared = TimelineView(store=kiosk, stream=services.stream, kiosk=True)
    alone = TimelineView(store=other, stream=services.stream, kiosk=True)
    assert shared.entries is alone.entries, "built once for both sessions (no wrap-ups of the desk's)"
    with_desk = TimelineView(store=screen, stream=services.stream)
    assert set(shared.entries) <= set(with_desk.entries)
