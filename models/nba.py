"""Next best action: the products a customer does not hold yet, ranked by how likely they are to take one.

The starting point is how common the product is in the customer's persona (its adoption, the heatmap's
cell). Interest then raises it: each visit to the product's pages removes :data:`CLICK_WEIGHT` of the
remaining doubt, and a need stated in a survey removes :data:`NEED_WEIGHT` of it. Products the customer
holds or is not eligible for are never offered. The weights are stated assumptions, not fitted; the
evaluation measures how often the top three contain the product the customer was truly about to buy.

Offers made in past calls close the loop (:func:`learn_outcomes`): once training customers have answered
:data:`MIN_OUTCOMES` offers (accepted or declined), the offers are ranked by the chance of acceptance learnt
from those answers: from the propensity, and from how much more or less often each persona accepted each
product than the propensity said (shrunk towards the propensity where there are few answers). Below the
threshold the ranking is the propensity's.

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
MIN_OUTCOMES = 1_000  # decided outcomes (accepted or declined) of training customers before they count
SHIFT_PRIOR = 1.0  # variance of the prior of a persona and product's log-odds shift (L2: C)
SLOPE_SCALE = 10.0  # the propensity's log-odds enter times this: a small weight the L2 prior barely holds
LOGIT_STEP = 0.05  # outcomes are grouped by their propensity's log-odds to this step for the fit
EDGE = 1e-4  # propensities are kept this far from 0 and 1 before taking log-odds
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
    score: float  # propensity, 0..1, or the chance of acceptance once outcomes count (win-back: the share of
    # the persona holding the product; service and retention: how likely the reason for the call is)
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


@dataclass(frozen=True)
class OutcomeModel:
    """What the recorded answers to offers say about the propensity (see :func:`learn_outcomes`): the chance
    that a customer accepts an offer, logit = intercept + slope · logit(propensity) + the shift of their
    persona and the product."""

    intercept: float
    slope: float
    shifts: np.ndarray  # personas x products, log-odds
    accepted: np.ndarray  # personas x products: the outcomes learnt from, accepted
    decided: np.ndarray  # personas x products: the outcomes learnt from, accepted or declined

    def score(self, scores: np.ndarray, persona: np.ndarray | int) -> np.ndarray:
        """The chance of acceptance of each product (0 where the propensity is 0: never offered)."""
        p = np.clip(scores, EDGE, 1 - EDGE)
        logit = self.intercept + self.slope * np.log(p / (1 - p)) + self.shifts[persona]
        return np.where(scores > 0, 1 / (1 + np.exp(-logit)), 0.0)

    def record(self, persona: int, product: int) -> str:
        """What the persona answered to the product's offers, in words ("" when never offered)."""
        decided = int(self.decided[persona, product])
        if not decided:
            return ""
        return f"their persona accepted {int(self.accepted[persona, product]):,} of {decided:,} such offers"

    def describe(self) -> dict:
        return {
            "intercept": self.intercept,
            "slope": self.slope,
            "shifts": self.shifts.tolist(),
            "accepted": self.accepted.tolist(),
            "decided": self.decided.tolist(),
        }

    @classmethod
    def from_meta(cls, record: dict | None) -> OutcomeModel | None:
        if record is None:
            return None
        return cls(
            float(record["intercept"]),
            float(record["slope"]),
            np.asarray(record["shifts"], dtype=float),
            np.asarray(record["accepted"], dtype=np.int64),
            np.asarray(record["decided"], dtype=np.int64),
        )


