"""`python -m connectors.clickstream.aggregate`: the click pipeline in a Kafka consumer group, into Redis.

Run one or more aggregators (on one machine or many) with the same ``C360_AGGREGATOR_GROUP``: Kafka's
group protocol gives each a share of the topic's partitions and, when one dies, moves its partitions to
the others within the session timeout. Each aggregator runs the in-process stream's streamz pipeline
(validate, link web users to customers, count per 100 ms bucket) over batches of its partitions and
writes the live state into Redis (:mod:`connectors.clickstream.redis_state`), where every dashboard
process with ``C360_REDIS_URL`` reads it.

Delivery is at least once, and nothing is counted twice:

- Offsets are committed only after the Redis writes of the messages before them succeeded. While Redis
  cannot be reached the partitions are paused (the group membership is kept) and the writes retried.
- The committed offset of a partition is not its read position but the first offset of the oldest
  100 ms bucket still open (one that may still get clicks; the bucket number is the commit's metadata).
  A new owner of the partition (after a rebalance or a crash) starts there, so it reads every click of
  every bucket it writes, and overwrites that partition's counts with the same values instead of adding
  to them. Clicks are sorted-set members named by partition and offset: reading one again changes nothing.
- A partition without a committed offset, or a Redis that lost its data (its ``epoch`` is gone), is
  rebuilt from the recent past, 10 minutes back, as the in-process stream starts; librdkafka's mock
  broker cannot look offsets up by time, so against it the start is 50,000 messages back.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import pandas as pd
import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from streamz import Stream

from connectors import config
from connectors.clickstream.kafka import (
    BATCH_SIZE,
    METADATA_TIMEOUT_S,
    POLL_TIMEOUT_S,
    collecting_between_batches,
    consumer_config,
    log_start,
    lookback_offsets,
    message_times,
)
from connectors.clickstream.live import LOOKBACK, now_ms
from connectors.clickstream.pipeline import (
    BUCKET_MS,
    GRACE_MS,
    ClickBatch,
    ClickRates,
    CustomerLinks,
    RawBatch,
    linked_clicks,
)
from connectors.clickstream.redis_state import (
    CLICKS_PER_CUSTOMER,
    StateKeys,
    StateUpdate,
    StateWriter,
    connect,
)
from connectors.clickstream.status import RETRY_S, DropLog, LogThrottle
from connectors.config import Settings

log = logging.getLogger(__name__)

GROUP_DEFAULTS = {  # C360_KAFKA_CONFIG's file may override these
    "session.timeout.ms": 10_000,  # a dead aggregator's partitions move within about this
    "heartbeat.interval.ms": 1_000,
}
COMMIT_INTERVAL_S = 0.5  # at most this much is read again after a crash (and counted once all the same)
PROGRESS_INTERVAL_S = BUCKET_MS / 1000  # an idle partition's progress is written this often
HEARTBEAT_S = 1.0
RATE_SPAN_S = 5.0
STATE_COLUMNS = ["customer_id", "time_ms", "partition", "offset", "product", "url"]


@dataclass
class PartitionTally:
    """One assigned partition: its share of the rates, how far it was read, where a new owner must start.

    ``first_full_bucket``: this aggregator has read every click of the buckets from this one on, so
    those counts are its to write. None until the first message after a start from the recent past
    (whose bucket was read only in part).
    """

    partition: int
    position: int  # the next offset to read
    first_full_bucket: int | None
    rates: ClickRates = field(default_factory=ClickRates)
    first_offset: dict[int, int] = field(default_factory=dict)  # open bucket -> smallest offset in it
    read_until_ms: int = 0  # every message stamped before this has been read
    high: int | None = None  # the partition's high watermark, as last fetched
    fresh_high: int = 0  # the high watermark asked for when the brokers came back (the cache lags behind)

    def read(self, offsets: np.ndarray, time_ms: np.ndarray) -> None:
        """Messages of this partition (in offset order) were consumed."""
        if self.first_full_bucket is None:
            self.first_full_bucket = int(time_ms[0]) // BUCKET_MS + 1
        self.position = int(offsets[-1]) + 1
        self.read_until_ms = max(self.read_until_ms, int(time_ms.max()))

    def count(self, clicks: pd.DataFrame, at_ms: int) -> np.ndarray:
        """Count this partition's accepted clicks; returns the buckets whose counts changed."""
        counted = self.rates.add(clicks, at_ms)
        buckets = clicks["time_ms"].to_numpy()[counted] // BUCKET_MS
        offsets = clicks["offset"].to_numpy()[counted]
        open_from = self.open_from
        for bucket, offset in zip(buckets.tolist(), offsets.tolist(), strict=True):
            if bucket >= open_from and offset < self.first_offset.get(bucket, offset + 1):
                self.first_offset[bucket] = offset
        return np.unique(buckets)

    def caught_up(self, at_ms: int) -> None:
        """Everything up to the high watermark is read: every click stamped before now is in."""
        if self.high is not None and self.position >= max(self.high, self.fresh_high):
            self.read_until_ms = max(self.read_until_ms, at_ms)

    @property
    def open_from(self) -> int:
        """The first bucket that may still get clicks: those before it ended ``GRACE_MS`` before
        ``read_until_ms``."""
        return (self.read_until_ms - GRACE_MS) // BUCKET_MS

    def commit_point(self, topic: str) -> TopicPartition | None:
        """The offset a new owner must start at, with the first bucket it may write as metadata."""
        if self.first_full_bucket is None:
            return None  # nothing read since a start from the recent past: the old commit stands
        open_from = self.open_from
        for bucket in [b for b in self.first_offset if b < open_from]:
            del self.first_offset[bucket]
        offset = min(self.first_offset.values(), default=self.position)
        first_full = max(open_from, self.first_full_bucket)
        return TopicPartition(topic, self.partition, offset, metadata=str(first_full))

    def writable(self, bucket: int) -> bool:
        return self.first_full_bucket is not None and bucket >= self.first_full_bucket


