"""A small generated data set shared by the whole test session (generation is deterministic)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from connectors.layout import Layout
from connectors.sample import generate

SAMPLE_CUSTOMERS = 3_000
SAMPLE_SEED = 360


def make_sample(folder: Path, customers: int = SAMPLE_CUSTOMERS, seed: int = SAMPLE_SEED) -> Layout:
    """Generate a data set into ``folder`` (quietly) and return its layout."""
    generate(folder, customers, seed=seed, progress=False)
    return Layout(folder)


def web_user(web_users: pd.DataFrame, customer_id: int) -> int:
    """The customer's website login, from the ``web_users`` fixture's pairs."""
    return int(web_users.loc[web_users["customer_id"] == customer_id, "web_user_id"].iloc[0])


def browsers(web_users: pd.DataFrame, count: int) -> list[int]:
    """The first ``count`` customers (by id) with a website login."""
    return sorted(web_users["customer_id"])[:count]
