"""The shared rules of the catalog, against direct computations: large and unusual charges, page names."""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.catalog import (
    UNUSUAL_FACTOR,
    UNUSUAL_MIN,
    UNUSUAL_SELDOM_FACTOR,
    USUAL_CHARGES,
    charge_flags,
    notable_charges,
    page_of,
)


def _brute_force(frame: pd.DataFrame) -> tuple[list[bool], list[bool]]:
    """The rule as written in the catalog, one charge at a time."""
    large, unusual = [], []
    for i, row in frame.iterrows():
        others = frame[(frame.index != i) & (frame["customer_id"] == row.customer_id) & ~frame["declined"]]
        same = others[others["category"] == row.category]
        if len(same) >= USUAL_CHARGES:
            threshold = UNUSUAL_FACTOR * same["amount"].mean()
        elif len(others):
            threshold = UNUSUAL_SELDOM_FACTOR * others["amount"].mean()
        else:
            threshold = np.inf
        is_large = row.amount >= max(threshold, UNUSUAL_MIN)
        paid_before = (frame["customer_id"] == row.customer_id) & (frame["payee"] == row.payee)
        paid_before &= frame["date"] < row.date
        large.append(bool(is_large))
        unusual.append(bool(is_large and not paid_before.any()))
    return large, unusual


def test_large_and_unusual_charges_follow_the_rule_as_written():
    rng = np.random.default_rng(4)
    n = 400
    frame = pd.DataFrame(
        {
            "customer_id": rng.integers(1, 9, n),
            "date": pd.Timestamp("2026-01-01") + pd.to_timedelta(rng.integers(0, 120, n), unit="D"),
            "payee": rng.choice([f"Payee {i}" for i in range(15)], n),
            "category": rng.choice(["Dining", "Travel", "Household"], n, p=[0.7, 0.1, 0.2]),
            "amount": np.round(rng.lognormal(4, 1.1, n), 2),
            "declined": rng.random(n) < 0.05,
        }
    )
    days = frame["date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    large, unusual = charge_flags(
        frame["customer_id"], days, frame["payee"], frame["category"], frame["amount"], frame["declined"]
    )
    expected_large, expected_unusual = _brute_force(frame)
    assert large.tolist() == expected_large and unusual.tolist() == expected_unusual
    assert 0 < sum(unusual) < sum(large) < n / 4, "the sample has large charges, some of them at new payees"


def test_notable_charges_keep_fees_declined_disputed_and_large_ones():
    frame = pd.DataFrame(
        {
            "customer_id": [1] * 6,
            "date": pd.to_datetime(
                ["2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04", "2026-01-05", "2026-01-06"]
            ),
            "payee": ["A", "A", "B", "C", "D", "E"],
            "category": ["Dining"] * 6,
            "amount": [40.0, 42.0, 41.0, 39.0, 400.0, 38.0],
            "fee": [0.0, 0.0, 29.0, 0.0, 0.0, 0.0],
            "declined": [False, False, False, True, False, False],
            "disputed": [False, False, False, False, False, True],
        }
    )
    notable = notable_charges(frame)
    assert notable["payee"].tolist() == ["B", "C", "D", "E"]
    assert notable.set_index("payee").loc["D", ["large", "unusual"]].tolist() == [True, True]


def test_page_of_names_the_sites_pages_only():
    assert page_of("https://www.c360bank.example/accounts/personal-credit-card/close") == "close"
    assert page_of("https://www.c360bank.example/products/auto-loan/apply/") == "apply"
    assert page_of("https://bank.example/<script>") == "" and page_of("") == ""
