"""Dashboard processes forked from a supervisor that has imported, once, what every one of them runs.

Started with ``exec``, each process of ``python -m dashboard --processes N`` would import Panel,
HoloViews, Bokeh's server, Datashader and DuckDB again: 2.4 s of every start and 210 MB of its own heap
(measured at 1M customers, scikit-learn then still among them). Forked from a supervisor that imported
them (``preload``), a process starts with those modules loaded and shares their pages with its siblings
copy-on-write. They are frozen out of the garbage collector before the fork (``gc.freeze``), so the
automatic collections leave their pages alone; a full collection still scans them
(``dashboard.memory.collect_garbage`` unfreezes everything, as CPython 3.11 can only unfreeze all at once)
and copied 143 of their 214 MB into the process that ran it, measured: the sharing saves the import time
and the rest.

Only modules are loaded before the fork, never a connection or a thread: the directory's DuckDB and
SQLite connections, the models, the click stream and its threads are opened by each process for itself,
as before (a forked SQLite or DuckDB handle, or a thread that did not survive the fork, would break it).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable

POLL_S = 0.05
_preloaded = False


def preload() -> None:
    """Import the dashboard, Panel's command and the Bokeh server, then freeze what is alive."""
    global _preloaded
    import bokeh.command.subcommands.serve  # noqa: F401  (what ``panel serve`` runs)
    import panel.command  # noqa: F401

    import dashboard.app  # Panel, the models, the connectors
    import dashboard.heatmap  # HoloViews (the app imports these two with its first heatmap and map)
    import dashboard.map  # noqa: F401  (Datashader)

    gc.collect()
    gc.freeze()
    _preloaded = True


def can_fork() -> bool:
    """Whether a child can be forked: the modules are loaded and no other thread runs (a thread's locks,
    held at the moment of the fork, would stay held in the child for ever)."""
    return _preloaded and threading.active_count() == 1


def serve_panel() -> None:
    """What a forked dashboard process runs: ``panel serve`` with the ``sys.argv`` it was given."""
    from panel.command import main

    main()


class Forked:
    """A forked process, with the part of ``subprocess.Popen`` the supervisor uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            with contextlib.suppress(ChildProcessError):
                pid, status = os.waitpid(self.pid, os.WNOHANG)
                if pid == 0:
                    return None
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(POLL_S)
        return self.returncode


def fork(
    run: Callable[[], object], environment: dict[str, str], argv: list[str], before: Callable[[], None]
) -> Forked:
    """Run ``run()`` in a forked process with this ``environment`` and ``sys.argv``, in a session of its
    own, stdin closed and the signals as ``exec`` would leave them; ``before`` runs first in the child.

    The child never returns into the supervisor's code: it runs its exit handlers (the services' close),
    then exits with ``run``'s exit status.
    """
    if not can_fork():
        raise RuntimeError("forking a dashboard process before preload() or with other threads running")
    pid = os.fork()
    if pid:
        return Forked(pid)
    code = 1
    try:
        os.setsid()
        before()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        logging.root.handlers.clear()  # the child configures its own logging, as a started one does
        os.environ.clear()
        os.environ.update(environment)
        sys.argv = list(argv)
        run()
        code = 0
    except SystemExit as ended:
        code = ended.code if isinstance(ended.code, int) else (0 if ended.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()  # what the interpreter's exit would run; os._exit skips it
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)
