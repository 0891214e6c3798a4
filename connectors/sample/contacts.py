"""The contact center's history: every customer's calls and chats of their last 12 months, and what led to
each of them.

Contacts follow *episodes*, things that happen to a customer and may make them call or chat within days:
they looked at the pages for closing an account (leaving), started an application and stopped, researched
loans or rates, had trouble with a payment or with signing in, were charged a fee, had an unusual charge
(declined by the bank's fraud checks, or charged), opened an account, or complained in a survey. Web
episodes leave clicks on the matching pages, of which the click file keeps the last 30 days; transaction
episodes are rows of the transactions table (a fee on a charge; an unusual charge at a payee the customer
never paid, declined or not); account openings and survey answers are the sources' own rows. A customer who
left has no contacts after that day. Other contacts come out of the blue.

A contact's reason is drawn from a mixture: the customer's own habits (from their hidden traits and a taste
of their own) plus, for every episode before it, a pull towards the episode's reasons that fades over days;
a contact that ended with a follow-up pulls the next one to its reason. Those probabilities, the generator's
own, go to the hidden truth as the oracle the reason model is measured against.

Everything here is drawn from a random stream of its own, so the other sources' draws stay as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.catalog import (
    CATEGORY_NAMES,
    CLICK_DAYS,
    CONTACT_CHANNELS,
    CONTACT_DAYS,
    CONTACT_OUTCOMES,
    CONTACT_REASONS,
    LEAVING_PAGES,
    PRODUCTS,
    label,
    large_charge_threshold,
)
from connectors.sample.clicks import PAGES_PER_PRODUCT, click_frame, page_code
from connectors.sample.featured import FEATURED_CALLER
from connectors.sample.traits import PRODUCT_INDEX, People
from connectors.sample.vocabulary import (
    AGENTS,
    CHARGE_NOTES,
    FEE_AMOUNTS,
    FOREIGN_FEE,
    NOTES,
    OUTCOME_NOTES,
    UNUSUAL_CATEGORIES,
    UNUSUAL_PAYEES,
)

REASONS = tuple(CONTACT_REASONS)
R = {reason: i for i, reason in enumerate(REASONS)}
OUTCOMES = tuple(CONTACT_OUTCOMES)
DAY = 86_400
HOUR = 3_600
CARDS = [PRODUCT_INDEX[p] for p in ("debit_card", "personal_credit_card", "business_credit_card")]
LOANS = [PRODUCT_INDEX[p] for p in ("home_mortgage_loan", "auto_loan")]
INVESTMENTS = [PRODUCT_INDEX[p] for p in ("brokerage_account", "roth_ira", "401k")]
PULL_WINDOW_DAYS = 30  # older episodes no longer pull (their pull has faded to nothing by then)
FOLLOW_UP_PULL = 6.0
FOLLOW_UP_FADE_DAYS = 4.0
FOLLOW_UP_DELAY_HOURS = 48.0
TRANSFERRED = 0.07


@dataclass(frozen=True)
class Kind:
    """A kind of episode: what it pulls a contact towards, how fast that fades, and how often it leads to
    a contact how soon; web episodes leave clicks on ``pages`` of their product's ``section``."""

    name: str
    pull: dict[str, float]
    fade_days: float
    calls: float
    delay_hours: float
    section: str = ""
    pages: tuple[str, ...] = ()


