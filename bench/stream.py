"""Benchmark the live click stream against a Kafka-protocol broker on loopback.

    python -m bench.stream --json [--duration 30] [--rate 150000] [--latency-rate 10000]

Clicks in the original message format are produced by ``connectors.tools.produce`` in its own process into
``connectors.tools.local_broker`` (librdkafka's mock cluster, the broker the tests use), and consumed and
aggregated by ``connectors.clickstream.ClickStream``, the code the server runs. Three phases:

- throughput and memory: produce at up to ``--rate`` for ``--duration`` seconds; ``clicks_per_s`` is what
  the stream accepted per second after a warm-up, ``rss_mb_start``/``rss_mb_end`` this process's memory
  then and at the end (use ``--duration 300`` for the five-minute memory run);
- latency: produce at ``--latency-rate`` while a simulated session pulls every ``--pull-ms`` as the
  dashboard does; a click's latency is from its produce time (its Kafka timestamp) to the first pull
  whose rate rows count it (``p95_latency_ms``; ``LiveClicks`` shows that row's rate at once), that can
  show it in the customer's activity (``p95_activity_latency_ms``), or that also updated the line plot,
  which takes the pulled rows every ``--plot-ms`` (``p95_plot_latency_ms``);
- baseline: a naive consumer (one ``poll()`` per message, ``json.loads``, per-message dict updates)
  against the same producer, for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict, deque
from pathlib import Path

import numpy as np
import pandas as pd
from confluent_kafka import Consumer, TopicPartition

from bench import command
from connectors import config
from connectors.clickstream import ClickStream
from connectors.clickstream.pipeline import BUCKET_MS
from connectors.config import Settings
from connectors.layout import Layout
from connectors.sample import generate
from connectors.tools.local_broker import LocalBroker

WARMUP_S = 3.0


def web_users(layout: Layout) -> pd.DataFrame:
    """(web_user_id, customer_id) pairs straight from the CRM profiles."""
    profiles = pd.read_json(layout.profiles, lines=True, dtype={"phone_number": str})
    return profiles.rename(columns={"id": "customer_id"})[["web_user_id", "customer_id"]].dropna()


def cpu_s() -> float:
    """CPU time of this process so far, every thread (librdkafka's included)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    """This process's resident memory."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Producer:
    """``python -m connectors.tools.produce`` in its own process, like a separately running website."""

    def __init__(self, settings: Settings, clicks: Path, rate: float, seconds: float) -> None:
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "connectors.tools.produce",
                "--bootstrap",
                settings.kafka_bootstrap,
                "--topic",
                settings.kafka_topic,
                "--file",
                str(clicks),
                "--rate",
                str(rate),
                "--limit",
                str(int(rate * seconds)),
                "--loop",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
        _, errors = self._process.communicate(timeout=60)
        if self._process.returncode not in (0, -15):
            raise RuntimeError(f"the producer failed: {errors}")

    def wait(self, timeout: float) -> None:
        """Wait until every click it was asked for is delivered; raise if it could not deliver them all."""
        _, errors = self._process.communicate(timeout=timeout)
        if self._process.returncode != 0:
            raise RuntimeError(f"the producer failed: {errors}")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def stream_settings(layout: Layout, bootstrap: str) -> Settings:
    topic = f"bench-clicks-{uuid.uuid4().hex[:8]}"
    return config.load(
        ["--data-dir", str(layout.root), "--kafka-bootstrap", bootstrap, "--kafka-topic", topic], environ={}
    )


def measure_throughput(
    layout: Layout, users: pd.DataFrame, bootstrap: str, rate: float, seconds: float
) -> dict:
    settings = stream_settings(layout, bootstrap)
    stream = ClickStream(settings, users).start()
    producer = Producer(settings, layout.clicks, rate, seconds + WARMUP_S + 5)
    try:
        wait_for(lambda: stream.health()["accepted"] > 0, 30, "the first clicks")
        time.sleep(WARMUP_S)
        started, accepted_start, rss_start = time.monotonic(), stream.health()["accepted"], rss_mb()
        cpu_start = cpu_s()
        rss_samples = [rss_start]
        while time.monotonic() - started < seconds:
            time.sleep(min(1.0, seconds))
            rss_samples.append(rss_mb())
        trace_every = max(1, len(rss_samples) // 10)
        health = stream.health()
        elapsed, cpu = time.monotonic() - started, cpu_s() - cpu_start
    finally:
        producer.stop()
        stream.stop()
    clicks = health["accepted"] - accepted_start
    return {
        "clicks_per_s": round(clicks / elapsed),
        "cpu_us_per_click": round(cpu / clicks * 1e6, 2),
        "cores_used": round(cpu / elapsed, 2),
        "duration_s": round(elapsed, 1),
        "produce_rate_cap": rate,
        "lag_end": health["lag"],
        "dropped": health["dropped_total"],
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_end": round(rss_samples[-1], 1),
        "rss_mb_max": round(max(rss_samples), 1),
        "rss_mb_trace": [round(mb) for mb in rss_samples[::trace_every]],
    }


def measure_latency(
    layout: Layout,
    users: pd.DataFrame,
    bootstrap: str,
    rate: float,
    seconds: float,
    pull_ms: int,
    plot_ms: int,
) -> dict:
    settings = stream_settings(layout, bootstrap)
    stream = ClickStream(settings, users)
    processed: list[tuple[float, np.ndarray]] = []
    stream.accepted.sink(lambda clicks: processed.append((time.time() * 1000, clicks["time_ms"].to_numpy())))
    stream.start()
    pulls: list[tuple[float, int]] = []  # (wall ms, end of the last bucket the pull covered)
    plotted: list[tuple[float, int]] = []  # the same, for the pulls that also updated the line plot
    stopping = threading.Event()

    def session() -> None:
        """What a dashboard session's periodic callback does (LiveClicks, CustomerActivity)."""
        _, cursor = stream.global_rates_since(None)
        while not stopping.wait(pull_ms / 1000):
            rows, cursor = stream.global_rates_since(cursor)
            stream.customer_activity(1)
            if cursor is None:
                continue
            pulls.append((time.time() * 1000, (cursor + 1) * BUCKET_MS))
            if not rows.empty and (not plotted or pulls[-1][0] - plotted[-1][0] >= plot_ms):
                plotted.append(pulls[-1])

    producer = Producer(settings, layout.clicks, rate, seconds + WARMUP_S + 5)
    try:
        wait_for(lambda: stream.health()["accepted"] > 0, 30, "the first clicks")
        time.sleep(WARMUP_S)
        window_start = time.time() * 1000
        puller = threading.Thread(target=session)
        puller.start()
        time.sleep(seconds)
        window_end = time.time() * 1000
        # Let the pulls catch up with every click of the window (latency is what is measured).
        wait_for(lambda: plotted and plotted[-1][1] > window_end + BUCKET_MS, 60, "the pulls to catch up")
        stopping.set()
        puller.join()
    finally:
        producer.stop()
        stream.stop()
    pull_ms_at = np.array([p[0] for p in pulls])
    covered = np.array([p[1] for p in pulls])
    click_ms = np.concatenate([times for _, times in processed])
    seen_ms = np.concatenate([np.full(len(times), at) for at, times in processed])
    keep = (click_ms >= window_start) & (click_ms < window_end)
    click_ms, seen_ms = click_ms[keep], seen_ms[keep]
    bucket_end = (click_ms // BUCKET_MS + 1) * BUCKET_MS
    rates = pull_ms_at[np.searchsorted(covered, bucket_end)] - click_ms
    activity = pull_ms_at[np.searchsorted(pull_ms_at, seen_ms)] - click_ms
    plot_at, plot_covered = np.array(plotted).T
    plot = plot_at[np.searchsorted(plot_covered, bucket_end)] - click_ms
    return {
        "p50_latency_ms": round(float(np.percentile(rates, 50))),
        "p95_latency_ms": round(float(np.percentile(rates, 95))),
        "p99_latency_ms": round(float(np.percentile(rates, 99))),
        "p95_activity_latency_ms": round(float(np.percentile(activity, 95))),
        "p95_plot_latency_ms": round(float(np.percentile(plot, 95))),
        "latency_rate": rate,
        "latency_clicks": len(click_ms),
        "pull_ms": pull_ms,
        "plot_ms": plot_ms,
    }


def measure_baseline(
    layout: Layout, users: pd.DataFrame, bootstrap: str, rate: float, seconds: float
) -> dict:
    """One message per poll(), json.loads, and dict/Counter/deque updates per message."""
    settings = stream_settings(layout, bootstrap)
    customer_of = dict(zip(users["web_user_id"].astype(int), users["customer_id"].astype(int), strict=True))
    per_second: Counter = Counter()
    recent: defaultdict[int, deque] = defaultdict(lambda: deque(maxlen=50))
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex}",
            "fetch.wait.max.ms": 10,
            "enable.auto.commit": False,
        }
    )
    producer = Producer(settings, layout.clicks, rate, seconds + WARMUP_S + 5)
    processed = 0
    try:
        wait_for(lambda: settings.kafka_topic in consumer.list_topics(timeout=5).topics, 30, "the topic")
        partitions = (
            consumer.list_topics(settings.kafka_topic, timeout=5).topics[settings.kafka_topic].partitions
        )
        consumer.assign([TopicPartition(settings.kafka_topic, p, 0) for p in partitions])
        started, cpu_start = time.monotonic(), cpu_s()
        while time.monotonic() - started < seconds:
            message = consumer.poll(0.05)
            if message is None or message.error() is not None:
                continue
            click = json.loads(message.value())
            if not all(
                isinstance(click.get(k), str) for k in ("datetime", "os", "browser", "product", "url")
            ):
                continue
            customer = customer_of.get(click.get("user_id"))
            if customer is None:
                continue
            second = message.timestamp()[1] // 1000
            per_second[(second, click["product"])] += 1
            recent[customer].append((second, click["product"], click["url"]))
            processed += 1
        elapsed, cpu = time.monotonic() - started, cpu_s() - cpu_start
    finally:
        producer.stop()
        consumer.close()
    return {
        "method": "poll() one message + json.loads + per-message dict updates",
        "clicks_per_s": round(processed / elapsed),
        "cpu_us_per_click": round(cpu / max(processed, 1) * 1e6, 2),
    }


