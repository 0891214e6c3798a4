"""Keep the garbage collector from stopping a busy server, and give closed sessions' memory back.

**Pauses.** Each open page holds about 20,000 objects the collector tracks. With 50 sessions open a full
collection scanned over a million objects and blocked the server for 0.6-1.3 s, every 5-20 s while pages came
and went (``gc`` callbacks in the server under ``bench.sessions``): pages opening then waited for it. Once a page has loaded, its
objects are moved to the collector's permanent generation (``gc.freeze``), so the automatic collections
scan only what is new. A closed session's garbage is then frozen too: it is collected in one full
collection once ``COLLECT_EVERY`` sessions have closed, which bounds what waits.

Loaded pages have to be frozen, not merely kept out of the automatic collections: Bokeh runs a full
collection after every destroyed session that has destroy callbacks (``document_lifecycle``), and Panel
schedules one after every destroyed document (``panel.io.document._garbage_collect``). Leaving the pages in
the oldest generation with the automatic full collections off, so that nothing ever thawed the modules a
supervisor shares with its forked processes (``dashboard.prefork``), was measured: a forked second process
fell from 375 to 247-260 MB at 1M customers, but with 50 sessions open each close scanned them all, and
``bench.sessions`` went from 2,578 to 4,740 ms first render p95 and 250 to 592 ms select p95.

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
from tornado.ioloop import IOLoop

SETTLE_S = 5.0  # wait this long after a session is destroyed, so a burst of closes is handled once
COLLECT_EVERY = 20  # closed sessions (a few MB each) whose garbage may wait for a full collection


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


def leave_out_of_collections() -> None:
    """Collect the young generations, then freeze what is alive: it is no longer scanned automatically."""
    gc.collect(1)
    gc.freeze()


def collect_garbage() -> None:
    """A full collection that includes frozen objects (closed sessions' garbage); the survivors are frozen
    again. It blocks the server for as long as it scans, so it runs rarely: once the services are built,
    and then every ``COLLECT_EVERY`` closed sessions."""
    global _closed_since_collection
    _pending.clear()
    _closed_since_collection = 0
    gc.unfreeze()
    gc.collect()
    gc.freeze()


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
        _open_sessions += 1
        pn.state.onload(leave_out_of_collections)
        pn.state.on_session_destroyed(_session_destroyed)