KINDS: tuple[Kind, ...] = (
    Kind("leaving", {"close_account": 6, "rates_question": 0.6}, 3, 0.55, 3, "accounts", LEAVING_PAGES),
    Kind(
        "application",
        {"application_help": 6, "general_question": 0.4},
        4,
        0.6,
        4,
        "products",
        ("apply", "apply", "overview", "faq"),
    ),
    Kind(
        "loan_research",
        {"loan_question": 6, "rates_question": 0.6},
        4,
        0.55,
        6,
        "products",
        ("calculator", "rates", "faq", "overview"),
    ),
    Kind(
        "rates_research",
        {"rates_question": 6, "close_account": 0.5},
        4,
        0.5,
        6,
        "products",
        ("rates", "rates", "overview"),
    ),
    Kind("payment_trouble", {"payment_issue": 6, "fees": 0.5}, 2, 0.7, 3, "accounts", ("payments",)),
    Kind(
        "access_trouble",
        {"online_banking_access": 6, "contact_details_change": 1},
        2,
        0.7,
        2,
        "accounts",
        ("settings",),
    ),
    Kind("fee", {"fees": 6, "close_account": 0.4}, 4, 0.5, 36),
    Kind("unusual_declined", {"fraud_alert": 7, "card_lost_stolen": 0.8}, 2, 0.9, 3),
    Kind("unusual_charged", {"disputed_transaction": 6, "fraud_alert": 1.2}, 4, 0.65, 24),
    Kind(
        "opened", {"online_banking_access": 2.5, "general_question": 1.5, "application_help": 0.8}, 7, 0.3, 72
    ),
    Kind("complaint", {"fees": 1.5, "close_account": 1.5, "general_question": 1.0}, 7, 0.3, 72),
)
K = {kind.name: i for i, kind in enumerate(KINDS)}
WEB_KINDS = [i for i, kind in enumerate(KINDS) if kind.pages]
PULL = np.array([[kind.pull.get(reason, 0.0) for reason in REASONS] for kind in KINDS])
FADE_S = np.array([kind.fade_days * DAY for kind in KINDS])
MAIN_REASON = PULL.argmax(axis=1)
# Per reason: how often a contact needs a follow-up, and how long a phone call takes (minutes).
FOLLOW_UP = {
    "card_lost_stolen": 0.1,
    "disputed_transaction": 0.35,
    "fraud_alert": 0.2,
    "fees": 0.12,
    "close_account": 0.25,
    "loan_question": 0.3,
    "application_help": 0.3,
    "online_banking_access": 0.12,
    "contact_details_change": 0.05,
    "payment_issue": 0.25,
    "rates_question": 0.15,
    "general_question": 0.08,
}
MINUTES = {
    "card_lost_stolen": 6,
    "disputed_transaction": 11,
    "fraud_alert": 9,
    "fees": 7,
    "close_account": 12,
    "loan_question": 14,
    "application_help": 13,
    "online_banking_access": 8,
    "contact_details_change": 5,
    "payment_issue": 9,
    "rates_question": 8,
    "general_question": 5,
}
# Segment factors (SEGMENTS order): contacts out of the blue, general questions, sign-in trouble.
SPONTANEOUS = np.array([0.9, 1.0, 1.1, 0.9, 1.2, 1.3])
GENERAL = np.array([1.0, 0.8, 1.0, 1.0, 0.9, 1.8])
ACCESS = np.array([1.5, 1.3, 1.0, 0.9, 1.0, 1.4])


@dataclass
class ContactCenter:
    """What the contact center adds to a chunk: transactions with fees, unusual charges and disputes,
    the clicks of its web episodes, the contacts, and each contact's reason probabilities (the oracle)."""

    transactions: pd.DataFrame
    clicks: pd.DataFrame
    contacts: pd.DataFrame
    oracle: np.ndarray  # (contacts, reasons) float32


@dataclass
class _Episodes:
    owner: np.ndarray  # index into the chunk's people
    t: np.ndarray  # seconds since the epoch
    kind: np.ndarray
    product: np.ndarray  # product index, -1 for none
    page: np.ndarray  # page code within the product, -1 to draw one of the kind's pages
    calls: np.ndarray  # probability it leads to a contact
    row: np.ndarray  # the transaction it is about (row of the final table), -1 for none

    def __len__(self) -> int:
        return len(self.t)

    @classmethod
    def concat(cls, parts: list[_Episodes]) -> _Episodes:
        joined = cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))
        order = np.lexsort((joined.t, joined.owner))
        return cls(*(getattr(joined, f)[order] for f in cls.__dataclass_fields__))


def _episodes(
    owner: np.ndarray,
    t: np.ndarray,
    kind: int | np.ndarray,
    product: np.ndarray | int = -1,
    row: np.ndarray | int = -1,
) -> _Episodes:
    m = len(owner)
    kinds = np.broadcast_to(np.asarray(kind, dtype=np.int8), m).copy()
    return _Episodes(
        owner=owner.astype(np.int64),
        t=t.astype(np.int64),
        kind=kinds,
        product=np.broadcast_to(np.asarray(product, dtype=np.int8), m).copy(),
        page=np.full(m, -1, np.int16),
        calls=np.array([KINDS[k].calls for k in range(len(KINDS))])[kinds],
        row=np.broadcast_to(np.asarray(row, dtype=np.int64), m).copy(),
    )


def _pick(rng: np.random.Generator, allowed: np.ndarray) -> np.ndarray:
    """One allowed column per row, uniformly (rows of a boolean matrix); -1 where none is allowed."""
    cumulative = allowed.cumsum(axis=1)
    count = cumulative[:, -1]
    pick = (rng.random(len(allowed)) * np.maximum(count, 1)).astype(np.int64)
    chosen = (cumulative <= pick[:, None]).sum(axis=1)
    return np.where(count > 0, chosen, -1)


