"""Session timers run only while a page is connected: a request that never connects costs nothing."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from dashboard.timer import SessionClock, SessionTimer
from tests.servers import panel_server, wait_until


@pytest.mark.browser
def test_timers_start_when_a_page_connects_and_never_for_a_bare_request(page):
    sessions: list[tuple[object, SessionTimer, list[int]]] = []

    def app() -> pn.viewable.Viewable:
        ticks: list[int] = []
        timer = SessionTimer(lambda: ticks.append(len(ticks)), period_ms=100)
        sessions.append((pn.state.curdoc, timer, ticks))
        return pn.pane.Markdown("ticking", css_classes=["ticking"])

    with panel_server("timer", app) as url:  # its first request is a health check, never connected
        page.goto(url)
        page.locator(".ticking").first.wait_for(timeout=30_000)
        wait_until(lambda: len(sessions) == 2 and len(sessions[1][2]) >= 5, message="the page's timer ticks")

        document, bare, ticks = sessions[0]
        assert not bare.running and ticks == []
        assert not document.session_callbacks  # nothing rescheduling itself while it waits for a connection
        assert sessions[1][1].running


def test_outside_a_server_the_timer_starts_at_once_and_stops_for_good():
    calls: list[str] = []
    timer = SessionTimer(lambda: calls.append("tick"), period_ms=1000, at_start=True)
    assert calls == ["tick"] and timer.running
    timer.stop()
    assert not timer.running


def test_a_paused_timer_skips_ticks_and_calls_once_on_resume():
    calls: list[str] = []
    timer = SessionTimer(lambda: calls.append("tick"), period_ms=1000)
    timer.paused = True
    timer._tick()
    assert calls == [] and timer.running
    timer.paused = False
    assert calls == ["tick"]
    timer.paused = False  # not a resume: no extra call
    assert calls == ["tick"]
    timer.stop()


def test_a_sessions_timers_share_one_clock_and_what_a_tick_changes_leaves_together():
    document = Document()
    calls: list[tuple[str, object]] = []
    with set_curdoc(document):
        fast = SessionTimer(lambda: calls.append(("fast", document.callbacks.hold_value)), period_ms=1000)
        slow = SessionTimer(lambda: calls.append(("slow", document.callbacks.hold_value)), period_ms=2500)
        clock = SessionClock.of(document)
        assert clock.running and clock.tick_ms == 500  # one periodic callback, as often as both need
        fast.due_at = slow.due_at = 0.0
        clock._tick()
        assert calls == [("fast", "combine"), ("slow", "combine")]  # under one hold: one Bokeh message
        clock._tick()
        assert len(calls) == 2  # neither is due again yet
        fast.stop()
        assert clock.tick_ms == 2500 and clock.running and not fast.running
        slow.stop()
        assert not clock.running


def test_a_failing_timer_does_not_stop_the_others_of_its_tick(caplog):
    document = Document()
    calls: list[str] = []

    def fails() -> None:
        raise RuntimeError("broken view")

    with set_curdoc(document):
        broken = SessionTimer(fails, period_ms=1000)
        working = SessionTimer(lambda: calls.append("tick"), period_ms=1000)
        broken.due_at = working.due_at = 0.0
        SessionClock.of(document)._tick()
        assert calls == ["tick"] and "broken view" in caplog.text
        broken.stop()
        working.stop()
