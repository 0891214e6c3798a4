"""Vectorised synthesis of a bank's customers and everything the sources hold about them.

Each customer has hidden traits (a segment, a level of dissatisfaction, an interest in a product they do
not hold yet) and every source is drawn from those traits, so that models can learn something real:
dissatisfied customers spend less month after month, compare rates and visit account-closing pages, and
answer surveys in sour words; interest in a product shows up as clicks before a purchase. The traits
themselves are written only to the hidden ground truth, for evaluating models.

The bank keeps its former customers on file: a year before "today" (``as_of``) every customer had a yearly
probability of leaving, and those who left during the past year have every account closed on the day they
left. Everything observed about a former customer (spending, clicks, survey answers, their age and tenure)
ends on that day, so models can learn who leaves from the bank's own history, as a real bank would.

Generation works chunk by chunk with one random stream per chunk, so any size fits in memory and the same
seed always gives the same bytes.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import orjson
import pandas as pd
from faker import Faker
from faker.providers.address.en_US import Provider as USAddress
from faker.providers.person.en_IE import Provider as IrishNames
from faker.providers.person.en_US import Provider as USNames
from faker.providers.person.es_MX import Provider as MexicanNames

from connectors.products import NEEDS, PRODUCTS

P = len(PRODUCTS)
PRODUCT_INDEX = {p: i for i, p in enumerate(PRODUCTS)}


@dataclass(frozen=True)
class Segment:
    """A true customer segment: the hidden structure the persona model should rediscover."""

    name: str
    share: float
    age: tuple[int, int]
    tenure_years: float
    card_spend: float  # mean card spending per month, in dollars
    tx_per_month: float
    web_activity: float  # mean clicks in 30 days for a customer with a web account
    churn_base: float  # logit
    mood: float  # shifts sentiment
    adoption: dict[str, float]
    categories: dict[str, float]


SEGMENTS: tuple[Segment, ...] = (
    Segment(
        "Students and starters",
        0.15,
        (18, 26),
        2.0,
        650,
        2.4,
        5.5,
        -0.9,
        0.2,
        {
            "debit_card": 0.95,
            "personal_credit_card": 0.45,
            "auto_loan": 0.08,
            "medical_insurance": 0.15,
            "automobile_insurance": 0.2,
            "roth_ira": 0.05,
        },
        {
            "Dining": 0.3,
            "Entertainment": 0.2,
            "Groceries": 0.2,
            "Clothing": 0.15,
            "Auto:Fuel": 0.05,
            "Utilities": 0.1,
        },
    ),
    Segment(
        "Young professionals",
        0.22,
        (25, 38),
        5.0,
        1900,
        2.6,
        4.5,
        -1.4,
        0.1,
        {
            "debit_card": 0.9,
            "personal_credit_card": 0.85,
            "brokerage_account": 0.3,
            "roth_ira": 0.5,
            "401k": 0.55,
            "auto_loan": 0.35,
            "automobile_insurance": 0.55,
            "medical_insurance": 0.3,
            "home_mortgage_loan": 0.08,
        },
        {
            "Dining": 0.25,
            "Travel": 0.1,
            "Groceries": 0.2,
            "Entertainment": 0.15,
            "Clothing": 0.1,
            "Auto:Fuel": 0.1,
            "Utilities": 0.1,
        },
    ),
    Segment(
        "Families and homeowners",
        0.25,
        (32, 55),
        11.0,
        3200,
        2.7,
        2.8,
        -2.3,
        0.0,
        {
            "debit_card": 0.92,
            "personal_credit_card": 0.7,
            "home_mortgage_loan": 0.75,
            "home_insurance": 0.82,
            "auto_loan": 0.5,
            "automobile_insurance": 0.85,
            "life_insurance": 0.55,
            "medical_insurance": 0.6,
            "401k": 0.35,
        },
        {
            "Groceries": 0.35,
            "Household": 0.2,
            "Auto:Fuel": 0.12,
            "Dining": 0.1,
            "Utilities": 0.13,
            "Health": 0.05,
            "Clothing": 0.05,
        },
    ),
    Segment(
        "Affluent investors",
        0.13,
        (45, 72),
        16.0,
        5200,
        2.2,
        1.8,
        -2.6,
        0.3,
        {
            "debit_card": 0.85,
            "personal_credit_card": 0.85,
            "brokerage_account": 0.88,
            "roth_ira": 0.65,
            "401k": 0.7,
            "life_insurance": 0.6,
            "home_insurance": 0.7,
            "home_mortgage_loan": 0.3,
            "automobile_insurance": 0.6,
        },
        {
            "Travel": 0.3,
            "Dining": 0.25,
            "Household": 0.15,
            "Entertainment": 0.1,
            "Clothing": 0.1,
            "Health": 0.1,
        },
    ),
    Segment(
        "Small-business owners",
        0.1,
        (30, 62),
        8.0,
        6400,
        3.0,
        3.5,
        -1.7,
        -0.2,
        {
            "debit_card": 0.9,
            "business_credit_card": 0.88,
            "personal_credit_card": 0.6,
            "auto_loan": 0.3,
            "medical_insurance": 0.55,
            "brokerage_account": 0.2,
            "automobile_insurance": 0.5,
        },
        {"Business Expenses": 0.5, "Travel": 0.15, "Auto:Fuel": 0.15, "Dining": 0.1, "Utilities": 0.1},
    ),
    Segment(
        "Retirees",
        0.15,
        (63, 90),
        24.0,
        1300,
        1.8,
        1.2,
        -2.4,
        0.35,
        {
            "debit_card": 0.9,
            "life_insurance": 0.5,
            "medical_insurance": 0.75,
            "home_insurance": 0.65,
            "brokerage_account": 0.3,
            "personal_credit_card": 0.5,
            "automobile_insurance": 0.5,
        },
        {
            "Groceries": 0.3,
            "Health": 0.25,
            "Utilities": 0.15,
            "Household": 0.15,
            "Dining": 0.1,
            "Travel": 0.05,
        },
    ),
)

CATEGORIES: dict[str, float] = {  # mean amount of one card transaction
    "Dining": 38.0,
    "Groceries": 86.0,
    "Auto:Fuel": 48.0,
    "Entertainment": 42.0,
    "Clothing": 74.0,
    "Household": 130.0,
    "Utilities": 115.0,
    "Health": 95.0,
    "Travel": 420.0,
    "Business Expenses": 260.0,
}
CATEGORY_NAMES = tuple(CATEGORIES)
PAYEE_STYLES: dict[str, tuple[str, ...]] = {
    "Dining": ("Grill", "Pizza", "Café", "Kitchen", "Coffee", "Diner"),
    "Groceries": ("Market", "Foods", "Grocery", "Farms"),
    "Auto:Fuel": ("Fuel", "Gas & Go", "Petroleum"),
    "Entertainment": ("Cinema", "Tickets", "Games", "Music"),
    "Clothing": ("Outfitters", "Apparel", "Boutique"),
    "Household": ("Hardware", "Home Supply", "Furniture", "Garden Center"),
    "Utilities": ("Power & Light", "Water Co", "Telecom", "Energy"),
    "Health": ("Pharmacy", "Dental", "Clinic"),
    "Travel": ("Airlines", "Hotels", "Travel", "Car Rental"),
    "Business Expenses": ("Office Supply", "Logistics", "Consulting", "Print Shop"),
}
OS_SHARE = {
    "win7": 0.585,
    "xp": 0.13,
    "win8": 0.104,
    "Mac": 0.098,
    "linux": 0.052,
    "vista": 0.016,
    "nt": 0.015,
}
BROWSER_SHARE = {
    "Chrome": 0.382,
    "IE": 0.212,
    "Firefox": 0.175,
    "Mobile": 0.147,
    "Safari": 0.073,
    "Opera": 0.011,
}
SITE = "https://www.c360bank.example"
SHOPPING_PAGES = ("overview", "rates", "apply", "calculator", "faq")
SERVICING_PAGES = ("statements", "payments", "settings")
LEAVING_PAGES = ("close", "transfer-out", "compare-rates")
SENTIMENTS = ("NEGATIVE", "NEUTRAL", "POSITIVE")
ACCOUNT_STATUSES = ("open", "closed")
EPOCH = datetime(1970, 1, 1)
OPTIONAL_FIELDS = ("middle_name", "preferred_contact", "employer", "annual_income", "marketing_opt_in")
CLICK_DAYS = 30
TRANSACTION_MONTHS = 12
SURVEY_MONTHS = 12

_COMMENT_PHRASES: dict[str, tuple[str, ...]] = {
    "POSITIVE": (
        "The mobile app is great and easy to use",
        "Staff at my branch were very helpful",
        "Quick answers whenever I call",
        "I love the rewards on my card",
        "Very happy with the service",
        "Opening the account took five minutes",
        "Friendly and professional people",
        "Fees are fair",
        "I recommend this bank to friends",
        "Excellent support when my card was lost",
    ),
    "NEUTRAL": (
        "It does what I need",
        "Nothing special but no problems either",
        "The website is okay",
        "Service is average",
        "I mostly use the ATM",
        "Rates are similar to other banks",
        "Statements arrive on time",
        "No strong opinion",
        "Branch hours are fine",
        "It is a bank account",
    ),
    "NEGATIVE": (
        "Fees are far too high",
        "I waited forty minutes on the phone",
        "Thinking about moving to another bank",
        "The app keeps crashing",
        "Nobody answered my complaint",
        "Rates are worse than the competition",
        "Hidden charges on my statement",
        "Terrible customer service",
        "My transfer was delayed for days",
        "I feel like a number, not a customer",
    ),
}
_PRODUCT_MENTIONS = (
    "about my {p}",
    "regarding the {p}",
    "with the {p}",
    "for my {p}",
)


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _weighted(pool) -> tuple[np.ndarray, np.ndarray]:
    """Names and probabilities from a Faker provider's list or weighted dict."""
    if hasattr(pool, "items"):
        names = np.array(list(pool.keys()), dtype=object)
        weights = np.array(list(pool.values()), dtype=float)
    else:
        names = np.array(sorted(set(pool)), dtype=object)
        weights = np.ones(len(names))
    return names, weights / weights.sum()


