"""The aggregator group against the Kafka-protocol broker and a real redis-server, read as a dashboard reads.

Clicks go in through Kafka, are aggregated by ``connectors.clickstream.aggregate`` (on threads of this
process, or as processes of their own where one is killed) and come out of ``RedisClickState``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from connectors import config
from connectors.clickstream.live import now_ms
from connectors.clickstream.pipeline import MAX_MESSAGE_BYTES, RATE_WINDOW_BUCKETS
from connectors.clickstream.redis_state import UNAVAILABLE, RedisClickState, StateKeys
from connectors.tools.local_broker import LocalBroker
from dashboard.clicks import health_html
from tests.sample_data import browsers, web_user
from tests.servers import RedisServer, wait_until

pytestmark = [pytest.mark.kafka, pytest.mark.redis]
ROOT = Path(__file__).resolve().parents[3]


def counted(state: RedisClickState) -> float:
    """Clicks in the published rate rows of the last five minutes (each click counts in 10 rows)."""
    return state.global_rates_since(None)[0]["total"].sum() / RATE_WINDOW_BUCKETS


def owners(state: RedisClickState) -> dict[str, list[int]]:
    """Aggregator -> its partitions, as the health panel shows them."""
    return {a["id"]: a["partitions"] for a in state.health()["aggregators"]}


def test_a_produced_click_reaches_every_view_of_the_shared_state(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users
):
    aggregators(group_settings)
    state = shared_states(group_settings)
    first, second = browsers(web_users, 2)
    erika = web_user(web_users, first)
    products = ["auto_loan", "roth_ira", "auto_loan", "home_insurance"]
    send_messages(group_settings, [click_message(erika, p) for p in products])
    send_messages(
        group_settings, [click_message(web_user(web_users, second), "401k", "https://bank.example/4")]
    )

    wait_until(lambda: counted(state) == 5, timeout=30, message="all 5 clicks in the published rates")
    seen = state.last_seen(first)
    assert seen.online() and seen.product in products
    assert state.recent_interest(first) == {"auto_loan": 2, "roth_ira": 1, "home_insurance": 1}
    activity = state.customer_activity(first)
    assert sorted(activity["product"]) == sorted(products) and activity["time"].is_monotonic_increasing
    assert (state.last_seen(second).product, state.last_seen(second).url) == (
        "401k",
        "https://bank.example/4",
    )
    assert set(state.online_customers()) == {first, second}
    assert state.last_seen(3) is None and state.customer_activity(3).empty
    rows = state.global_rates_since(None)[0]
    assert rows["auto_loan"].sum() == 2 * RATE_WINDOW_BUCKETS

    def healthy() -> dict:
        health = state.health()
        return health if health["state"] == "live" and health["lag"] == 0 else {}

    health = wait_until(healthy, timeout=15, message="a live health with every committed offset at its end")
    assert (health["source"], health["accepted"], health["dropped_total"]) == ("redis", 5, 0)
    assert [row["partition"] for row in health["partitions"]] == list(range(8))
    assert len(health["aggregators"]) == 1 and health["aggregators"][0]["partitions"] == list(range(8))


def test_two_aggregators_split_the_partitions_and_a_killed_ones_move_to_the_survivor(
    group_settings, shared_states, send_messages, click_message, web_users, tmp_path
):
    """Real processes, one killed with SIGKILL: no click lost, none counted twice, drops summed over both."""
    state = shared_states(group_settings)
    processes = [_aggregator_process(group_settings, tmp_path / f"aggregator-{n}.log") for n in (1, 2)]
    try:
        split = wait_until(
            lambda: len(owners(state)) == 2 and all(owners(state).values()) and owners(state),
            timeout=90,
            message="two aggregators sharing the partitions",
        )
        assert sorted(p for parts in split.values() for p in parts) == list(range(8))
        erika = web_user(web_users, 1)
        for partition in range(8):  # every partition gets clicks, and one message that is no click
            send_messages(group_settings, [click_message(erika, "auto_loan")] * 5 + [b"{oops"], partition)
        wait_until(lambda: counted(state) == 40, timeout=30, message="the first 40 clicks counted")

        def dropped_by_both() -> dict:
            health = state.health()
            both = len(health["aggregators"]) == 2 and all(a["dropped"] > 0 for a in health["aggregators"])
            return health if health["dropped_total"] == 8 and both else {}

        health = wait_until(dropped_by_both, timeout=15, message="8 drops, summed over both aggregators")
        assert health["dropped"]["malformed_json"] == 8

        victim, survivor = processes
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        for partition in range(8):
            send_messages(group_settings, [click_message(erika, "roth_ira")] * 5, partition)
        wait_until(
            lambda: list(owners(state).values()) == [list(range(8))],
            timeout=60,
            message="the survivor owning every partition",
        )
        wait_until(lambda: counted(state) == 80, timeout=30, message="every click, once")
        assert len(state.customer_activity(1)) == 50  # the latest clicks are capped
        assert counted(state) == 80 and survivor.poll() is None
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=30)


def _aggregator_process(settings: config.Settings, log: Path) -> subprocess.Popen:
    """``python -m connectors.clickstream.aggregate`` with these settings in its environment."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "connectors.clickstream.aggregate"],
            cwd=ROOT,
            env={**os.environ, **config.environment(settings)},
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def test_a_restarted_aggregator_resumes_where_the_group_committed_and_counts_nothing_twice(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users
):
    state = shared_states(group_settings)
    first = aggregators(group_settings)
    user = web_user(web_users, 1)
    send_messages(group_settings, [click_message(user, "auto_loan")] * 30)
    wait_until(lambda: counted(state) == 30, timeout=30, message="the first 30 clicks counted")
    first.stop()
    send_messages(group_settings, [click_message(user, "roth_ira")] * 20)  # while nobody aggregates
    aggregators(group_settings)
    wait_until(lambda: counted(state) == 50, timeout=30, message="the 20 clicks sent meanwhile")
    # What the new owner read again is counted again only in the totals, never in the rates.
    wait_until(lambda: state.health()["accepted"] >= 50, timeout=10, message="the totals of both")
    assert counted(state) == 50