def _uniform_times(rng, counts, start_s, end_s) -> tuple[np.ndarray, np.ndarray]:
    owner = np.repeat(np.arange(len(counts)), counts)
    t = start_s[owner] + (rng.random(len(owner)) * (end_s - start_s)[owner]).astype(np.int64)
    return owner, t


def draw_contact_center(
    seed: np.random.SeedSequence,
    people: People,
    observed_day: np.ndarray,
    web_user_id: np.ndarray,
    transactions: pd.DataFrame,
    accounts: pd.DataFrame,
    surveys: list[dict],
) -> ContactCenter:
    """Episodes, their traces and the contacts of one chunk (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    n = len(people)
    end_s = observed_day.astype(np.int64) * DAY
    start_day = np.maximum(observed_day - CONTACT_DAYS, observed_day - people.tenure_days)
    start_s = start_day.astype(np.int64) * DAY
    years = (end_s - start_s) / (365 * DAY)
    holds, _d, _segment = people.holds, people.dissatisfaction, people.segment
    has_card, loans = holds[:, CARDS].any(axis=1), holds[:, LOANS].any(axis=1)
    investments = holds[:, INVESTMENTS].any(axis=1)

    tx_owner = (transactions["customer_id"].to_numpy() - people.ids[0]).astype(np.int64)
    tx_day = transactions["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    tx_amount = transactions["amount"].to_numpy()
    tx_count = np.bincount(tx_owner, minlength=n)
    tx_first = np.concatenate([[0], tx_count.cumsum()[:-1]])
    in_category = tx_owner * len(CATEGORY_NAMES) + transactions["category"].cat.codes.to_numpy()
    cells = n * len(CATEGORY_NAMES)
    large_from = large_charge_threshold(  # customers x categories: a charge this big is large (catalog)
        np.bincount(in_category, weights=tx_amount, minlength=cells).reshape(n, -1),
        np.bincount(in_category, minlength=cells).reshape(n, -1),
        np.bincount(tx_owner, weights=tx_amount, minlength=n)[:, None],
        tx_count[:, None],
    )

    web = _web_episodes(rng, people, start_s, end_s, years, has_card, loans, investments)
    fees, fee_row, fee_amount = _fee_episodes(rng, people, years, has_card, transactions, tx_first, tx_count)
    featured_caller = people.ids == FEATURED_CALLER.customer_id  # her one unusual charge is her lead-up's
    eligible = has_card & (tx_count >= 2) & ~featured_caller
    unusual = _unusual_charges(rng, people, start_s, end_s, years, eligible, large_from)
    featured = _featured(people, observed_day, large_from)
    charges = _Charges.concat([unusual, featured.charges])
    table, charge_rows, shift = _with_charges(
        transactions, tx_owner, tx_day, people.ids[0], charges, fee_row, fee_amount
    )
    fees.row = shift(fee_row)
    charge_episodes = _episodes(
        charges.owner,
        charges.t,
        np.where(charges.declined, K["unusual_declined"], K["unusual_charged"]),
        row=charge_rows,
    )
    charge_episodes.calls = np.where(charges.quiet, 0.0, charge_episodes.calls)
    episodes = _Episodes.concat(
        [
            web,
            featured.web,
            fees,
            charge_episodes,
            _opened(people, accounts, start_day, observed_day),
            _complaints(people, surveys, start_s, end_s),
        ]
    )
    clicks = _episode_clicks(rng, episodes, web_user_id, end_s)
    contacts, oracle = _contacts(rng, people, episodes, start_s, end_s, years, has_card, loans, investments)
    _mark_disputes(table, contacts, episodes, people.ids[0])
    frame = _contact_frame(rng, people, contacts, episodes, table)
    return ContactCenter(table, clicks, frame, oracle.astype(np.float32))


def _web_episodes(rng, people, start_s, end_s, years, has_card, loans, investments) -> _Episodes:
    """Web episodes of customers with a website login."""
    holds, d, segment, interest = people.holds, people.dissatisfaction, people.segment, people.interest
    web = people.web
    interest_loan = np.isin(interest, LOANS)
    rates = {
        "leaving": 0.3 * np.exp(0.9 * d) * holds.any(axis=1),
        "application": 0.2 + 0.8 * (interest >= 0),
        "loan_research": 0.15 + 0.5 * interest_loan + 0.25 * loans,
        "rates_research": 0.2 + 0.4 * investments,
        "payment_trouble": 0.3 * (has_card | loans),
        "access_trouble": 0.25 * ACCESS[segment],
    }
    parts = []
    for name, rate in rates.items():
        owner, t = _uniform_times(rng, np.where(web, rng.poisson(rate * years), 0), start_s, end_s)
        rows = holds[owner]
        if name == "application":
            not_held = np.where(rows, False, True)
            product = np.where(interest[owner] >= 0, interest[owner], _pick(rng, not_held))
        elif name == "loan_research":
            loan_rows = np.zeros_like(rows)
            loan_rows[:, LOANS] = True
            held_loan = np.where(rows[:, LOANS].any(axis=1)[:, None], rows & loan_rows, loan_rows)
            product = np.where(interest_loan[owner], interest[owner], _pick(rng, held_loan))
        elif name == "rates_research":
            invest_rows = np.zeros_like(rows)
            invest_rows[:, INVESTMENTS] = True
            product = _pick(rng, invest_rows)
        elif name == "payment_trouble":
            paying = np.zeros_like(rows)
            paying[:, CARDS + LOANS] = True
            product = _pick(rng, rows & paying)
        else:
            product = _pick(rng, rows)
        keep = product >= 0
        parts.append(_episodes(owner[keep], t[keep], K[name], product[keep]))
    return _Episodes.concat(parts)


def _fee_episodes(rng, people, years, has_card, transactions, tx_first, tx_count):
    """Fees charged with a card transaction: a late-payment or overdraft fee, or 3% on a charge abroad."""
    counts = np.where(
        has_card & (tx_count > 0), rng.poisson(0.5 * np.exp(0.2 * people.dissatisfaction) * years), 0
    )
    owner = np.repeat(np.arange(len(people)), counts)
    row = tx_first[owner] + (rng.random(len(owner)) * tx_count[owner]).astype(np.int64)
    travel = transactions["category"].cat.codes.to_numpy()[row] == CATEGORY_NAMES.index("Travel")
    amount = np.where(
        travel,
        np.maximum(np.round(FOREIGN_FEE * transactions["amount"].to_numpy()[row], 2), 1.0),
        np.array(FEE_AMOUNTS)[rng.integers(0, len(FEE_AMOUNTS), len(owner))],
    )
    day = transactions["date"].to_numpy()[row].astype("datetime64[D]").astype(np.int64)
    t = day * DAY + rng.integers(8 * HOUR, 20 * HOUR, len(owner))
    return _episodes(owner, t, K["fee"]), row, amount


@dataclass
class _Charges:
    """Unusual charges to add to the transactions table."""

    owner: np.ndarray
    t: np.ndarray
    amount: np.ndarray
    payee: np.ndarray  # index into UNUSUAL_PAYEES
    category: np.ndarray  # index into CATEGORY_NAMES
    declined: np.ndarray
    quiet: np.ndarray  # never leads to a contact (the featured caller's has not yet)

    @classmethod
    def concat(cls, parts: list[_Charges]) -> _Charges:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


def _unusual_charges(rng, people, start_s, end_s, years, eligible, large_from) -> _Charges:
    """Charges well above where a card holder's charges become large (``large_from``, customers x
    categories), at a payee they never paid; half are declined."""
    owner, t = _uniform_times(rng, np.where(eligible, rng.poisson(0.3 * years), 0), start_s, end_s)
    m = len(owner)
    categories = np.array([CATEGORY_NAMES.index(c) for c in UNUSUAL_CATEGORIES])
    category = categories[rng.integers(0, len(categories), m)]
    amount = np.ceil(large_from[owner, category] * rng.uniform(1.15, 1.8, m) * 100) / 100
    return _Charges(
        owner=owner,
        t=t,
        amount=amount,
        payee=rng.integers(0, len(UNUSUAL_PAYEES), m),
        category=category,
        declined=rng.random(m) < 0.5,
        quiet=np.zeros(m, bool),
    )


@dataclass
class _Featured:
    web: _Episodes
    charges: _Charges


def _featured(people: People, observed_day: np.ndarray, large_from: np.ndarray) -> _Featured:
    """The featured caller's lead-up to the call the demo opens with (she has not called yet); her unusual
    charge is at least the amount configured, and large for her."""
    rows = np.flatnonzero(people.ids == FEATURED_CALLER.customer_id)
    web, charge = FEATURED_CALLER.lead_up, FEATURED_CALLER.charge
    if not len(rows):
        rows = np.zeros(0, np.int64)
        web, charge = (), None
    owner = np.repeat(rows, len(web))
    end = observed_day[owner].astype(np.int64) * DAY
    episodes = _episodes(
        owner,
        end - np.array([round(days * DAY) for _, days, _, _ in web], dtype=np.int64),
        np.array([K[kind] for kind, _, _, _ in web], dtype=np.int8),
        np.array([PRODUCT_INDEX[product] for _, _, product, _ in web], dtype=np.int8),
    )
    episodes.page = np.array(
        [page_code(KINDS[K[kind]].section, page) for kind, _, _, page in web], dtype=np.int16
    )
    episodes.calls[:] = 0.0
    count = len(rows) if charge is not None else 0
    amount, days_ago, payee, category = charge or (0.0, 0.0, "", "Household")
    floor = large_from[rows[:count], CATEGORY_NAMES.index(category)] * 1.1
    charges = _Charges(
        owner=rows[:count],
        t=observed_day[rows[:count]].astype(np.int64) * DAY - round(days_ago * DAY),
        amount=np.maximum(amount, np.ceil(floor / 10) * 10),
        payee=np.full(count, UNUSUAL_PAYEES.index(payee) if count else 0),
        category=np.full(count, CATEGORY_NAMES.index(category)),
        declined=np.zeros(count, bool),
        quiet=np.ones(count, bool),
    )
    return _Featured(episodes, charges)


def _with_charges(transactions, tx_owner, tx_day, first_id, charges: _Charges, fee_row, fee_amount):
    """The transactions with the fee, declined and disputed columns and the unusual charges in their place
    (customer, then day order; a charge after the same day's other transactions); existing columns keep
    their values. Returns the table, each charge's row in it, and how to map an old row to its new one."""
    order = np.lexsort((charges.t, charges.owner))
    charges = _Charges(*(getattr(charges, f)[order] for f in _Charges.__dataclass_fields__))
    day = charges.t // DAY
    old_key = tx_owner * 1_000_000 + tx_day
    at = np.searchsorted(old_key, charges.owner * 1_000_000 + day, side="right")
    n_payees = len(transactions["payee"].cat.categories)
    fee = np.zeros(len(transactions))
    fee[fee_row] = fee_amount
    columns = {
        "customer_id": np.insert(transactions["customer_id"].to_numpy(), at, first_id + charges.owner),
        "date": np.insert(tx_day, at, day).astype("datetime64[D]"),
        "payee": np.insert(
            transactions["payee"].cat.codes.to_numpy().astype(np.int32), at, n_payees + charges.payee
        ),
        "category": np.insert(
            transactions["category"].cat.codes.to_numpy().astype(np.int16), at, charges.category
        ),
        "amount": np.insert(transactions["amount"].to_numpy(), at, charges.amount),
        "fee": np.insert(fee, at, 0.0),
        "declined": np.insert(np.zeros(len(transactions), bool), at, charges.declined),
    }
    payees = list(transactions["payee"].cat.categories) + list(UNUSUAL_PAYEES)
    table = pd.DataFrame(
        {
            "customer_id": columns["customer_id"],
            "date": columns["date"],
            "payee": pd.Categorical.from_codes(columns["payee"], categories=payees),
            "category": pd.Categorical.from_codes(columns["category"], categories=CATEGORY_NAMES),
            "amount": columns["amount"],
            "fee": columns["fee"],
            "declined": columns["declined"],
            "disputed": np.zeros(len(columns["fee"]), bool),
        }
    )
    rows = at + np.arange(len(at))
    inverse = np.empty(len(order), np.int64)
    inverse[order] = np.arange(len(order))

    def shift(old_rows: np.ndarray) -> np.ndarray:
        return old_rows + np.searchsorted(at, old_rows, side="right")

    return table, rows[inverse], shift


def _opened(people: People, accounts: pd.DataFrame, start_day, observed_day) -> _Episodes:
    """Accounts opened during the window: a new customer or product brings questions about access."""
    owner = (accounts["customer_id"].to_numpy() - people.ids[0]).astype(np.int64)
    day = accounts["opened_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    keep = (day >= start_day[owner]) & (day < observed_day[owner])
    products = accounts["product"].cat.codes.to_numpy()
    return _episodes(owner[keep], day[keep] * DAY + 12 * HOUR, K["opened"], products[keep])


def _complaints(people: People, surveys: list[dict], start_s, end_s) -> _Episodes:
    """Survey answers rating the bank 1 or 2 out of 5."""
    sour = [s for s in surveys if s["rating"] <= 2]
    owner = np.array([s["customer_id"] for s in sour], dtype=np.int64) - people.ids[0]
    t = np.array([s["submitted"] for s in sour], dtype="datetime64[s]").astype(np.int64)
    keep = (t >= start_s[owner]) & (t < end_s[owner]) if len(owner) else np.zeros(0, bool)
    return _episodes(owner[keep], t[keep], K["complaint"])


def _episode_clicks(rng, episodes: _Episodes, web_user_id: np.ndarray, end_s: np.ndarray) -> pd.DataFrame:
    """The clicks web episodes of the last 30 days left: a few on the episode's pages, the last one at the
    episode's time, the others in the hours before."""
    choices = [[page_code(kind.section, page) for page in kind.pages] or [0] for kind in KINDS]
    web = np.isin(episodes.kind, WEB_KINDS) & (episodes.t >= end_s[episodes.owner] - CLICK_DAYS * DAY)
    index = np.flatnonzero(web)
    fixed = episodes.page[index] >= 0
    counts = np.where(fixed, 1, 3 + rng.poisson(2.0, len(index)))
    source = np.repeat(index, counts)
    first = np.r_[True, source[1:] != source[:-1]]
    ts = episodes.t[source] - np.where(first, 0, rng.exponential(2 * HOUR, len(source)).astype(np.int64))
    kind = episodes.kind[source]
    width = np.array([len(c) for c in choices])[kind]
    table = np.array([c + [c[0]] * (4 - len(c)) for c in choices])
    drawn = table[kind, (rng.random(len(source)) * width).astype(np.int64)]
    page = np.where(episodes.page[source] >= 0, episodes.page[source], drawn)
    url = episodes.product[source].astype(np.int64) * PAGES_PER_PRODUCT + page
    keep = ts >= end_s[episodes.owner[source]] - CLICK_DAYS * DAY
    owner = episodes.owner[source][keep]
    return click_frame(rng, web_user_id[owner], ts[keep], url[keep])


def _prior(rng, people: People, has_card, loans, investments) -> np.ndarray:
    """Each customer's reasons for contacts out of the blue: from their traits, and a taste of their own."""
    d, segment = people.dissatisfaction, people.segment
    base = {
        "card_lost_stolen": 0.10 * has_card + 0.01,
        "disputed_transaction": 0.04 * has_card + 0.005,
        "fraud_alert": 0.03 * has_card + 0.005,
        "fees": 0.07 * np.exp(0.35 * d),
        "close_account": 0.03 * np.exp(0.7 * d) * people.holds.any(axis=1) + 0.002,
        "loan_question": 0.03 + 0.10 * loans,
        "application_help": 0.03 + 0.0 * d,
        "online_banking_access": np.where(people.web, 0.09, 0.03),
        "contact_details_change": 0.09 + 0.0 * d,
        "payment_issue": 0.04 + 0.07 * loans,
        "rates_question": 0.04 + 0.06 * investments,
        "general_question": 0.18 * GENERAL[segment],
    }
    weights = np.column_stack([base[reason] for reason in REASONS]) * rng.lognormal(0, 0.35, (len(d), len(R)))
    return weights / weights.sum(axis=1, keepdims=True)


@dataclass
class _Contacts:
    owner: np.ndarray
    t: np.ndarray
    trigger: np.ndarray  # the episode that led to it, -1 for none
    reason: np.ndarray
    outcome: np.ndarray
    probability: np.ndarray  # (contacts, reasons): what the reason was drawn from
    charge: np.ndarray  # the transaction row the contact was about, -1 for none

    @classmethod
    def concat(cls, parts: list[_Contacts]) -> _Contacts:
        joined = cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))
        order = np.lexsort((joined.t, joined.owner))
        return cls(*(getattr(joined, f)[order] for f in cls.__dataclass_fields__))


