"""Per-customer features for learning, read in bulk from the sources with DuckDB.

Models learn from these frames and never open the files themselves, so the sources keep one reader. Every
frame of :class:`Features` has one row per CRM customer, in the same order (by id): a customer missing from a
source gets zeros there, never a missing row, so models can be fitted and scored column by column. The hidden
ground truth (``truth/``) is never read here: evaluation reads it on its own.

Former customers are part of the bank's own records: a customer whose accounts are all closed left on the day
the last one closed (``closed_on``). Everything about a customer is observed up to ``observed_until``, the day
they left or, for everyone else, as_of: their age and tenure then, the products they held then, and the
spending, clicks and survey answers of the windows ending then. That is what churn is learnt from: what
former customers looked like when they left, against what the others look like today.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from connectors import jsonlines
from connectors.catalog import (
    CATEGORY_NAMES,
    CLICK_DAYS,
    CLICK_FIELDS,
    DAYS_PER_MONTH,
    LEAVING_PAGES,
    NEEDS,
    PRODUCTS,
    PROFILE_FIELDS,
    SURVEY_FIELDS,
    TRANSACTION_DAYS,
    left_on_sql,
)
from connectors.layout import Layout, SourceMissing

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Features:
    """Everything the models learn from, one row per customer in every frame, aligned by position."""

    as_of: date
    profile: pd.DataFrame  # customer_id, closed_on, observed_until, age, tenure_years, history_days,
    # gender, state, has_web
    holdings: pd.DataFrame  # one 0/1 column per product held at observed_until, in PRODUCTS order
    spending: (
        pd.DataFrame
    )  # transactions, spend, position (trend: mean 0.5 = steady), monthly_spend, tx_per_month
    categories: pd.DataFrame  # share of spend per category, in CATEGORY_NAMES order
    clicks: pd.DataFrame  # clicks, leaving (closing/transfer-out/compare-rates pages), clicks per product
    surveys: pd.DataFrame  # responses, rating (mean), comment (latest), one 0/1 column per needed product
    responses: pd.DataFrame  # one row per survey answer: customer_id, submitted, rating, comment
    skips: jsonlines.Skips  # the source lines that were skipped, per file and reason

    @property
    def customer_ids(self) -> np.ndarray:
        return self.profile["customer_id"].to_numpy()

    @property
    def former(self) -> np.ndarray:
        """Which customers have left (every account closed): the outcome churn is learnt from."""
        return self.profile["closed_on"].notna().to_numpy()


def load(layout: Layout) -> Features:
    """Read every source of ``layout`` once and summarise it per customer."""
    as_of = layout.as_of()
    for path in (layout.profiles, layout.accounts, layout.transactions, layout.clicks):
        if not path.is_file():
            raise SourceMissing(f"{path} is missing: regenerate with `python -m connectors.sample --force`")
    missing = {"status", "closed_date"} - set(pq.read_schema(layout.accounts).names)
    if missing:
        raise SourceMissing(
            f"{layout.accounts} lacks {', '.join(sorted(missing))} (an older data set): regenerate with "
            "`python -m connectors.sample --force`"
        )
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = false")
        # The trainer shows its own progress; in a Jupyter kernel without ipywidgets DuckDB refuses the
        # change (and shows no bar).
        with contextlib.suppress(duckdb.InvalidInputException):
            con.execute("SET enable_progress_bar = false")
        skips = jsonlines.Skips()
        _read_documents(con, layout, skips)
        skips.log(log)
        _create_customers(con, layout, as_of)
        profile = _frame(
            con, "SELECT * EXCLUDE (web_user_id, first_visit) FROM customers ORDER BY customer_id"
        ).astype({"closed_on": "datetime64[s]", "observed_until": "datetime64[s]"})
        responses = _responses(con)
        spending, categories = _spending(con, layout)
        return Features(
            as_of=as_of,
            profile=profile,
            holdings=_holdings(con, layout),
            spending=spending,
            categories=categories,
            clicks=_clicks(con),
            surveys=_surveys(profile["customer_id"], responses),
            responses=responses,
            skips=skips,
        )
    finally:
        con.close()


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pd.DataFrame:
    return con.execute(sql, params or {}).df()


def _read_documents(con: duckdb.DuckDBPyConnection, layout: Layout, skips: jsonlines.Skips) -> None:
    """The JSON sources into tables (``profile_lines``, ``survey_lines``, ``click_lines``), bad lines skipped
    and counted (the first profile of an id wins)."""
    name = layout.relative
    jsonlines.load(
        con,
        "profile_lines",
        {name(layout.profiles): layout.profiles},
        "id",
        skips,
        PROFILE_FIELDS,
        unique=True,
    )
    surveys = {name(path): path for path in layout.survey_files()}
    jsonlines.load(con, "survey_lines", surveys, "customer_id", skips, SURVEY_FIELDS)
    jsonlines.load(con, "click_lines", {name(layout.clicks): layout.clicks}, "user_id", skips, CLICK_FIELDS)


def _create_customers(con: duckdb.DuckDBPyConnection, layout: Layout, as_of: date) -> None:
    """One row per CRM profile, measured up to the day the customer left (every account closed) or as_of."""
    con.execute(
        f"""
        CREATE TEMP TABLE customers AS
        WITH closures AS (
            SELECT customer_id, {left_on_sql()} AS closed_on
            FROM read_parquet($accounts)
            GROUP BY customer_id),
        profiles AS (
            SELECT p.id, p.gender, TRY_CAST(p.birth_date AS DATE) AS birth_date,
                   TRY_CAST(p.first_visit AS DATE) AS first_visit,
                   TRY_CAST(p.web_user_id AS BIGINT) AS web_user_id, p.address,
                   c.closed_on, coalesce(c.closed_on, $as_of::DATE) AS observed_until
            FROM profile_lines p
            LEFT JOIN closures c ON c.customer_id = p.id)
        SELECT id AS customer_id,
               closed_on,
               observed_until,
               date_diff('day', birth_date, observed_until) / 365.25 AS age,
               greatest(date_diff('day', first_visit, observed_until), 0) / 365.25 AS tenure_years,
               least($history, greatest(date_diff('day', first_visit, observed_until), 1)) AS history_days,
               coalesce(gender, 'UNKNOWN') AS gender,
               coalesce(address.state, '') AS state,
               web_user_id IS NOT NULL AS has_web,
               web_user_id,
               first_visit
        FROM profiles
        """,
        {
            "accounts": str(layout.accounts),
            "as_of": as_of,
            "history": TRANSACTION_DAYS,
        },
    )


def _holdings(con: duckdb.DuckDBPyConnection, layout: Layout) -> pd.DataFrame:
    """Products held when the customer was observed: open accounts, and those closed on or after that day
    (a former customer's, closed the day they left)."""
    columns = ", ".join(f"coalesce(bool_or(a.product = '{p}'), false)::TINYINT AS \"{p}\"" for p in PRODUCTS)
    return _frame(
        con,
        f"""
        SELECT c.customer_id, {columns}
        FROM customers c
        LEFT JOIN (SELECT customer_id, product::VARCHAR AS product, closed_date::DATE AS closed_date
                   FROM read_parquet($path)) a
          ON a.customer_id = c.customer_id
         AND (a.closed_date IS NULL OR a.closed_date >= c.observed_until)
        GROUP BY c.customer_id ORDER BY c.customer_id
        """,
        {"path": str(layout.accounts)},
    ).drop(columns="customer_id")


def _spending(con: duckdb.DuckDBPyConnection, layout: Layout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Card spending of each customer's window, and its share per category, in one pass over the table.

    A transaction's ``position`` runs from 0 at the start of the window to 1 at observed_until.
    """
    shares = ", ".join(
        f"coalesce(sum(tx.amount) FILTER (WHERE tx.category = $c{i}) / sum(tx.amount), 0) AS c{i}"
        for i in range(len(CATEGORY_NAMES))
    )
    frame = _frame(
        con,
        f"""
        WITH tx AS (
            SELECT t.customer_id, t.amount, t.category::VARCHAR AS category,
                   (c.history_days - date_diff('day', t.date::DATE, c.observed_until) + 0.5)
                       / c.history_days AS position
            FROM read_parquet($path) t JOIN customers c USING (customer_id)
            WHERE t.amount > 0
              AND date_diff('day', t.date::DATE, c.observed_until) BETWEEN 1 AND c.history_days)
        SELECT c.customer_id, c.history_days,
               count(tx.amount) AS transactions,
               coalesce(sum(tx.amount), 0) AS spend,
               coalesce(avg(tx.position), 0.5) AS position,
               {shares}
        FROM customers c LEFT JOIN tx USING (customer_id)
        GROUP BY c.customer_id, c.history_days ORDER BY c.customer_id
        """,
        {"path": str(layout.transactions)} | {f"c{i}": name for i, name in enumerate(CATEGORY_NAMES)},
    )
    categories = frame[[f"c{i}" for i in range(len(CATEGORY_NAMES))]].set_axis(list(CATEGORY_NAMES), axis=1)
    spending = frame[["transactions", "spend", "position"]].copy()
    months = frame["history_days"] / DAYS_PER_MONTH
    spending["monthly_spend"] = frame["spend"] / months
    spending["tx_per_month"] = frame["transactions"] / months
    return spending, categories


def _clicks(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Clicks of the 30 days before each customer's observed_until, per product and on leaving pages."""
    per_product = ", ".join(f"count(k.product) FILTER (WHERE k.product = '{p}') AS \"{p}\"" for p in PRODUCTS)
    leaving = "|".join(LEAVING_PAGES)
    return _frame(
        con,
        f"""
        WITH k AS (
            SELECT user_id, TRY_CAST(datetime AS TIMESTAMP) AS datetime, product, url FROM click_lines)
        SELECT c.customer_id,
               count(k.user_id) AS clicks,
               count(k.user_id) FILTER (WHERE regexp_matches(k.url, '/({leaving})/?$')) AS leaving,
               {per_product}
        FROM customers c LEFT JOIN k
          ON k.user_id = c.web_user_id
         AND k.datetime >= c.observed_until - INTERVAL {CLICK_DAYS} DAY
         AND k.datetime < c.observed_until + INTERVAL 1 DAY
        GROUP BY c.customer_id ORDER BY c.customer_id
        """,
    ).drop(columns="customer_id")


def _responses(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return _frame(
        con,
        """
        SELECT r.customer_id, r.submitted, r.rating, coalesce(r.comment, '') AS comment,
               coalesce(r.needs, []) AS needs
        FROM (SELECT customer_id, TRY_CAST(submitted AS TIMESTAMP) AS submitted,
                     TRY_CAST(rating AS INTEGER) AS rating, comment, needs FROM survey_lines) r
        JOIN customers c USING (customer_id)
        WHERE r.submitted < c.observed_until + INTERVAL 1 DAY
        ORDER BY r.customer_id, r.submitted
        """,
    )


def _surveys(ids: pd.Series, responses: pd.DataFrame) -> pd.DataFrame:
    by_customer = responses.groupby("customer_id", sort=True)
    summary = pd.DataFrame(
        {
            "responses": by_customer.size(),
            "rating": by_customer["rating"].mean(),
            "comment": by_customer["comment"].last(),
        }
    )
    needs = responses[["customer_id", "needs"]].explode("needs").dropna()
    for product in PRODUCTS:
        phrases = [need for need, products in NEEDS.items() if product in products]
        summary[f"needs_{product}"] = (
            needs[needs["needs"].isin(phrases)].groupby("customer_id").size().reindex(summary.index) > 0
        )
    frame = summary.reindex(ids.to_numpy())
    filled = {"responses": 0, "comment": ""} | {f"needs_{p}": False for p in PRODUCTS}
    frame = frame.fillna(filled).astype({"responses": np.int64} | {f"needs_{p}": bool for p in PRODUCTS})
    return frame.reset_index(drop=True)