def test_redis_down_says_live_state_unavailable_and_both_sides_recover_by_themselves(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users, redis_server
):
    """The Redis here keeps nothing on disk: it comes back empty and the aggregator rebuilds the past."""
    aggregators(group_settings)
    state = shared_states(group_settings)
    user = web_user(web_users, 1)
    send_messages(group_settings, [click_message(user, "auto_loan")] * 10)
    wait_until(lambda: counted(state) == 10, timeout=30, message="the clicks before the outage")

    redis_server.stop()
    try:
        health = wait_until(lambda: (h := state.health())["state"] == "offline" and h, timeout=10)
        assert health["status"] == UNAVAILABLE == "live state unavailable — reconnecting"
        assert UNAVAILABLE in health_html(health)
        assert state.last_seen(1) is None and state.online_customers() == []  # nothing, at once
        send_messages(group_settings, [click_message(user, "roth_ira")] * 5)  # kept in Kafka meanwhile
    finally:
        redis_server.start()

    wait_until(lambda: state.health()["state"] == "live", timeout=30, message="the reader back by itself")
    wait_until(lambda: counted(state) == 15, timeout=60, message="the past rebuilt and the outage's clicks")
    assert state.recent_interest(1) == {"auto_loan": 10, "roth_ira": 5}


def test_message_content_never_becomes_a_redis_key(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users, redis_server
):
    aggregators(group_settings)
    state = shared_states(group_settings)
    user = web_user(web_users, 1)
    hostile = [
        click_message(user, "auto_loan", url="https://x/\r\nFLUSHALL\r\n:*:c360:clicks-*:{evil}"),
        orjson.dumps({**orjson.loads(click_message(user)), "product": "../../../etc"}),
        orjson.dumps({**orjson.loads(click_message(user)), "user_id": 2**62}),
        click_message(user, "roth_ira", url="https://bank.example/" + "y" * MAX_MESSAGE_BYTES),
        click_message(user, "roth_ira"),
    ]
    send_messages(group_settings, hostile)
    wait_until(lambda: counted(state) == 2, timeout=30, message="the two clicks among the hostile messages")
    prefix = re.escape(f"c360:{group_settings.kafka_topic}:")
    allowed = re.compile(
        prefix + r"(rate:\d+|clicks:\d+|aggregator:[\w.-]+|"
        r"progress|seen|online|totals|aggregators|partitions|meta)"
    )
    keys = [
        key.decode() for key in redis_server.client().scan_iter(match=f"c360:{group_settings.kafka_topic}:*")
    ]
    assert keys and [key for key in keys if not allowed.fullmatch(key)] == []
    url = state.customer_activity(1)["url"].tolist()
    assert "https://x/\r\nFLUSHALL\r\n:*:c360:clicks-*:{evil}" in url  # kept as a value, as sent


