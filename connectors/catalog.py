"""The bank's vocabulary that every source shares: products, spending categories, the website's pages, the
account statuses, the contact center's reasons, channels and outcomes, the windows of history each source
keeps, and the rules more than one reader applies (a former customer, a large or unusual charge). One
definition each.

Every source names products by the original demo's 12 click-stream product keys (holdings, clicks, survey
needs), so joins across sources work without mapping tables, and the dashboard shows the labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PRODUCTS: tuple[str, ...] = (
    "debit_card",
    "personal_credit_card",
    "business_credit_card",
    "home_mortgage_loan",
    "auto_loan",
    "brokerage_account",
    "roth_ira",
    "401k",
    "home_insurance",
    "automobile_insurance",
    "medical_insurance",
    "life_insurance",
)

LABELS: dict[str, str] = {
    "debit_card": "Debit Card",
    "personal_credit_card": "Personal Credit Card",
    "business_credit_card": "Business Credit Card",
    "home_mortgage_loan": "Home Mortgage Loan",
    "auto_loan": "Auto Loan",
    "brokerage_account": "Brokerage Account",
    "roth_ira": "Roth IRA",
    "401k": "401k",
    "home_insurance": "Home Insurance",
    "automobile_insurance": "Automobile Insurance",
    "medical_insurance": "Medical Insurance",
    "life_insurance": "Life Insurance",
}

# What a customer says they need, in their words (survey "needs"), and the products that answer it.
NEEDS: dict[str, tuple[str, ...]] = {
    "Everyday banking and a card that works abroad": ("debit_card",),
    "To build my credit history": ("personal_credit_card",),
    "To separate business and personal spending": ("business_credit_card",),
    "To buy a home": ("home_mortgage_loan", "home_insurance"),
    "To finance a new car": ("auto_loan", "automobile_insurance"),
    "To invest my savings": ("brokerage_account",),
    "To save for retirement": ("roth_ira", "401k"),
    "Home, car, and property insurance": ("home_insurance", "automobile_insurance"),
    "Health cover for my family": ("medical_insurance",),
    "To protect my family if something happens to me": ("life_insurance",),
}

# Card transaction categories, as the core-banking tables name them.
CATEGORY_NAMES: tuple[str, ...] = (
    "Dining",
    "Groceries",
    "Auto:Fuel",
    "Entertainment",
    "Clothing",
    "Household",
    "Utilities",
    "Health",
    "Travel",
    "Business Expenses",
)

# The website's pages per product: /products/<product>/<page> to shop, /accounts/<product>/<page> to service
# an account or leave. Visits to the leaving pages are what churn learns from.
SITE = "https://www.c360bank.example"
SHOPPING_PAGES: tuple[str, ...] = ("overview", "rates", "apply", "calculator", "faq")
SERVICING_PAGES: tuple[str, ...] = ("statements", "payments", "settings")
LEAVING_PAGES: tuple[str, ...] = ("close", "transfer-out", "compare-rates")
PAGES: tuple[str, ...] = SHOPPING_PAGES + SERVICING_PAGES + LEAVING_PAGES
# The pages a customer's timeline names in each web session: they say what the visit was for.
NOTABLE_PAGES: tuple[str, ...] = ("apply", "close", "transfer-out")
SESSION_GAP_MINUTES = 30  # clicks further apart than this are separate web sessions

# An account is open or closed; a customer whose every account is closed is a former customer.
OPEN, CLOSED = "open", "closed"
ACCOUNT_STATUSES: tuple[str, ...] = (OPEN, CLOSED)

# The contact center's vocabulary: why a customer called or chatted, through which channel, how it ended,
# and how a customer answered an offer a representative made.
CONTACT_REASONS: dict[str, str] = {
    "card_lost_stolen": "Card lost or stolen",
    "disputed_transaction": "Disputed transaction",
    "fraud_alert": "Fraud alert",
    "fees": "Fees",
    "close_account": "Close an account",
    "loan_question": "Loan or mortgage question",
    "application_help": "Application help",
    "online_banking_access": "Online-banking access",
    "contact_details_change": "Contact-details change",
    "payment_issue": "Payment or transfer issue",
    "rates_question": "Rates question",
    "general_question": "General question",
}
CONTACT_CHANNELS: tuple[str, ...] = ("phone", "chat")
CONTACT_OUTCOMES: dict[str, str] = {
    "resolved": "Resolved",
    "follow_up": "Follow-up",
    "transferred": "Transferred",
}
OFFER_RESPONSES: dict[str, str] = {
    "accepted": "Accepted",
    "declined": "Declined",
    "not_discussed": "Not discussed",
}

# Consent, as CRM documents may record it (either field may be missing: "not recorded"): whether the customer
# agreed to marketing, and how they prefer to be contacted.
MARKETING_OPT_IN, PREFERRED_CONTACT = "marketing_opt_in", "preferred_contact"


def opted_out(profile: dict) -> bool:
    """Whether the customer refused marketing (``marketing_opt_in`` false): they are offered service only,
    and the kiosk never shows them. Not recorded is no refusal. The one consent rule of the project."""
    return profile.get(MARKETING_OPT_IN) is False


# The windows of history each source keeps, counted back from the day a customer was last observed.
CLICK_DAYS = 30  # the website keeps 30 days of clicks
TRANSACTION_DAYS = 365  # card transactions: the last twelve months
SURVEY_DAYS = 360  # survey answers: twelve 30-day months
CONTACT_DAYS = 365  # the contact center's history: the last twelve months
CONTACT_COLUMNS: tuple[str, ...] = (  # a contact as the contact center keeps it (wrap-ups share these)
    "contact_id",
    "customer_id",
    "started_at",  # UTC
    "channel",
    "reason",
    "duration_s",
    "outcome",
    "note",
    "agent",
)

# A card charge is *large* when it is at least UNUSUAL_MIN dollars and UNUSUAL_FACTOR times what the customer
# usually spends in its category (the mean of their other charges there, when there are USUAL_CHARGES of
# them), or, in a category they seldom use, UNUSUAL_SELDOM_FACTOR times the mean of all their other charges;
# it is *unusual* when it is large and at a payee they had not paid on an earlier day.
UNUSUAL_MIN = 250.0
UNUSUAL_FACTOR = 5.0
UNUSUAL_SELDOM_FACTOR = 3.0
USUAL_CHARGES = 2
DAYS_PER_MONTH = 30.44


# What the bulk readers take from the JSON documents (structures for DuckDB's from_json, see
# connectors.jsonlines; every value VARCHAR, cast in SQL, so a value of another type reads as NULL).
PROFILE_FIELDS = {
    "gender": "VARCHAR",
    "birth_date": "VARCHAR",
    "first_visit": "VARCHAR",
    "web_user_id": "VARCHAR",
    "address": {"state": "VARCHAR"},
}
SURVEY_FIELDS = {
    "submitted": "VARCHAR",
    "rating": "VARCHAR",
    "comment": "VARCHAR",
    "needs": ["VARCHAR"],
    "channel": "VARCHAR",
}
CLICK_FIELDS = {"datetime": "VARCHAR", "product": "VARCHAR", "url": "VARCHAR"}


def left_on_sql(status: str = "status", closed_date: str = "closed_date") -> str:
    """The former-customer rule as an SQL aggregate over a customer's accounts: the day the last account
    closed when every account is closed, else NULL (an active customer, or no account at all)."""
    return f"CASE WHEN bool_and({status}::VARCHAR = '{CLOSED}') THEN max({closed_date})::DATE END"


def page_of(url: str) -> str:
    """The site's page a URL is on (``close``, ``apply``, ...), or "" for any other address."""
    page = str(url).rstrip("/").rsplit("/", 1)[-1]
    return page if page in PAGES else ""


