"""The reason for a call: the same inputs whether read in bulk or from one record, evidence sentences that
match the data they cite, live clicks that move the answer, and offers that take it into account."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from connectors import features
from connectors.catalog import CONTACT_REASONS, label, notable_charges
from connectors.config import Settings
from connectors.directory import Directory
from connectors.layout import Layout
from connectors.sample.featured import FEATURED_CALLER
from models import nba, reason

CLOSE_URL = "https://www.c360bank.example/accounts/personal-credit-card/close"


@pytest.fixture(scope="module")
def directory(sample_layout: Layout):
    with Directory(Settings(data_dir=sample_layout.root)) as opened:
        yield opened


@pytest.fixture(scope="module")
def now(sample_layout: Layout) -> pd.Timestamp:
    """The data's now, as the sources' naive UTC times."""
    return pd.Timestamp(reason.data_now(sample_layout.as_of())).tz_convert(None)


def test_one_records_inputs_are_the_bulk_inputs(sample_layout, directory, now):
    """Training reads every source in bulk, the screen reads one 360 record: the inputs agree."""
    bulk = reason.Lookup.build(features.load(sample_layout).activity)
    at = np.array([int(now.timestamp())])
    checked = 0
    for customer_id in [1, 2, 3, 7, 11, 25, 60, 150, 1500, 2999]:
        record = directory.customer(customer_id)
        clicks = record.clicks["time"]
        if ((clicks >= now - pd.Timedelta(hours=1)) & (clicks < now)).any():
            continue  # the record gives the last hour to the live stream
        one = reason.Lookup.build(reason.customer_activity(record, sample_layout.as_of()))
        single, columns = reason.feature_matrix(one, np.zeros(1, np.int64), at)
        many, same_columns = reason.feature_matrix(bulk, bulk.code([customer_id]), at)
        assert columns == same_columns
        np.testing.assert_allclose(single, many, err_msg=f"customer {customer_id}")
        checked += 1
    assert checked >= 8


def test_evidence_cites_the_featured_callers_charge_and_pages_as_the_files_hold_them(
    sample_layout, directory, now
):
    record = directory.customer(FEATURED_CALLER.customer_id)
    activity = reason.customer_activity(record, sample_layout.as_of())
    transactions = pd.read_parquet(sample_layout.transactions)
    theirs = notable_charges(transactions[transactions["customer_id"] == FEATURED_CALLER.customer_id])
    charge = theirs[theirs["unusual"] & ~theirs["declined"]].sort_values("date").iloc[-1]
    days = (now.normalize() - charge["date"]).days
    when = "today" if days == 0 else "yesterday" if days == 1 else f"{days} days ago"
    expected = (
        f"a ${charge['amount']:,.2f} charge at {charge['payee']}, a payee they never paid before, {when}"
    )
    assert expected in reason.evidence(activity, now, "disputed_transaction")

    # The leaving pages of her last week, straight from the click file: the most recent product and page
    # first, each said with its count (or how long ago, when once), as many as the evidence cites.
    web_user = json.loads(sample_layout.profiles.read_text(encoding="utf-8").splitlines()[0])["web_user_id"]
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    clicks = clicks[(clicks["user_id"] == web_user) & (clicks["datetime"] >= now - pd.Timedelta(days=7))]
    clicks = clicks[clicks["datetime"] < now]
    page = clicks["url"].str.rsplit("/", n=1).str[-1]
    leaving = clicks.assign(page=page)[page.isin(["close", "transfer-out", "compare-rates"])]
    groups = sorted(leaving.groupby(["product", "page"]), key=lambda g: -g[1]["datetime"].max().value)
    said = reason.evidence(activity, now, "close_account")
    assert groups, "her lead-up visits the leaving pages"
    for (product, page), rows in groups[: reason.MAX_CITED]:
        latest = reason.ago((now - rows["datetime"].max()).total_seconds())
        count, name = len(rows), label(product)
        if page == "compare-rates":
            expected = (
                f"compared {name} rates {count}× this week"
                if count > 1
                else f"compared {name} rates {latest}"
            )
        else:
            expected = f"visited {name} › {page} {latest}" + (f" ({count}× this week)" if count > 1 else "")
        assert expected in said, (expected, said)
    contacts = pd.read_parquet(sample_layout.contacts)
    closing = contacts[(contacts["customer_id"] == 1) & (contacts["reason"] == "close_account")]
    if len(closing):
        last = closing["started_at"].max()
        assert f"contacted us about it {len(closing)}× in the past year, last on {last:%Y-%m-%d}" in said


def test_reasons_without_a_lead_up_say_so():
    assert (
        reason.ago(30) == "just now" and reason.ago(125) == "2 min ago" and reason.ago(3 * 3600) == "3 h ago"
    )
    assert reason.ago(30 * 3600) == "yesterday" and reason.ago(3 * 86400) == "3 days ago"
    assert reason.NOTHING.startswith("nothing in their recent activity")


def test_a_click_on_a_closing_page_moves_close_an_account_up(insights, directory):
    record = directory.customer(FEATURED_CALLER.customer_id)
    wall = datetime.now(timezone.utc)
    before = insights.for_customer(1, record=record, now=wall)
    live = pd.DataFrame(
        {
            "time": [pd.Timestamp(wall - timedelta(minutes=2)).tz_convert(None)],
            "product": ["personal_credit_card"],
            "url": [CLOSE_URL],
        }
    )
    after = insights.for_customer(1, record=record, live_clicks=live, now=wall)

    def close(answer) -> float:
        return next((r.probability for r in answer.reasons if r.reason == "close_account"), 0.0)

    assert close(after) > close(before) + 0.05
    assert any(
        "visited Personal Credit Card › close 2 min ago" in text for r in after.reasons for text in r.evidence
    )
    stale = insights.for_customer(1, record=record, live_clicks=live, now=wall + timedelta(hours=2))
    assert close(stale) == pytest.approx(close(before)), "only the last hour of live browsing counts"


def test_every_customer_gets_three_reasons_in_order_with_evidence(insights, directory):
    for customer_id in (1, 2, 3, 40, 900):
        answer = insights.for_customer(customer_id, record=directory.customer(customer_id))
        probabilities = [r.probability for r in answer.reasons]
        assert len(answer.reasons) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-9
        assert all(r.label == CONTACT_REASONS[r.reason] and r.evidence for r in answer.reasons)
    assert insights.for_customer(1).reasons == (), "no record, no reasons"


def _offer(product: str, reason_line: str = "40% of their persona hold one") -> nba.Offer:
    return nba.Offer(product, product, 0.5, reason_line)


def test_offers_put_the_problem_first_and_retention_before_any_upsell():
    offers = [_offer("auto_loan"), _offer("roth_ira")]
    held = np.zeros(12, bool)
    held[[0, 1]] = True
    disputed = nba.steer(offers, "disputed_transaction", 0.6, held, [])
    assert disputed[0].kind == "service" and "disputed transaction (60%)" in disputed[0].reason
    assert [o.product for o in disputed[1:]] == ["auto_loan", "roth_ira"]
    assert all(o.reason.startswith("after the disputed transaction is sorted out: ") for o in disputed[1:])
    closing = nba.steer(offers, "close_account", 0.5, held, ["personal_credit_card"])
    assert closing[0].kind == "retention" and closing[0].product == "personal_credit_card"
    assert "likely calling about close an account (50%)" in closing[0].reason
    assert all(o.reason.startswith("once they stay: ") for o in closing[1:])
    applying = nba.steer(offers, "application_help", 0.4, held, ["roth_ira"])
    assert [o.product for o in applying] == ["roth_ira", "auto_loan"] and "application help" in applying[
        0
    ].reason
    assert nba.steer(offers, "close_account", 0.1, held, []) == offers, "an unlikely reason steers nothing"


def test_the_featured_callers_screen_steers_her_offers(insights, directory):
    answer = insights.for_customer(1, record=directory.customer(1))
    top = answer.reasons[0]
    if top.probability >= nba.STEER_FROM and top.reason in nba.RESOLVE_FIRST:
        assert answer.offers[0].kind == "service" and top.label in answer.offers[0].label
    elif top.probability >= nba.STEER_FROM and top.reason in nba.RETAIN_FIRST:
        assert answer.offers[0].kind == "retention"
    assert top.reason in ("disputed_transaction", "fraud_alert", "close_account"), "her lead-up shows"
