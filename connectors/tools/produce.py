"""Replay click messages into a Kafka topic at a steady rate, like the original demo's throttled producer.

    python -m connectors.tools.produce --bootstrap HOST:PORT --topic clicks --rate 1000 [--file F] [--limit N] [--loop]

Each line of the file (by default the generated ``clicks/clickstream.jsonl``; any file in the original
message format works) is sent unchanged as one message; Kafka stamps it with the send time, which the
dashboard uses as the click's time. ``--loop`` starts over at the end of the file.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException, Producer

from connectors import config
from connectors.config import Settings
from connectors.layout import Layout

CHUNK = 10_000  # at most this many messages per throttle tick
TICK_S = 0.01


class ProduceError(Exception):
    """The clicks cannot be sent; the message says why and what to check."""


class Throttle:
    """How many messages are due so far at ``rate`` per second, so sending never runs ahead."""

    def __init__(self, rate: float, start: float) -> None:
        self.rate = rate
        self.start = start
        self.sent = 0

    def due(self, now: float) -> int:
        return max(0, int((now - self.start) * self.rate) - self.sent)


def lines(path: Path, loop: bool = False) -> Iterator[bytes]:
    """The file's non-empty lines without line ends, over and over with ``loop``."""
    while True:
        found = False
        with path.open("rb") as file:
            for line in file:
                line = line.rstrip(b"\r\n")
                if line.strip():
                    found = True
                    yield line
        if not loop or not found:
            return


def check_reachable(servers: Sequence[str], timeout: float = 3.0) -> None:
    """Fail fast with a clear message when no bootstrap server accepts a TCP connection."""
    problems = []
    for server in servers:
        host, _, port = server.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
        except OSError as error:
            problems.append(f"{server} ({error.strerror or error})")
        else:
            return
    raise ProduceError(f"cannot reach Kafka at {', '.join(problems)}: is the broker running?")


def produce(
    settings: Settings,
    messages: Iterator[bytes],
    rate: float,
    limit: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Send ``messages`` to the settings' topic at ``rate`` per second; return how many were delivered."""
    check_reachable(settings.kafka_servers)
    failures: Counter[str] = Counter()

    def delivered(error: KafkaError | None, _message: object) -> None:
        if error is not None:
            failures[error.str()] += 1

    producer = Producer(
        {
            "linger.ms": 5,
            **settings.kafka_options,
            "bootstrap.servers": settings.kafka_bootstrap,
            "on_delivery": delivered,
        }
    )
    try:
        producer.list_topics(timeout=10)
    except KafkaException as error:
        raise ProduceError(
            f"cannot talk to Kafka at {settings.kafka_bootstrap}: {error.args[0].str()}"
        ) from None
    throttle = Throttle(rate, clock())
    while limit is None or throttle.sent < limit:
        due = min(throttle.due(clock()), CHUNK, (limit - throttle.sent) if limit is not None else CHUNK)
        batch = list(islice(messages, due))
        for value in batch:
            _send(producer, settings.kafka_topic, value)
        throttle.sent += len(batch)
        if len(batch) < due:  # the file is exhausted
            break
        producer.poll(0 if due else TICK_S)
    if producer.flush(30) or failures:
        undelivered = len(producer) + failures.total()
        reason = f": {failures.most_common(1)[0][0]}" if failures else ""
        raise ProduceError(f"{undelivered:,} of {throttle.sent:,} clicks were not delivered{reason}")
    return throttle.sent


def _send(producer: Producer, topic: str, value: bytes) -> None:
    while True:
        try:
            producer.produce(topic, value)
            return
        except BufferError:  # the local queue is full: let librdkafka deliver some first
            producer.poll(0.1)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: replay clicks into a topic."""
    parser = argparse.ArgumentParser(
        prog="python -m connectors.tools.produce", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--bootstrap",
        dest="kafka_bootstrap",
        metavar="HOST:PORT",
        help="Kafka cluster (same as --kafka-bootstrap)",
    )
    parser.add_argument(
        "--topic", dest="kafka_topic", metavar="TOPIC", help="topic to send to (same as --kafka-topic)"
    )
    config.add_arguments(parser, only=["kafka_bootstrap", "kafka_topic", "kafka_config", "data_dir"])
    parser.add_argument("--rate", type=float, default=1000.0, help="clicks per second (default 1000)")
    parser.add_argument("--file", type=Path, help="click file (default: the data set's clicks)")
    parser.add_argument("--limit", type=int, help="stop after this many clicks")
    parser.add_argument("--loop", action="store_true", help="start over at the end of the file")
    args = parser.parse_args(argv)
    if not args.rate > 0:
        parser.error(f"--rate must be positive, got {args.rate:g}")
    if args.limit is not None and args.limit < 0:
        parser.error(f"--limit must not be negative, got {args.limit}")
    settings = config.load_or_exit(parser, args)
    if not settings.kafka_bootstrap:
        parser.exit(
            2, "error: no Kafka cluster given: pass --bootstrap HOST:PORT or set C360_KAFKA_BOOTSTRAP\n"
        )
    path = args.file or Layout(settings.data_dir).clicks
    if not path.is_file():
        hint = (
            "" if args.file else " (generate a data set with `python -m connectors.sample`, or pass --file)"
        )
        parser.exit(2, f"error: no click file at {path}{hint}\n")
    started = time.monotonic()
    try:
        sent = produce(settings, lines(path, args.loop), args.rate, args.limit)
    except ProduceError as error:
        parser.exit(1, f"error: {error}\n")
    except KeyboardInterrupt:
        return 130
    elapsed = time.monotonic() - started
    print(
        f"Sent {sent:,} clicks from {path} to topic {settings.kafka_topic!r} on {settings.kafka_bootstrap} "
        f"in {elapsed:.1f} s ({sent / max(elapsed, 1e-9):,.0f}/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
