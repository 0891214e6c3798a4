"""The live click state in Redis (or Valkey): its keys, what the aggregators write, what dashboards read.

The aggregators (:mod:`connectors.clickstream.aggregate`) write; every dashboard process with
``C360_REDIS_URL`` set reads through :class:`RedisClickState`, the same :class:`LiveState` the views ask
of the in-process stream. Keys start with ``c360:{topic}:``; only integers the aggregators computed
(customer ids from the web-user mapping, partitions, bucket numbers within the served window) and fixed
names ever go into a key: a message's text (its page address) is only ever a value. Every key is bounded:

============================  ====================================================  ======================
key                           what                                                  bound
============================  ====================================================  ======================
``rate:{bucket}``             hash: partition -> clicks per product in that 100 ms  expires after 7 min
                              bucket (12 little-endian int64)
``progress``                  sorted set: partition -> every click stamped before   one per partition
                              this time (ms) is in the rates
``clicks:{customer}``         sorted set of the customer's latest clicks: score     50, expires an hour
                              its time, member ``partition:offset:product:url``     (less up to a minute)
                                                                                    after their last click
``seen``                      hash: customer -> ``time:product:url`` of their       one per customer
                              latest click
``online``                    sorted set: customer -> time of their latest click    one per customer
``totals``                    hash: received, accepted, ``dropped:{reason}``,       fixed fields
                              summed over the aggregators
``aggregators``               sorted set: aggregator -> time of its heartbeat       pruned after a minute
``aggregator:{id}``           JSON: that aggregator's partitions, rates, state      expires after 15 s
``partitions``                hash: partition -> JSON committed offset, high        one per partition
                              watermark, owner
``meta``                      hash: ``partitions`` (the topic's count), ``epoch``   fixed fields
============================  ====================================================  ======================

Writes are idempotent, so the at-least-once delivery of a consumer group counts nothing twice: rates are
the absolute count of one partition in one bucket (a partition read again overwrites its own counts
instead of adding to them), a click is a sorted-set member named by its partition and offset, and
``online``/``progress`` only ever move forward (``ZADD GT``). ``epoch`` tells an aggregator that Redis
lost its data (a restart without persistence): it then rebuilds the recent past from the topic.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
import orjson
import pandas as pd
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from connectors.catalog import CLICK_DAYS, PRODUCTS
from connectors.clickstream.live import (
    INTEREST_WINDOW,
    ONLINE_WITHIN,
    Click,
    LastSeen,
    LiveState,
    activity_frame,
    interest,
    now_ms,
    utc,
)
from connectors.clickstream.pipeline import (
    BUCKET_MS,
    DROP_REASONS,
    FUTURE_BUCKETS,
    HISTORY_BUCKETS,
    RATE_WINDOW_BUCKETS,
    RING_BUCKETS,
    ClickRates,
)
from connectors.config import RedisTarget, Settings

log = logging.getLogger(__name__)

RATE_TTL_S = 420  # a bucket is served for 5 minutes (and a second of window) after it ends
CLICKS_TTL_S = 3600  # a customer's latest clicks: the products of the last hour come from them
EXPIRE_AGAIN_S = 60  # a writer renews a customer's expiry at most this often (a command a click saved)
CLICKS_PER_CUSTOMER = 50
AGGREGATOR_TTL_S = 15  # an aggregator whose heartbeat is older is not alive
AGGREGATOR_ALIVE_MS = 10_000
ONLINE_LIMIT = 10_000  # online_customers() returns at most this many (the most recent)
STATUS_TEXT = {
    "starting": "connecting…",
    "live": "live",
    "waiting": "waiting for the aggregators",
    "offline": "live state unavailable — reconnecting",
    "unavailable": "no click data",
}
UNAVAILABLE = STATUS_TEXT["offline"]


class StateKeys:
    """The names of one topic's keys; only integers and fixed names go into them."""

    def __init__(self, topic: str) -> None:
        self.prefix = f"c360:{topic}:"
        for name in ("progress", "seen", "online", "totals", "aggregators", "partitions", "meta"):
            setattr(self, name, self.prefix + name)

    def rate(self, bucket: int) -> str:
        return f"{self.prefix}rate:{int(bucket)}"

    def clicks(self, customer_id: int) -> str:
        return f"{self.prefix}clicks:{int(customer_id)}"

    def aggregator(self, aggregator_id: str) -> str:
        return f"{self.prefix}aggregator:{aggregator_id}"


