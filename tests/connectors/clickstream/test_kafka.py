"""The Kafka source: its hold on the garbage collector (off while a batch is in hand, back on after), and
a partition whose log the broker lost, read again from its start."""

from __future__ import annotations

import gc
import logging

import pytest

from connectors import config
from connectors.clickstream.kafka import collecting_between_batches
from connectors.tools.local_broker import LocalBroker
from tests.sample_data import web_user
from tests.servers import wait_until


def test_the_collector_is_off_during_a_batch_and_back_on_after_it_even_after_an_error():
    assert gc.isenabled()
    with collecting_between_batches():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collecting_between_batches():
        raise RuntimeError("a batch failed")
    assert gc.isenabled()


def test_a_collector_someone_else_turned_off_stays_off():
    gc.disable()
    try:
        with collecting_between_batches():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.kafka
def test_a_partition_whose_log_was_lost_is_read_again_from_its_start(
    sample_layout, click_streams, click_message, web_users, send_messages, caplog
):
    """A broker back with an empty log: the clicks produced before librdkafka noticed are read, once."""
    with LocalBroker() as broker:
        argv = ["--data-dir", str(sample_layout.root), "--kafka-bootstrap", broker.bootstrap]
        settings = config.load([*argv, "--kafka-topic", "clicks"], environ={})
        stream = click_streams(settings)
        click = click_message(web_user(web_users, 1))
        send_messages(settings, [click] * 30, 0)
        wait_until(lambda: stream.health()["accepted"] == 30, timeout=30, message="the first 30 clicks")
        with caplog.at_level(logging.WARNING, logger="connectors.clickstream.kafka"):
            broker.restart_empty()
            send_messages(settings, [click] * 10, 0)  # offsets 0-9 of the new log
            wait_until(lambda: stream.health()["accepted"] == 40, timeout=30, message="the new log's clicks")
            send_messages(settings, [click], 0)
            wait_until(lambda: stream.health()["accepted"] >= 41, timeout=30, message="one more")
        assert stream.health()["accepted"] == 41, "nothing was read twice"
        assert "reading partition 0 of topic 'clicks'" in caplog.text and "from offset 0" in caplog.text
