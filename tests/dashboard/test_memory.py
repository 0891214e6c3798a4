"""Loaded pages stay out of the collector's scans; closed sessions' garbage and memory are given back."""

from __future__ import annotations

import contextlib
import gc
import os
import weakref
from collections.abc import Iterator
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
    """The memory module's actions, recorded instead of run (they would freeze this test process)."""
    calls: dict[str, list] = {"frozen": [], "collected": [], "released": [], "destroyed": []}
    monkeypatch.setattr(memory, "SETTLE_S", 1.0)
    monkeypatch.setattr(memory, "_open_sessions", 0)
    monkeypatch.setattr(memory, "_closed_since_collection", 0)
    for name, key in [
        ("leave_out_of_collections", "frozen"),
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
        assert len(recorded["frozen"]) == 3  # each page, once it had loaded
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


class _Cycle:
    def __init__(self):
        self.me = self


def test_leaving_out_of_collections_freezes_what_is_alive(thawed):
    cycle = _Cycle()
    memory.leave_out_of_collections()
    assert gc.get_freeze_count() > 0
    assert not any(tracked is cycle for tracked in gc.get_objects())  # no longer scanned


def test_collect_garbage_frees_frozen_cycles(thawed):
    cycle = _Cycle()
    gone = weakref.ref(cycle)
    gc.freeze()
    del cycle
    gc.collect()
    assert gone() is not None  # a frozen cycle outlives the automatic collections ...
    memory.collect_garbage()
    assert gone() is None  # ... until the full collection every few closed sessions


def test_release_memory_collects_and_trims(thawed):
    assert memory._MALLOC_TRIM is not None  # glibc, as on every machine this runs on
    memory.release_memory()
