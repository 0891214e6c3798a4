"""Give a closed session's memory back to the operating system, so a long-running server does not stay at
its peak.

A destroyed session's objects are freed, but CPython and glibc keep the freed pages for reuse: after 50
sessions closed, the server's resident memory stayed at its 50-session peak (measured with
``bench.sessions``; in one process, waves of 20 sessions grew it by +81, +32 and +5 MB while every store
was collected). Once sessions have been destroyed, a collection and glibc's ``malloc_trim`` return those
pages. It runs once the last open session is gone, a moment after it: a full collection with sessions still
open blocked the server for about a second (the bench's probe pages then waited for it), and their memory
is reused by the next sessions anyway.

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


def _load_trim():
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


_MALLOC_TRIM = _load_trim()
_pending: list = []  # the scheduled release, moved later by every session destroyed before it runs
_open_sessions = 0


def release_memory() -> None:
    """Collect unreachable objects and return freed heap pages to the operating system."""
    _pending.clear()
    gc.collect()  # the closed sessions' cycles: what the automatic collector would free later anyway
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _session_destroyed(_context) -> None:
    global _open_sessions
    _open_sessions -= 1
    loop = IOLoop.current()
    for handle in _pending:
        loop.remove_timeout(handle)
    _pending.clear()
    if _open_sessions <= 0:
        _pending.append(loop.call_later(SETTLE_S, release_memory))


def release_memory_when_session_ends() -> None:
    """Called while building a served page: once no session is left, memory is released."""
    global _open_sessions
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        _open_sessions += 1
        pn.state.on_session_destroyed(_session_destroyed)
