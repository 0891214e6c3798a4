"""The one MySQL connection a process shares: it fails fast after a failure, and reconnects by itself."""

from __future__ import annotations

import socket
import threading

import pytest

from connectors import mysql
from connectors.config import parse_mysql_url
from connectors.mysql import SharedConnection


class Unavailable(Exception):
    pass


def test_after_a_failure_calls_fail_at_once_without_trying_the_server_again(monkeypatch):
    """A listening socket that hangs up at once counts how often the server is tried."""
    monkeypatch.setattr(mysql, "RETRY_AFTER_S", 3600)
    listener = socket.create_server(("127.0.0.1", 0))
    tries = []

    def hang_up() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            tries.append(1)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    target = parse_mysql_url(f"mysql://c360:secret@127.0.0.1:{listener.getsockname()[1]}/bank")
    shared = SharedConnection(target, "core banking", Unavailable)
    try:
        with pytest.raises(Unavailable, match=r"lost the connection to MySQL|cannot reach"), shared.use():
            pass
        assert len(tries) == 1 and shared.failure
        with pytest.raises(Unavailable) as again, shared.use():
            pass
        assert len(tries) == 1, "the second call did not try the server"
        assert str(again.value) == shared.failure
    finally:
        listener.close()


@pytest.mark.mariadb
def test_a_connection_the_server_dropped_is_reopened_by_the_next_call(mariadb):
    opened = []
    shared = SharedConnection(parse_mysql_url(mariadb.url), "core banking", Unavailable, opened=opened.append)
    try:
        with shared.use() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (first,) = cursor.fetchone()
        with mariadb.connect() as admin, admin.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {first}")
        with shared.use() as connection, connection.cursor() as cursor:
            cursor.execute("SELECT CONNECTION_ID()")
            (second,) = cursor.fetchone()
        assert second != first and len(opened) == 2 and shared.failure is None
    finally:
        shared.close()
