"""The bank's vocabulary that every source shares: products, spending categories, the website's pages, the
account statuses, and the windows of history each source keeps. One definition each.

Every source names products by the original demo's 12 click-stream product keys (holdings, clicks, survey
needs), so joins across sources work without mapping tables, and the dashboard shows the labels.
"""

from __future__ import annotations

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

# The windows of history each source keeps, counted back from the day a customer was last observed.
CLICK_DAYS = 30  # the website keeps 30 days of clicks
TRANSACTION_DAYS = 365  # card transactions: the last twelve months
SURVEY_DAYS = 360  # survey answers: twelve 30-day months
CONTACT_DAYS = 365  # the contact center's history: the last twelve months
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


def label(product: str) -> str:
    """The display label of a product key (the key itself when unknown, so nothing is hidden)."""
    return LABELS.get(product, product)
