"""Periodic callbacks that live exactly as long as a browser session is connected, on one clock per session.

Panel's periodic callbacks and HoloViews stream updates started before a page's websocket has connected
reschedule themselves on every tick of the server's event loop until it does: a page that is requested
but never connects (a health check, a crawler, a browser that gave up) would keep a server core busy
until Bokeh discards the session. So live views start their timers from ``pn.state.onload``, once the page
is connected, and stop them when the session is destroyed. Outside a server (a notebook, a test) the timer
starts at once.

A session's timers share one :class:`SessionClock`: one Panel periodic callback, whose tick runs every timer
that is due under one ``hold`` of the document, so that what they change leaves as one Bokeh message. Each
view on its own timer sent its own messages, one per changed property: with 20 sessions open and the
customer on screen clicking, building those messages was half the live views' server time (profiled),
most of it Bokeh's serializer indexing every model of the document once per message.

The callbacks run in the background (no busy state, no log line per tick): Panel's busy bookkeeping took a
quarter of the live views' server time with 50 sessions open (profiled), for an indicator the pages hide.
"""

from __future__ import annotations

import logging
import math
import time
import weakref
from collections.abc import Callable

import panel as pn
from bokeh.document import Document

log = logging.getLogger(__name__)


class SessionClock:
    """One periodic callback for every timer of a session, ticking at the greatest common divisor of their
    periods; a tick runs the timers that are due, together, so their changes go out in one message."""

    def __init__(self, document: Document | None) -> None:
        self._document = document
        self._timers: list[SessionTimer] = []
        self._periodic = None
        self._tick_ms = 0

    @classmethod
    def of(cls, document: Document | None) -> SessionClock:
        """The clock of ``document`` (a clock of its own for a timer without a document)."""
        if document is None:
            return cls(None)
        clock = _CLOCKS.get(document)
        if clock is None:
            clock = _CLOCKS[document] = cls(document)
        return clock

    @property
    def running(self) -> bool:
        """Whether the clock's periodic callback is scheduled."""
        return self._periodic is not None and self._periodic.running

    @property
    def tick_ms(self) -> int:
        """Milliseconds between ticks (0 while no timer is registered)."""
        return self._tick_ms

    def add(self, timer: SessionTimer) -> None:
        """Start calling ``timer`` when it is due, ticking faster if its period needs it."""
        self._timers.append(timer)
        self._schedule()

    def remove(self, timer: SessionTimer) -> None:
        """Stop calling ``timer``; the clock stops with its last timer."""
        if timer in self._timers:
            self._timers.remove(timer)
        self._schedule()

    def _schedule(self) -> None:
        tick_ms = math.gcd(*(timer.period_ms for timer in self._timers)) if self._timers else 0
        if tick_ms == self._tick_ms and (self.running or not tick_ms):
            return
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None
        self._tick_ms = tick_ms
        if tick_ms:
            self._periodic = _background_callback(self._tick, tick_ms)

    def _tick(self) -> None:
        now = time.monotonic()
        slack = self._tick_ms / 2000  # a tick a little early still counts: timers due together run together
        due = [timer for timer in self._timers if timer.due_at - slack <= now]
        if not due:
            return
        with pn.io.hold(self._document):
            for timer in due:
                timer.due_at = now + timer.period_ms / 1000
                try:
                    timer._tick()
                except Exception:  # one view's failure must not stop the others of the tick
                    log.exception("the periodic update %r failed", timer)


_CLOCKS: weakref.WeakKeyDictionary[Document, SessionClock] = weakref.WeakKeyDictionary()


class SessionTimer:
    """Call ``callback`` every ``period_ms`` while the session's page is connected.

    With ``at_start`` it is also called once as the page connects, so a view shows fresh data at once.
    """

    def __init__(self, callback: Callable[[], None], period_ms: int, at_start: bool = False):
        self._callback = callback
        self.period_ms = period_ms
        self.due_at = math.inf
        self._at_start = at_start
        self._clock: SessionClock | None = None
        self._stopped = False
        self._paused = False
        if _served(pn.state.curdoc):
            pn.state.on_session_destroyed(lambda _context: self.stop())
        pn.state.onload(self._start)

    def __repr__(self) -> str:
        return f"SessionTimer({getattr(self._callback, '__qualname__', self._callback)}, {self.period_ms} ms)"

    @property
    def running(self) -> bool:
        """Whether the callback is scheduled."""
        return self._clock is not None and self._clock.running

    @property
    def paused(self) -> bool:
        """Whether ticks skip the callback, e.g. while the view is in a collapsed card."""
        return self._paused

    @paused.setter
    def paused(self, paused: bool) -> None:
        """Pause, or resume with a call at once so the view is fresh when it shows again."""
        resumed = self._paused and not paused
        self._paused = paused
        if resumed and self.running:
            self._callback()

    def stop(self) -> None:
        """Stop for good; a tick already queued does not run the callback."""
        self._stopped = True
        if self._clock is not None:
            self._clock.remove(self)
            self._clock = None

    def _start(self) -> None:
        if self._stopped:
            return
        if self._at_start:
            self._callback()
        self.due_at = time.monotonic() + self.period_ms / 1000
        self._clock = SessionClock.of(pn.state.curdoc)
        self._clock.add(self)

    def _tick(self) -> None:
        if self.running and not self._paused:
            self._callback()


class WhenQuiet:
    """Call ``callback`` once, when the page has connected and then been left alone for ``quiet_ms``:
    :meth:`poke` (a selection, say) starts the wait again. Outside a server it is called at once.

    A page closed before then never gets it: Bokeh keeps a closed page's session for its unused-session
    lifetime (15 s), and work for it would only slow the pages still open.
    """

    def __init__(self, callback: Callable[[], None], quiet_ms: int):
        self._callback = callback
        self._quiet_ms = quiet_ms
        self._periodic = None
        self._done = False
        if _served(pn.state.curdoc):
            pn.state.on_session_destroyed(lambda _context: self.cancel())
        pn.state.onload(self._wait)

    @property
    def done(self) -> bool:
        """Whether the callback has been called (or cancelled)."""
        return self._done

    def poke(self) -> None:
        """Something happened on the page: wait ``quiet_ms`` from now."""
        if self._periodic is not None and not self._done:
            self._wait()

    def cancel(self) -> None:
        """Never call it."""
        self._done = True
        if self._periodic is not None:
            self._periodic.stop()
            self._periodic = None

    def _wait(self) -> None:
        if self._done:
            return
        if not _served(pn.state.curdoc):
            self._fire()
            return
        if self._periodic is not None:
            self._periodic.stop()
        self._periodic = _background_callback(self._fire, self._quiet_ms, count=1)

    def _fire(self) -> None:
        if self._done:
            return
        self._done = True
        self._periodic = None
        if _page_open():
            self._callback()


def _served(document: Document | None) -> bool:
    """Whether ``document`` is a server session's (not a notebook's or a test's)."""
    return document is not None and document.session_context is not None


def _background_callback(callback: Callable[[], None], period_ms: int, count: int | None = None):
    """A started Panel periodic callback without busy state or a log line per call (module docstring)."""
    periodic = pn.io.PeriodicCallback(
        callback=callback, period=period_ms, count=count, background=True, log=False
    )
    periodic.start()
    return periodic


def _page_open() -> bool:
    """Whether the current session has a connected page (always, outside a server)."""
    document = pn.state.curdoc
    context = None if document is None else document.session_context
    session = None if context is None else getattr(context, "session", None)
    return session is None or session.connection_count > 0
