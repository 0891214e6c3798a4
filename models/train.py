"""Train every model from the sources and write versioned artifacts the dashboard loads.

    python -m models.train [--data-dir D] [--if-stale] [--quiet]

Customers are split once, by a hash of their id, into held-out customers (20%, never used for fitting: the
evaluation measures the models on them), a validation slice and a calibration slice (10% each) and the
fitting rest. The models are fitted on at most :data:`MAX_SAMPLE` customers (past it a sample chosen by
another hash of the id, :func:`connectors.features.in_sample`), then every customer is scored vectorised,
:data:`SCORE_PART` ids at a time, so that memory does not grow with the customers and the dashboard only
looks scores up.

Offers close the loop: the recorded answers to past offers (representatives' and the generator's simulated
history, :func:`connectors.features.offer_outcomes`) of the training customers teach the next best action
the chance of acceptance (:func:`models.nba.learn_outcomes`) once there are :data:`models.nba.MIN_OUTCOMES`
decided ones; the metrics say how much that moved the ranking (``nba_first_offer_changed``,
``nba_top3_changed``, ``nba_kendall_tau``).
The held-out customers' outcomes are left for the evaluation.

The reason for a call is learnt from the contact center's past contacts (see :mod:`models.reason`); the
held-out customers' contacts, ranked by the model and by two baselines, are written for the evaluation.

Churn is learnt from the bank's own records: former customers (every account closed, see
:mod:`connectors.features`) as they were when they left, against active customers as they are today. The
hidden ground truth (``truth/``) is never read here; it is for ``python -m models.evaluate`` only. The other
models describe the bank's current customers, so they are fitted on active customers; only the text
classifier of survey comments also reads former customers' answers, since how words go with a rating does
not depend on whether the writer stayed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from sklearn.metrics import brier_score_loss, roc_auc_score
from tqdm import tqdm

from connectors import config, features, jsonlines
from connectors.catalog import PRODUCTS, counted
from connectors.config import MySQLTarget
from connectors.directory.banking import BankingUnavailable
from connectors.features import Features
from connectors.layout import Layout, SourceMissing
from models import artifacts, churn, ltv, nba, personas, reason, sentiment
from models.heatmap import adoption_table

SEED = 360
HELD_OUT = 0.2
VALIDATION = (0.2, 0.3)
CALIBRATION = (0.3, 0.4)
MAX_FIT_ROWS = 300_000  # the churn regression gains nothing from more rows; scoring covers everyone
MAX_TEXT_ROWS = 60_000  # survey answers the text classifier learns from (it reads every answer)
MIN_CUSTOMERS = 200  # fewer leave too few churners in the calibration slice to learn from
MAX_SAMPLE = 1_000_000  # customers the models are fitted and measured on (a hash sample past it)
SCORE_PART = 1_000_000  # customers scored at a time past the sample (a range of ids)
STEPS = (
    "Reading sources",
    "Spend rates",
    "Personas",
    "Sentiment",
    "Churn",
    "Reason for a call",
    "Offer outcomes",
    "Scoring every customer",
    "Writing",
)


class TrainingError(ValueError):
    """The data cannot support the models; the message says why."""


def split_point(customer_ids: np.ndarray) -> np.ndarray:
    """A fixed pseudo-random number in [0, 1) per customer id (multiplicative hash): the split's key."""
    return ((np.asarray(customer_ids, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(2**32)) / 2**32


def held_out(customer_ids: np.ndarray) -> np.ndarray:
    """The customers no model is fitted on: the evaluation's customers."""
    return split_point(customer_ids) < HELD_OUT


def _bitmask(flags: np.ndarray) -> np.ndarray:
    return (np.asarray(flags, dtype=np.int64) << np.arange(flags.shape[1])).sum(axis=1).astype(np.int16)


def _calibration_error(probability: np.ndarray, outcome: np.ndarray, bins: int = 10) -> float:
    """Largest gap between predicted and observed churn over deciles of the prediction."""
    order = np.argsort(probability, kind="stable")
    return float(
        max(abs(probability[c].mean() - outcome[c].mean()) for c in np.array_split(order, bins) if len(c))
    )


@dataclass(frozen=True)
class Fitted:
    """What the sample taught: enough to score any customer."""

    trend_prior: float
    spend_fill: personas.SpendFill
    persona_model: personas.PersonaModel
    sentiment_model: sentiment.SentimentModel | None
    churn_model: churn.ChurnModel


@dataclass(frozen=True)
class Learnt:
    """What the fit measured and named on the sample, beside the fitted models."""

    metrics: dict
    names: list[str]
    traits: pd.DataFrame
    persona_columns: list[str]
    sentiment_record: dict
    reasons: reason.Learnt
    outcome_model: nba.OutcomeModel | None
    as_of: date


def train(
    layout: Layout,
    folder: Path | None = None,
    seed: int = SEED,
    progress: bool = True,
    mysql: MySQLTarget | None = None,
) -> Path:
    """Train on ``layout`` and publish the artifacts into ``folder`` (default ``<data>/models``); the offer
    outcomes come from ``mysql`` when given (``C360_MYSQL_URL``), else from the data folder's desk store.

    The models are fitted and measured on a sample of at most :data:`MAX_SAMPLE` customers (everyone in a
    smaller data set); every customer is then scored, :data:`SCORE_PART` at a time, so that memory does not
    grow with the customers.
    """
    folder = Path(folder) if folder else artifacts.models_dir(layout.root)
    started = time.perf_counter()
    timings: dict[str, float] = {}
    bar = tqdm(total=len(STEPS), desc=STEPS[0], unit=" step", disable=not progress)

    def step(name: str) -> None:
        """Close the running step (recording its time) and show the next one."""
        timings[STEPS[len(timings)]] = round(time.perf_counter() - started - sum(timings.values()), 2)
        bar.update(1)
        bar.set_description(name)

    layout.as_of()  # no data set: say how to create one before anything else
    fingerprint, code = layout.fingerprint(), artifacts.code_version()
    with features.Reader(layout) as reader:
        everyone = reader.customer_ids
        fraction = min(1.0, MAX_SAMPLE / max(len(everyone), 1))
        data = reader.features(
            everyone if fraction == 1 else everyone[features.in_sample(everyone, fraction)]
        )
        recorded = features.offer_outcomes(layout, mysql, fraction)
        skipped = reader.skips.total
        if len(data.customer_ids) < MIN_CUSTOMERS:
            lost = f" ({skipped:,} source lines were skipped as unreadable: see the log)" if skipped else ""
            raise TrainingError(
                f"{len(data.customer_ids)} customers are too few to learn from: {MIN_CUSTOMERS} at least{lost}"
            )
        fitted, learnt = _fit(data, recorded, seed, step)
        step(STEPS[7])
        parts = [data] if fraction == 1 else _parts(reader, everyone, bar)
        scores = pd.concat([_scores_frame(part, fitted) for part in parts], ignore_index=True)
        del data, parts  # the features: only the scores are written
    step(STEPS[8])
    run = _publish(folder, scores, fitted, learnt, reader.skips, fingerprint, code, seed, started, timings)
    bar.update(1)
    bar.close()
    return run


def _fit(data: Features, recorded: pd.DataFrame, seed: int, step) -> tuple[Fitted, Learnt]:
    """Fit every model on ``data`` (the sample), calling ``step`` as each begins."""
    ids = data.customer_ids
    former = data.former  # the churn outcome: left (every account closed) within the past year
    active = ~former
    point = split_point(ids)
    test = point < HELD_OUT
    validation = (point >= VALIDATION[0]) & (point < VALIDATION[1])
    calibration = (point >= CALIBRATION[0]) & (point < CALIBRATION[1])
    fitting = point >= CALIBRATION[1]
    fit_rows = fitting & (point < CALIBRATION[1] + MAX_FIT_ROWS / max(len(ids), 1))
    train_rows = fit_rows | calibration
    for rows in (fit_rows, calibration):
        if former[rows].all() or not former[rows].any():
            raise TrainingError(
                f"{int(former[train_rows].sum())} former and {int(active[train_rows].sum())} active customers "
                "to learn churn from: both are needed (a former customer has every account closed)"
            )
    learners = ~test & active
    step(STEPS[1])

    spending = data.spending
    prior = ltv.trend_prior_variance(
        spending["position"].to_numpy()[learners], spending["transactions"].to_numpy()[learners]
    )
    rate = _rate(data, prior)
    step(STEPS[2])

    fill = personas.spend_fill(data)
    persona_inputs = personas.persona_matrix(data, fill)
    persona_model = personas.PersonaModel.fit(persona_inputs[learners], seed)
    assigned = persona_model.assign(persona_inputs)
    persona_traits = personas.traits(persona_inputs[active], assigned.persona[active], persona_model.k)
    names = personas.name_personas(persona_traits)
    step(STEPS[3])

    sentiment_model, sentiment_record = _fit_sentiment(data, validation | test)
    step(STEPS[4])

    inputs = churn.churn_matrix(data, rate.trend)
    churn_model = churn.ChurnModel.fit(
        inputs[train_rows].reset_index(drop=True), former[train_rows], calibration[train_rows]
    )
    step(STEPS[5])

    reasons = reason.learn(data.activity, split_point, seed)
    step(STEPS[6])

    holdings = data.holdings.to_numpy(dtype=bool)
    table = adoption_table(assigned.persona[active], holdings[active], names)
    adoption = table["adoption"].to_numpy().reshape(persona_model.k, len(PRODUCTS))
    outcome_model, outcome_metrics = _offer_outcomes(data, recorded, assigned.persona, adoption, learners)
    metrics = {
        "fitted_on_customers": len(ids),
        "persona_k": persona_model.k,
        "persona_silhouette": persona_model.silhouettes[persona_model.k],
        "trend_prior_sd": float(np.sqrt(prior)),
        **sentiment_record.pop("metrics"),
        **reasons.metrics,
        **outcome_metrics,
    }
    fitted = Fitted(prior, fill, persona_model, sentiment_model, churn_model)
    learnt = Learnt(
        metrics,
        names,
        persona_traits,
        list(persona_inputs.columns),
        sentiment_record,
        reasons,
        outcome_model,
        data.as_of,
    )
    return fitted, learnt


def _rate(data: Features, prior: float) -> ltv.RateEstimate:
    spending = data.spending
    return ltv.rate_estimate(
        spending["transactions"].to_numpy(),
        spending["spend"].to_numpy(),
        spending["position"].to_numpy(),
        data.profile["history_days"].to_numpy(),
        prior,
    )


def _parts(reader: features.Reader, everyone: np.ndarray, bar: tqdm) -> Iterator[Features]:
    """Every customer's features, :data:`SCORE_PART` customers (a range of ids) at a time."""
    chunks = np.array_split(everyone, -(-len(everyone) // SCORE_PART))
    for number, chunk in enumerate(chunks, 1):
        bar.set_postfix_str(f"part {number} of {len(chunks)}")
        yield reader.features(chunk, activity=False)
    bar.set_postfix_str("")


def _publish(
    folder: Path,
    scores: pd.DataFrame,
    fitted: Fitted,
    learnt: Learnt,
    skips: jsonlines.Skips,
    fingerprint: str,
    code: str,
    seed: int,
    started: float,
    timings: dict,
) -> Path:
    """The figures over every customer's scores, the models' description, and the artifacts written."""
    ids = scores["customer_id"].to_numpy()
    former = scores["closed_on"].notna().to_numpy()
    active = ~former
    point = split_point(ids)
    validation = (point >= VALIDATION[0]) & (point < VALIDATION[1])
    churn_risk = scores["churn_risk"].to_numpy()
    persona = scores["persona"].to_numpy(dtype=np.int64)
    k = fitted.persona_model.k
    probabilities = scores[[f"sentiment_{label.lower()}" for label in sentiment.LABELS]].to_numpy()
    sentiment_counts = sentiment.persona_counts(persona[active], probabilities[active], k)
    holds = (scores["holds"].to_numpy()[:, None] >> np.arange(len(PRODUCTS))) & 1
    table = adoption_table(persona[active], holds[active], learnt.names)
    sizes = np.bincount(persona[active], minlength=k)
    metrics = {
        "customers": len(ids),
        "skipped_lines": skips.total,
        "former_customers": int(former.sum()),
        "observed_churn_rate": float(former.mean()),
        "held_out_customers": int(scores["held_out"].sum()),
        "churn_validation_auc": _auc(former[validation], churn_risk[validation]),
        "churn_validation_brier": float(brier_score_loss(former[validation], churn_risk[validation]))
        if validation.any()
        else None,
        "churn_validation_calibration_error": _calibration_error(churn_risk[validation], former[validation])
        if validation.sum() >= 10
        else None,
        "ltv_scored_share": float(scores["ltv"].notna().to_numpy()[active].mean()) if active.any() else 0.0,
        "sentiment_respondents": int((~np.isnan(probabilities[:, 0])).sum()),
    } | learnt.metrics
    trained_at = datetime.now(timezone.utc)
    version = f"{trained_at:%Y%m%dT%H%M%S%f}-{fingerprint[:8]}"
    persona_model, traits = fitted.persona_model, learnt.traits
    meta = {
        "format": artifacts.FORMAT,
        "version": version,
        "trained_at": trained_at.isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        "code_version": code,
        "seed": seed,
        "as_of": learnt.as_of.isoformat(),
        "metrics": metrics,
        "personas": [
            {
                "persona": p,
                "name": learnt.names[p],
                "size": int(sizes[p]),
                "age": float(traits.loc[p, "age"]),
                "monthly_spend": float(traits.loc[p, "monthly_spend"]),
                "sentiment_counts": sentiment_counts[p].tolist(),
            }
            for p in range(k)
        ],
        "adoption": {
            "holders": table["holders"].to_numpy().reshape(k, len(PRODUCTS)).tolist(),
            "customers": table["customers"].to_numpy()[:: len(PRODUCTS)].tolist(),
        },
        "silhouettes": {str(k): v for k, v in persona_model.silhouettes.items()},
        "persona_model": {
            "mean": persona_model.mean.tolist(),
            "scale": persona_model.scale.tolist(),
            "centers": persona_model.centers.tolist(),
            "columns": learnt.persona_columns,
        },
        "churn": fitted.churn_model.describe()
        | {"factors": list(churn.FACTORS), "risk_levels": churn.RISK_LEVELS},
        "ltv": {"trend_prior_variance": fitted.trend_prior, "assumptions": ltv.ASSUMPTIONS},
        "sentiment": learnt.sentiment_record,
        "nba": {
            "click_weight": nba.CLICK_WEIGHT,
            "need_weight": nba.NEED_WEIGHT,
            "outcomes": {
                "threshold": nba.MIN_OUTCOMES,
                "shift_prior": nba.SHIFT_PRIOR,
                "model": None if learnt.outcome_model is None else learnt.outcome_model.describe(),
            },
        },
        "reason": learnt.reasons.model.describe(),
        "skipped_lines": skips.as_dict(),
    }
    return _write(folder, version, meta, scores, learnt.reasons.held_out, started, timings)


def _offer_outcomes(
    data: Features, recorded: pd.DataFrame, persona: np.ndarray, adoption: np.ndarray, learners: np.ndarray
) -> tuple[nba.OutcomeModel | None, dict]:
    """What the decided outcomes of the ``learners`` (active customers not held out) teach the next best
    action (see :func:`models.nba.learn_outcomes`), and how much that moves every active customer's ranking."""
    ids = data.customer_ids
    decided = recorded[recorded["response"].isin(["accepted", "declined"]).to_numpy()]
    row = np.minimum(np.searchsorted(ids, decided["customer_id"].to_numpy()), max(len(ids) - 1, 0))
    product = pd.Categorical(decided["product"], categories=PRODUCTS).codes.astype(np.int64)
    keep = (ids[row] == decided["customer_id"].to_numpy()) & (product >= 0)
    keep &= learners[row]
    row, product, accepted = row[keep], product[keep], (decided["response"].to_numpy() == "accepted")[keep]
    holds = data.holdings.to_numpy(dtype=bool)
    ages = data.profile["age"].to_numpy(dtype=float)
    clicks = data.clicks[list(PRODUCTS)].to_numpy(dtype=float)
    needs = data.surveys[[f"needs_{p}" for p in PRODUCTS]].to_numpy(dtype=float)
    before = nba.propensity(holds, ages, adoption[persona], clicks, needs)
    model = nba.learn_outcomes(persona[row], product, accepted, before[row, product], adoption.shape[0])
    metrics = {"nba_outcomes_decided": len(row), "nba_outcomes_used": model is not None}
    moved = {"first_offer_changed": 0.0, "top3_changed": 0.0, "kendall_tau": 1.0}
    if model is not None:
        active = ~data.former
        moved = nba.ranking_change(before[active], model.score(before[active], persona[active]))
    return model, metrics | {f"nba_{name}": value for name, value in moved.items()}


def _auc(outcome: np.ndarray, score: np.ndarray) -> float | None:
    return float(roc_auc_score(outcome, score)) if len(np.unique(outcome)) == 2 else None


def _fit_sentiment(data: Features, excluded: np.ndarray) -> tuple[sentiment.SentimentModel | None, dict]:
    """The classifier of survey comments, fitted on answers of customers not ``excluded``, and its record."""
    ids = data.customer_ids
    responses = data.responses
    labels = sentiment.rating_labels(responses["rating"].to_numpy())
    response_ids = responses["customer_id"].to_numpy(dtype=np.int64)
    excluded_response = excluded[np.searchsorted(ids, response_ids)] if len(responses) else np.zeros(0, bool)
    fit_rows = np.flatnonzero(~excluded_response)
    fit_rows = fit_rows[np.argsort(split_point(response_ids[fit_rows]), kind="stable")[:MAX_TEXT_ROWS]]
    model = sentiment.SentimentModel.fit(responses["comment"].iloc[fit_rows], labels[fit_rows])
    if model is None:
        return None, {"trained": False, "responses": len(responses), "metrics": {}}
    validation = excluded_response & ~held_out(response_ids)
    accuracy = (
        float(
            (
                model.probabilities(responses["comment"][validation]).argmax(axis=1) == labels[validation]
            ).mean()
        )
        if validation.any()
        else None
    )
    return model, {
        "trained": True,
        "responses": len(responses),
        "top_terms": model.top_terms(),
        "metrics": {"sentiment_validation_agreement_with_rating": accuracy},
    }


def _scores_frame(data: Features, fitted: Fitted) -> pd.DataFrame:
    """Every model's scores of the customers of ``data``, one row each, in id order."""
    ids = data.customer_ids
    rate = _rate(data, fitted.trend_prior)
    assigned = fitted.persona_model.assign(personas.persona_matrix(data, fitted.spend_fill))
    inputs = churn.churn_matrix(data, rate.trend)
    contributions = fitted.churn_model.contributions(inputs)
    churn_risk = fitted.churn_model.probability(inputs)
    former = data.former
    value = np.where(former, np.nan, ltv.lifetime_value(rate, churn_risk))  # nothing more from who left
    months = np.where(former, 0.0, ltv.expected_months(churn_risk))
    respondent_probabilities = np.full((len(ids), len(sentiment.LABELS)), np.nan)
    if fitted.sentiment_model is not None:
        responses = data.responses
        respondent_probabilities = sentiment.customer_probabilities(
            ids,
            responses["customer_id"].to_numpy(dtype=np.int64),
            fitted.sentiment_model.probabilities(responses["comment"]),
        )
    profile, spending, clicks, surveys = data.profile, data.spending, data.clicks, data.surveys
    frame = {
        "customer_id": ids.astype(np.int64),
        "held_out": held_out(ids),
        "closed_on": profile["closed_on"].to_numpy(dtype="datetime64[s]"),
        "persona": assigned.persona.astype(np.int8),
        "persona_distance": assigned.distance.astype(np.float32),
        "runner_up": assigned.runner_up.astype(np.int8),
        "runner_up_distance": assigned.runner_up_distance.astype(np.float32),
        "churn_risk": churn_risk,
        **{f"factor_{i}": contributions[:, i].astype(np.float32) for i in range(contributions.shape[1])},
        "age": profile["age"].to_numpy(dtype=np.float32),
        "tenure_years": profile["tenure_years"].to_numpy(dtype=np.float32),
        "has_web": profile["has_web"].to_numpy(dtype=bool),
        "history_days": profile["history_days"].to_numpy(dtype=np.int16),
        "products": data.holdings.sum(axis=1).to_numpy(dtype=np.int8),
        "holds": _bitmask(data.holdings.to_numpy()),
        "transactions": spending["transactions"].to_numpy(dtype=np.int32),
        "average_monthly": rate.average_monthly.astype(np.float32),
        "trend": rate.trend.astype(np.float32),
        "monthly_rate": rate.monthly_rate.astype(np.float32),
        "expected_months": months.astype(np.float32),
        "ltv": value,
        "clicks": clicks["clicks"].to_numpy(dtype=np.int32),
        "leaving": clicks["leaving"].to_numpy(dtype=np.int32),
        **{f"clicks_{p}": clicks[p].to_numpy(dtype=np.int16) for p in PRODUCTS},
        "responses": surveys["responses"].to_numpy(dtype=np.int16),
        "rating": surveys["rating"].to_numpy(dtype=np.float32),
        "needs": _bitmask(surveys[[f"needs_{p}" for p in PRODUCTS]].to_numpy()),
        **{
            f"sentiment_{label.lower()}": respondent_probabilities[:, i].astype(np.float32)
            for i, label in enumerate(sentiment.LABELS)
        },
    }
    return pd.DataFrame(frame)


def _write(
    folder: Path,
    version: str,
    meta: dict,
    scores: pd.DataFrame,
    held_out_contacts: pd.DataFrame,
    started: float,
    timings: dict,
) -> Path:
    """Write the run into a staging folder, then move it into place and make it current."""
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".training-", dir=folder))
    try:
        for frame, name in ((scores, artifacts.CUSTOMERS), (held_out_contacts, artifacts.REASONS)):
            table = pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None)
            pq.write_table(table, staging / name, compression="zstd")
            if name == artifacts.CUSTOMERS:
                feather.write_feather(
                    table,
                    staging / artifacts.SERVED,
                    compression="uncompressed",
                    chunksize=max(1, table.num_rows),
                )
        elapsed = time.perf_counter() - started
        timings["Writing"] = round(elapsed - sum(timings.values()), 2)
        meta["metrics"]["training_seconds"] = round(elapsed, 1)
        meta["timings"] = timings
        (staging / artifacts.META).write_bytes(
            orjson.dumps(meta, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
        )
        staging.rename(folder / version)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    artifacts.publish(folder, folder / version)
    return folder / version


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: train, or with --if-stale only when the data or the code changed."""
    parser = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n")[0])
    config.add_arguments(parser, only=["data_dir", "mysql_url"])
    parser.add_argument("--if-stale", action="store_true", help="do nothing when the models match the data")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    settings = config.load_or_exit(parser, args)
    layout = Layout(settings.data_dir)
    folder = artifacts.models_dir(settings.data_dir)
    if args.if_stale and layout.exists() and not artifacts.is_stale(layout, folder):
        print(f"Models in {folder} match the data and the code; not retrained.")
        return 0
    try:
        run = train(layout, folder, progress=not args.quiet, mysql=settings.mysql)
    except (SourceMissing, TrainingError, BankingUnavailable) as error:
        parser.exit(2, f"error: {error}\n")
    meta = artifacts.read_meta(run)
    metrics = meta["metrics"]
    for name, skipped in meta["skipped_lines"].items():
        print(f"Skipped {counted(skipped['skipped'], 'line')} of {name}: {jsonlines.summary(skipped)}")
    print(
        f"Trained on {counted(metrics['customers'], 'customer')} in {metrics['training_seconds']} s: "
        f"{metrics['persona_k']} personas, churn validation AUC {metrics['churn_validation_auc'] or float('nan'):.3f}. "
        f"Artifacts: {run}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
