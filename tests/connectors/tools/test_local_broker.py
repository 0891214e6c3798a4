"""The local Kafka-protocol broker: messages flow through it, and clients survive a restart on its address."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from contextlib import closing

import pytest
from confluent_kafka import Consumer, Producer

from connectors.tools.local_broker import LocalBroker
from tests.servers import wait_until

pytestmark = pytest.mark.kafka

# Without librdkafka's fallback of re-reading bootstrap.servers when all known brokers are down, clients
# only recover if the broker comes back at the address they learned from metadata, which is the point.
NO_REBOOTSTRAP = {"metadata.recovery.strategy": "none"}


def _consumer(bootstrap: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 10,  # the mock broker does not wake waiting fetches when data arrives
            **NO_REBOOTSTRAP,
        }
    )
    consumer.subscribe([topic])
    return consumer


def _received(consumer: Consumer, *values: bytes) -> Callable[[], bool]:
    """A ``wait_until`` predicate: poll once, then say whether all ``values`` have arrived so far."""
    seen: set[bytes] = set()

    def check() -> bool:
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            seen.add(message.value())
        return seen.issuperset(values)

    return check


def test_message_round_trip(kafka_broker: LocalBroker) -> None:
    topic = f"round-trip-{uuid.uuid4().hex}"
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    producer.produce(topic, b"hello")
    assert producer.flush(10) == 0

    with closing(_consumer(kafka_broker.bootstrap, topic)) as consumer:
        wait_until(_received(consumer, b"hello"), message="the produced message to be consumed")


def test_broker_advertises_its_bootstrap_address(kafka_broker: LocalBroker) -> None:
    """Clients must never learn the mock cluster's own random port, or a restart would strand them."""
    metadata = Producer({"bootstrap.servers": kafka_broker.bootstrap}).list_topics(timeout=10)
    assert {f"{broker.host}:{broker.port}" for broker in metadata.brokers.values()} == {
        kafka_broker.bootstrap
    }


def test_clients_resume_after_restart_on_same_address() -> None:
    topic = "clicks"
    with LocalBroker() as broker:
        address = broker.bootstrap
        producer = Producer({"bootstrap.servers": address, **NO_REBOOTSTRAP})
        with closing(_consumer(address, topic)) as consumer:
            producer.produce(topic, b"before")
            assert producer.flush(10) == 0
            wait_until(_received(consumer, b"before"), message="a message before the outage")

            broker.stop()
            host, _, port = address.rpartition(":")
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, int(port)), timeout=1)
            assert broker.start() == address

            producer.produce(topic, b"after")
            assert producer.flush(20) == 0
            wait_until(_received(consumer, b"after"), timeout=20, message="a message after the outage")

        with closing(_consumer(address, topic)) as newcomer:
            wait_until(_received(newcomer, b"before", b"after"), message="the log to survive the outage")


def test_broker_process_exits_when_stdin_closes() -> None:
    """A broker whose parent died without stopping it must not linger."""
    process = subprocess.Popen(
        [sys.executable, "-m", "connectors.tools.local_broker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        assert process.stdout.readline().startswith("127.0.0.1:")
        process.stdin.close()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


def test_a_topic_can_be_created_with_more_partitions_than_the_default(kafka_broker: LocalBroker) -> None:
    topic = f"wide-{uuid.uuid4().hex}"
    kafka_broker.create_topic(topic, 8)
    producer = Producer({"bootstrap.servers": kafka_broker.bootstrap})
    metadata = producer.list_topics(topic, timeout=10).topics[topic]
    assert sorted(metadata.partitions) == list(range(8))
    with pytest.raises(RuntimeError, match="1 to 1000 partitions"):
        kafka_broker.create_topic("bad", 0)