def large_charge_threshold(
    category_total: np.ndarray, category_count: np.ndarray, total: np.ndarray, count: np.ndarray
) -> np.ndarray:
    """The amount from which a charge is large (see UNUSUAL_FACTOR), from the sum and the number of the
    customer's other charges in its category and in all (infinite when they have no other charge)."""
    usual = UNUSUAL_FACTOR * category_total / np.maximum(category_count, 1)
    seldom = np.where(count > 0, UNUSUAL_SELDOM_FACTOR * total / np.maximum(count, 1), np.inf)
    return np.maximum(UNUSUAL_MIN, np.where(category_count >= USUAL_CHARGES, usual, seldom))


def charge_flags(
    customer_ids: np.ndarray,
    days: np.ndarray,
    payees: np.ndarray,
    categories: np.ndarray,
    amounts: np.ndarray,
    declined: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Which card charges are large and which are unusual (see UNUSUAL_FACTOR), vectorised over many
    customers' transactions or one customer's; ``days`` are day numbers. A declined charge never reached the
    card, so it is nobody's usual spending, but it can be large or unusual itself."""
    customer = pd.factorize(np.asarray(customer_ids))[0].astype(np.int64)
    category = pd.factorize(np.asarray(categories))[0].astype(np.int64)
    amounts = np.asarray(amounts, dtype=float)
    charged = ~np.asarray(declined, dtype=bool)
    spent = np.where(charged, amounts, 0.0)

    def others(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The sum and the number of each charge's other charges in its group."""
        return np.bincount(group, weights=spent)[group] - spent, np.bincount(group, weights=charged)[
            group
        ] - charged

    in_category = customer * (category.max(initial=0) + 1) + category
    large = amounts >= large_charge_threshold(*others(in_category), *others(customer))
    payee = pd.factorize(np.asarray(payees))[0].astype(np.int64)
    pair = customer * (payee.max(initial=0) + 1) + payee
    days = np.asarray(days).astype(np.int64)
    first_day = pd.Series(days).groupby(pair).transform("min").to_numpy()
    return large, large & (days <= first_day)


def _codes(values: pd.Series) -> np.ndarray:
    """A column's values as something to group by: its codes when categorical (fast), else the values."""
    return values.cat.codes.to_numpy() if isinstance(values.dtype, pd.CategoricalDtype) else values.to_numpy()


def notable_charges(transactions: pd.DataFrame) -> pd.DataFrame:
    """The card charges worth a look, with their ``large`` and ``unusual`` flags (see UNUSUAL_FACTOR): those
    with a fee, declined, disputed or large. ``transactions`` has customer_id, date, payee, category, amount,
    fee, declined and disputed (one customer's or many customers')."""
    days = pd.to_datetime(transactions["date"]).to_numpy().astype("datetime64[D]").astype(np.int64)
    large, unusual = charge_flags(
        transactions["customer_id"].to_numpy(),
        days,
        _codes(transactions["payee"]),
        _codes(transactions["category"]),
        transactions["amount"].to_numpy(),
        transactions["declined"].to_numpy(dtype=bool),
    )
    keep = (transactions["fee"].to_numpy() > 0) | transactions["declined"].to_numpy(dtype=bool)
    keep |= transactions["disputed"].to_numpy(dtype=bool) | large
    return transactions[keep].assign(large=large[keep], unusual=unusual[keep]).reset_index(drop=True)


def label(product: str) -> str:
    """The display label of a product key (the key itself when unknown, so nothing is hidden)."""
    return LABELS.get(product, product)


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """How every message counts things: "1 customer", "2,999 customers" (``plural``: an irregular one)."""
    return f"{count:,} {noun if count == 1 else plural or noun + 's'}"