def _mixture(prior, owner, t, episodes: _Episodes) -> np.ndarray:
    """Per contact, its customer's prior plus the fading pull of every episode of theirs before it."""
    keys = episodes.owner << 32 | episodes.t
    lo = np.searchsorted(keys, owner << 32 | (t - PULL_WINDOW_DAYS * DAY))
    hi = np.searchsorted(keys, owner << 32 | t, side="right")
    counts = hi - lo
    pair = np.repeat(np.arange(len(t)), counts)
    offsets = np.cumsum(counts) - counts
    episode = lo[pair] + np.arange(len(pair)) - offsets[pair]
    kind = episodes.kind[episode]
    fade = np.exp(-(t[pair] - episodes.t[episode]) / FADE_S[kind])
    weights = prior[owner].copy()
    for r in range(len(REASONS)):
        weights[:, r] += np.bincount(pair, weights=PULL[kind, r] * fade, minlength=len(t))
    return weights


def _draw(rng, probability: np.ndarray) -> np.ndarray:
    cumulative = probability.cumsum(axis=1)
    u = rng.random(len(probability)) * cumulative[:, -1]
    return np.minimum((cumulative < u[:, None]).sum(axis=1), probability.shape[1] - 1)


def _outcomes(rng, reason: np.ndarray, follow_up_scale: float) -> np.ndarray:
    follow_up = np.array([FOLLOW_UP[r] for r in REASONS])[reason] * follow_up_scale
    u = rng.random(len(reason))
    return np.where(
        u < follow_up,
        OUTCOMES.index("follow_up"),
        np.where(u < follow_up + TRANSFERRED, OUTCOMES.index("transferred"), OUTCOMES.index("resolved")),
    )


