"""Vectorised synthesis of a bank's customers and everything the sources hold about them.

Each customer has hidden traits (:mod:`connectors.sample.traits`) and every source is drawn from them, so
that models can learn something real: dissatisfied customers spend less month after month, compare rates
and visit account-closing pages, and answer surveys in sour words; interest in a product shows up as clicks
before a purchase. The traits themselves are written only to the hidden ground truth, for evaluating models.

The bank keeps its former customers on file: a year before "today" (``as_of``) every customer had a yearly
probability of leaving, and those who left during the past year have every account closed on the day they
left. Everything observed about a former customer (spending, clicks, survey answers, their age and tenure)
ends on that day, so models can learn who leaves from the bank's own history, as a real bank would.

Generation works chunk by chunk with one random stream per chunk, so any size fits in memory and the same
seed always gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from connectors.catalog import ACCOUNT_STATUSES, CATEGORY_NAMES, DAYS_PER_MONTH, PRODUCTS, TRANSACTION_DAYS
from connectors.sample.clicks import draw_clicks
from connectors.sample.contacts import REASONS, draw_contact_center
from connectors.sample.documents import draw_surveys, profile_lines
from connectors.sample.featured import FEATURED_CALLER
from connectors.sample.offers import draw_offers
from connectors.sample.pools import Pools
from connectors.sample.traits import (
    CATEGORY_AMOUNTS,
    CATEGORY_MIX,
    PAYEE_COUNT,
    PAYEE_OFFSET,
    PRODUCT_INDEX,
    People,
    churn_probability,
    closures,
    days,
    draw_people,
    segment_table,
)
from connectors.sample.vocabulary import SEGMENTS, SENTIMENTS

CARDS = ("debit_card", "personal_credit_card", "business_credit_card")
BALANCE_SCALE = np.array(
    [3e3, 1.5e3, 6e3, 2.4e5, 2.2e4, 6e4, 3e4, 8e4, 1.2e3, 9e2, 4e3, 2.5e3]
)  # per product


@dataclass
class Chunk:
    """Everything generated for one chunk of customers, ready to be written."""

    profiles: bytes  # JSON lines
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    surveys: list[dict]
    clicks: pd.DataFrame
    contacts: pd.DataFrame
    truth: pd.DataFrame
    contact_truth: pd.DataFrame  # per contact, in order: the generator's probability of each reason
    offers: pd.DataFrame  # the offers presented in the contacts (connectors.sample.offers)


def _draw_per_segment(rng: np.random.Generator, mix: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """One draw per row from its segment's row of ``mix`` (rows sum to 1), vectorised."""
    u = rng.random(len(segment))
    out = np.empty(len(segment), dtype=np.int64)
    for s, cumulative in enumerate(mix.cumsum(axis=1)):
        rows = segment == s
        out[rows] = np.minimum(np.searchsorted(cumulative, u[rows], side="right"), mix.shape[1] - 1)
    return out


def _linear_density_sample(rng: np.random.Generator, slope: np.ndarray) -> np.ndarray:
    """Draw x in [0, 1) with density 1 + slope * (2x - 1): a spending trend over the window."""
    u = rng.random(len(slope))
    a = np.where(np.abs(slope) < 1e-6, 1e-6, slope)
    return (-(1 - a) + np.sqrt((1 - a) ** 2 + 4 * a * u)) / (2 * a)


@dataclass
class _Spending:
    transactions: pd.DataFrame
    monthly_now: np.ndarray  # the true spending rate today


def _transactions(
    rng: np.random.Generator, pools: Pools, people: People, observed_day: np.ndarray
) -> _Spending:
    """Card transactions of each card holder's last twelve months (up to the day they were last observed),
    denser towards the end for someone spending more, sparser for someone drifting away."""
    n, segment = len(people), people.segment
    has_card = people.holds[:, [PRODUCT_INDEX[c] for c in CARDS]].any(axis=1)
    window_days = np.minimum(people.tenure_days, TRANSACTION_DAYS).astype(np.int64)
    months = window_days / DAYS_PER_MONTH
    trend = np.clip(-0.42 * people.dissatisfaction + rng.normal(0, 0.12, n), -0.95, 0.95)
    tx_rate = segment_table("tx_per_month")[segment] * people.affinity
    n_tx = np.where(has_card, rng.poisson(tx_rate * months), 0)
    per_tx = segment_table("card_spend")[segment] / segment_table("tx_per_month")[segment]
    mean_category_amount = CATEGORY_MIX @ CATEGORY_AMOUNTS
    spend_scale = per_tx / mean_category_amount[segment] * rng.lognormal(0, 0.3, n)
    owner = np.repeat(np.arange(n), n_tx)
    position = _linear_density_sample(rng, trend[owner])
    tx_day = observed_day[owner] - window_days[owner] + (position * window_days[owner]).astype(np.int64)
    category = _draw_per_segment(rng, CATEGORY_MIX, segment[owner])
    mean_amount = CATEGORY_AMOUNTS[category] * spend_scale[owner]
    amount = np.round(rng.lognormal(np.log(mean_amount) - 0.18, 0.6), 2)
    payee = PAYEE_OFFSET[category] + (rng.random(len(owner)) * PAYEE_COUNT[category]).astype(np.int64)
    order = np.argsort(owner.astype(np.int64) * 1_000_000 + tx_day, kind="stable")
    transactions = pd.DataFrame(
        {
            "customer_id": people.ids[owner[order]],
            "date": tx_day[order].astype("datetime64[D]"),
            "payee": pd.Categorical.from_codes(payee[order], categories=pools.payee_names),
            "category": pd.Categorical.from_codes(category[order], categories=CATEGORY_NAMES),
            "amount": amount[order],
        }
    )
    monthly_now = tx_rate * (1 + trend) * mean_category_amount[segment] * spend_scale
    return _Spending(transactions, np.where(has_card, monthly_now, 0.0))


