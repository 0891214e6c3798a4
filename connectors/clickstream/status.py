"""What every click source shares: its state for the health panel, and a throttle for repeated log lines.

Sources run on the click stream's background thread and hand ``RawBatch``es of message bytes to the same
pipeline (:mod:`connectors.clickstream.kafka`, :mod:`connectors.clickstream.replay`), so the embedded demo
exercises the code a Kafka deployment runs. Neither ever raises out of ``run``: a broker that is down or a
missing file is a state (:class:`SourceStatus`), retried until it recovers or the stream stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable

from connectors.clickstream.pipeline import ClickBatch, RawBatch

log = logging.getLogger(__name__)

OFFLINE = "stream offline — reconnecting"
RETRY_S = 1.0  # how often a source that cannot read looks again

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


class DropLog:
    """Logs dropped messages as one line per reason per interval, with a sample of what was dropped."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0) -> None:
        self._log = logger
        self._throttle = LogThrottle(interval_s)

    def report(self, batch: ClickBatch) -> None:
        for reason, count in batch.dropped.items():
            total = self._throttle.allow(reason, count)
            if total is not None:
                sample = batch.samples.get(reason)
                self._log.warning(
                    "dropped %d click message(s) as %s since the last report (one a reason every %.0f s); "
                    "e.g. %s",
                    total,
                    reason,
                    self._throttle.interval_s,
                    "(no value)" if sample is None else repr(sample[:200]),
                )


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
