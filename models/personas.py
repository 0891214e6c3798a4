"""Personas: K-means over who customers are, what they hold and how they spend, named from the centres.

Three blocks weigh the same in the distance: profile and spending level (age, tenure, monthly spend), the 12
products held, and the spending mix (share per category), each standardised and scaled so that a block's
total variance is 3. Customers without card spending have no spending level or mix: they are placed by
profile and holdings, with the typical values filled in. Spending shares enter as square roots (the
Hellinger distance between mixes), so small categories are not drowned by large ones. The number of personas is the one with the best
silhouette on a sample, within :data:`K_RANGE`; the seed is fixed, so the same data gives the same personas.
Personas are numbered by the age of their centre (0 is the youngest) and named by their traits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from connectors.catalog import CATEGORY_NAMES, PRODUCTS
from connectors.features import Features

K_RANGE = range(3, 9)
FIT_SAMPLE = 30_000
SILHOUETTE_SAMPLE = 5_000
RESTARTS = 4
PROFILE_COLUMNS = ("age", "log_tenure", "log_monthly_spend")
BLOCKS = (PROFILE_COLUMNS, PRODUCTS, CATEGORY_NAMES)

AGE_WORDS = ((30, "Young"), (45, "Mid-career"), (60, "Established"), (float("inf"), "Senior"))
PRODUCT_NOUNS = {
    "debit_card": "everyday bankers",
    "personal_credit_card": "card users",
    "business_credit_card": "business owners",
    "home_mortgage_loan": "homeowners",
    "auto_loan": "car buyers",
    "brokerage_account": "investors",
    "roth_ira": "retirement savers",
    "401k": "retirement savers",
    "home_insurance": "homeowners",
    "automobile_insurance": "drivers",
    "medical_insurance": "health-insured",
    "life_insurance": "family protectors",
}


@dataclass(frozen=True)
class SpendFill:
    """What a customer without card spending is given instead: the typical spender's, learnt once from the
    training sample so that every part of the customers is scored alike."""

    log_monthly_spend: float
    mix: np.ndarray  # square roots of the category shares, in CATEGORY_NAMES order


def spend_fill(features: Features) -> SpendFill:
    """The median log spend and the mean category mix of the customers who spent."""
    spent = features.spending["transactions"].to_numpy() > 0
    if not spent.any():
        return SpendFill(0.0, np.zeros(len(CATEGORY_NAMES)))
    log_spend = np.log1p(features.spending["monthly_spend"].to_numpy())
    mix = np.sqrt(features.categories.to_numpy())
    return SpendFill(float(np.median(log_spend[spent])), mix[spent].mean(axis=0))


def persona_matrix(features: Features, fill: SpendFill) -> pd.DataFrame:
    """The clustering inputs in natural units, ``fill`` standing in for customers without card spending."""
    spent = features.spending["transactions"].to_numpy() > 0
    log_spend = np.where(
        spent, np.log1p(features.spending["monthly_spend"].to_numpy()), fill.log_monthly_spend
    )
    mix = np.sqrt(features.categories.to_numpy())
    mix[~spent] = fill.mix
    frame = pd.DataFrame(
        {
            "age": features.profile["age"].to_numpy(),
            "log_tenure": np.log1p(features.profile["tenure_years"].to_numpy()),
            "log_monthly_spend": log_spend,
        }
    )
    frame[list(PRODUCTS)] = features.holdings.to_numpy(dtype=float)
    frame[list(CATEGORY_NAMES)] = mix
    return frame


@dataclass(frozen=True)
class Assignment:
    persona: np.ndarray
    distance: np.ndarray
    runner_up: np.ndarray
    runner_up_distance: np.ndarray


@dataclass(frozen=True)
class PersonaModel:
    """Scaling, centres (in scaled units, ordered by age) and the silhouette of every k tried."""

    mean: np.ndarray
    scale: np.ndarray
    centers: np.ndarray
    silhouettes: dict[int, float]

    @property
    def k(self) -> int:
        return len(self.centers)

    @classmethod
    def fit(cls, X: pd.DataFrame, seed: int) -> PersonaModel:
        """Choose k by silhouette on a sample, then fit K-means on a larger sample."""
        from sklearn.cluster import KMeans  # see models/__init__.py
        from sklearn.metrics import silhouette_score

        values = X.to_numpy()
        mean, scale = values.mean(axis=0), values.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0) / _block_weights()
        z = (values - mean) / scale
        rng = np.random.default_rng(seed)
        sample = z[rng.permutation(len(z))[:FIT_SAMPLE]]
        probe = sample[:SILHOUETTE_SAMPLE]
        silhouettes, fits = {}, {}
        for k in K_RANGE:
            if k >= len(probe):
                break
            fits[k] = KMeans(k, n_init=RESTARTS, random_state=seed).fit(sample)
            silhouettes[k] = float(silhouette_score(probe, fits[k].predict(probe)))
        best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
        centers = fits[best].cluster_centers_
        centers = centers[np.argsort(centers[:, 0], kind="stable")]  # column 0 is age
        return cls(mean, scale, centers, silhouettes)

    def assign(self, X: pd.DataFrame) -> Assignment:
        """Nearest and second-nearest centre of every row, with distances in scaled units."""
        z = (X.to_numpy() - self.mean) / self.scale
        distances = np.sqrt(
            np.maximum(
                (z * z).sum(axis=1)[:, None]
                - 2 * z @ self.centers.T
                + (self.centers**2).sum(axis=1)[None, :],
                0,
            )
        )
        order = np.argsort(distances, axis=1, kind="stable")
        rows = np.arange(len(z))
        return Assignment(
            order[:, 0], distances[rows, order[:, 0]], order[:, 1], distances[rows, order[:, 1]]
        )


def _block_weights() -> np.ndarray:
    """Per-column weight that gives each block a total variance of 3 after standardising."""
    return np.concatenate([np.full(len(block), np.sqrt(3 / len(block))) for block in BLOCKS])


def traits(X: pd.DataFrame, persona: np.ndarray, k: int) -> pd.DataFrame:
    """Each persona's typical member in natural units: mean age, median monthly spend, adoption, mix."""
    frame = X.assign(persona=persona, monthly_spend=np.expm1(X["log_monthly_spend"]))
    frame[list(CATEGORY_NAMES)] = frame[list(CATEGORY_NAMES)] ** 2
    grouped = frame.groupby("persona")
    table = grouped[["age", *PRODUCTS, *CATEGORY_NAMES]].mean()
    table["monthly_spend"] = grouped["monthly_spend"].median()
    table["size"] = grouped.size()
    return table.reindex(range(k)).fillna(0)