def _accounts(
    rng: np.random.Generator, people: People, former: np.ndarray, observed_day: np.ndarray
) -> pd.DataFrame:
    """One account per product held; a former customer's are all closed, paid out, on the day they left."""
    first_visit_day = observed_day - people.tenure_days
    opened_day = first_visit_day[:, None] + people.opened_after
    cust_idx, prod_idx = np.nonzero(people.holds)
    balances = np.round(rng.lognormal(np.log(BALANCE_SCALE[prod_idx] * people.affinity[cust_idx]), 0.5), 2)
    closed = former[cust_idx]
    return pd.DataFrame(
        {
            "account_id": people.ids[cust_idx] * 100 + prod_idx,
            "customer_id": people.ids[cust_idx],
            "product": pd.Categorical.from_codes(prod_idx, categories=PRODUCTS),
            "opened_date": opened_day[cust_idx, prod_idx].astype("datetime64[D]"),
            "balance": np.where(closed, 0.0, balances),
            "status": pd.Categorical.from_codes(closed.astype(np.int8), categories=ACCOUNT_STATUSES),
            "closed_date": np.where(
                closed, observed_day[cust_idx].astype("datetime64[D]"), np.datetime64("NaT", "D")
            ),
        }
    )


def generate_chunk(
    pools: Pools, seed: int, chunk_index: int, first_id: int, count: int, as_of: date, photo_count: int
) -> Chunk:
    """Generate ``count`` customers with ids from ``first_id`` and all their records.

    Transactions come without ids: the writer numbers them in order across chunks.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
    ids = np.arange(first_id, first_id + count, dtype=np.int64)
    as_of_day = days(as_of)
    people = draw_people(rng, pools, ids)
    FEATURED_CALLER.apply(people)
    n = len(people)

    # --- churn and sentiment (hidden truth) -------------------------------------------------------------
    probability = churn_probability(people)
    churned = rng.random(n) < probability
    former, observed_day = closures(
        np.random.SeedSequence([seed, chunk_index, 1]), people, probability, as_of_day
    )
    churned = churned | former  # former customers left in the past year; the others may in the next
    # Age, tenure and every history are measured up to the day a customer was last observed.
    birth_day = observed_day - people.age_days.astype(np.int64)
    first_visit_day = observed_day - people.tenure_days
    mood = segment_table("mood")[people.segment] - 0.75 * people.dissatisfaction + rng.normal(0, 0.55, n)
    sentiment_idx = np.digitize(mood, [-0.6, 0.45])

    spending = _transactions(rng, pools, people, observed_day)
    monthly_hazard = 1 - (1 - probability) ** (1 / 12)
    expected_months = np.where(former, 0.0, np.minimum(1 / np.maximum(monthly_hazard, 1e-6), 120))
    accounts = _accounts(rng, people, former, observed_day)

    web_user_id = (ids * 48_271 + 11) % 2_147_483_647
    clicks = draw_clicks(rng, people, web_user_id, observed_day)
    profiles = profile_lines(rng, pools, people, birth_day, first_visit_day, web_user_id, photo_count)
    surveys = draw_surveys(rng, people, mood, sentiment_idx, observed_day)
    center = draw_contact_center(
        np.random.SeedSequence([seed, chunk_index, 2]),
        people,
        observed_day,
        web_user_id,
        spending.transactions,
        accounts,
        surveys,
    )

    offers = draw_offers(np.random.SeedSequence([seed, chunk_index, 3]), people, center.contacts)

    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": people.segment.astype(np.int16),
            "segment_name": pd.Categorical.from_codes(people.segment, categories=[s.name for s in SEGMENTS]),
            "dissatisfaction": people.dissatisfaction,
            "churn_probability": probability,
            "churned": churned,
            "former": former,
            "sentiment": pd.Categorical.from_codes(sentiment_idx, categories=SENTIMENTS),
            "next_product": pd.Categorical.from_codes(people.interest, categories=PRODUCTS),
            "monthly_spend": spending.monthly_now,
            "expected_months": expected_months,
            "ltv": spending.monthly_now * expected_months,
        }
    )
    contact_truth = pd.DataFrame({f"p_{reason}": center.oracle[:, i] for i, reason in enumerate(REASONS)})
    return Chunk(
        profiles,
        accounts,
        center.transactions,
        surveys,
        pd.concat([clicks, center.clicks], ignore_index=True),
        center.contacts,
        truth,
        contact_truth,
        offers,
    )