@pytest.fixture
def password_redis():
    try:
        server = RedisServer(password="s3cret-pass")
    except Exception as exc:  # MissingComponent: same skip as the session's server
        pytest.skip(str(exc))
    server.start()
    yield server
    server.close()


def test_a_password_protected_redis_is_used_and_its_password_never_shown(
    group_settings, aggregators, shared_states, send_messages, click_message, web_users, password_redis
):
    settings = config.load(
        [], environ={**config.environment(group_settings), "C360_REDIS_URL": password_redis.url}
    )
    aggregators(settings)
    state = shared_states(settings)
    send_messages(settings, [click_message(web_user(web_users, 1), "auto_loan")])
    wait_until(lambda: counted(state) == 1, timeout=30, message="the click through the password")

    wrong = config.load(
        [],
        environ={
            **config.environment(settings),
            "C360_REDIS_URL": password_redis.url.replace("s3cret-pass", "wrong-pass"),
        },
    )
    refused = shared_states(wrong)
    health = wait_until(lambda: (h := refused.health())["state"] == "offline" and h, timeout=10)
    shown = health_html(health) + repr(wrong) + repr(wrong.redis)
    assert "***" in health["detail"] and "wrong-pass" not in shown and "s3cret-pass" not in shown


def test_a_partition_whose_log_the_broker_lost_is_read_again_from_its_start(
    redis_server, sample_layout, aggregators, shared_states, send_messages, click_message, web_users, tmp_path
):
    """A broker back with an empty log (and no group): every click produced since reaches the shared state,
    once (the per-second rates of seconds already shown are not revised)."""
    with LocalBroker() as broker:
        options = tmp_path / "kafka.properties"
        options.write_text("session.timeout.ms=6000\nheartbeat.interval.ms=500\n")
        argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", broker.bootstrap]
        argv += ["--kafka-topic", "clicks", "--kafka-config", str(options), "--redis-url", redis_server.url]
        settings = config.load([*argv, "--aggregator-group", "aggregators-lost-log"], environ={})
        aggregators(settings)
        state = shared_states(settings)
        user = web_user(web_users, 1)
        send_messages(
            settings, [click_message(user, url=f"https://bank.example/old/{n}") for n in range(20)], 0
        )
        wait_until(lambda: state.health()["accepted"] == 20, timeout=60, message="the first 20 clicks")
        broker.restart_empty()
        new = [click_message(user, url=f"https://bank.example/new/{n}") for n in range(10)]
        send_messages(settings, new, 0)  # offsets 0-9 of the new log
        wait_until(lambda: state.health()["accepted"] == 30, timeout=60, message="the new log's clicks")
        wait_until(lambda: len(state.customer_activity(1)) == 30, timeout=30, message="every click stored")
        send_messages(settings, [click_message(user, url="https://bank.example/last")], 0)
        wait_until(lambda: state.health()["accepted"] >= 31, timeout=30, message="one more")
        assert state.health()["accepted"] == 31, "nothing was read twice"


def test_while_the_brokers_are_down_no_bucket_is_declared_complete(
    group_settings,
    aggregators,
    shared_states,
    send_messages,
    click_message,
    web_users,
    redis_server,
    kafka_broker,
):
    """librdkafka's cached watermark stops moving in an outage; completeness must stop with it, or the
    buckets of clicks producers hold back would be published short and never corrected."""
    aggregator = aggregators(group_settings)
    state = shared_states(group_settings)
    send_messages(group_settings, [click_message(web_user(web_users, 1), "auto_loan")] * 3)
    wait_until(lambda: counted(state) == 3, timeout=30, message="the clicks before the outage")
    client, progress = redis_server.client(), StateKeys(group_settings.kafka_topic).progress

    def complete_until() -> int:
        return int(min(score for _, score in client.zrange(progress, 0, -1, withscores=True)))

    wait_until(lambda: complete_until() > now_ms() - 2_000, timeout=15, message="progress kept current")
    try:
        kafka_broker.stop()
        wait_until(lambda: aggregator.report()["state"] == "waiting: Kafka unreachable", timeout=20)
        held = complete_until()  # at most one write of what was read before librdkafka noticed may follow
        with pytest.raises(AssertionError, match="timed out"):
            wait_until(lambda: complete_until() > held + 2_000, timeout=5, message="progress in the outage")
    finally:
        kafka_broker.start()
    wait_until(lambda: aggregator.report()["state"] == "live", timeout=30, message="the brokers back")
    wait_until(lambda: complete_until() > held, timeout=30, message="progress after the outage")