def name_personas(table: pd.DataFrame) -> list[str]:
    """A name per persona from its traits: its age band and the product it holds far more than others.

    When two personas come out alike, the spending level or the most distinctive spending category tells
    them apart.
    """
    overall = (table[list(PRODUCTS)].mul(table["size"], axis=0).sum() / max(table["size"].sum(), 1)).clip(
        lower=1e-6
    )
    mix_overall = table[list(CATEGORY_NAMES)].mean().clip(lower=1e-6)
    spend_median = table["monthly_spend"].median()
    names = []
    for persona, row in table.iterrows():
        age_word = next(word for limit, word in AGE_WORDS if row["age"] < limit)
        adoption = row[list(PRODUCTS)]
        lift = (adoption / overall).where(adoption >= 0.4, 0.0)
        noun = PRODUCT_NOUNS[lift.idxmax()] if lift.max() > 0 else "light users"
        spend = "high-spending" if row["monthly_spend"] > 1.5 * spend_median else "budget-minded"
        category = (row[list(CATEGORY_NAMES)] / mix_overall).idxmax()
        names.append((persona, f"{age_word} {noun}", spend, category))
    return _distinct(names)


def _distinct(candidates: list[tuple[int, str, str, str]]) -> list[str]:
    base = [name for _, name, _, _ in candidates]
    out = []
    for _, name, spend, category in candidates:
        if base.count(name) == 1:
            out.append(name)
            continue
        spends = [s for _, n, s, _ in candidates if n == name]
        detail = spend if spends.count(spend) == 1 else f"{category.lower()} spenders"
        out.append(f"{name}, {detail}")
    return [
        name if out.count(name) == 1 else f"{name} ({persona})"
        for (persona, *_), name in zip(candidates, out, strict=True)
    ]