def _contacts(rng, people, episodes: _Episodes, start_s, end_s, years, has_card, loans, investments):
    """Contacts led to by episodes and out of the blue, then the follow-ups of those that needed one."""
    prior = _prior(rng, people, has_card, loans, investments)
    called = np.flatnonzero(rng.random(len(episodes)) < episodes.calls)
    delay = np.array([kind.delay_hours * HOUR for kind in KINDS])[episodes.kind[called]]
    t = episodes.t[called] + rng.exponential(delay).astype(np.int64)
    keep = t < end_s[episodes.owner[called]]
    rate = 0.9 * SPONTANEOUS[people.segment] * np.exp(0.15 * people.dissatisfaction)
    owner, t_blue = _uniform_times(rng, rng.poisson(rate * years), start_s, end_s)
    owner = np.concatenate([episodes.owner[called][keep], owner])
    t = np.concatenate([t[keep], t_blue])
    trigger = np.concatenate([called[keep], np.full(len(t_blue), -1)])
    weights = _mixture(prior, owner, t, episodes)
    rounds, scale = [], 1.0
    while len(t):
        probability = weights / weights.sum(axis=1, keepdims=True)
        reason = _draw(rng, probability)
        outcome = _outcomes(rng, reason, scale)
        rounds.append(_Contacts(owner, t, trigger, reason, outcome, probability, np.full(len(t), -1)))
        parent = np.flatnonzero(outcome == OUTCOMES.index("follow_up"))
        later = t[parent] + HOUR + rng.exponential(FOLLOW_UP_DELAY_HOURS * HOUR, len(parent)).astype(np.int64)
        parent, later = parent[later < end_s[owner[parent]]], later[later < end_s[owner[parent]]]
        weights = _mixture(prior, owner[parent], later, episodes)
        fade = np.exp(-(later - t[parent]) / (FOLLOW_UP_FADE_DAYS * DAY))
        weights[np.arange(len(parent)), reason[parent]] += FOLLOW_UP_PULL * fade
        owner, t, trigger, scale = owner[parent], later, np.full(len(parent), -1), 0.4 * scale
    contacts = _Contacts.concat(rounds)
    return contacts, contacts.probability


