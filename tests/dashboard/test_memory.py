"""A closed session's memory goes back to the operating system once the session is destroyed."""

from __future__ import annotations

import os
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


@pytest.mark.browser
def test_memory_is_released_once_the_last_session_has_ended(page, monkeypatch):
    releases: list[int] = []
    destroyed: list[object] = []
    monkeypatch.setattr(memory, "SETTLE_S", 1.0)
    monkeypatch.setattr(memory, "_open_sessions", 0)
    monkeypatch.setattr(memory, "release_memory", lambda: releases.append(len(destroyed)))

    def app() -> pn.viewable.Viewable:
        memory.release_memory_when_session_ends()
        pn.state.on_session_destroyed(destroyed.append)
        return pn.pane.Markdown("served", css_classes=["served"])

    # sessions count as unused after 3 s: long enough for a loaded machine to connect a page's websocket
    options = {"unused_session_lifetime_milliseconds": 3000, "check_unused_sessions_milliseconds": 500}
    with panel_server("app", app, **options) as url:
        staying = page.context.new_page()
        staying.goto(url)
        staying.locator(".served").first.wait_for(timeout=30_000)
        for _ in range(2):  # pages that come and go while one stays open
            page.goto(url)
            page.locator(".served").first.wait_for(timeout=30_000)
        page.goto("about:blank")
        wait_until(lambda: len(destroyed) >= 3, timeout=30, message="the closed pages' sessions end")
        assert releases == []  # a session is still open: its neighbours' memory is reused, not released

        staying.close()
        wait_until(lambda: releases, timeout=30, message="memory released after the last session ended")
        assert releases == [len(destroyed)]  # once, after the last, not once a session


def test_release_memory_collects_and_trims():
    assert memory._MALLOC_TRIM is not None  # glibc, as on every machine this runs on
    memory.release_memory()
