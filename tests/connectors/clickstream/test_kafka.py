"""The Kafka source's hold on the garbage collector: off while a batch is in hand, back on after."""

from __future__ import annotations

import gc

import pytest

from connectors.clickstream.kafka import collecting_between_batches


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