def connect(target: RedisTarget, retries: int = 0, timeout_s: float = 1.0) -> redis.Redis:
    """A client for ``C360_REDIS_URL``: user, password, database and TLS options come from the URL.

    Calls fail fast (``timeout_s`` unless the URL sets its own timeouts) and are not retried inside the
    client, so a Redis that is down never holds up the caller: a dashboard's sessions share one event loop.
    """
    return redis.Redis.from_url(
        target.url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), retries),
        health_check_interval=30,
    )


def pack_counts(counts: np.ndarray) -> bytes:
    """One partition's clicks per product in one bucket, as stored."""
    return np.asarray(counts, "<i8").tobytes()


def unpack_counts(value: bytes) -> np.ndarray:
    counts = np.frombuffer(value, "<i8")
    return counts if len(counts) == len(PRODUCTS) else np.zeros(len(PRODUCTS), np.int64)


@dataclass
class StateUpdate:
    """What one aggregator writes after a batch: clicks, rate buckets and counters.

    ``clicks`` has the linked clicks' columns ``customer_id``, ``time_ms``, ``partition``, ``offset``,
    ``product`` and ``url``; ``rates`` maps (partition, bucket) to that partition's absolute counts.
    """

    clicks: list[pd.DataFrame] = field(default_factory=list)
    rates: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.clicks or self.rates or self.totals)


