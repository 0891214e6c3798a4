"""Who the customers are: the hidden traits every source is drawn from, and who left the bank.

Each customer has a true segment, a level of dissatisfaction, an affinity for products, the products they
hold and perhaps one they are about to buy. These are written only to the hidden ground truth; the sources
show their consequences.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np

from connectors.catalog import CATEGORY_NAMES, PRODUCTS
from connectors.sample.pools import PAYEES_PER_CATEGORY, Pools, choice
from connectors.sample.vocabulary import CATEGORY_MEANS, SEGMENTS

P = len(PRODUCTS)
PRODUCT_INDEX = {p: i for i, p in enumerate(PRODUCTS)}
EPOCH = datetime(1970, 1, 1)
GENDERS = np.array(["FEMALE", "MALE", "OTHER"], dtype=object)


def segment_table(attr: str) -> np.ndarray:
    """One value per segment, in SEGMENTS order."""
    return np.array([getattr(s, attr) for s in SEGMENTS], dtype=float)


ADOPTION = np.array([[s.adoption.get(p, 0.02) for p in PRODUCTS] for s in SEGMENTS])
CATEGORY_MIX = np.array([[s.categories.get(c, 0.0) for c in CATEGORY_NAMES] for s in SEGMENTS])
CATEGORY_MIX = CATEGORY_MIX / CATEGORY_MIX.sum(axis=1, keepdims=True)
CATEGORY_AMOUNTS = np.array([CATEGORY_MEANS[c] for c in CATEGORY_NAMES])
PAYEE_COUNT = np.full(len(CATEGORY_NAMES), PAYEES_PER_CATEGORY)
PAYEE_OFFSET = np.arange(len(CATEGORY_NAMES)) * PAYEES_PER_CATEGORY


def days(d: date) -> int:
    """Days since the epoch."""
    return (d - EPOCH.date()).days


def iso_dates(day_numbers: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(day_numbers.astype("datetime64[D]"), unit="D").astype(object)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class People:
    """The hidden traits and the fixed facts of one chunk of customers, one entry per customer."""

    ids: np.ndarray
    segment: np.ndarray
    dissatisfaction: np.ndarray
    affinity: np.ndarray  # how much of a product person someone is
    gender: np.ndarray
    first: np.ndarray
    last: np.ndarray
    age_days: np.ndarray
    tenure_days: np.ndarray
    holds: np.ndarray  # (customers, products) bool
    opened_after: np.ndarray  # (customers, products) days after their first visit each account opened
    interest: np.ndarray  # product index they are about to buy, -1 for none
    web: np.ndarray  # has a website login
    stays: np.ndarray  # may not have left the bank (the featured caller)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def n_products(self) -> np.ndarray:
        return self.holds.sum(axis=1)


def draw_people(rng: np.random.Generator, pools: Pools, ids: np.ndarray) -> People:
    """Segments, names, ages, tenures, holdings, interests and web logins, vectorised."""
    n = len(ids)
    segment = rng.choice(len(SEGMENTS), size=n, p=segment_table("share") / segment_table("share").sum())
    dissatisfaction = rng.normal(0.0, 1.0, n)
    affinity = rng.lognormal(0.0, 0.35, n)

    gender = rng.choice(GENDERS, size=n, p=[0.49, 0.49, 0.02])
    hispanic = rng.random(n) < 0.16
    female = (gender == "FEMALE") | ((gender == "OTHER") & (rng.random(n) < 0.5))
    first = np.where(
        female,
        np.where(hispanic, choice(rng, pools.first_female_es, n), choice(rng, pools.first_female, n)),
        np.where(hispanic, choice(rng, pools.first_male_es, n), choice(rng, pools.first_male, n)),
    )
    irish = (~hispanic) & (rng.random(n) < 0.06)
    last = np.where(
        hispanic,
        choice(rng, pools.last_es, n),
        np.where(irish, choice(rng, pools.last_ie, n), choice(rng, pools.last_us, n)),
    )

    lo = np.array([s.age[0] for s in SEGMENTS])[segment]
    hi = np.array([s.age[1] for s in SEGMENTS])[segment]
    age_days = (lo + rng.random(n) * (hi - lo)) * 365.25
    max_tenure_days = np.maximum((age_days - 18 * 365.25), 30)
    tenure_days = np.minimum(
        rng.exponential(segment_table("tenure_years")[segment] * 365.25), max_tenure_days
    )
    tenure_days = np.maximum(tenure_days, 3).astype(np.int64)

    probs = np.clip(ADOPTION[segment] * affinity[:, None], 0, 0.97)
    holds = rng.random((n, P)) < probs
    opened_after = (rng.random((n, P)) * tenure_days[:, None]).astype(np.int64)

    # a product someone is about to buy: likely for their segment, not yet held
    interest_weights = np.where(holds, 0.0, ADOPTION[segment]) + 1e-9
    interest_weights /= interest_weights.sum(axis=1, keepdims=True)
    interested = rng.random(n) < 0.45
    cumulative = interest_weights.cumsum(axis=1)
    interest = np.minimum((cumulative < rng.random(n)[:, None]).sum(axis=1), P - 1)
    interest = np.where(interested, interest, -1)
    web = rng.random(n) < 0.72
    return People(
        ids=ids,
        segment=segment,
        dissatisfaction=dissatisfaction,
        affinity=affinity,
        gender=gender,
        first=first,
        last=last,
        age_days=age_days,
        tenure_days=tenure_days,
        holds=holds,
        opened_after=opened_after,
        interest=interest,
        web=web,
        stays=np.zeros(n, bool),
    )


def churn_probability(people: People) -> np.ndarray:
    """The yearly probability of leaving, from segment, dissatisfaction, products held and tenure."""
    logit = (
        segment_table("churn_base")[people.segment]
        + 1.05 * people.dissatisfaction
        - 0.28 * (people.n_products - 3)
        - 0.35 * np.log1p(people.tenure_days / 365.25)
        + 0.9
    )
    return sigmoid(logit)


def closures(
    seed: np.random.SeedSequence, people: People, probability: np.ndarray, as_of_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Who left during the past year, and the day each customer was last observed (as_of for the others).

    A year ago everyone was a customer with the same yearly churn probability as now; someone without an
    account had no relationship to close. The draws come from a stream of their own, so every other draw of
    the chunk stays as it was.
    """
    rng = np.random.default_rng(seed)
    left = (rng.random(len(probability)) < probability) & (people.n_products > 0) & ~people.stays
    closed_day = as_of_day - rng.integers(1, 366, len(left))
    return left, np.where(left, closed_day, as_of_day)
