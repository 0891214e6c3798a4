"""The live click state every dashboard view asks, whichever backend keeps it.

Views (``dashboard/clicks.py``, the kiosk, the next best action) only ask a :class:`LiveState` these
questions, so they work unchanged on either backend:

- :class:`~connectors.clickstream.stream.ClickStream` (``stream.py``): this process consumes the topic (or
  the replay of the generated clicks) itself; the embedded default.
- :class:`~connectors.clickstream.redis_state.RedisClickState` (``redis_state.py``): the state the
  aggregator group (``aggregate.py``) keeps in Redis, for many dashboard processes on many machines; chosen
  by ``C360_REDIS_URL``. Such a process consumes nothing from Kafka.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pandas as pd

from connectors.catalog import PRODUCTS, label

ONLINE_WITHIN = timedelta(minutes=5)
LOOKBACK = timedelta(minutes=10)  # a consumer starting afresh rebuilds this much of the recent past
INTEREST_WINDOW = timedelta(hours=1)

Click = tuple[int, int, str]  # (time in ms, product code, url) of one click, as the state keeps it


@dataclass(frozen=True)
class LastSeen:
    """A customer's latest click: when, on which product, on which page (the URL, as sent)."""

    customer_id: int
    at: datetime
    product: str
    url: str

    @property
    def product_label(self) -> str:
        return label(self.product)

    def age(self, now: datetime | None = None) -> timedelta:
        return (now or datetime.now(timezone.utc)) - self.at

    def online(self, within: timedelta = ONLINE_WITHIN, now: datetime | None = None) -> bool:
        """Whether the customer clicked within ``within`` (default five minutes)."""
        return self.age(now) <= within


class LiveState(ABC):
    """What the website is doing now, overall and per customer; one per process, shared by sessions.

    ``health()`` returns at least ``source``, ``state`` (starting, live, waiting, offline or unavailable),
    ``status`` (that state in words), ``detail``, ``lag``, ``messages_per_s``, ``clicks_per_s``,
    ``received``, ``accepted``, ``dropped`` (by reason) and ``dropped_total``; a shared state adds
    ``aggregators`` and ``partitions``.
    """

    @property
    @abstractmethod
    def source(self) -> str:
        """Where the clicks come from: ``"kafka"``, ``"replay"`` or ``"redis"``."""

    @abstractmethod
    def start(self) -> LiveState:
        """Start following the clicks (a no-op when it runs already)."""

    @abstractmethod
    def stop(self, timeout: float = 10.0) -> None:
        """Stop following; what was gathered can still be queried."""

    @abstractmethod
    def health(self) -> dict:
        """State for the health panel (see the class docstring)."""

    @abstractmethod
    def global_rates_since(self, cursor: int | None = None) -> tuple[pd.DataFrame, int | None]:
        """Clicks per second (``total`` and per product) for each 100 ms step after ``cursor``.

        Pass None first (you get the last five minutes), then the cursor returned each time: you get
        only rows you have not seen, so a session can stream them into a plot. A row comes once all
        its clicks are in: while the source catches up (after a start or an outage) none come.
        """

    @abstractmethod
    def customer_activity(self, customer_id: int, limit: int = 50) -> pd.DataFrame:
        """The customer's latest clicks, oldest first: ``time`` (UTC), ``product``, ``label``, ``url``."""

    @abstractmethod
    def last_seen(self, customer_id: int) -> LastSeen | None:
        """The customer's latest click, or None if they have not been seen on the website."""

    @abstractmethod
    def recent_interest(self, customer_id: int, window: timedelta = INTEREST_WINDOW) -> dict[str, int]:
        """Products the customer looked at within ``window``, with click counts, most clicked first."""

    @abstractmethod
    def online_customers(self, within: timedelta = ONLINE_WITHIN) -> list[int]:
        """Customers who clicked within ``within``, most recent first."""


def activity_frame(clicks: Sequence[Click]) -> pd.DataFrame:
    """Clicks (oldest first) as ``customer_activity`` returns them."""
    products = [PRODUCTS[c[1]] for c in clicks]
    return pd.DataFrame(
        {
            "time": pd.to_datetime(pd.Series([c[0] for c in clicks], dtype="int64"), unit="ms"),
            "product": pd.Series(products, dtype=object),
            "label": pd.Series([label(p) for p in products], dtype=object),
            "url": pd.Series([c[2] for c in clicks], dtype=object),
        }
    )


def interest(clicks: Sequence[Click], window: timedelta) -> dict[str, int]:
    """Clicks per product among ``clicks`` within ``window`` of now, most clicked first."""
    since_ms = now_ms() - int(window.total_seconds() * 1000)
    return dict(Counter(PRODUCTS[p] for t, p, _ in clicks if t >= since_ms).most_common())


def now_ms() -> int:
    return int(time.time() * 1000)


def utc(time_ms: int) -> datetime:
    return datetime.fromtimestamp(time_ms / 1000, timezone.utc)