class StateWriter:
    """Writes an aggregator's updates in one pipeline per batch; see the module docstring for the keys."""

    def __init__(self, client: redis.Redis, keys: StateKeys, clicks_per_customer: int = CLICKS_PER_CUSTOMER):
        self.client = client
        self.keys = keys
        self.clicks_per_customer = clicks_per_customer
        self._expiry_set: OrderedDict[int, float] = OrderedDict()  # customer -> when this writer renewed it

    def epoch(self) -> tuple[str, bool]:
        """The state's epoch, and whether it was set just now (Redis held no state: new or emptied)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hsetnx(self.keys.meta, "epoch", uuid.uuid4().hex)
        pipe.hget(self.keys.meta, "epoch")
        created, epoch = pipe.execute()
        return epoch.decode(), bool(created)

    def write(self, update: StateUpdate, partitions: int) -> str | None:
        """Write ``update``; returns the epoch found as the write began (None: Redis lost its data)."""
        keys = self.keys
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(keys.meta, "epoch")
        pipe.hset(keys.meta, "partitions", partitions)
        if update.clicks:
            self._clicks(pipe, pd.concat(update.clicks, ignore_index=True))
        by_bucket: dict[int, dict[int, bytes]] = {}
        for (partition, bucket), counts in update.rates.items():
            by_bucket.setdefault(bucket, {})[partition] = pack_counts(counts)
        for bucket, fields in by_bucket.items():
            pipe.hset(keys.rate(bucket), mapping=fields)
            pipe.expire(keys.rate(bucket), RATE_TTL_S)
        for name, count in update.totals.items():
            if count:
                pipe.hincrby(keys.totals, name, count)
        epoch = pipe.execute()[0]
        return None if epoch is None else epoch.decode()

    def _clicks(self, pipe, clicks: pd.DataFrame) -> None:
        """Each customer's latest clicks (capped, expiring), their last click, and when they were online."""
        clicks = clicks.sort_values(["customer_id", "time_ms"], kind="stable")
        customers = clicks["customer_id"].to_numpy()
        time_ms = clicks["time_ms"].to_numpy()
        members = [
            f"{p}:{o}:{c}:{u}"
            for p, o, c, u in zip(
                clicks["partition"].tolist(),
                clicks["offset"].tolist(),
                clicks["product"].tolist(),
                clicks["url"].tolist(),
                strict=True,
            )
        ]
        starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
        ends = np.r_[starts[1:], len(customers)]
        keep = self.clicks_per_customer
        seen, online = {}, {}
        times = time_ms.tolist()
        for customer, start, end in zip(
            customers[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
        ):
            key = self.keys.clicks(customer)
            first = max(start, end - keep)
            pipe.zadd(key, dict(zip(members[first:end], times[first:end], strict=True)))
            pipe.zremrangebyrank(key, 0, -keep - 1)
            pipe.expire(key, CLICKS_TTL_S)
            _, _, product, url = members[end - 1].split(":", 3)
            seen[customer] = f"{times[end - 1]}:{product}:{url}"
            online[customer] = times[end - 1]
        pipe.hset(self.keys.seen, mapping=seen)
        pipe.zadd(self.keys.online, online, gt=True)

    def advance(self, progress: dict[int, int]) -> None:
        """Partition -> time before which every click is in the rates; written after the counts, and
        only ever forward, whichever aggregator writes it."""
        if progress:
            self.client.zadd(self.keys.progress, progress, gt=True)

    def heartbeat(self, aggregator_id: str, report: dict, partitions: dict[int, dict]) -> None:
        """Say this aggregator is alive, what it does, and the committed offsets of its partitions."""
        keys, now = self.keys, now_ms()
        pipe = self.client.pipeline(transaction=False)
        pipe.set(keys.aggregator(aggregator_id), orjson.dumps(report), ex=AGGREGATOR_TTL_S)
        pipe.zadd(keys.aggregators, {aggregator_id: now})
        pipe.zremrangebyscore(keys.aggregators, "-inf", now - 60_000)
        pipe.zremrangebyscore(keys.online, "-inf", now - CLICK_DAYS * 86_400_000)
        if partitions:
            pipe.hset(keys.partitions, mapping={p: orjson.dumps(info) for p, info in partitions.items()})
        pipe.execute()

    def leave(self, aggregator_id: str) -> None:
        """An aggregator that stops says so at once, rather than by its heartbeat running out."""
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(self.keys.aggregator(aggregator_id))
        pipe.zrem(self.keys.aggregators, aggregator_id)
        pipe.execute()


class RedisClickState(LiveState):
    """The live click state the aggregators keep in Redis, for any number of dashboard processes.

    A background thread copies the newly completed rate buckets (summed over partitions) into a local
    ring every 100 ms, and the health every second, so a session's pull costs no round trip and the
    process's work does not grow with the click rate. Per-customer questions go to Redis (one round trip,
    cached for half a second, so a session's views share it). When Redis cannot be reached, every question
    answers "nothing" at once for a second at a time and the health says "live state unavailable —
    reconnecting"; the thread reconnects by itself.
    """

    kind = "redis"

    def __init__(
        self,
        settings: Settings,
        *,
        poll_s: float = BUCKET_MS / 1000,
        health_s: float = 1.0,
        cache_s: float = 0.5,
    ) -> None:
        target = settings.redis
        if target is None:
            raise ValueError("RedisClickState needs C360_REDIS_URL")
        self.settings = settings
        self.target = target
        self._client = connect(target)
        self._keys = StateKeys(settings.kafka_topic)
        self._poll_s, self._health_s, self._cache_s = poll_s, health_s, cache_s
        self._rates = ClickRates()
        self._complete_until_ms = 0
        self._next_bucket: int | None = None  # the first bucket not copied yet
        self._lock = threading.Lock()
        self._customers: OrderedDict[int, tuple[float, list[Click], Click | None]] = OrderedDict()
        self._online: dict[float, tuple[float, list[int]]] = {}
        self._offline_until = 0.0
        self._problem = "connecting"
        self._health: dict = _empty_health("starting", f"connecting to {target.redacted()}")
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def source(self) -> str:
        return self.kind

    def start(self) -> RedisClickState:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="click-state-redis", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        next_health = 0.0
        while not self._stopping.is_set():
            try:
                self._copy_rates()
                if time.monotonic() >= next_health:
                    self._read_health()
                    next_health = time.monotonic() + self._health_s
            except redis.RedisError as error:
                self._unavailable(error)
                next_health = 0.0
                self._stopping.wait(1.0)
                continue
            except Exception:  # never let the thread die: log, show offline, try again
                log.exception("reading the live state from %s failed", self.target.redacted())
                self._unavailable(RuntimeError("the live state could not be read (see the log)"))
                self._stopping.wait(1.0)
                continue
            self._stopping.wait(self._poll_s)

    def _unavailable(self, error: Exception) -> None:
        with self._lock:
            self._offline_until = time.monotonic() + 1.0
            problem = f"cannot read {self.target.redacted()}: {error}"
            if problem != self._problem:
                log.warning("live click state unavailable: %s", problem)
            self._problem = problem
            self._health = {**self._health, **_state("offline", problem)}

    def _available(self) -> bool:
        return time.monotonic() >= self._offline_until

    def _copy_rates(self) -> None:
        """Copy the buckets completed since the last call into the local ring (totals over partitions)."""
        keys = self._keys
        pipe = self._client.pipeline(transaction=False)
        pipe.zrange(keys.progress, 0, -1, withscores=True)
        pipe.hget(keys.meta, "partitions")
        progress, partitions = pipe.execute()
        done = {int(p): int(ms) for p, ms in progress}
        count = int(partitions or 0)
        complete = min((done.get(p, 0) for p in range(count)), default=0)
        now_bucket = now_ms() // BUCKET_MS
        first = self._next_bucket
        if first is None:
            first = now_bucket - HISTORY_BUCKETS - RATE_WINDOW_BUCKETS
        first = max(first, now_bucket - RING_BUCKETS + FUTURE_BUCKETS + 1)
        last = min(complete // BUCKET_MS, now_bucket) - 1  # buckets ending by ``complete`` are final
        for start in range(first, last + 1, 500):
            buckets = np.arange(start, min(start + 500, last + 1))
            pipe = self._client.pipeline(transaction=False)
            for bucket in buckets.tolist():
                pipe.hgetall(keys.rate(bucket))
            totals = [
                sum((unpack_counts(v) for v in fields.values()), np.zeros(len(PRODUCTS), np.int64))
                for fields in pipe.execute()
            ]
            self._rates.put(buckets, np.array(totals, np.int64).reshape(len(buckets), len(PRODUCTS)))
        if last >= first:
            self._next_bucket = last + 1
        with self._lock:
            self._complete_until_ms = max(self._complete_until_ms, complete) if count else 0
            self._offline_until = 0.0

    def _read_health(self) -> None:
        keys, now = self._keys, now_ms()
        pipe = self._client.pipeline(transaction=False)
        pipe.zrangebyscore(keys.aggregators, now - AGGREGATOR_ALIVE_MS, "+inf")
        pipe.hgetall(keys.partitions)
        pipe.hgetall(keys.totals)
        pipe.hget(keys.meta, "partitions")
        alive, partitions, totals, count = pipe.execute()
        reports = self._client.mget([keys.aggregator(a.decode()) for a in alive]) if alive else []
        aggregators = [orjson.loads(r) for r in reports if r]
        health = _health_from(aggregators, partitions, totals, int(count or 0), now)
        with self._lock:
            self._health = health
            self._problem = health["detail"]

    def health(self) -> dict:
        with self._lock:
            return {**self._health, "source": self.kind}

    def global_rates_since(self, cursor: int | None = None) -> tuple[pd.DataFrame, int | None]:
        with self._lock:
            complete = self._complete_until_ms
        return self._rates.since(cursor, now_ms(), complete)

    def _customer(self, customer_id: int) -> tuple[list[Click], Click | None]:
        """The customer's latest clicks (oldest first) and their last click, from Redis or the cache."""
        customer_id = int(customer_id)
        now = time.monotonic()
        with self._lock:
            cached = self._customers.get(customer_id)
            if cached is not None and now - cached[0] < self._cache_s:
                return cached[1], cached[2]
        if not self._available():
            return [], None
        pipe = self._client.pipeline(transaction=False)
        pipe.zrange(self._keys.clicks(customer_id), 0, -1, withscores=True)
        pipe.hget(self._keys.seen, customer_id)
        try:
            members, seen = pipe.execute()
        except redis.RedisError as error:
            self._unavailable(error)
            return [], None
        clicks = sorted(filter(None, (_click(m, s) for m, s in members)))
        last = _seen(seen)
        if clicks and (last is None or clicks[-1][0] >= last[0]):
            last = clicks[-1]
        with self._lock:
            self._customers[customer_id] = (now, clicks, last)
            self._customers.move_to_end(customer_id)
            while len(self._customers) > 1000:
                self._customers.popitem(last=False)
        return clicks, last

    def customer_activity(self, customer_id: int, limit: int = 50) -> pd.DataFrame:
        clicks, _ = self._customer(customer_id)
        return activity_frame(clicks[-limit:] if limit > 0 else [])

    def last_seen(self, customer_id: int) -> LastSeen | None:
        _, last = self._customer(customer_id)
        if last is None:
            return None
        time_ms, product, url = last
        return LastSeen(int(customer_id), utc(time_ms), PRODUCTS[product], url)

    def recent_interest(self, customer_id: int, window: timedelta = INTEREST_WINDOW) -> dict[str, int]:
        """Counted over the customer's latest clicks kept in Redis (50, for an hour)."""
        clicks, _ = self._customer(customer_id)
        return interest(clicks, window)

    def online_customers(self, within: timedelta = ONLINE_WITHIN) -> list[int]:
        """At most ``ONLINE_LIMIT`` of them, refreshed at most once a second."""
        seconds = within.total_seconds()
        now = time.monotonic()
        cached = self._online.get(seconds)
        if cached is not None and now - cached[0] < 1.0:
            return cached[1]
        if not self._available():
            return []
        try:
            found = self._client.zrevrangebyscore(
                self._keys.online, "+inf", now_ms() - int(seconds * 1000), start=0, num=ONLINE_LIMIT
            )
        except redis.RedisError as error:
            self._unavailable(error)
            return []
        customers = [int(member) for member in found]
        self._online = {seconds: (now, customers)}
        return customers


def _click(member: bytes, score: float) -> Click | None:
    """(time, product code, url) from a ``partition:offset:product:url`` member; None if malformed."""
    try:
        _, _, product, url = member.decode("utf-8", "replace").split(":", 3)
        code = int(product)
    except ValueError:
        return None
    return (int(score), code, url) if 0 <= code < len(PRODUCTS) else None


def _seen(value: bytes | None) -> Click | None:
    """(time, product code, url) from ``seen``'s ``time:product:url``; None if absent or malformed."""
    if value is None:
        return None
    try:
        at, product, url = value.decode("utf-8", "replace").split(":", 2)
        at_ms, code = int(at), int(product)
    except ValueError:
        return None
    return (at_ms, code, url) if 0 <= code < len(PRODUCTS) else None


def _state(state: str, detail: str) -> dict:
    return {"state": state, "status": STATUS_TEXT[state], "detail": detail}


def _empty_health(state: str, detail: str) -> dict:
    return {
        **_state(state, detail),
        "lag": None,
        "messages_per_s": 0.0,
        "clicks_per_s": 0.0,
        "received": 0,
        "accepted": 0,
        "dropped": {reason: 0 for reason in (*DROP_REASONS, "internal_error")},
        "dropped_total": 0,
        "aggregators": [],
        "partitions": [],
    }


def _health_from(aggregators: list[dict], partitions: dict, totals: dict, count: int, now: int) -> dict:
    """The health panel's dictionary from what the aggregators published."""
    totals = {k.decode(): int(v) for k, v in totals.items()}
    owners = {p: a["id"] for a in aggregators for p in a.get("partitions", [])}
    infos = {int(p): orjson.loads(v) for p, v in partitions.items()}
    rows = []
    for partition in range(count):
        info = infos.get(partition, {})
        committed, high = info.get("committed"), info.get("high")
        lag = max(0, high - committed) if committed is not None and high is not None else None
        rows.append(
            {
                "partition": partition,
                "committed": committed,
                "high": high,
                "lag": lag,
                "owner": owners.get(partition),
            }
        )
    dropped = {reason: totals.get(f"dropped:{reason}", 0) for reason in (*DROP_REASONS, "internal_error")}
    unowned = [row["partition"] for row in rows if row["owner"] is None]
    if not aggregators:
        state, detail = "waiting", "no aggregator is running (python -m connectors.clickstream.aggregate)"
    elif not count:
        state, detail = "waiting", "the aggregators have not been assigned partitions yet"
    elif unowned:
        state, detail = "waiting", f"partitions {_ranges(unowned)} have no aggregator yet (being reassigned)"
    else:
        state, detail = "live", f"{len(aggregators)} aggregator(s), {count} partitions"
    lags = [row["lag"] for row in rows if row["lag"] is not None]
    return {
        **_state(state, detail),
        "lag": sum(lags) if lags else None,
        "messages_per_s": sum(a.get("messages_per_s", 0.0) for a in aggregators),
        "clicks_per_s": sum(a.get("clicks_per_s", 0.0) for a in aggregators),
        "received": totals.get("received", 0),
        "accepted": totals.get("accepted", 0),
        "dropped": dropped,
        "dropped_total": sum(dropped.values()),
        "aggregators": sorted(aggregators, key=lambda a: a["id"]),
        "partitions": rows,
    }


def _ranges(numbers: Iterable[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0–2, 5``."""
    spans: list[list[int]] = []
    for n in sorted(numbers):
        if spans and n == spans[-1][1] + 1:
            spans[-1][1] = n
        else:
            spans.append([n, n])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)
