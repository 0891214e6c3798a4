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

# The windows of history each source keeps, counted back from the day a customer was last observed.
CLICK_DAYS = 30  # the website keeps 30 days of clicks
TRANSACTION_DAYS = 365  # card transactions: the last twelve months
SURVEY_DAYS = 360  # survey answers: twelve 30-day months
DAYS_PER_MONTH = 30.44


def left_on_sql(status: str = "status", closed_date: str = "closed_date") -> str:
    """The former-customer rule as an SQL aggregate over a customer's accounts: the day the last account
    closed when every account is closed, else NULL (an active customer, or no account at all)."""
    return f"CASE WHEN bool_and({status}::VARCHAR = '{CLOSED}') THEN max({closed_date})::DATE END"


def label(product: str) -> str:
    """The display label of a product key (the key itself when unknown, so nothing is hidden)."""
    return LABELS.get(product, product)
