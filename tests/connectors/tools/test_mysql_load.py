"""Loading the banking tables into the real MariaDB: idempotent, both load paths, and one clear message for
each kind of bad input, without a traceback."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from connectors import features
from connectors.catalog import CONTACT_COLUMNS
from connectors.config import parse_mysql_url
from connectors.desk import schema
from connectors.layout import Layout
from connectors.tools import mysql_load
from tests.servers import MariaDBServer, free_port

pytestmark = pytest.mark.mariadb
ROOT = Path(__file__).resolve().parents[3]


def _url(server: MariaDBServer, database: str) -> str:
    return server.url.rsplit("/", 1)[0] + f"/{database}"


def _fresh_database(server: MariaDBServer, name: str) -> str:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        cursor.execute(f"CREATE DATABASE {name}")
    return _url(server, name)


def _server_rows(server: MariaDBServer, database: str) -> dict[str, int]:
    with server.connect(database=database) as connection, connection.cursor() as cursor:
        counts = {}
        for table in mysql_load.TABLES:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            counts[table] = cursor.fetchone()[0]
        for table in mysql_load.HISTORY:
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE source = 'simulated'")
            counts[table] = cursor.fetchone()[0]
        cursor.execute("SHOW TABLES")
        assert sorted(row[0] for row in cursor.fetchall()) == sorted(mysql_load.TABLES + schema.TABLES)
    return counts


def _closed_accounts(server: MariaDBServer, database: str) -> list[tuple[int, str]]:
    """(account id, closed date) of every closed account on the server; open ones must have NULL."""
    with server.connect(database=database) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM accounts WHERE status = 'open' AND closed_date IS NOT NULL")
        assert cursor.fetchone()[0] == 0
        cursor.execute(
            "SELECT account_id, closed_date FROM accounts WHERE status = 'closed' ORDER BY account_id"
        )
        return [(row[0], row[1].isoformat()) for row in cursor.fetchall()]


def _parquet_closed_accounts(layout: Layout) -> list[tuple[int, str]]:
    accounts = pq.read_table(layout.accounts).to_pandas()
    closed = accounts[accounts["status"] == "closed"].sort_values("account_id")
    return list(
        zip(closed["account_id"].tolist(), closed["closed_date"].dt.strftime("%Y-%m-%d"), strict=True)
    )


def _parquet_rows(layout: Layout) -> dict[str, int]:
    """The rows of each table in the data folder: the Parquet files' and the desk store's simulated ones."""
    with contextlib.closing(sqlite3.connect(layout.desk)) as store:
        history = {
            table: store.execute(f"SELECT COUNT(*) FROM {table} WHERE source = 'simulated'").fetchone()[0]
            for table in mysql_load.HISTORY
        }
    return {
        "accounts": pq.ParquetFile(layout.accounts).metadata.num_rows,
        "transactions": pq.ParquetFile(layout.transactions).metadata.num_rows,
        "contacts": pq.ParquetFile(layout.contacts).metadata.num_rows,
        **history,
    }


def _history(server: MariaDBServer, database: str) -> pd.DataFrame:
    """Every offer outcome on the server, as :func:`connectors.features.offer_outcomes` reads them."""
    return features.offer_outcomes(Layout(Path("/nowhere")), parse_mysql_url(_url(server, database)))


def _assert_contacts_and_flags_arrive_as_they_are(
    server: MariaDBServer, database: str, layout: Layout
) -> None:
    """The contacts (UTC times to the second, notes as written) and the transactions' fee, declined and
    disputed columns read back from the server equal the Parquet files."""
    with server.connect(database=database) as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT contact_id, customer_id, started_at, channel, reason, duration_s, outcome, note, agent "
            "FROM contacts ORDER BY contact_id"
        )
        contacts = pd.DataFrame(list(cursor.fetchall()), columns=list(CONTACT_COLUMNS))
        cursor.execute(
            "SELECT transaction_id, fee, declined, disputed FROM transactions ORDER BY transaction_id"
        )
        flags = pd.DataFrame(
            list(cursor.fetchall()), columns=["transaction_id", "fee", "declined", "disputed"]
        )
    expected = pq.read_table(layout.contacts).to_pandas()
    for column in ("channel", "reason", "outcome", "agent"):
        expected[column] = expected[column].astype(str)
    contacts["started_at"] = pd.to_datetime(contacts["started_at"]).astype(expected["started_at"].dtype)
    pd.testing.assert_frame_equal(contacts, expected[list(CONTACT_COLUMNS)], check_dtype=False)
    transactions = pq.read_table(layout.transactions).to_pandas()
    assert flags["fee"].astype(float).tolist() == transactions["fee"].tolist()
    assert flags["declined"].astype(bool).tolist() == transactions["declined"].tolist()
    assert flags["disputed"].astype(bool).tolist() == transactions["disputed"].tolist()
    assert transactions["declined"].any() and transactions["disputed"].any()


def test_loading_twice_leaves_the_same_rows_with_keys_and_indexes(mariadb, sample_layout):
    url = _fresh_database(mariadb, "c360_load_twice")
    target = parse_mysql_url(url)
    first = mysql_load.load(target, sample_layout, progress=False)
    second = mysql_load.load(target, sample_layout, progress=False)
    assert first == second == _parquet_rows(sample_layout) == _server_rows(mariadb, "c360_load_twice")
    closed = _closed_accounts(mariadb, "c360_load_twice")
    assert closed and closed == _parquet_closed_accounts(sample_layout)
    with mariadb.connect(database="c360_load_twice") as connection, connection.cursor() as cursor:
        cursor.execute("SHOW INDEX FROM transactions")
        indexes = {(row[2], row[4]) for row in cursor.fetchall()}
        cursor.execute("SELECT SUM(amount) FROM transactions WHERE customer_id = 1")
        spent = float(cursor.fetchone()[0])
    assert {("PRIMARY", "transaction_id"), ("transactions_by_customer", "customer_id")} <= indexes
    parquet = pq.read_table(sample_layout.transactions).to_pandas()
    assert spent == pytest.approx(parquet.loc[parquet["customer_id"] == 1, "amount"].sum())
    _assert_contacts_and_flags_arrive_as_they_are(mariadb, "c360_load_twice", sample_layout)
    pd.testing.assert_frame_equal(
        _history(mariadb, "c360_load_twice"), features.offer_outcomes(sample_layout), check_dtype=False
    )


def test_a_representatives_outcome_survives_a_reload(mariadb, sample_layout):
    """The desk's tables are never replaced: a wrap-up's offer outcome written between two loads is there
    after the second, beside exactly one copy of the simulated history."""
    url = _fresh_database(mariadb, "c360_load_desk")
    target = parse_mysql_url(url)
    mysql_load.load(target, sample_layout, progress=False)
    with mariadb.connect(database="c360_load_desk") as connection, connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO desk_offer_outcomes (contact_key, product, customer_id, offer_rank, model_version, "
            "response, recorded_at, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                "page-key-1",
                "roth_ira",
                7,
                1,
                "v1",
                "accepted",
                datetime(2026, 11, 2, 9, 30),
                schema.DESK_SOURCE,
            ),
        )
        cursor.execute(
            "INSERT INTO desk_offers_shown (customer_id, product, offer_rank, model_version, shown_at, agent, "
            "session, source) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (7, "roth_ira", 1, "v1", datetime(2026, 11, 2, 9, 29), "rep-007", "s-1", schema.DESK_SOURCE),
        )
        connection.commit()
    mysql_load.load(target, sample_layout, progress=False)
    assert _server_rows(mariadb, "c360_load_desk") == _parquet_rows(sample_layout)
    history = _history(mariadb, "c360_load_desk")
    desk = history[history["source"] == schema.DESK_SOURCE]
    assert desk[["contact_key", "customer_id", "product", "response"]].values.tolist() == [
        ["page-key-1", 7, "roth_ira", "accepted"]
    ]
    assert desk["recorded_at"].tolist() == [pd.Timestamp("2026-11-02 09:30")]
    with mariadb.connect(database="c360_load_desk") as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM desk_offers_shown WHERE source = %s", (schema.DESK_SOURCE,))
        assert cursor.fetchone()[0] == 1


def test_a_server_that_refuses_local_files_gets_multi_row_inserts(mariadb, sample_layout, capsys):
    url = _fresh_database(mariadb, "c360_load_inserts")
    with mariadb.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SET GLOBAL local_infile = 0")
    try:
        counts = mysql_load.load(parse_mysql_url(url), sample_layout, progress=False)
    finally:
        with mariadb.connect() as connection, connection.cursor() as cursor:
            cursor.execute("SET GLOBAL local_infile = 1")
    assert "refuses LOAD DATA LOCAL INFILE" in capsys.readouterr().out
    assert counts == _parquet_rows(sample_layout) == _server_rows(mariadb, "c360_load_inserts")
    assert _closed_accounts(mariadb, "c360_load_inserts") == _parquet_closed_accounts(sample_layout)
    _assert_contacts_and_flags_arrive_as_they_are(mariadb, "c360_load_inserts", sample_layout)


def _run(args: list[str], environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("C360_")} | (environ or {})
    return subprocess.run(
        [sys.executable, "-m", "connectors.tools.mysql_load", "--quiet", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_loads_from_the_environment(mariadb, sample_layout):
    url = _fresh_database(mariadb, "c360_load_cli")
    result = _run([], {"C360_MYSQL_URL": url, "C360_DATA_DIR": str(sample_layout.root)})
    assert result.returncode == 0, result.stderr
    rows = _parquet_rows(sample_layout)
    loaded = (
        f"Loaded {rows['accounts']:,} accounts, {rows['transactions']:,} transactions, "
        f"{rows['contacts']:,} contacts, {rows['desk_offer_outcomes']:,} desk_offer_outcomes, "
        f"{rows['desk_offers_shown']:,} desk_offers_shown"
    )
    assert loaded in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (lambda url, data: ["--data-dir", data], "C360_MYSQL_URL (or --mysql-url) is not set"),
        (
            lambda url, data: ["--mysql-url", url.replace("root@", "root:wrong@"), "--data-dir", data],
            "C360_MYSQL_URL (or --mysql-url): access denied for user 'root'",
        ),
        (
            lambda url, data: ["--mysql-url", url.rsplit("/", 1)[0] + "/nowhere", "--data-dir", data],
            "has no database 'nowhere'",
        ),
        (
            lambda url, data: [
                "--mysql-url",
                f"mysql://root@127.0.0.1:{free_port()}/c360",
                "--data-dir",
                data,
            ],
            "C360_MYSQL_URL (or --mysql-url): cannot reach a MySQL server",
        ),
        (
            lambda url, data: ["--mysql-url", "postgres://x@y/z", "--data-dir", data],
            "the scheme must be mysql://",
        ),
        (
            lambda url, data: ["--mysql-url", url, "--data-dir", str(Path(data) / "missing")],
            "C360_DATA_DIR (or --data-dir):",
        ),
    ],
)
def test_bad_input_gets_one_line_naming_what_to_fix(mariadb, sample_layout, arguments, message):
    result = _run(arguments(mariadb.url, str(sample_layout.root)))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
