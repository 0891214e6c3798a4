"""The models benchmark trains, scores and runs its from-scratch baseline at a tiny size (speed is not tested)."""

from __future__ import annotations

import json

from bench import models as bench


def test_the_benchmark_prints_training_scoring_and_baseline_figures(capsys):
    argv = [
        "--customers",
        "2000",
        "--samples",
        "50",
        "--reason-samples",
        "5",
        "--baseline-samples",
        "3",
        "--json",
    ]
    assert bench.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["customers"] == 2000 and 0 < result["scored_customers"] < 2000  # former ones are not scored
    assert result["training_s"] > 0 and set(result["training_steps_s"]) >= {"Personas", "Churn"}
    assert (
        result["scoring"]["samples"] == 50 and 0 < result["scoring"]["p50_ms"] <= result["scoring"]["p95_ms"]
    )
    reasons = result["scoring_with_reasons"]
    assert reasons["samples"] == 5 and 0 < reasons["p50_ms"] <= reasons["p95_ms"]
    assert result["baseline_from_scratch"]["samples"] == 3 and result["speedup_p95"] > 0
