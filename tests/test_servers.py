"""The shared test infrastructure: MariaDB survives a restart, Chromium renders, wait_until reports."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pymysql
import pytest

from tests.servers import MariaDBServer, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page


@pytest.mark.mariadb
def test_mariadb_keeps_data_and_accepts_clients_after_restart(mariadb: MariaDBServer) -> None:
    url = urlsplit(mariadb.url)
    assert (url.scheme, url.username, url.hostname, url.path) == ("mysql", "root", "127.0.0.1", "/c360")
    table = f"infra_{uuid.uuid4().hex[:8]}"
    survivor = pymysql.connect(host=url.hostname, port=url.port, user=url.username, database="c360")
    with survivor.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {table} (id INT PRIMARY KEY, name VARCHAR(40))")
        cursor.execute(f"INSERT INTO {table} VALUES (1, 'before restart')")
    survivor.commit()

    mariadb.restart()

    with mariadb.connect() as fresh, fresh.cursor() as cursor:
        cursor.execute(f"SELECT name FROM {table}")
        assert cursor.fetchall() == (("before restart",),)
    with pytest.raises(pymysql.err.OperationalError):  # the outage closed it, as a client would see
        survivor.ping(reconnect=False)
    survivor.connect()  # and it reconnects on the same address
    with survivor.cursor() as cursor:
        cursor.execute(f"DROP TABLE {table}")
    survivor.close()


@pytest.mark.browser
def test_browser_renders_a_page(page: Page) -> None:
    page.set_content("<main><h1>Customer 360</h1></main>")
    assert page.text_content("h1") == "Customer 360"


def test_wait_until_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "ready"])
    assert wait_until(lambda: next(values), interval=0) == "ready"


def test_wait_until_timeout_names_the_condition_and_last_result() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the queue to fill \(last returned: \[\]\)"):
        wait_until(lambda: [], timeout=0.1, message="the queue to fill")


def test_wait_until_timeout_quotes_a_lambda() -> None:
    with pytest.raises(AssertionError, match=r"waiting for .*lambda: 1 > 2"):
        wait_until(lambda: 1 > 2, timeout=0.1)


def test_wait_until_retries_failed_assertions() -> None:
    def never() -> None:
        raise AssertionError("still 41")

    with pytest.raises(AssertionError, match="last assertion: still 41"):
        wait_until(never, timeout=0.1)
