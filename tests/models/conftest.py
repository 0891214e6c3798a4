"""Models trained once on the session's sample data, written beside it (the sample stays read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.layout import Layout
from models.insights import Insights
from models.train import train


@pytest.fixture(scope="session")
def trained_models(sample_layout: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifacts folder of models trained on ``sample_layout``."""
    folder = tmp_path_factory.mktemp("models")
    train(sample_layout, folder, progress=False)
    return folder


@pytest.fixture(scope="session")
def insights(sample_layout: Layout, trained_models: Path) -> Insights:
    return Insights.load(sample_layout.root, trained_models)
