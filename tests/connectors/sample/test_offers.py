"""The simulated history of offers: in the desk's store, in the shape representatives' records have, tied to
the contacts it happened in, and with answers that depend on the hidden traits."""

from __future__ import annotations

import contextlib
import sqlite3

import numpy as np
import pandas as pd
import pytest

from connectors.catalog import OFFER_RESPONSES, PRODUCTS
from connectors.desk.schema import SIMULATED_SOURCE
from connectors.layout import Layout
from connectors.sample.offers import KEY_PREFIX, MAX_OFFERS, MODEL_VERSION, NOT_PITCHED
from connectors.sample.traits import ADOPTION, PRODUCT_INDEX


def _table(layout: Layout, table: str) -> pd.DataFrame:
    with contextlib.closing(sqlite3.connect(layout.desk)) as store:
        return pd.read_sql_query(f"SELECT * FROM {table}", store)


@pytest.fixture(scope="module")
def outcomes(sample_layout: Layout) -> pd.DataFrame:
    """Every simulated outcome with its contact and the customer's hidden truth."""
    frame = _table(sample_layout, "desk_offer_outcomes")
    contacts = pd.read_parquet(sample_layout.contacts)
    truth = pd.read_parquet(sample_layout.truth)
    frame["contact_id"] = frame["contact_key"].str.removeprefix(KEY_PREFIX).astype(np.int64)
    frame = frame.merge(
        contacts[["contact_id", "customer_id", "started_at", "duration_s", "reason"]],
        on="contact_id",
        how="left",
        suffixes=("", "_contact"),
    )
    return frame.merge(truth, on="customer_id", how="left")


def _acceptance(frame: pd.DataFrame) -> tuple[float, float]:
    """Acceptance of the decided outcomes and its standard error."""
    decided = frame[frame["response"] != "not_discussed"]
    rate = float((decided["response"] == "accepted").mean())
    return rate, float(np.sqrt(rate * (1 - rate) / len(decided)))


def test_the_history_is_in_the_desks_store_in_the_shape_of_real_records(sample_layout, outcomes):
    shown = _table(sample_layout, "desk_offers_shown")
    assert len(outcomes) == len(shown) == sample_layout.read_manifest()["rows"]["offers"] > 1_000
    assert set(outcomes["source"]) == set(shown["source"]) == {SIMULATED_SOURCE}
    assert set(outcomes["model_version"]) == set(shown["model_version"]) == {MODEL_VERSION}
    assert set(outcomes["response"]) == set(OFFER_RESPONSES)
    assert set(outcomes["product"]) <= set(PRODUCTS)
    assert (outcomes["customer_id"] == outcomes["customer_id_contact"]).all(), "each offer is its contact's"
    assert not outcomes["reason"].isin(NOT_PITCHED).any()
    per_contact = outcomes.groupby("contact_key")
    assert per_contact["product"].nunique().equals(per_contact.size()), "no product twice in a contact"
    assert per_contact["offer_rank"].max().between(1, MAX_OFFERS).all()
    assert (per_contact["offer_rank"].max() == per_contact.size()).all(), "ranks are 1, 2, 3 in order"
    shown_keys = shown[["session", "product", "offer_rank", "customer_id"]].rename(
        columns={"session": "contact_key"}
    )
    paired = outcomes.merge(shown_keys, on=["contact_key", "product", "offer_rank", "customer_id"])
    assert len(paired) == len(outcomes), "every outcome was shown"


def test_offers_are_of_products_not_held_and_recorded_within_the_contact(sample_layout, outcomes):
    accounts = pd.read_parquet(sample_layout.accounts)
    held = set(zip(accounts["customer_id"], accounts["product"].astype(str), strict=True))
    assert not any(pair in held for pair in zip(outcomes["customer_id"], outcomes["product"], strict=True))
    recorded = pd.to_datetime(outcomes["recorded_at"])
    assert (recorded >= outcomes["started_at"]).all()
    assert (recorded <= outcomes["started_at"] + pd.to_timedelta(outcomes["duration_s"], unit="s")).all()
    assert (recorded < pd.Timestamp(sample_layout.as_of())).all()


def test_acceptance_depends_on_the_hidden_traits(outcomes):
    """The product a customer was about to buy, one common in their true segment and a content customer
    each say yes clearly more often (differences of many standard errors on 3,000 customers)."""
    about_to_buy = outcomes["product"] == outcomes["next_product"].astype(str)
    product = outcomes["product"].map(PRODUCT_INDEX).to_numpy()
    cases = {
        "the product they were about to buy": about_to_buy,
        "a product common in their segment": ADOPTION[outcomes["segment"].to_numpy(), product] > 0.3,
        "a content customer": outcomes["dissatisfaction"] < outcomes["dissatisfaction"].median(),
    }
    for what, rows in cases.items():
        (yes, yes_error), (no, no_error) = _acceptance(outcomes[rows]), _acceptance(outcomes[~rows])
        assert yes - no > 4 * np.hypot(yes_error, no_error), what
    assert _acceptance(outcomes[about_to_buy])[0] > 0.6 > 0.3 > _acceptance(outcomes[~about_to_buy])[0]


def test_later_offers_are_more_often_not_discussed(outcomes):
    silent = (outcomes["response"] == "not_discussed").groupby(outcomes["offer_rank"]).mean()
    assert silent.is_monotonic_increasing and silent.iloc[-1] > 2 * silent.iloc[0]
