"""Loaded pages stay out of the collector's scans; closed sessions' garbage and memory are given back."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import panel as pn
import pytest

from dashboard import memory
from tests.servers import panel_server, wait_until


def test_the_served_dashboard_runs_on_the_c_allocator(dashboard_server):
    if "PYTHONMALLOC" in os.environ:
        pytest.skip("an allocator chosen in the environment is kept")
    environment = Path(f"/proc/{dashboard_server.process.pid}/environ").read_bytes().split(b"\0")
    assert b"PYTHONMALLOC=malloc" in environment


@pytest.fixture
def recorded(monkeypatch) -> dict[str, list]:
    """The memory module's actions, recorded instead of run (they would change this test process's collector)."""
    calls: dict[str, list] = {"served": [], "left_out": [], "collected": [], "released": [], "destroyed": []}
    monkeypatch.setattr(memory, "SETTLE_S", 1.0)
    monkeypatch.setattr(memory, "_open_sessions", 0)
    monkeypatch.setattr(memory, "_closed_since_collection", 0)
    for name, key in [
        ("serve_collections", "served"),
        ("leave_out_of_collections", "left_out"),
        ("collect_garbage", "collected"),
        ("release_memory", "released"),
    ]:
        monkeypatch.setattr(memory, name, lambda key=key: calls[key].append(len(calls["destroyed"])))
    return calls


# sessions count as unused after 3 s: long enough for a loaded machine to connect a page's websocket
SESSION_OPTIONS = {"unused_session_lifetime_milliseconds": 3000, "check_unused_sessions_milliseconds": 500}


@contextlib.contextmanager
def _one_page_stays_while_two_come_and_go(page, recorded: dict[str, list]) -> Iterator:
    """Serve a page that tracks its session; yields the page that stays open once two others have gone."""

    def app() -> pn.viewable.Viewable:
        memory.track_session()
        pn.state.on_session_destroyed(recorded["destroyed"].append)
        return pn.pane.Markdown("served", css_classes=["served"])

    with panel_server("app", app, **SESSION_OPTIONS) as url:
        staying = page.context.new_page()
        staying.goto(url)
        staying.locator(".served").first.wait_for(timeout=30_000)
        for _ in range(2):
            page.goto(url)
            page.locator(".served").first.wait_for(timeout=30_000)
        page.goto("about:blank")
        yield staying


@pytest.mark.browser
def test_memory_is_released_once_the_last_session_has_ended(page, recorded):
    releases, destroyed = recorded["released"], recorded["destroyed"]
    with _one_page_stays_while_two_come_and_go(page, recorded) as staying:
        wait_until(lambda: len(destroyed) >= 3, timeout=30, message="the closed pages' sessions end")
        assert releases == []  # a session is still open: its neighbours' memory is reused, not released
        assert recorded["served"]  # the server's own full collections, from the first page on
        assert len(recorded["left_out"]) == 3  # each page, once it had loaded
        assert recorded["collected"] == []  # fewer than COLLECT_EVERY sessions have closed

        staying.close()
        wait_until(lambda: releases, timeout=30, message="memory released after the last session ended")
        assert releases == [len(destroyed)]  # once, after the last, not once a session


@pytest.mark.browser
def test_garbage_is_collected_every_few_closed_sessions_while_others_stay_open(page, recorded, monkeypatch):
    monkeypatch.setattr(memory, "COLLECT_EVERY", 2)
    with _one_page_stays_while_two_come_and_go(page, recorded) as staying:
        wait_until(lambda: recorded["collected"], timeout=30, message="a collection after two closes")
        assert recorded["collected"][0] >= 2
        assert recorded["released"] == []
        staying.close()


@pytest.fixture
def thawed():
    """Unfreeze the collector afterwards: frozen objects of this process would outlive other tests."""
    yield
    gc.unfreeze()


@pytest.fixture
def automatic_collections():
    """The collector's thresholds and the periodic collection put back as they were."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    if memory._periodic is not None:
        memory._periodic.stop()
        memory._periodic = None


class _Cycle:
    def __init__(self):
        self.me = self


def _full_collections_while_many_objects_survive() -> int:
    """How many full collections run on their own while a million containers survive the young ones."""
    full = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(info)

    gc.callbacks.append(count)
    try:
        survivors = [[] for _ in range(len(gc.get_objects()) + 1_000_000)]
        del survivors
    finally:
        gc.callbacks.remove(count)
    return len(full)


def test_a_served_process_runs_no_full_collection_of_its_own(automatic_collections):
    assert _full_collections_while_many_objects_survive() > 0  # CPython's own, with its thresholds

    async def served() -> int:
        memory.serve_collections()
        return _full_collections_while_many_objects_survive()

    with ThreadPoolExecutor(1) as thread:  # an event loop of its own, as a server's
        assert thread.submit(asyncio.run, served()).result() == 0
    assert memory._periodic.callback_time == memory.COLLECT_PERIOD_S * 1000  # the server's own instead


def test_leaving_out_of_collections_moves_a_loaded_page_to_the_oldest_generation():
    cycle = _Cycle()
    memory.leave_out_of_collections()
    assert any(tracked is cycle for tracked in gc.get_objects(2))
    del cycle


def test_collect_garbage_frees_cycles_but_leaves_what_was_frozen_for_good(thawed):
    kept = _Cycle()
    kept_ref = weakref.ref(kept)
    memory.freeze_for_good()
    del kept
    page = _Cycle()
    page_ref = weakref.ref(page)
    memory.leave_out_of_collections()
    del page
    memory.collect_garbage()
    assert page_ref() is None  # a closed page's garbage goes at the server's full collection
    assert kept_ref() is not None  # the frozen never thaw


def test_release_memory_collects_and_trims():
    assert memory._MALLOC_TRIM is not None  # glibc, as on every machine this runs on
    memory.release_memory()
