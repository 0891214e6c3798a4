"""The generator's vocabulary: the true customer segments, spending amounts, payees, devices and the
phrases survey comments are made of. Only the generator reads it; the sources' shared names (products,
categories, pages) are in :mod:`connectors.catalog`.
"""

from __future__ import annotations

from dataclasses import dataclass


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
        name="Students and starters",
        share=0.15,
        age=(18, 26),
        tenure_years=2.0,
        card_spend=650,
        tx_per_month=2.4,
        web_activity=5.5,
        churn_base=-0.9,
        mood=0.2,
        adoption={
            "debit_card": 0.95,
            "personal_credit_card": 0.45,
            "auto_loan": 0.08,
            "medical_insurance": 0.15,
            "automobile_insurance": 0.2,
            "roth_ira": 0.05,
        },
        categories={
            "Dining": 0.3,
            "Entertainment": 0.2,
            "Groceries": 0.2,
            "Clothing": 0.15,
            "Auto:Fuel": 0.05,
            "Utilities": 0.1,
        },
    ),
    Segment(
        name="Young professionals",
        share=0.22,
        age=(25, 38),
        tenure_years=5.0,
        card_spend=1900,
        tx_per_month=2.6,
        web_activity=4.5,
        churn_base=-1.4,
        mood=0.1,
        adoption={
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
        categories={
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
        name="Families and homeowners",
        share=0.25,
        age=(32, 55),
        tenure_years=11.0,
        card_spend=3200,
        tx_per_month=2.7,
        web_activity=2.8,
        churn_base=-2.3,
        mood=0.0,
        adoption={
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
        categories={
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
        name="Affluent investors",
        share=0.13,
        age=(45, 72),
        tenure_years=16.0,
        card_spend=5200,
        tx_per_month=2.2,
        web_activity=1.8,
        churn_base=-2.6,
        mood=0.3,
        adoption={
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
        categories={
            "Travel": 0.3,
            "Dining": 0.25,
            "Household": 0.15,
            "Entertainment": 0.1,
            "Clothing": 0.1,
            "Health": 0.1,
        },
    ),
    Segment(
        name="Small-business owners",
        share=0.1,
        age=(30, 62),
        tenure_years=8.0,
        card_spend=6400,
        tx_per_month=3.0,
        web_activity=3.5,
        churn_base=-1.7,
        mood=-0.2,
        adoption={
            "debit_card": 0.9,
            "business_credit_card": 0.88,
            "personal_credit_card": 0.6,
            "auto_loan": 0.3,
            "medical_insurance": 0.55,
            "brokerage_account": 0.2,
            "automobile_insurance": 0.5,
        },
        categories={
            "Business Expenses": 0.5,
            "Travel": 0.15,
            "Auto:Fuel": 0.15,
            "Dining": 0.1,
            "Utilities": 0.1,
        },
    ),
    Segment(
        name="Retirees",
        share=0.15,
        age=(63, 90),
        tenure_years=24.0,
        card_spend=1300,
        tx_per_month=1.8,
        web_activity=1.2,
        churn_base=-2.4,
        mood=0.35,
        adoption={
            "debit_card": 0.9,
            "life_insurance": 0.5,
            "medical_insurance": 0.75,
            "home_insurance": 0.65,
            "brokerage_account": 0.3,
            "personal_credit_card": 0.5,
            "automobile_insurance": 0.5,
        },
        categories={
            "Groceries": 0.3,
            "Health": 0.25,
            "Utilities": 0.15,
            "Household": 0.15,
            "Dining": 0.1,
            "Travel": 0.05,
        },
    ),
)

CATEGORY_MEANS: dict[str, float] = {  # mean amount of one card transaction, per catalog.CATEGORY_NAMES
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
# When a bank's website is busy, by hour of the day (relative; the click times carry no time zone): quiet
# at night, a morning rise, a plateau through the working day and an evening peak.
# fmt: off
VISIT_HOUR_WEIGHT = (
    2.0, 1.3, 0.9, 0.7, 0.7, 1.0, 1.8, 3.0, 4.3, 5.2, 5.6, 5.8,  # midnight to 11 am
    6.0, 5.9, 5.7, 5.5, 5.3, 5.2, 5.4, 5.9, 6.2, 5.6, 4.4, 3.0,  # noon to 11 pm
)
# fmt: on
CLICKS_PER_VISIT = 3.0  # on average; a visit's clicks follow each other by about CLICK_GAP_S seconds
CLICK_GAP_S = 40.0
SENTIMENTS = ("NEGATIVE", "NEUTRAL", "POSITIVE")
OPTIONAL_FIELDS = ("middle_name", "preferred_contact", "employer", "annual_income", "marketing_opt_in")

COMMENT_PHRASES: dict[str, tuple[str, ...]] = {
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
PRODUCT_MENTIONS = (
    "about my {p}",
    "regarding the {p}",
    "with the {p}",
    "for my {p}",
)

# Payees of unusual charges: merchants a customer has never paid, as card statements show them.
UNUSUAL_PAYEES: tuple[str, ...] = tuple(
    f"{prefix}{name} {1000 + (37 * i + 11 * j) % 9000:04d}"
    for i, prefix in enumerate(("SQ *", "PAYPAL *", "INTL POS ", "WEB*", "TST* ", "SP "))
    for j, name in enumerate(
        (
            "NOVA TRADING",
            "BRIGHTSTAR",
            "GLOBALMART",
            "QUICKSHIP",
            "LUXE DIRECT",
            "ORBIT GAMES",
            "PRIME GADGETS",
            "SILVERLINE",
            "ZENITH TICKETS",
            "MEGASTORE",
            "BLUEWAVE",
            "NORTHWIND",
        )
    )
)
UNUSUAL_CATEGORIES = ("Clothing", "Entertainment", "Household", "Travel")
FEE_AMOUNTS = (29.0, 35.0, 39.0)  # late-payment and overdraft fees; travel charges pay a 3% foreign fee
FOREIGN_FEE = 0.03
AGENTS = 240  # representatives of the contact center, named rep-001 ...

# Agent notes, per reason: a few variants; {product} is the product the contact was about.
NOTES: dict[str, tuple[str, ...]] = {
    "card_lost_stolen": (
        "Card reported lost; blocked it and ordered a replacement.",
        "Card stolen while travelling; blocked it, replacement sent by express.",
        "Could not find their card; froze it in the app until it turns up.",
    ),
    "disputed_transaction": (
        "Disputed a card charge they do not recognise; provisional credit issued.",
        "Charged twice by a merchant; dispute opened.",
        "Disputed a charge for an order that never arrived; dispute opened.",
    ),
    "fraud_alert": (
        "Returned our fraud alert; the flagged charge was not theirs, card replaced.",
        "Fraud alert on their card; went through recent charges together.",
        "Called about a fraud alert text; confirmed the charges were theirs.",
    ),
    "fees": (
        "Asked about a fee on the statement; explained it.",
        "Upset about a fee; refunded it once as a courtesy.",
        "Asked how to avoid the monthly fee.",
    ),
    "close_account": (
        "Wants to close the {product}; offered to review the rates first.",
        "Asked how to close the {product} and move the money out.",
        "Comparing other banks; asked about closing the {product}.",
    ),
    "loan_question": (
        "Questions about {product} rates and terms.",
        "Asked what a {product} would cost per month.",
        "Asked about paying the {product} off early.",
    ),
    "application_help": (
        "Stuck on the online {product} application; walked through the remaining steps.",
        "{product} application stopped at the document upload; helped finish it.",
        "Asked what is still missing from their {product} application.",
    ),
    "online_banking_access": (
        "Locked out of online banking; reset the password.",
        "Could not sign in on a new phone; re-enrolled two-step verification.",
        "Setting up online banking for a new account.",
    ),
    "contact_details_change": (
        "Moved house; updated the address.",
        "New phone number and email; updated both.",
        "Changed their name after marriage; updated the records.",
    ),
    "payment_issue": (
        "A {product} payment did not go through; rescheduled it.",
        "Transfer delayed; traced it and confirmed the new date.",
        "Set up automatic {product} payments.",
    ),
    "rates_question": (
        "Asked about current {product} rates.",
        "Compared our {product} rates with another bank's offer.",
        "Asked when {product} rates will change.",
    ),
    "general_question": (
        "General question about branch hours.",
        "Asked how to order a statement copy.",
        "Question about a letter they received.",
    ),
}
# The note of a contact about one charge names it; {amount} and {payee} come from the transaction.
CHARGE_NOTES: dict[str, str] = {
    "disputed_transaction": "Disputed the ${amount} charge at {payee}; provisional credit issued, card replaced.",
    "fraud_alert": "Returned our alert on the declined ${amount} charge at {payee}; not theirs, card replaced.",
    "fees": "Asked about the ${amount} fee with their {payee} charge; explained it.",
}
OUTCOME_NOTES = {
    "resolved": "",
    "follow_up": " Follow-up booked.",
    "transferred": " Transferred to a specialist.",
}
