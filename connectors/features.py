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

:class:`Activity` holds every dated event instead (clicks, notable charges, accounts, survey answers,
contacts): the reason for a contact is learnt from what happened in the days before each one.

:func:`offer_outcomes` reads the answers customers gave to offers (the desk's ``desk_offer_outcomes``:
representatives' records and the generator's simulated history alike), from MySQL when ``C360_MYSQL_URL`` is
set, else from the embedded store in the data folder.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pymysql

from connectors import engine, jsonlines
from connectors import mysql as mysql_server
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
    notable_charges,
    page_of,
)
from connectors.config import MySQLTarget
from connectors.directory import banking
from connectors.layout import Layout, SourceMissing

log = logging.getLogger(__name__)

# Columns an older data set lacks: the accounts' (format 2) and the transactions' (format 3).
TRANSACTIONS_NEED = (("status", "closed_date"), ("fee", "declined", "disputed"))
OUTCOME_COLUMNS = (
    "contact_key",
    "customer_id",
    "product",
    "offer_rank",
    "model_version",
    "response",
    "recorded_at",  # UTC
    "source",  # desk or simulated (connectors.desk.schema)
)
_NO_TABLE = 1146  # MySQL: the table does not exist


@dataclass(frozen=True)
class Activity:
    """What customers did and when, one row per event, for learning what leads to a contact: the same
    frames, built from one customer's 360 record, score that customer (``models.reason``).

    Times are UTC; a click's ``page`` is :func:`connectors.catalog.page_of` of its address.
    """

    customers: pd.DataFrame  # customer_id (ascending), birth_date, first_visit, observed_until, has_web
    clicks: pd.DataFrame  # customer_id, time, product, page
    charges: pd.DataFrame  # catalog.notable_charges: customer_id, date, payee, category, amount, fee,
    # declined, disputed, large, unusual
    accounts: pd.DataFrame  # customer_id, product, opened_date, closed_date
    surveys: pd.DataFrame  # customer_id, submitted, rating
    contacts: pd.DataFrame  # contact_id, customer_id, started_at, reason, outcome


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
    activity: Activity | None  # every dated event, for the reason for a contact (when asked for)

    @property
    def customer_ids(self) -> np.ndarray:
        return self.profile["customer_id"].to_numpy()

    @property
    def former(self) -> np.ndarray:
        """Which customers have left (every account closed): the outcome churn is learnt from."""
        return self.profile["closed_on"].notna().to_numpy()


# A sample of customers by a multiplicative hash of the id, independent of models.train's split (another
# multiplier): below 2**31, so that (id mod 2**32) times it stays within SQLite's and MySQL's signed 64 bits.
SAMPLE_MULTIPLIER = 1_103_515_245
# DuckDB's share of the machine's memory while features are read: pandas needs the rest.
DUCKDB_MEMORY_SHARE = 0.3


def in_sample(customer_ids: np.ndarray, fraction: float) -> np.ndarray:
    """Which customers are in the ``fraction`` sample (the same as :func:`sample_sql` selects)."""
    point = (np.asarray(customer_ids, dtype=np.uint64) % np.uint64(2**32)) * np.uint64(SAMPLE_MULTIPLIER)
    return point % np.uint64(2**32) < np.uint64(_threshold(fraction))


def sample_sql(column: str, fraction: float) -> str:
    """A SQL condition on an integer ``column`` selecting the customers :func:`in_sample` selects."""
    return f"(({column} % 4294967296) * {SAMPLE_MULTIPLIER}) % 4294967296 < {_threshold(fraction)}"


def _threshold(fraction: float) -> int:
    return min(int(fraction * 2**32), 2**32)


def load(layout: Layout) -> Features:
    """Read every source of ``layout`` once and summarise it per customer."""
    with Reader(layout) as reader:
        return reader.features()


