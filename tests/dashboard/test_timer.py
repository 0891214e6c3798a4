"""Session timers run only while a page is connected: a request that never connects costs nothing."""

from __future__ import annotations

import time

import panel as pn
import pytest
from bokeh.document import Document
from panel.io.state import set_curdoc

from dashboard.timer import SessionClock, SessionTimer, WhenQuiet
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


@pytest.mark.browser
def test_when_quiet_waits_until_the_page_has_been_left_alone(page):
    pokes: list[float] = []
    calls: list[float] = []

    def app() -> pn.viewable.Viewable:
        quiet = WhenQuiet(lambda: calls.append(time.monotonic()), quiet_ms=1500)
        button = pn.widgets.Button(name="poke", css_classes=["poke"])
        button.on_click(lambda _event: (pokes.append(time.monotonic()), quiet.poke()))
        return button

    with panel_server("quiet", app) as url:
        page.goto(url)
        for _ in range(3):
            page.locator(".poke button").first.click()
        wait_until(lambda: len(pokes) == 3 and calls, timeout=30, message="the quiet callback")
        assert len(calls) == 1 and calls[0] - pokes[-1] >= 1.5  # from the last poke, not the first


@pytest.mark.browser
def test_when_quiet_is_not_called_for_a_page_closed_before(browser):
    sessions: list[object] = []  # the first is panel_server's request, which never connects
    called: list[object] = []

    def app() -> pn.viewable.Viewable:
        document = pn.state.curdoc
        sessions.append(document)
        WhenQuiet(lambda: called.append(document), quiet_ms=1500)
        return pn.pane.Markdown("quiet", css_classes=["quiet"])

    with panel_server("closed", app) as url:
        closed = browser.new_page()
        closed.goto(url)
        closed.locator(".quiet").first.wait_for(timeout=30_000)
        closed.close()
        opened = browser.new_page()  # its call comes after the closed page's was due
        opened.goto(url)
        wait_until(
            lambda: len(sessions) == 3 and sessions[2] in called, timeout=30, message="the open page's"
        )
        opened.close()
        assert called == [sessions[2]]


def test_when_quiet_outside_a_server_calls_at_once_and_once():
    calls: list[str] = []
    quiet = WhenQuiet(lambda: calls.append("built"), quiet_ms=1500)
    quiet.poke()
    assert calls == ["built"] and quiet.done
