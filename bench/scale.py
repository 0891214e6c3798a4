"""Benchmark beyond one process: an aggregator group into Redis, dashboards reading it, HAProxy in front.

    python -m bench.scale --json [--customers 100000] [--duration 30] [--sessions 100]

Everything runs on loopback: ``connectors.tools.local_broker`` (librdkafka's mock cluster) with a topic
of 8 partitions, a private redis-server, two ``python -m connectors.clickstream.aggregate`` processes in
one consumer group, clicks produced by ``connectors.tools.produce`` in its own process. Phases:

- ``clicks_per_s``: what the two aggregators write per second into Redis (its ``totals``) while the
  producer sends at up to ``--rate``, and their CPU per click;
- ``p95_produce_to_store_ms``: at ``--latency-rate`` (10,000/s), a probe sends 20 clicks a second of its
  own customer and polls Redis; a click's latency is from its Kafka timestamp to when it is in the store;
- ``clicks_produced``, ``clicks_counted``, ``clicks_double_counted``: a run at ``--kill-rate`` in which
  one aggregator is killed with SIGKILL a third of the way in and started again half-way; counted is the
  sum of the rate buckets in Redis over the run; ``clicks_reprocessed`` is what at-least-once delivery
  read twice (counted twice in the totals, absorbed by the idempotent rate and click writes);
  when clicks were lost, the aggregators' logs are kept and ``aggregator_logs`` names their folder;
- ``dashboard_stream_cpu_pct_low``/``_high``: a dashboard process reading Redis with ``--dashboard-sessions``
  (20) websocket sessions open, its CPU at ``--low-rate`` (1,000/s) and at ``--rate`` minus its CPU with
  no clicks (``dashboard_cpu_pct_idle``); the naive baseline is the same dashboard consuming the topic
  itself, without Redis (``baseline_dashboard_cpu_pct_low``/``_high``);
- ``proxy_*``: ``python -m dashboard --processes 2`` behind HAProxy, ``--sessions`` websocket sessions
  opened through the proxy (``bench.clients``) and left to finish loading (``POOL_SETTLE_S``, as
  ``bench.sessions`` does), then ``--probes`` Chromium pages through it measure first
  render and select (``bench.sessions``); ``sessions_per_process`` from HAProxy's cookie on each upgrade.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import numpy as np
import orjson
import redis
from confluent_kafka import Producer as KafkaProducer
from playwright.sync_api import sync_playwright

from bench import command
from bench.clients import ClientPool
from bench.server import add_data_options, cpu_seconds, data_set, serve, serve_dashboard, stop, wait_answering
from bench.sessions import PageProbe
from bench.stream import Producer, web_users
from connectors import config
from connectors.clickstream.pipeline import BUCKET_MS
from connectors.clickstream.redis_state import RedisClickState, StateKeys, unpack_counts
from connectors.config import Settings
from connectors.layout import Layout
from connectors.tools.local_broker import LocalBroker
from dashboard.proxy import COOKIE
from tests.servers import CHROMIUM_ARGS, RedisServer, find_chromium, free_port, free_ports, wait_until

PARTITIONS = 8
WARMUP_S = 3.0
POOL_SETTLE_S = 5.0  # the pool's last pages build their heatmap and map 1.5 s after loading: probe after that
GROUP_KAFKA_CONFIG = "session.timeout.ms=6000\nheartbeat.interval.ms=500\n"  # a killed member leaves in 6 s
PROBE_URL = "https://bench.example/probe/"


class Aggregators:
    """``python -m connectors.clickstream.aggregate`` processes in one group, killable and restartable."""

    def __init__(self, settings: Settings, count: int, logs: Path) -> None:
        self.settings, self.logs = settings, logs
        self.processes = [self._start(n) for n in range(count)]

    def _start(self, number: int) -> subprocess.Popen:
        with (self.logs / f"aggregator-{number}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "connectors.clickstream.aggregate"],
                env={**os.environ, **config.environment(self.settings)},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self, number: int) -> None:
        os.killpg(self.processes[number].pid, signal.SIGKILL)
        self.processes[number].wait()

    def restart(self, number: int) -> None:
        self.processes[number] = self._start(number)

    def keep_logs(self) -> str:
        """Copy the aggregators' logs out of the run's scratch folder (kept when clicks were lost)."""
        kept = Path(tempfile.mkdtemp(prefix="c360-bench-scale-logs-"))
        for log in self.logs.glob("aggregator-*.log"):
            shutil.copy(log, kept)
        return str(kept)

    def cpu_s(self) -> float:
        return sum(cpu_seconds(p.pid) for p in self.processes if p.poll() is None)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


class Store:
    """What the benchmark reads from Redis directly: totals, rate buckets, a customer's clicks."""

    def __init__(self, settings: Settings) -> None:
        self.client = redis.Redis.from_url(settings.redis.url)
        self.keys = StateKeys(settings.kafka_topic)

    def accepted(self) -> int:
        return int(self.client.hget(self.keys.totals, "accepted") or 0)

    def counted(self, start_ms: int, end_ms: int) -> int:
        """Clicks in the rate buckets from ``start_ms`` to ``end_ms``, over every partition."""
        pipe = self.client.pipeline(transaction=False)
        for bucket in range(start_ms // BUCKET_MS, end_ms // BUCKET_MS + 1):
            pipe.hgetall(self.keys.rate(bucket))
        return int(sum(unpack_counts(v).sum() for fields in pipe.execute() for v in fields.values()))

    def complete_until_ms(self) -> int:
        done = dict(self.client.zrange(self.keys.progress, 0, -1, withscores=True))
        return int(min((done.get(str(p).encode(), 0) for p in range(PARTITIONS)), default=0))


def _wait_for_group(state: RedisClickState, count: int, timeout: float = 120) -> None:
    def split() -> bool:
        owners = [a["partitions"] for a in state.health()["aggregators"]]
        return len(owners) == count and sorted(p for ps in owners for p in ps) == list(range(PARTITIONS))

    wait_until(split, timeout=timeout, interval=0.5, message=f"{count} aggregators sharing the partitions")


def measure_throughput(
    settings: Settings, clicks: Path, group: Aggregators, store: Store, rate: float, seconds: float
) -> dict:
    producer = Producer(settings, clicks, rate, seconds + WARMUP_S + 5)
    try:
        wait_until(lambda: store.accepted() > 0, timeout=60, message="the first clicks in Redis")
        time.sleep(WARMUP_S)
        started, accepted, cpu = time.monotonic(), store.accepted(), group.cpu_s()
        time.sleep(seconds)
        elapsed, done, used = time.monotonic() - started, store.accepted() - accepted, group.cpu_s() - cpu
    finally:
        producer.stop()
    return {
        "clicks_per_s": round(done / elapsed),
        "aggregator_cpu_us_per_click": round(used / max(done, 1) * 1e6, 2),
        "aggregator_cores_used": round(used / elapsed, 2),
        "produce_rate_cap": rate,
    }


def measure_latency(
    settings: Settings, clicks: Path, store: Store, user: int, customer: int, rate: float, seconds: float
) -> dict:
    """Probe clicks of one customer among ``rate`` clicks/s: Kafka timestamp to first seen in Redis."""
    producer = Producer(settings, clicks, rate, seconds + WARMUP_S + 5)
    probe = KafkaProducer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})
    sent: dict[str, int] = {}
    seen: dict[str, float] = {}
    stopping = threading.Event()

    def poll() -> None:
        key = store.keys.clicks(customer)
        while not stopping.wait(0.005):
            now = time.time() * 1000
            for member, _ in store.client.zrange(key, 0, -1, withscores=True):
                url = member.decode().split(":", 3)[3]
                if url.startswith(PROBE_URL) and url not in seen:
                    seen[url] = now

    poller = threading.Thread(target=poll, daemon=True)
    try:
        time.sleep(WARMUP_S)
        poller.start()
        deadline = time.monotonic() + seconds
        number = 0
        while time.monotonic() < deadline:
            url = f"{PROBE_URL}{number}"
            sent[url] = int(time.time() * 1000)
            probe.produce(settings.kafka_topic, orjson.dumps(_click(user, url)), timestamp=sent[url])
            probe.poll(0)
            number += 1
            time.sleep(0.05)
        probe.flush(10)
        wait_until(lambda: len(seen) >= len(sent), timeout=60, message="every probe click in Redis")
    finally:
        stopping.set()
        producer.stop()
    latencies = np.array([seen[url] - at for url, at in sent.items()])
    return {
        "p50_produce_to_store_ms": round(float(np.percentile(latencies, 50)), 1),
        "p95_produce_to_store_ms": round(float(np.percentile(latencies, 95)), 1),
        "p99_produce_to_store_ms": round(float(np.percentile(latencies, 99)), 1),
        "latency_rate": rate,
        "latency_probes": len(latencies),
    }


