"""Next best action: the products a customer does not hold yet, ranked by how likely they are to take one.

The starting point is how common the product is in the customer's persona (its adoption, the heatmap's
cell). Interest then raises it: each visit to the product's pages removes :data:`CLICK_WEIGHT` of the
remaining doubt, and a need stated in a survey removes :data:`NEED_WEIGHT` of it. Products the customer
holds or is not eligible for are never offered. The weights are stated assumptions, not fitted: the sources
hold no record of which offers were taken, so there is nothing honest to fit them to; the evaluation
measures how often the top three contain the product the customer was truly about to buy.

A former customer is offered their products back instead (win-back): those they held when they left and may
still have by age, the ones most common in their persona first.

The likely reason for the call (:mod:`models.reason`) then steers the list once it is at least
:data:`STEER_FROM` likely: someone calling about a problem (a disputed charge, fraud, a fee, a lost card, a
payment, signing in) gets no upsell first, their problem comes first; someone about to close an account is
offered to keep it first; someone asking about an application, a loan or rates gets the product they were
looking at first. Each offer's reason line says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np

from connectors.catalog import CONTACT_REASONS, LABELS, PRODUCTS

CLICK_WEIGHT = 0.35
HISTORY_WINDOW = "in the last 30 days"
NEED_WEIGHT = 0.5
TOP = 3
STEER_FROM = 0.3  # the likely reason steers the offers from this probability
RESOLVE_FIRST = (
    "card_lost_stolen",
    "disputed_transaction",
    "fraud_alert",
    "fees",
    "payment_issue",
    "online_banking_access",
)
RETAIN_FIRST = ("close_account",)
SELL_FIRST = ("application_help", "loan_question", "rates_question")
# product -> (oldest eligible age, why): lending and employer plans end with working life
MAX_AGE: dict[str, tuple[float, str]] = {
    "401k": (65, "employer retirement plans are for working-age customers"),
    "home_mortgage_loan": (75, "new mortgages are offered up to age 75"),
    "auto_loan": (80, "car loans are offered up to age 80"),
}


@dataclass(frozen=True)
class Offer:
    product: str  # "" for a service step (resolve the problem first)
    label: str
    score: float  # propensity, 0..1 (win-back: the share of the persona holding the product; service and
    # retention: how likely the reason for the call is)
    reason: str
    kind: str = "upsell"  # upsell, win-back, retention or service


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
            "win-back",
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


def steer(
    offers: list[Offer],
    reason: str,
    probability: float,
    held: np.ndarray,
    looked_at: list[str],
) -> list[Offer]:
    """The offers with the likely reason for the call taken into account (see the module's docstring).

    ``looked_at`` are the products of the pages that point to the reason this week, most recent first (the
    account they looked at closing, the product they applied for); ``held`` the products they hold.
    """
    if probability < STEER_FROM:
        return offers
    about = CONTACT_REASONS[reason].lower()
    likely = f"likely calling about {about} ({probability:.0%})"

    def after(prefix: str) -> list[Offer]:
        return [Offer(o.product, o.label, o.score, f"{prefix}: {o.reason}", o.kind) for o in offers]

    if reason in RESOLVE_FIRST:
        first = Offer(
            "",
            f"Resolve first: {CONTACT_REASONS[reason]}",
            probability,
            f"{likely}: no offer until it is sorted out",
            "service",
        )
        return [first, *after(f"after the {about} is sorted out")][: TOP + 1]
    if reason in RETAIN_FIRST and held.any():
        kept = [p for p in looked_at if held[PRODUCTS.index(p)]] or [PRODUCTS[int(np.flatnonzero(held)[0])]]
        product = kept[0]
        first = Offer(
            product,
            f"Keep their {LABELS[product]}",
            probability,
            f"{likely}: offer to keep the {LABELS[product]} first (review its rates and fees)",
            "retention",
        )
        return [first, *after("once they stay")][: TOP + 1]
    if reason in SELL_FIRST:
        wanted = [o for o in offers if o.product in looked_at]
        if wanted:
            moved = [Offer(o.product, o.label, o.score, f"{likely}: {o.reason}", o.kind) for o in wanted]
            return moved + [o for o in offers if o.product not in looked_at]
    return offers


DO_NOT_PITCH = "service only — do not pitch"
SERVICE_KINDS = ("service", "retention")  # steps that sell nothing new


def respect_consent(offers: list[Offer], opted_out: bool) -> list[Offer]:
    """For a customer who refused marketing (``catalog.opted_out``): the service steps first, then the
    products marked :data:`DO_NOT_PITCH` (kind ``do-not-pitch``), so no upsell leads the list; with no service
    step, a "service only" line leads it."""
    if not opted_out:
        return offers
    steps = [offer for offer in offers if offer.kind in SERVICE_KINDS]
    marked = [
        Offer(
            o.product, o.label, o.score, f"{DO_NOT_PITCH}: opted out of marketing; {o.reason}", "do-not-pitch"
        )
        for o in offers
        if o.kind not in SERVICE_KINDS
    ]
    lead = steps or [
        Offer("", "Service only", 0.0, "opted out of marketing: help with the call, do not pitch", "service")
    ]
    return [*lead, *marked]
