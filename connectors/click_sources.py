"""Where clicks come from: a Kafka topic, or a replay of the generated click file when no Kafka is set.

Both run on the click stream's background thread and hand ``RawBatch``es of message bytes to the same
pipeline, so the embedded demo exercises the code a Kafka deployment runs. Neither ever raises out of
``run``: a broker that is down or a missing file is a state (see ``SourceStatus``), retried until it
recovers or the stream stops.
"""

from __future__ import annotations

import gc
import logging
import os
import re
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from connectors.clicks_pipeline import RawBatch
from connectors.config import Settings
from connectors.synth import CLICK_DAYS

log = logging.getLogger("connectors.clickstream")

OFFLINE = "stream offline — reconnecting"
BATCH_SIZE = 10_000  # messages per consume() call: large batches keep per-message overhead low
POLL_TIMEOUT_S = 0.02  # consume() returns after this even with a partial batch: bounds the latency
FETCH_WAIT_MS = 10  # librdkafka's mock broker does not wake waiting fetches (../notes/kafka.md)
METADATA_TIMEOUT_S = 2.0
RETRY_S = 1.0  # metadata probe while offline or waiting for the topic
REFRESH_S = 10.0  # look for new partitions while live
FALLBACK_TAIL = 50_000  # start this far back in a partition when the broker cannot look up by time
REPLAY_TICK_S = 0.1
REPLAY_BACKFILL_MAX = 100_000
FEATURED_INTERVAL_S = (5.0, 25.0)  # each featured customer clicks again after a pause in this range
FEATURED_LINES_MAX = 200
CLICK_DATETIME = re.compile(rb'"datetime"\s*:\s*"([^"]*)"')
CLICK_USER_ID = re.compile(rb'"user_id"\s*:\s*(\d+)')

Emit = Callable[[RawBatch], None]


