"""The feature frames agree with the sources read directly, and never need the hidden truth."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from connectors import features
from connectors.catalog import LEAVING_PAGES, NEEDS, PRODUCTS, TRANSACTION_DAYS
from connectors.config import parse_mysql_url
from connectors.desk import schema
from connectors.directory.banking import BankingUnavailable
from connectors.layout import Layout, SourceMissing
from models import train
from tests.servers import free_port


@pytest.fixture(scope="module")
def loaded(sample_layout: Layout) -> features.Features:
    return features.load(sample_layout)


@pytest.fixture(scope="module")
def profiles(sample_layout: Layout) -> pd.DataFrame:
    return pd.read_json(sample_layout.profiles, lines=True, dtype={"web_user_id": "Int64"})


@pytest.fixture(scope="module")
def observed_until(loaded, sample_layout) -> pd.Series:
    """Per customer id, straight from the accounts table: the day every account was closed, else as_of."""
    accounts = pd.read_parquet(sample_layout.accounts)
    by_customer = accounts.groupby("customer_id")
    all_closed = by_customer["status"].agg(lambda s: (s == "closed").all())
    closed_on = by_customer["closed_date"].max()[all_closed]
    return closed_on.reindex(loaded.customer_ids).fillna(pd.Timestamp(loaded.as_of))


def test_every_frame_has_one_row_per_customer_in_id_order(loaded, sample_layout):
    customers = sample_layout.read_manifest()["customers"]
    assert list(loaded.customer_ids) == list(range(1, customers + 1))
    for name in ("holdings", "spending", "categories", "clicks", "surveys"):
        frame = getattr(loaded, name)
        assert len(frame) == customers, name
        assert not frame.select_dtypes("number").isna().drop(columns="rating", errors="ignore").any().any(), (
            name
        )
    assert list(loaded.holdings.columns) == list(PRODUCTS)


def test_features_of_some_customers_are_everyones_rows_for_them(loaded, sample_layout):
    """A sample (spread over every id) and a range of ids read alone give exactly the rows they have among
    everyone's: the id filters pushed into DuckDB and the Parquet reads lose nothing and add nothing."""
    everyone = loaded.customer_ids
    with features.Reader(sample_layout) as reader:
        assert (reader.customer_ids == everyone).all()
        for chosen in (everyone[features.in_sample(everyone, 0.3)], everyone[1000:1700]):
            some = reader.features(chosen)
            rows = np.searchsorted(everyone, chosen)
            for name in ("profile", "holdings", "spending", "categories", "clicks", "surveys"):
                pd.testing.assert_frame_equal(
                    getattr(some, name), getattr(loaded, name).iloc[rows].reset_index(drop=True), obj=name
                )
            for name in ("customers", "charges", "accounts", "surveys", "contacts", "clicks"):
                mine, all_of = getattr(some.activity, name), getattr(loaded.activity, name)
                expected = all_of[all_of["customer_id"].isin(chosen)]
                key = list(expected.columns)
                pd.testing.assert_frame_equal(  # the order of equal times is the engine's
                    mine.astype(str).sort_values(key, ignore_index=True),
                    expected.astype(str).sort_values(key, ignore_index=True),
                    obj=name,
                )
            assert len(some.activity.contacts) > 0
        assert reader.features(everyone[:10], activity=False).activity is None
        database = Path(
            reader.con.execute("SELECT path FROM duckdb_databases() WHERE NOT internal").fetchall()[0][0]
        )
        assert database.is_file()
    assert not database.parent.exists(), "the reader's database is removed on close"


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 1.0])
def test_the_sample_is_the_same_in_python_duckdb_and_sqlite(fraction):
    ids = np.concatenate([np.arange(1, 20_000), np.array([2**31 - 1, 2**32, 2**32 + 7, 10**12, 2**62])])
    chosen = ids[features.in_sample(ids, fraction)]
    assert len(chosen) / len(ids) == pytest.approx(fraction, abs=0.02)
    condition = features.sample_sql("id", fraction)
    duck = duckdb.connect()
    duck.register("ids", pd.DataFrame({"id": ids}))
    assert duck.execute(f"SELECT id FROM ids WHERE {condition} ORDER BY id").fetchnumpy()["id"].tolist() == (
        chosen.tolist()
    )
    with contextlib.closing(sqlite3.connect(":memory:")) as lite:
        lite.execute("CREATE TABLE ids (id INTEGER)")
        lite.executemany("INSERT INTO ids VALUES (?)", [(int(i),) for i in ids])
        assert [
            r[0] for r in lite.execute(f"SELECT id FROM ids WHERE {condition} ORDER BY id")
        ] == chosen.tolist()