def run(args: argparse.Namespace) -> dict:
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="c360-bench-") as scratch:
        if args.data_dir:
            layout = Layout(args.data_dir)
        else:
            generate(Path(scratch) / "data", args.customers, progress=False)
            layout = Layout(Path(scratch) / "data")
        users = web_users(layout)
        with LocalBroker() as broker:
            result = measure_throughput(layout, users, broker.bootstrap, args.rate, args.duration)
            result |= measure_latency(
                layout,
                users,
                broker.bootstrap,
                args.latency_rate,
                args.latency_duration,
                args.pull_ms,
                args.plot_ms,
            )
            baseline = measure_baseline(layout, users, broker.bootstrap, args.rate, args.baseline_duration)
        customers = int(layout.read_manifest()["customers"])
    return result | {
        "baseline": baseline,
        "cpu_per_click_vs_baseline": round(result["cpu_us_per_click"] / baseline["cpu_us_per_click"], 2),
        "customers": customers,
        "cpus": os.cpu_count(),
        "load_avg_at_start": round(load_start, 2),
        "broker": "librdkafka mock cluster via connectors.tools.local_broker, loopback",
    }


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--duration", type=float, default=30.0, help="throughput and memory phase, seconds")
    parser.add_argument("--rate", type=float, default=150_000, help="produce rate cap for throughput")
    parser.add_argument("--latency-duration", type=float, default=15.0, help="latency phase, seconds")
    parser.add_argument("--latency-rate", type=float, default=10_000, help="produce rate for latency")
    parser.add_argument("--baseline-duration", type=float, default=10.0, help="naive baseline, seconds")
    parser.add_argument(
        "--pull-ms", type=int, default=250, help="a session's pull period (LiveClicks.period)"
    )
    parser.add_argument(
        "--plot-ms",
        type=int,
        default=1000,
        help="how often a session's line plot takes the pulled rows",
    )
    parser.add_argument("--customers", type=int, default=3000, help="size of the generated data set")
    parser.add_argument("--data-dir", type=Path, help="use this data set instead of generating one")


def main(argv: list[str] | None = None) -> int:
    return command("stream", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