@dataclass
class Pools:
    """Vocabularies drawn once from Faker's providers, then indexed by vectorised choices."""

    first_female: tuple[np.ndarray, np.ndarray]
    first_male: tuple[np.ndarray, np.ndarray]
    first_female_es: tuple[np.ndarray, np.ndarray]
    first_male_es: tuple[np.ndarray, np.ndarray]
    last_us: tuple[np.ndarray, np.ndarray]
    last_es: tuple[np.ndarray, np.ndarray]
    last_ie: tuple[np.ndarray, np.ndarray]
    middle: np.ndarray
    streets: np.ndarray
    places: pd.DataFrame  # city, state, zip
    employers: np.ndarray
    payee_names: list[str]  # PAYEES_PER_CATEGORY names per category, in CATEGORY_NAMES order

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        states = [s for s in USAddress.states_abbr if s not in ("AK", "HI")]
        places = pd.DataFrame(
            [(fake.city(), st, fake.zipcode_in_state(st)) for st in states for _ in range(40)],
            columns=["city", "state", "zip"],
        )
        payee_names = []
        for category in CATEGORY_NAMES:
            styles, names = PAYEE_STYLES[category], set()
            while len(names) < PAYEES_PER_CATEGORY:
                names.add(f"{fake.last_name()} {styles[len(names) % len(styles)]}")
            payee_names.extend(sorted(names))
        return cls(
            first_female=_weighted(USNames.first_names_female),
            first_male=_weighted(USNames.first_names_male),
            first_female_es=_weighted(MexicanNames.first_names_female),
            first_male_es=_weighted(MexicanNames.first_names_male),
            last_us=_weighted(USNames.last_names),
            last_es=_weighted(MexicanNames.last_names),
            last_ie=_weighted([n for n in IrishNames.last_names if "'" in n]),
            middle=np.array(sorted({fake.first_name() for _ in range(400)}), dtype=object),
            streets=np.array(sorted({fake.street_name() for _ in range(6000)}), dtype=object),
            places=places,
            employers=np.array(sorted({fake.company() for _ in range(3000)}), dtype=object),
            payee_names=payee_names,
        )


