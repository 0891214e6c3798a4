"""The one door the dashboard uses to the models: load trained artifacts once, then look customers up.

Everything that can be computed in advance was computed by ``python -m models.train`` for every customer, so
:meth:`Insights.for_customer` is a lookup plus the live re-ranking of offers from what the customer is
browsing now, well under a millisecond. Nothing here trains, reads the sources or imports Panel.

Given the customer's 360 record (and the live stream's latest clicks), it also scores the likely reason for
their call now (:mod:`models.reason`), with the evidence in words, and lets it steer the offers.

A customer id the artifacts do not know (added to the data after training) raises
:class:`CustomerNotScored`, whose message says to retrain; every customer the artifacts know gets a complete
answer, with "not enough history" and "inferred" spelled out instead of NaN. A former customer (every
account closed) has no churn probability and no future value: their answer says when they left, and the
offers are win-back offers of the products they held.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from connectors.catalog import PRODUCTS, counted, opted_out
from connectors.layout import Layout
from models import artifacts, churn, ltv, nba, reason, sentiment
from models.artifacts import ModelsMissing
from models.heatmap import heatmap, table_from_counts

if TYPE_CHECKING:
    import holoviews as hv

__all__ = ["CustomerInsights", "CustomerNotScored", "Insights", "ModelsMissing"]

TOP_FACTORS = 3
CLEAR_SHARE = 2 / 3  # a sentiment label is stated as it is only when this share of the distribution says it


class CustomerNotScored(LookupError):
    """The artifacts have no scores for this customer (new since training): retrain to score them."""


@dataclass(frozen=True)
class ChurnFactor:
    name: str
    contribution: float  # log-odds added to the average customer's; positive raises the risk
    detail: str  # the customer's own value, in words


@dataclass(frozen=True)
class Churn:
    probability: float | None  # of leaving within a year, calibrated; None for a former customer
    label: str  # Low, Medium or High; "Left" for a former customer
    baseline: (
        float  # log-odds of the average customer: baseline + all contributions = log-odds of probability
    )
    factors: tuple[ChurnFactor, ...]  # every factor, largest effect first; none for a former customer
    closed_on: date | None = None  # the day a former customer's last account closed

    @property
    def top_factors(self) -> tuple[ChurnFactor, ...]:
        return self.factors[:TOP_FACTORS]

    @property
    def text(self) -> str:
        if self.closed_on is not None:
            return f"left on {self.closed_on.isoformat()}"
        return f"{self.probability:.0%} ({self.label})"


@dataclass(frozen=True)
class Sentiment:
    label: str  # NEGATIVE, NEUTRAL, POSITIVE, or UNKNOWN when nothing is known
    source: str  # "survey" or "inferred from persona"
    share: float  # the classifier's probability (survey) or the persona's share (inferred) of the label
    respondents: int  # the customer's answers (survey) or the persona's respondents (inferred)
    interval: tuple[float, float] | None  # 95% interval of the inferred share; None for a survey
    distribution: dict[str, float]

    @property
    def clear(self) -> bool:
        """Whether the label has a clear majority (:data:`CLEAR_SHARE`): otherwise opinion is mixed."""
        return self.share >= CLEAR_SHARE

    @property
    def summary(self) -> str:
        """What the distribution says: "positive", or "mixed — 50% positive" without a clear majority."""
        word = self.label.lower()
        return word if self.clear else f"mixed — {self.share:.0%} {word}"

    @property
    def text(self) -> str:
        if self.source == "survey":
            return self.summary
        if not self.respondents:
            return "unknown (no survey answers in this persona)"
        low, high = self.interval
        respondents = counted(self.respondents, "respondent")
        if self.clear:
            return f"{self.summary} (inferred: {self.share:.0%} of {respondents}, {low:.0%}–{high:.0%})"
        return f"{self.summary} (inferred from {respondents}, {low:.0%}–{high:.0%})"


@dataclass(frozen=True)
class Persona:
    id: int
    name: str
    distance: float  # to the persona's centre, in the model's scaled units
    runner_up: int
    runner_up_name: str
    runner_up_distance: float

    @property
    def text(self) -> str:
        return self.name


@dataclass(frozen=True)
class LifetimeValue:
    value: float | None  # dollars; None when there is not enough history
    monthly_rate: float | None  # today's card spend rate
    expected_months: float
    assumptions: str
    note: str  # why there is no value, or ""

    @property
    def text(self) -> str:
        return f"${self.value:,.0f}" if self.value is not None else self.note


@dataclass(frozen=True)
class CustomerInsights:
    customer_id: int
    churn: Churn
    sentiment: Sentiment
    persona: Persona
    offers: tuple[nba.Offer, ...]  # up to three (win-back if former); none when all eligible are held
    ltv: LifetimeValue
    model_version: str
    reasons: tuple[reason.Likely, ...] = ()  # the likely reasons for the call, most likely first
    reasons_note: str = ""  # what the reasons could not use (the contact history unavailable), or ""

    @property
    def former(self) -> bool:
        """The customer has left (every account closed on ``churn.closed_on``)."""
        return self.churn.closed_on is not None


class Insights:
    """Trained models of one data folder; build with :meth:`load`."""

    def __init__(self, run: Path, meta: dict, columns: dict[str, np.ndarray], stale: bool):
        self.run = run
        self.version: str = meta["version"]
        self.trained_at: str = meta["trained_at"]
        self.metrics: dict = meta["metrics"]
        self.stale = stale  # the data or the code changed since training: retrain
        self.as_of = date.fromisoformat(meta["as_of"])
        self._meta = meta
        self._columns = columns
        self._ids = columns["customer_id"]
        self._active = np.isnat(columns["closed_on"])
        self._names = [p["name"] for p in meta["personas"]]
        self._holders = np.asarray(meta["adoption"]["holders"], dtype=np.int64)
        self._sizes = np.asarray(meta["adoption"]["customers"], dtype=np.int64)
        self._adoption = self._holders / np.maximum(self._sizes, 1)[:, None]
        self._outcomes = nba.OutcomeModel.from_meta(meta["nba"]["outcomes"]["model"])  # None: too few yet
        self._sentiment_counts = np.asarray([p["sentiment_counts"] for p in meta["personas"]], dtype=np.int64)
        self._factor_names = list(meta["churn"]["factors"])
        self._trend_prior = float(meta["ltv"]["trend_prior_variance"])
        self._reason = reason.ReasonModel.from_meta(meta["reason"])
        self._scores: pd.DataFrame | None = None

    @classmethod
    def load(cls, data_dir: Path, folder: Path | None = None) -> Insights:
        """The current models of ``data_dir`` (or of ``folder``); ModelsMissing says how to train them."""
        folder = Path(folder) if folder else artifacts.models_dir(data_dir)
        run = artifacts.current(folder)
        if run is None:
            raise ModelsMissing(
                f"No trained models in {folder}: run `python -m models.train --data-dir {data_dir}` "
                "(`make demo` does it)"
            )
        meta = artifacts.read_meta(run)
        if meta.get("format") != artifacts.FORMAT:
            raise ModelsMissing(f"The models in {run} are of an older format: run `python -m models.train`")
        # Memory-mapped and read without copying: every server process on the machine shares these pages.
        table = pa.ipc.open_file(pa.memory_map(str(run / artifacts.SERVED))).read_all()
        columns = {name: table.column(name).to_numpy() for name in table.column_names}
        return cls(run, meta, columns, artifacts.is_stale(Layout(Path(data_dir)), folder))

    def _row(self, customer_id: int) -> int:
        row = int(np.searchsorted(self._ids, customer_id))
        if row >= len(self._ids) or self._ids[row] != customer_id:
            raise CustomerNotScored(
                f"Customer {customer_id} is not scored yet (new since the models were trained on "
                f"{self.trained_at}): retrain with `python -m models.train`"
            )
        return row

    def former_customers(self) -> np.ndarray:
        """The ids of the customers who had left (every account closed) when the models were trained."""
        return self._ids[~self._active]

    def standing(self, customer_ids: Iterable[int]) -> list[str]:
        """Each customer's standing, as the directory lists it: "active", "left YYYY-MM-DD" (a former
        customer) or "not scored yet" (new since training); one lookup for a whole page of rows."""
        ids = np.fromiter(customer_ids, dtype=np.int64)
        if not len(self._ids):
            return ["not scored yet"] * len(ids)
        rows = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        known = self._ids[rows] == ids
        closed = self._columns["closed_on"][rows]
        return [
            "not scored yet" if not scored else "active" if np.isnat(day) else f"left {_closed_on(day)}"
            for scored, day in zip(known, closed, strict=True)
        ]

    def for_customer(
        self,
        customer_id: int,
        recent_interest: Mapping[str, int] | None = None,
        interest_window: str = "in the last hour",
        record=None,
        live_clicks: pd.DataFrame | None = None,
        now: datetime | None = None,
    ) -> CustomerInsights:
        """All insights of one customer.

        ``recent_interest`` (product -> clicks, e.g. from the live stream over ``interest_window``) re-ranks
        the offers together with the 30-day click history the models were trained with: per product, the
        larger count counts. None uses the history alone.

        With ``record`` (their ``connectors.directory.CustomerRecord``) the likely reasons for their call are
        scored too, from their activity up to the data's today and the ``live_clicks`` (time UTC, product,
        url) of the hour before ``now`` (default: the clock's now), and the likely reason steers the offers;
        a customer who refused marketing (``catalog.opted_out``) is offered service only.
        """
        row = self._row(customer_id)
        c = {name: values[row] for name, values in self._columns.items()}
        persona = int(c["persona"])
        closed_on = _closed_on(c["closed_on"])
        if closed_on is not None:
            offers = nba.win_back(_bits(c["holds"]), float(c["age"]), self._adoption[persona], closed_on)
        else:
            history = {p: int(c[f"clicks_{p}"]) for p in PRODUCTS}
            clicks, windows = nba.interest(history, recent_interest, interest_window)
            offers = nba.offers(
                _bits(c["holds"]),
                float(c["age"]),
                self._adoption[persona],
                clicks,
                windows,
                _bits(c["needs"]),
                self._outcomes,
                persona,
            )
        reasons, note = (), ""
        if record is not None:
            activity = reason.customer_activity(record, self.as_of, live_clicks, now)
            at = reason.data_now(self.as_of)
            reasons = reason.likely_reasons(self._reason, activity, at)
            note = record.contacts_error or ""
            top = reasons[0]
            offers = nba.steer(
                list(offers),
                top.reason,
                top.probability if closed_on is None or top.reason in nba.RESOLVE_FIRST else 0.0,
                _bits(c["holds"]),
                reason.looked_at(activity, at, top.reason),
            )
            offers = nba.respect_consent(offers, opted_out(record.profile))
        return CustomerInsights(
            customer_id=int(customer_id),
            churn=self._churn(c, closed_on),
            sentiment=self._sentiment(c, persona),
            persona=Persona(
                persona,
                self._names[persona],
                float(c["persona_distance"]),
                int(c["runner_up"]),
                self._names[int(c["runner_up"])],
                float(c["runner_up_distance"]),
            ),
            offers=tuple(offers),
            ltv=self._ltv(c, closed_on),
            model_version=self.version,
            reasons=reasons,
            reasons_note=note,
        )

    def _churn(self, c: dict, closed_on: date | None) -> Churn:
        baseline = float(self._meta["churn"]["baseline_log_odds"])
        if closed_on is not None:
            return Churn(None, "Left", baseline, (), closed_on)
        probability = float(c["churn_risk"])
        details = _factor_details(c)
        factors = sorted(
            (
                ChurnFactor(name, float(c[f"factor_{i}"]), details.get(name, ""))
                for i, name in enumerate(self._factor_names)
            ),
            key=lambda f: -abs(f.contribution),
        )
        return Churn(probability, churn.risk_label(probability), baseline, tuple(factors))

    def _sentiment(self, c: dict, persona: int) -> Sentiment:
        own = np.array([c[f"sentiment_{label.lower()}"] for label in sentiment.LABELS], dtype=float)
        if not np.isnan(own).any():
            best = int(own.argmax())
            return Sentiment(
                sentiment.LABELS[best],
                "survey",
                float(own[best]),
                int(c["responses"]),
                None,
                dict(zip(sentiment.LABELS, own.tolist(), strict=True)),
            )
        counts = self._sentiment_counts[persona]
        n = int(counts.sum())
        if n == 0:
            return Sentiment("UNKNOWN", "inferred from persona", 0.0, 0, (0.0, 1.0), {})
        best = int(counts.argmax())
        return Sentiment(
            sentiment.LABELS[best],
            "inferred from persona",
            float(counts[best] / n),
            n,
            sentiment.wilson_interval(counts[best], n),
            dict(zip(sentiment.LABELS, (counts / n).tolist(), strict=True)),
        )

    def _ltv(self, c: dict, closed_on: date | None) -> LifetimeValue:
        value = float(c["ltv"])
        months = float(c["expected_months"])
        if closed_on is not None:
            return LifetimeValue(None, None, 0.0, ltv.ASSUMPTIONS, f"none: left on {closed_on.isoformat()}")
        if math.isnan(value):
            note = ltv.not_enough_history(int(c["transactions"]), int(c["history_days"]))
            return LifetimeValue(None, None, months, ltv.ASSUMPTIONS, note)
        return LifetimeValue(value, float(c["monthly_rate"]), months, ltv.ASSUMPTIONS, "")

    def scores(self) -> pd.DataFrame:
        """customer_id, churn_risk, persona, persona_name, ltv (NaN: not enough history) of every active
        customer; former customers have no risk or value left to score."""
        if self._scores is None:
            active = self._active
            persona = self._columns["persona"][active].astype(np.int64)
            self._scores = pd.DataFrame(
                {
                    "customer_id": self._ids[active],
                    "churn_risk": self._columns["churn_risk"][active],
                    "persona": persona,
                    "persona_name": pd.Categorical.from_codes(persona, categories=self._names),
                    "ltv": self._columns["ltv"][active],
                }
            )
        return self._scores.copy()

    def segments(self) -> pd.DataFrame:
        """Every scored customer's categories, as the customer map colours them: customer_id, sentiment
        (the survey's label, or the persona's most common one), churn (Low, Medium, High, or Left for a
        former customer), persona (its name) and persona_id; one vectorised pass, the same answers as
        :meth:`for_customer` gives one customer at a time."""
        persona = self._columns["persona"].astype(np.int64)
        own = np.column_stack([self._columns[f"sentiment_{label.lower()}"] for label in sentiment.LABELS])
        answered = ~np.isnan(own).any(axis=1)
        counts = self._sentiment_counts
        labels = (*sentiment.LABELS, "UNKNOWN")
        inferred = np.where(counts.sum(axis=1) > 0, counts.argmax(axis=1), len(sentiment.LABELS))
        feeling = np.where(answered, np.nan_to_num(own).argmax(axis=1), inferred[persona])
        thresholds = sorted(churn.RISK_LEVELS)  # Low from 0, then Medium, then High (churn.risk_label)
        levels = tuple(label for _, label in thresholds)
        risk = np.searchsorted([at for at, _ in thresholds[1:]], self._columns["churn_risk"], side="right")
        risk = np.where(self._active, risk, len(levels))
        return pd.DataFrame(
            {
                "customer_id": self._ids,
                "sentiment": pd.Categorical.from_codes(feeling, categories=labels),
                "churn": pd.Categorical.from_codes(risk, categories=(*levels, "Left")),
                "persona": pd.Categorical.from_codes(persona, categories=self._names),
                "persona_id": persona,
            }
        )

    def personas(self) -> pd.DataFrame:
        """One row per persona, of active customers: name, size, respondents and their sentiment shares,
        typical traits, mean churn risk."""
        counts = self._sentiment_counts
        respondents = counts.sum(axis=1)
        shares = counts / np.maximum(respondents, 1)[:, None]
        frame = pd.DataFrame(
            {
                "persona": [p["persona"] for p in self._meta["personas"]],
                "name": self._names,
                "size": [p["size"] for p in self._meta["personas"]],
                "respondents": respondents,
                **{label.lower(): shares[:, i] for i, label in enumerate(sentiment.LABELS)},
                "age": [p["age"] for p in self._meta["personas"]],
                "monthly_spend": [p["monthly_spend"] for p in self._meta["personas"]],
            }
        )
        active = self._active
        risk = pd.Series(self._columns["churn_risk"][active]).groupby(self._columns["persona"][active]).mean()
        frame["churn_risk"] = risk.reindex(frame["persona"]).to_numpy()
        return frame

    def heatmap(self, highlight_persona: int | None = None) -> hv.HeatMap:
        """Persona × product adoption, hover showing the numbers; optionally one persona highlighted."""
        return heatmap(table_from_counts(self._holders, self._sizes, self._names), highlight_persona)

    def spend_rate(
        self, transactions: pd.DataFrame, customer_id: int | None = None, horizon_months: float = 6.0
    ) -> ltv.SpendRate:
        """The Spend Rate plot's data from a customer's transactions (columns date, amount).

        With ``customer_id`` the window is the one their lifetime value was computed over, so the rate
        shown matches it; a former customer's window ends the day they left, with nothing projected.
        """
        if customer_id is None:
            return ltv.spend_rate(transactions, self.as_of, None, self._trend_prior, horizon_months)
        row = self._row(customer_id)
        history_days = int(self._columns["history_days"][row])
        closed_on = _closed_on(self._columns["closed_on"][row])
        if closed_on is None:
            return ltv.spend_rate(transactions, self.as_of, history_days, self._trend_prior, horizon_months)
        rate = ltv.spend_rate(transactions, closed_on, history_days, self._trend_prior, horizon_months)
        return dataclasses.replace(
            rate,
            projection=rate.projection.iloc[:0],
            note=f"left on {closed_on.isoformat()}: nothing projected",
        )


def _closed_on(value: np.datetime64) -> date | None:
    return None if np.isnat(value) else value.astype("datetime64[D]").item()


def _bits(mask: int) -> np.ndarray:
    return (int(mask) >> np.arange(len(PRODUCTS))) & 1 == 1


def _factor_details(c: dict) -> dict[str, str]:
    """Each churn factor's inputs for this customer, in words."""
    transactions, trend = int(c["transactions"]), float(c["trend"])
    if transactions == 0:
        trend_text = level_text = "no card spending in the last 12 months"
    else:
        direction = "above" if trend > 0 else "below"
        trend_text = (
            "card spending steady over the year"
            if abs(trend) < 0.03
            else f"card spending now {abs(trend):.0%} {direction} its 12-month average"
        )
        level_text = f"${float(c['average_monthly']):,.0f} a month over {transactions} card transactions"
    web = bool(c["has_web"])
    responses = int(c["responses"])
    return {
        "Spending trend": trend_text,
        "Spending level": level_text,
        "Leaving pages": f"{counted(int(c['leaving']), 'visit')} to closing, transfer-out or rate-comparison pages in 30 days"
        if web
        else "no web account",
        "Website activity": f"{counted(int(c['clicks']), 'page view')} in 30 days"
        if web
        else "no web account",
        "Products held": f"holds {int(c['products'])} of {len(PRODUCTS)} products",
        "Tenure": f"customer for {float(c['tenure_years']):.1f} years",
        "Age": f"age {int(c['age'])}",
        "Survey": f"rated the bank {float(c['rating']):.1f}/5 in {counted(responses, 'survey answer')}"
        if responses
        else "no survey answer",
    }