def _click(user: int, url: str) -> dict:
    return {
        "user_id": user,
        "datetime": "2026-11-01 12:00:00",
        "os": "linux",
        "browser": "Chromium",
        "response_time_ms": 100,
        "product": "auto_loan",
        "url": url,
    }


def measure_kill(
    settings: Settings,
    clicks: Path,
    group: Aggregators,
    state: RedisClickState,
    store: Store,
    rate: float,
    seconds: float,
) -> dict:
    """Produce exactly ``rate * seconds`` clicks; SIGKILL one aggregator a third in, restart it half-way."""
    time.sleep(2.0)  # a gap after the previous phase, so the run's buckets hold only its clicks
    produced = int(rate * seconds)
    started_ms, accepted = int(time.time() * 1000), store.accepted()
    producer = Producer(settings, clicks, rate, seconds)
    time.sleep(seconds / 3)
    group.kill(0)
    time.sleep(seconds / 2 - seconds / 3)
    group.restart(0)
    producer.wait(timeout=seconds + 120)
    ended_ms = int(time.time() * 1000)
    wait_until(
        lambda: store.complete_until_ms() > ended_ms + 1000,
        timeout=120,
        interval=0.5,
        message="the run complete in Redis",
    )
    _wait_for_group(state, 2)
    counted = store.counted(started_ms, ended_ms + 1000)  # the producer starts after ``started_ms``
    return {
        "clicks_produced": produced,
        "clicks_counted": counted,
        "clicks_double_counted": max(0, counted - produced),
        "clicks_lost": max(0, produced - counted),
        "clicks_reprocessed": store.accepted() - accepted - produced,
        "kill_rate": rate,
    }


