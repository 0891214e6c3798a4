"""Shared fixtures: real servers and a browser, each started once per test session (see tests/servers.py).

A fixture whose system package is missing skips its tests with the exact command that installs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from connectors.local_broker import LocalBroker
from connectors.sample import Layout
from tests.sample_data import make_sample
from tests.servers import MariaDBServer, MissingComponent, find_chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_MISSING = (
    "Chromium not installed: run `sudo apt-get install chromium` (make test does this when run as root)"
)
PLAYWRIGHT_MISSING = "Playwright not installed: run `.venv/bin/pip install -e '.[test]'`"
# Headless in a container: no sandbox or GPU there, and no reaching out to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDBServer]:
    """A running MariaDB with an empty ``c360`` database; ``mariadb.url`` says where."""
    try:
        server = MariaDBServer()
    except MissingComponent as exc:
        pytest.skip(str(exc))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def kafka_broker() -> Iterator[LocalBroker]:
    """A running Kafka-protocol broker on loopback; ``kafka_broker.bootstrap`` says where.

    A test that stops it must start it again before it ends; ``stop()`` keeps its topics and messages.
    """
    with LocalBroker() as broker:
        yield broker


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(CHROMIUM_MISSING)
    sync_api = pytest.importorskip("playwright.sync_api", reason=PLAYWRIGHT_MISSING)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page in its own browser context, so cookies and storage never leak between tests."""
    context = browser.new_context()
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture(scope="session")
def sample_layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    """A small generated data set (3,000 customers, seed 360) shared by the session; treat it as read-only."""
    return make_sample(tmp_path_factory.mktemp("sample") / "data")
