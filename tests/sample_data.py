"""A small generated data set shared by the whole test session (generation is deterministic)."""

from __future__ import annotations

from pathlib import Path

from connectors.sample import Layout, generate

SAMPLE_CUSTOMERS = 3_000
SAMPLE_SEED = 360


def make_sample(folder: Path, customers: int = SAMPLE_CUSTOMERS, seed: int = SAMPLE_SEED) -> Layout:
    """Generate a data set into ``folder`` (quietly) and return its layout."""
    generate(folder, customers, seed=seed, progress=False)
    return Layout(folder)
