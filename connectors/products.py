"""The bank's product catalogue: the original demo's 12 click-stream product keys, in its order.

Every source names products by these keys (holdings, clicks, survey needs), so joins across sources
work without mapping tables, and the dashboard shows the labels.
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


def label(product: str) -> str:
    """The display label of a product key (the key itself when unknown, so nothing is hidden)."""
    return LABELS.get(product, product)