def _choice(rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    names, probs = pool
    return names[rng.choice(len(names), size=n, p=probs)]


def _segment_table(attr: str) -> np.ndarray:
    return np.array([getattr(s, attr) for s in SEGMENTS], dtype=float)


ADOPTION = np.array([[s.adoption.get(p, 0.02) for p in PRODUCTS] for s in SEGMENTS])
CATEGORY_MIX = np.array([[s.categories.get(c, 0.0) for c in CATEGORY_NAMES] for s in SEGMENTS])
CATEGORY_MIX = CATEGORY_MIX / CATEGORY_MIX.sum(axis=1, keepdims=True)
CATEGORY_MEANS = np.array(list(CATEGORIES.values()))
PAYEES_PER_CATEGORY = 48


PAYEE_COUNT = np.full(len(CATEGORY_NAMES), PAYEES_PER_CATEGORY)
PAYEE_OFFSET = np.arange(len(CATEGORY_NAMES)) * PAYEES_PER_CATEGORY


def _draw_per_segment(rng: np.random.Generator, mix: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """One draw per row from its segment's row of ``mix`` (rows sum to 1), vectorised."""
    u = rng.random(len(segment))
    out = np.empty(len(segment), dtype=np.int64)
    for s, cumulative in enumerate(mix.cumsum(axis=1)):
        rows = segment == s
        out[rows] = np.minimum(np.searchsorted(cumulative, u[rows], side="right"), mix.shape[1] - 1)
    return out


def _days(d: date) -> int:
    return (d - EPOCH.date()).days


def _iso_dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(days.astype("datetime64[D]"), unit="D").astype(object)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Chunk:
    """Everything generated for one chunk of customers, ready to be written."""

    profiles: bytes  # JSON lines
    accounts: pd.DataFrame
    transactions: pd.DataFrame
    surveys: list[dict]
    clicks: pd.DataFrame
    truth: pd.DataFrame


def _linear_density_sample(rng: np.random.Generator, slope: np.ndarray) -> np.ndarray:
    """Draw x in [0, 1) with density 1 + slope * (2x - 1): a spending trend over the window."""
    u = rng.random(len(slope))
    a = np.where(np.abs(slope) < 1e-6, 1e-6, slope)
    return (-(1 - a) + np.sqrt((1 - a) ** 2 + 4 * a * u)) / (2 * a)


def _closures(
    seed: np.random.SeedSequence, churn_probability: np.ndarray, n_products: np.ndarray, as_of_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Who left during the past year, and the day each customer was last observed (as_of for the others).

    A year ago everyone was a customer with the same yearly churn probability as now; someone without an
    account had no relationship to close. The draws come from a stream of their own, so every other draw of
    the chunk stays as it was.
    """
    rng = np.random.default_rng(seed)
    left = (rng.random(len(churn_probability)) < churn_probability) & (n_products > 0)
    closed_day = as_of_day - rng.integers(1, 366, len(left))
    return left, np.where(left, closed_day, as_of_day)


def generate_chunk(
    pools: Pools, seed: int, chunk_index: int, first_id: int, count: int, as_of: date, photo_count: int
) -> Chunk:
    """Generate ``count`` customers with ids from ``first_id`` and all their records.

    Transactions come without ids: the writer numbers them in order across chunks.
    """
    rng = np.random.default_rng(np.random.SeedSequence([seed, chunk_index]))
    n = count
    ids = np.arange(first_id, first_id + n, dtype=np.int64)
    as_of_day = _days(as_of)

    # --- hidden traits -------------------------------------------------------------------------------
    segment = rng.choice(len(SEGMENTS), size=n, p=_segment_table("share") / _segment_table("share").sum())
    dissatisfaction = rng.normal(0.0, 1.0, n)
    affinity = rng.lognormal(0.0, 0.35, n)  # how much of a product person someone is

    # --- profile -------------------------------------------------------------------------------------
    gender = rng.choice(np.array(["FEMALE", "MALE", "OTHER"], dtype=object), size=n, p=[0.49, 0.49, 0.02])
    hispanic = rng.random(n) < 0.16
    female = (gender == "FEMALE") | ((gender == "OTHER") & (rng.random(n) < 0.5))
    first = np.where(
        female,
        np.where(hispanic, _choice(rng, pools.first_female_es, n), _choice(rng, pools.first_female, n)),
        np.where(hispanic, _choice(rng, pools.first_male_es, n), _choice(rng, pools.first_male, n)),
    )
    irish = (~hispanic) & (rng.random(n) < 0.06)
    last = np.where(
        hispanic,
        _choice(rng, pools.last_es, n),
        np.where(irish, _choice(rng, pools.last_ie, n), _choice(rng, pools.last_us, n)),
    )
    if first_id == 1:  # the caller from the original demo's screenshot leads the directory
        first[0], last[0], gender[0], segment[0] = "Erika", "Gallardo", "FEMALE", 1
        dissatisfaction[0] = 1.1

    lo = np.array([s.age[0] for s in SEGMENTS])[segment]
    hi = np.array([s.age[1] for s in SEGMENTS])[segment]
    age_days = (lo + rng.random(n) * (hi - lo)) * 365.25
    max_tenure_days = np.maximum((age_days - 18 * 365.25), 30)
    tenure_days = np.minimum(
        rng.exponential(_segment_table("tenure_years")[segment] * 365.25), max_tenure_days
    )
    tenure_days = np.maximum(tenure_days, 3).astype(np.int64)

    # --- holdings --------------------------------------------------------------------------------------
    probs = np.clip(ADOPTION[segment] * affinity[:, None], 0, 0.97)
    holds = rng.random((n, P)) < probs
    opened_after = (rng.random((n, P)) * tenure_days[:, None]).astype(np.int64)
    n_products = holds.sum(axis=1)

    # a product someone is about to buy: likely for their segment, not yet held
    interest_weights = np.where(holds, 0.0, ADOPTION[segment]) + 1e-9
    interest_weights /= interest_weights.sum(axis=1, keepdims=True)
    interested = rng.random(n) < 0.45
    cumulative = interest_weights.cumsum(axis=1)
    interest = np.minimum((cumulative < rng.random(n)[:, None]).sum(axis=1), P - 1)
    interest = np.where(interested, interest, -1)
    if first_id == 1:  # like the original's caller: a card holder about to look for a car loan
        holds[0, [PRODUCT_INDEX["debit_card"], PRODUCT_INDEX["personal_credit_card"]]] = True
        holds[0, PRODUCT_INDEX["auto_loan"]] = False
        interest[0] = PRODUCT_INDEX["auto_loan"]
        n_products[0] = holds[0].sum()

    # --- churn and sentiment (hidden truth) -------------------------------------------------------------
    tenure_years = tenure_days / 365.25
    churn_logit = (
        _segment_table("churn_base")[segment]
        + 1.05 * dissatisfaction
        - 0.28 * (n_products - 3)
        - 0.35 * np.log1p(tenure_years)
        + 0.9
    )
    churn_probability = _sigmoid(churn_logit)
    churned = rng.random(n) < churn_probability
    former, observed_day = _closures(
        np.random.SeedSequence([seed, chunk_index, 1]), churn_probability, n_products, as_of_day
    )
    if first_id == 1:  # she is still a customer: the call the screen opens with
        former[0], observed_day[0] = False, as_of_day
    churned = churned | former  # former customers left in the past year; the others may in the next
    # Age, tenure and every history are measured up to the day a customer was last observed.
    birth_day = observed_day - age_days.astype(np.int64)
    first_visit_day = observed_day - tenure_days
    opened_day = first_visit_day[:, None] + opened_after
    mood = _segment_table("mood")[segment] - 0.75 * dissatisfaction + rng.normal(0, 0.55, n)
    sentiment_idx = np.digitize(mood, [-0.6, 0.45])

    # --- card transactions ------------------------------------------------------------------------------
    has_card = (
        holds[:, PRODUCT_INDEX["debit_card"]]
        | holds[:, PRODUCT_INDEX["personal_credit_card"]]
        | holds[:, PRODUCT_INDEX["business_credit_card"]]
    )
    window_days = np.minimum(tenure_days, TRANSACTION_MONTHS * 30.44).astype(np.int64)
    months = window_days / 30.44
    trend = np.clip(-0.42 * dissatisfaction + rng.normal(0, 0.12, n), -0.95, 0.95)
    tx_rate = _segment_table("tx_per_month")[segment] * affinity
    n_tx = np.where(has_card, rng.poisson(tx_rate * months), 0)
    per_tx = _segment_table("card_spend")[segment] / _segment_table("tx_per_month")[segment]
    mean_category_amount = CATEGORY_MIX @ CATEGORY_MEANS
    spend_scale = per_tx / mean_category_amount[segment] * rng.lognormal(0, 0.3, n)
    owner = np.repeat(np.arange(n), n_tx)
    position = _linear_density_sample(rng, trend[owner])
    tx_day = observed_day[owner] - window_days[owner] + (position * window_days[owner]).astype(np.int64)
    category = _draw_per_segment(rng, CATEGORY_MIX, segment[owner])
    mean_amount = CATEGORY_MEANS[category] * spend_scale[owner]
    amount = np.round(rng.lognormal(np.log(mean_amount) - 0.18, 0.6), 2)
    payee = PAYEE_OFFSET[category] + (rng.random(len(owner)) * PAYEE_COUNT[category]).astype(np.int64)
    order = np.argsort(owner.astype(np.int64) * 1_000_000 + tx_day, kind="stable")
    transactions = pd.DataFrame(
        {
            "customer_id": ids[owner[order]],
            "date": tx_day[order].astype("datetime64[D]"),
            "payee": pd.Categorical.from_codes(payee[order], categories=pools.payee_names),
            "category": pd.Categorical.from_codes(category[order], categories=CATEGORY_NAMES),
            "amount": amount[order],
        }
    )
    monthly_spend_now = tx_rate * (1 + trend) * mean_category_amount[segment] * spend_scale
    monthly_spend_now = np.where(has_card, monthly_spend_now, 0.0)

    # --- lifetime value truth ---------------------------------------------------------------------------
    monthly_hazard = 1 - (1 - churn_probability) ** (1 / 12)
    expected_months = np.minimum(1 / np.maximum(monthly_hazard, 1e-6), 120)
    expected_months = np.where(former, 0.0, expected_months)
    ltv = monthly_spend_now * expected_months

    # --- accounts -----------------------------------------------------------------------------------------
    cust_idx, prod_idx = np.nonzero(holds)
    balance_scale = np.array([3e3, 1.5e3, 6e3, 2.4e5, 2.2e4, 6e4, 3e4, 8e4, 1.2e3, 9e2, 4e3, 2.5e3])
    balances = np.round(rng.lognormal(np.log(balance_scale[prod_idx] * affinity[cust_idx]), 0.5), 2)
    closed = former[cust_idx]
    balances = np.where(closed, 0.0, balances)  # a closed account was paid out
    accounts = pd.DataFrame(
        {
            "account_id": ids[cust_idx] * 100 + prod_idx,
            "customer_id": ids[cust_idx],
            "product": pd.Categorical.from_codes(prod_idx, categories=PRODUCTS),
            "opened_date": opened_day[cust_idx, prod_idx].astype("datetime64[D]"),
            "balance": balances,
            "status": pd.Categorical.from_codes(closed.astype(np.int8), categories=ACCOUNT_STATUSES),
            "closed_date": np.where(
                closed, observed_day[cust_idx].astype("datetime64[D]"), np.datetime64("NaT", "D")
            ),
        }
    )

    # --- clicks -----------------------------------------------------------------------------------------
    web = rng.random(n) < 0.72
    if first_id == 1:
        web[0] = True
    web_user_id = (ids * 48_271 + 11) % 2_147_483_647
    clicks = _clicks(rng, n, web, web_user_id, segment, dissatisfaction, holds, interest, observed_day)

    # --- profiles -----------------------------------------------------------------------------------------
    profiles = _profile_lines(
        rng,
        pools,
        ids,
        first,
        last,
        gender,
        birth_day,
        first_visit_day,
        web,
        web_user_id,
        photo_count,
        segment,
    )

    # --- surveys --------------------------------------------------------------------------------------------
    surveys = _surveys(rng, ids, mood, sentiment_idx, interest, holds, observed_day)

    truth = pd.DataFrame(
        {
            "customer_id": ids,
            "segment": segment.astype(np.int16),
            "segment_name": pd.Categorical.from_codes(segment, categories=[s.name for s in SEGMENTS]),
            "dissatisfaction": dissatisfaction,
            "churn_probability": churn_probability,
            "churned": churned,
            "former": former,
            "sentiment": pd.Categorical.from_codes(sentiment_idx, categories=SENTIMENTS),
            "next_product": pd.Categorical.from_codes(interest, categories=PRODUCTS),
            "monthly_spend": monthly_spend_now,
            "expected_months": expected_months,
            "ltv": ltv,
        }
    )
    return Chunk(profiles, accounts, transactions, surveys, clicks, truth)


def _url_table() -> tuple[np.ndarray, np.ndarray]:
    """Every page of the site as (product index, url), so clicks can be kept as small codes until written."""
    products, urls = [], []
    for i, product in enumerate(PRODUCTS):
        slug = product.replace("_", "-")
        for section, pages in (("products", SHOPPING_PAGES), ("accounts", SERVICING_PAGES + LEAVING_PAGES)):
            for page in pages:
                products.append(i)
                urls.append(f"{SITE}/{section}/{slug}/{page}")
    return np.array(products), np.array(urls, dtype=object)


URL_PRODUCT, URLS = _url_table()
PAGES_PER_PRODUCT = len(SHOPPING_PAGES) + len(SERVICING_PAGES) + len(LEAVING_PAGES)
OS_NAMES = tuple(OS_SHARE)
BROWSER_NAMES = tuple(BROWSER_SHARE)


def _clicks(
    rng: np.random.Generator,
    n: int,
    web: np.ndarray,
    web_user_id: np.ndarray,
    segment: np.ndarray,
    dissatisfaction: np.ndarray,
    holds: np.ndarray,
    interest: np.ndarray,
    observed_day: np.ndarray,
) -> pd.DataFrame:
    """Website clicks of each customer's last 30 days as compact codes (see :func:`click_lines` for the format).

    A former customer's last 30 days end on the day they left.
    """
    leaving = _sigmoid(1.6 * dissatisfaction - 2.6)  # share of a visitor's clicks on leaving pages
    rate = _segment_table("web_activity")[segment] * np.exp(0.35 * np.maximum(dissatisfaction, 0))
    rate = rate * (1 + 1.5 * (interest >= 0))
    count = np.where(web, rng.poisson(rate), 0)
    owner = np.repeat(np.arange(n), count)
    m = len(owner)
    held_cum = holds[owner].cumsum(axis=1)
    held_n = held_cum[:, -1]
    pick = (rng.random(m) * np.maximum(held_n, 1)).astype(np.int64)
    held_product = np.minimum((held_cum <= pick[:, None]).sum(axis=1), P - 1)
    browse_product = rng.choice(P, size=m, p=ADOPTION.mean(axis=0) / ADOPTION.mean(axis=0).sum())

    u = rng.random(m)
    p_leave = np.where(held_n > 0, leaving[owner], 0.0)
    p_interest = np.where(interest[owner] >= 0, 0.55, 0.0) * (1 - p_leave)
    leave = u < p_leave
    shop_interest = ~leave & (u < p_leave + p_interest)
    servicing = ~leave & ~shop_interest & (held_n > 0) & (rng.random(m) < 0.45)
    product = np.where(
        shop_interest, interest[owner], np.where(leave | servicing, held_product, browse_product)
    )
    n_shop, n_service, n_leave = len(SHOPPING_PAGES), len(SERVICING_PAGES), len(LEAVING_PAGES)
    page = np.where(
        leave,
        n_shop + n_service + rng.integers(0, n_leave, m),
        np.where(servicing, n_shop + rng.integers(0, n_service, m), rng.integers(0, n_shop, m)),
    )
    ts = observed_day[owner] * 86400 - (rng.random(m) * CLICK_DAYS * 86400).astype(np.int64)
    os_p = np.array(list(OS_SHARE.values()))
    br_p = np.array(list(BROWSER_SHARE.values()))
    frame = pd.DataFrame(
        {
            "user_id": web_user_id[owner],
            "ts": ts,
            "os": rng.choice(len(os_p), size=m, p=os_p / os_p.sum()).astype(np.int8),
            "browser": rng.choice(len(br_p), size=m, p=br_p / br_p.sum()).astype(np.int8),
            "response_time_ms": np.clip(rng.lognormal(np.log(2300), 0.45, m), 500, 9880).astype(np.int32),
            "url": (product * PAGES_PER_PRODUCT + page).astype(np.int16),
        }
    )
    return frame


def click_lines(clicks: pd.DataFrame) -> list[str]:
    """JSON lines in exactly the original demo's click message format, from compact click codes."""
    stamps = np.char.replace(
        np.datetime_as_string(clicks["ts"].to_numpy().astype("datetime64[s]"), unit="s"), "T", " "
    )
    heads = np.array([f'"os":"{o}","browser":"{b}"' for o in OS_NAMES for b in BROWSER_NAMES], dtype=object)
    tails = np.array(
        [f'"product":"{PRODUCTS[p]}","url":"{u}"' for p, u in zip(URL_PRODUCT, URLS, strict=True)],
        dtype=object,
    )
    head = heads[clicks["os"].to_numpy().astype(np.int64) * len(BROWSER_NAMES) + clicks["browser"].to_numpy()]
    tail = tails[clicks["url"].to_numpy()]
    return [
        f'{{"user_id":{u},"datetime":"{d}",{h},"response_time_ms":{r},{t}}}\n'
        for u, d, h, r, t in zip(
            clicks["user_id"].to_numpy(),
            stamps,
            head,
            clicks["response_time_ms"].to_numpy(),
            tail,
            strict=True,
        )
    ]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    area = rng.integers(201, 990, n)
    mid = rng.integers(200, 999, n)
    end = rng.integers(0, 10000, n)
    return [f"{a}-{b}-{c:04d}" for a, b, c in zip(area, mid, end, strict=True)]


def _profile_lines(
    rng: np.random.Generator,
    pools: Pools,
    ids: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    gender: np.ndarray,
    birth_day: np.ndarray,
    first_visit_day: np.ndarray,
    web: np.ndarray,
    web_user_id: np.ndarray,
    photo_count: int,
    segment: np.ndarray,
) -> bytes:
    """CRM documents as JSON lines: nested address, optional fields that come and go, missing contacts."""
    n = len(ids)
    folded = {name: _ascii(name) for name in set(first) | set(last)}
    domains = np.array(["example.com", "example.org", "example.net", "mail.example"], dtype=object)
    email_num = rng.integers(1, 1000, n)
    email_dom = domains[rng.integers(0, len(domains), n)]
    has_email = rng.random(n) > 0.03
    has_phone = rng.random(n) > 0.01
    phones = _phones(rng, n)
    ssn_area = rng.integers(1, 900, n)
    ssn_area = np.where(ssn_area == 666, 667, ssn_area)
    ssn_group = rng.integers(1, 100, n)
    ssn_serial = rng.integers(1, 10000, n)
    place = pools.places.iloc[rng.integers(0, len(pools.places), n)]
    street = pools.streets[rng.integers(0, len(pools.streets), n)]
    number = rng.integers(1, 9999, n)
    lat = np.round(rng.uniform(25.5, 48.5, n), 5)
    lon = np.round(rng.uniform(-123.5, -70.5, n), 5)
    birth = _iso_dates(birth_day)
    visit = _iso_dates(first_visit_day)
    optional = rng.random((n, len(OPTIONAL_FIELDS)))
    middle = pools.middle[rng.integers(0, len(pools.middle), n)]
    employer = pools.employers[rng.integers(0, len(pools.employers), n)]
    contact = np.array(["email", "phone", "mail", "app"], dtype=object)[rng.integers(0, 4, n)]
    income_base = np.array([18e3, 72e3, 95e3, 210e3, 130e3, 45e3])[segment]
    income = (np.round(income_base * rng.lognormal(0, 0.35, n), -3)).astype(np.int64)
    opt_in = rng.random(n) < 0.6
    photo = ids % photo_count if photo_count else ids * 0
    cities, states, zips = place["city"].to_numpy(), place["state"].to_numpy(), place["zip"].to_numpy()

    docs = []
    for i in range(n):
        doc = {
            "id": int(ids[i]),
            "name": f"{first[i]} {last[i]}",
            "first_name": first[i],
            "last_name": last[i],
            "gender": gender[i],
            "birth_date": birth[i],
            "ssn": f"{ssn_area[i]:03d}-{ssn_group[i]:02d}-{ssn_serial[i]:04d}",
        }
        if has_email[i]:
            doc["email"] = f"{folded[first[i]]}.{folded[last[i]]}{email_num[i]}@{email_dom[i]}"
        if has_phone[i]:
            doc["phone_number"] = phones[i]
        doc["address"] = {
            "street": f"{number[i]} {street[i]}",
            "city": cities[i],
            "state": states[i],
            "zip": zips[i],
            "latitude": float(lat[i]),
            "longitude": float(lon[i]),
        }
        doc["first_visit"] = visit[i]
        if web[i]:
            doc["web_user_id"] = int(web_user_id[i])
        doc["photo"] = f"avatar-{photo[i]:03d}.jpg"
        if optional[i, 0] < 0.3:
            doc["middle_name"] = middle[i]
        if optional[i, 1] < 0.55:
            doc["preferred_contact"] = contact[i]
        if optional[i, 2] < 0.4:
            doc["employer"] = employer[i]
        if optional[i, 3] < 0.35:
            doc["annual_income"] = int(income[i])
        if optional[i, 4] < 0.5:
            doc["marketing_opt_in"] = bool(opt_in[i])
        docs.append(orjson.dumps(doc, option=orjson.OPT_APPEND_NEWLINE))
    return b"".join(docs)


def _surveys(
    rng: np.random.Generator,
    ids: np.ndarray,
    mood: np.ndarray,
    sentiment_idx: np.ndarray,
    interest: np.ndarray,
    holds: np.ndarray,
    observed_day: np.ndarray,
) -> list[dict]:
    """Survey answers of a minority of customers; the unhappy and the delighted answer a bit more often.

    Answers come from the year before a customer was last observed (a former customer answers no more).
    """
    n = len(ids)
    respond = rng.random(n) < 0.11 * (1 + 0.25 * np.abs(mood))
    respondents = np.nonzero(respond)[0]
    counts = 1 + (rng.random(len(respondents)) < 0.3)
    need_names = list(NEEDS)
    need_for_product = {p: [i for i, k in enumerate(need_names) if p in NEEDS[k]] for p in PRODUCTS}
    rows = []
    for idx, k in zip(respondents, counts, strict=True):
        for _ in range(k):
            true_class = SENTIMENTS[sentiment_idx[idx]]
            phrases = []
            for _ in range(int(rng.integers(1, 4))):
                cls = true_class if rng.random() < 0.8 else SENTIMENTS[int(rng.integers(0, 3))]
                pool = _COMMENT_PHRASES[cls]
                phrase = pool[int(rng.integers(0, len(pool)))]
                if rng.random() < 0.3:
                    held = np.nonzero(holds[idx])[0]
                    if len(held):
                        product = PRODUCTS[int(held[rng.integers(0, len(held))])].replace("_", " ")
                        mention = _PRODUCT_MENTIONS[int(rng.integers(0, len(_PRODUCT_MENTIONS)))]
                        phrase = f"{phrase} {mention.format(p=product)}"
                phrases.append(phrase)
            needs = []
            if interest[idx] >= 0 and need_for_product[PRODUCTS[interest[idx]]]:
                options = need_for_product[PRODUCTS[interest[idx]]]
                needs.append(need_names[options[int(rng.integers(0, len(options)))]])
            for extra in rng.choice(len(need_names), size=int(rng.integers(0, 3)), replace=False):
                if need_names[extra] not in needs:
                    needs.append(need_names[extra])
            rating = int(np.clip(np.round(3 + 1.3 * mood[idx] + rng.normal(0, 0.6)), 1, 5))
            when = (
                EPOCH
                + timedelta(days=int(observed_day[idx]))
                - timedelta(seconds=int(rng.integers(0, SURVEY_MONTHS * 30 * 86400)))
            )
            row = {
                "customer_id": int(ids[idx]),
                "submitted": when.isoformat(),
                "rating": rating,
                "comment": ". ".join(phrases) + ".",
                "needs": needs,
            }
            if rng.random() < 0.7:
                row["channel"] = ("web", "branch", "phone", "app")[int(rng.integers(0, 4))]
            rows.append(row)
    return rows


def draw_avatars(seed: int, count: int) -> list[bytes]:
    """A pool of portrait-like JPEG images (head and shoulders), so profiles carry real binary photos."""
    import io

    from PIL import Image, ImageDraw

    rng = np.random.default_rng(np.random.SeedSequence([seed, 9_999]))
    skins = [(255, 224, 196), (234, 192, 134), (198, 134, 66), (141, 85, 36), (96, 58, 30), (241, 194, 125)]
    hairs = [(35, 25, 20), (90, 56, 37), (170, 120, 60), (220, 200, 150), (120, 120, 120), (60, 30, 20)]
    images = []
    for _ in range(count):
        size = 240
        background = tuple(int(c) for c in rng.integers(150, 235, 3))
        img = Image.new("RGB", (size, size), background)
        pen = ImageDraw.Draw(img)
        skin = skins[int(rng.integers(0, len(skins)))]
        hair = hairs[int(rng.integers(0, len(hairs)))]
        shirt = tuple(int(c) for c in rng.integers(20, 200, 3))
        long_hair = rng.random() < 0.5
        pen.ellipse((40, 170, 200, 330), fill=shirt)
        pen.rectangle((102, 140, 138, 185), fill=skin)
        if long_hair:
            pen.rounded_rectangle((62, 50, 178, 190), radius=40, fill=hair)
        pen.ellipse((72, 52, 168, 168), fill=skin)
        pen.chord((68, 40, 172, 120), 180, 360, fill=hair)
        for eye_x in (98, 142):
            pen.ellipse((eye_x - 5, 100, eye_x + 5, 110), fill=(40, 30, 30))
        pen.arc((100, 115, 140, 145), 20, 160, fill=(150, 60, 60), width=3)
        buffer = io.BytesIO()
        img.save(buffer, format="JPEG", quality=85)
        images.append(buffer.getvalue())
    return images
