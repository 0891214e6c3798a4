"""The live click stream: one consumer per server process, aggregated into bounded state every session reads.

stream.py    ClickStream: the background consumer, its streamz pipeline and the state sessions query
pipeline.py  the pipeline's steps (validate, link to customer, aggregate) and their bounded state
status.py    what every source shares: its state for the health panel, a log throttle
kafka.py     clicks from a Kafka topic
replay.py    clicks replayed from the generated file (the embedded default)
"""

from connectors.clickstream.pipeline import (
    BUCKET_MS,
    DROP_REASONS,
    HISTORY_BUCKETS,
    RATE_WINDOW_BUCKETS,
    rates_frame,
)
from connectors.clickstream.status import OFFLINE
from connectors.clickstream.stream import ONLINE_WITHIN, ClickStream, LastSeen

__all__ = [
    "BUCKET_MS",
    "DROP_REASONS",
    "HISTORY_BUCKETS",
    "OFFLINE",
    "ONLINE_WITHIN",
    "RATE_WINDOW_BUCKETS",
    "ClickStream",
    "LastSeen",
    "rates_frame",
]
