"""Next best action: the products a customer does not hold yet, ranked by how likely they are to take one.

The starting point is how common the product is in the customer's persona (its adoption, the heatmap's
cell). Interest then raises it: each visit to the product's pages removes :data:`CLICK_WEIGHT` of the
remaining doubt, and a need stated in a survey removes :data:`NEED_WEIGHT` of it. Products the customer
holds or is not eligible for are never offered. The weights are stated assumptions, not fitted: the sources
hold no record of which offers were taken, so there is nothing honest to fit them to; the evaluation
measures how often the top three contain the product the customer was truly about to buy.

A former customer is offered their products back instead (win-back): those they held when they left and may
still have by age, the ones most common in their persona first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from connectors.catalog import LABELS, PRODUCTS

CLICK_WEIGHT = 0.35
HISTORY_WINDOW = "in the last 30 days"
NEED_WEIGHT = 0.5
TOP = 3
# product -> (oldest eligible age, why): lending and employer plans end with working life
MAX_AGE: dict[str, tuple[float, str]] = {
    "401k": (65, "employer retirement plans are for working-age customers"),
    "home_mortgage_loan": (75, "new mortgages are offered up to age 75"),
    "auto_loan": (80, "car loans are offered up to age 80"),
}


@dataclass(frozen=True)
class Offer:
    product: str
    label: str
    score: float  # propensity, 0..1 (a win-back offer: the share of the persona holding the product)
    reason: str


def eligible(ages: np.ndarray) -> np.ndarray:
    """Which products each customer may be offered by age, n x 12."""
    limits = np.array([MAX_AGE.get(p, (np.inf, ""))[0] for p in PRODUCTS])
    return np.asarray(ages, dtype=float)[:, None] < limits[None, :]


def propensity(
    holds: np.ndarray, ages: np.ndarray, adoption: np.ndarray, clicks: np.ndarray, needs: np.ndarray
) -> np.ndarray:
    """Propensity per customer and product (n x 12); 0 for products held or not eligible."""
    doubt = (1 - adoption) * (1 - CLICK_WEIGHT) ** clicks * (1 - NEED_WEIGHT) ** needs
    return np.where(holds | ~eligible(ages), 0.0, 1 - doubt)


def rank(scores: np.ndarray) -> np.ndarray:
    """Product indices by descending propensity per row (ties in catalogue order)."""
    return np.argsort(-scores, axis=1, kind="stable")


def interest(
    history: Mapping[str, int], live: Mapping[str, int] | None, live_window: str
) -> tuple[np.ndarray, list[str]]:
    """Clicks per product and the period each count covers: the 30-day history, or live browsing where
    it shows more (the larger of the two, so a replayed click is never counted twice)."""
    counts, windows = [], []
    for product in PRODUCTS:
        past, now = max(int(history.get(product, 0)), 0), max(int((live or {}).get(product, 0)), 0)
        counts.append(max(past, now))
        windows.append(live_window if now and now >= past else HISTORY_WINDOW)
    return np.array(counts, dtype=float), windows


def offers(
    holds: np.ndarray,
    age: float,
    adoption: np.ndarray,
    clicks: np.ndarray,
    windows: list[str],
    needs: np.ndarray,
) -> list[Offer]:
    """The top offers for one customer with a one-line reason each (see :func:`interest` for ``clicks``)."""
    scores = propensity(holds[None, :], np.array([age]), adoption[None, :], clicks[None, :], needs[None, :])[
        0
    ]
    chosen = [i for i in rank(scores[None, :])[0][:TOP] if scores[i] > 0]
    return [
        Offer(
            PRODUCTS[i], LABELS[PRODUCTS[i]], float(scores[i]), _reason(i, clicks, windows, needs, adoption)
        )
        for i in chosen
    ]


def win_back(held: np.ndarray, age: float, adoption: np.ndarray, closed_on: date) -> list[Offer]:
    """Win-back offers for a former customer: the products they held when they left (``held``)."""
    candidates = held & eligible(np.array([age]))[0]
    order = [i for i in rank(np.where(candidates, adoption, -1.0)[None, :])[0][:TOP] if candidates[i]]
    return [
        Offer(
            PRODUCTS[i],
            LABELS[PRODUCTS[i]],
            float(adoption[i]),
            f"win back: held one until {closed_on.isoformat()}; {adoption[i]:.0%} of their persona hold one",
        )
        for i in order
    ]


def _reason(i: int, clicks: np.ndarray, windows: list[str], needs: np.ndarray, adoption: np.ndarray) -> str:
    parts = []
    if clicks[i] > 0:
        parts.append(f"browsed {LABELS[PRODUCTS[i]]} pages {int(clicks[i])}× {windows[i]}")
    if needs[i]:
        parts.append("said in a survey they need it")
    parts.append(f"{adoption[i]:.0%} of their persona hold one")
    return "; ".join(parts)
