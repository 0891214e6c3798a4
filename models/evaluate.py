"""Measure the trained models on held-out customers against the hidden ground truth.

    python -m models.evaluate [--data-dir D] [--json]

Only this module reads the hidden ground truth (segment, true churn probability, whether a customer will
leave in the next year, sentiment, next product, lifetime value), and only for held-out active customers:
the models were not fitted on them, and the questions (will they leave, what will they buy) are about
customers the bank still has. Former customers' outcomes are already in the bank's records.

The reason for a call is measured on held-out customers' contacts (active and former) whose lead-up the
sources hold (a customer's last 23 days: the website keeps 30 days of clicks and the model reads the week
before a contact): how often the true reason is the model's first, or among its three, against the same for
two baselines and for the generator's own reason probabilities (``truth/contacts.parquet``).

Offers are measured on the recorded answers to them (:func:`connectors.features.offer_outcomes`, no hidden
truth): each product's acceptance, accepted / (accepted + declined) over every decided outcome, with its 95%
Wilson interval; and the ranking's lift over persona-only offers, on the held-out active customers' simulated
outcomes, whose products the generator drew at random: the acceptance of the outcomes whose product is the
model's first offer for that customer, over the acceptance of those whose product is the persona-only
ranking's first (the persona's most held product the customer lacks and may have); the same for the top
three (``offer_top3_*``). Representatives' own outcomes count in the acceptance but not in the lift: they
follow the model's ranking, so they cannot say what another ranking would have won.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow.parquet as pq
from sklearn.metrics import adjusted_rand_score, brier_score_loss, roc_auc_score

from connectors import config, features
from connectors.catalog import PRODUCTS
from connectors.config import MySQLTarget
from connectors.desk.schema import SIMULATED_SOURCE
from connectors.directory.banking import BankingUnavailable
from connectors.layout import Layout, SourceMissing
from models import artifacts, nba, reason, sentiment
from models.artifacts import ModelsMissing


def evaluate(data_dir: Path, folder: Path | None = None, mysql: MySQLTarget | None = None) -> dict:
    """The evaluation figures of the current models of ``data_dir`` (see the README's Insights section);
    the offer outcomes come from ``mysql`` when given, else from the data folder's desk store."""
    layout = Layout(Path(data_dir))
    folder = Path(folder) if folder else artifacts.models_dir(layout.root)
    run = artifacts.current(folder)
    if run is None:
        raise ModelsMissing(f"No trained models in {folder}: run `python -m models.train` first")
    if not layout.truth.is_file():
        raise SourceMissing(f"{layout.truth} is missing: evaluation needs the generated ground truth")
    meta = artifacts.read_meta(run)
    scores = pq.read_table(run / artifacts.CUSTOMERS).to_pandas()
    held = scores["held_out"].to_numpy()
    former = scores["closed_on"].notna().to_numpy()
    scores = scores[held & ~former].reset_index(drop=True)
    truth = pq.read_table(layout.truth).to_pandas().set_index("customer_id").reindex(scores["customer_id"])
    churned = truth["churned"].to_numpy(dtype=bool)
    risk = scores["churn_risk"].to_numpy()
    two_classes = len(np.unique(churned)) == 2
    counts = np.asarray([p["sentiment_counts"] for p in meta["personas"]], dtype=float)
    return {
        "customers": len(scores),
        "held_out_former_customers": int((held & former).sum()),
        "trained_customers": meta["metrics"]["customers"] - meta["metrics"]["held_out_customers"],
        "model_version": meta["version"],
        "churn_auc": float(roc_auc_score(churned, risk)) if two_classes else None,
        "churn_oracle_auc": float(roc_auc_score(churned, truth["churn_probability"]))
        if two_classes
        else None,
        "churn_brier": float(brier_score_loss(churned, risk)),
        "churn_oracle_brier": float(brier_score_loss(churned, truth["churn_probability"])),
        "persona_k": len(meta["personas"]),
        "persona_ari": float(adjusted_rand_score(truth["segment"], scores["persona"])),
        **_ltv(scores, truth),
        **_sentiment(scores, truth, counts),
        **_next_best_action(scores, truth, meta),
        **_offer_outcomes(scores, features.offer_outcomes(layout, mysql), meta),
        **_reasons(run, layout),
    }


def _ltv(scores: pd.DataFrame, truth: pd.DataFrame) -> dict:
    predicted, actual = scores["ltv"].to_numpy(), truth["ltv"].to_numpy()
    rated = ~np.isnan(predicted) & (actual > 0)
    error = np.abs(predicted[rated] - actual[rated]) / actual[rated]
    return {
        "ltv_mape": float(error.mean()) if rated.any() else None,
        "ltv_median_ape": float(np.median(error)) if rated.any() else None,
        "ltv_coverage": float(rated.sum() / max((actual > 0).sum(), 1)),
    }


def _sentiment(scores: pd.DataFrame, truth: pd.DataFrame, persona_counts: np.ndarray) -> dict:
    """Respondents: text classifier vs true sentiment. Non-respondents: persona shares vs their true shares."""
    probabilities = scores[[f"sentiment_{label.lower()}" for label in sentiment.LABELS]].to_numpy(dtype=float)
    answered = ~np.isnan(probabilities[:, 0])
    true_label = pd.Categorical(truth["sentiment"], categories=sentiment.LABELS).codes
    persona = scores["persona"].to_numpy(dtype=np.int64)
    k = len(persona_counts)
    silent = ~answered
    true_counts = np.bincount(
        persona[silent] * len(sentiment.LABELS) + true_label[silent], minlength=k * len(sentiment.LABELS)
    ).reshape(k, len(sentiment.LABELS))
    inferred = persona_counts / np.maximum(persona_counts.sum(axis=1, keepdims=True), 1)
    actual = true_counts / np.maximum(true_counts.sum(axis=1, keepdims=True), 1)
    distance = 0.5 * np.abs(inferred - actual).sum(axis=1)  # total variation, per persona
    weights = true_counts.sum(axis=1)
    return {
        "sentiment_accuracy": float((probabilities[answered].argmax(axis=1) == true_label[answered]).mean())
        if answered.any()
        else None,
        "survey_extrapolation_error": float((distance * weights).sum() / max(weights.sum(), 1)),
        "survey_respondents": int(answered.sum()),
    }


def _rankings(scores: pd.DataFrame, meta: dict) -> dict[str, np.ndarray]:
    """The next best action's propensities (customers x products) of the evaluated customers, three ways:
    ``model`` as served (the chance of acceptance, if training had enough outcomes), ``propensity`` without,
    ``persona`` from the persona's adoption alone."""
    persona = scores["persona"].to_numpy(dtype=np.int64)
    holders = np.asarray(meta["adoption"]["holders"], dtype=float)
    adoption = (holders / np.maximum(np.asarray(meta["adoption"]["customers"]), 1)[:, None])[persona]
    bits = np.arange(len(PRODUCTS))
    holds = (scores["holds"].to_numpy(dtype=np.int64)[:, None] >> bits) & 1 == 1
    needs = (scores["needs"].to_numpy(dtype=np.int64)[:, None] >> bits) & 1 == 1
    clicks = scores[[f"clicks_{p}" for p in PRODUCTS]].to_numpy(dtype=float)
    ages = scores["age"].to_numpy()
    outcomes = nba.OutcomeModel.from_meta(meta["nba"]["outcomes"]["model"])
    propensity = nba.propensity(holds, ages, adoption, clicks, needs)
    return {
        "model": propensity if outcomes is None else outcomes.score(propensity, persona),
        "propensity": propensity,
        "persona": nba.propensity(holds, ages, adoption, np.zeros_like(clicks), np.zeros_like(needs)),
    }


def _next_best_action(scores: pd.DataFrame, truth: pd.DataFrame, meta: dict) -> dict:
    """How often the product a customer was about to buy is among the top three offers."""
    about_to_buy = pd.Categorical(truth["next_product"], categories=PRODUCTS).codes
    interested = about_to_buy >= 0
    if not interested.any():
        return {"nba_top3_hit_rate": None, "nba_top3_hit_rate_persona_only": None}
    rankings = _rankings(scores, meta)

    def hit_rate(scored: np.ndarray) -> float:
        top = nba.rank(scored)[:, : nba.TOP]
        offered = np.take_along_axis(scored, top, axis=1) > 0
        hit = ((top == about_to_buy[:, None]) & offered).any(axis=1)
        return float(hit[interested].mean())

    return {
        "nba_top3_hit_rate": hit_rate(rankings["model"]),
        "nba_top3_hit_rate_persona_only": hit_rate(rankings["persona"]),
    }


def _rate(accepted: int, decided: int) -> dict:
    """An acceptance with its 95% Wilson interval (None when nothing was decided)."""
    low, high = sentiment.wilson_interval(accepted, decided)
    return {
        "accepted": accepted,
        "decided": decided,
        "rate": accepted / decided if decided else None,
        "low": low if decided else None,
        "high": high if decided else None,
    }


def _offer_outcomes(scores: pd.DataFrame, recorded: pd.DataFrame, meta: dict) -> dict:
    """Each product's observed acceptance, and the acceptance of the offers each ranking makes first (see
    the module's docstring), with the training's record of how much the outcomes moved the ranking."""
    decided = recorded[recorded["response"].isin(["accepted", "declined"]).to_numpy()]
    accepted = decided["response"].to_numpy() == "accepted"
    product = pd.Categorical(decided["product"], categories=PRODUCTS).codes.astype(np.int64)
    by_product = {
        p: _rate(int(accepted[product == i].sum()), int((product == i).sum())) for i, p in enumerate(PRODUCTS)
    }
    ids = scores["customer_id"].to_numpy(dtype=np.int64)
    row = np.minimum(np.searchsorted(ids, decided["customer_id"].to_numpy()), max(len(ids) - 1, 0))
    fair = (decided["source"].to_numpy() == SIMULATED_SOURCE) & (product >= 0)
    fair &= (ids[row] == decided["customer_id"].to_numpy()) if len(ids) else False
    first, top3 = {}, {}
    for name, scored in _rankings(scores, meta).items():
        place = np.argsort(nba.rank(scored), axis=1)[row, product] if len(ids) else np.zeros(len(row), int)
        offered = fair & (scored[row, product] > 0) if len(ids) else fair
        for kept, places in ((first, 1), (top3, nba.TOP)):
            chosen = offered & (place < places)
            kept[name] = _rate(int(accepted[chosen].sum()), int(chosen.sum()))
    model, persona = first["model"]["rate"], first["persona"]["rate"]
    metrics = meta["metrics"]
    return {
        "offer_outcomes_decided": len(decided),
        "offer_acceptance_overall": _rate(int(accepted.sum()), len(decided)),
        "offer_acceptance": by_product,
        "offer_first_model": first["model"],
        "offer_first_model_without_outcomes": first["propensity"],
        "offer_first_persona_only": first["persona"],
        "offer_top3_model": top3["model"],
        "offer_top3_model_without_outcomes": top3["propensity"],
        "offer_top3_persona_only": top3["persona"],
        "offer_lift_over_persona": model / persona if model is not None and persona else None,
        **{
            name: metrics.get(name)
            for name in (
                "nba_outcomes_decided",
                "nba_outcomes_used",
                "nba_first_offer_changed",
                "nba_top3_changed",
                "nba_kendall_tau",
            )
        },
        "nba_outcomes_threshold": meta["nba"]["outcomes"]["threshold"],
    }


def _reasons(run: Path, layout: Layout) -> dict:
    """Top-1 and top-3 accuracy of the reason model, of its baselines and of the generator's own reason
    probabilities, on the held-out customers' contacts whose lead-up the sources hold."""
    if not layout.contact_truth.is_file():
        raise SourceMissing(f"{layout.contact_truth} is missing: evaluation needs the generated ground truth")
    ranked = pq.read_table(run / artifacts.REASONS).to_pandas()
    oracle = (
        pq.read_table(layout.contact_truth).to_pandas().set_index("contact_id").reindex(ranked["contact_id"])
    )
    truth = ranked["reason"].to_numpy(dtype=np.int64)
    columns = {
        "reason": [f"model_{i + 1}" for i in range(reason.TOP)],
        "reason_history": [f"history_{i + 1}" for i in range(reason.TOP)],
        "reason_last_page": [f"last_page_{i + 1}" for i in range(reason.TOP)],
    }
    top = {name: ranked[names].to_numpy(dtype=np.int64) for name, names in columns.items()}
    top["reason_oracle"] = reason.rank(oracle[[f"p_{r}" for r in reason.REASONS]].to_numpy())[:, : reason.TOP]
    return {
        f"{name}_top{k}": float((ranks[:, :k] == truth[:, None]).any(axis=1).mean()) if len(truth) else None
        for name, ranks in top.items()
        for k in (1, reason.TOP)
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: print the evaluation, as one JSON object with --json."""
    parser = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__.split("\n")[0])
    config.add_arguments(parser, only=["data_dir", "mysql_url"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        settings = config.load(namespace=args)
        figures = evaluate(settings.data_dir, mysql=settings.mysql)
    except (config.ConfigError, ModelsMissing, SourceMissing, BankingUnavailable) as error:
        parser.exit(2, f"error: {error}\n")
    if args.json:
        print(orjson.dumps(figures).decode())
    else:
        for name, value in figures.items():
            print(f"{name:40} {value:.4f}" if isinstance(value, float) else f"{name:40} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
