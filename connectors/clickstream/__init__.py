"""The live click stream, aggregated into bounded state every session reads.

live.py         LiveState: what the views ask, whichever backend keeps the state; LastSeen
stream.py       ClickStream: one consumer per process, its streamz pipeline and the state sessions query
redis_state.py  RedisClickState: the state the aggregators keep in Redis (C360_REDIS_URL), and its writer
aggregate.py    the aggregator service: the same pipeline in a Kafka consumer group, writing into Redis
pipeline.py     the pipeline's steps (validate, link to customer, aggregate) and their bounded state
status.py       what every source shares: its state for the health panel, a log throttle
kafka.py        clicks from a Kafka topic
replay.py       clicks replayed from the generated file (the embedded default)
"""

from connectors.clickstream.live import LOOKBACK, ONLINE_WITHIN, LastSeen, LiveState
from connectors.clickstream.pipeline import (
    BUCKET_MS,
    DROP_REASONS,
    HISTORY_BUCKETS,
    RATE_WINDOW_BUCKETS,
    rates_frame,
)
from connectors.clickstream.status import OFFLINE
from connectors.clickstream.stream import ClickStream

__all__ = [
    "BUCKET_MS",
    "DROP_REASONS",
    "HISTORY_BUCKETS",
    "LOOKBACK",
    "OFFLINE",
    "ONLINE_WITHIN",
    "RATE_WINDOW_BUCKETS",
    "ClickStream",
    "LastSeen",
    "LiveState",
    "rates_frame",
]
