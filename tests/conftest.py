"""Shared fixtures: real servers and a browser, each started once per test session (see tests/servers.py).

A fixture whose system package is missing skips its tests with the exact command that installs it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import orjson
import pandas as pd
import pytest
from confluent_kafka import Producer

from connectors import config
from connectors.clickstream import ClickStream
from connectors.clickstream.aggregate import Aggregator
from connectors.clickstream.redis_state import RedisClickState
from connectors.config import Settings
from connectors.layout import Layout
from connectors.tools.local_broker import LocalBroker
from tests.sample_data import make_sample
from tests.servers import (
    CHROMIUM_ARGS,
    CHROMIUM_MISSING,
    MariaDBServer,
    MissingComponent,
    RedisServer,
    find_chromium,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PLAYWRIGHT_MISSING = "Playwright not installed: run `.venv/bin/pip install -e '.[test]'`"


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
def redis_server() -> Iterator[RedisServer]:
    """A running redis-server on loopback that keeps nothing on disk; ``redis_server.url`` says where.

    Tests keep apart by topic (the live state's keys start with ``c360:{topic}:``). A test that stops it
    must start it again before it ends; it then comes back empty.
    """
    try:
        server = RedisServer()
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


@pytest.fixture(scope="session")
def web_users(sample_layout: Layout) -> pd.DataFrame:
    """The sample's (web_user_id, customer_id) pairs, read straight from the CRM profiles."""
    profiles = pd.read_json(sample_layout.profiles, lines=True, dtype={"phone_number": str})
    pairs = profiles.rename(columns={"id": "customer_id"})[["web_user_id", "customer_id"]]
    return pairs.dropna().astype("int64").reset_index(drop=True)


@pytest.fixture
def kafka_settings(kafka_broker: LocalBroker, sample_layout: Layout) -> Settings:
    """Settings for the sample data and a topic of this test's own on the test broker."""
    topic = f"clicks-{uuid.uuid4().hex[:12]}"
    argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", kafka_broker.bootstrap]
    return config.load([*argv, "--kafka-topic", topic], environ={})


@pytest.fixture
def click_streams(web_users: pd.DataFrame) -> Iterator[Callable[..., ClickStream]]:
    """``click_streams(settings, **options)`` starts a ClickStream (sample web users by default); all stop
    when the test ends."""
    started: list[ClickStream] = []

    def start(settings: Settings, **options) -> ClickStream:
        stream = ClickStream(settings, options.pop("web_users", web_users), **options).start()
        started.append(stream)
        return stream

    yield start
    for stream in started:
        stream.stop()


GROUP_KAFKA_CONFIG = "session.timeout.ms=6000\nheartbeat.interval.ms=500\n"  # a dead member leaves in 6 s


@pytest.fixture
def group_settings(
    kafka_broker: LocalBroker, redis_server: RedisServer, sample_layout: Layout, tmp_path
) -> Settings:
    """Settings for aggregators and dashboards sharing the live state: this test's own topic of 8
    partitions, its own consumer group, the test Redis; group members leave 6 s after they die."""
    name = uuid.uuid4().hex[:12]
    topic = f"clicks-{name}"
    kafka_broker.create_topic(topic, 8)
    options = tmp_path / "kafka.properties"
    options.write_text(GROUP_KAFKA_CONFIG)
    argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", kafka_broker.bootstrap]
    argv += ["--kafka-topic", topic, "--kafka-config", str(options), "--redis-url", redis_server.url]
    return config.load([*argv, "--aggregator-group", f"aggregators-{name}"], environ={})


@pytest.fixture
def aggregators(web_users: pd.DataFrame) -> Iterator[Callable[..., Aggregator]]:
    """``aggregators(settings)`` starts an aggregator on a thread of this process (sample web users); all
    stop when the test ends."""
    started: list[Aggregator] = []

    def start(settings: Settings, **options) -> Aggregator:
        aggregator = Aggregator(settings, options.pop("web_users", web_users), **options).start()
        started.append(aggregator)
        return aggregator

    yield start
    for aggregator in started:
        aggregator.stop()


@pytest.fixture
def shared_states() -> Iterator[Callable[[Settings], RedisClickState]]:
    """``shared_states(settings)`` starts a dashboard process's reader of the live state in Redis."""
    started: list[RedisClickState] = []

    def start(settings: Settings) -> RedisClickState:
        state = RedisClickState(settings).start()
        started.append(state)
        return state

    yield start
    for state in started:
        state.stop()


def _click_message(user_id: int, product: str = "auto_loan", url: str | None = None) -> bytes:
    url = url or f"https://www.c360bank.example/products/{product}/overview"
    return orjson.dumps(
        {
            "user_id": user_id,
            "datetime": "2026-11-01 12:00:00",
            "os": "win10",
            "browser": "Firefox",
            "response_time_ms": 812,
            "product": product,
            "url": url,
        }
    )


@pytest.fixture
def click_message() -> Callable[..., bytes]:
    """``click_message(user_id, product=..., url=...)``: one click in the original demo's message format."""
    return _click_message


def _send(settings: Settings, values: Iterable[bytes | None], partition: int | None = None) -> None:
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    for value in values:
        if partition is None:
            producer.produce(settings.kafka_topic, value)
        else:
            producer.produce(settings.kafka_topic, value, partition=partition)
    assert producer.flush(15) == 0, "messages not delivered to the test broker"


@pytest.fixture
def send_messages() -> Callable[..., None]:
    """``send_messages(settings, values, partition=None)``: produce raw values (None: a tombstone) to the
    settings' topic (to one partition, or wherever the producer puts them)."""
    return _send
