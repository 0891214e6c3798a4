"""MySQL/MariaDB (``C360_MYSQL_URL``), the one server both core banking and the desk may live on: its
connections, what its errors mean in words, and the one shared connection each of them keeps.

:class:`SharedConnection` is the rule both follow: one connection under a lock; when the server is down a
call fails with the reason, and for ``RETRY_AFTER_S`` further calls fail at once instead of waiting again;
the first call after the server is back reconnects (each call first pings its connection and opens a new one
if the server restarted or dropped it since).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator

import pymysql

from connectors import config
from connectors.config import MySQLTarget

log = logging.getLogger(__name__)

SETTING = config.describe("mysql_url")
RETRY_AFTER_S = 1.0  # after a failed connection, calls fail fast for this long instead of waiting again
ERRORS = (pymysql.err.MySQLError, OSError)  # what a server that is down, gone or refusing raises

_UNREACHABLE = {2002, 2003, 2005}  # no server there: refused, no route, unknown host
_CONNECTION_LOST = {2006, 2013, 2014}


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


def close_quietly(connection: pymysql.connections.Connection) -> None:
    """Close a connection that may already be broken: closing is all we wanted."""
    with contextlib.suppress(*ERRORS):
        connection.close()


class SharedConnection:
    """One connection to ``target`` for a whole process, thread-safe, that recovers by itself.

    ``what`` names the tables in the log ("core banking"); ``unavailable`` is the exception a failed call
    raises, with the reason; ``opened`` runs on every new connection (the desk creates its tables there).
    """

    def __init__(
        self,
        target: MySQLTarget,
        what: str,
        unavailable: type[Exception],
        opened: Callable[[pymysql.connections.Connection], None] | None = None,
        **options,
    ):
        self.target, self.what, self.unavailable = target, what, unavailable
        self._opened, self._options = opened, options
        self._lock = threading.Lock()
        self._connection: pymysql.connections.Connection | None = None
        self._failure: tuple[float, str] | None = None

    @property
    def failure(self) -> str | None:
        """Why the last call failed, or None once one succeeded."""
        return None if self._failure is None else self._failure[1]

    @contextlib.contextmanager
    def use(self) -> Iterator[pymysql.connections.Connection]:
        """The connection, alone, for one call: a server error inside drops it and raises ``unavailable``;
        any other exception leaves it open for the next call."""
        with self._lock:
            connection = self._open()
            try:
                yield connection
            except ERRORS as error:
                self.drop()
                raise self.fail(error) from None
            self.succeeded()

    def _open(self) -> pymysql.connections.Connection:
        if self._connection is None and self._failure is not None:
            failed_at, reason = self._failure
            if time.monotonic() - failed_at < RETRY_AFTER_S:
                raise self.unavailable(reason)
        if self._connection is not None:
            try:
                self._connection.ping(reconnect=False)
            except ERRORS:
                self.drop()  # the server restarted or dropped us since the last call: reconnect
        if self._connection is None:
            try:
                connection = connect(self.target, **self._options)
            except ERRORS as error:
                raise self.fail(error) from None
            try:
                if self._opened is not None:
                    self._opened(connection)
            except BaseException as error:
                close_quietly(connection)
                if isinstance(error, ERRORS):
                    raise self.fail(error) from None
                raise
            self._connection = connection
        return self._connection

    def fail(self, error: BaseException) -> Exception:
        """Record a failure (logged once per reason, as the page says it) and return the exception to raise."""
        reason = describe_error(error, self.target)
        if self._failure is None or self._failure[1] != reason:
            log.warning("%s unavailable: %s", self.what, reason)
        self._failure = (time.monotonic(), reason)
        return self.unavailable(reason)

    def succeeded(self) -> None:
        """A call succeeded: the failure, if any, is over (and the log says so)."""
        if self._failure is not None:
            log.info("%s at %s answers again", self.what, self.target.redacted())
        self._failure = None

    def drop(self) -> None:
        """Close the connection (if any); the next call opens a new one."""
        connection, self._connection = self._connection, None
        if connection is not None:
            close_quietly(connection)

    def close(self) -> None:
        with self._lock:
            self.drop()