def measure_dashboard_cpu(
    data_dir: Path,
    env: dict[str, str],
    settings: Settings,
    clicks: Path,
    sessions: int,
    rates: dict[str, float],
    seconds: float,
) -> dict[str, float]:
    """The CPU (% of a core) of one dashboard process with ``sessions`` open, at each named rate."""
    server, url = serve_dashboard(data_dir, env)
    found = {}
    try:
        wait_answering(url, server)
        clients = ClientPool(url, sessions)
        try:
            for name, rate in rates.items():
                producer = Producer(settings, clicks, rate, seconds + WARMUP_S + 5) if rate else None
                try:
                    time.sleep(WARMUP_S)
                    cpu, started = cpu_seconds(server.pid), time.monotonic()
                    time.sleep(seconds)
                    found[name] = round(
                        (cpu_seconds(server.pid) - cpu) / (time.monotonic() - started) * 100, 1
                    )
                finally:
                    if producer is not None:
                        producer.stop()
        finally:
            clients.close()
    finally:
        stop(server)
    return found


def measure_proxy(data_dir: Path, env: dict[str, str], sessions: int, probes: int) -> dict:
    port = free_port()
    backend = free_ports(2)
    fleet = serve(
        [
            sys.executable,
            "-m",
            "dashboard",
            "--processes",
            "2",
            "--port",
            str(port),
            "--backend-port",
            str(backend),
        ],
        {**env, "C360_DATA_DIR": str(data_dir)},
    )
    url = f"http://127.0.0.1:{port}/customer360"
    try:
        wait_answering(url, fleet, timeout=300)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            for _ in range(2):  # each process loads what its pages share
                warm = PageProbe(browser, url)
                warm.first_render_ms()
                warm.close()
            clients = ClientPool(url, sessions)
            time.sleep(POOL_SETTLE_S)
            per_process = Counter(client.cookies.get(COOKIE, "?") for client in clients.clients)
            renders, selects = [], []
            try:
                for index in range(probes):
                    probe = PageProbe(browser, url)
                    renders.append(probe.first_render_ms())
                    selects.extend(probe.select_ms(row) for row in (1 + index % 5, 6 + index % 5))
                    probe.close()
            finally:
                clients.close()
                browser.close()
    finally:
        stop(fleet)
    return {
        "proxy_sessions": sessions,
        "proxy_first_render_p95_ms": round(float(np.percentile(renders, 95)), 1),
        "proxy_select_p95_ms": round(float(np.percentile(selects, 95)), 1),
        "proxy_probes": probes,
        "sessions_per_process": dict(sorted(per_process.items())),
    }