def learn_outcomes(
    persona: np.ndarray, product: np.ndarray, accepted: np.ndarray, scores: np.ndarray, k: int
) -> OutcomeModel | None:
    """Learn from decided outcomes how the propensity translates into acceptance, or None below
    :data:`MIN_OUTCOMES` of them (or when every answer was the same).

    One outcome per entry: the customer's ``persona``, the ``product`` offered, whether it was ``accepted``
    and the propensity the model gives it (``scores``); offers the model would never make (propensity 0) say
    nothing about it and are left out. A logistic regression on the propensity's log-odds, with one shift per
    persona and product, each shift under a normal prior of variance :data:`SHIFT_PRIOR` (L2): a cell with
    few outcomes stays near the propensity's word, one with many follows its own record.
    """
    from sklearn.linear_model import LogisticRegression  # see models/__init__.py

    if len(accepted) < MIN_OUTCOMES:
        return None
    scored = np.asarray(scores) > 0
    accepted = np.asarray(accepted, dtype=bool)[scored]
    if len(np.unique(accepted)) < 2:
        return None
    p = np.clip(np.asarray(scores)[scored], EDGE, 1 - EDGE)
    cell = np.asarray(persona)[scored] * len(PRODUCTS) + np.asarray(product)[scored]
    # Outcomes alike in cell, answer and log-odds (to LOGIT_STEP) are fitted once, weighted by their number:
    # the fit's size does not grow with the history.
    step = np.round(np.log(p / (1 - p)) / LOGIT_STEP).astype(np.int64)
    keys, count = np.unique(np.stack([cell, step, accepted]), axis=1, return_counts=True)
    size = k * len(PRODUCTS)
    inputs = np.zeros((keys.shape[1], 1 + size))
    inputs[:, 0] = keys[1] * LOGIT_STEP * SLOPE_SCALE
    inputs[np.arange(keys.shape[1]), 1 + keys[0]] = 1.0
    fit = LogisticRegression(C=SHIFT_PRIOR, max_iter=1_000).fit(inputs, keys[2] == 1, sample_weight=count)
    return OutcomeModel(
        float(fit.intercept_[0]),
        float(fit.coef_[0, 0] * SLOPE_SCALE),
        fit.coef_[0, 1:].reshape(k, len(PRODUCTS)),
        np.bincount(cell, weights=accepted, minlength=size).astype(np.int64).reshape(k, len(PRODUCTS)),
        np.bincount(cell, minlength=size).reshape(k, len(PRODUCTS)),
    )


def rank(scores: np.ndarray) -> np.ndarray:
    """Product indices by descending propensity per row (ties in catalogue order)."""
    return np.argsort(-scores, axis=1, kind="stable")


def ranking_change(before: np.ndarray, after: np.ndarray, chunk: int = 100_000) -> dict[str, float | None]:
    """How much ``after`` re-ranks ``before`` (both n x 12), over customers with any product to offer:
    the share whose first offer changed, the share whose top three changed (as a set), and the mean Kendall
    tau (tau-a) between the two rankings of each customer's products on offer (1: unchanged)."""
    offered = before > 0
    rows = np.flatnonzero(offered.any(axis=1))
    if not len(rows):
        return {"first_offer_changed": None, "top3_changed": None, "kendall_tau": None}
    first, top, taus = 0, 0, []
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        b, a, on = before[part], after[part], offered[part]
        order_b, order_a = rank(b), rank(a)
        first += int((order_b[:, 0] != order_a[:, 0]).sum())
        top_b = np.sort(np.where(np.take_along_axis(on, order_b[:, :TOP], 1), order_b[:, :TOP], -1), axis=1)
        top_a = np.sort(np.where(np.take_along_axis(on, order_a[:, :TOP], 1), order_a[:, :TOP], -1), axis=1)
        top += int((top_b != top_a).any(axis=1).sum())
        pairs = on[:, :, None] & on[:, None, :] & np.triu(np.ones((len(PRODUCTS),) * 2, bool), 1)
        agree = np.sign(b[:, :, None] - b[:, None, :]) * np.sign(a[:, :, None] - a[:, None, :])
        count = pairs.sum(axis=(1, 2))
        ranked = count > 0
        taus.append((agree * pairs).sum(axis=(1, 2))[ranked] / count[ranked])
    tau = np.concatenate(taus)
    return {
        "first_offer_changed": first / len(rows),
        "top3_changed": top / len(rows),
        "kendall_tau": float(tau.mean()) if len(tau) else None,
    }


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
    outcomes: OutcomeModel | None = None,
    persona: int = 0,
) -> list[Offer]:
    """The top offers for one customer with a one-line reason each (see :func:`interest` for ``clicks``);
    with ``outcomes`` ranked by the chance of acceptance in their ``persona``."""
    scores = propensity(holds[None, :], np.array([age]), adoption[None, :], clicks[None, :], needs[None, :])[
        0
    ]
    if outcomes is not None:
        scores = outcomes.score(scores, persona)
    chosen = [i for i in rank(scores[None, :])[0][:TOP] if scores[i] > 0]
    return [
        Offer(
            PRODUCTS[i],
            LABELS[PRODUCTS[i]],
            float(scores[i]),
            _reason(i, clicks, windows, needs, adoption, outcomes.record(persona, i) if outcomes else ""),
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


def _reason(
    i: int, clicks: np.ndarray, windows: list[str], needs: np.ndarray, adoption: np.ndarray, record: str
) -> str:
    parts = []
    if clicks[i] > 0:
        parts.append(f"browsed {LABELS[PRODUCTS[i]]} pages {int(clicks[i])}× {windows[i]}")
    if needs[i]:
        parts.append("said in a survey they need it")
    parts.append(f"{adoption[i]:.0%} of their persona hold one")
    if record:
        parts.append(record)
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
