"""The click pipeline's steps and its bounded state: validate, link to the customer, aggregate.

Batches of raw messages, not single messages, flow through these steps (see :mod:`connectors.clickstream.stream`):
each step is vectorised over a batch with numpy and pandas, so the per-click Python work is one orjson
decode and a handful of type checks. Everything the steps keep is bounded whatever the input: a ring of
per-100-ms counts, one last-seen slot per known customer, and the latest clicks of the most recently
active customers.

A click's time is its Kafka message timestamp (the replay source stamps "now"): the payload's
``datetime`` has no time zone and replayed files carry old dates, so it is validated but not used.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import orjson
import pandas as pd
from streamz import Stream

from connectors.catalog import PRODUCTS

MAX_MESSAGE_BYTES = 4096  # the original messages are ~250 bytes; anything this big is not a click
BUCKET_MS = 100  # rates are counted in 100 ms buckets ...
RATE_WINDOW_BUCKETS = 10  # ... and reported as clicks in the trailing second, one row per bucket
HISTORY_BUCKETS = 3000  # rows a new session starts with: the last 5 minutes
FUTURE_BUCKETS = 50  # producers' clocks may run up to 5 s ahead
GRACE_MS = 50  # a bucket is published this long after it ends, so that in-flight clicks make it
RING_BUCKETS = 4096  # > history + window + future: the ring never overwrites a bucket still served

DROP_REASONS = (
    "oversized",
    "malformed_json",
    "missing_field",
    "wrong_type",
    "unknown_product",
    "unknown_user",
)
FIELDS: dict[str, tuple[type, ...]] = {
    "user_id": (int,),
    "datetime": (str,),
    "os": (str,),
    "browser": (str,),
    "response_time_ms": (int, float),
    "product": (str,),
    "url": (str,),
}
_PRODUCT_CODES = {product: code for code, product in enumerate(PRODUCTS)}
_INT64 = 2**63


@dataclass(frozen=True)
class RawBatch:
    """Messages as a source delivers them: payload bytes (None for a tombstone) and times in ms.

    A source that must know where each click came from (the aggregators, which commit offsets) also
    gives each message's ``partition`` and ``offset``; the clicks then carry them as columns.
    """

    values: list[bytes | None]
    time_ms: np.ndarray
    partition: np.ndarray | None = None
    offset: np.ndarray | None = None

    def origins(self) -> dict[str, np.ndarray]:
        """The per-message columns besides the payload that the clicks keep."""
        found = {"time_ms": self.time_ms, "partition": self.partition, "offset": self.offset}
        return {name: np.asarray(column, np.int64) for name, column in found.items() if column is not None}


@dataclass
class ClickBatch:
    """A batch after a pipeline step: the clicks that passed so far and what was dropped, by reason."""

    clicks: pd.DataFrame
    received: int
    dropped: Counter = field(default_factory=Counter)
    samples: dict[str, bytes | None] = field(default_factory=dict)

    def drop(self, reason: str, value: bytes | None) -> None:
        self.dropped[reason] += 1
        self.samples.setdefault(reason, value)


def decode_batch(raw: RawBatch) -> ClickBatch:
    """Decode and validate a batch: clicks with ``time_ms``, ``web_user_id``, ``product`` and ``url``.

    Fast path: one orjson decode per message, the fields gathered into columns, and each column's types
    checked at C speed (``set(map(type, column))``). Only a batch that fails is checked message by
    message, to drop the bad ones and name the reason.
    """
    batch = ClickBatch(clicks=_EMPTY_CLICKS, received=len(raw.values))
    docs, origins, values = _parse(raw.values, batch), raw.origins(), raw.values
    if any(doc is None for doc in docs):
        parsed = np.fromiter((doc is not None for doc in docs), bool, len(docs))
        docs = [doc for doc in docs if doc is not None]
        origins = {name: column[parsed] for name, column in origins.items()}
        values = [v for v, ok in zip(values, parsed, strict=True) if ok]
    columns = {name: [doc.get(name) for doc in docs] for name in FIELDS}
    if not _valid_columns(columns):
        problems = [_problem(doc) for doc in docs]
        for problem, value in zip(problems, values, strict=True):
            if problem is not None:
                batch.drop(problem, value)
        valid = np.fromiter((problem is None for problem in problems), bool, len(problems))
        columns = {
            name: [x for x, ok in zip(column, valid, strict=True) if ok] for name, column in columns.items()
        }
        origins = {name: column[valid] for name, column in origins.items()}
    if columns["user_id"]:
        batch.clicks = pd.DataFrame(
            {
                "time_ms": origins.pop("time_ms"),
                "web_user_id": np.array(columns["user_id"], np.int64),
                "product": np.array([_PRODUCT_CODES[p] for p in columns["product"]], np.int8),
                "url": pd.Series(columns["url"], dtype=object),  # not pandas' slower str dtype
                **origins,
            }
        )
    return batch


def _valid_columns(columns: dict[str, list]) -> bool:
    """Whether every value of every field has its type (and every product is known)."""
    users = columns["user_id"]
    return (
        all(set(map(type, columns[name])) <= set(kinds) for name, kinds in FIELDS.items())
        and set(columns["product"]) <= _PRODUCT_CODES.keys()
        and (not users or (min(users) >= -_INT64 and max(users) < _INT64))
    )


def _parse(values: list[bytes | None], batch: ClickBatch) -> list[dict | None]:
    """JSON objects, or None where a message is dropped (recorded in ``batch``)."""
    if all(value is not None and len(value) <= MAX_MESSAGE_BYTES for value in values):
        try:
            docs = [orjson.loads(value) for value in values]
        except orjson.JSONDecodeError:
            pass
        else:
            if all(type(doc) is dict for doc in docs):
                return docs
    return [_parse_one(value, batch) for value in values]


def _parse_one(value: bytes | None, batch: ClickBatch) -> dict | None:
    if value is not None and len(value) > MAX_MESSAGE_BYTES:
        batch.drop("oversized", value)
        return None
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError:  # also a tombstone (no value at all)
        doc = None
    if type(doc) is not dict:
        batch.drop("malformed_json", value)
        return None
    return doc


def _problem(doc: dict) -> str | None:
    """Why a decoded object is not a click, or None when it is one."""
    if any(name not in doc for name in FIELDS):
        return "missing_field"
    if any(type(doc[name]) not in kinds for name, kinds in FIELDS.items()):
        return "wrong_type"
    if not -_INT64 <= doc["user_id"] < _INT64:
        return "wrong_type"
    if doc["product"] not in _PRODUCT_CODES:
        return "unknown_product"
    return None


_EMPTY_CLICKS = pd.DataFrame(
    {
        "time_ms": np.empty(0, np.int64),
        "web_user_id": np.empty(0, np.int64),
        "product": np.empty(0, np.int8),
        "url": pd.Series([], dtype=object),
    }
)


class CustomerLinks:
    """Web user id -> customer, as dense customer slots so per-customer state can live in arrays."""

    def __init__(self, web_users: pd.DataFrame | Mapping[int, int]):
        frame = _web_user_frame(web_users)
        # Sorted unique customer ids: a customer's slot is found by binary search, with no per-customer
        # Python objects (a million customers cost arrays of a few MB, not a dict of 100 MB).
        self.customer_ids, slots = np.unique(frame["customer_id"].to_numpy(np.int64), return_inverse=True)
        self._web_user_ids = frame["web_user_id"].to_numpy(np.int64)
        self._web_index = pd.Index(self._web_user_ids)
        self._slot_of_web_user = slots

    def __len__(self) -> int:
        return len(self.customer_ids)

    def slot(self, customer_id: int) -> int | None:
        """The customer's slot, or None for a customer without a web login."""
        slot = int(np.searchsorted(self.customer_ids, customer_id))
        found = slot < len(self.customer_ids) and self.customer_ids[slot] == customer_id
        return slot if found else None

    def web_user_ids(self, customer_ids: Iterable[int]) -> list[int]:
        """The web logins of these customers (one pass over the logins, however many customers)."""
        wanted = np.fromiter(customer_ids, dtype=np.int64)
        return self._web_user_ids[np.isin(self.customer_ids[self._slot_of_web_user], wanted)].tolist()

    def link(self, batch: ClickBatch) -> ClickBatch:
        """Add ``customer_id`` and ``slot``; clicks of users that are no customer are dropped."""
        clicks = batch.clicks
        found = self._web_index.get_indexer(clicks["web_user_id"].to_numpy())
        known = found >= 0
        if not known.all():
            batch.dropped["unknown_user"] += int((~known).sum())
            batch.samples.setdefault("unknown_user", _sample(clicks[~known].iloc[0]))
            clicks, found = clicks[known].reset_index(drop=True), found[known]
        slots = self._slot_of_web_user[found]
        batch.clicks = clicks.assign(customer_id=self.customer_ids[slots], slot=slots)
        return batch


