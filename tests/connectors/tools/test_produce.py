"""The producer command: clicks from a file into a topic, unchanged, throttled, with clear errors."""

from __future__ import annotations

import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.tools.produce import Throttle, main
from tests.servers import free_port, wait_until

ORIGINAL_SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "clickstream_original.jsonl"


def consume_all(bootstrap: str, topic: str, count: int) -> list[bytes]:
    """The first ``count`` messages of every partition of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4().hex}"})
    with closing(consumer):
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        received: list[bytes] = []

        def all_there() -> bool:
            received.extend(m.value() for m in consumer.consume(1000, 0.2) if m.error() is None)
            assert len(received) <= count
            return len(received) == count

        wait_until(all_there, message=f"{count} messages in {topic}")
        return received


@pytest.mark.kafka
def test_command_sends_the_data_sets_clicks_unchanged(kafka_broker, sample_layout):
    topic = f"produce-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "connectors.tools.produce",
            "--bootstrap",
            kafka_broker.bootstrap,
            "--topic",
            topic,
            "--data-dir",
            str(sample_layout.root),
            "--rate",
            "5000",
            "--limit",
            "300",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "Sent 300 clicks" in result.stdout
    expected = sample_layout.clicks.read_bytes().splitlines()[:300]
    assert sorted(consume_all(kafka_broker.bootstrap, topic, 300)) == sorted(expected)


@pytest.mark.kafka
def test_loop_starts_over_at_the_end_of_the_file(kafka_broker, tmp_path):
    clicks = tmp_path / "three.jsonl"
    lines = ORIGINAL_SAMPLE.read_bytes().splitlines()[:3]
    clicks.write_bytes(b"\n".join(lines) + b"\n\n")
    topic = f"produce-{uuid.uuid4().hex[:8]}"
    argv = ["--bootstrap", kafka_broker.bootstrap, "--topic", topic, "--file", str(clicks), "--rate", "1000"]
    assert main([*argv, "--loop", "--limit", "7"]) == 0
    assert sorted(consume_all(kafka_broker.bootstrap, topic, 7)) == sorted(lines * 2 + lines[:1])


def test_unreachable_broker_is_a_clear_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--bootstrap", f"127.0.0.1:{free_port()}", "--file", str(ORIGINAL_SAMPLE)])
    assert exit_.value.code == 1
    assert "cannot reach Kafka at 127.0.0.1:" in capsys.readouterr().err


def test_missing_file_is_a_clear_error(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["--bootstrap", "127.0.0.1:9092", "--data-dir", str(tmp_path)])
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert f"no click file at {tmp_path}" in error and "python -m connectors.sample" in error


def test_a_broker_is_required(capsys, monkeypatch):
    monkeypatch.delenv("C360_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(SystemExit) as exit_:
        main(["--file", str(ORIGINAL_SAMPLE)])
    assert exit_.value.code == 2
    assert "pass --bootstrap HOST:PORT or set C360_KAFKA_BOOTSTRAP" in capsys.readouterr().err


def test_rate_must_be_positive(capsys):
    with pytest.raises(SystemExit):
        main(["--bootstrap", "127.0.0.1:9092", "--rate", "0"])
    assert "--rate must be positive" in capsys.readouterr().err


def test_throttle_releases_messages_at_the_rate():
    throttle = Throttle(rate=200, start=100.0)
    assert throttle.due(100.0) == 0
    assert throttle.due(100.5) == 100
    throttle.sent += 100
    assert throttle.due(100.5) == 0
    assert throttle.due(101.25) == 150
