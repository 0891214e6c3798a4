"""What the dashboard gets from Insights: complete answers, explanations that add up, numbers it can check."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import pytest

from connectors.catalog import PRODUCTS
from connectors.layout import Layout
from models.insights import CustomerNotScored, Insights, ModelsMissing, Sentiment


@pytest.fixture(scope="module")
def transactions(sample_layout: Layout) -> pd.DataFrame:
    return pd.read_parquet(sample_layout.transactions)


@pytest.fixture(scope="module")
def quiet_customer(sample_layout: Layout, transactions: pd.DataFrame) -> int:
    """A customer with no card transactions, no web account and no survey answer."""
    profiles = pd.read_json(sample_layout.profiles, lines=True, dtype={"web_user_id": "Int64"})
    answered = pd.concat(pd.read_json(p, lines=True) for p in sample_layout.surveys.glob("*.json"))
    quiet = profiles[
        profiles["web_user_id"].isna()
        & ~profiles["id"].isin(transactions["customer_id"])
        & ~profiles["id"].isin(answered["customer_id"])
    ]
    assert len(quiet), "the sample should hold customers with no history at all"
    return int(quiet["id"].iloc[0])


def _nan_free(value, path="insights"):
    """Every number anywhere in the answer is a real number (the screen never shows NaN)."""
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            _nan_free(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            _nan_free(item, f"{path}[{key}]")
    elif isinstance(value, (tuple, list)):
        for i, item in enumerate(value):
            _nan_free(item, f"{path}[{i}]")
    elif isinstance(value, float):
        assert math.isfinite(value), path


def test_every_customer_gets_a_complete_answer(insights: Insights):
    for customer_id in insights.scores()["customer_id"].iloc[::97]:
        answer = insights.for_customer(int(customer_id))
        _nan_free(answer)
        assert 0 < answer.churn.probability < 1
        assert answer.churn.label in ("Low", "Medium", "High")
        assert answer.sentiment.source in ("survey", "inferred from persona")
        assert len(answer.offers) <= 3 and all(offer.reason for offer in answer.offers)
        assert answer.persona.id != answer.persona.runner_up
        assert answer.persona.distance <= answer.persona.runner_up_distance


def test_explanations_add_up_to_the_score(insights: Insights):
    for customer_id in insights.scores()["customer_id"].iloc[::31]:
        churn = insights.for_customer(int(customer_id)).churn
        log_odds = churn.baseline + sum(f.contribution for f in churn.factors)
        assert log_odds == pytest.approx(math.log(churn.probability / (1 - churn.probability)), abs=1e-4)
        sizes = [abs(f.contribution) for f in churn.factors]
        assert sizes == sorted(sizes, reverse=True)
        assert churn.top_factors == churn.factors[:3]


def test_leaving_pages_and_falling_spending_raise_the_risk(insights: Insights, sample_layout: Layout):
    scores = pd.read_parquet(insights.run / "customers.parquet")
    scores = scores[scores["closed_on"].isna()]
    leaver = scores.loc[scores["leaving"].idxmax()]
    factors = {f.name: f for f in insights.for_customer(int(leaver["customer_id"])).churn.factors}
    assert factors["Leaving pages"].contribution > 0
    assert f"{int(leaver['leaving'])} visits" in factors["Leaving pages"].detail
    faller = scores.loc[scores["trend"].idxmin()]
    factors = {f.name: f for f in insights.for_customer(int(faller["customer_id"])).churn.factors}
    assert factors["Spending trend"].contribution > 0
    assert "below its 12-month average" in factors["Spending trend"].detail


def test_a_customer_without_any_history_gets_well_defined_answers(insights: Insights, quiet_customer: int):
    answer = insights.for_customer(quiet_customer)
    _nan_free(answer)
    assert answer.ltv.value is None and answer.ltv.monthly_rate is None
    assert answer.ltv.text.startswith("not enough history")
    assert answer.sentiment.source == "inferred from persona"
    assert answer.sentiment.respondents > 0 and "inferred" in answer.sentiment.text
    low, high = answer.sentiment.interval
    assert low <= answer.sentiment.share <= high
    details = {f.name: f.detail for f in answer.churn.factors}
    assert details["Spending trend"] == "no card spending in the last 12 months"
    assert details["Leaving pages"] == "no web account"
    assert details["Survey"] == "no survey answer"
    assert answer.offers and not any("browsed" in offer.reason for offer in answer.offers)
    empty = insights.spend_rate(pd.DataFrame({"date": [], "amount": []}), quiet_customer)
    assert not empty.enough_history and empty.note.startswith("not enough history")
    assert empty.fitted.empty and empty.projection.empty


@pytest.fixture(scope="module")
def former_customer(sample_layout: Layout) -> tuple[int, pd.DataFrame]:
    """A customer who left, with the accounts they closed."""
    accounts = pd.read_parquet(sample_layout.accounts)
    closed = accounts[accounts["status"] == "closed"]
    customer_id = int(closed["customer_id"].iloc[0])
    return customer_id, closed[closed["customer_id"] == customer_id]


def test_a_former_customer_is_told_apart_with_the_day_they_left(
    insights: Insights, former_customer, transactions: pd.DataFrame
):
    customer_id, closed = former_customer
    closed_on = closed["closed_date"].iloc[0].date()
    answer = insights.for_customer(customer_id, recent_interest={p: 5 for p in PRODUCTS})
    _nan_free(answer)
    assert answer.former and answer.churn.closed_on == closed_on
    assert answer.churn.probability is None and answer.churn.factors == () and answer.churn.label == "Left"
    assert answer.churn.text == f"left on {closed_on.isoformat()}"
    assert answer.ltv.value is None and answer.ltv.text == f"none: left on {closed_on.isoformat()}"
    held = set(closed["product"].astype(str))
    assert answer.offers and {offer.product for offer in answer.offers} <= held
    assert all(offer.reason.startswith(f"win back: held one until {closed_on}") for offer in answer.offers)
    assert customer_id not in set(insights.scores()["customer_id"])
    plot = insights.spend_rate(transactions[transactions["customer_id"] == customer_id], customer_id)
    assert plot.projection.empty and plot.note == f"left on {closed_on.isoformat()}: nothing projected"
    assert plot.cumulative.empty or plot.cumulative["date"].max() < pd.Timestamp(closed_on)
    assert not insights.for_customer(1).former, "Erika Gallardo is still a customer"


def test_standing_lists_active_former_and_unscored_customers_in_order(insights: Insights, former_customer):
    customer_id, closed = former_customer
    unknown = int(insights.scores()["customer_id"].max()) + 1
    assert insights.standing([unknown, customer_id, 1]) == [
        "not scored yet",
        f"left {closed['closed_date'].iloc[0].date().isoformat()}",
        "active",
    ]
    assert insights.standing([]) == []
    assert customer_id in insights.former_customers() and 1 not in insights.former_customers()


def test_respondents_get_their_own_sentiment(insights: Insights):
    scores = pd.read_parquet(insights.run / "customers.parquet")
    respondent = scores.loc[scores["sentiment_negative"].notna(), "customer_id"].iloc[0]
    sentiment = insights.for_customer(int(respondent)).sentiment
    assert sentiment.source == "survey" and sentiment.interval is None
    assert sentiment.label in ("NEGATIVE", "NEUTRAL", "POSITIVE")
    assert sum(sentiment.distribution.values()) == pytest.approx(1.0)


def test_the_spend_rate_plot_matches_the_lifetime_value(insights: Insights, transactions: pd.DataFrame):
    checked = 0
    for customer_id in insights.scores()["customer_id"].iloc[::150]:
        answer = insights.for_customer(int(customer_id))
        own = transactions[transactions["customer_id"] == customer_id][["date", "amount"]]
        plot = insights.spend_rate(own, int(customer_id))
        if answer.ltv.value is None:
            assert not plot.enough_history
            continue
        checked += 1
        assert plot.monthly_rate == pytest.approx(answer.ltv.monthly_rate, rel=1e-5)
        assert answer.ltv.value == pytest.approx(
            answer.ltv.monthly_rate * answer.ltv.expected_months, rel=1e-5
        )
        total = plot.cumulative["cumulative"].iloc[-1]
        assert plot.fitted["cumulative"].iloc[-1] == pytest.approx(total)
        assert plot.projection["cumulative"].iloc[0] == pytest.approx(total)
        assert plot.projection["date"].iloc[0] == pd.Timestamp(insights.as_of)
        assert plot.cumulative["cumulative"].is_monotonic_increasing
    assert checked >= 10


def test_live_browsing_reranks_the_offers(insights: Insights):
    scores = pd.read_parquet(insights.run / "customers.parquet")
    row = scores[(scores["responses"] == 0) & (scores["age"] < 60) & (scores["clicks"] > 0)].iloc[0]
    customer_id = int(row["customer_id"])
    history = insights.for_customer(customer_id)
    assert insights.for_customer(customer_id, recent_interest={}) == history
    assert any("in the last 30 days" in offer.reason for offer in history.offers)
    not_held = [p for i, p in enumerate(PRODUCTS) if not (int(row["holds"]) >> i) & 1]
    product = next(
        p for p in not_held if row[f"clicks_{p}"] == 0 and p not in {o.product for o in history.offers}
    )
    after = insights.for_customer(customer_id, recent_interest={product: 12})
    assert after.offers[0].product == product
    assert after.offers[0].reason.startswith(f"browsed {after.offers[0].label} pages 12× in the last hour")
    assert after.offers[0].score > history.offers[0].score


def test_offers_never_include_products_held(insights: Insights, sample_layout: Layout):
    accounts = pd.read_parquet(sample_layout.accounts)
    for customer_id in insights.scores()["customer_id"].iloc[::211]:
        held = set(accounts.loc[accounts["customer_id"] == customer_id, "product"].astype(str))
        offered = {
            o.product for o in insights.for_customer(int(customer_id), {p: 3 for p in PRODUCTS}).offers
        }
        assert not offered & held


def test_an_unknown_customer_asks_for_retraining(insights: Insights):
    unknown = int(insights.scores()["customer_id"].max()) + 1
    with pytest.raises(CustomerNotScored, match=r"not scored yet.*python -m models\.train"):
        insights.for_customer(unknown)


def test_loading_without_models_says_how_to_train(tmp_path: Path):
    with pytest.raises(ModelsMissing, match=r"python -m models\.train"):
        Insights.load(tmp_path)


def test_scores_and_personas_describe_every_active_customer(insights: Insights, sample_layout: Layout):
    scores = insights.scores()
    assert list(scores.columns) == ["customer_id", "churn_risk", "persona", "persona_name", "ltv"]
    accounts = pd.read_parquet(sample_layout.accounts)
    former = set(accounts.loc[accounts["status"] == "closed", "customer_id"])
    assert len(scores) == sample_layout.read_manifest()["customers"] - len(former)
    assert not former & set(scores["customer_id"]) and scores["churn_risk"].between(0, 1).all()
    personas = insights.personas()
    assert personas["size"].sum() == len(scores)
    assert personas["name"].is_unique and not personas["name"].str.contains("Group").any()
    assert (scores.groupby("persona").size().to_numpy() == personas["size"].to_numpy()).all()
    shares = personas[["negative", "neutral", "positive"]].sum(axis=1)
    np.testing.assert_allclose(shares[personas["respondents"] > 0], 1.0)
    assert 3 <= len(personas) <= 8


def test_heatmap_numbers_match_the_active_customers_holdings(insights: Insights, sample_layout: Layout):
    accounts = pd.read_parquet(sample_layout.accounts)
    accounts = accounts[accounts["status"] == "open"]
    persona = insights.scores().set_index("customer_id")["persona"]
    holders = accounts.assign(persona=persona.reindex(accounts["customer_id"]).to_numpy())
    direct = pd.crosstab(holders["persona"], holders["product"].astype(str)).reindex(
        columns=list(PRODUCTS), fill_value=0
    )
    sizes = persona.value_counts().sort_index()
    element = insights.heatmap()
    assert isinstance(element, hv.HeatMap)
    cells = element.data.set_index(["persona", "product"])
    for p in sizes.index:
        for product in PRODUCTS:
            cell = cells.loc[(p, product)]
            assert cell["holders"] == direct.loc[p, product]
            assert cell["customers"] == sizes[p]
            assert cell["adoption"] == pytest.approx(direct.loc[p, product] / sizes[p])


def test_heatmap_highlights_one_persona_and_shows_the_numbers_on_hover(insights: Insights):
    element = insights.heatmap(highlight_persona=1)
    lit = element.data.groupby("persona")["alpha"].first()
    assert lit[1] == 1.0 and (lit.drop(1) < 1.0).all()
    plot = hv.render(element, backend="bokeh")
    tooltips = dict(next(t for t in plot.tools if type(t).__name__ == "HoverTool").tooltips)
    assert {"Adoption", "Holders"} <= set(tooltips)


def test_segments_give_every_customer_the_categories_for_customer_agree(insights: Insights):
    segments = insights.segments().set_index("customer_id")
    assert len(segments) == len(insights.scores()) + len(insights.former_customers())
    assert not segments.isna().any().any()
    for customer_id in [*segments.index[:60], *insights.former_customers()[:20]]:
        one = insights.for_customer(int(customer_id))
        row = segments.loc[customer_id]
        assert row["sentiment"] == one.sentiment.label
        assert row["churn"] == one.churn.label
        assert (row["persona"], row["persona_id"]) == (one.persona.name, one.persona.id)


@pytest.mark.parametrize(
    ("source", "share", "text"),
    [
        ("survey", 0.9, "positive"),
        ("survey", 0.5, "mixed — 50% positive"),
        ("inferred from persona", 0.72, "positive (inferred: 72% of 1,234 respondents, 69%–75%)"),
        ("inferred from persona", 0.5, "mixed — 50% positive (inferred from 1,234 respondents, 47%–53%)"),
    ],
)
def test_the_sentiment_label_says_what_its_distribution_says(source, share, text):
    """The kiosk said POSITIVE, in bold, for a persona whose respondents were 50% positive."""
    interval = None if source == "survey" else (share - 0.03, share + 0.03)
    sentiment = Sentiment("POSITIVE", source, share, 1234, interval, {"POSITIVE": share})
    assert sentiment.text == text and sentiment.clear == (share >= 2 / 3)
