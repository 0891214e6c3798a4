"""The live click stream against a real Kafka-protocol broker, and its embedded replay source."""

from __future__ import annotations

import io
import logging
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from connectors import config
from connectors.catalog import PRODUCTS
from connectors.clickstream import ClickStream
from connectors.clickstream.pipeline import BUCKET_MS, HISTORY_BUCKETS, MAX_MESSAGE_BYTES, RATE_WINDOW_BUCKETS
from connectors.clickstream.replay import Recent, Rhythm
from connectors.layout import Layout
from connectors.tools.local_broker import LocalBroker
from tests.sample_data import browsers, web_user
from tests.servers import free_port, wait_until

ORIGINAL_SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "clickstream_original.jsonl"


def accepted(stream: ClickStream, count: int):
    """A wait_until predicate: the stream has accepted ``count`` clicks (and not more)."""

    def check() -> bool:
        health = stream.health()
        assert health["accepted"] <= count, health
        return health["accepted"] == count

    return check


def new_rows(stream: ClickStream, cursor: int) -> tuple[pd.DataFrame, int] | None:
    """Rate rows after ``cursor`` and the next cursor, or None while there are none yet."""
    rows, cursor = stream.global_rates_since(cursor)
    return None if rows.empty else (rows, cursor)


def all_rate_rows(stream: ClickStream) -> pd.DataFrame:
    return stream.global_rates_since(None)[0]


