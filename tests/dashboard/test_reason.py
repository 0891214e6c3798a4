"""Likely calling about: the view over the session's store, and a click produced into Kafka moving "close an
account" up for that customer."""

from __future__ import annotations

import dataclasses

import pytest

from connectors import config
from connectors.directory import Directory
from dashboard.insights import InsightsView
from dashboard.reason import ReasonView, reasons_html
from dashboard.store import CustomerStore
from models.insights import Insights
from tests.sample_data import web_user
from tests.servers import wait_until

CLOSE_URL = "https://www.c360bank.example/accounts/personal-credit-card/close"


def test_the_view_shows_three_reasons_with_their_evidence(services):
    store = CustomerStore(services)
    view = ReasonView(store=store)
    html = view.body.object
    assert html.count("<b>") == 3 and "%" in html and "c360-evidence" in html
    for likely in store.insights.reasons:
        assert f"<b>{likely.label}</b>" in html and f"{likely.probability:.0%}" in html
    assert f"up to {services.models.as_of.isoformat()}" in html
    store.customer_id = 7
    assert view.body.object != html and all(
        f"<b>{r.label}</b>" in view.body.object for r in store.insights.reasons
    )


def test_the_screen_says_when_the_contact_history_is_unavailable(services):
    record = dataclasses.replace(
        services.directory.customer(1),
        contacts_error="contact history unavailable: contacts.parquet is missing",
    )
    insights = services.insights_for(1, record)
    html = reasons_html(insights, services.models.as_of)
    assert "c360-error" in html and "contact history unavailable" in html and html.count("<b>") == 3


def test_evidence_and_offer_reasons_are_escaped(services):
    store = CustomerStore(services)
    likely = store.insights.reasons[0]
    hostile = dataclasses.replace(likely, evidence=("a charge at <img src=x onerror=alert(1)>",))
    html = reasons_html(dataclasses.replace(store.insights, reasons=(hostile,)), services.models.as_of)
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    view = InsightsView(store=store)
    if store.insights.offers and store.insights.offers[0].kind != "upsell":
        assert "c360-offer-" in view.body.object, "a step before any offer is marked"


@pytest.mark.kafka
def test_a_produced_click_to_a_close_page_moves_close_an_account_up(
    kafka_settings, click_streams, send_messages, click_message, web_users, dashboard_data
):
    stream = click_streams(kafka_settings)
    models = Insights.load(dashboard_data)
    with Directory(config.load(["--data-dir", str(kafka_settings.data_dir)], environ={})) as directory:
        record = directory.customer(1)

    def close_account() -> float:
        answer = models.for_customer(1, record=record, live_clicks=stream.customer_activity(1))
        return next((r.probability for r in answer.reasons if r.reason == "close_account"), 0.0)

    before = close_account()
    send_messages(kafka_settings, [click_message(web_user(web_users, 1), "personal_credit_card", CLOSE_URL)])
    wait_until(
        lambda: len(stream.customer_activity(1)) == 1, timeout=15, message="the click reaches the stream"
    )
    assert close_account() > before + 0.05
