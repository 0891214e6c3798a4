"""Keep the garbage collector from stopping a busy server or copying shared pages, and give closed
sessions' memory back.

**Pauses.** Each open page holds about 20,000 objects the collector tracks. With 50 sessions open a full
collection scanned over a million objects and blocked the server for 0.6-1.3 s, every 5-20 s while pages came
and went (``gc`` callbacks in the server under ``bench.sessions``): pages opening then waited for it. A served
process therefore runs no automatic full collection (``serve_collections``): the young generations are
collected as usual, and a loaded page's objects, moved to the oldest one, are scanned only by the server's
own full collections: once ``COLLECT_EVERY`` sessions have closed, when the last one has, and every
``COLLECT_PERIOD_S`` (garbage of pages that stay open for days).

**Shared pages.** What lives as long as the process (the modules, the services) is moved to the collector's
permanent generation for good (``freeze_for_good``) and never thawed: a collection writes into the header of
every object it scans, so a full collection that included the modules a supervisor had loaded before forking
(``dashboard.prefork``) copied 143 of their 214 MB into every process that ran one (measured at 1M customers;
CPython 3.11 can only thaw all frozen objects at once, so closed sessions' objects are not frozen).

**Memory back.** A destroyed session's objects are freed, but CPython and glibc keep the freed pages for
reuse: after 50 sessions closed, the server's resident memory stayed at its 50-session peak. Once the last
open session is gone, a moment after it, a full collection and glibc's ``malloc_trim`` return those pages;
while sessions are open, their neighbours' freed memory is reused by the next ones anyway.

``python -m dashboard`` runs the server on the C library's allocator (``PYTHONMALLOC=malloc``): CPython's
own arenas go back only when every object in them is gone, so trimming alone returned almost nothing
(in one process, three waves of 20 sessions left 593 MB at 652 MB; with the C allocator 597 MB came back
to 613-633 MB), for about 7% more time to build a page.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

import panel as pn
from tornado.ioloop import IOLoop, PeriodicCallback

SETTLE_S = 5.0  # wait this long after a session is destroyed, so a burst of closes is handled once
COLLECT_EVERY = 20  # closed sessions (a few MB each) whose garbage may wait for a full collection
COLLECT_PERIOD_S = 600.0  # and a full collection at least this often while sessions stay open
NO_AUTOMATIC_FULL = 2**30  # the oldest generation's threshold: young collections between full ones


def _load_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_MALLOC_TRIM = _load_trim()
_pending: list = []  # the scheduled collection, moved later by every session destroyed before it runs
_open_sessions = 0
_closed_since_collection = 0
_periodic: PeriodicCallback | None = None


def freeze_for_good() -> None:
    """Collect, then move everything alive to the permanent generation, which no collection here thaws:
    for what lives as long as the process (the loaded modules, the services)."""
    gc.collect()
    gc.freeze()


def serve_collections() -> None:
    """Turn off the automatic full collections of a serving process: the server runs its own, and a
    ``COLLECT_PERIOD_S`` timer on this event loop makes sure one comes."""
    global _periodic
    threshold, younger, _ = gc.get_threshold()
    gc.set_threshold(threshold, younger, NO_AUTOMATIC_FULL)
    loop = IOLoop.current()
    if _periodic is None or _periodic.io_loop is not loop:
        _periodic = PeriodicCallback(lambda: collect_garbage(), COLLECT_PERIOD_S * 1000)
        _periodic.start()


def leave_out_of_collections() -> None:
    """Collect the young generations: what survives moves to the oldest, which only ``collect_garbage``
    scans."""
    gc.collect(1)


def collect_garbage() -> None:
    """A full collection of everything but the permanent generation (closed sessions' garbage among it).
    It blocks the server for as long as it scans the open pages, so it runs rarely."""
    global _closed_since_collection
    _pending.clear()
    _closed_since_collection = 0
    gc.collect()


def release_memory() -> None:
    """Collect everything unreachable and return freed heap pages to the operating system."""
    collect_garbage()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _session_destroyed(_context) -> None:
    global _open_sessions, _closed_since_collection
    _open_sessions -= 1
    _closed_since_collection += 1
    loop = IOLoop.current()
    for handle in _pending:
        loop.remove_timeout(handle)
    _pending.clear()
    if _open_sessions <= 0:
        _pending.append(loop.call_later(SETTLE_S, release_memory))
    elif _closed_since_collection >= COLLECT_EVERY:
        _pending.append(loop.call_later(SETTLE_S, collect_garbage))


def track_session() -> None:
    """Called while building a served page: its objects leave the automatic collections once it has
    loaded, and the process's garbage and memory are handled as sessions end."""
    global _open_sessions
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        serve_collections()
        _open_sessions += 1
        pn.state.onload(leave_out_of_collections)
        pn.state.on_session_destroyed(_session_destroyed)