class Reader:
    """The sources of ``layout`` read once, then the features of any customers: all of them, a sample, or a
    range of ids at a time, so that a data set larger than memory is summarised part by part.

    The JSON documents are parsed once into a DuckDB database file of its own (compressed, larger than
    memory when it must be, removed on close); each :meth:`features` call joins the chosen customers with it
    and with the Parquet tables, reading only their ids' row groups.
    """

    def __init__(self, layout: Layout):
        self.layout = layout
        self.as_of = layout.as_of()
        _check_sources(layout)
        engine.SPILL_FOLDER.mkdir(parents=True, exist_ok=True)
        self._folder = tempfile.TemporaryDirectory(prefix="c360-features-", dir=engine.SPILL_FOLDER)
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * DUCKDB_MEMORY_SHARE
        try:
            self.con = engine.connect(Path(self._folder.name) / "sources.duckdb", f"{memory / 2**20:.0f}MB")
        except BaseException:
            self._folder.cleanup()
            raise
        try:
            self.con.execute("SET preserve_insertion_order = false")
            self.skips = jsonlines.Skips()
            _read_documents(self.con, layout, self.skips)
            self.skips.log(log)
            _create_customers(self.con, layout, self.as_of)
            self.customer_ids: np.ndarray = self.con.execute(
                "SELECT customer_id FROM customers ORDER BY customer_id"
            ).fetchnumpy()["customer_id"]
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the database and remove its file."""
        self.con.close()
        self._folder.cleanup()

    def features(self, customers: np.ndarray | None = None, activity: bool = True) -> Features:
        """The features of ``customers`` (ascending ids among :attr:`customer_ids`; default everyone), with
        their dated events when ``activity`` (the reason model learns from them; scoring does not need them).
        """
        con = self.con
        ids = self.customer_ids if customers is None else np.asarray(customers, dtype=np.int64)
        con.register("features_ids", pa.table({"customer_id": ids}))
        con.execute(
            "CREATE OR REPLACE TEMP TABLE chosen AS "
            "SELECT * FROM customers SEMI JOIN features_ids USING (customer_id)"
        )
        con.unregister("features_ids")
        bounds = {"lo": int(ids[0]) if len(ids) else 0, "hi": int(ids[-1]) if len(ids) else -1}
        profile = _frame(
            con, "SELECT * EXCLUDE (web_user_id, first_visit) FROM chosen ORDER BY customer_id"
        ).astype({"closed_on": "datetime64[s]", "observed_until": "datetime64[s]"})
        responses = _responses(con)
        spending, categories = _spending(con, self.layout, bounds)
        return Features(
            as_of=self.as_of,
            profile=profile,
            holdings=_holdings(con, self.layout, bounds),
            spending=spending,
            categories=categories,
            clicks=_clicks(con),
            surveys=_surveys(profile["customer_id"], responses),
            responses=responses,
            skips=self.skips,
            activity=_activity(con, self.layout, responses, ids) if activity else None,
        )


def _check_sources(layout: Layout) -> None:
    """Every source is there and of the current format, or :class:`SourceMissing` says how to make it."""
    for path in (layout.profiles, layout.accounts, layout.transactions, layout.clicks, layout.contacts):
        if not path.is_file():
            raise SourceMissing(f"{path} is missing: regenerate with `python -m connectors.sample --force`")
    for path, needed in (
        (layout.accounts, TRANSACTIONS_NEED[0]),
        (layout.transactions, TRANSACTIONS_NEED[1]),
    ):
        missing = set(needed) - set(pq.read_schema(path).names)
        if missing:
            raise SourceMissing(
                f"{path} lacks {', '.join(sorted(missing))} (an older data set): regenerate with "
                "`python -m connectors.sample --force`"
            )


def offer_outcomes(layout: Layout, mysql: MySQLTarget | None = None, fraction: float = 1.0) -> pd.DataFrame:
    """Every recorded answer to an offer, one row per offer (:data:`OUTCOME_COLUMNS`, by customer and time):
    from the desk's tables in ``mysql`` when given, else from the embedded store (``Layout.desk``); only
    the customers of the ``fraction`` sample (:func:`in_sample`) when it is less than 1, selected by the
    database.

    No store, or a store without the table, means no outcomes yet: an empty frame, not an error. A MySQL
    server that cannot answer raises :class:`connectors.directory.banking.BankingUnavailable`.
    """
    query = f"SELECT {', '.join(OUTCOME_COLUMNS)} FROM desk_offer_outcomes"
    if fraction < 1:
        query += f" WHERE {sample_sql('customer_id', fraction)}"
    if mysql is not None:
        rows = _mysql_rows(mysql, query)
    elif layout.desk.is_file():
        connection = sqlite3.connect(f"{layout.desk.as_uri()}?mode=ro", uri=True)
        try:
            rows = connection.execute(query).fetchall()
        except sqlite3.OperationalError as error:
            if "no such table" not in str(error):
                raise
            rows = []
        finally:
            connection.close()
    else:
        rows = []
    frame = pd.DataFrame(rows, columns=list(OUTCOME_COLUMNS))
    frame = frame.astype({"customer_id": np.int64, "offer_rank": np.int64}).assign(
        recorded_at=pd.to_datetime(frame["recorded_at"].astype(str), format="ISO8601").astype(
            "datetime64[us]"
        )
    )
    order = ["customer_id", "recorded_at", "contact_key", "product"]  # here: engines collate text apart
    return frame.sort_values(order, kind="stable", ignore_index=True)


def _mysql_rows(target: MySQLTarget, query: str) -> list[tuple]:
    try:
        connection = mysql_server.connect(target, read_timeout=600)
    except mysql_server.ERRORS as error:
        raise banking.BankingUnavailable(mysql_server.describe_error(error, target)) from None
    try:
        with connection.cursor() as cursor:
            cursor.execute(query)
            return list(cursor.fetchall())
    except pymysql.err.MySQLError as error:
        if error.args and error.args[0] == _NO_TABLE:
            return []
        raise banking.BankingUnavailable(mysql_server.describe_error(error, target)) from None
    finally:
        connection.close()


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
        CREATE TABLE customers AS
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
            LEFT JOIN closures c ON c.customer_id = p.id),
        measured AS (
            SELECT *,
                   date_diff('day', birth_date, observed_until) / 365.25 AS known_age,
                   greatest(date_diff('day', first_visit, observed_until), 0) / 365.25 AS known_tenure
            FROM profiles)
        -- A document without a birth date or first visit (a customer typed in by hand) gets the median
        -- age or tenure: every model's inputs are numbers.
        SELECT id AS customer_id,
               closed_on,
               observed_until,
               coalesce(known_age, median(known_age) OVER ()) AS age,
               coalesce(known_tenure, median(known_tenure) OVER ()) AS tenure_years,
               coalesce(least($history, greatest(date_diff('day', first_visit, observed_until), 1)), $history)
                   AS history_days,
               coalesce(gender, 'UNKNOWN') AS gender,
               coalesce(address.state, '') AS state,
               web_user_id IS NOT NULL AS has_web,
               web_user_id,
               first_visit
        FROM measured
        """,
        {
            "accounts": str(layout.accounts),
            "as_of": as_of,
            "history": TRANSACTION_DAYS,
        },
    )


