"""A Kafka-protocol broker on loopback for tests, benchmarks and the optional local demo.

No Apache Kafka broker can be installed here, but the librdkafka shipped inside the confluent-kafka wheel
contains a mock cluster that speaks the Kafka wire protocol to any client. Nothing in the application may
depend on this module: in production the same client code points at a real cluster through configuration.

Run it as its own process, like a separately started broker::

    python -m connectors.tools.local_broker [--port PORT] [--topic NAME:PARTITIONS ...]

It prints its bootstrap address (``127.0.0.1:PORT``) as one line on stdout and serves until it is killed or,
when stdin is a pipe, until stdin closes, so it never outlives a parent that dies without cleaning up. A
parent may also write ``stop`` or ``start`` lines to take the broker offline and back, and ``create
NAME:PARTITIONS`` to create a topic (see LocalBroker): topics created by their first use get 4 partitions,
and a consumer group spread over more aggregators needs more.

Why a forwarder: tests take the broker down and bring it back on the same address to check that clients
reconnect, but the mock cluster always binds a random port (its only settings are ``test.mock.num.brokers``
and ``test.mock.broker.rtt``) and a new mock cluster would start with an empty log, so that a consumer
positioned at offset N silently skips the first N new messages of that partition. So the process listens
on the chosen port itself and forwards each connection to the mock cluster, which keeps running (and keeps
its data, like a real broker's disk) while the listener is down. Kafka clients learn broker addresses from
metadata and would then connect to the mock directly, bypassing the forwarder;
``rd_kafka_mock_broker_set_host_port`` makes the mock advertise the forwarder's address instead.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import selectors
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

import confluent_kafka
from confluent_kafka import cimpl

HOST = "127.0.0.1"
_RD_KAFKA_PRODUCER = 0
_CHUNK = 1 << 16


class _MockCluster:
    """A one-broker librdkafka mock cluster, driven through librdkafka's C API.

    The Python binding can create a mock cluster (``test.mock.num.brokers``) but not change the address it
    advertises, so the handle is created with ctypes. The symbols are looked up through the binding's own
    extension module, which resolves them in the librdkafka it links, whatever that file is called.
    """

    def __init__(self) -> None:
        lib = ctypes.CDLL(cimpl.__file__)
        ptr, text, size = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
        conf_new = _function(lib, "rd_kafka_conf_new", ptr)
        conf_set = _function(lib, "rd_kafka_conf_set", ctypes.c_int, ptr, text, text, text, size)
        new = _function(lib, "rd_kafka_new", ptr, ctypes.c_int, ptr, text, size)
        handle_cluster = _function(lib, "rd_kafka_handle_mock_cluster", ptr, ptr)
        bootstraps = _function(lib, "rd_kafka_mock_cluster_bootstraps", text, ptr)
        rebalance_delay = _function(
            lib, "rd_kafka_mock_group_initial_rebalance_delay_ms", None, ptr, ctypes.c_int32
        )
        self._set_host_port = _function(
            lib, "rd_kafka_mock_broker_set_host_port", None, ptr, ctypes.c_int32, text, ctypes.c_int
        )
        self._topic_create = _function(
            lib, "rd_kafka_mock_topic_create", ctypes.c_int, ptr, text, ctypes.c_int, ctypes.c_int
        )

        errstr = ctypes.create_string_buffer(512)
        conf = conf_new()
        # log_level 4: keep warnings, drop the "mock cluster enabled" notice.
        for name, value in {"test.mock.num.brokers": "1", "log_level": "4"}.items():
            if conf_set(conf, name.encode(), value.encode(), errstr, len(errstr)) != 0:
                raise RuntimeError(f"librdkafka rejected {name}={value}: {errstr.value.decode()}")
        # The handle owns the mock cluster, which lives as long as this process: it is never destroyed.
        self._rk = new(_RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not self._rk:
            raise RuntimeError(f"could not create the mock cluster: {errstr.value.decode()}")
        self._cluster = handle_cluster(self._rk)
        # Like group.initial.rebalance.delay.ms=0 on a development broker: a consumer group's first join
        # would otherwise wait 3 s for more members, in every test that subscribes.
        rebalance_delay(self._cluster, 0)
        host, _, port = bootstraps(self._cluster).decode().split(",")[0].rpartition(":")
        self.address = (host, int(port))

    def advertise(self, host: str, port: int) -> None:
        """Make metadata and coordinator responses point clients at ``host:port``."""
        self._set_host_port(self._cluster, 1, host.encode(), port)

    def create_topic(self, topic: str, partitions: int) -> None:
        """Create ``topic`` with ``partitions`` partitions (auto-created topics get 4)."""
        error = self._topic_create(self._cluster, topic.encode(), partitions, 1)
        if error != 0:
            raise RuntimeError(f"could not create topic {topic!r}: librdkafka error {error}")


def _function(lib: ctypes.CDLL, name: str, restype: type | None, *argtypes: type) -> Callable[..., Any]:
    """Bind one librdkafka function with its C signature, or say which librdkafka is too old."""
    try:
        function = getattr(lib, name)
    except AttributeError:
        raise RuntimeError(
            f"librdkafka {confluent_kafka.libversion()[0]} has no {name}, which LocalBroker needs: "
            "upgrade confluent-kafka"
        ) from None
    function.restype = restype
    function.argtypes = argtypes
    return function


class _Forwarder:
    """Accepts clients on a stable loopback port and splices each one to the mock cluster.

    ``down()`` closes the listening socket and every connection, so clients see exactly what a crashed
    broker shows them (connections reset, new ones refused); ``up()`` listens on the same port again.
    """

    def __init__(self, port: int, upstream: tuple[str, int]) -> None:
        self.port = port
        self._upstream = upstream
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # SO_REUSEADDR: the port must be bound again while old connections sit in TIME_WAIT.
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((HOST, self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in _accept
            listener.close()
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # down() closed the listener
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # went down while connecting
                    client.close()
                    server.close()
                    return
                self._connections |= {client, server}
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        """Copy bytes one way until either side closes, then shut both down so the reverse pump ends too."""
        try:
            while data := src.recv(_CHUNK):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._connections.discard(src)
            src.close()


def serve(port: int = 0, topics: dict[str, int] | None = None) -> None:
    """Run a broker on ``127.0.0.1:port`` (0: a free port) and print its address; see the module docstring.

    ``topics`` (name: partitions) are created before the address is printed.
    """
    cluster = _MockCluster()
    for topic, partitions in (topics or {}).items():
        cluster.create_topic(topic, partitions)
    forwarder = _Forwarder(port, cluster.address)
    forwarder.up()
    cluster.advertise(HOST, forwarder.port)
    print(f"{HOST}:{forwarder.port}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        if not stat.S_ISFIFO(os.fstat(sys.stdin.fileno()).st_mode):
            # A person started the demo broker: serve until Ctrl-C or a signal, without reading a terminal
            # (a background job that reads one is stopped by SIGTTIN).
            signal.pause()
            return
        for line in sys.stdin:  # ends when the parent closes stdin or dies
            command = line.strip()
            if command == "stop":
                forwarder.down()
                print("stopped", flush=True)
            elif command == "start":
                forwarder.up()
                print(f"{HOST}:{forwarder.port}", flush=True)
            elif command.startswith("create "):
                print(_create(cluster, command.removeprefix("create ")), flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)


def _create(cluster: _MockCluster, spec: str) -> str:
    """Answer a ``create TOPIC:PARTITIONS`` command: ``created TOPIC``, or what went wrong."""
    try:
        topic, partitions = _topic_spec(spec)
        cluster.create_topic(topic, partitions)
    except (ValueError, RuntimeError) as error:
        return f"error: {error}"
    return f"created {topic}"


def _topic_spec(spec: str) -> tuple[str, int]:
    """``NAME:PARTITIONS`` as (name, partitions); raises ValueError for anything else."""
    topic, _, count = spec.strip().rpartition(":")
    if not topic or not count.isdigit() or not 0 < int(count) <= 1000:
        raise ValueError(f"expected TOPIC:PARTITIONS (1 to 1000 partitions), got {spec!r}")
    return topic, int(count)


class LocalBroker:
    """Runs ``python -m connectors.tools.local_broker`` as a child process on a stable loopback address.

    ``stop()`` takes the broker offline as a crash would: connections drop and new ones are refused. Topics,
    messages and consumer-group offsets are kept, as on a real broker's disk, and ``start()`` brings it back
    on the same address, so clients created before the outage resume where they were. ``close()`` ends the
    process and discards everything. The first start picks a free port unless one is given.
    """

    def __init__(self, port: int = 0, start_timeout: float = 15.0) -> None:
        self._port = port
        self._timeout = start_timeout
        self._process: subprocess.Popen[str] | None = None
        self._online = False

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` for ``bootstrap.servers``; the same across stops and starts."""
        if not self._port:
            raise RuntimeError("LocalBroker has not been started yet")
        return f"{HOST}:{self._port}"

    @property
    def running(self) -> bool:
        """Whether the broker accepts connections."""
        return self._online and self._process is not None and self._process.poll() is None

    def start(self) -> str:
        """Start the broker, or bring it back online after ``stop()``; return its bootstrap address."""
        if self.running:
            return self.bootstrap
        if self._process is not None and self._process.poll() is None:
            line = self._command("start")
        else:
            self.close()  # reap a broker process that died on its own
            self._process = subprocess.Popen(
                [sys.executable, "-m", "connectors.tools.local_broker", "--port", str(self._port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                start_new_session=True,  # own process group: close() kills everything it started
            )
            try:
                line = self._read_line()
            except BaseException:
                self.close()
                raise
        self._port = int(line.rpartition(":")[2])
        self._online = True
        return self.bootstrap

    def stop(self) -> None:
        """Take the broker offline, keeping its data; returns once the port refuses connections."""
        if self.running:
            self._command("stop")
        self._online = False

    def restart(self) -> None:
        """Stop and start again on the same address, as after a broker crash and recovery."""
        self.stop()
        self.start()

    def restart_empty(self) -> None:
        """End the broker and start a new one on the same address with an empty log, as a broker that
        lost its disk: every partition's log starts again at offset 0."""
        self.close()
        self.start()

    def create_topic(self, topic: str, partitions: int) -> None:
        """Create a topic with this many partitions (a topic a client creates by using it gets 4).

        It must not exist yet: librdkafka's mock cluster keeps an existing topic as it is.
        """
        if not self.running:
            raise RuntimeError("LocalBroker is not running")
        reply = self._command(f"create {topic}:{partitions}")
        if reply != f"created {topic}":
            raise RuntimeError(f"local broker answered {reply!r} to creating {topic!r}")

    def close(self) -> None:
        """End the broker process and its data; the port is free again when this returns."""
        process, self._process = self._process, None
        self._online = False
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    def _command(self, command: str) -> str:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(f"{command}\n")
        self._process.stdin.flush()
        reply = self._read_line()
        if command in ("stop", "start") and (
            reply != "stopped" if command == "stop" else not reply.startswith(f"{HOST}:")
        ):
            raise RuntimeError(f"local broker answered {reply!r} to {command!r}")
        return reply

    def _read_line(self) -> str:
        """The child's next reply line, waiting at most ``start_timeout`` seconds."""
        assert self._process is not None and self._process.stdout is not None
        stdout: IO[str] = self._process.stdout
        with selectors.DefaultSelector() as selector:
            selector.register(stdout, selectors.EVENT_READ)
            if not selector.select(self._timeout):
                raise RuntimeError(f"local broker did not answer within {self._timeout} s")
        line = stdout.readline().strip()
        if not line:
            code = self._process.wait()
            raise RuntimeError(f"local broker exited with code {code} (see its stderr)")
        return line

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point: ``python -m connectors.tools.local_broker [--port PORT]``."""
    parser = argparse.ArgumentParser(description=__doc__.partition("\n")[0])
    parser.add_argument(
        "--port", type=int, default=0, help="loopback port to listen on (default: a free one)"
    )
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="NAME:PARTITIONS",
        help="create this topic first (repeatable; topics created on first use get 4 partitions)",
    )
    args = parser.parse_args(argv)
    try:
        topics = dict(_topic_spec(spec) for spec in args.topic)
    except ValueError as error:
        parser.error(str(error))
    serve(args.port, topics)


if __name__ == "__main__":
    main()
