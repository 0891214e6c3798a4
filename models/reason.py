"""What will she be asking about? The reason for a contact, from what the customer did in the days before it.

The inputs are the customer's own activity before the moment of a contact (:class:`connectors.features.
Activity`): their clicks by kind of page (leaving pages, applications, loans, rates, payments, settings) in
the last day and week (five count as many as more) and how long ago the latest was, fading over hours and
over a day; their notable card charges (fees, declined,
unusual and large ones) of the last days; accounts opened; sour survey answers; their past contacts, by
reason, and any follow-up still open; and who they are then (age, tenure, products held, a web login).
A multinomial logistic regression learns the reason from the bank's past contacts; its parameters travel in
the artifacts' ``meta.json`` and scoring is a dot product and a softmax in numpy.

The website keeps 30 days of clicks, so only the contacts of a customer's last 23 days have their whole week
of clicks before them; the others are learnt from with their clicks marked unknown, and the evaluation uses
the ones whose lead-up the sources hold (as it is when the customer on screen calls now).

For the customer on screen, "now" is the data's today (the manifest's ``as_of``) and the live stream's clicks
of the last hour come just before it; every evidence sentence is computed from the events it cites.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import pandas as pd

from connectors.catalog import (
    CLICK_DAYS,
    CONTACT_DAYS,
    CONTACT_REASONS,
    LEAVING_PAGES,
    PRODUCTS,
    SHOPPING_PAGES,
    label,
    notable_charges,
    page_of,
)
from connectors.features import Activity

REASONS: tuple[str, ...] = tuple(CONTACT_REASONS)
LOOKBACK_DAYS = 7  # the clicks of the week before a contact
KNOWN_FROM_DAYS = CLICK_DAYS - LOOKBACK_DAYS  # contacts of a customer's last 23 days have that week whole
LOANS = ("home_mortgage_loan", "auto_loan")
CLICK_GROUPS: tuple[str, ...] = ("leaving", "apply", "loan", "rates", "payments", "settings", "other")
CHARGE_GROUPS: tuple[str, ...] = ("fee", "declined", "unusual", "large")
TOP = 3
HOUR, DAY = 3600, 86_400
MAX_FIT_ROWS = 150_000  # contacts the regression is fitted on (every one whose lead-up is known, then others)
C = 0.3  # inverse regularisation strength


def click_group(product: str, page: str) -> str:
    """The kind of a click, as the reasons see it."""
    if page in LEAVING_PAGES:
        return "leaving"
    if page == "apply":
        return "apply"
    if product in LOANS and page in SHOPPING_PAGES:
        return "loan"
    if page in ("rates", "payments", "settings"):
        return page
    return "other"


def _seconds(values) -> np.ndarray:
    """Seconds since the epoch; -1 for a missing time."""
    times = pd.to_datetime(pd.Series(values), errors="coerce").to_numpy().astype("datetime64[s]")
    return np.where(np.isnat(times), -1, times.astype(np.int64))


class _Events:
    """One kind of event of many customers, sorted by customer and time, for counts in windows (events
    without a time are left out)."""

    def __init__(self, customer: np.ndarray, t: np.ndarray):
        dated = np.flatnonzero(t >= 0)
        order = dated[np.lexsort((t[dated], customer[dated]))]
        self.customer, self.t = customer[order], t[order]
        self.keys = self.customer << 32 | self.t
        self.order = order

    def _bound(self, customer: np.ndarray, t: np.ndarray, inclusive: bool) -> np.ndarray:
        return np.searchsorted(
            self.keys, customer << 32 | np.maximum(t, 0), side="right" if inclusive else "left"
        )

    def count(self, customer, t, window_s, inclusive=False) -> np.ndarray:
        """Events in (t - window, t) (or up to t itself, ``inclusive``)."""
        return self._bound(customer, t, inclusive) - self._bound(customer, t - window_s, inclusive)

    def latest(self, customer, t, inclusive=False) -> np.ndarray:
        """Index (in sorted order) of the latest event before t, or -1."""
        index = self._bound(customer, t, inclusive) - 1
        if not len(self.customer):
            return np.full(len(t), -1)
        valid = (index >= 0) & (self.customer[np.maximum(index, 0)] == customer)
        return np.where(valid, index, -1)

    def since(self, customer, t, inclusive=False, cap_s: float = np.inf) -> np.ndarray:
        """Seconds from the latest event to t (inf when none, or older than ``cap_s``)."""
        index = self.latest(customer, t, inclusive)
        latest = self.t[np.maximum(index, 0)] if len(self.t) else np.zeros(len(t), np.int64)
        age = np.where(index >= 0, t - latest, np.inf).astype(float)
        return np.where(age <= cap_s, age, np.inf)


def _subset(customer: np.ndarray, t: np.ndarray, mask: np.ndarray) -> _Events:
    return _Events(customer[mask], t[mask])


@dataclass(frozen=True)
class Lookup:
    """An Activity turned into arrays by customer code (its position in ``activity.customers``)."""

    activity: Activity
    ids: np.ndarray
    clicks: dict[str, _Events]
    click_product: np.ndarray  # per click in time order (all clicks): product index
    all_clicks: _Events
    charges: dict[str, _Events]
    opened: _Events
    sour: _Events
    contacts: _Events
    contact_reason: np.ndarray  # per contact in sorted order
    by_reason: dict[str, _Events]
    follow_ups: dict[str, _Events]
    birth: np.ndarray  # per customer, seconds
    first_visit: np.ndarray
    click_from: np.ndarray  # per customer: when their click history starts
    has_web: np.ndarray
    opened_day: np.ndarray  # (customers, products) day an account opened, max int when none
    closed_day: np.ndarray

    @classmethod
    def build(cls, activity: Activity) -> Lookup:
        ids = activity.customers["customer_id"].to_numpy(dtype=np.int64)

        def code(customer_ids) -> np.ndarray:
            return np.searchsorted(ids, np.asarray(customer_ids, dtype=np.int64))

        clicks = activity.clicks
        click_customer = code(clicks["customer_id"])
        click_t = _seconds(clicks["time"])
        products = clicks["product"].astype(str).to_numpy()
        pages = clicks["page"].astype(str).to_numpy()
        codes, distinct = pd.factorize(pd.MultiIndex.from_arrays([products, pages]))  # classify pairs once
        groups = np.array([click_group(p, g) for p, g in distinct] + [""], dtype=object)[codes]
        all_clicks = _Events(click_customer, click_t)
        product_index = {p: i for i, p in enumerate(PRODUCTS)}
        click_product = np.array([product_index.get(p, -1) for p in products], dtype=np.int64)[
            all_clicks.order
        ]

        charges = activity.charges
        charge_customer = code(charges["customer_id"])
        charge_t = _seconds(charges["date"])
        declined = charges["declined"].to_numpy(dtype=bool)
        unusual = charges["unusual"].to_numpy(dtype=bool)
        masks = {
            "fee": charges["fee"].to_numpy() > 0,
            "declined": declined,
            "unusual": unusual & ~declined,
            "large": charges["large"].to_numpy(dtype=bool) & ~unusual & ~declined,
        }
        accounts = activity.accounts
        account_customer = code(accounts["customer_id"])
        opened_t = _seconds(accounts["opened_date"])
        product = pd.Categorical(accounts["product"].astype(str), categories=PRODUCTS).codes.astype(np.int64)
        never = np.iinfo(np.int64).max
        opened_day = np.full((len(ids), len(PRODUCTS)), never)
        closed_day = np.full((len(ids), len(PRODUCTS)), never)
        opened_day[account_customer, product] = opened_t // DAY
        closed = pd.to_datetime(accounts["closed_date"]).to_numpy()
        has_closed = ~np.isnat(closed)
        closed_day[account_customer[has_closed], product[has_closed]] = (
            closed[has_closed].astype("datetime64[D]").astype(np.int64)
        )
        surveys = activity.surveys
        contacts = activity.contacts
        contact_customer = code(contacts["customer_id"])
        contact_t = _seconds(contacts["started_at"])
        reasons = contacts["reason"].astype(str).to_numpy()
        follow_up = contacts["outcome"].astype(str).to_numpy() == "follow_up"
        contact_events = _Events(contact_customer, contact_t)
        customers = activity.customers
        observed = _seconds(customers["observed_until"])
        return cls(
            activity=activity,
            ids=ids,
            clicks={g: _subset(click_customer, click_t, groups == g) for g in CLICK_GROUPS},
            click_product=click_product,
            all_clicks=all_clicks,
            charges={g: _subset(charge_customer, charge_t, m) for g, m in masks.items()},
            opened=_Events(account_customer, opened_t),
            sour=_subset(
                code(surveys["customer_id"]),
                _seconds(surveys["submitted"]),
                surveys["rating"].to_numpy() <= 2,
            ),
            contacts=contact_events,
            contact_reason=np.array([REASONS.index(r) for r in reasons], dtype=np.int64)[contact_events.order]
            if len(reasons)
            else np.zeros(0, np.int64),
            by_reason={r: _subset(contact_customer, contact_t, reasons == r) for r in REASONS},
            follow_ups={r: _subset(contact_customer, contact_t, (reasons == r) & follow_up) for r in REASONS},
            birth=_seconds(customers["birth_date"]),
            first_visit=_seconds(customers["first_visit"]),
            click_from=observed - CLICK_DAYS * DAY,
            has_web=customers["has_web"].to_numpy(dtype=bool),
            opened_day=opened_day,
            closed_day=closed_day,
        )

    def code(self, customer_ids) -> np.ndarray:
        return np.searchsorted(self.ids, np.asarray(customer_ids, dtype=np.int64))


MAX_COUNTED = 5  # a burst of clicks (a replay, a refreshing page) says no more than five do


def _log(count: np.ndarray) -> np.ndarray:
    return np.log1p(np.minimum(count, MAX_COUNTED).astype(float))


def _fading(age_s: np.ndarray, scale_s: float) -> np.ndarray:
    return np.exp(-age_s / scale_s)


def feature_matrix(lookup: Lookup, customer: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The model's inputs at moments ``t`` (seconds) for customers (codes of ``lookup``), and their names.

    Clicks count only where the customer's click history covers the week before (``known``).
    """
    columns: dict[str, np.ndarray] = {}
    known = t - LOOKBACK_DAYS * DAY >= lookup.click_from[customer]
    columns["clicks_known"] = known.astype(float)
    for group, events in lookup.clicks.items():
        for name, window in (("day", DAY), ("week", LOOKBACK_DAYS * DAY)):
            columns[f"{group}_{name}"] = np.where(known, _log(events.count(customer, t, window)), 0.0)
        age = events.since(customer, t, cap_s=LOOKBACK_DAYS * DAY)
        columns[f"{group}_just_now"] = np.where(known, _fading(age, 3 * HOUR), 0.0)
        columns[f"{group}_recent"] = np.where(known, _fading(age, DAY), 0.0)
    for group, events in lookup.charges.items():
        columns[f"{group}_3d"] = _log(events.count(customer, t, 3 * DAY, inclusive=True))
        columns[f"{group}_14d"] = _log(events.count(customer, t, 14 * DAY, inclusive=True))
        columns[f"{group}_recent"] = _fading(
            events.since(customer, t, inclusive=True, cap_s=30 * DAY), 3 * DAY
        )
    columns["opened_14d"] = _log(lookup.opened.count(customer, t, 14 * DAY, inclusive=True))
    columns["opened_recent"] = _fading(
        lookup.opened.since(customer, t, inclusive=True, cap_s=30 * DAY), 7 * DAY
    )
    columns["sour_survey_14d"] = _log(lookup.sour.count(customer, t, 14 * DAY))
    columns["sour_survey_recent"] = _fading(lookup.sour.since(customer, t, cap_s=30 * DAY), 7 * DAY)
    for reason in REASONS:
        columns[f"past_{reason}"] = _log(lookup.by_reason[reason].count(customer, t, CONTACT_DAYS * DAY))
    for reason in REASONS:
        age = lookup.follow_ups[reason].since(customer, t, cap_s=14 * DAY)
        columns[f"follow_up_{reason}"] = _fading(age, 4 * DAY)
    columns["past_contacts"] = _log(lookup.contacts.count(customer, t, CONTACT_DAYS * DAY))
    columns["last_contact_recent"] = _fading(lookup.contacts.since(customer, t, cap_s=60 * DAY), 7 * DAY)
    day = t // DAY
    held = (lookup.opened_day[customer] <= day[:, None]) & (day[:, None] < lookup.closed_day[customer])
    for i, product in enumerate(PRODUCTS):
        columns[f"holds_{product}"] = held[:, i].astype(float)
    columns["products"] = held.sum(axis=1) / len(PRODUCTS)
    age = (t - lookup.birth[customer]) / (365.25 * DAY) / 50
    columns["age"] = age
    columns["age_squared"] = age**2
    columns["log_tenure"] = np.log1p(np.maximum(t - lookup.first_visit[customer], 0) / (365.25 * DAY))
    columns["has_web"] = lookup.has_web[customer].astype(float)
    names = list(columns)
    return np.column_stack([np.asarray(columns[n], dtype=float) for n in names]), names


