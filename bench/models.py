"""Benchmark training at scale and scoring one customer for the dashboard.

    python -m bench.models --json [--data-dir D | --customers N] [--samples 2000]

- training: ``models.train.train`` on the data set into a temporary folder (wall clock, and per step);
- scoring: ``Insights.for_customer`` (every insight of a customer, offers re-ranked with live interest) for
  random customers, p50/p95/max in milliseconds, after ``Insights.load``;
- scoring with reasons: the same with the customer's 360 record (the directory's, read beforehand and not
  timed), so the likely reasons for a call and their evidence are computed too, as the screen asks;
- baseline: scoring from scratch, as a design without precomputed scores would do on each request: the
  DuckDB queries that gather one customer's profile, holdings, spending and clicks from the sources.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np

from bench import command, percentiles
from connectors import config
from connectors.catalog import PRODUCTS
from connectors.directory import Directory
from connectors.layout import Layout
from connectors.sample import generate
from models.insights import Insights
from models.train import train


def _from_scratch(con: duckdb.DuckDBPyConnection, layout: Layout, customer_id: int) -> None:
    """One customer's raw inputs straight from the sources: what each request would cost without models."""
    profile = con.execute(
        "SELECT id, web_user_id, birth_date, first_visit FROM read_json($p, format = 'newline_delimited') "
        "WHERE id = $id",
        {"p": str(layout.profiles), "id": customer_id},
    ).fetchall()
    con.execute(
        "SELECT product FROM read_parquet($p) WHERE customer_id = $id",
        {"p": str(layout.accounts), "id": customer_id},
    ).fetchall()
    con.execute(
        "SELECT count(*), sum(amount), avg(epoch(date)) FROM read_parquet($p) WHERE customer_id = $id",
        {"p": str(layout.transactions), "id": customer_id},
    ).fetchall()
    web_user = profile[0][1] if profile else None
    if web_user is not None:
        con.execute(
            "SELECT product, count(*) FROM read_json($p, format = 'newline_delimited', "
            "columns = {user_id: 'BIGINT', product: 'VARCHAR', url: 'VARCHAR'}) WHERE user_id = $u GROUP BY 1",
            {"p": str(layout.clicks), "u": web_user},
        ).fetchall()


def run(args: argparse.Namespace) -> dict:
    scratch = Path(tempfile.mkdtemp(prefix="c360-bench-models-"))
    try:
        if args.data_dir:
            layout = Layout(args.data_dir)
        else:
            layout = Layout(scratch / "data")
            generate(layout.root, args.customers, progress=False)
        folder = scratch / "models"
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        run_dir = train(layout, folder, progress=False)
        training_s = time.perf_counter() - started
        meta = json.loads((run_dir / "meta.json").read_text())

        started = time.perf_counter()
        insights = Insights.load(layout.root, folder)
        load_s = time.perf_counter() - started
        ids = insights.scores()["customer_id"].to_numpy()
        rng = np.random.default_rng(0)
        chosen = rng.choice(ids, size=min(args.samples, len(ids)), replace=False)
        scoring = []
        for customer_id in chosen:
            interest = {PRODUCTS[int(i)]: int(rng.integers(1, 5)) for i in rng.choice(len(PRODUCTS), 2)}
            started = time.perf_counter()
            insights.for_customer(int(customer_id), recent_interest=interest)
            scoring.append((time.perf_counter() - started) * 1000)

        with Directory(config.load(["--data-dir", str(layout.root)], environ={})) as directory:
            records = [(int(c), directory.customer(int(c))) for c in chosen[: args.reason_samples]]
        with_reasons = []
        for customer_id, record in records:
            started = time.perf_counter()
            insights.for_customer(customer_id, recent_interest={}, record=record)
            with_reasons.append((time.perf_counter() - started) * 1000)

        con = duckdb.connect()
        baseline = []
        for customer_id in chosen[: args.baseline_samples]:
            started = time.perf_counter()
            _from_scratch(con, layout, int(customer_id))
            baseline.append((time.perf_counter() - started) * 1000)
        con.close()
        return {
            "customers": meta["metrics"]["customers"],
            "scored_customers": len(ids),  # active customers: former ones have no churn score to rank
            "cores": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "training_s": round(training_s, 1),
            "training_steps_s": meta["timings"],
            "insights_load_s": round(load_s, 2),
            "scoring": {"samples": len(scoring), **percentiles(scoring)},
            "scoring_with_reasons": {"samples": len(with_reasons), **percentiles(with_reasons)},
            "baseline_from_scratch": {"samples": len(baseline), **percentiles(baseline)},
            "speedup_p95": round(percentiles(baseline)["p95_ms"] / max(percentiles(scoring)["p95_ms"], 1e-6)),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="use this data set instead of generating one")
    parser.add_argument("--customers", type=int, default=100_000, help="size of the generated data set")
    parser.add_argument("--samples", type=int, default=2000, help="customers scored")
    parser.add_argument("--reason-samples", type=int, default=200, help="customers scored with their record")
    parser.add_argument("--baseline-samples", type=int, default=20, help="customers scored from scratch")


def main(argv: list[str] | None = None) -> int:
    return command("models", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