def linked_clicks(raw: Stream, links: CustomerLinks) -> Stream:
    """The pipeline's first steps on a stream of ``RawBatch``es: validate, then link to the customer."""
    return raw.map(decode_batch, stream_name="validate").map(links.link, stream_name="link to customer")


def _sample(click: pd.Series) -> bytes:
    return orjson.dumps({"user_id": int(click["web_user_id"]), "url": click["url"]})


def _web_user_frame(web_users: pd.DataFrame | Mapping[int, int]) -> pd.DataFrame:
    """Validated (web_user_id, customer_id) pairs from a frame or a {web_user_id: customer_id} mapping."""
    if isinstance(web_users, Mapping):
        web_users = pd.DataFrame(
            {"web_user_id": list(web_users.keys()), "customer_id": list(web_users.values())}
        )
    missing = {"web_user_id", "customer_id"} - set(web_users.columns)
    if missing:
        raise ValueError(f"web_users needs columns web_user_id and customer_id; missing {sorted(missing)}")
    frame = web_users[["web_user_id", "customer_id"]].dropna()
    try:
        frame = frame.astype("int64")
    except (TypeError, ValueError) as error:
        raise ValueError(f"web_users: ids must be integers ({error})") from None
    return frame.drop_duplicates("web_user_id", keep="first").reset_index(drop=True)


