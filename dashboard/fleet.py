"""`python -m dashboard --processes N`: N dashboard processes behind HAProxy, and someone to look after them.

Each process is an independent `panel serve` on a port of its own (``C360_BACKEND_PORT`` on) with the same
settings, forked from the supervisor once it has imported the dashboard's modules (``dashboard.prefork``:
they are loaded once and their pages shared); none holds state another needs: the directory's build is
opened read-only by each process, the models are each process's copy of the same files, and the live
click state is in Redis when ``C360_REDIS_URL`` is set (otherwise each process reads the topic, or the
replay, itself). HAProxy (``dashboard/proxy.py``) on PORT keeps a page and its
websocket on one process and sends new pages to the least busy one.

The supervisor restarts a process that dies (after 1, 2, 4 … 30 s when it keeps dying at start) and
HAProxy likewise; meanwhile HAProxy has taken the dead process out of the rotation, and its pages,
reloaded (the kiosk reloads itself), are served by the others. SIGTERM or Ctrl-C stops everything.
With ``--proxy none`` only the processes run, for a proxy on another machine (see the README).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path

from connectors.config import Settings
from connectors.directory import builder
from connectors.directory.banking import CoreBanking
from dashboard import prefork
from dashboard.proxy import CHECK_PATH, HAPROXY_MISSING, Server, find_haproxy, haproxy_config
from dashboard.serve import serve_arguments, serve_environment

log = logging.getLogger(__name__)

TICK_S = 0.5
BACKOFF_MAX_S = 30.0
STABLE_S = 60.0  # a child that ran this long before dying is restarted at once
STOP_TIMEOUT_S = 20.0
_PR_SET_PDEATHSIG = 1


def prepare_shared_directory(settings: Settings) -> None:
    """Build what every dashboard process shares, once, before any of them starts: the directory's build
    for the current data (``connectors.directory.builder.ensure``; nothing to do when it exists). The
    processes then open it read-only and share its pages."""
    target = settings.mysql
    banking = CoreBanking(target) if target is not None else None
    try:
        made = builder.ensure(settings, banking)
    finally:
        if banking is not None:
            banking.close()
    log.info("the directory's build %s (%s customers) serves every process", made.id, f"{made.customers:,}")


@dataclass
class Child:
    """A supervised process: how to start it, and how it has been doing."""

    name: str
    command: list[str]
    environment: dict[str, str]
    ready_url: str | None = None
    fork_argv: list[str] | None = None  # forked from the supervisor with this sys.argv (dashboard.prefork)
    process: subprocess.Popen | prefork.Forked | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    quick_deaths: int = 0
    ready: bool = False

    def start(self) -> None:
        """Fork it from the supervisor's loaded modules when it can be (``fork_argv``), else start
        ``command``; either way in a session of its own (Ctrl-C reaches the supervisor, which stops the
        children in order) that ends with the supervisor."""
        if self.fork_argv is not None and prefork.can_fork():
            self.process = prefork.fork(
                prefork.serve_panel, self.environment, self.fork_argv, before=_die_with_parent
            )
        else:
            self.process = subprocess.Popen(
                self.command,
                env=self.environment,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        self.started_at, self.ready = time.monotonic(), False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check_ready(self) -> bool:
        """Whether it answers its readiness URL (polled until it does once after each start)."""
        if not self.ready and self.alive and self.ready_url is not None:
            with contextlib.suppress(OSError), urllib.request.urlopen(self.ready_url, timeout=1) as response:
                self.ready = response.status == 200
        return self.ready

    def signal(self, sig: signal.Signals) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)


def _die_with_parent() -> None:
    """In the child, before exec: end when the supervisor ends, even if it is killed with SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Fleet:
    """The dashboard processes of one machine, and HAProxy in front of them unless ``proxy`` is none."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local = settings.proxy == "haproxy"
        self.haproxy = find_haproxy() if self.local else None
        if self.local and self.haproxy is None:
            raise SystemExit(f"error: {HAPROXY_MISSING}")
        self.run_dir = Path(tempfile.mkdtemp(prefix="c360-fleet-"))
        host = "127.0.0.1" if self.local else settings.address  # behind a local proxy: loopback only
        self.servers = [Server(f"c360-{n}", host, port) for n, port in enumerate(settings.backend_ports, 1)]
        # One secret for every process: a login made on one is still valid on the survivor of a failover.
        self.cookie_secret = settings.cookie_secret or secrets.token_urlsafe(32)
        self.children = [self._dashboard(server) for server in self.servers]
        if self.local:
            self.children.append(self._haproxy())  # last: ``run`` announces the screen once it answers
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        """Where representatives open the screen (the proxy's address; the first process's without one)."""
        host = "127.0.0.1" if self.settings.address in ("0.0.0.0", "::") else self.settings.address
        port = self.settings.port if self.local else self.servers[0].port
        return f"http://{host}:{port}/customer360"

    def proxy_origins(self) -> list[str]:
        """The host:port names browsers reach the processes by, whose websockets they must accept."""
        port = self.settings.port
        if not self.local:
            return [server.address for server in self.servers]
        names = ["localhost", "127.0.0.1"]
        if self.settings.address not in ("0.0.0.0", "::", *names):
            names.append(self.settings.address)
        return [f"{name}:{port}" for name in names]

    def _dashboard(self, server: Server) -> Child:
        own = replace(
            self.settings,
            port=server.port,
            address=server.host,
            processes=1,
            cookie_secret=self.cookie_secret,
        )
        argv = ["--port", str(server.port)]
        command = serve_arguments(own, argv, proxy_origins=self.proxy_origins())
        environment = {
            **os.environ,
            **serve_environment(own),
            "PYTHONMALLOC": "malloc",  # as python -m dashboard runs (dashboard/memory.py)
        }
        return Child(
            server.name,
            [sys.executable, "-m", *command],
            environment,
            ready_url=f"http://{_local(server.host)}:{server.port}{CHECK_PATH}",
            fork_argv=command,
        )

    def _haproxy(self) -> Child:
        path = self.run_dir / "haproxy.cfg"
        path.write_text(haproxy_config(f"{self.settings.address}:{self.settings.port}", self.servers))
        checked = subprocess.run([self.haproxy, "-c", "-q", "-f", str(path)], capture_output=True, text=True)
        if checked.returncode != 0:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            raise SystemExit(f"error: HAProxy rejects {path}: {checked.stderr or checked.stdout}")
        probe = (
            f"http://{_local(self.settings.address)}:{self.settings.port}{CHECK_PATH}"  # through the proxy
        )
        return Child("haproxy", [self.haproxy, "-f", str(path), "-db"], dict(os.environ), ready_url=probe)

    def run(self) -> int:
        """Start everything, look after it until SIGTERM or Ctrl-C, then stop it all; the exit code."""
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self._stopping.set())
        try:
            prepare_shared_directory(self.settings)
            started = time.perf_counter()
            prefork.preload()
            log.info(
                "loaded the dashboard's modules in %.1f s; its processes fork from them",
                time.perf_counter() - started,
            )
            self.start()
            announced = False
            while not self._stopping.wait(TICK_S):
                self.look_after()
                if not announced and self.children[-1 if self.local else 0].ready:  # the proxy answers
                    log.info("Customer 360 is ready at %s", self.url)
                    announced = True
        finally:
            self.stop()
        return 0

    def start(self) -> None:
        ports = ", ".join(str(server.port) for server in self.servers)
        front = f"HAProxy on {self.settings.address}:{self.settings.port}" if self.local else "no proxy"
        log.info(
            "starting %d dashboard processes (ports %s) behind %s; files in %s",
            len(self.servers),
            ports,
            front,
            self.run_dir,
        )
        for child in self.children:
            child.start()

    def look_after(self) -> None:
        """Restart every child that died, after a pause that grows while it keeps dying young."""
        now = time.monotonic()
        proxy = self.children[-1] if self.local else None
        if proxy is not None and proxy.process is None and any(child.ready for child in self.children):
            proxy.start()
        for child in self.children:
            if child.alive or child.process is None:
                if child.ready_url and not child.ready and child.check_ready():
                    log.info("%s is serving at %s", child.name, child.ready_url.removesuffix(CHECK_PATH))
                continue
            if child.restart_at == 0.0:
                lived = now - child.started_at
                child.quick_deaths = 0 if lived >= STABLE_S else child.quick_deaths + 1
                delay = min(BACKOFF_MAX_S, 2.0 ** (child.quick_deaths - 1)) if child.quick_deaths else 0.0
                child.restart_at = now + delay
                log.warning(
                    "%s exited with code %s after %.0f s; restarting it in %.0f s",
                    child.name,
                    child.process.returncode,
                    lived,
                    delay,
                )
            if now >= child.restart_at:
                child.restart_at = 0.0
                child.start()

    def stop(self) -> None:
        """SIGTERM every child, SIGKILL those still running after ``STOP_TIMEOUT_S``; remove the files."""
        for child in self.children:
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.signal(signal.SIGKILL)
                child.process.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)


def _local(host: str) -> str:
    """An address the supervisor can reach a process on."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