def test_the_sample_does_not_lean_on_the_training_split():
    """The sample's customers fall into held-out, validation, calibration and fitting slices in the same
    shares as everyone: the two hashes are independent."""
    ids = np.arange(1, 1_000_001)
    point = train.split_point(ids)
    sampled = features.in_sample(ids, 0.1)
    for low, high in ((0, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 1.0)):
        share = ((point >= low) & (point < high) & sampled).sum() / sampled.sum()
        assert share == pytest.approx(high - low, abs=0.005)


def test_former_customers_are_read_from_closed_accounts(loaded, sample_layout, observed_until):
    as_of = pd.Timestamp(loaded.as_of)
    former = (observed_until < as_of).to_numpy()
    np.testing.assert_array_equal(loaded.former, former)
    assert 0.05 < former.mean() < 0.4, "a realistic share of customers left during the past year"
    np.testing.assert_array_equal(loaded.profile["observed_until"], observed_until.to_numpy())
    assert loaded.profile.loc[~former, "closed_on"].isna().all()
    closed_on = loaded.profile.loc[former, "closed_on"]
    assert (closed_on >= as_of - pd.Timedelta(days=365)).all() and (closed_on < as_of).all()


def test_profile_ages_and_tenure_are_measured_to_the_day_last_observed(
    loaded, profiles, sample_layout, observed_until
):
    assert loaded.as_of == date.fromisoformat(sample_layout.read_manifest()["as_of"])
    until = observed_until.to_numpy()
    expected_age = (until - pd.to_datetime(profiles["birth_date"])).dt.days / 365.25
    expected_tenure = (until - pd.to_datetime(profiles["first_visit"])).dt.days / 365.25
    np.testing.assert_allclose(loaded.profile["age"], expected_age)
    np.testing.assert_allclose(loaded.profile["tenure_years"], expected_tenure)
    assert (loaded.profile["has_web"] == profiles["web_user_id"].notna()).all()
    assert (loaded.profile["history_days"] <= TRANSACTION_DAYS).all()


def test_holdings_are_the_accounts_held_when_last_observed(loaded, sample_layout):
    accounts = pd.read_parquet(sample_layout.accounts)  # a former customer held the accounts they closed
    direct = pd.crosstab(accounts["customer_id"], accounts["product"].astype(str)).clip(upper=1)
    direct = direct.reindex(index=loaded.customer_ids, columns=list(PRODUCTS), fill_value=0)
    np.testing.assert_array_equal(loaded.holdings.to_numpy(), direct.to_numpy())


def test_spending_matches_the_transactions_within_the_window(loaded, sample_layout, observed_until):
    tx = pd.read_parquet(sample_layout.transactions)
    window = loaded.profile.set_index("customer_id")["history_days"]
    tx["days_ago"] = (
        observed_until.reindex(tx["customer_id"]).to_numpy() - pd.to_datetime(tx["date"])
    ).dt.days
    tx["window"] = window.reindex(tx["customer_id"]).to_numpy()
    charged = ~tx["declined"]  # a declined charge never reached the card
    tx = tx[(tx["days_ago"] >= 1) & (tx["days_ago"] <= tx["window"]) & (tx["amount"] > 0) & charged]
    tx["position"] = (tx["window"] - tx["days_ago"] + 0.5) / tx["window"]
    direct = tx.groupby("customer_id").agg(
        transactions=("amount", "size"), spend=("amount", "sum"), position=("position", "mean")
    )
    direct = direct.reindex(loaded.customer_ids).fillna({"transactions": 0, "spend": 0.0, "position": 0.5})
    spending = loaded.spending
    np.testing.assert_array_equal(spending["transactions"], direct["transactions"])
    np.testing.assert_allclose(spending["spend"], direct["spend"], rtol=1e-9)
    np.testing.assert_allclose(spending["position"], direct["position"], rtol=1e-9)
    spent = spending["spend"].to_numpy() > 0
    np.testing.assert_allclose(loaded.categories.sum(axis=1)[spent], 1.0)
    assert (loaded.categories.sum(axis=1)[~spent] == 0).all()


