"""Sentiment: a text classifier of survey comments, and its extrapolation to customers who never answered.

The classifier (TF-IDF of words and word pairs, logistic regression) learns from the comments and the rating
given with them (1-2 negative, 3 neutral, 4-5 positive): the hidden true sentiment is never used for
training. A respondent's sentiment is the mean of the classifier's probabilities over their comments. For
everyone else it is inferred: the sentiment distribution of the respondents of their persona, with how many
respondents it rests on and a 95% Wilson interval of the leading share.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

LABELS = ("NEGATIVE", "NEUTRAL", "POSITIVE")
MIN_RESPONSES = 30  # fewer answers than this teach the classifier nothing reliable
Z_95 = 1.959964


def rating_labels(ratings: np.ndarray) -> np.ndarray:
    """Index into LABELS from a 1-5 rating: 1-2 negative, 3 neutral, 4-5 positive."""
    ratings = np.asarray(ratings, dtype=float)
    return np.select([ratings <= 2, ratings <= 3], [0, 1], 2)


@dataclass(frozen=True)
class SentimentModel:
    pipeline: Pipeline

    @classmethod
    def fit(cls, comments: pd.Series, labels: np.ndarray) -> SentimentModel | None:
        """Train on comments and rating labels; None when there are too few answers or one kind only."""
        from sklearn.feature_extraction.text import TfidfVectorizer  # see models/__init__.py
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        if len(comments) < MIN_RESPONSES or len(np.unique(labels)) < 2:
            return None
        pipeline = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True),
            LogisticRegression(C=1.0, max_iter=2000),
        )
        return cls(pipeline.fit(comments.fillna("").to_numpy(), labels))

    def probabilities(self, comments: pd.Series) -> np.ndarray:
        """Probability of each of LABELS per comment (zero for a class never seen in training)."""
        out = np.zeros((len(comments), len(LABELS)))
        if len(comments):
            out[:, self.pipeline.classes_] = self.pipeline.predict_proba(comments.fillna("").to_numpy())
        return out

    def top_terms(self, count: int = 8) -> dict[str, list[str]]:
        """The words that push hardest toward each class, for the artifacts' record."""
        vectorizer, regression = self.pipeline[0], self.pipeline[-1]
        vocabulary = vectorizer.get_feature_names_out()
        weights = (
            regression.coef_
            if len(regression.classes_) > 2
            else np.vstack([-regression.coef_, regression.coef_])
        )
        return {
            LABELS[c]: [str(vocabulary[i]) for i in np.argsort(-w, kind="stable")[:count]]
            for c, w in zip(regression.classes_, weights, strict=True)
        }


def customer_probabilities(
    customer_ids: np.ndarray, response_customers: np.ndarray, response_probabilities: np.ndarray
) -> np.ndarray:
    """Mean probabilities per customer over their answers (rows of ``customer_ids``); NaN when none."""
    position = np.searchsorted(customer_ids, response_customers)
    counts = np.bincount(position, minlength=len(customer_ids)).astype(float)
    sums = np.column_stack(
        [
            np.bincount(position, response_probabilities[:, c], minlength=len(customer_ids))
            for c in range(len(LABELS))
        ]
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts[:, None]


def persona_counts(persona: np.ndarray, respondent_probabilities: np.ndarray, k: int) -> np.ndarray:
    """Respondents per persona and label (their most likely label), k x 3."""
    answered = ~np.isnan(respondent_probabilities[:, 0])
    label = respondent_probabilities[answered].argmax(axis=1)
    return np.bincount(persona[answered] * len(LABELS) + label, minlength=k * len(LABELS)).reshape(
        k, len(LABELS)
    )


def wilson_interval(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """95% Wilson score interval of a share; (0, 1) when nothing was observed."""
    if n <= 0:
        return 0.0, 1.0
    share = successes / n
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(centre - half, 0.0)), float(min(centre + half, 1.0))
