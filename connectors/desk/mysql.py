"""The desk in MySQL/MariaDB (``C360_MYSQL_URL``), beside the core-banking tables.

The tables are created when missing on the first connection (``CREATE TABLE IF NOT EXISTS``; the loader,
which replaces the contact center's ``contacts`` table, never touches them). Each call is one InnoDB
transaction that returns once committed. When the server is down a call raises :class:`DeskUnavailable`
with the reason (for ``RETRY_AFTER_S`` further calls fail at once instead of waiting again); the first call
after the server is back reconnects: each transaction first pings its connection and opens a new one if the
server restarted since. A wrap-up is idempotent by its key, so a submit retried after a commit whose answer
was lost writes nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import datetime

import pymysql

from connectors.config import MySQLTarget
from connectors.desk.schema import create_statements
from connectors.desk.store import DeskStore, DeskUnavailable, DuplicateKey, Run
from connectors.directory.banking import connect, describe_error

log = logging.getLogger(__name__)

RETRY_AFTER_S = 1.0
_DUPLICATE = 1062
_DEADLOCK = {1205, 1213}  # lock wait timeout, deadlock: two submits of one key raced; read the winner's row


class MySQLDesk(DeskStore):
    """The desk's tables on a MySQL server; thread-safe; recovers by itself when the server returns."""

    def __init__(self, target: MySQLTarget):
        super().__init__(target.redacted())
        self.target = target
        self._lock = threading.Lock()
        self._connection: pymysql.connections.Connection | None = None
        self._failed_at: tuple[float, str] | None = None

    def _connect(self) -> pymysql.connections.Connection:
        connection = connect(self.target, autocommit=False)
        try:
            with connection.cursor() as cursor:
                for statement in create_statements("mysql"):
                    cursor.execute(statement)
            connection.commit()
        except BaseException:
            with contextlib.suppress(pymysql.err.Error, OSError):
                connection.close()
            raise
        return connection

    def _unavailable(self, error: BaseException) -> DeskUnavailable:
        reason = describe_error(error, self.target)
        if self._failed_at is None or self._failed_at[1] != reason:
            log.warning("desk unavailable: %s", reason)
        self._failed_at = (time.monotonic(), reason)
        return DeskUnavailable(reason)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        with self._lock:
            if self._connection is None and self._failed_at is not None:
                failed_at, reason = self._failed_at
                if time.monotonic() - failed_at < RETRY_AFTER_S:
                    raise DeskUnavailable(reason)
            if self._connection is not None:
                try:
                    self._connection.ping(reconnect=False)
                except (pymysql.err.MySQLError, OSError):
                    self._drop()  # the server restarted or dropped us since the last call: reconnect
            try:
                if self._connection is None:
                    self._connection = self._connect()
                connection = self._connection
                connection.begin()
            except (pymysql.err.MySQLError, OSError) as error:
                self._drop()
                raise self._unavailable(error) from None
            cursor = connection.cursor()

            def run(statement: str, params: tuple) -> list[tuple]:
                cursor.execute(statement.replace("?", "%s"), params)
                return list(cursor.fetchall())

            try:
                yield run
                connection.commit()
            except pymysql.err.IntegrityError as error:
                self._rollback(connection)
                if error.args and error.args[0] == _DUPLICATE:
                    raise DuplicateKey(str(error)) from None
                raise self._unavailable(error) from None
            except pymysql.err.OperationalError as error:
                if error.args and error.args[0] in _DEADLOCK:
                    self._rollback(connection)
                    raise DuplicateKey(str(error)) from None
                self._drop()
                raise self._unavailable(error) from None
            except (pymysql.err.MySQLError, OSError) as error:
                self._drop()
                raise self._unavailable(error) from None
            except BaseException:
                self._rollback(connection)
                raise
            finally:
                with contextlib.suppress(pymysql.err.Error, OSError):
                    cursor.close()
            if self._failed_at is not None:
                log.info("the desk's tables at %s answer again", self.where)
            self._failed_at = None

    def _rollback(self, connection: pymysql.connections.Connection) -> None:
        try:
            connection.rollback()
        except (pymysql.err.MySQLError, OSError):
            self._drop()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(pymysql.err.Error, OSError):
                connection.close()

    def _time(self, value: datetime) -> datetime:
        return value

    def _locking(self, statement: str) -> str:
        return f"{statement} FOR UPDATE"

    def close(self) -> None:
        with self._lock:
            self._drop()