def test_clicks_are_counted_per_customer_product_and_leaving_page(
    loaded, profiles, sample_layout, observed_until
):
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    owner = profiles.dropna(subset=["web_user_id"]).set_index("web_user_id")["id"]
    clicks["customer_id"] = owner.reindex(clicks["user_id"]).to_numpy()
    until = observed_until.reindex(clicks["customer_id"]).to_numpy()
    window = (clicks["datetime"] >= until - pd.Timedelta(days=30)) & (
        clicks["datetime"] < until + pd.Timedelta(days=1)
    )
    assert window.all(), "every click falls in its customer's last 30 days"
    assert loaded.clicks["clicks"][loaded.former].sum() > 0, "former customers' last 30 days are counted"
    clicks["leaving"] = clicks["url"].str.rsplit("/", n=1).str[-1].isin(LEAVING_PAGES)
    per_customer = clicks.groupby("customer_id").agg(clicks=("url", "size"), leaving=("leaving", "sum"))
    per_customer = per_customer.reindex(loaded.customer_ids, fill_value=0)
    np.testing.assert_array_equal(loaded.clicks["clicks"], per_customer["clicks"])
    np.testing.assert_array_equal(loaded.clicks["leaving"], per_customer["leaving"])
    per_product = pd.crosstab(clicks["customer_id"], clicks["product"]).reindex(
        index=loaded.customer_ids, columns=list(PRODUCTS), fill_value=0
    )
    np.testing.assert_array_equal(loaded.clicks[list(PRODUCTS)].to_numpy(), per_product.to_numpy())
    assert loaded.clicks["leaving"].sum() > 0


def test_survey_answers_and_stated_needs_per_customer(loaded, sample_layout):
    rows = pd.concat(pd.read_json(path, lines=True) for path in sorted(sample_layout.surveys.glob("*.json")))
    assert len(loaded.responses) == len(rows)
    counts = rows.groupby("customer_id").size().reindex(loaded.customer_ids, fill_value=0)
    np.testing.assert_array_equal(loaded.surveys["responses"], counts)
    someone = rows[rows["needs"].str.len() > 0].iloc[0]
    row = loaded.surveys.iloc[int(someone["customer_id"]) - 1]
    for need in someone["needs"]:
        assert all(row[f"needs_{product}"] for product in NEEDS[need])
    silent = loaded.surveys["responses"] == 0
    assert silent.any() and loaded.surveys.loc[silent, "rating"].isna().all()
    assert (loaded.surveys.loc[silent, "comment"] == "").all()


def test_features_never_need_the_hidden_truth(sample_layout, tmp_path: Path, loaded):
    copy = tmp_path / "data"
    shutil.copytree(sample_layout.root, copy, ignore=shutil.ignore_patterns("truth", "photos"))
    without_truth = features.load(Layout(copy))
    pd.testing.assert_frame_equal(without_truth.spending, loaded.spending)


def test_a_missing_source_is_named_with_the_fix(sample_layout, tmp_path: Path):
    copy = tmp_path / "data"
    shutil.copytree(sample_layout.root, copy, ignore=shutil.ignore_patterns("photos"))
    Layout(copy).clicks.unlink()
    with pytest.raises(SourceMissing, match=r"clickstream\.jsonl is missing.*connectors\.sample"):
        features.load(Layout(copy))
    with pytest.raises(SourceMissing, match="no data set"):
        features.load(Layout(tmp_path / "empty"))


OUTCOME = (
    "page-key-1",
    "roth_ira",
    7,
    1,
    "v1",
    "accepted",
    "2026-11-02 09:30:00.250000",
    schema.DESK_SOURCE,
)
INSERT_OUTCOME = (
    "INSERT INTO desk_offer_outcomes (contact_key, product, customer_id, offer_rank, model_version, response, "
    "recorded_at, source) VALUES ({})"
)


def _expected_outcome() -> list:
    """OUTCOME as the reader returns it, in its column order."""
    inserted = ("contact_key", "product", "customer_id", "offer_rank", "model_version", "response")
    values = dict(zip(inserted, OUTCOME, strict=False))
    values |= {"recorded_at": pd.Timestamp(OUTCOME[6]), "source": OUTCOME[7]}
    return [values[column] for column in features.OUTCOME_COLUMNS]


