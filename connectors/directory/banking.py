"""Core banking in MySQL/MariaDB (``C360_MYSQL_URL``): per-customer look-ups and the directory's summary,
and the contact center's history, which the loader puts in the same database.

Per-customer reads are indexed, parameterised queries on one connection that reconnects by itself: when the
server goes away the caller gets :class:`BankingUnavailable` with the reason, and the first call after the
server returns succeeds. The one bulk read, products per customer for the directory, is aggregated by the
server and streamed (an unbuffered cursor, in batches) so memory stays flat at any size.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

import numpy as np
import pyarrow as pa
import pymysql
import pymysql.cursors

from connectors import config
from connectors.config import MySQLTarget
from connectors.directory import sql

log = logging.getLogger(__name__)

SETTING = config.describe("mysql_url")
RETRY_AFTER_S = 1.0  # after a failed connection, calls fail fast for this long instead of waiting again
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

_UNREACHABLE = {2002, 2003, 2005}  # no server there: refused, no route, unknown host
_CONNECTION_LOST = {2006, 2013, 2014}


class BankingUnavailable(Exception):
    """Core banking cannot answer now; the message says why (and which setting to fix, if one is wrong)."""


def describe_error(error: BaseException, target: MySQLTarget) -> str:
    """One sentence about a MySQL error, naming the setting when the setting is what is wrong."""
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    detail = error.args[1] if len(error.args) > 1 else str(error) or type(error).__name__
    where = f"{target.host}:{target.port}"
    if code == 1045:
        return (
            f"{SETTING}: access denied for user {target.user!r} at {where}; check the user name and password"
        )
    if code == 1044:
        return f"{SETTING}: user {target.user!r} may not use database {target.database!r}; grant access or fix the URL"
    if code == 1049:
        return (
            f"{SETTING}: the server at {where} has no database {target.database!r}; create it "
            f"(CREATE DATABASE {target.database}) or fix the database name in the URL"
        )
    if code in _UNREACHABLE or isinstance(error, OSError):
        return f"{SETTING}: cannot reach a MySQL server at {where} ({detail}); is it running?"
    if code in _CONNECTION_LOST:
        return f"lost the connection to MySQL at {where} ({detail})"
    if code == 1146:
        return (
            f"the banking tables are missing from {target.redacted()} ({detail}); load them with "
            "`python -m connectors.tools.mysql_load`"
        )
    return f"MySQL at {target.redacted()}: {detail}"


def connect(target: MySQLTarget, **options) -> pymysql.connections.Connection:
    """A connection with timeouts, so a server that hangs cannot hang the dashboard; options override."""
    defaults = {"charset": "utf8mb4", "autocommit": True, "connect_timeout": 3, "read_timeout": 30}
    return pymysql.connect(**target.connect_kwargs(), **(defaults | {"write_timeout": 30} | options))


def _close_quietly(connection: pymysql.connections.Connection) -> None:
    """Close a connection that may already be broken: closing is all we wanted."""
    with contextlib.suppress(pymysql.err.Error, OSError):
        connection.close()


def _table(columns: list[str], rows: list[tuple], schema: pa.Schema) -> pa.Table:
    if not rows:
        return schema.empty_table()
    arrays = [pa.array(list(values)) for values in zip(*rows, strict=True)]
    return pa.Table.from_arrays(arrays, names=columns).cast(schema)


class CoreBanking:
    """The banking tables on a MySQL server; thread-safe; recovers by itself when the server returns."""

    def __init__(self, target: MySQLTarget):
        self.target = target
        self._lock = threading.Lock()
        self._connection: pymysql.connections.Connection | None = None
        self._failure: tuple[float, str] | None = None

    @property
    def status(self) -> str:
        """ "mysql ok", or "core banking unavailable: <reason>" after the last call failed."""
        return "mysql ok" if self._failure is None else f"core banking unavailable: {self._failure[1]}"

    def close(self) -> None:
        with self._lock:
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            _close_quietly(connection)

    def _fail(self, error: BaseException) -> BankingUnavailable:
        reason = describe_error(error, self.target)
        if self._failure is None or self._failure[1] != reason:  # the log says it once, as the page does
            log.warning("core banking unavailable: %s", reason)
        self._failure = (time.monotonic(), reason)
        return BankingUnavailable(reason)

    def _succeeded(self) -> None:
        if self._failure is not None:
            log.info("core banking at %s answers again", self.target.redacted())
        self._failure = None

    def query(self, statement: str, params: tuple) -> tuple[list[str], list[tuple]]:
        """Run one statement; a connection lost since the last call is reopened once before giving up."""
        with self._lock:
            if self._connection is None and self._failure is not None:
                failed_at, reason = self._failure
                if time.monotonic() - failed_at < RETRY_AFTER_S:
                    raise BankingUnavailable(reason)
            if self._connection is not None:
                try:
                    return self._run(statement, params)
                except (pymysql.err.MySQLError, OSError):
                    self._drop()  # perhaps the server restarted since the last call: reconnect once
            try:
                self._connection = connect(self.target)
                return self._run(statement, params)
            except (pymysql.err.MySQLError, OSError) as error:
                self._drop()
                raise self._fail(error) from None

    def _run(self, statement: str, params: tuple) -> tuple[list[str], list[tuple]]:
        assert self._connection is not None
        with self._connection.cursor() as cursor:
            cursor.execute(statement, params)
            rows = list(cursor.fetchall())
            columns = [d[0] for d in cursor.description or ()]
        self._succeeded()
        return columns, rows

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
        except (pymysql.err.MySQLError, OSError) as error:
            raise self._fail(error) from None
        batches = []
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.HOLDINGS_SUMMARY)
                while rows := cursor.fetchmany(STREAM_BATCH):
                    ids, products = np.array(rows, dtype=np.int64).T
                    batches.append(pa.record_batch([ids, products], schema=HOLDINGS_SUMMARY))
        except (pymysql.err.MySQLError, OSError) as error:
            raise self._fail(error) from None
        finally:
            _close_quietly(connection)
        self._succeeded()
        return pa.Table.from_batches(batches, schema=HOLDINGS_SUMMARY)
