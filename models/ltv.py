"""Lifetime value: the customer's own spend rate, projected over the relationship the churn model expects.

The spend rate is fitted to the customer's card transactions of the last twelve months (the "Spend Rate"
plot): a monthly rate that changes in a straight line over the window, its level from the total spent and
its slope from *when* the card was used (the mean position of the transactions in the window; evenly spread
use means no trend). A few transactions say little about a trend, so the slope is shrunk toward zero by how
much trends really vary between customers (empirical Bayes, estimated at training time). Today's rate is the
line's value at the end of the window.

The batch (every customer, from :mod:`connectors.features` aggregates) and the plot of one customer (from
their transactions) go through the same :func:`rate_estimate`, so the number on screen matches the line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from connectors.catalog import DAYS_PER_MONTH, TRANSACTION_DAYS

MIN_TRANSACTIONS = 3
MIN_HISTORY_DAYS = 60
MAX_MONTHS = 120.0  # a relationship is projected over ten years at most
MAX_TREND = 0.95
POSITION_VARIANCE = 1 / 12  # variance of a uniform position: the noise of one transaction's timing
ASSUMPTIONS = (
    "Today's card spend rate (a straight-line fit of the last 12 months, trend shrunk toward zero when "
    "there are few transactions) continues unchanged for the expected remaining relationship: "
    "1 / monthly churn hazard, where the monthly hazard turns the churn model's 12-month probability into "
    f"a constant monthly one, capped at {MAX_MONTHS / 12:.0f} years; no discounting, no new products."
)


@dataclass(frozen=True)
class RateEstimate:
    """Spend-rate figures of many customers at once (arrays) or of one (length-1 arrays)."""

    average_monthly: np.ndarray
    trend: np.ndarray  # today's rate relative to the window's average: +0.3 is 30% above it
    monthly_rate: np.ndarray  # today's rate
    enough_history: np.ndarray


def trend_prior_variance(position: np.ndarray, transactions: np.ndarray) -> float:
    """How much spending trends truly vary between customers: observed variance minus timing noise."""
    many = transactions >= 5
    if many.sum() < 10:
        return 0.05
    raw = _raw_trend(position[many])
    noise = 36 * POSITION_VARIANCE / transactions[many]
    return float(max(raw.var() - noise.mean(), 0.01))


def _raw_trend(position: np.ndarray) -> np.ndarray:
    """Slope of a straight-line rate from the mean position: E[position] = 1/2 + slope/6."""
    return 6 * (position - 0.5)


def rate_estimate(
    transactions: np.ndarray,
    spend: np.ndarray,
    position: np.ndarray,
    history_days: np.ndarray,
    prior_variance: float,
) -> RateEstimate:
    """Average and today's monthly spend rate from a window's count, total and mean transaction position."""
    transactions = np.asarray(transactions, dtype=float)
    months = np.asarray(history_days, dtype=float) / DAYS_PER_MONTH
    average = np.asarray(spend, dtype=float) / months
    noise = 36 * POSITION_VARIANCE / np.maximum(transactions, 1)
    shrink = np.where(transactions > 0, prior_variance / (prior_variance + noise), 0.0)
    trend = np.clip(_raw_trend(np.asarray(position, dtype=float)) * shrink, -MAX_TREND, MAX_TREND)
    enough = (transactions >= MIN_TRANSACTIONS) & (np.asarray(history_days) >= MIN_HISTORY_DAYS)
    return RateEstimate(average, trend, average * (1 + trend), enough)


def expected_months(churn_probability: np.ndarray) -> np.ndarray:
    """Expected remaining months for a 12-month churn probability, with a constant monthly hazard."""
    p = np.clip(np.asarray(churn_probability, dtype=float), 0.0, 1.0 - 1e-9)
    monthly_hazard = 1 - (1 - p) ** (1 / 12)
    return np.minimum(1 / np.maximum(monthly_hazard, 1e-9), MAX_MONTHS)


def lifetime_value(rate: RateEstimate, churn_probability: np.ndarray) -> np.ndarray:
    """Today's monthly rate times the expected remaining months; NaN where history is too short."""
    value = rate.monthly_rate * expected_months(churn_probability)
    return np.where(rate.enough_history, value, np.nan)