class LogThrottle:
    """Lets one log line per key through per interval, and says how many were held back meanwhile."""

    def __init__(self, interval_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def allow(self, key: str, count: int = 1) -> int | None:
        """None to stay quiet; otherwise how many events of ``key`` this line stands for."""
        now = time.monotonic()
        with self._lock:
            self._held[key] += count
            if now < self._next.get(key, 0.0):
                return None
            self._next[key] = now + self.interval_s
            return self._held.pop(key)


class _ThrottleFilter(logging.Filter):
    """librdkafka repeats connection failures on every retry; one line per facility per interval."""

    def __init__(self) -> None:
        super().__init__()
        self._throttle = LogThrottle()

    def filter(self, record: logging.LogRecord) -> bool:
        facility = str(record.args[0]) if isinstance(record.args, tuple) and record.args else record.msg
        return self._throttle.allow(facility) is not None


librdkafka_log = logging.getLogger("connectors.clickstream.librdkafka")
librdkafka_log.addFilter(_ThrottleFilter())


@contextmanager
def collecting_between_batches() -> Iterator[None]:
    """Hold Python's cyclic garbage collector off while a batch is consumed and processed.

    A batch keeps thousands of objects alive for a few milliseconds (librdkafka's messages, decoded
    clicks); collections in between promote them all to the oldest generation and so trigger full
    collections every other batch, measured at a third of the consumer's CPU at 100k clicks/s.
    Reference counting frees the batch as usual; the collector catches up right after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class SourceStatus:
    """The source's state for the health panel: starting, live, waiting, offline or unavailable.

    ``complete_until_ms``: every click stamped before this time has been delivered, so aggregates up to
    it are final. It stands still while the source catches up or the broker is down, so that sessions
    are never shown a second before all of its clicks are in.
    """

    def __init__(self) -> None:
        self.state = "starting"
        self.detail = "connecting"
        self.lag: int | None = None
        self.complete_until_ms = 0
        self._lock = threading.Lock()

    def set(self, state: str, detail: str) -> None:
        with self._lock:
            if (state, detail) != (self.state, self.detail):
                log.info("click stream %s: %s", state, detail)
            self.state, self.detail = state, detail

    def snapshot(self) -> tuple[str, str, int | None]:
        with self._lock:
            return self.state, self.detail, self.lag


class KafkaSource:
    """Consumes the clicks topic in batches, every partition, starting from the recent past.

    Partitions are assigned explicitly (no consumer group coordination, nothing committed), so every
    server process sees every click. New partitions are picked up on a periodic metadata refresh, which
    doubles as the probe that notices a broker coming back.
    """

    kind = "kafka"

    def __init__(self, settings: Settings, lookback: timedelta, status: SourceStatus) -> None:
        self.settings = settings
        self.topic = settings.kafka_topic
        self.lookback = lookback
        self.status = status
        self._errors = LogThrottle()
        self._start: dict[int, int] = {}  # partition -> offset it was assigned at
        self._read_until_ms: dict[int, int] = {}  # partition -> time up to which it has been read

    def describe(self) -> str:
        return f"topic {self.topic!r} on {self.settings.kafka_bootstrap}"

    def run(self, stopping: threading.Event, emit: Emit) -> None:
        """Consume until ``stopping`` is set; a consumer that cannot be created is retried."""
        while not stopping.is_set():
            try:
                consumer = Consumer(self._config())
            except KafkaException as error:
                self.status.set("offline", f"cannot create a Kafka consumer: {error}")
                stopping.wait(5 * RETRY_S)
                continue
            try:
                self._consume(consumer, stopping, emit)
            finally:
                consumer.close()

    def _config(self) -> dict:
        return {
            "fetch.wait.max.ms": FETCH_WAIT_MS,
            "auto.offset.reset": "latest",  # a live view: after an offset is lost, carry on from now
            "client.id": "customer360-clickstream",
            "log.connection.close": False,
            "reconnect.backoff.max.ms": 1000,  # notice a returning broker within a second
            "queued.max.messages.kbytes": 16384,  # prefetch at most 16 MB (default 64 MB) when behind
            **self.settings.kafka_options,
            "bootstrap.servers": self.settings.kafka_bootstrap,
            # Required by the client but never joined: partitions are assigned, nothing is committed.
            "group.id": f"customer360-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "error_cb": self._on_error,
            "logger": librdkafka_log,
        }

    def _consume(self, consumer: Consumer, stopping: threading.Event, emit: Emit) -> None:
        assigned: list[TopicPartition] = []
        last_refresh = -REFRESH_S
        while not stopping.is_set():
            now = time.monotonic()
            settled = self.status.state == "live" and assigned
            if now - last_refresh >= (REFRESH_S if settled else RETRY_S):
                self._refresh(consumer, assigned)
                last_refresh = now
            with collecting_between_batches():
                messages = consumer.consume(BATCH_SIZE, POLL_TIMEOUT_S)
                if messages:
                    self._deliver(messages, emit)
                del messages
            self._track_progress(consumer, assigned)

    def _refresh(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        """Probe the broker and assign partitions that appeared since the last look."""
        try:
            topic = consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S).topics.get(self.topic)
        except KafkaException as error:
            self.status.set("offline", f"{self.describe()}: {error.args[0].str()}")
            return
        if topic is None or topic.error is not None or not topic.partitions:
            self.status.set("waiting", f"waiting for {self.describe()}")
            return
        known = {tp.partition for tp in assigned}
        new = sorted(set(topic.partitions) - known)
        if new:
            try:
                start = self._start_offsets(consumer, new)
            except KafkaException as error:
                self.status.set("offline", f"{self.describe()}: {error.args[0].str()}")
                return
            consumer.incremental_assign(start)
            since_ms = int((time.time() - self.lookback.total_seconds()) * 1000)
            for tp in start:
                self._start[tp.partition] = tp.offset
                self._read_until_ms[tp.partition] = since_ms
            assigned.extend(TopicPartition(self.topic, tp.partition) for tp in start)
            log.info("click stream reading %s partitions %s", self.describe(), new)
        self.status.set("live", f"reading {self.describe()}")

    def _start_offsets(self, consumer: Consumer, partitions: list[int]) -> list[TopicPartition]:
        """The first offset at or after now - lookback in each partition.

        Watermarks are read first, so a partition whose messages are all older starts exactly where the
        next message will land. Brokers without time lookup (librdkafka's mock answers -1 for every
        time) start ``FALLBACK_TAIL`` messages back instead.
        """
        since_ms = int((time.time() - self.lookback.total_seconds()) * 1000)
        marks = {
            p: consumer.get_watermark_offsets(TopicPartition(self.topic, p), timeout=METADATA_TIMEOUT_S)
            for p in partitions
        }
        found = consumer.offsets_for_times(
            [TopicPartition(self.topic, p, since_ms) for p in partitions], timeout=METADATA_TIMEOUT_S
        )
        start = []
        for tp in found:
            low, high = marks[tp.partition]
            offset = tp.offset if tp.offset >= 0 else max(low, high - FALLBACK_TAIL)
            start.append(TopicPartition(self.topic, tp.partition, offset))
        return start

    def _deliver(self, messages: list[Message], emit: Emit) -> None:
        if any(message.error() is not None for message in messages):
            for message in messages:
                if message.error() is not None:
                    self._report(message.error())
            messages = [message for message in messages if message.error() is None]
        time_ms = np.fromiter((m.timestamp()[1] for m in messages), np.int64, len(messages))
        time_ms[time_ms <= 0] = int(time.time() * 1000)  # a producer that set no timestamp
        partitions = np.fromiter((m.partition() for m in messages), np.int64, len(messages))
        for partition in np.unique(partitions).tolist():
            latest = int(time_ms[partitions == partition].max())
            self._read_until_ms[partition] = max(self._read_until_ms.get(partition, 0), latest)
        emit(RawBatch([message.value() for message in messages], time_ms))

    def _track_progress(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        """Lag, and how far every partition has been read, from local positions and cached watermarks.

        A partition read up to its high watermark is complete until now, unless the broker is down:
        then messages produced meanwhile may still arrive, so completeness stays where it was.
        """
        if not assigned:  # no topic yet: clicks stamped now may still turn up in it
            return
        now_ms = int(time.time() * 1000)
        lag = 0
        for position in consumer.position(assigned):
            _, high = consumer.get_watermark_offsets(position, cached=True)
            offset = position.offset if position.offset >= 0 else self._start[position.partition]
            if high < 0:
                continue
            lag += max(0, high - offset)
            if offset >= high and self.status.state == "live":
                self._read_until_ms[position.partition] = now_ms
        self.status.lag = lag
        self.status.complete_until_ms = min(self._read_until_ms[tp.partition] for tp in assigned)

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's error callback (called on the consumer thread, during consume)."""
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self.status.set("offline", f"{self.describe()}: {error.str()}")
        elif error.code() != KafkaError._TRANSPORT:  # connection failures: librdkafka's log says so
            self._report(error)

    def _report(self, error: KafkaError) -> None:
        count = self._errors.allow(error.name())
        if count is not None:
            log.warning("Kafka: %s (%d in the last %.0f s)", error.str(), count, self._errors.interval_s)


class ReplaySource:
    """Replays the generated click file's last 30 days at a steady rate, round and round, stamped now.

    Only clicks within ``CLICK_DAYS`` of the file's newest one are replayed: the older lines belong to
    customers who left before then (the file is in time order and an active customer's history is
    those 30 days), and stamping them now would show people who left months ago as online. The clicks of
    ``left_web_users`` (customers who left within those 30 days) are passed over for the same reason.

    It first backfills the lookback window (so plots have history at once, as after a Kafka restart),
    then keeps the featured customers visibly browsing: each gets a click of their own history right
    away and again every few seconds, on top of the file's clicks.
    """

    kind = "replay"

    def __init__(
        self,
        clicks: Path,
        rate: float,
        lookback: timedelta,
        featured_web_users: Iterable[int],
        seed: int,
        status: SourceStatus,
        left_web_users: Iterable[int] = (),
    ) -> None:
        self.clicks = clicks
        self.rate = rate
        self.lookback = lookback
        self.featured_web_users = list(featured_web_users)
        self.left_web_users = frozenset(int(user) for user in left_web_users)
        self.status = status
        self._random = np.random.default_rng(seed)

    def run(self, stopping: threading.Event, emit: Emit) -> None:
        """Replay until ``stopping`` is set; waits for the file if it is not there yet."""
        while not self.clicks.is_file():
            self.status.set("unavailable", f"no click data at {self.clicks}: generate a data set first")
            if stopping.wait(5 * RETRY_S):
                return
        featured = _lines_of_users(self.clicks, self.featured_web_users)
        with self.clicks.open("rb") as file:
            start = _recent_start(file, timedelta(days=CLICK_DAYS))
            lines = _CyclingLines(file, start, skip_users=self.left_web_users)
            if lines.empty:
                self.status.set("unavailable", f"{self.clicks} holds no clicks")
                return
            self.status.set("live", f"replaying {self.clicks} at {self.rate:g} clicks/s")
            backfilled_until_ms = self._backfill(lines, emit)
            self._replay(lines, featured, backfilled_until_ms, stopping, emit)

    def _backfill(self, lines: _CyclingLines, emit: Emit) -> int:
        count = min(int(self.rate * self.lookback.total_seconds()), REPLAY_BACKFILL_MAX)
        end_ms = int(time.time() * 1000)
        stamps = np.linspace(end_ms - self.lookback.total_seconds() * 1000, end_ms, count, endpoint=False)
        for start in range(0, count, 10_000):
            chunk = stamps[start : start + 10_000].astype(np.int64)
            emit(RawBatch(lines.take(len(chunk)), chunk))
            self.status.complete_until_ms = int(chunk[-1])
        self.status.complete_until_ms = end_ms
        return end_ms

    def _replay(
        self,
        lines: _CyclingLines,
        featured: dict[int, list[bytes]],
        since_ms: int,
        stopping: threading.Event,
        emit: Emit,
    ) -> None:
        """Clicks at ``rate`` from ``since_ms`` on (so none are missing after the backfill)."""
        started = time.monotonic() - (time.time() * 1000 - since_ms) / 1000
        last_ms = since_ms
        due_at = dict.fromkeys(featured, time.monotonic())
        sent = 0
        while not stopping.wait(REPLAY_TICK_S):
            now = time.monotonic()
            now_ms = int(time.time() * 1000)
            due = int((now - started) * self.rate) - sent
            values = lines.take(due)
            sent += due
            stamps = np.linspace(last_ms, now_ms, len(values) + 1)[1:].astype(np.int64)
            for user in [user for user, at in due_at.items() if at <= now]:
                values.append(featured[user][self._random.integers(len(featured[user]))])
                stamps = np.append(stamps, now_ms)
                due_at[user] = now + self._random.uniform(*FEATURED_INTERVAL_S)
            last_ms = now_ms
            if values:
                emit(RawBatch(values, stamps))
            self.status.complete_until_ms = now_ms


class _CyclingLines:
    """Lines of a file from byte offset ``start`` on, starting over there at its end; lines of the
    ``skip_users`` (web user ids) are passed over."""

    def __init__(self, file: BinaryIO, start: int = 0, skip_users: frozenset[int] = frozenset()) -> None:
        self._file = file
        self._start = start
        self._skip_users = skip_users
        self._file.seek(start)
        self.empty = not any(map(self._replayed, self._file))
        self._file.seek(start)

    def _replayed(self, line: bytes) -> bool:
        if not line.strip():
            return False
        if not self._skip_users:
            return True
        user = CLICK_USER_ID.search(line)
        return user is None or int(user.group(1)) not in self._skip_users

    def take(self, count: int) -> list[bytes]:
        taken: list[bytes] = []
        while len(taken) < count:
            line = self._file.readline()
            if not line:
                self._file.seek(self._start)
            elif self._replayed(line):
                taken.append(line.rstrip(b"\r\n"))
        return taken


def _click_time(line: bytes) -> datetime | None:
    """The click's ``datetime`` field, or None when it has none that parses."""
    found = CLICK_DATETIME.search(line)
    try:
        return datetime.fromisoformat(found.group(1).decode()) if found else None
    except ValueError:
        return None


def _recent_start(file: BinaryIO, window: timedelta) -> int:
    """Byte offset of the first line within ``window`` of the file's newest click, by bisection.

    The file is in time order, as generated; the newest click is the last one whose time parses in the
    file's final 64 KiB. Lines without a time are passed over while searching (and replayed as they are).
    Without any time to go by, the whole file is replayed.
    """
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - (64 << 10)))
    times = [at for at in map(_click_time, file.read().splitlines()) if at is not None]
    if not times:
        return 0
    since = times[-1] - window

    def next_click(position: int) -> tuple[int, datetime | None]:
        """Start and time of the first timed line starting at or after ``position`` (None at the end)."""
        file.seek(max(0, position - 1))
        if position > 0:
            file.readline()  # the rest of the line that ``position`` falls in, unless it starts there
        while True:
            start = file.tell()
            line = file.readline()
            if not line:
                return start, None
            at = _click_time(line)
            if at is not None:
                return start, at

    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        _, at = next_click(middle)
        if at is None or at >= since:
            high = middle
        else:
            low = middle + 1
    return next_click(low)[0]


def _lines_of_users(path: Path, users: list[int], chunk_bytes: int = 8 << 20) -> dict[int, list[bytes]]:
    """Up to ``FEATURED_LINES_MAX`` lines per user id, found by a regular-expression scan of the file."""
    found: dict[int, list[bytes]] = defaultdict(list)
    if not users:
        return found
    ids = b"|".join(str(int(user)).encode() for user in users)
    pattern = re.compile(rb'"user_id"\s*:\s*(' + ids + rb")\s*[,}]")
    with path.open("rb") as file:
        rest = b""
        while True:
            chunk = file.read(chunk_bytes)
            block = rest + chunk
            cut = len(block) if not chunk else block.rfind(b"\n") + 1
            block, rest = block[:cut], block[cut:]
            for match in pattern.finditer(block):
                start = block.rfind(b"\n", 0, match.start()) + 1
                end = block.find(b"\n", match.end())
                lines = found[int(match.group(1))]
                if len(lines) < FEATURED_LINES_MAX:
                    lines.append(block[start : None if end < 0 else end].rstrip(b"\r"))
            if not chunk:
                return found