def test_offer_outcomes_are_read_from_the_embedded_store_simulated_and_desk_alike(sample_layout, tmp_path):
    copy = Layout(tmp_path / "data")
    copy.desk.parent.mkdir(parents=True)
    shutil.copy(sample_layout.desk, copy.desk)
    with contextlib.closing(sqlite3.connect(copy.desk)) as store, store:
        store.execute(INSERT_OUTCOME.format(", ".join("?" * len(OUTCOME))), OUTCOME)
        expected = pd.read_sql_query(
            "SELECT COUNT(*) AS n, SUM(source = 'simulated') AS s FROM desk_offer_outcomes", store
        )
    read = features.offer_outcomes(copy)
    assert list(read.columns) == list(features.OUTCOME_COLUMNS)
    assert (
        len(read) == expected["n"][0]
        and (read["source"] == schema.SIMULATED_SOURCE).sum() == expected["s"][0]
    )
    assert read[read["source"] == schema.DESK_SOURCE].iloc[0].tolist() == _expected_outcome()
    assert read["customer_id"].is_monotonic_increasing
    assert str(read["recorded_at"].dtype) == "datetime64[us]"
    sampled = features.offer_outcomes(copy, fraction=0.25)
    expected = read[features.in_sample(read["customer_id"].to_numpy(), 0.25)].reset_index(drop=True)
    assert 0 < len(sampled) < len(read)
    pd.testing.assert_frame_equal(sampled, expected)


def test_no_store_or_no_table_means_no_outcomes_yet(tmp_path):
    nothing = features.offer_outcomes(Layout(tmp_path / "none"))
    assert nothing.empty and list(nothing.columns) == list(features.OUTCOME_COLUMNS)
    layout = Layout(tmp_path / "data")
    layout.desk.parent.mkdir(parents=True)
    sqlite3.connect(layout.desk).close()
    assert features.offer_outcomes(layout).empty
    assert not layout.desk.with_name("desk.sqlite-wal").exists(), "reading writes nothing"


@pytest.mark.mariadb
def test_offer_outcomes_are_read_from_mysql_when_it_is_set(mariadb, tmp_path):
    with mariadb.connect() as connection, connection.cursor() as cursor:
        cursor.execute("DROP DATABASE IF EXISTS c360_outcomes")
        cursor.execute("CREATE DATABASE c360_outcomes")
    target = parse_mysql_url(mariadb.url.rsplit("/", 1)[0] + "/c360_outcomes")
    assert features.offer_outcomes(Layout(tmp_path), target).empty, "no table yet: no outcomes yet"
    with mariadb.connect(database="c360_outcomes") as connection, connection.cursor() as cursor:
        for statement in schema.create_statements("mysql"):
            cursor.execute(statement)
        cursor.execute(INSERT_OUTCOME.format(", ".join(["%s"] * len(OUTCOME))), OUTCOME)
        connection.commit()
    read = features.offer_outcomes(Layout(tmp_path), target)
    assert read.iloc[0].tolist() == _expected_outcome() and len(read) == 1
    with mariadb.connect(database="c360_outcomes") as connection, connection.cursor() as cursor:
        others = [(f"k{i}", OUTCOME[1], i, *OUTCOME[3:]) for i in [*range(1, 200), 2**32 + 7, 10**12]]
        cursor.executemany(INSERT_OUTCOME.format(", ".join(["%s"] * len(OUTCOME))), others)
        connection.commit()
    everyone = features.offer_outcomes(Layout(tmp_path), target)
    sampled = features.offer_outcomes(Layout(tmp_path), target, fraction=0.3)
    in_sample = features.in_sample(everyone["customer_id"].to_numpy(), 0.3)
    assert 0 < len(sampled) < len(everyone)
    assert sampled["customer_id"].tolist() == everyone["customer_id"][in_sample].tolist()
    unreachable = parse_mysql_url(f"mysql://root@127.0.0.1:{free_port()}/c360")
    with pytest.raises(BankingUnavailable, match="cannot reach a MySQL server"):
        features.offer_outcomes(Layout(tmp_path), unreachable)
