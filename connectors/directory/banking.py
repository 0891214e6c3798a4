"""Core banking in MySQL/MariaDB (``C360_MYSQL_URL``): per-customer look-ups and the directory's summary,
and the contact center's history, which the loader puts in the same database.

Per-customer reads are indexed, parameterised queries on one connection that reconnects by itself
(:class:`connectors.mysql.SharedConnection`): when the server goes away the caller gets
:class:`BankingUnavailable` with the reason, and the first call after the server returns succeeds. The one
bulk read, products per customer for the directory, is aggregated by the server and streamed (an unbuffered
cursor, in batches) so memory stays flat at any size.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pymysql
import pymysql.cursors

from connectors.config import MySQLTarget
from connectors.directory import sql
from connectors.mysql import ERRORS, SharedConnection, close_quietly, connect

STREAM_BATCH = 100_000

# The banking tables as every reader returns them, whether from MySQL or from the Parquet files.
HOLDINGS = pa.schema(
    [
        ("account_id", pa.int64()),
        ("product", pa.string()),
        ("opened_date", pa.date32()),
        ("balance", pa.float64()),
        ("status", pa.string()),  # open or closed
        ("closed_date", pa.date32()),  # null while open
    ]
)
TRANSACTIONS = pa.schema(
    [
        ("date", pa.date32()),
        ("payee", pa.string()),
        ("category", pa.string()),
        ("amount", pa.float64()),
        ("fee", pa.float64()),  # charged with it (late payment, overdraft, foreign), 0 when none
        ("declined", pa.bool_()),  # never reached the card
        ("disputed", pa.bool_()),  # the customer disputed it
    ]
)
# The contact center's history, as the record returns it from MySQL or the Parquet file (UTC times).
CONTACTS = pa.schema(
    [
        ("contact_id", pa.int64()),
        ("started_at", pa.timestamp("s")),
        ("channel", pa.string()),
        ("reason", pa.string()),
        ("duration_s", pa.int64()),
        ("outcome", pa.string()),
        ("note", pa.string()),
        ("agent", pa.string()),
    ]
)
HOLDINGS_SUMMARY = pa.schema([("customer_id", pa.int64()), ("products", pa.int64())])


class BankingUnavailable(Exception):
    """Core banking cannot answer now; the message says why (and which setting to fix, if one is wrong)."""


def _table(columns: list[str], rows: list[tuple], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    arrays = [pa.array(list(values)) for values in zip(*rows, strict=True)]
    return pa.Table.from_arrays(arrays, names=columns).cast(schema)


class CoreBanking:
    """The banking tables on a MySQL server; thread-safe; recovers by itself when the server returns."""

    def __init__(self, target: MySQLTarget):
        self.target = target
        self._shared = SharedConnection(target, "core banking", BankingUnavailable)

    @property
    def status(self) -> str:
        """ "mysql ok", or "core banking unavailable: <reason>" after the last call failed."""
        failure = self._shared.failure
        return "mysql ok" if failure is None else f"core banking unavailable: {failure}"

    def close(self) -> None:
        self._shared.close()

    def query(self, statement: str, params: tuple) -> tuple[list[str], list[tuple]]:
        """Run one statement on the shared connection (reopened first if the server dropped it)."""
        with self._shared.use() as connection, connection.cursor() as cursor:
            cursor.execute(statement, params)
            return [d[0] for d in cursor.description or ()], list(cursor.fetchall())

    def holdings(self, customer_id: int) -> pa.Table:
        statement = sql.CUSTOMER_HOLDINGS.format(param="%s")
        return _table(*self.query(statement, (customer_id,)), HOLDINGS)

    def transactions(self, customer_id: int) -> pa.Table:
        statement = sql.CUSTOMER_TRANSACTIONS.format(param="%s")
        return _table(*self.query(statement, (customer_id,)), TRANSACTIONS)

    def contacts(self, customer_id: int) -> pa.Table:
        """The customer's contacts, newest first: the contact center's table lives in the same database."""
        statement = sql.CUSTOMER_CONTACTS.format(param="%s")
        return _table(*self.query(statement, (customer_id,)), CONTACTS)

    def signature(self) -> tuple:
        """When the banking tables were created and last changed: a new value means reload the summary."""
        return tuple(self.query(sql.MYSQL_TABLES_CHANGED, ())[1])

    def holdings_summary(self) -> pa.Table:
        """Products per customer, aggregated by the server and streamed in batches on its own connection."""
        try:
            connection = connect(self.target, cursorclass=pymysql.cursors.SSCursor)
        except ERRORS as error:
            raise self._shared.fail(error) from None
        batches = []
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.HOLDINGS_SUMMARY)
                while rows := cursor.fetchmany(STREAM_BATCH):
                    ids, products = np.array(rows, dtype=np.int64).T
                    batches.append(pa.record_batch([ids, products], schema=HOLDINGS_SUMMARY))
        except ERRORS as error:
            raise self._shared.fail(error) from None
        finally:
            close_quietly(connection)
        self._shared.succeeded()
        return pa.Table.from_batches(batches, schema=HOLDINGS_SUMMARY)