class Aggregator:
    """Consumes its share of the click topic in a consumer group and keeps the live state in Redis.

    ``web_users`` maps web user ids to customers (a frame with ``web_user_id`` and ``customer_id``, or a
    mapping), as the server's ``Directory.web_users()`` returns it. ``run()`` consumes until ``stopping``
    is set; ``start()``/``stop()`` run it on a thread of its own (tests, notebooks).
    """

    def __init__(
        self,
        settings: Settings,
        web_users: pd.DataFrame | Mapping[int, int],
        *,
        lookback: timedelta = LOOKBACK,
        clicks_per_customer: int = CLICKS_PER_CUSTOMER,
    ) -> None:
        if not settings.kafka_bootstrap or settings.redis is None:
            raise ValueError("an aggregator needs C360_KAFKA_BOOTSTRAP and C360_REDIS_URL")
        self.settings = settings
        self.topic = settings.kafka_topic
        self.lookback = lookback
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.writer = StateWriter(
            connect(settings.redis, retries=1), StateKeys(self.topic), clicks_per_customer
        )
        self._links = CustomerLinks(web_users)
        self._tallies: dict[int, PartitionTally] = {}
        self._partitions = 0  # the topic's partition count
        self._epoch: str | None = None
        self._pending = StateUpdate()
        self._dirty: set[tuple[int, int]] = set()
        self._committed: dict[int, int] = {}
        self._paused: list[TopicPartition] = []
        self._redis_problem: str | None = None
        self._brokers_down = False  # librdkafka said all brokers are down; the cached watermarks are stale
        self._next_broker_probe = 0.0
        self._next_retry = self._next_commit = self._next_progress = self._next_heartbeat = 0.0
        self._recent: deque[tuple[float, int, int]] = deque(maxlen=512)
        self._counted: Counter = Counter()  # since this aggregator started
        self._errors = LogThrottle()
        self._drop_log = DropLog(log)
        self._cooperative = "cooperative" in settings.kafka_options.get("partition.assignment.strategy", "")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._raw = Stream(stream_name="raw click batches")
        self._sink = linked_clicks(self._raw, self._links).sink(self._take)

    # -- running -------------------------------------------------------------------------------------

    def start(self) -> Aggregator:
        """Run on a background thread (a no-op when it runs already).

        A daemon thread: librdkafka's ``Consumer.close`` has no timeout and can wait on for a broker that
        has gone (seen as a test run that never exited), and a stuck close must not keep the process alive.
        """
        if self._thread is None:
            self._thread = threading.Thread(
                target=self.run, args=(self._stopping,), name="aggregator", daemon=True
            )
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread: the last writes are made and committed and the group is left at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("aggregator %s did not stop within %.0f s (leaving the group)", self.id, timeout)

    def run(self, stopping: threading.Event) -> None:
        """Consume, aggregate and write until ``stopping`` is set."""
        consumer = Consumer(self._config())
        consumer.subscribe(
            [self.topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        log.info(
            "aggregator %s joined group %r on %s", self.id, self.settings.aggregator_group, self.describe()
        )
        try:
            while not stopping.is_set():
                try:
                    with collecting_between_batches():
                        messages = consumer.consume(BATCH_SIZE, POLL_TIMEOUT_S)
                        if messages:
                            self._deliver(consumer, messages)
                        del messages
                    self._track_progress(consumer)
                    self._flush(consumer)
                    self._heartbeat()
                except KafkaException as error:  # the broker is away: librdkafka reconnects by itself
                    self._report(error.args[0])
                    stopping.wait(RETRY_S)
        finally:
            self._flush(consumer, final=True)
            consumer.close()  # leaves the group: the others take the partitions at once
            self._sink.destroy()
            with contextlib.suppress(redis.RedisError):
                self.writer.leave(self.id)
            log.info("aggregator %s stopped", self.id)

    def describe(self) -> str:
        return (
            f"topic {self.topic!r} on {self.settings.kafka_bootstrap} into {self.settings.redis.redacted()}"
        )

    def _config(self) -> dict:
        options = consumer_config(
            self.settings, f"customer360-aggregator-{self.id}", self.settings.aggregator_group, self._on_error
        )
        for name, value in GROUP_DEFAULTS.items():
            if name not in self.settings.kafka_options:
                options[name] = value
        options["on_commit"] = self._on_commit
        return options

    # -- the group's rebalancing --------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start each new partition where its last owner committed, or in the recent past."""
        try:
            self._assign(consumer, partitions)
        except KafkaException as error:  # the broker went away mid-rebalance: take them as Kafka says
            log.warning("aggregator %s could not place its new partitions: %s", self.id, error.args[0].str())
            for tp in partitions:
                self._tallies[tp.partition] = PartitionTally(tp.partition, 0, None)
            if self._cooperative:
                consumer.incremental_assign(partitions)
            else:
                consumer.assign(partitions)

    def _assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        numbers = [tp.partition for tp in partitions]
        metadata = consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT_S).topics.get(self.topic)
        self._partitions = len(metadata.partitions) if metadata is not None else max(numbers, default=-1) + 1
        lost = self._check_epoch()
        committed = {tp.partition: tp for tp in consumer.committed(partitions, timeout=10)} if numbers else {}
        since_ms = now_ms() - int(self.lookback.total_seconds() * 1000)
        recent = lookback_offsets(consumer, self.topic, numbers, since_ms) if numbers else {}
        start = []
        for partition in numbers:
            offset, low, by_time = recent[partition]
            tally = PartitionTally(partition, offset, None if offset > low else 0)
            previous = committed.get(partition)
            resume = _resume_bucket(previous)
            if (
                not lost
                and resume is not None
                and previous.offset >= low
                and not (by_time and offset > previous.offset)
            ):
                tally = PartitionTally(partition, previous.offset, resume)
                self._committed[partition] = previous.offset
            self._tallies[partition] = tally
            start.append(TopicPartition(self.topic, partition, tally.position))
        if self._cooperative:
            consumer.incremental_assign(start)
        else:
            consumer.assign(start)
        if self._paused:  # Redis is still down: the new partitions wait too
            self._pause(consumer)
        log.info(
            "aggregator %s assigned partitions %s at offsets %s",
            self.id,
            numbers,
            [tp.offset for tp in start],
        )

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Write and commit what was read of the partitions before another aggregator takes them."""
        self._flush(consumer, final=True)
        self._release([tp.partition for tp in partitions])
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The group went on without us (we missed the session timeout): drop them, commit nothing."""
        log.warning(
            "aggregator %s lost partitions %s to the group", self.id, [tp.partition for tp in partitions]
        )
        self._release([tp.partition for tp in partitions])
        if self._cooperative:
            consumer.incremental_unassign(partitions)
        else:
            consumer.unassign()

    def _release(self, partitions: list[int]) -> None:
        for partition in partitions:
            self._tallies.pop(partition, None)
            self._committed.pop(partition, None)
        gone = set(partitions)
        self._dirty = {(p, b) for p, b in self._dirty if p not in gone}
        self._pending.clicks = [c[~c["partition"].isin(gone)] for c in self._pending.clicks]
        self._paused = [tp for tp in self._paused if tp.partition not in gone]

    def _check_epoch(self) -> bool:
        """Whether Redis lost the state (or never had it): then the recent past is rebuilt from the topic."""
        try:
            epoch, created = self.writer.epoch()
        except redis.RedisError:
            return False  # checked again with every write
        lost = created or (self._epoch is not None and epoch != self._epoch)
        if lost and self._epoch is not None:
            log.warning(
                "Redis lost the live state (epoch %s is gone): rebuilding the recent past", self._epoch
            )
        self._epoch = epoch
        return lost

    # -- batches ------------------------------------------------------------------------------------

    def _deliver(self, consumer: Consumer, messages: list[Message]) -> None:
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
                if partition in self._tallies:
                    self._read_new_log(consumer, partition, reason)
        mine = [m for m in messages if m.partition() in self._tallies]
        if not mine:
            return
        time_ms = message_times(mine)
        partitions = np.fromiter((m.partition() for m in mine), np.int64, len(mine))
        offsets = np.fromiter((m.offset() for m in mine), np.int64, len(mine))
        for partition in np.unique(partitions).tolist():
            of = partitions == partition
            self._tallies[partition].read(offsets[of], time_ms[of])
        raw = RawBatch([m.value() for m in mine], time_ms, partitions, offsets)
        try:
            self._raw.emit(raw)
        except Exception:
            log.exception("click pipeline failed on a batch of %d messages", len(mine))
            self._add_totals(len(mine), 0, Counter(internal_error=len(mine)))

    def _read_new_log(self, consumer: Consumer, partition: int, reason: str) -> None:
        """The broker no longer has the partition's position (its log was truncated or lost: librdkafka
        reports it under ``auto.offset.reset=error``): write what was read, then count the partition
        again from the start of its log, so no click produced since is skipped. Its counts are rewritten
        from the new log (the seconds dashboards have already shown are not revised) and a click read
        again is stored once (members are named by offset and content)."""
        self._flush(consumer, final=True)
        try:
            start = log_start(consumer, self.topic, partition)
        except KafkaException as error:
            log.warning("aggregator %s cannot restart partition %d: %s", self.id, partition, error)
            return
        self._release([partition])
        self._tallies[partition] = PartitionTally(partition, start, 0)
        restarted = TopicPartition(self.topic, partition, start)
        if self._cooperative:
            consumer.incremental_unassign([TopicPartition(self.topic, partition)])
            consumer.incremental_assign([restarted])
        else:  # the eager protocol changes an assignment only as a whole
            consumer.assign([TopicPartition(self.topic, p, t.position) for p, t in self._tallies.items()])
        if self._paused:
            self._pause(consumer)
        log.warning(
            "aggregator %s: %s; reading partition %d again from offset %d, the start of its log",
            self.id,
            reason,
            partition,
            start,
        )

    def _take(self, batch: ClickBatch) -> None:
        """The pipeline's sink: count the linked clicks per partition and queue the state they change."""
        self._drop_log.report(batch)
        self._add_totals(batch.received, len(batch.clicks), batch.dropped)
        clicks = batch.clicks
        if clicks.empty:
            return
        at_ms = now_ms()
        for partition, of in clicks.groupby("partition", sort=False).groups.items():
            tally = self._tallies.get(int(partition))
            if tally is not None:
                changed = tally.count(clicks.loc[of], at_ms)
                self._dirty.update((tally.partition, bucket) for bucket in changed.tolist())
        self._pending.clicks.append(clicks[STATE_COLUMNS])

    def _add_totals(self, received: int, accepted: int, dropped: Counter) -> None:
        totals = self._pending.totals
        totals["received"] = totals.get("received", 0) + received
        totals["accepted"] = totals.get("accepted", 0) + accepted
        for reason, count in dropped.items():
            totals[f"dropped:{reason}"] = totals.get(f"dropped:{reason}", 0) + count
        self._recent.append((time.monotonic(), received, accepted))
        self._counted.update(received=received, accepted=accepted, dropped=sum(dropped.values()))

    def _track_progress(self, consumer: Consumer) -> None:
        """A partition read up to its high watermark is complete until now, unless the brokers are down.

        librdkafka's cached watermark is the one of the last fetch: while the brokers are away it does not
        move, though producers may be holding clicks stamped meanwhile that reach the log once the brokers
        are back. So completeness stands still until a broker answers again, and then starts from
        watermarks asked for anew, never from the cached ones.
        """
        if self._paused or (self._brokers_down and not self._brokers_back(consumer)):
            return
        at_ms = now_ms()
        for partition, tally in self._tallies.items():
            _, high = consumer.get_watermark_offsets(TopicPartition(self.topic, partition), cached=True)
            tally.high = high if high >= 0 else tally.high
            tally.caught_up(at_ms)

    def _brokers_back(self, consumer: Consumer) -> bool:
        """Probe the brokers (every ``RETRY_S``) for fresh watermarks; True once they answer."""
        now = time.monotonic()
        if now < self._next_broker_probe:
            return False
        self._next_broker_probe = now + RETRY_S
        try:
            for partition, tally in self._tallies.items():
                tp = TopicPartition(self.topic, partition)
                tally.fresh_high = consumer.get_watermark_offsets(
                    tp, timeout=METADATA_TIMEOUT_S, cached=False
                )[1]
        except KafkaException as error:
            log.debug("aggregator %s: brokers still away: %s", self.id, error)
            return False
        self._brokers_down = False
        log.info("aggregator %s: brokers back at %s", self.id, self.describe())
        return True

    # -- writing and committing ---------------------------------------------------------------------

    def _flush(self, consumer: Consumer, final: bool = False) -> None:
        """Write what is pending; once written, commit (every ``COMMIT_INTERVAL_S``, or now if final)."""
        now = time.monotonic()
        if not self._tallies and not self._pending:
            return
        if self._paused and now < self._next_retry and not final:
            return
        if not (self._pending or self._dirty) and now < self._next_progress and not final:
            return
        update = self._pending
        update.rates = {
            (p, b): self._tallies[p].rates.counts([b])[0]
            for p, b in self._dirty
            if p in self._tallies and self._tallies[p].writable(b)
        }
        try:
            epoch = self.writer.write(update, self._partitions)
            if self._epoch is None:  # Redis was down when the partitions came: take the state as it is
                self._epoch = epoch
            intact = epoch is not None and epoch == self._epoch
            if intact:  # the counts went into the state the progress speaks of
                self.writer.advance({p: t.read_until_ms for p, t in self._tallies.items() if t.read_until_ms})
        except redis.RedisError as error:
            self._redis_down(consumer, error)
            return
        self._pending = StateUpdate()
        self._dirty = set()
        self._next_progress = now + PROGRESS_INTERVAL_S
        if self._paused:
            self._resume(consumer)
        if not intact:
            self._rebuild(consumer)
        elif final or now >= self._next_commit:
            self._commit(consumer, asynchronous=not final)
            self._next_commit = now + COMMIT_INTERVAL_S

    def _commit(self, consumer: Consumer, asynchronous: bool) -> None:
        offsets = [
            tp for tp in (t.commit_point(self.topic) for t in self._tallies.values()) if tp is not None
        ]
        if not offsets:
            return
        try:
            done = consumer.commit(offsets=offsets, asynchronous=asynchronous)
        except KafkaException as error:  # e.g. a rebalance is under way: the next owner reads a bit more
            log.info("aggregator %s could not commit: %s", self.id, error.args[0].str())
            return
        if done:
            self._record_commits(done)

    def _on_commit(self, error: KafkaError | None, partitions: list[TopicPartition]) -> None:
        if error is None:
            self._record_commits(partitions)

    def _record_commits(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            if tp.error is None and tp.partition in self._tallies and tp.offset >= 0:
                self._committed[tp.partition] = tp.offset

    def _redis_down(self, consumer: Consumer, error: redis.RedisError) -> None:
        """Keep what was read, stop reading more, and try again every second; nothing is committed."""
        problem = f"{self.settings.redis.redacted()}: {error}"
        if problem != self._redis_problem:
            log.warning(
                "aggregator %s cannot write the live state (%s); consumption paused, retrying",
                self.id,
                problem,
            )
        self._redis_problem = problem
        self._next_retry = time.monotonic() + RETRY_S
        self._pause(consumer)

    def _pause(self, consumer: Consumer) -> None:
        self._paused = [TopicPartition(self.topic, p) for p in self._tallies]
        if self._paused:
            consumer.pause(self._paused)

    def _resume(self, consumer: Consumer) -> None:
        consumer.resume(self._paused)
        self._paused = []
        if self._redis_problem is not None:
            log.info("aggregator %s writes the live state again", self.id)
        self._redis_problem = None

    def _rebuild(self, consumer: Consumer) -> None:
        """Redis lost its data: read every partition again from the recent past."""
        self._check_epoch()
        numbers = list(self._tallies)
        since_ms = now_ms() - int(self.lookback.total_seconds() * 1000)
        try:
            recent = lookback_offsets(consumer, self.topic, numbers, since_ms) if numbers else {}
            for partition, (offset, low, _) in recent.items():
                self._tallies[partition] = PartitionTally(partition, offset, None if offset > low else 0)
                consumer.seek(TopicPartition(self.topic, partition, offset))
        except KafkaException as error:
            log.warning("aggregator %s could not rebuild: %s (retrying)", self.id, error.args[0].str())
            self._epoch = None
            return
        log.info("aggregator %s rebuilding partitions %s from the recent past", self.id, numbers)

    # -- health ---------------------------------------------------------------------------------------

    def report(self) -> dict:
        """What this aggregator publishes with its heartbeat (the dashboards' health panel sums them)."""
        now = time.monotonic()
        recent = [(r, a) for t, r, a in self._recent if now - t <= RATE_SPAN_S]
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "partitions": sorted(self._tallies),
            "messages_per_s": sum(r for r, _ in recent) / RATE_SPAN_S,
            "clicks_per_s": sum(a for _, a in recent) / RATE_SPAN_S,
            "state": "paused: Redis unreachable"
            if self._paused
            else "waiting: Kafka unreachable"
            if self._brokers_down
            else "live",
            "received": self._counted["received"],
            "accepted": self._counted["accepted"],
            "dropped": self._counted["dropped"],
            "lag": sum(max(0, (t.high or 0) - t.position) for t in self._tallies.values()),
        }

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat or self._paused:
            return
        self._next_heartbeat = now + HEARTBEAT_S
        at = now_ms()
        partitions = {
            p: {"committed": self._committed[p], "high": t.high, "owner": self.id, "at": at}
            for p, t in self._tallies.items()
            if p in self._committed and t.high is not None
        }
        try:
            self.writer.heartbeat(self.id, self.report(), partitions)
        except redis.RedisError as error:  # the next write finds out and pauses
            log.debug("aggregator %s heartbeat failed: %s", self.id, error)

    def _on_error(self, error: KafkaError) -> None:
        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            self._brokers_down = True
        if error.code() != KafkaError._TRANSPORT:  # connection failures: librdkafka's log says so
            self._report(error)

    def _report(self, error: KafkaError) -> None:
        count = self._errors.allow(error.name())
        if count is not None:
            log.warning("Kafka: %s (%d in the last %.0f s)", error.str(), count, self._errors.interval_s)


def _resume_bucket(committed: TopicPartition | None) -> int | None:
    """The first bucket a new owner may write, from a commit's metadata; None when there is no commit."""
    if committed is None or committed.offset < 0 or not committed.metadata:
        return None
    try:
        return int(committed.metadata)
    except ValueError:  # committed by something else in the same group: start from the recent past
        return None


SETTINGS = [
    "data_dir",
    "mysql_url",
    "kafka_bootstrap",
    "kafka_topic",
    "kafka_config",
    "redis_url",
    "aggregator_group",
]


def main(argv: list[str] | None = None) -> int:
    """Command line: aggregate the click topic into Redis until stopped (SIGTERM or Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.clickstream.aggregate", description=__doc__.split("\n")[0]
    )
    config.add_arguments(parser, only=SETTINGS)
    settings = config.load_or_exit(parser, parser.parse_args(argv))
    if not settings.kafka_bootstrap or settings.redis is None:
        parser.exit(
            2, "error: set C360_KAFKA_BOOTSTRAP and C360_REDIS_URL (or --kafka-bootstrap, --redis-url)\n"
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from connectors.directory import Directory  # the mapping the server uses; only needed here

    with Directory(settings) as directory:
        web_users = directory.web_users()
    aggregator = Aggregator(settings, web_users)
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    aggregator.run(stopping)
    return 0


if __name__ == "__main__":
    sys.exit(main())