def run(args: argparse.Namespace) -> dict:
    load_start = os.getloadavg()[0]
    data_dir = data_set(args)
    layout = Layout(data_dir)
    users = web_users(layout).astype("int64")
    probe_customer = int(users["customer_id"].max())
    probe_user = int(users.loc[users["customer_id"] == probe_customer, "web_user_id"].iloc[0])
    result: dict = {"customers": int(layout.read_manifest()["customers"]), "partitions": PARTITIONS}
    with tempfile.TemporaryDirectory(prefix="c360-bench-scale-") as scratch, LocalBroker() as broker:
        redis_server = RedisServer()
        redis_server.start()
        try:
            topic = f"bench-clicks-{uuid.uuid4().hex[:8]}"
            broker.create_topic(topic, PARTITIONS)
            kafka_config = Path(scratch) / "kafka.properties"
            kafka_config.write_text(GROUP_KAFKA_CONFIG)
            argv = [
                "--data-dir",
                str(data_dir),
                "--kafka-bootstrap",
                broker.bootstrap,
                "--kafka-topic",
                topic,
            ]
            argv += ["--kafka-config", str(kafka_config), "--redis-url", redis_server.url, "--verify", "off"]
            settings = config.load([*argv, "--aggregator-group", f"bench-{topic}"], environ={})
            state = RedisClickState(settings).start()
            group = Aggregators(settings, 2, Path(scratch))
            store = Store(settings)
            try:
                _wait_for_group(state, 2)
                result |= measure_throughput(settings, layout.clicks, group, store, args.rate, args.duration)
                result |= measure_latency(
                    settings,
                    layout.clicks,
                    store,
                    probe_user,
                    probe_customer,
                    args.latency_rate,
                    args.latency_duration,
                )
                result |= measure_kill(
                    settings, layout.clicks, group, state, store, args.kill_rate, args.kill_duration
                )
                shared = {
                    name: value for name, value in config.environment(settings).items() if name != "PORT"
                }
                rates = {"idle": 0.0, "low": args.low_rate, "high": args.rate}
                cpu = measure_dashboard_cpu(
                    data_dir,
                    shared,
                    settings,
                    layout.clicks,
                    args.dashboard_sessions,
                    rates,
                    args.cpu_duration,
                )
                own = {**shared, "C360_REDIS_URL": ""}  # the naive way: each process reads the topic itself
                baseline = measure_dashboard_cpu(
                    data_dir, own, settings, layout.clicks, args.dashboard_sessions, rates, args.cpu_duration
                )
                result |= {
                    "dashboard_sessions": args.dashboard_sessions,
                    "dashboard_cpu_pct_idle": cpu["idle"],
                    "dashboard_cpu_pct_low": cpu["low"],
                    "dashboard_cpu_pct_high": cpu["high"],
                    "dashboard_stream_cpu_pct_low": round(cpu["low"] - cpu["idle"], 1),
                    "dashboard_stream_cpu_pct_high": round(cpu["high"] - cpu["idle"], 1),
                    "low_rate": args.low_rate,
                    "baseline_dashboard_cpu_pct_idle": baseline["idle"],
                    "baseline_dashboard_cpu_pct_low": baseline["low"],
                    "baseline_dashboard_cpu_pct_high": baseline["high"],
                    "baseline": "the same dashboard consuming the topic itself (no Redis, no aggregators)",
                }
                result |= measure_proxy(data_dir, shared, args.sessions, args.probes)
            finally:
                group.stop()
                state.stop()
                if result.get("clicks_lost"):
                    result["aggregator_logs"] = group.keep_logs()
        finally:
            redis_server.close()
    return result | {
        "cpus": os.cpu_count(),
        "load_avg_at_start": round(load_start, 2),
        "broker": "librdkafka mock cluster via connectors.tools.local_broker, loopback",
    }


def _options(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    parser.add_argument("--duration", type=float, default=30.0, help="throughput phase, seconds")
    parser.add_argument("--rate", type=float, default=150_000, help="produce rate cap (the highest rate)")
    parser.add_argument("--latency-duration", type=float, default=15.0, help="latency phase, seconds")
    parser.add_argument("--latency-rate", type=float, default=10_000, help="produce rate for latency")
    parser.add_argument(
        "--kill-duration", type=float, default=30.0, help="run with a killed aggregator, seconds"
    )
    parser.add_argument("--kill-rate", type=float, default=5_000, help="produce rate of that run")
    parser.add_argument(
        "--low-rate", type=float, default=1_000, help="the low rate of the dashboard CPU phase"
    )
    parser.add_argument(
        "--cpu-duration", type=float, default=20.0, help="each dashboard CPU measurement, seconds"
    )
    parser.add_argument("--dashboard-sessions", type=int, default=20, help="sessions open on that dashboard")
    parser.add_argument("--sessions", type=int, default=100, help="sessions opened through the proxy")
    parser.add_argument("--probes", type=int, default=10, help="Chromium pages through the proxy")


def main(argv: list[str] | None = None) -> int:
    return command("scale", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
