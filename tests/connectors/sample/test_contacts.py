"""The contact center's history: its shape, its integrity with customers, accounts and transactions, the
hidden oracle beside it, and the featured caller's lead-up."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from connectors.catalog import (
    CLICK_DAYS,
    CONTACT_CHANNELS,
    CONTACT_COLUMNS,
    CONTACT_DAYS,
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    notable_charges,
    page_of,
)
from connectors.layout import Layout
from connectors.sample import generate
from connectors.sample.featured import FEATURED_CALLER


@pytest.fixture(scope="module")
def contacts(sample_layout: Layout) -> pd.DataFrame:
    return pd.read_parquet(sample_layout.contacts)


@pytest.fixture(scope="module")
def window(sample_layout: Layout) -> pd.DataFrame:
    """Per customer, from the other sources: the day they were last observed and their first visit."""
    accounts = pd.read_parquet(sample_layout.accounts)
    as_of = pd.Timestamp(sample_layout.as_of())
    held = accounts.groupby("customer_id").agg(
        closed=("status", lambda status: (status == "closed").all()), left=("closed_date", "max")
    )
    profiles = pd.read_json(sample_layout.profiles, lines=True, dtype={"phone_number": str}).set_index("id")
    frame = pd.DataFrame(index=profiles.index)
    frame["end"] = held["left"].where(held["closed"]).reindex(frame.index).fillna(as_of)
    frame["first_visit"] = pd.to_datetime(profiles["first_visit"])
    return frame


def test_contacts_have_the_contact_centers_columns_and_vocabulary(contacts, sample_layout):
    assert list(contacts.columns) == list(CONTACT_COLUMNS)
    assert contacts["contact_id"].tolist() == list(range(1, len(contacts) + 1))
    assert set(contacts["reason"].astype(str)) == set(CONTACT_REASONS), "every reason occurs"
    assert set(contacts["channel"].astype(str)) == set(CONTACT_CHANNELS)
    assert set(contacts["outcome"].astype(str)) == set(CONTACT_OUTCOMES)
    assert (contacts["duration_s"] >= 30).all() and contacts["note"].str.len().min() > 10
    assert contacts["agent"].astype(str).str.fullmatch(r"rep-\d{3}").all()
    per_customer = len(contacts) / sample_layout.read_manifest()["customers"]
    assert 1.5 < per_customer < 6, "a few contacts a year per customer"
    assert sample_layout.read_manifest()["rows"]["contacts"] == len(contacts)


def test_every_contact_is_a_customers_within_their_last_twelve_months(contacts, window):
    assert contacts["customer_id"].isin(window.index).all()
    ends = window["end"].reindex(contacts["customer_id"]).to_numpy()
    started = contacts["started_at"].to_numpy()
    assert (started < ends).all(), "former customers' contacts end when they left; nobody's is in the future"
    assert (started >= ends - np.timedelta64(CONTACT_DAYS, "D")).all()
    assert (started >= window["first_visit"].reindex(contacts["customer_id"]).to_numpy()).all()


def test_the_oracle_gives_every_contact_a_distribution_over_the_reasons(contacts, sample_layout):
    oracle = pd.read_parquet(sample_layout.contact_truth)
    assert oracle["contact_id"].tolist() == contacts["contact_id"].tolist()
    probabilities = oracle[[f"p_{reason}" for reason in CONTACT_REASONS]].to_numpy()
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    top = probabilities.argmax(axis=1)
    drawn = pd.Categorical(contacts["reason"].astype(str), categories=list(CONTACT_REASONS)).codes
    assert 0.4 < (top == drawn).mean() < 0.9, "the reason is drawn from the oracle, not set to its mode"


def test_charges_behind_contacts_are_in_the_transactions(contacts, sample_layout):
    transactions = pd.read_parquet(sample_layout.transactions)
    notable = notable_charges(transactions)
    declined = notable[notable["declined"]]
    assert len(declined) and declined["unusual"].mean() > 0.9, "declined charges are unusual charges"
    disputed = transactions[transactions["disputed"]]
    assert len(disputed) and not disputed["declined"].any()
    disputes = contacts[contacts["reason"] == "disputed_transaction"]
    assert set(disputed["customer_id"]) <= set(disputes["customer_id"]), "a dispute is a contact's"
    about = transactions.merge(disputes[["customer_id", "started_at"]], on="customer_id")
    before = about[about["disputed"] & (about["date"] <= about["started_at"])]
    assert set(before["customer_id"]) == set(disputed["customer_id"]), "the disputed charge came first"


def test_contacts_follow_what_happened_in_the_days_before(contacts, sample_layout):
    """Leaving pages before "close an account", declined charges before "fraud alert": the lead-ups the
    reason model learns from are in the sources."""
    profiles = pd.read_json(sample_layout.profiles, lines=True, dtype={"phone_number": str})
    users = profiles.dropna(subset=["web_user_id"]).set_index("web_user_id")["id"]
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    clicks["customer_id"] = users.reindex(clicks["user_id"]).to_numpy()
    leaving = clicks[clicks["url"].map(page_of).isin(["close", "transfer-out", "compare-rates"])]
    recent = contacts[
        contacts["started_at"] >= pd.Timestamp(sample_layout.as_of()) - pd.Timedelta(days=CLICK_DAYS - 7)
    ]
    pairs = recent.merge(leaving[["customer_id", "datetime"]], on="customer_id")
    lead = pairs[
        (pairs["datetime"] < pairs["started_at"])
        & (pairs["datetime"] >= pairs["started_at"] - pd.Timedelta(days=2))
    ]
    share = recent["contact_id"].isin(lead["contact_id"])
    assert (
        recent.loc[share, "reason"].eq("close_account").mean()
        > 3 * recent.loc[~share, "reason"].eq("close_account").mean()
    )
    declined = pd.read_parquet(sample_layout.transactions).query("declined")
    pairs = contacts.merge(declined[["customer_id", "date"]], on="customer_id")
    after = pairs[
        (pairs["date"] <= pairs["started_at"]) & (pairs["started_at"] < pairs["date"] + pd.Timedelta(days=3))
    ]
    assert after.drop_duplicates("contact_id")["reason"].eq("fraud_alert").mean() > 0.5


def test_the_featured_caller_has_a_lead_up_and_has_not_called_about_it(contacts, sample_layout):
    as_of = pd.Timestamp(sample_layout.as_of())
    transactions = pd.read_parquet(sample_layout.transactions)
    hers = notable_charges(transactions[transactions["customer_id"] == FEATURED_CALLER.customer_id])
    amount, days, payee, _ = FEATURED_CALLER.charge
    charge = hers[hers["payee"].astype(str) == payee]
    assert len(charge) == 1 and charge["unusual"].all() and charge["amount"].iloc[0] >= amount
    assert charge["date"].iloc[0] == (as_of - pd.Timedelta(days=days)).normalize()
    profile = json.loads(sample_layout.profiles.read_text(encoding="utf-8").splitlines()[0])
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    theirs = clicks[clicks["user_id"] == profile["web_user_id"]]
    for _kind, days_before, product, page in FEATURED_CALLER.lead_up:
        at = as_of - pd.Timedelta(days=days_before)
        url = f"/accounts/{product.replace('_', '-')}/{page}"
        assert (
            theirs["url"].str.endswith(url) & (abs(theirs["datetime"] - at) < pd.Timedelta(seconds=1))
        ).any()
    first = as_of - pd.Timedelta(days=max(days for _, days, _, _ in FEATURED_CALLER.lead_up))
    later = contacts[(contacts["customer_id"] == 1) & (contacts["started_at"] >= first)]
    assert later.empty, "she has not called about her lead-up yet: the call on screen is that call"


def test_contacts_are_the_same_for_the_same_seed(tmp_path):
    generate(tmp_path / "a", 300, seed=5, progress=False)
    generate(tmp_path / "b", 300, seed=5, progress=False)
    pd.testing.assert_frame_equal(
        pd.read_parquet(Layout(tmp_path / "a").contacts), pd.read_parquet(Layout(tmp_path / "b").contacts)
    )
