"""Training is reproducible, versioned, skipped when nothing changed, and learns nothing from hidden traits."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from connectors.sample import Layout
from models import artifacts, train
from models.insights import Insights
from tests.sample_data import make_sample

VOLATILE = {"version", "trained_at", "fingerprint", "timings"}


def _stable_meta(run: Path) -> dict:
    meta = {k: v for k, v in artifacts.read_meta(run).items() if k not in VOLATILE}
    meta["metrics"] = {k: v for k, v in meta["metrics"].items() if k != "training_seconds"}
    return meta


@pytest.fixture
def data_copy(sample_layout: Layout, tmp_path: Path) -> Layout:
    """The sample with only the churn outcomes left of the truth: training must not need more."""
    copy = Layout(tmp_path / "data")
    shutil.copytree(sample_layout.root, copy.root, ignore=shutil.ignore_patterns("photos"))
    outcomes = pq.read_table(copy.truth, columns=["customer_id", "churned"])
    pq.write_table(outcomes, copy.truth)
    return copy


def test_same_data_and_seed_give_the_same_artifacts(
    data_copy: Layout, trained_models: Path, insights: Insights
):
    run = train.train(data_copy, progress=False)
    first = artifacts.current(trained_models)
    assert run.parent == artifacts.models_dir(data_copy.root)
    pd.testing.assert_frame_equal(
        pd.read_parquet(run / artifacts.CUSTOMERS), pd.read_parquet(first / artifacts.CUSTOMERS)
    )
    assert _stable_meta(run) == _stable_meta(first)
    again = Insights.load(data_copy.root)
    for customer_id in (1, 2, 3, 500):
        ours, theirs = again.for_customer(customer_id), insights.for_customer(customer_id)
        assert dataclasses.replace(ours, model_version="") == dataclasses.replace(theirs, model_version="")


def test_if_stale_retrains_only_when_the_data_changes(data_copy: Layout, capsys):
    folder = artifacts.models_dir(data_copy.root)
    assert train.main(["--data-dir", str(data_copy.root), "--quiet"]) == 0
    first = (folder / artifacts.CURRENT).read_text()
    assert "Trained on 3,000 customers" in capsys.readouterr().out
    meta = artifacts.read_meta(artifacts.current(folder))
    assert meta["code_version"] == artifacts.code_version()
    assert meta["fingerprint"] == artifacts.data_fingerprint(data_copy)
    assert {"churn_validation_auc", "persona_k", "training_seconds"} <= set(meta["metrics"])

    assert train.main(["--data-dir", str(data_copy.root), "--if-stale"]) == 0
    assert "not retrained" in capsys.readouterr().out
    assert (folder / artifacts.CURRENT).read_text() == first

    stat = data_copy.accounts.stat()
    os.utime(data_copy.accounts, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert artifacts.is_stale(data_copy, folder)
    assert Insights.load(data_copy.root).stale
    assert train.main(["--data-dir", str(data_copy.root), "--if-stale", "--quiet"]) == 0
    assert (folder / artifacts.CURRENT).read_text() != first
    assert not Insights.load(data_copy.root).stale
    runs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(runs) == artifacts.KEEP


def test_training_without_outcomes_says_what_is_missing(data_copy: Layout, capsys):
    data_copy.truth.unlink()
    with pytest.raises(SystemExit) as stopped:
        train.main(["--data-dir", str(data_copy.root), "--quiet"])
    assert stopped.value.code == 2
    assert "churned" in capsys.readouterr().err
    assert artifacts.current(artifacts.models_dir(data_copy.root)) is None


def test_held_out_customers_are_a_fixed_fifth(trained_models: Path):
    scores = pd.read_parquet(artifacts.current(trained_models) / artifacts.CUSTOMERS)
    assert scores["held_out"].mean() == pytest.approx(0.2, abs=0.03)
    assert (scores["held_out"] == train.held_out(scores["customer_id"].to_numpy())).all()


def test_too_few_customers_is_a_clear_error(tmp_path: Path, capsys):
    data = make_sample(tmp_path / "data", customers=train.MIN_CUSTOMERS - 1)
    with pytest.raises(SystemExit) as stopped:
        train.main(["--data-dir", str(data.root), "--quiet"])
    assert stopped.value.code == 2
    assert f"{train.MIN_CUSTOMERS} at least" in capsys.readouterr().err
