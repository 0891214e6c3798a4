"""Persona names follow the traits of their centres, and stay distinct."""

from __future__ import annotations

import pandas as pd

from connectors.catalog import CATEGORY_NAMES, PRODUCTS
from models.personas import name_personas


def _traits(rows: list[dict]) -> pd.DataFrame:
    base = {"age": 40.0, "monthly_spend": 2000.0, "size": 100} | dict.fromkeys(PRODUCTS, 0.1)
    base |= dict.fromkeys(CATEGORY_NAMES, 0.1)
    return pd.DataFrame([base | row for row in rows])


def test_names_come_from_age_and_the_most_distinctive_product():
    names = name_personas(
        _traits(
            [
                {"age": 24.0, "debit_card": 0.9},
                {"age": 70.0, "medical_insurance": 0.8},
                {"age": 50.0, "business_credit_card": 0.85},
            ]
        )
    )
    assert names == ["Young everyday bankers", "Senior health-insured", "Established business owners"]


def test_the_same_traits_in_another_order_give_the_same_names_in_that_order():
    rows = [{"age": 24.0, "debit_card": 0.9}, {"age": 70.0, "medical_insurance": 0.8}]
    assert name_personas(_traits(rows[::-1])) == name_personas(_traits(rows))[::-1]


def test_look_alike_personas_are_told_apart_by_spending():
    names = name_personas(
        _traits(
            [
                {"age": 50.0, "brokerage_account": 0.9, "monthly_spend": 6000.0},
                {"age": 52.0, "brokerage_account": 0.9, "monthly_spend": 1500.0},
                {"age": 30.0, "debit_card": 0.9, "monthly_spend": 2000.0},
            ]
        )
    )
    assert names[0] == "Established investors, high-spending"
    assert names[1] == "Established investors, budget-minded"
    assert len(set(names)) == 3