def _mark_disputes(table: pd.DataFrame, contacts: _Contacts, episodes: _Episodes, first_id: int) -> None:
    """Link contacts to the charge they were about, and mark the disputed ones: the unusual charge that led
    to the contact, or else the customer's latest charge before it."""
    trigger = contacts.trigger
    kind = np.where(trigger >= 0, episodes.kind[np.maximum(trigger, 0)], -1)
    linked = (
        (trigger >= 0)
        & (MAIN_REASON[np.maximum(kind, 0)] == contacts.reason)
        & (episodes.row[np.maximum(trigger, 0)] >= 0)
    )
    contacts.charge = np.where(linked, episodes.row[np.maximum(trigger, 0)], -1)
    disputes = np.flatnonzero((contacts.reason == R["disputed_transaction"]) & (contacts.charge < 0))
    charged = np.flatnonzero(~table["declined"].to_numpy())  # a declined charge cannot be disputed
    day = table["date"].to_numpy().astype("datetime64[D]").astype(np.int64)[charged]
    keys = (table["customer_id"].to_numpy()[charged] - first_id) * 1_000_000 + day
    wanted = contacts.owner[disputes] * 1_000_000 + contacts.t[disputes] // DAY
    latest = np.searchsorted(keys, wanted, side="right") - 1
    same = (latest >= 0) & (keys[np.maximum(latest, 0)] // 1_000_000 == contacts.owner[disputes])
    contacts.charge[disputes[same]] = charged[latest[same]]
    marked = contacts.charge[contacts.reason == R["disputed_transaction"]]
    table.loc[marked[marked >= 0], "disputed"] = True


def _note_products(rng, people: People, contacts: _Contacts, episodes: _Episodes) -> np.ndarray:
    """The product each note names: the episode's when the contact was about it, else a likely one."""
    owner, reason, trigger = contacts.owner, contacts.reason, contacts.trigger
    holds = people.holds[owner]
    pick = {
        "loan": np.array(LOANS)[rng.integers(0, len(LOANS), len(owner))],
        "investment": np.array(INVESTMENTS)[rng.integers(0, len(INVESTMENTS), len(owner))],
        "held": _pick(rng, holds),
        "new": np.where(people.interest[owner] >= 0, people.interest[owner], _pick(rng, ~holds)),
    }
    fallback = np.select(
        [reason == R["loan_question"], reason == R["rates_question"], reason == R["application_help"]],
        [pick["loan"], pick["investment"], pick["new"]],
        pick["held"],
    )
    episode = np.maximum(trigger, 0)
    own = (trigger >= 0) & (MAIN_REASON[episodes.kind[episode]] == reason) & (episodes.product[episode] >= 0)
    return np.where(own, episodes.product[episode], fallback)


def _notes(rng, reason, outcome, product, charge, table: pd.DataFrame) -> np.ndarray:
    """Short agent notes: a template per reason, naming the product, or the charge it was about."""
    variants = 3
    labels = ["account", *(label(p) for p in PRODUCTS)]
    texts = np.array(
        [
            NOTES[r][v].format(product=labels[p]) + OUTCOME_NOTES[o]
            for r in REASONS
            for v in range(variants)
            for p in range(len(labels))
            for o in OUTCOMES
        ],
        dtype=object,
    )
    variant = rng.integers(0, variants, len(reason))
    code = ((reason * variants + variant) * len(labels) + product + 1) * len(OUTCOMES) + outcome
    notes = texts[code]
    for r, template in CHARGE_NOTES.items():
        rows = np.flatnonzero((reason == R[r]) & (charge >= 0))
        fees = table["fee"].to_numpy()[charge[rows]]
        amounts = np.where(r == "fees", fees, table["amount"].to_numpy()[charge[rows]])
        payees = np.asarray(table["payee"].cat.categories, dtype=object)[
            table["payee"].cat.codes.to_numpy()[charge[rows]]
        ]
        for row, amount, payee in zip(rows, amounts, payees, strict=True):
            notes[row] = (
                template.format(amount=f"{amount:,.2f}", payee=payee) + OUTCOME_NOTES[OUTCOMES[outcome[row]]]
            )
    return notes


def _contact_frame(rng, people: People, contacts: _Contacts, episodes: _Episodes, table) -> pd.DataFrame:
    """The contacts as the contact center keeps them (ids are numbered by the writer across chunks)."""
    m = len(contacts.t)
    owner, reason = contacts.owner, contacts.reason
    chat = rng.random(m) < 0.1 + 0.35 * people.web[owner] + 0.1 * (people.segment[owner] <= 1)
    minutes = np.array([MINUTES[r] for r in REASONS])[reason] * np.where(chat, 1.4, 1.0)
    duration = np.maximum(np.round(rng.lognormal(np.log(minutes * 60), 0.5)), 30).astype(np.int32)
    product = _note_products(rng, people, contacts, episodes)
    agents = [f"rep-{number:03d}" for number in range(1, AGENTS + 1)]
    return pd.DataFrame(
        {
            "customer_id": people.ids[owner],
            "started_at": contacts.t.astype("datetime64[s]"),
            "channel": pd.Categorical.from_codes(chat.astype(np.int8), categories=CONTACT_CHANNELS),
            "reason": pd.Categorical.from_codes(reason, categories=REASONS),
            "duration_s": duration,
            "outcome": pd.Categorical.from_codes(contacts.outcome, categories=OUTCOMES),
            "note": _notes(rng, reason, contacts.outcome, product, contacts.charge, table),
            "agent": pd.Categorical.from_codes(rng.integers(0, AGENTS, m), categories=agents),
        }
    )