@pytest.mark.kafka
def test_produced_clicks_reach_rates_activity_and_presence(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    first, second, third = browsers(web_users, 3)
    assert first == 1, "Erika Gallardo browses the website"
    erika, other = web_user(web_users, first), web_user(web_users, second)
    erika_products = ["auto_loan", "auto_loan", "roth_ira", "home_insurance", "auto_loan"]
    send_messages(kafka_settings, [click_message(erika, p) for p in erika_products])
    send_messages(kafka_settings, [click_message(other, "401k", url="https://bank.example/401k?x=1")] * 3)

    wait_until(accepted(stream, 8), message="the 8 clicks to be accepted")
    activity = stream.customer_activity(1)
    assert sorted(activity["product"]) == sorted(erika_products)  # partitions may interleave them
    assert activity["time"].is_monotonic_increasing
    assert stream.recent_interest(1) == {"auto_loan": 3, "roth_ira": 1, "home_insurance": 1}
    seen = stream.last_seen(second)
    assert (seen.product, seen.url) == ("401k", "https://bank.example/401k?x=1")
    assert seen.online()
    assert set(stream.online_customers()) == {1, second}
    assert stream.last_seen(third) is None and stream.customer_activity(third).empty

    # Clicks per second over a one-second window, one row per 100 ms: each click counts in 10 rows.
    def all_counted() -> bool:
        rows = all_rate_rows(stream)
        return rows["total"].sum() == 8 * RATE_WINDOW_BUCKETS

    wait_until(all_counted, message="every click in the published rate rows")
    rows = all_rate_rows(stream)
    assert rows["auto_loan"].sum() == 3 * RATE_WINDOW_BUCKETS
    assert rows["401k"].sum() == 3 * RATE_WINDOW_BUCKETS
    assert list(rows.columns) == ["time", "total", *PRODUCTS]
    health = stream.health()
    assert (health["source"], health["state"], health["status"]) == ("kafka", "live", "live")
    assert health["dropped_total"] == 0


@pytest.mark.kafka
def test_original_format_sample_is_accepted_unchanged(kafka_settings, click_streams, send_messages):
    lines = ORIGINAL_SAMPLE.read_bytes().splitlines()
    users = sorted({orjson.loads(line)["user_id"] for line in lines})
    # The original demo's users are not in our sample: let each stand for a customer of its own.
    stream = click_streams(kafka_settings, web_users={user: 10_000 + i for i, user in enumerate(users)})
    send_messages(kafka_settings, lines)

    wait_until(accepted(stream, len(lines)), message="all original-format messages to be accepted")
    assert stream.health()["dropped_total"] == 0
    first = orjson.loads(lines[0])
    customer = 10_000 + users.index(first["user_id"])
    assert first["url"] in stream.customer_activity(customer)["url"].tolist()


@pytest.mark.kafka
def test_each_kind_of_bad_message_is_dropped_counted_and_logged_at_a_limited_rate(
    kafka_settings, click_streams, send_messages, click_message, web_users, caplog
):
    stream = click_streams(kafka_settings)
    user = web_user(web_users, 1)
    good = orjson.loads(click_message(user))

    def variant(**changes) -> bytes:
        return orjson.dumps({k: v for k, v in {**good, **changes}.items() if v is not None})

    bad = {
        "malformed_json": [b'{"user_id": 1,', b"not json", b"[1, 2]", None],
        "missing_field": [orjson.dumps({k: v for k, v in good.items() if k != "url"})],
        "wrong_type": [
            variant(user_id=str(user)),
            variant(user_id=True),
            variant(user_id=0).replace(b'"user_id":0', b'"user_id":18446744073709551615'),  # > int64
            variant(response_time_ms="fast"),
            variant(product=["auto_loan"]),
        ],
        "unknown_product": [variant(product="spaceship")],
        "unknown_user": [variant(user_id=987_654_321_987)],
        "oversized": [variant(url="https://bank.example/" + "x" * MAX_MESSAGE_BYTES)],
    }
    messages = [value for values in bad.values() for value in values]
    caplog.set_level(logging.WARNING, logger="connectors.clickstream.stream")
    send_messages(kafka_settings, [*messages, click_message(user), *messages, click_message(user)])

    wait_until(accepted(stream, 2), message="the good clicks after the bad ones")
    expected = {reason: 2 * len(values) for reason, values in bad.items()}
    wait_until(lambda: stream.health()["dropped"] == {**expected, "internal_error": 0})
    assert stream.health()["state"] == "live"

    def drop_logs() -> list[logging.LogRecord]:
        return [
            r for r in caplog.records if r.name == "connectors.clickstream.stream" and "dropped" in r.message
        ]

    def logged() -> set[str]:  # the stream's thread logs just after it counts: poll for the last lines
        return {reason for reason in bad if any(reason in r.message for r in drop_logs())}

    wait_until(lambda: logged() == set(bad), message="a log line for each reason")
    assert len(drop_logs()) == len(bad), "each reason is logged once per interval, not once per message"


@pytest.mark.kafka
def test_a_new_stream_shows_clicks_sent_before_it_started(
    kafka_settings, click_streams, send_messages, click_message, web_users
):
    send_messages(kafka_settings, [click_message(web_user(web_users, 1), "brokerage_account")] * 4)
    stream = click_streams(kafka_settings)
    wait_until(accepted(stream, 4), message="clicks from before the start")
    assert stream.recent_interest(1) == {"brokerage_account": 4}


@pytest.mark.kafka
def test_broker_outage_mid_run_shows_offline_then_resumes(
    kafka_broker: LocalBroker, kafka_settings, click_streams, send_messages, click_message, web_users
):
    stream = click_streams(kafka_settings)
    user = web_user(web_users, 1)
    send_messages(kafka_settings, [click_message(user)])
    wait_until(accepted(stream, 1))
    try:
        kafka_broker.stop()
        wait_until(lambda: stream.health()["state"] == "offline", timeout=15, message="the offline state")
        assert stream.health()["status"] == "stream offline — reconnecting"
    finally:
        kafka_broker.start()
    wait_until(lambda: stream.health()["state"] == "live", timeout=15, message="the stream to resume")
    send_messages(kafka_settings, [click_message(user, "life_insurance")])
    wait_until(accepted(stream, 2), timeout=15, message="a click sent after the outage")
    assert stream.last_seen(1).product == "life_insurance"


@pytest.mark.kafka
def test_broker_down_at_start_then_up(sample_layout, click_streams, send_messages, click_message, web_users):
    port = free_port()
    broker = LocalBroker(port=port)
    argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", f"127.0.0.1:{port}"]
    settings = config.load([*argv, "--kafka-topic", "clicks"], environ={})
    stream = click_streams(settings)
    wait_until(lambda: stream.health()["state"] == "offline", timeout=15, message="the offline state")
    with broker:
        wait_until(lambda: stream.health()["state"] in ("waiting", "live"), timeout=15)
        send_messages(settings, [click_message(web_user(web_users, browsers(web_users, 2)[1]))])
        wait_until(accepted(stream, 1), timeout=15, message="the first click once the broker is up")


def test_replay_keeps_featured_customers_online(sample_layout, click_streams):
    settings = config.load(["--data-dir", str(sample_layout.root), "--replay-rate", "50"], environ={})
    featured = sample_layout.read_manifest()["featured_customers"]
    # Without a backfill, a second of replay at 50 clicks/s reaches few of the 2,124 web users by chance.
    stream = click_streams(settings, featured=featured, lookback=timedelta(0))

    wait_until(lambda: set(featured) <= set(stream.online_customers()), message="featured customers online")
    assert stream.last_seen(featured[0]).online()
    assert not stream.customer_activity(featured[0]).empty
    health = stream.health()
    assert (health["source"], health["state"], health["lag"]) == ("replay", "live", None)
    assert health["dropped_total"] == 0


def _left_the_bank(sample_layout) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """The sample's clicks, the day each former customer left (index: customer id), and the start of the
    file's last 30 days."""
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    since = pd.to_datetime(clicks["datetime"]).max() - timedelta(days=30)
    accounts = pd.read_parquet(sample_layout.accounts)
    held = accounts.groupby("customer_id").agg(
        open=("status", lambda s: (s == "open").any()), left=("closed_date", "max")
    )
    return clicks, pd.to_datetime(held.loc[~held["open"], "left"]), since


def test_replay_never_shows_customers_who_left_before_the_last_30_days_online(sample_layout, click_streams):
    clicks, left, since = _left_the_bank(sample_layout)
    left_long_ago = set(left.index[left < since])
    assert left_long_ago, "the sample has customers who left more than 30 days ago"
    settings = config.load(["--data-dir", str(sample_layout.root), "--replay-rate", "50000"], environ={})
    stream = click_streams(settings, lookback=timedelta(0))

    wait_until(
        lambda: stream.health()["accepted"] > len(clicks), timeout=20, message="the whole file's worth"
    )
    online = set(stream.online_customers())
    assert online and not online & left_long_ago


def test_replay_leaves_out_the_clicks_of_customers_who_left_within_the_last_30_days(
    sample_layout, click_streams, web_users
):
    clicks, left, since = _left_the_bank(sample_layout)
    left_lately = left.index[left >= since]
    users = web_users.loc[web_users["customer_id"].isin(left_lately), "web_user_id"]
    recent = clicks[pd.to_datetime(clicks["datetime"]) >= since]
    assert recent["user_id"].isin(users).any(), "the sample's last 30 days hold clicks of customers who left"
    settings = config.load(["--data-dir", str(sample_layout.root), "--replay-rate", "50000"], environ={})
    stream = click_streams(settings, left=left_lately, lookback=timedelta(0))

    wait_until(
        lambda: stream.health()["accepted"] > len(clicks), timeout=20, message="the whole file's worth"
    )
    online = set(stream.online_customers())
    assert online and not online & set(left_lately)


def test_replay_backfills_the_recent_past_for_the_plots(sample_layout, click_streams):
    settings = config.load(["--data-dir", str(sample_layout.root), "--replay-rate", "100"], environ={})
    stream = click_streams(settings)
    wait_until(lambda: len(all_rate_rows(stream)) > HISTORY_BUCKETS - 10, message="5 minutes of rows")
    rows = all_rate_rows(stream)
    assert len(rows) <= HISTORY_BUCKETS
    assert (rows["total"] > 0).all()


def test_replay_without_data_says_so(tmp_path, click_streams):
    stream = click_streams(config.load(["--data-dir", str(tmp_path)], environ={}))
    wait_until(lambda: stream.health()["state"] == "unavailable")
    assert str(tmp_path) in stream.health()["detail"]


def test_rate_rows_come_once_each_in_order(sample_layout, click_streams):
    stream = click_streams(config.load(["--data-dir", str(sample_layout.root)], environ={}))
    rows, cursor = stream.global_rates_since(None)
    pulled = [rows]
    for _ in range(3):
        rows, cursor = wait_until(lambda last=cursor: new_rows(stream, last))
        pulled.append(rows)
    times = pd.concat(pulled)["time"].to_numpy().astype("datetime64[ms]").astype(np.int64)
    assert (np.diff(times) == BUCKET_MS).all()


def test_state_stays_bounded_under_a_fast_stream(sample_layout, click_streams):
    settings = config.load(["--data-dir", str(sample_layout.root), "--replay-rate", "50000"], environ={})
    stream = click_streams(settings, max_customers=40, clicks_per_customer=3, lookback=timedelta(seconds=1))
    wait_until(lambda: stream.health()["accepted"] > 40_000, timeout=60)
    assert stream.health()["tracked_customers"] == 40
    online = stream.online_customers()
    assert len(online) > 40, "last-seen covers every customer, not only the tracked ones"
    assert all(len(stream.customer_activity(c)) <= 3 for c in online)
    assert len(stream.global_rates_since(None)[0]) <= HISTORY_BUCKETS


def test_web_users_need_both_columns(sample_layout):
    settings = config.load(["--data-dir", str(sample_layout.root)], environ={})
    with pytest.raises(ValueError, match="web_user_id and customer_id"):
        ClickStream(settings, pd.DataFrame({"id": [1], "web_user_id": [5]}))


def test_a_stopped_stream_keeps_its_state_and_cannot_restart(sample_layout, click_streams):
    stream = click_streams(config.load(["--data-dir", str(sample_layout.root)], environ={}))
    wait_until(lambda: stream.health()["accepted"] > 0)
    stream.stop()
    assert stream.health()["accepted"] > 0
    with pytest.raises(RuntimeError, match="cannot start again"):
        stream.start()


def test_extra_kafka_settings_come_from_the_config_file(tmp_path, sample_layout, click_streams):
    options = tmp_path / "kafka.properties"
    options.write_text("# comment\nsecurity.protocol = PLAINTEXT\nno.such.setting=1\n")
    argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", "127.0.0.1:9092"]
    settings = config.load([*argv, "--kafka-config", str(options)], environ={})
    assert settings.kafka_options == {"security.protocol": "PLAINTEXT", "no.such.setting": "1"}
    stream = click_streams(settings)
    wait_until(lambda: "no.such.setting" in stream.health()["detail"], message="librdkafka's complaint")
    assert stream.health()["state"] == "offline"

    options.write_text("security.protocol\n")
    with pytest.raises(config.ConfigError, match=r"C360_KAFKA_CONFIG .*line 1 is not key=value"):
        config.load([*argv, "--kafka-config", str(options)], environ={})


def test_the_replay_learns_the_files_rhythm_by_minute_of_the_day(sample_layout):
    clicks = pd.read_json(sample_layout.clicks, lines=True)
    stamps = pd.to_datetime(clicks["datetime"])
    with sample_layout.clicks.open("rb") as file:
        rhythm = Rhythm.of_file(file, 0)
    assert rhythm.weights.mean() == pytest.approx(1.0)
    by_hour = stamps.dt.hour.value_counts().reindex(range(24), fill_value=0).to_numpy()
    learnt = rhythm.weights.reshape(24, 60).mean(axis=1)
    assert np.corrcoef(learnt, by_hour)[0, 1] > 0.99
    assert learnt.max() > 4 * learnt.min(), "busy days and quiet nights, as in the file"


def test_the_replay_keeps_what_it_read_of_the_file_for_the_next_start(tmp_path, sample_layout, caplog):
    layout = Layout(tmp_path / "data")
    clicks = layout.clicks
    clicks.parent.mkdir(parents=True)
    clicks.write_bytes(sample_layout.clicks.read_bytes())
    users = sorted({orjson.loads(line)["user_id"] for line in clicks.read_bytes().splitlines()[:3]})
    cache = tmp_path / "index"
    with clicks.open("rb") as file:
        rhythm, featured = Recent(layout, 0, users, cache).load(file)
    assert set(featured) == set(users) and all(featured.values())
    [kept] = cache.glob("replay-*.json")

    with caplog.at_level(logging.INFO, logger="connectors.clickstream.replay"), io.BytesIO() as empty:
        again, featured_again = Recent(layout, 0, users, cache).load(empty)  # nothing to read: the cache
    assert featured_again == featured and np.array_equal(again.weights, rhythm.weights)
    assert "read the click file" not in caplog.text

    kept.write_bytes(b'{"featured": [1, 2]}')  # not what the replay writes: read the file again
    with clicks.open("rb") as file, caplog.at_level(logging.WARNING):
        _, featured_read = Recent(layout, 0, users, cache).load(file)
    assert featured_read == featured and "is unusable" in caplog.text

    with clicks.open("ab") as file:
        file.write(clicks.read_bytes().splitlines(keepends=True)[0])
    with clicks.open("rb") as file:
        Recent(layout, 0, users, cache).load(file)
    assert [path.name for path in cache.glob("replay-*.json")] != [kept.name]  # a new version, the old gone
    assert len(list(cache.glob("replay-*.json"))) == 1

    unwritable = tmp_path / "a-file"
    unwritable.write_text("")
    with clicks.open("rb") as file, caplog.at_level(logging.WARNING):
        _, featured_anyway = Recent(layout, 0, users, unwritable).load(file)
    assert featured_anyway and "could not keep the click replay's summary" in caplog.text


def _rhythmic_file(path: Path, users: list[int], busy: int, quiet: int) -> None:
    """A day of clicks in the original format: ``busy`` clicks in every even minute, ``quiet`` in odd ones."""
    lines = []
    for minute in range(1440):
        for n in range(busy if minute % 2 == 0 else quiet):
            at = f"2026-10-31 {minute // 60:02d}:{minute % 60:02d}:{n % 60:02d}"
            lines.append(
                orjson.dumps(
                    {
                        "user_id": users[(minute + n) % len(users)],
                        "datetime": at,
                        "os": "win10",
                        "browser": "Firefox",
                        "response_time_ms": 812,
                        "product": "auto_loan",
                        "url": "https://www.c360bank.example/products/auto-loan/overview",
                    }
                ).decode()
            )
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(lines) + "\n")


