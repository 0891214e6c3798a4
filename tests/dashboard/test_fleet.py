"""`python -m dashboard --processes 2`: two dashboard processes behind a real HAProxy, reading the live
state the aggregators keep in a real Redis, driven by Chromium through the proxy."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from connectors import config
from connectors.clickstream.aggregate import Aggregator
from dashboard.proxy import COOKIE, find_haproxy, haproxy_config, servers
from tests.sample_data import web_user
from tests.servers import DEEP_TEXT, HAPROXY_MISSING, answers, free_port, free_ports, wait_until

ROOT = Path(__file__).resolve().parents[2]
SERVED_BY = re.compile(r"served by process (\d+) on port (\d+)")
needs_haproxy = pytest.mark.skipif(find_haproxy() is None, reason=HAPROXY_MISSING)


class Fleet:
    """The command as an operator runs it, in its own process group."""

    def __init__(self, settings: config.Settings):
        self.port, self.backend_port = free_port(), free_ports(2)
        self.settings = replace(settings, port=self.port, backend_port=self.backend_port, processes=2)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/customer360"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dashboard"],
            cwd=ROOT,
            env={**os.environ, **config.environment(self.settings)},
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: answers(self.url) or self.process.poll() is not None, timeout=180, interval=0.5)
        assert self.process.poll() is None, "python -m dashboard --processes 2 exited at start"

    def backend(self, name: str) -> int:
        """The port of the process a C360SRV cookie names (c360-1, c360-2)."""
        return self.backend_port + int(name.rpartition("-")[2]) - 1

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def fleet(kafka_broker, redis_server, dashboard_data, web_users) -> Iterator[Fleet]:
    """The fleet on the trained sample, with an aggregator (a thread of this process) feeding Redis."""
    if find_haproxy() is None:
        pytest.skip(HAPROXY_MISSING)
    topic = f"clicks-{uuid.uuid4().hex[:12]}"
    kafka_broker.create_topic(topic, 8)
    argv = [
        "--data-dir",
        str(dashboard_data),
        "--kafka-bootstrap",
        kafka_broker.bootstrap,
        "--kafka-topic",
        topic,
    ]
    argv += ["--redis-url", redis_server.url, "--aggregator-group", f"fleet-{topic}", "--verify", "off"]
    settings = config.load(argv, environ={})
    aggregator = Aggregator(settings, web_users).start()
    running = Fleet(settings)
    try:
        running.start()
        yield running
    finally:
        running.stop()
        aggregator.stop()


def _served_by(page) -> tuple[int, int]:
    """(pid, port) of the process whose session the page shows (the behind-the-scenes card says)."""
    element = page.locator(".c360-served-by").first
    element.wait_for(state="attached", timeout=60_000)
    found = SERVED_BY.search(element.evaluate(DEEP_TEXT))
    assert found, "the page names the process that serves it"
    return int(found.group(1)), int(found.group(2))


def _forked_from(pid: int) -> int | None:
    """The parent of a process that runs the parent's own command line (forked, never exec'd), else None."""
    parent = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
    same = Path(f"/proc/{pid}/cmdline").read_bytes() == Path(f"/proc/{parent}/cmdline").read_bytes()
    return parent if same else None


def _cookie(page) -> str:
    return next(c["value"] for c in page.context.cookies() if c["name"] == COOKIE)


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.haproxy
def test_a_page_through_the_proxy_keeps_its_websocket_on_one_process_and_shows_the_shared_clicks(
    fleet, page, send_messages, click_message, web_users
):
    page.goto(fleet.url)
    page.locator(".c360-profile .c360-name").first.wait_for(timeout=60_000)
    pid, port = _served_by(page)
    assert port == fleet.backend(_cookie(page)), "the websocket reached the process that served the page"
    assert _forked_from(pid) == fleet.process.pid, "forked from the supervisor's loaded modules, not started"
    send_messages(fleet.settings, [click_message(web_user(web_users, 1), "roth_ira")])  # the featured caller
    online = page.locator(".c360-online").first
    wait_until(lambda: "online now" in online.evaluate(DEEP_TEXT), timeout=30, message="online now")
    for _ in range(2):  # more pages through the proxy: each on the process its cookie names
        other = page.context.browser.new_context().new_page()
        other.goto(fleet.url)
        assert _served_by(other)[1] == fleet.backend(_cookie(other))
        other.context.close()


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.kafka
@pytest.mark.redis
@pytest.mark.haproxy
def test_kill_9_of_the_process_behind_a_page_and_it_comes_back_from_the_other_then_the_dead_one_restarts(
    fleet, page
):
    page.goto(fleet.url)
    page.locator(".c360-profile .c360-name").first.wait_for(timeout=60_000)
    pid, port = _served_by(page)
    # The supervisor is paused meanwhile: it forks a new process within a second or two, often before the
    # proxy's health check has seen the old one go, and the reload would then reach that one.
    os.kill(fleet.process.pid, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGKILL)

        # Nobody touches the page: its watchdog reloads it once the proxy answers again, from the survivor.
        def moved() -> bool:
            try:
                return _served_by(page)[1] != port
            except Exception as error:  # the page is reloading
                raise AssertionError(str(error)) from None

        wait_until(moved, timeout=90, interval=0.5, message="the page served by the other process")
        assert fleet.backend(_cookie(page)) != port
        page.reload()
        assert _served_by(page)[1] != port, "a reload is served by the survivor"
    finally:
        os.kill(fleet.process.pid, signal.SIGCONT)
    liveness = f"http://127.0.0.1:{port}/liveness"
    wait_until(lambda: answers(liveness), timeout=120, interval=0.5, message="the killed process restarted")


def test_the_generated_haproxy_configuration_sticks_pages_checks_health_and_keeps_websockets(tmp_path):
    text = haproxy_config("127.0.0.1:8080", servers(["10.0.0.1:5007", "10.0.0.2:5007"]))
    for line in (
        "balance leastconn",
        f"cookie {COOKIE} insert indirect nocache httponly",
        "option redispatch",
        "timeout tunnel 1h",
        "http-check send meth GET uri /liveness ver HTTP/1.1 hdr Host localhost",
        "default-server check inter 2s fall 2 rise 1",
        "server c360-1 10.0.0.1:5007 cookie c360-1",
        "server c360-2 10.0.0.2:5007 cookie c360-2",
    ):
        assert line in text
    haproxy = find_haproxy()
    if haproxy is None:
        pytest.skip(HAPROXY_MISSING)
    path = tmp_path / "haproxy.cfg"
    path.write_text(text)
    checked = subprocess.run([haproxy, "-c", "-f", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def test_the_proxy_command_prints_the_configuration_for_several_machines():
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.proxy",
            "--backends",
            "a.bank:5007,b.bank:5007",
            "--bind",
            ":443 ssl crt /x.pem",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "server c360-2 b.bank:5007 cookie c360-2" in done.stdout
    assert "X-Forwarded-Proto https" in done.stdout


@needs_haproxy
def test_the_backends_accept_the_proxys_websockets_and_trust_its_headers(dashboard_settings):
    from dashboard.fleet import Fleet as Supervisor

    supervisor = Supervisor(
        replace(dashboard_settings, port=8080, processes=2, allowed_origins_text="c360.bank")
    )
    try:
        command = supervisor.children[0].command
        origins = [command[i + 1] for i, arg in enumerate(command) if arg == "--allow-websocket-origin"]
        assert {"localhost:8080", "127.0.0.1:8080", "c360.bank"} <= set(origins)
        assert {"--use-xheaders", "--liveness"} <= set(command)
        assert command[command.index("--port") + 1] == "8081"
        assert supervisor.children[-1].name == "haproxy"
    finally:
        shutil.rmtree(supervisor.run_dir, ignore_errors=True)
