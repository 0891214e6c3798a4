"""Real servers for the test suite: a throwaway MariaDB and redis-server, Debian's Chromium and HAProxy, and a
polling helper.

Tests run against real components rather than fakes, so that SQL, reconnection and rendering are exercised
the way production exercises them. ``tests/conftest.py`` starts each one once per session.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pymysql

T = TypeVar("T")

MARIADB_MISSING = (
    "MariaDB server not installed: run `sudo apt-get install mariadb-server` "
    "(make test does this when run as root)"
)
# Debian keeps the server binaries in /usr/sbin, which is not on a normal user's PATH.
_SYSTEM_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin"])
# Speed over durability a test database never needs: a small redo log (install-db writes 25 MB instead of
# 110 MB), and no fsync per commit or doublewrite, which only protect against an OS crash. A killed or
# restarted mariadbd still keeps every committed row.
_SERVER_OPTIONS = (
    "--innodb-log-file-size=8M",
    "--innodb-flush-log-at-trx-commit=2",
    "--innodb-doublewrite=0",
)

# mariadbd refuses to run as root unless told to; as any other user the option would only warn.
_ROOT_USER = ("--user=root",) if os.geteuid() == 0 else ()


class MissingComponent(RuntimeError):
    """A system package a test needs is not installed; the message says how to install it."""


def wait_until(
    predicate: Callable[[], T], timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy, and return that.

    Tests synchronise with servers, threads and browsers by polling, never by fixed sleeps: a sleep is
    either too short on a loaded CI machine or wastes time everywhere else. A predicate may also raise
    ``AssertionError`` to mean "not yet"; other exceptions propagate at once. On timeout this raises
    ``AssertionError`` naming the condition and what it last returned or asserted.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = predicate()
        except AssertionError as exc:
            last = f"last assertion: {exc}"
        else:
            if result:
                return result
            last = f"last returned: {result!r}"
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            what = message or _describe(predicate)
            raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last})")
        time.sleep(min(interval, remaining))


def _describe(predicate: Callable[[], object]) -> str:
    """A lambda's source line says more in a failure message than its name ``<lambda>``."""
    name = getattr(predicate, "__qualname__", repr(predicate))
    if name.endswith("<lambda>"):
        with contextlib.suppress(OSError, TypeError):
            return inspect.getsource(predicate).strip()
    return name


CHROMIUM_MISSING = (
    "Chromium not installed: run `sudo apt-get install chromium` (make test does this when run as root)"
)


def find_chromium() -> str | None:
    """Path to Debian's ``chromium``, which Playwright drives because it cannot download browsers here."""
    return shutil.which("chromium")


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports nothing listens on (a fleet's processes)."""
    while True:
        first = free_port()
        with contextlib.ExitStack() as held:
            try:
                for port in range(first + 1, first + count):
                    held.enter_context(socket.socket()).bind(("127.0.0.1", port))
            except OSError:
                continue
        return first


def _kill_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM a server's process group and wait; SIGKILL it if it does not end within ``timeout``."""
    if process is None or process.poll() is not None:
        return
    _kill_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process, signal.SIGKILL)
        process.wait()


