"""Training is reproducible, versioned, skipped when nothing changed, and never reads the hidden truth."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import features
from connectors.layout import Layout
from models import artifacts, evaluate, train
from models.insights import Insights
from tests.sample_data import make_sample

VOLATILE = {"version", "trained_at", "fingerprint", "timings"}


def _stable_meta(run: Path) -> dict:
    meta = {k: v for k, v in artifacts.read_meta(run).items() if k not in VOLATILE}
    meta["metrics"] = {k: v for k, v in meta["metrics"].items() if k != "training_seconds"}
    return meta


@pytest.fixture
def data_copy(sample_layout: Layout, tmp_path: Path) -> Layout:
    """The sample without its hidden truth: what a bank has. Training must not need more."""
    copy = Layout(tmp_path / "data")
    shutil.copytree(sample_layout.root, copy.root, ignore=shutil.ignore_patterns("photos", "truth"))
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
    assert meta["fingerprint"] == data_copy.fingerprint()
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


def test_training_never_reads_the_truth_and_evaluation_says_it_needs_it(data_copy: Layout, capsys):
    assert not data_copy.truth.exists()
    assert train.main(["--data-dir", str(data_copy.root), "--quiet"]) == 0
    meta = artifacts.read_meta(artifacts.current(artifacts.models_dir(data_copy.root)))
    assert 0 < meta["metrics"]["former_customers"] < meta["metrics"]["customers"]
    assert meta["metrics"]["churn_validation_auc"] > 0.7
    capsys.readouterr()
    with pytest.raises(SystemExit) as stopped:
        evaluate.main(["--data-dir", str(data_copy.root), "--json"])
    assert stopped.value.code == 2
    assert "truth/customers.parquet is missing: evaluation needs the generated ground truth" in (
        capsys.readouterr().err
    )


def test_churn_is_learnt_from_closed_accounts(data_copy: Layout, capsys):
    accounts = pq.read_table(data_copy.accounts).to_pandas()
    accounts["status"] = pd.Categorical(["open"] * len(accounts), categories=["open", "closed"])
    accounts["closed_date"] = pd.NaT
    pq.write_table(pa.Table.from_pandas(accounts, preserve_index=False), data_copy.accounts)
    with pytest.raises(SystemExit) as stopped:
        train.main(["--data-dir", str(data_copy.root), "--quiet"])
    assert stopped.value.code == 2
    assert "0 former and" in capsys.readouterr().err
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


def test_customers_whose_documents_lack_fields_are_trained_on_and_scored(data_copy: Layout):
    """A CRM document with no birth date, first visit, address or web user (a new customer typed in by
    hand) takes typical values: training and scoring carry on (K-means took no missing value)."""
    with data_copy.profiles.open("ab") as profiles:
        for n in range(30):
            profiles.write(b'{"id": %d, "name": "Newcomer %d"}\n' % (10**9 + n, n))
    run = train.train(data_copy, artifacts.models_dir(data_copy.root), progress=False)
    insights = Insights.load(data_copy.root, run.parent)
    assert insights.for_customer(10**9 + 1) is not None


def test_past_the_sample_every_customer_is_scored_and_in_parts_alike(data_copy: Layout, monkeypatch):
    """Past MAX_SAMPLE customers the models are fitted on a sample and everyone is scored part by part:
    every customer gets one row, the same whatever the parts, and the figures count everyone."""
    monkeypatch.setattr(train, "MAX_SAMPLE", 1_500)
    runs = []
    for part in (10**9, 700):
        monkeypatch.setattr(train, "SCORE_PART", part)
        runs.append(train.train(data_copy, data_copy.root / f"models-{part}", progress=False))
    whole, parts = (pd.read_parquet(run / artifacts.CUSTOMERS) for run in runs)
    pd.testing.assert_frame_equal(whole, parts)
    assert whole["customer_id"].tolist() == list(range(1, 3_001))
    meta = artifacts.read_meta(runs[1])
    metrics = meta["metrics"]
    ids = whole["customer_id"].to_numpy()
    assert metrics["customers"] == 3_000
    assert metrics["fitted_on_customers"] == features.in_sample(ids, 1_500 / 3_000).sum() < 3_000
    active = whole["closed_on"].isna()
    assert sum(p["size"] for p in meta["personas"]) == active.sum()
    assert sum(meta["adoption"]["customers"]) == active.sum()
    assert metrics["held_out_customers"] == whole["held_out"].sum()