class ClickRates:
    """Clicks per 100 ms bucket and product in a fixed ring: the state behind the live rate plots."""

    def __init__(self) -> None:
        self._counts = np.zeros((RING_BUCKETS, len(PRODUCTS)), np.int64)
        self._bucket_of_slot = np.full(RING_BUCKETS, -1, np.int64)
        self._lock = threading.Lock()

    def add(self, clicks: pd.DataFrame, now_ms: int) -> np.ndarray:
        """Count the clicks whose bucket is still within the ring; older and far-future ones are skipped.

        Returns which clicks were counted (a mask over ``clicks``).
        """
        buckets = clicks["time_ms"].to_numpy() // BUCKET_MS
        keep = within_ring(buckets, now_ms)
        products = clicks["product"].to_numpy()[keep].astype(np.int64)
        unique, index = np.unique(buckets[keep], return_inverse=True)
        counts = np.bincount(index * len(PRODUCTS) + products, minlength=len(unique) * len(PRODUCTS))
        self._update(unique, counts.reshape(len(unique), len(PRODUCTS)), add=True)
        return keep

    def put(self, buckets: np.ndarray, counts: np.ndarray) -> None:
        """Set the counts of whole buckets (rows of ``counts``, one column per product), replacing them."""
        buckets = np.asarray(buckets, np.int64)
        self._update(buckets, np.asarray(counts, np.int64).reshape(len(buckets), len(PRODUCTS)), add=False)

    def counts(self, buckets: np.ndarray) -> np.ndarray:
        """The counts of these buckets, one row each (zeros for a bucket the ring does not hold)."""
        buckets = np.asarray(buckets, np.int64)
        slots = buckets % RING_BUCKETS
        with self._lock:
            return np.where((self._bucket_of_slot[slots] == buckets)[:, None], self._counts[slots], 0)

    def _update(self, buckets: np.ndarray, counts: np.ndarray, add: bool) -> None:
        slots = buckets % RING_BUCKETS
        with self._lock:
            fresh = self._bucket_of_slot[slots] != buckets
            self._counts[slots[fresh]] = 0
            self._bucket_of_slot[slots[fresh]] = buckets[fresh]
            if add:
                self._counts[slots] += counts
            else:
                self._counts[slots] = counts

    def since(
        self, cursor: int | None, now_ms: int, complete_until_ms: int
    ) -> tuple[pd.DataFrame, int | None]:
        """Rows for the buckets published after ``cursor`` (None: the last 5 minutes), and the new cursor.

        A bucket is published once it ended ``GRACE_MS`` ago and every click up to its end has been
        delivered (``complete_until_ms``). Each row is the end of a bucket with the clicks per second
        over the second that ends there, overall (``total``) and per product.
        """
        last = (min(now_ms - GRACE_MS, complete_until_ms) // BUCKET_MS) - 1
        first = (now_ms // BUCKET_MS) - HISTORY_BUCKETS
        if cursor is not None:
            first = max(first, cursor + 1)
        if first > last:
            return rates_frame(np.empty(0, np.int64), np.empty((0, len(PRODUCTS)))), cursor
        ids = np.arange(first - RATE_WINDOW_BUCKETS + 1, last + 1)
        counts = self.counts(ids)
        cumulative = np.vstack([np.zeros((1, len(PRODUCTS)), np.int64), np.cumsum(counts, axis=0)])
        per_second = cumulative[RATE_WINDOW_BUCKETS:] - cumulative[:-RATE_WINDOW_BUCKETS]
        per_second = per_second * (1000 / (RATE_WINDOW_BUCKETS * BUCKET_MS))
        return rates_frame((ids[RATE_WINDOW_BUCKETS - 1 :] + 1) * BUCKET_MS, per_second), last


def within_ring(buckets: np.ndarray, now_ms: int) -> np.ndarray:
    """Which buckets a ring of rates keeps at ``now_ms``: the last 7 minutes, and up to 5 s ahead."""
    now = now_ms // BUCKET_MS
    return (buckets > now - RING_BUCKETS + FUTURE_BUCKETS) & (buckets <= now + FUTURE_BUCKETS)


def rates_frame(end_ms: np.ndarray, per_second: np.ndarray) -> pd.DataFrame:
    """The rate rows' shape: ``time`` (UTC), ``total`` and one column per product key."""
    frame = pd.DataFrame(per_second.astype(np.float64), columns=list(PRODUCTS))
    frame.insert(0, "total", frame.sum(axis=1))
    frame.insert(0, "time", pd.to_datetime(np.asarray(end_ms, np.int64), unit="ms"))
    return frame


class ActivityIndex:
    """Who was seen when, and the latest clicks of the most recently active customers.

    Last-seen time, product and page are kept for every known customer in arrays (fixed size). The
    latest ``clicks_per_customer`` clicks are kept for at most ``max_customers`` customers; the one
    active longest ago is forgotten first.
    """

    def __init__(self, customers: int, max_customers: int, clicks_per_customer: int) -> None:
        self.max_customers = max_customers
        self.clicks_per_customer = clicks_per_customer
        self._last_ms = np.full(customers, -1, np.int64)
        self._last_product = np.zeros(customers, np.int8)
        self._last_url = np.full(customers, "", object)
        self._recent: OrderedDict[int, deque[tuple[int, int, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, clicks: pd.DataFrame) -> None:
        """Record a linked batch (columns ``slot``, ``time_ms``, ``product``, ``url``)."""
        slots = clicks["slot"].to_numpy()
        time_ms = clicks["time_ms"].to_numpy()
        order = np.lexsort((time_ms, slots))
        sorted_slots = slots[order]
        starts = np.flatnonzero(np.r_[True, sorted_slots[1:] != sorted_slots[:-1]])
        ends = np.r_[starts[1:], len(order)]
        latest = order[ends - 1]
        urls = clicks["url"].to_numpy()
        products = clicks["product"].to_numpy()
        rows = list(zip(time_ms[order].tolist(), products[order].tolist(), urls[order], strict=True))
        keep = self.clicks_per_customer
        with self._lock:
            owners = slots[latest]
            newer = time_ms[latest] >= self._last_ms[owners]
            owners, latest = owners[newer], latest[newer]
            self._last_ms[owners] = time_ms[latest]
            self._last_product[owners] = products[latest]
            self._last_url[owners] = urls[latest]
            recent = self._recent
            for slot, start, end in zip(
                sorted_slots[starts].tolist(), starts.tolist(), ends.tolist(), strict=True
            ):
                clicks_of = recent.get(slot)
                if clicks_of is None:
                    clicks_of = recent[slot] = deque(maxlen=keep)
                else:
                    recent.move_to_end(slot)
                clicks_of.extend(rows[max(start, end - keep) : end])
            while len(recent) > self.max_customers:
                recent.popitem(last=False)

    def last(self, slot: int) -> tuple[int, int, str] | None:
        """(time_ms, product code, url) of the customer's latest click, or None if never seen."""
        with self._lock:
            if self._last_ms[slot] < 0:
                return None
            return int(self._last_ms[slot]), int(self._last_product[slot]), str(self._last_url[slot])

    def recent(self, slot: int) -> list[tuple[int, int, str]]:
        """The customer's latest clicks, oldest first."""
        with self._lock:
            clicks = list(self._recent.get(slot, ()))
        clicks.sort(key=lambda click: click[0])
        return clicks

    def seen_since(self, since_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """Slots seen at or after ``since_ms`` and their last times."""
        with self._lock:
            slots = np.flatnonzero(self._last_ms >= since_ms)
            return slots, self._last_ms[slots].copy()

    @property
    def tracked(self) -> int:
        """How many customers' latest clicks are kept right now."""
        return len(self._recent)
