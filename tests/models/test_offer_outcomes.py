"""Offers close the loop: acceptance intervals, the threshold from which outcomes count, and how much they move
the ranking, from the model's arithmetic up to a trained run."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from scipy.stats import binomtest

from connectors.catalog import PRODUCTS
from connectors.layout import Layout
from models import artifacts, evaluate, nba, train
from models.insights import Insights
from models.sentiment import wilson_interval


@pytest.mark.parametrize(
    ("accepted", "decided", "low", "high"),
    [(5, 10, 0.2366, 0.7634), (0, 10, 0.0, 0.2775), (81, 263, 0.2553, 0.3662), (1, 1, 0.2065, 1.0)],
)
def test_the_wilson_interval_has_its_known_values(accepted, decided, low, high):
    assert wilson_interval(accepted, decided) == pytest.approx((low, high), abs=1e-4)
    interval = binomtest(accepted, decided).proportion_ci(method="wilson")
    assert wilson_interval(accepted, decided) == pytest.approx((interval.low, interval.high), abs=1e-6)


def _outcomes(rng: np.random.Generator, n: int, k: int = 2) -> tuple[np.ndarray, ...]:
    """Decided outcomes where product 0 is accepted far more often than the propensity says."""
    persona = rng.integers(0, k, n)
    product = rng.integers(0, len(PRODUCTS), n)
    scores = rng.uniform(0.05, 0.9, n)
    chance = np.where(product == 0, 0.8, 0.3 * scores)
    return persona, product, rng.random(n) < chance, scores


def test_below_the_threshold_outcomes_teach_nothing_and_above_it_they_move_the_ranking():
    rng = np.random.default_rng(1)
    assert nba.learn_outcomes(*_outcomes(rng, nba.MIN_OUTCOMES - 1), k=2) is None
    persona, product, accepted, scores = _outcomes(rng, 20 * nba.MIN_OUTCOMES)
    model = nba.learn_outcomes(persona, product, accepted, scores, k=2)
    assert model is not None and model.slope > 0
    assert model.decided.sum() == len(accepted) and model.accepted.sum() == accepted.sum()
    assert model.decided[1, 0] == ((persona == 1) & (product == 0)).sum()
    taken = int(model.accepted[1, 0])
    assert model.record(1, 0) == f"their persona accepted {taken:,} of {model.decided[1, 0]:,} such offers"
    assert (model.shifts[:, 0] > model.shifts[:, 1:].max(axis=1)).all(), "the well-taken product stands out"
    before = np.tile(np.linspace(0.9, 0.2, len(PRODUCTS)), (4, 1))
    before[:, 3] = 0.0  # held: never offered, whatever the outcomes say
    after = model.score(before, np.array([0, 1, 0, 1]))
    assert (after[:, 3] == 0).all() and (after[:, 1:] > 0).sum() == 4 * (len(PRODUCTS) - 2)
    assert nba.ranking_change(before, before) == {
        "first_offer_changed": 0.0,
        "top3_changed": 0.0,
        "kendall_tau": 1.0,
    }
    moved = nba.ranking_change(before, after)
    assert moved["first_offer_changed"] == 0.0, "product 0 was first already"
    reversed_scores = np.where(before > 0, 1 - before, 0.0)
    flipped = nba.ranking_change(before, reversed_scores)
    assert flipped["first_offer_changed"] == flipped["top3_changed"] == 1.0
    assert flipped["kendall_tau"] == pytest.approx(-1.0)


@pytest.fixture(scope="module")
def below_threshold(sample_layout: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Models trained on the sample with too few decided outcomes: its desk store cut to a few offers."""
    copy = Layout(tmp_path_factory.mktemp("below") / "data")
    shutil.copytree(sample_layout.root, copy.root, ignore=shutil.ignore_patterns("photos", "models"))
    with contextlib.closing(sqlite3.connect(copy.desk)) as store, store:
        store.execute(
            "DELETE FROM desk_offer_outcomes WHERE rowid NOT IN "
            f"(SELECT rowid FROM desk_offer_outcomes LIMIT {nba.MIN_OUTCOMES // 2})"
        )
    train.train(copy, progress=False)
    return copy.root


def test_training_below_the_threshold_leaves_the_ranking_as_the_propensitys(below_threshold: Path):
    run = artifacts.current(artifacts.models_dir(below_threshold))
    meta = artifacts.read_meta(run)
    metrics = meta["metrics"]
    assert meta["nba"]["outcomes"] == {
        "threshold": nba.MIN_OUTCOMES,
        "shift_prior": nba.SHIFT_PRIOR,
        "model": None,
    }
    assert not metrics["nba_outcomes_used"] and 0 < metrics["nba_outcomes_decided"] < nba.MIN_OUTCOMES
    assert (metrics["nba_first_offer_changed"], metrics["nba_kendall_tau"]) == (0.0, 1.0)
    scores = pq.read_table(run / artifacts.CUSTOMERS).to_pandas()
    rankings = evaluate._rankings(scores, meta)
    np.testing.assert_array_equal(rankings["model"], rankings["propensity"])


def test_training_above_the_threshold_moves_offers_and_says_how_much(
    below_threshold: Path, trained_models: Path, sample_layout: Layout
):
    meta = artifacts.read_meta(artifacts.current(trained_models))
    metrics = meta["metrics"]
    assert metrics["nba_outcomes_used"] and metrics["nba_outcomes_decided"] >= nba.MIN_OUTCOMES
    assert 0.02 < metrics["nba_first_offer_changed"] <= metrics["nba_top3_changed"] < 1
    assert 0 < metrics["nba_kendall_tau"] < 1
    above, below = Insights.load(sample_layout.root, trained_models), Insights.load(below_threshold)
    firsts = []
    for customer_id in range(1, 301):
        ours, theirs = above.for_customer(customer_id).offers, below.for_customer(customer_id).offers
        assert {o.product for o in ours} <= {p for p in PRODUCTS}
        if ours and theirs and ours[0].kind == "upsell":
            firsts.append(ours[0].product != theirs[0].product)
            assert all(0 < o.score <= 1 and "such offers" in o.reason for o in ours), "each says its record"
            assert not any("such offers" in o.reason for o in theirs)
    assert 0 < np.mean(firsts) < 1, "outcomes move some first offers, not all"
