"""Fixtures for the desk's store: the same tests run on the embedded SQLite file and on the real MariaDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from connectors import config
from connectors.config import Settings
from connectors.desk import DeskStore, open_store
from tests.servers import MariaDBServer


def fresh_database(server: MariaDBServer) -> str:
    """A new empty database on the test server; its URL."""
    name = f"c360_desk_{uuid.uuid4().hex[:10]}"
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    return server.url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mariadb)])
def desk_settings(request, tmp_path: Path) -> Settings:
    """Settings whose desk is a fresh SQLite file in this test's folder, or a fresh MariaDB database."""
    argv = ["--data-dir", str(tmp_path / "data")]
    if request.param == "mysql":
        argv += ["--mysql-url", fresh_database(request.getfixturevalue("mariadb"))]
    return config.load(argv, environ={})


@pytest.fixture
def desks(desk_settings: Settings) -> Iterator[Callable[[], DeskStore]]:
    """``desks()`` opens another store on the same tables (another session's or process's); all close at
    the end of the test."""
    opened: list[DeskStore] = []

    def open_one() -> DeskStore:
        store = open_store(desk_settings)
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