def _holdings(con: duckdb.DuckDBPyConnection, layout: Layout, bounds: dict) -> pd.DataFrame:
    """Products held when the customer was observed: open accounts, and those closed on or after that day
    (a former customer's, closed the day they left)."""
    columns = ", ".join(f"coalesce(bool_or(a.product = '{p}'), false)::TINYINT AS \"{p}\"" for p in PRODUCTS)
    return _frame(
        con,
        f"""
        SELECT c.customer_id, {columns}
        FROM chosen c
        LEFT JOIN (SELECT customer_id, product::VARCHAR AS product, closed_date::DATE AS closed_date
                   FROM read_parquet($path) WHERE customer_id BETWEEN $lo AND $hi) a
          ON a.customer_id = c.customer_id
         AND (a.closed_date IS NULL OR a.closed_date >= c.observed_until)
        GROUP BY c.customer_id ORDER BY c.customer_id
        """,
        {"path": str(layout.accounts)} | bounds,
    ).drop(columns="customer_id")


def _spending(
    con: duckdb.DuckDBPyConnection, layout: Layout, bounds: dict
) -> tuple[pd.DataFrame, pd.DataFrame]:
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
            FROM read_parquet($path) t JOIN chosen c USING (customer_id)
            WHERE t.customer_id BETWEEN $lo AND $hi AND t.amount > 0 AND NOT t.declined
              AND date_diff('day', t.date::DATE, c.observed_until) BETWEEN 1 AND c.history_days)
        SELECT c.customer_id, c.history_days,
               count(tx.amount) AS transactions,
               coalesce(sum(tx.amount), 0) AS spend,
               coalesce(avg(tx.position), 0.5) AS position,
               {shares}
        FROM chosen c LEFT JOIN tx USING (customer_id)
        GROUP BY c.customer_id, c.history_days ORDER BY c.customer_id
        """,
        {"path": str(layout.transactions)}
        | bounds
        | {f"c{i}": name for i, name in enumerate(CATEGORY_NAMES)},
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
        FROM chosen c LEFT JOIN k
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
        JOIN chosen c USING (customer_id)
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


def _activity(
    con: duckdb.DuckDBPyConnection, layout: Layout, responses: pd.DataFrame, ids: np.ndarray
) -> Activity:
    """Every dated event of the chosen customers (``ids``): the JSON sources through the tables already
    read, the Parquet tables with pyarrow (their dictionary columns stay categorical), filtered by id as
    they are read."""
    customers = _frame(
        con,
        """
        SELECT c.customer_id, TRY_CAST(p.birth_date AS DATE) AS birth_date, c.first_visit, c.observed_until,
               c.has_web
        FROM chosen c JOIN profile_lines p ON p.id = c.customer_id
        ORDER BY c.customer_id
        """,
    )
    clicks = con.sql(
        """
        SELECT c.customer_id, TRY_CAST(k.datetime AS TIMESTAMP) AS time, k.product, k.url
        FROM click_lines k JOIN chosen c ON c.web_user_id = k.user_id
        WHERE TRY_CAST(k.datetime AS TIMESTAMP) IS NOT NULL
        ORDER BY c.customer_id, time
        """
    ).to_arrow_table()
    urls = pc.dictionary_encode(clicks.column("url").combine_chunks())
    names, page = np.unique([page_of(url) for url in urls.dictionary.to_pylist()], return_inverse=True)
    pages = pd.Categorical.from_codes(page[urls.indices.to_numpy(zero_copy_only=False)], categories=names)
    chosen = ds.field("customer_id").isin(pa.array(ids, pa.int64()))
    if len(ids):
        chosen &= (ds.field("customer_id") >= int(ids[0])) & (ds.field("customer_id") <= int(ids[-1]))

    def read(path, columns: list[str]) -> pd.DataFrame:
        return ds.dataset(path, format="parquet").to_table(columns=columns, filter=chosen).to_pandas()

    transactions = read(
        layout.transactions,
        ["customer_id", "date", "payee", "category", "amount", "fee", "declined", "disputed"],
    )
    contacts = read(layout.contacts, ["contact_id", "customer_id", "started_at", "reason", "outcome"])
    accounts = read(layout.accounts, ["customer_id", "product", "opened_date", "closed_date"])
    return Activity(
        customers=customers,
        clicks=pd.DataFrame(
            {
                "customer_id": clicks.column("customer_id").to_numpy(),
                "time": clicks.column("time").to_numpy(),
                "product": pd.Categorical(clicks.column("product").to_numpy(zero_copy_only=False)),
                "page": pages,
            }
        ),
        charges=notable_charges(transactions),
        accounts=accounts,
        surveys=responses[["customer_id", "submitted", "rating"]],
        contacts=contacts.sort_values(["customer_id", "started_at", "contact_id"], kind="stable").reset_index(
            drop=True
        ),
    )