def test_the_replayed_rate_varies_as_the_file_does_around_the_set_average(tmp_path, click_streams, web_users):
    _rhythmic_file(
        tmp_path / "clicks" / "clickstream.jsonl", list(web_users["web_user_id"]), busy=40, quiet=10
    )
    settings = config.load(["--data-dir", str(tmp_path), "--replay-rate", "100"], environ={})
    stream = click_streams(settings)
    wait_until(lambda: len(all_rate_rows(stream)) > HISTORY_BUCKETS - 10, message="5 minutes of rows")
    rows = all_rate_rows(stream)
    seconds = rows["time"].to_numpy().astype("datetime64[ms]").astype(np.int64) / 1000
    local_minute = ((seconds + time.localtime(seconds[-1]).tm_gmtoff) // 60).astype(np.int64)
    per_minute = pd.Series(rows["total"].to_numpy()).groupby(local_minute).mean()
    per_minute = per_minute.iloc[1:-1]  # whole minutes only
    busy, quiet = per_minute[per_minute.index % 2 == 0].mean(), per_minute[per_minute.index % 2 == 1].mean()
    assert busy == pytest.approx(100 * 40 / 25, rel=0.2) and quiet == pytest.approx(100 * 10 / 25, rel=0.3)
    assert rows["total"].mean() == pytest.approx(100, rel=0.2), "the set rate on average"