def not_enough_history(transactions: int, history_days: int) -> str:
    """Why there is no lifetime value, in words for the screen."""
    if transactions == 0:
        return "not enough history: no card spending in the last 12 months"
    if history_days < MIN_HISTORY_DAYS:
        return f"not enough history: a customer for {history_days} days ({MIN_HISTORY_DAYS} needed)"
    return f"not enough history: {transactions} card transactions in the last 12 months ({MIN_TRANSACTIONS} needed)"


@dataclass(frozen=True)
class SpendRate:
    """What the Spend Rate plot draws for one customer: actual, fitted and projected cumulative spend."""

    cumulative: pd.DataFrame  # date, cumulative: the customer's spending within the window
    fitted: pd.DataFrame  # date, cumulative: the fitted straight-line rate, integrated over the window
    projection: pd.DataFrame  # date, cumulative: today's rate carried forward
    monthly_rate: float
    average_monthly: float
    trend: float
    enough_history: bool
    note: str


def no_spending() -> pd.DataFrame:
    """A spend line with no points, in the shape of ``SpendRate``'s frames (date, cumulative)."""
    return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "cumulative": pd.Series(dtype=float)})


def spend_rate(
    transactions: pd.DataFrame,
    as_of: date,
    history_days: int | None,
    prior_variance: float,
    horizon_months: float = 6.0,
    points: int = 60,
) -> SpendRate:
    """Fit one customer's spend rate from their transactions (columns date, amount).

    ``history_days`` is the length of their window (twelve months, or less for a newer customer); when
    unknown, it starts at their first transaction.
    """
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(transactions["date"]).dt.normalize(),
            "amount": pd.to_numeric(transactions["amount"], errors="coerce"),
        }
    )
    end = pd.Timestamp(as_of)
    days_ago = (end - frame["date"]).dt.days.to_numpy()
    if history_days is None:
        history_days = int(min(TRANSACTION_DAYS, max(days_ago.max(initial=1), 1)))
    keep = (frame["amount"].to_numpy() > 0) & (days_ago >= 1) & (days_ago <= history_days)
    frame = frame[keep].sort_values("date", kind="stable")
    position = (history_days - days_ago[keep] + 0.5) / history_days
    spend = float(frame["amount"].sum())
    rate = rate_estimate(
        np.array([len(frame)]),
        np.array([spend]),
        np.array([position.mean() if len(frame) else 0.5]),
        np.array([history_days]),
        prior_variance,
    )
    cumulative = pd.DataFrame({"date": frame["date"], "cumulative": frame["amount"].cumsum()}).reset_index(
        drop=True
    )
    enough = bool(rate.enough_history[0])
    if not enough:
        return SpendRate(
            cumulative,
            no_spending(),
            no_spending(),
            float(rate.monthly_rate[0]),
            float(rate.average_monthly[0]),
            float(rate.trend[0]),
            False,
            not_enough_history(len(frame), history_days),
        )
    trend = float(rate.trend[0])
    days = np.unique(np.round(np.linspace(0, history_days, points)))
    x = days / history_days
    fitted = pd.DataFrame(
        {
            "date": end - timedelta(days=history_days) + pd.to_timedelta(days, unit="D"),
            "cumulative": spend * (x + trend * (x * x - x)),
        }
    )
    ahead = np.unique(np.round(np.linspace(0, horizon_months * DAYS_PER_MONTH, max(points // 4, 2))))
    projection = pd.DataFrame(
        {
            "date": end + pd.to_timedelta(ahead, unit="D"),
            "cumulative": spend + float(rate.monthly_rate[0]) * ahead / DAYS_PER_MONTH,
        }
    )
    return SpendRate(
        cumulative,
        fitted,
        projection,
        float(rate.monthly_rate[0]),
        float(rate.average_monthly[0]),
        trend,
        True,
        "",
    )