def past_reason_counts(lookup: Lookup, customer: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Per moment, the customer's contacts of the past year before it, per reason (contacts x reasons)."""
    return np.column_stack([lookup.by_reason[r].count(customer, t, CONTACT_DAYS * DAY) for r in REASONS])


def last_page_product(lookup: Lookup, customer: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The product of the customer's last click before each moment, in their click history (-1 if none)."""
    index = lookup.all_clicks.latest(customer, t)
    if not len(lookup.all_clicks.t):
        return index
    known = (index >= 0) & (lookup.all_clicks.t[np.maximum(index, 0)] >= lookup.click_from[customer])
    return np.where(known, lookup.click_product[np.maximum(index, 0)], -1)


def rank(scores: np.ndarray, tie_break: np.ndarray | None = None) -> np.ndarray:
    """Reason indices by descending score per row; ties by ``tie_break`` (descending), then reason order."""
    if tie_break is None:
        return np.argsort(-scores, axis=1, kind="stable")
    return np.lexsort((np.broadcast_to(-tie_break, scores.shape), -scores), axis=1)


@dataclass(frozen=True)
class ReasonModel:
    """Multinomial logistic weights on centred inputs: P(reason | the days before).

    The inputs are not scaled to unit variance: they are all of order one already (logs of capped counts,
    fading recencies, flags), and scaled, a rare input (a click within the hour) got a large weight from a
    few contacts that the penalty did not hold back.
    """

    columns: tuple[str, ...]
    mean: np.ndarray
    coef: np.ndarray  # (reasons, columns)
    intercept: np.ndarray  # (reasons,)

    @classmethod
    def fit(cls, inputs: np.ndarray, columns: Sequence[str], reasons: np.ndarray, seed: int) -> ReasonModel:
        from sklearn.linear_model import LogisticRegression  # see models/__init__.py

        mean = inputs.mean(axis=0)
        model = LogisticRegression(C=C, max_iter=500, random_state=seed)
        model.fit(inputs - mean, reasons)
        coef = np.zeros((len(REASONS), inputs.shape[1]))
        intercept = np.full(len(REASONS), -30.0)  # a reason never seen in training is never predicted
        coef[model.classes_] = model.coef_
        intercept[model.classes_] = model.intercept_
        return cls(tuple(columns), mean, coef, intercept)

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        logits = (inputs - self.mean) @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def describe(self) -> dict:
        return {
            "columns": list(self.columns),
            "mean": self.mean.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "reasons": list(REASONS),
        }

    @classmethod
    def from_meta(cls, meta: dict) -> ReasonModel:
        if list(meta["reasons"]) != list(REASONS):
            raise ValueError("the reason model was trained on another list of reasons: retrain")
        return cls(
            tuple(meta["columns"]),
            np.asarray(meta["mean"]),
            np.asarray(meta["coef"]),
            np.asarray(meta["intercept"]),
        )


# ── one customer, live ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Likely:
    """A likely reason for the call, how likely, and what in the customer's activity points to it."""

    reason: str
    label: str
    probability: float
    evidence: tuple[str, ...]


def data_now(as_of) -> datetime:
    """The moment the data's history ends: the start of its today (as_of), in UTC."""
    return datetime(as_of.year, as_of.month, as_of.day, tzinfo=timezone.utc)


def customer_activity(
    record, as_of, live_clicks: pd.DataFrame | None = None, now: datetime | None = None
) -> Activity:
    """One customer's Activity from their 360 record (``connectors.directory.CustomerRecord``) and the live
    stream's clicks (time in UTC, product, url): live clicks of the last hour are placed before the data's
    now as they were before the real now, and the history's own clicks of that last hour give way to them."""
    profile = record.profile
    customer_id = int(profile["id"])
    end = _naive(data_now(as_of))
    now = now or datetime.now(timezone.utc)
    history = record.clicks
    clicks = pd.DataFrame(
        {"time": pd.to_datetime(history["time"]), "product": history["product"], "url": history["url"]}
    )
    clicks = clicks[clicks["time"] < end - pd.Timedelta(hours=1)]
    if live_clicks is not None and len(live_clicks):
        ago = _naive(now) - pd.to_datetime(live_clicks["time"])
        recent = (ago >= pd.Timedelta(0)) & (ago <= pd.Timedelta(hours=1))
        moved = pd.DataFrame(
            {
                "time": end - ago[recent],
                "product": live_clicks["product"][recent],
                "url": live_clicks["url"][recent],
            }
        )
        clicks = pd.concat([clicks, moved], ignore_index=True)
    left_on = record.left_on
    transactions = record.transactions.assign(customer_id=customer_id)
    return Activity(
        customers=pd.DataFrame(
            {
                "customer_id": [customer_id],
                "birth_date": [pd.to_datetime(profile.get("birth_date"), errors="coerce")],
                "first_visit": [pd.to_datetime(profile.get("first_visit"), errors="coerce")],
                "observed_until": [pd.Timestamp(left_on or as_of)],
                "has_web": [profile.get("web_user_id") is not None],
            }
        ),
        clicks=pd.DataFrame(
            {
                "customer_id": customer_id,
                "time": clicks["time"].to_numpy(),
                "product": clicks["product"].astype(str).to_numpy(),
                "page": [page_of(url) for url in clicks["url"]],
            }
        ),
        charges=notable_charges(transactions),
        accounts=record.holdings.assign(customer_id=customer_id),
        surveys=record.surveys[["submitted", "rating"]].assign(customer_id=customer_id),
        contacts=record.contacts.assign(customer_id=customer_id),
    )


# ── learning from past contacts ────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Learnt:
    """The fitted model, its figures on the validation customers, and the held-out customers' contacts
    whose lead-up the sources hold, ranked by the model and by the two baselines (for the evaluation)."""

    model: ReasonModel
    metrics: dict
    held_out: pd.DataFrame  # contact_id, reason, model_1..3, history_1..3, last_page_1..3 (reason indices)


def _top(ranked: np.ndarray, prefix: str) -> dict[str, np.ndarray]:
    return {f"{prefix}_{i + 1}": ranked[:, i].astype(np.int8) for i in range(TOP)}


def _hits(ranked: np.ndarray, truth: np.ndarray, k: int) -> float:
    return float((ranked[:, :k] == truth[:, None]).any(axis=1).mean()) if len(truth) else float("nan")


def learn(activity: Activity, split_point, seed: int) -> Learnt:
    """Fit on the contacts of customers whose ``split_point`` (a number in [0, 1) per customer id, as the
    other models split) is 0.3 or more, measure on 0.2–0.3, and rank the held-out customers' (below 0.2)."""
    contacts = activity.contacts
    point = split_point(contacts["customer_id"].to_numpy())
    lookup = Lookup.build(activity)
    customer = lookup.code(contacts["customer_id"])
    t = _seconds(contacts["started_at"])
    reason = pd.Categorical(contacts["reason"].astype(str), categories=REASONS).codes.astype(np.int64)
    known = t - LOOKBACK_DAYS * DAY >= lookup.click_from[customer]
    rng = np.random.default_rng(seed)
    fitting = np.flatnonzero((point >= 0.3) & (reason >= 0))
    fitting = np.concatenate(
        [
            fitting[known[fitting]],
            rng.permutation(fitting[~known[fitting]])[: max(MAX_FIT_ROWS - int(known[fitting].sum()), 0)],
        ]
    )
    inputs, columns = feature_matrix(lookup, customer[fitting], t[fitting])
    model = ReasonModel.fit(inputs, columns, reason[fitting], seed)
    frequency = np.bincount(reason[fitting], minlength=len(REASONS)).astype(float)
    by_product = np.zeros((len(PRODUCTS), len(REASONS)))
    last = last_page_product(lookup, customer[fitting], t[fitting])
    seen = last >= 0
    np.add.at(by_product, (last[seen], reason[fitting][seen]), 1.0)

    def ranked(rows: np.ndarray) -> dict[str, np.ndarray]:
        """The model's and the baselines' top reasons for these contacts."""
        at, who = t[rows], customer[rows]
        scored = model.probabilities(feature_matrix(lookup, who, at)[0])
        product = last_page_product(lookup, who, at)
        page_scores = np.where(product[:, None] >= 0, by_product[np.maximum(product, 0)], 0.0)
        return {
            **_top(rank(scored), "model"),
            **_top(rank(past_reason_counts(lookup, who, at), frequency), "history"),
            **_top(rank(page_scores, frequency), "last_page"),
        }

    validation = np.flatnonzero((point >= 0.2) & (point < 0.3) & known & (reason >= 0))
    checked = ranked(validation)
    model_ranked = np.column_stack([checked[f"model_{i + 1}"] for i in range(TOP)])
    held = np.flatnonzero((point < 0.2) & known & (reason >= 0))
    held_out = pd.DataFrame(
        {
            "contact_id": contacts["contact_id"].to_numpy()[held],
            "reason": reason[held].astype(np.int8),
            **ranked(held),
        }
    )
    metrics = {
        "reason_contacts": len(contacts),
        "reason_fit_contacts": len(fitting),
        "reason_validation_contacts": len(validation),
        "reason_validation_top1": _hits(model_ranked, reason[validation], 1),
        "reason_validation_top3": _hits(model_ranked, reason[validation], TOP),
    }
    return Learnt(model, metrics, held_out)


# ── the evidence, in words ───────────────────────────────────────────────────────────────────────────────

# The clicks that speak for a reason, and the charges.
REASON_CLICKS: dict[str, str] = {
    "close_account": "leaving",
    "application_help": "apply",
    "loan_question": "loan",
    "rates_question": "rates",
    "payment_issue": "payments",
    "online_banking_access": "settings",
    "contact_details_change": "settings",
}
REASON_CHARGES: dict[str, tuple[str, ...]] = {
    "disputed_transaction": ("unusual", "large"),
    "fraud_alert": ("declined", "unusual"),
    "fees": ("fee",),
    "card_lost_stolen": ("declined",),
}
REASON_OPENED = ("online_banking_access", "application_help", "general_question")
REASON_SURVEY = ("fees", "close_account", "general_question")
CHARGE_DAYS = 14  # charges, openings and survey answers of the last two weeks are cited
MAX_CITED = 2  # sentences per kind of evidence
NOTHING = "nothing in their recent activity points to it: from their profile and past contacts"


def ago(seconds: float) -> str:
    """How long ago, in words: "just now", "4 min ago", "3 h ago", "yesterday", "5 days ago"."""
    if seconds < 60:
        return "just now"
    if seconds < HOUR:
        return f"{int(seconds // 60)} min ago"
    if seconds < DAY:
        return f"{int(seconds // HOUR)} h ago"
    return "yesterday" if seconds < 2 * DAY else f"{int(seconds // DAY)} days ago"


def days_ago(days: int) -> str:
    """A day's distance in words: "today", "yesterday", "3 days ago"."""
    return "today" if days <= 0 else "yesterday" if days == 1 else f"{days} days ago"


def _times(count: int) -> str:
    return f"{count}×"


def _week_clicks(activity: Activity, now: pd.Timestamp, group: str) -> pd.DataFrame:
    """The clicks of a group (see :func:`click_group`) in the week before ``now``: time, product, page."""
    clicks = activity.clicks
    times = pd.to_datetime(clicks["time"])
    products, pages = clicks["product"].astype(str), clicks["page"].astype(str)
    week = (times < now) & (times >= now - pd.Timedelta(days=LOOKBACK_DAYS))
    chosen = week & np.array([click_group(p, g) == group for p, g in zip(products, pages, strict=True)], bool)
    return pd.DataFrame({"time": times[chosen], "product": products[chosen], "page": pages[chosen]})


def _click_sentences(activity: Activity, now: pd.Timestamp, group: str) -> list[str]:
    """The week's clicks of a group, per product and page, the most recent first."""
    found = _week_clicks(activity, now, group)
    sentences = []
    for (product, page), rows in sorted(
        found.groupby(["product", "page"]), key=lambda item: -item[1]["time"].max().value
    ):
        count, latest = len(rows), ago((now - rows["time"].max()).total_seconds())
        name = label(product)
        if page == "compare-rates":
            sentences.append(
                f"compared {name} rates {_times(count)} this week"
                if count > 1
                else f"compared {name} rates {latest}"
            )
        else:
            again = f" ({_times(count)} this week)" if count > 1 else ""
            sentences.append(f"visited {name} › {page} {latest}{again}")
    return sentences[:MAX_CITED]


def _charge_sentences(activity: Activity, now: pd.Timestamp, groups: tuple[str, ...]) -> list[str]:
    charges = activity.charges
    day = (now.normalize() - pd.to_datetime(charges["date"]).dt.normalize()).dt.days
    recent = charges.assign(days=day)[(day >= 0) & (day < CHARGE_DAYS)]
    sentences = []
    for row in recent.sort_values("days").itertuples():
        when = days_ago(int(row.days))
        if "fee" in groups and row.fee > 0:
            sentences.append(f"a ${row.fee:,.2f} fee with their {row.payee} charge {when}")
        elif "declined" in groups and row.declined:
            sentences.append(f"a declined ${row.amount:,.2f} charge at {row.payee} {when}")
        elif "unusual" in groups and row.unusual and not row.declined:
            sentences.append(
                f"a ${row.amount:,.2f} charge at {row.payee}, a payee they never paid before, {when}"
            )
        elif "large" in groups and row.large and not row.declined:
            sentences.append(f"a large ${row.amount:,.2f} charge at {row.payee} {when}")
    return sentences[:MAX_CITED]


def _opened_sentences(activity: Activity, now: pd.Timestamp) -> list[str]:
    accounts = activity.accounts
    day = (now.normalize() - pd.to_datetime(accounts["opened_date"]).dt.normalize()).dt.days
    recent = accounts.assign(days=day)[(day >= 0) & (day < CHARGE_DAYS)].sort_values("days")
    return [f"opened a {label(str(r.product))} account {days_ago(int(r.days))}" for r in recent.itertuples()][
        :MAX_CITED
    ]


def _survey_sentences(activity: Activity, now: pd.Timestamp) -> list[str]:
    surveys = activity.surveys
    times = pd.to_datetime(surveys["submitted"])
    recent = surveys[
        (times < now) & (times >= now - pd.Timedelta(days=CHARGE_DAYS)) & (surveys["rating"] <= 2)
    ]
    return [
        f"rated the bank {int(r.rating)}/5 in a survey {ago((now - pd.Timestamp(r.submitted)).total_seconds())}"
        for r in recent.sort_values("submitted", ascending=False).itertuples()
    ][:MAX_CITED]


def _contact_sentences(activity: Activity, now: pd.Timestamp, reason: str) -> list[str]:
    contacts = activity.contacts
    times = pd.to_datetime(contacts["started_at"])
    year = contacts[(times < now) & (times >= now - pd.Timedelta(days=CONTACT_DAYS))]
    about = year[year["reason"].astype(str) == reason].sort_values("started_at")
    if about.empty:
        return []
    last = about.iloc[-1]
    sentences = []
    if str(last["outcome"]) == "follow_up" and now - pd.Timestamp(last["started_at"]) <= pd.Timedelta(
        days=14
    ):
        sentences.append(
            f"a follow-up is open from their contact about it on {pd.Timestamp(last['started_at']):%Y-%m-%d}"
        )
    sentences.append(
        f"contacted us about it {_times(len(about))} in the past year, last on {pd.Timestamp(last['started_at']):%Y-%m-%d}"
    )
    return sentences


def evidence(activity: Activity, now: datetime, reason: str) -> tuple[str, ...]:
    """What in one customer's activity before ``now`` (the data's now) points to ``reason``, in words."""
    now = _naive(now)
    sentences: list[str] = []
    if reason in REASON_CLICKS:
        sentences += _click_sentences(activity, now, REASON_CLICKS[reason])
    if reason in REASON_CHARGES:
        sentences += _charge_sentences(activity, now, REASON_CHARGES[reason])
    if reason in REASON_OPENED:
        sentences += _opened_sentences(activity, now)
    if reason in REASON_SURVEY:
        sentences += _survey_sentences(activity, now)
    sentences += _contact_sentences(activity, now, reason)
    return tuple(sentences) or (NOTHING,)


def likely_reasons(model: ReasonModel, activity: Activity, now: datetime) -> tuple[Likely, ...]:
    """The top three reasons of one customer's next contact at ``now`` (the data's now), with evidence."""
    lookup = Lookup.build(activity)
    at = np.array([int(pd.Timestamp(now).timestamp())])
    inputs, columns = feature_matrix(lookup, np.zeros(1, np.int64), at)
    if tuple(columns) != model.columns:
        raise ValueError(
            "the reason model was trained on other inputs: retrain with `python -m models.train`"
        )
    probability = model.probabilities(inputs)[0]
    return tuple(
        Likely(
            REASONS[i],
            CONTACT_REASONS[REASONS[i]],
            float(probability[i]),
            evidence(activity, now, REASONS[i]),
        )
        for i in rank(probability[None, :])[0][:TOP]
    )


def looked_at(activity: Activity, now: datetime, reason: str) -> list[str]:
    """The products of the week's pages that point to ``reason`` (see REASON_CLICKS), most recent first."""
    if reason not in REASON_CLICKS:
        return []
    latest = _week_clicks(activity, _naive(now), REASON_CLICKS[reason]).groupby("product")["time"].max()
    return list(latest.sort_values(ascending=False).index)


def _naive(moment) -> pd.Timestamp:
    """A moment as a naive UTC timestamp (the sources' times are naive UTC)."""
    stamp = pd.Timestamp(moment)
    return stamp.tz_convert(None) if stamp.tzinfo else stamp
