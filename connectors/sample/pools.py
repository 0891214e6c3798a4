"""Names, streets, employers and payees drawn once from Faker's providers, and the real places customers
live in (:mod:`connectors.sample.places`), then indexed by vectorised choices (one Faker call per pool
entry, never one per customer)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from faker import Faker
from faker.providers.person.en_IE import Provider as IrishNames
from faker.providers.person.en_US import Provider as USNames
from faker.providers.person.es_MX import Provider as MexicanNames

from connectors.catalog import CATEGORY_NAMES
from connectors.sample.places import Places
from connectors.sample.vocabulary import PAYEE_STYLES

PAYEES_PER_CATEGORY = 48


def _weighted(pool) -> tuple[np.ndarray, np.ndarray]:
    """Names and probabilities from a Faker provider's list or weighted dict."""
    if hasattr(pool, "items"):
        names = np.array(list(pool.keys()), dtype=object)
        weights = np.array(list(pool.values()), dtype=float)
    else:
        names = np.array(sorted(set(pool)), dtype=object)
        weights = np.ones(len(names))
    return names, weights / weights.sum()


@dataclass
class Pools:
    """Vocabularies drawn once from Faker's providers, then indexed by vectorised choices."""

    first_female: tuple[np.ndarray, np.ndarray]
    first_male: tuple[np.ndarray, np.ndarray]
    first_female_es: tuple[np.ndarray, np.ndarray]
    first_male_es: tuple[np.ndarray, np.ndarray]
    last_us: tuple[np.ndarray, np.ndarray]
    last_es: tuple[np.ndarray, np.ndarray]
    last_ie: tuple[np.ndarray, np.ndarray]
    middle: np.ndarray
    streets: np.ndarray
    places: Places  # real ZIP codes, weighted by where people live
    employers: np.ndarray
    payee_names: list[str]  # PAYEES_PER_CATEGORY names per category, in CATEGORY_NAMES order

    @classmethod
    def build(cls, seed: int) -> Pools:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        payee_names = []
        for category in CATEGORY_NAMES:
            styles, names = PAYEE_STYLES[category], set()
            while len(names) < PAYEES_PER_CATEGORY:
                names.add(f"{fake.last_name()} {styles[len(names) % len(styles)]}")
            payee_names.extend(sorted(names))
        return cls(
            first_female=_weighted(USNames.first_names_female),
            first_male=_weighted(USNames.first_names_male),
            first_female_es=_weighted(MexicanNames.first_names_female),
            first_male_es=_weighted(MexicanNames.first_names_male),
            last_us=_weighted(USNames.last_names),
            last_es=_weighted(MexicanNames.last_names),
            last_ie=_weighted([n for n in IrishNames.last_names if "'" in n]),
            middle=np.array(sorted({fake.first_name() for _ in range(400)}), dtype=object),
            streets=np.array(sorted({fake.street_name() for _ in range(6000)}), dtype=object),
            places=Places.build(),
            employers=np.array(sorted({fake.company() for _ in range(3000)}), dtype=object),
            payee_names=payee_names,
        )


def choice(rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray], n: int) -> np.ndarray:
    names, probs = pool
    return names[rng.choice(len(names), size=n, p=probs)]
