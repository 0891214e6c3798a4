"""Clicks from a Kafka topic: every partition, assigned explicitly, in batches, from the recent past.

The consumer settings, the start in the recent past and the batch handling are shared with the
aggregators (:mod:`connectors.clickstream.aggregate`), which read the same topic in a consumer group.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import numpy as np
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from connectors.clickstream.pipeline import RawBatch
from connectors.clickstream.status import RETRY_S, Emit, LogThrottle, SourceStatus
from connectors.config import Settings

log = logging.getLogger(__name__)

BATCH_SIZE = 10_000  # messages per consume() call: large batches keep per-message overhead low
POLL_TIMEOUT_S = 0.02  # consume() returns after this even with a partial batch: bounds the latency
FETCH_WAIT_MS = 10  # librdkafka's mock broker does not wake waiting fetches (../notes/kafka.md)
METADATA_TIMEOUT_S = 2.0
REFRESH_S = 10.0  # look for new partitions while live
FALLBACK_TAIL = 50_000  # start this far back in a partition when the broker cannot look up by time


class _ThrottleFilter(logging.Filter):
    """librdkafka repeats connection failures on every retry; one line per facility per interval."""

    def __init__(self) -> None:
        super().__init__()
        self._throttle = LogThrottle()

    def filter(self, record: logging.LogRecord) -> bool:
        facility = str(record.args[0]) if isinstance(record.args, tuple) and record.args else record.msg
        return self._throttle.allow(facility) is not None


librdkafka_log = logging.getLogger(f"{__name__}.librdkafka")
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
        self._newest_ms: dict[int, int] = {}  # partition -> the newest message time delivered
        self._read_before: dict[int, int] = {}  # restarted partition -> messages up to this time were read

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
        return consumer_config(
            self.settings,
            "customer360-clickstream",
            # Required by the client but never joined: partitions are assigned, nothing is committed.
            f"customer360-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}",
            self._on_error,
        )

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
                    self._deliver(consumer, messages, emit)
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
                since_ms = int((time.time() - self.lookback.total_seconds()) * 1000)
                found = lookback_offsets(consumer, self.topic, new, since_ms)
            except KafkaException as error:
                self.status.set("offline", f"{self.describe()}: {error.args[0].str()}")
                return
            start = [TopicPartition(self.topic, p, offset) for p, (offset, _, _) in found.items()]
            consumer.incremental_assign(start)
            for tp in start:
                self._start[tp.partition] = tp.offset
                self._read_until_ms[tp.partition] = since_ms
            assigned.extend(TopicPartition(self.topic, tp.partition) for tp in start)
            log.info("click stream reading %s partitions %s", self.describe(), new)
        self.status.set("live", f"reading {self.describe()}")

    def _deliver(self, consumer: Consumer, messages: list[Message], emit: Emit) -> None:
        if any(message.error() is not None for message in messages):
            lost = {}
            for message in messages:
                if message.error() is None:
                    continue
                if message.error().code() == KafkaError._AUTO_OFFSET_RESET:
                    lost[message.partition()] = message.error().str()
                else:
                    self._report(message.error())
            messages = [message for message in messages if message.error() is None]
            for partition, reason in lost.items():
                self._read_new_log(consumer, partition, reason)
        time_ms = message_times(messages)
        partitions = np.fromiter((m.partition() for m in messages), np.int64, len(messages))
        if self._read_before:
            keep = np.ones(len(messages), bool)
            for partition, before_ms in list(self._read_before.items()):
                of = partitions == partition
                keep &= ~of | (time_ms > before_ms)
                if (of & keep).any():  # the first message past what was read: the new log is reached
                    del self._read_before[partition]
            if not keep.all():
                messages = [message for message, kept in zip(messages, keep, strict=True) if kept]
                time_ms, partitions = time_ms[keep], partitions[keep]
        for partition in np.unique(partitions).tolist():
            latest = int(time_ms[partitions == partition].max())
            self._read_until_ms[partition] = max(self._read_until_ms.get(partition, 0), latest)
            self._newest_ms[partition] = max(self._newest_ms.get(partition, 0), latest)
        if messages:
            emit(RawBatch([message.value() for message in messages], time_ms))

    def _read_new_log(self, consumer: Consumer, partition: int, reason: str) -> None:
        """The broker no longer has the partition's position (its log was truncated or lost: librdkafka
        reports it under ``auto.offset.reset=error``): read its log again from where it starts now, so no
        click produced since is skipped, passing over the messages stamped before the newest one read."""
        tp = TopicPartition(self.topic, partition)
        try:
            start = log_start(consumer, self.topic, partition)
            consumer.incremental_unassign([tp])
            consumer.incremental_assign([TopicPartition(self.topic, partition, start)])
        except KafkaException as error:
            log.warning(
                "click stream cannot restart partition %d of %s: %s", partition, self.describe(), error
            )
            return
        self._start[partition] = start
        if partition in self._newest_ms:
            self._read_before[partition] = self._newest_ms[partition]
        log.warning(
            "click stream: %s; reading partition %d of %s again from offset %d, the start of its log",
            reason,
            partition,
            self.describe(),
            start,
        )

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


def consumer_config(settings: Settings, client_id: str, group_id: str, on_error: Callable) -> dict:
    """librdkafka consumer settings for the click topic; ``C360_KAFKA_CONFIG``'s file may override them.

    Offsets are never committed automatically: the in-process stream commits nothing, the aggregators
    commit themselves once the state a message produced is written.
    """
    return {
        "fetch.wait.max.ms": FETCH_WAIT_MS,
        # A position the broker no longer has (a truncated or lost log) is reported as an error, and the
        # reader starts again at the log's start (``log_start``): librdkafka's own resets would skip
        # to the end of the new log, past the clicks produced since the broker came back.
        "auto.offset.reset": "error",
        "client.id": client_id,
        "log.connection.close": False,
        "reconnect.backoff.max.ms": 1000,  # notice a returning broker within a second
        "queued.max.messages.kbytes": 16384,  # prefetch at most 16 MB (default 64 MB) when behind
        **settings.kafka_options,
        "bootstrap.servers": settings.kafka_bootstrap,
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "error_cb": on_error,
        "logger": librdkafka_log,
    }


def lookback_offsets(
    consumer: Consumer, topic: str, partitions: list[int], since_ms: int
) -> dict[int, tuple[int, int, bool]]:
    """Where to start in each partition to read from ``since_ms`` on: partition -> (offset, low watermark,
    whether the broker found the offset by time).

    Watermarks are read first, so a partition whose messages are all older starts exactly where the
    next message will land. Brokers without time lookup (librdkafka's mock answers -1 for every
    time) start ``FALLBACK_TAIL`` messages back instead.
    """
    marks = {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=METADATA_TIMEOUT_S)
        for p in partitions
    }
    found = consumer.offsets_for_times(
        [TopicPartition(topic, p, since_ms) for p in partitions], timeout=METADATA_TIMEOUT_S
    )
    start = {}
    for tp in found:
        low, high = marks[tp.partition]
        by_time = tp.offset >= 0
        start[tp.partition] = (tp.offset if by_time else max(low, high - FALLBACK_TAIL), low, by_time)
    return start


def log_start(consumer: Consumer, topic: str, partition: int) -> int:
    """The first offset the partition's log holds now (its low watermark)."""
    low, _ = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=METADATA_TIMEOUT_S)
    return max(low, 0)


def message_times(messages: list[Message]) -> np.ndarray:
    """Each message's Kafka timestamp in ms; now for a message whose producer set none."""
    time_ms = np.fromiter((m.timestamp()[1] for m in messages), np.int64, len(messages))
    time_ms[time_ms <= 0] = int(time.time() * 1000)
    return time_ms
