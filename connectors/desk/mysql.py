"""The desk in MySQL/MariaDB (``C360_MYSQL_URL``), beside the core-banking tables.

The tables are created when missing on the first connection (``CREATE TABLE IF NOT EXISTS``; the loader,
which replaces the contact center's ``contacts`` table, never touches them). Each call is one InnoDB
transaction that returns once committed. When the server is down a call raises :class:`DeskUnavailable`
with the reason, and recovers by itself when the server is back (:class:`connectors.mysql.SharedConnection`,
as core banking does). A wrap-up is idempotent by its key, so a submit retried after a commit whose answer
was lost writes nothing twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

import pymysql

from connectors.config import MySQLTarget
from connectors.desk.schema import create_statements
from connectors.desk.store import DeskStore, DeskUnavailable, DuplicateKey, Run
from connectors.mysql import ERRORS, SharedConnection

_DUPLICATE = 1062
_DEADLOCK = {1205, 1213}  # lock wait timeout, deadlock: two submits of one key raced; read the winner's row


class MySQLDesk(DeskStore):
    """The desk's tables on a MySQL server; thread-safe; recovers by itself when the server returns."""

    def __init__(self, target: MySQLTarget):
        super().__init__(target.redacted())
        self.target = target
        self._shared = SharedConnection(
            target, "the desk", DeskUnavailable, opened=_create_tables, autocommit=False
        )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Run]:
        with self._shared.use() as connection:
            connection.begin()
            cursor = connection.cursor()

            def run(statement: str, params: tuple) -> list[tuple]:
                cursor.execute(statement.replace("?", "%s"), params)
                return list(cursor.fetchall())

            try:
                yield run
                connection.commit()
            except pymysql.err.IntegrityError as error:
                if error.args and error.args[0] == _DUPLICATE:
                    self._rollback(connection)
                    raise DuplicateKey(str(error)) from None
                raise
            except pymysql.err.OperationalError as error:
                if error.args and error.args[0] in _DEADLOCK:
                    self._rollback(connection)
                    raise DuplicateKey(str(error)) from None
                raise
            except ERRORS:
                raise  # the shared connection drops it and says why
            except BaseException:
                self._rollback(connection)
                raise
            finally:
                with contextlib.suppress(*ERRORS):
                    cursor.close()

    def _rollback(self, connection: pymysql.connections.Connection) -> None:
        try:
            connection.rollback()
        except ERRORS:
            self._shared.drop()

    def _time(self, value: datetime) -> datetime:
        return value

    def _locking(self, statement: str) -> str:
        return f"{statement} FOR UPDATE"

    def close(self) -> None:
        self._shared.close()


def _create_tables(connection: pymysql.connections.Connection) -> None:
    """The desk's tables on a new connection, when missing."""
    with connection.cursor() as cursor:
        for statement in create_statements("mysql"):
            cursor.execute(statement)
    connection.commit()
