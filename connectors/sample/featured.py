"""The caller the demo opens with, set up in one place.

Like the caller in the original demo's screenshot, Erika Gallardo leads the directory: a young professional
in Kansas City, Missouri, with a debit and a credit card, a little unhappy, about to look for a car loan on
the website, and still a customer. In the days before the call she compared her credit card's rates, looked
at closing it, and was charged $1,240 at a payee she had never paid; she has not called about any of it
yet. Everything else about her is drawn like anyone else's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.sample.places import Places
from connectors.sample.traits import PRODUCT_INDEX, People


@dataclass(frozen=True)
class FeaturedCaller:
    """Traits that override the drawn ones for one customer id."""

    customer_id: int = 1
    first: str = "Erika"
    last: str = "Gallardo"
    gender: str = "FEMALE"
    segment: int = 1  # Young professionals
    age_years: float = 34.2
    tenure_years: float = 6.5
    dissatisfaction: float = 1.1
    holds: tuple[str, ...] = ("debit_card", "personal_credit_card")
    opened_years: tuple[float, ...] = (6.4, 3.2)  # how long ago each account of ``holds`` was opened
    interest: str = "auto_loan"
    # Her lead-up to the call: web episodes (kind, days before today, product, page), one click each ...
    lead_up: tuple[tuple[str, float, str, str], ...] = (
        ("leaving", 6.3, "personal_credit_card", "compare-rates"),
        ("leaving", 4.2, "personal_credit_card", "compare-rates"),
        ("leaving", 2.4, "personal_credit_card", "compare-rates"),
        ("leaving", 0.9, "personal_credit_card", "close"),
    )
    # ... and an unusual card charge: (amount, days before today, payee, category).
    charge: tuple[float, float, str, str] | None = (1240.0, 1.3, "TST* ZENITH TICKETS 1236", "Entertainment")
    zip_code: str = "64111"  # Kansas City, MO: her address and coordinates are that ZIP code's own

    def apply(self, people: People) -> None:
        """Set her traits if this chunk holds her id: she browses the website and has not left."""
        rows = np.flatnonzero(people.ids == self.customer_id)
        if not len(rows):
            return
        row = rows[0]
        people.first[row], people.last[row], people.gender[row] = self.first, self.last, self.gender
        people.segment[row] = self.segment
        people.age_days[row] = self.age_years * 365.25
        people.tenure_days[row] = int(self.tenure_years * 365.25)
        held = [PRODUCT_INDEX[p] for p in self.holds]
        opened_days = np.array([round(years * 365.25) for years in self.opened_years])
        people.opened_after[row, held] = np.maximum(people.tenure_days[row] - opened_days, 0)
        people.dissatisfaction[row] = self.dissatisfaction
        people.holds[row] = False
        people.holds[row, held] = True
        people.interest[row] = PRODUCT_INDEX[self.interest]
        people.web[row] = True
        people.stays[row] = True

    def settle(self, places: pd.DataFrame, ids: np.ndarray, known: Places) -> None:
        """Give her the address of her ZIP code, at its centre, if this chunk's ``places`` hold her row."""
        rows = np.flatnonzero(ids == self.customer_id)
        if len(rows):
            places.iloc[rows[0]] = known.at(np.array([known.row_of(self.zip_code)])).iloc[0]


FEATURED_CALLER = FeaturedCaller()