class MariaDBServer:
    """A private MariaDB server in a temporary directory, on a random loopback port.

    ``start()`` creates the data directory on first use; ``stop()`` shuts the server down cleanly but keeps
    port and data, so ``restart()`` brings the same database back on the same address and clients can
    reconnect; ``close()`` stops it and deletes everything.
    """

    def __init__(self, database: str = "c360", start_timeout: float = 30.0) -> None:
        mariadbd = shutil.which("mariadbd", path=_SYSTEM_PATH)
        install_db = shutil.which("mariadb-install-db", path=_SYSTEM_PATH)
        if mariadbd is None or install_db is None:
            raise MissingComponent(MARIADB_MISSING)
        self._mariadbd, self._install_db = mariadbd, install_db
        self.database = database
        self.port = 0
        self._start_timeout = start_timeout
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Connection URL for the ``c360`` database, e.g. ``mysql://root@127.0.0.1:40123/c360``."""
        return f"mysql://root@127.0.0.1:{self.port}/{self.database}"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def _log(self) -> Path:
        assert self._dir is not None
        return self._dir / "mariadbd.log"

    def connect(self, **kwargs: Any) -> pymysql.connections.Connection:
        """A new pymysql connection to the database over TCP; keyword arguments override the defaults."""
        params: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": "root",
            "password": "",
            "database": self.database,
            "connect_timeout": 5,
        }
        return pymysql.connect(**(params | kwargs))

    def start(self) -> None:
        """Start the server (a no-op when running) and return once the database accepts connections."""
        if self.running:
            return
        if self._dir is None:
            directory = Path(tempfile.mkdtemp(prefix="c360-mariadb-"))
            try:
                self._install(directory)
            except BaseException:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            self._dir, self.port = directory, free_port()
        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    self._mariadbd,
                    "--no-defaults",
                    f"--datadir={self._dir / 'data'}",
                    f"--socket={self._dir / 'mariadbd.sock'}",
                    f"--pid-file={self._dir / 'mariadbd.pid'}",
                    f"--port={self.port}",
                    "--bind-address=127.0.0.1",
                    *_ROOT_USER,
                    *_SERVER_OPTIONS,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # own process group: stop() can kill everything it started
            )
        try:
            wait_until(self._accepts, timeout=self._start_timeout, message=f"MariaDB on port {self.port}")
            with self.connect(database=None) as conn, conn.cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}`")
        except BaseException:
            self.stop()
            raise

    def _install(self, directory: Path) -> None:
        """Create the system tables; root logs in without a password, as tests expect."""
        result = subprocess.run(
            [
                self._install_db,
                "--no-defaults",
                f"--datadir={directory / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *_ROOT_USER,
                *_SERVER_OPTIONS,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"mariadb-install-db failed ({result.returncode}):\n{result.stdout}{result.stderr}"
            )

    def _accepts(self) -> bool:
        """Readiness probe: True once a client can log in; fails fast if the server died."""
        assert self._process is not None
        if self._process.poll() is not None:
            tail = "\n".join(self._log.read_text(errors="replace").splitlines()[-20:])
            raise RuntimeError(f"mariadbd exited with code {self._process.returncode}:\n{tail}")
        try:
            self.connect(database=None, connect_timeout=1).close()
        except pymysql.err.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """Shut the server down cleanly (SIGTERM flushes InnoDB); kill its process group if it hangs."""
        process, self._process = self._process, None
        _terminate(process, timeout=30)

    def restart(self) -> None:
        """Stop and start again with the same port and data, as after a database outage."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and delete its data directory."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> MariaDBServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


REDIS_MISSING = "redis-server not installed: run `sudo apt-get install redis-server` (make test does this when run as root)"
HAPROXY_MISSING = (
    "HAProxy not installed: run `sudo apt-get install haproxy` (make test does this when run as root)"
)


class RedisServer:
    """A private redis-server on a random loopback port, with its data in a temporary directory.

    ``stop()`` ends it as a crash would and ``start()`` brings it back on the same port; by default it keeps
    nothing on disk, so it comes back empty, as a cache without persistence does (``persistent=True`` saves
    on shutdown and loads on start instead). ``password`` turns on ``requirepass``.
    """

    def __init__(self, password: str | None = None, persistent: bool = False, start_timeout: float = 15.0):
        executable = shutil.which("redis-server", path=_SYSTEM_PATH)
        if executable is None:
            raise MissingComponent(REDIS_MISSING)
        self._executable = executable
        self.password = password
        self.persistent = persistent
        self.port = 0
        self._start_timeout = start_timeout
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://[:password@]127.0.0.1:PORT/0``."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self, **kwargs: Any):
        """A redis-py client of the server (raw bytes, no decoding)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, **kwargs)

    def start(self) -> None:
        """Start the server (a no-op when running) and return once it answers PING."""
        if self.running:
            return
        if self._dir is None:
            self._dir, self.port = Path(tempfile.mkdtemp(prefix="c360-redis-")), free_port()
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
        options += ["--dir", str(self._dir), "--daemonize", "no", "--appendonly", "no"]
        options += ["--save", "3600 1" if self.persistent else ""]
        if self.password:
            options += ["--requirepass", self.password]
        with (self._dir / "redis.log").open("ab") as log:
            self._process = subprocess.Popen(
                [self._executable, *options],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        try:
            wait_until(
                self._answers, timeout=self._start_timeout, message=f"redis-server on port {self.port}"
            )
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        import redis

        assert self._process is not None
        if self._process.poll() is not None:
            assert self._dir is not None
            tail = (self._dir / "redis.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"redis-server exited with code {self._process.returncode}:\n{tail}")
        try:
            return bool(self.client(socket_timeout=1).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        """End the server (SIGTERM: it saves first only when persistent) and wait for it."""
        process, self._process = self._process, None
        _terminate(process, timeout=15)

    def close(self) -> None:
        """Stop the server and delete its directory."""
        self.stop()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def answers(url: str, needle: bytes = b"", timeout: float = 5) -> bool:
    """Whether ``url`` answers 200 (and its body holds ``needle``): for polling a server that is starting."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status == 200 and needle in response.read()
    except OSError:
        return False


@contextlib.contextmanager
def panel_server(name: str, app: Callable[[], Any], query: str = "", **server_options: Any) -> Iterator[str]:
    """Serve ``app`` at ``/name`` from a Panel server on a thread of this process; yields the page's URL.

    It returns once the page answers (``query`` is added to that first request, for apps that need
    arguments): that request builds a session which no browser connects to.
    """
    import panel as pn

    port = free_port()
    url = f"http://localhost:{port}/{name}"
    server = pn.serve({name: app}, port=port, threaded=True, show=False, **server_options)
    try:
        wait_until(lambda: answers(url + query), timeout=30)
        yield url
    finally:
        server.stop()


# Headless in a container: no sandbox or GPU there, and no reaching out to Google's services.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

# All text under an element, through Panel's shadow roots (innerText stops at them), without CSS.
DEEP_TEXT = """element => {
  const walk = node => (node.shadowRoot ? walk(node.shadowRoot) : "") + Array.from(node.childNodes)
    .filter(child => !["STYLE", "SCRIPT"].includes(child.nodeName))
    .map(child => child.nodeType === 3 ? child.textContent : walk(child)).join(" ");
  return walk(element);
}"""
