"""The desk on embedded defaults: one SQLite file in the data folder (``Layout.desk``).

WAL mode with ``synchronous=FULL`` makes every commit durable before it returns (the log is synced to disk
at each commit, so a kill -9 or a power cut right after loses nothing committed). Every transaction begins
``IMMEDIATE``, taking the file's write lock at once, so several processes on one machine take turns
(waiting up to ``BUSY_TIMEOUT_S`` for each other) and a read-then-write (an idempotent wrap-up, a lock-out
count) cannot interleave with another's. One connection per store, shared by the process's threads under a
lock. The tables are created when missing, on first use.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from connectors.desk.schema import DESK_SOURCE, create_statements
from connectors.desk.store import DeskStore, DeskUnavailable, DuplicateKey, Run

BUSY_TIMEOUT_S = 10.0
TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # the schema's text times: ISO 8601, sorting as time does


class SQLiteDesk(DeskStore):
    """The desk's tables in one SQLite file; safe for many threads and processes on one machine."""

    def __init__(self, path: Path):
        super().__init__(str(path))
        self.path = Path(path)
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise sqlite3.OperationalError(f"the file cannot be put in WAL mode (it is in {mode} mode)")
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
            connection.execute("BEGIN IMMEDIATE")
            for statement in create_statements("sqlite"):
                connection.execute(statement)
            connection.execute("COMMIT")
        except BaseException:
            connection.close()
            raise
        return connection

    def _unavailable(self, error: BaseException) -> DeskUnavailable:
        return DeskUnavailable(f"cannot use the desk's file {self.path}: {error}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                connection = self._connection
                connection.execute("BEGIN IMMEDIATE")
            except (sqlite3.Error, OSError) as error:
                self._drop()
                raise self._unavailable(error) from None

            def run(statement: str, params: tuple) -> list[tuple]:
                return connection.execute(statement, params).fetchall()

            try:
                yield run
                connection.execute("COMMIT")
            except sqlite3.IntegrityError as error:
                connection.rollback()
                if "UNIQUE" in str(error):
                    raise DuplicateKey(str(error)) from None
                raise self._unavailable(error) from None
            except sqlite3.Error as error:
                self._drop()
                raise self._unavailable(error) from None
            except BaseException:
                connection.rollback()
                raise

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(sqlite3.Error):
                connection.close()  # an open transaction is rolled back with the connection

    def _time(self, value: datetime) -> str:
        return value.strftime(TIME_FORMAT)

    def _locking(self, statement: str) -> str:
        return statement  # BEGIN IMMEDIATE already holds the file's write lock

    def close(self) -> None:
        with self._lock:
            self._drop()


# What representatives wrote, by table: the rows a new data set must keep (the generator's own are new).
_CARRIED = {
    "desk_contacts": f"source = '{DESK_SOURCE}'",
    "desk_offer_outcomes": f"source = '{DESK_SOURCE}'",
    "desk_offers_shown": f"source = '{DESK_SOURCE}'",
    "desk_audit": "true",
    "desk_verifications": "true",
}


def carry_over(old: Path, new: Path) -> dict[str, int]:
    """Copy what representatives wrote in the store at ``old`` into the store at ``new``; rows per table.

    A data set that is generated again (a new format, ``--force``) gets a new store with a new simulated
    history; the wrap-ups, outcomes, audit and verification attempts of the old one come along, so no
    regeneration loses a representative's work. Auto-numbered ids are numbered anew in ``new``.
    """
    if not Path(old).is_file():
        return {}
    connection = sqlite3.connect(new)
    try:
        connection.execute("ATTACH DATABASE ? AS old", (f"file:{Path(old).absolute()}?mode=ro",))
        copied = {}
        with connection:
            for statement in create_statements("sqlite"):
                connection.execute(statement)
            for table, which in _CARRIED.items():
                found = connection.execute(
                    "SELECT count(*) FROM old.sqlite_master WHERE type = 'table' AND name = ?", (table,)
                ).fetchone()[0]
                if not found:
                    continue
                columns = [row[1] for row in connection.execute(f"PRAGMA main.table_info({table})")]
                kept = ", ".join(column for column in columns if column != "id")
                cursor = connection.execute(
                    f"INSERT OR IGNORE INTO main.{table} ({kept}) SELECT {kept} FROM old.{table} WHERE {which}"
                )
                copied[table] = cursor.rowcount
        connection.execute("DETACH DATABASE old")
        return copied
    finally:
        connection.close()
