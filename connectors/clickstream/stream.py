"""The process-wide live click stream: one consumer per server process, read by every browser session.

A background thread takes batches of messages from a source (a Kafka topic, or a replay of the generated
clicks when ``C360_KAFKA_BOOTSTRAP`` is unset) and pushes them through a streamz pipeline::

    raw batches ─ validate ─ link to customer ─┬─ clicks per second, overall and per product,
                                               │  then per-customer last seen and latest clicks,
                                               │  then the health counters (received, dropped by reason)
                                               └─ ``accepted``: a stream of accepted click frames

into bounded state. Sessions never subscribe to anything: each pulls what is new on its own timer
(``global_rates_since(cursor)``, ``customer_activity(...)``), so the consumer thread never touches a
Bokeh model and a closed session leaves nothing behind. The pipeline runs synchronously on the consumer
thread, never on the server's event loop, which streamz's ``from_kafka`` would block.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from operator import attrgetter

import pandas as pd
from streamz import Stream

from connectors.catalog import PRODUCTS
from connectors.clickstream.kafka import KafkaSource
from connectors.clickstream.live import (
    INTEREST_WINDOW,
    LOOKBACK,
    ONLINE_WITHIN,
    LastSeen,
    LiveState,
    activity_frame,
    interest,
    now_ms,
    utc,
)
from connectors.clickstream.pipeline import (
    DROP_REASONS,
    ActivityIndex,
    ClickBatch,
    ClickRates,
    CustomerLinks,
    RawBatch,
    linked_clicks,
)
from connectors.clickstream.replay import ReplaySource
from connectors.clickstream.status import OFFLINE, DropLog, SourceStatus
from connectors.config import Settings
from connectors.layout import Layout

log = logging.getLogger(__name__)

RATE_SPAN_S = 5.0  # messages/s in the health panel: averaged over this many seconds
STATUS_TEXT = {
    "starting": "connecting…",
    "live": "live",
    "waiting": "waiting for clicks",
    "offline": OFFLINE,
    "unavailable": "no click data",
}


class ClickStream(LiveState):
    """One live click stream for the whole process; start it once, query it from any session.

    ``web_users`` maps web user ids to customers (a frame with ``web_user_id`` and ``customer_id``, or a
    ``{web_user_id: customer_id}`` mapping); clicks of other users are dropped as ``unknown_user``.
    ``featured`` customers are kept visibly browsing by the replay source, and the clicks of customers who
    ``left`` the bank are not replayed (restamped now, their history would show them online).
    """

    def __init__(
        self,
        settings: Settings,
        web_users: pd.DataFrame | Mapping[int, int],
        featured: Sequence[int] = (),
        left: Iterable[int] = (),
        *,
        lookback: timedelta = LOOKBACK,
        max_customers: int = 20_000,
        clicks_per_customer: int = 50,
    ) -> None:
        self.settings = settings
        self._links = CustomerLinks(web_users)
        self._rates = ClickRates()
        self._activity = ActivityIndex(len(self._links), max_customers, clicks_per_customer)
        self._status = SourceStatus()
        if settings.kafka_bootstrap:
            self._source: KafkaSource | ReplaySource = KafkaSource(settings, lookback, self._status)
        else:
            self._source = ReplaySource(
                Layout(settings.data_dir),
                settings.replay_rate,
                lookback,
                self._links.web_user_ids(featured),
                settings.seed,
                self._status,
                left_web_users=self._links.web_user_ids(left),
                cache=settings.index_folder,
            )
        self._counts_lock = threading.Lock()
        self._received = self._accepted = 0
        self._dropped: Counter = Counter()
        self._recent_batches: deque[tuple[float, int, int]] = deque(maxlen=256)
        self._drop_log = DropLog(log)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

        self._raw = Stream(stream_name="raw click batches")
        linked = linked_clicks(self._raw, self._links)
        self._sinks = [linked.sink(self._take)]
        self.accepted = linked.map(attrgetter("clicks"), stream_name="accepted clicks")
        """Accepted click frames (time_ms, web_user_id, product code, url, customer_id, slot), as they
        pass: add ``.sink(fn)`` for more processing; it runs on the consumer thread, so keep it fast."""

    @property
    def source(self) -> str:
        """``"kafka"`` or ``"replay"``."""
        return self._source.kind

    def start(self) -> ClickStream:
        """Start the background thread (a no-op when it runs already)."""
        if self._stopping.is_set():
            raise RuntimeError("a stopped ClickStream cannot start again; create a new one")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="click-stream", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread, close the consumer and detach the pipeline; the state can still be queried."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        for sink in self._sinks:  # streamz keeps every sink alive in a global set until destroyed
            sink.destroy()
        self._sinks.clear()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._source.run(self._stopping, self._emit)
                return
            except Exception:  # never let the stream die: log, show offline, start the source again
                log.exception("click stream source failed; restarting it")
                self._status.set("offline", "the click source failed and is restarting (see the log)")
                self._stopping.wait(1.0)

    def _emit(self, raw: RawBatch) -> None:
        try:
            self._raw.emit(raw)
        except Exception:
            log.exception("click pipeline failed on a batch of %d messages", len(raw.values))
            with self._counts_lock:
                self._received += len(raw.values)
                self._dropped["internal_error"] += len(raw.values)

    def _take(self, batch: ClickBatch) -> None:
        """Rates and activity first, counts last: a click that health counts as accepted is queryable."""
        if len(batch.clicks):
            self._rates.add(batch.clicks, now_ms())
            self._activity.add(batch.clicks)
        with self._counts_lock:
            self._received += batch.received
            self._accepted += len(batch.clicks)
            self._dropped.update(batch.dropped)
            self._recent_batches.append((time.monotonic(), batch.received, len(batch.clicks)))
        self._drop_log.report(batch)

    def health(self) -> dict:
        """State for the health panel: source, state, lag, messages/s, dropped by reason."""
        state, detail, lag = self._status.snapshot()
        now = time.monotonic()
        with self._counts_lock:
            recent = [(t, r, a) for t, r, a in self._recent_batches if now - t <= RATE_SPAN_S]
            received, accepted, dropped = self._received, self._accepted, dict(self._dropped)
        return {
            "source": self.source,
            "state": state,
            "status": STATUS_TEXT[state],
            "detail": detail,
            "lag": lag,
            "messages_per_s": sum(r for _, r, _ in recent) / RATE_SPAN_S,
            "clicks_per_s": sum(a for _, _, a in recent) / RATE_SPAN_S,
            "received": received,
            "accepted": accepted,
            "dropped": {reason: dropped.get(reason, 0) for reason in (*DROP_REASONS, "internal_error")},
            "dropped_total": sum(dropped.values()),
            "tracked_customers": self._activity.tracked,
        }

    def global_rates_since(self, cursor: int | None = None) -> tuple[pd.DataFrame, int | None]:
        return self._rates.since(cursor, now_ms(), self._status.complete_until_ms)

    def customer_activity(self, customer_id: int, limit: int = 50) -> pd.DataFrame:
        slot = self._links.slot(customer_id)
        clicks = self._activity.recent(slot)[-limit:] if slot is not None and limit > 0 else []
        return activity_frame(clicks)

    def last_seen(self, customer_id: int) -> LastSeen | None:
        slot = self._links.slot(customer_id)
        last = None if slot is None else self._activity.last(slot)
        if last is None:
            return None
        time_ms, product, url = last
        return LastSeen(int(customer_id), utc(time_ms), PRODUCTS[product], url)

    def recent_interest(self, customer_id: int, window: timedelta = INTEREST_WINDOW) -> dict[str, int]:
        """Counted over the customer's latest clicks kept in memory (``clicks_per_customer``, default 50)."""
        slot = self._links.slot(customer_id)
        return {} if slot is None else interest(self._activity.recent(slot), window)

    def online_customers(self, within: timedelta = ONLINE_WITHIN) -> list[int]:
        slots, last_ms = self._activity.seen_since(now_ms() - int(within.total_seconds() * 1000))
        order = last_ms.argsort(kind="stable")[::-1]
        return [int(c) for c in self._links.customer_ids[slots[order]]]
