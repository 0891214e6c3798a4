"""Benchmark: the directory built once and shared: first build, restart, a second process, an incremental update.

    python -m bench.startup --customers 1000000 --json [--data-dir DIR] [--untrained]

On a generated and trained data set (``/tmp/c360-bench-<N>`` unless ``--data-dir``; ``--untrained``: without
models, so that a large size is measured without training on it first):

- ``first_build_s``: ``python -m connectors.directory.build`` from nothing (the old design paid this on every
  start of every process: the naive baseline of the restart);
- ``restart_to_first_search_s``: ``python -m dashboard`` started on that build (after one start that wrote
  the models' scores beside it), until a page's session has been built — its directory view runs a search
  while the page is built — as a websocket client pulling the page sees it;
- ``second_process_pss_mb``: what a second server process on the same build adds to the machine's
  proportional memory (``/proc/PID/smaps_rollup``), each process having served a page; the naive baseline
  (``baseline_second_process_pss_mb``) is a second process on a copy of the build, which shares no pages;
- ``incremental_update_s``: 1,000 new customers appended to the profile documents, until every one is
  searchable through ``Directory.search`` (the appended lines are removed again at the end);
- ``fleet_*``: the same for the processes of ``python -m dashboard --processes N --proxy none``, forked
  from a supervisor that has loaded the modules (``dashboard.prefork``): ``fleet_second_process_pss_mb``
  is what the machine's proportional memory (supervisor and processes, each process having served a page)
  grows by from one process to two, and ``fleet_restart_to_first_search_s`` how long a process killed with
  SIGKILL, after ``dashboard.fleet.STABLE_S`` of service, takes to serve a page again.

The project's modules are compiled first (``make bytecode``; an installed package has its bytecode), so
that a restart does not also compile them where ``PYTHONDONTWRITEBYTECODE`` is set.

Memory is read once the served page's session has ended (Bokeh's unused-session lifetime and check) and the
process has given its memory back (``dashboard.memory.SETTLE_S`` after it), as it stands between calls.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
from bokeh.server.tornado import DEFAULT_CHECK_UNUSED_MS, DEFAULT_UNUSED_LIFETIME_MS

import connectors
import dashboard
import models
from bench import command
from bench.clients import ListeningClient
from bench.server import add_data_options, add_untrained_option, data_set, stop
from connectors import config
from connectors.directory import Directory, artifact
from connectors.layout import Layout
from dashboard.fleet import STABLE_S
from dashboard.memory import SETTLE_S
from tests.servers import free_port, free_ports, wait_until

APPENDED = 1_000
# Bokeh destroys a session whose websocket closed once it has been unused for its lifetime, at its next
# check of unused sessions; the dashboard gives the memory back SETTLE_S after the last one (dashboard.memory).
RELEASED_AFTER_S = (DEFAULT_UNUSED_LIFETIME_MS + DEFAULT_CHECK_UNUSED_MS) / 1000 + SETTLE_S + 1
MARK = "Qzbench"  # in every appended name, so that a search finds exactly the appended customers


def pss_mb(pid: int) -> float:
    """The process's proportional set size: its private pages, plus shared pages divided by their sharers."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def settled_pss_mb(pids: list[int]) -> float:
    """The processes' proportional memory summed, once a closed session's memory has been given back."""
    time.sleep(RELEASED_AFTER_S)
    return sum(pss_mb(pid) for pid in pids)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _server(data_dir: Path, index_dir: Path) -> tuple[subprocess.Popen, str, float]:
    """Start ``python -m dashboard`` and wait for a page's session; returns it, its URL and the seconds."""
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--port", str(port)],
        env={**os.environ, "C360_INDEX_DIR": str(index_dir)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/customer360"
    wait_until(lambda: _page_served(url) or process.poll() is not None, timeout=1800, interval=0.1)
    if process.poll() is not None:
        raise RuntimeError("the dashboard server exited at start")
    return process, url, time.perf_counter() - started


def _fleet(data_dir: Path, index_dir: Path, processes: int) -> tuple[subprocess.Popen, list[str]]:
    """Start ``python -m dashboard --processes N --proxy none`` and wait until every process serves a page."""
    first = free_ports(processes)
    options = ["--port", str(first), "--processes", str(processes), "--proxy", "none"]
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), *options],
        env={**os.environ, "C360_INDEX_DIR": str(index_dir)},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    urls = [f"http://127.0.0.1:{port}/customer360" for port in range(first, first + processes)]
    for url in urls:
        wait_until(lambda u=url: _page_served(u) or process.poll() is not None, timeout=1800, interval=0.1)
    if process.poll() is not None:
        raise RuntimeError("python -m dashboard --processes exited at start")
    return process, urls


def _measure_fleet(data_dir: Path, index_dir: Path) -> dict:
    """The forked processes' memory from one to two, and a killed one's restart."""
    one, _ = _fleet(data_dir, index_dir, 1)
    try:
        alone = settled_pss_mb([one.pid, *_children(one.pid)])
    finally:
        stop(one)
    two, urls = _fleet(data_dir, index_dir, 2)
    try:
        started = time.monotonic()
        both = settled_pss_mb([two.pid, *_children(two.pid)])
        supervisor = pss_mb(two.pid)
        time.sleep(max(0.0, STABLE_S + 1 - (time.monotonic() - started)))  # restarted at once, no backoff
        os.kill(_children(two.pid)[0], 9)
        killed = time.perf_counter()
        wait_until(lambda: not _page_served(urls[0]), timeout=60, interval=0.05)
        wait_until(lambda: _page_served(urls[0]), timeout=600, interval=0.1)
        restart_s = time.perf_counter() - killed
    finally:
        stop(two)
    return {
        "fleet_first_process_pss_mb": round(alone, 1),
        "fleet_second_process_pss_mb": round(both - alone, 1),
        "fleet_supervisor_pss_mb": round(supervisor, 1),
        "fleet_restart_to_first_search_s": round(restart_s, 2),
    }


def _page_served(url: str) -> bool:
    """Whether a websocket client gets a page's document (the server built the page, search included)."""
    client = ListeningClient(url)

    async def pull() -> None:
        try:
            await asyncio.wait_for(client.open(), timeout=120)
        finally:
            client.close()

    try:
        asyncio.run(pull())
    except (OSError, ConnectionError, asyncio.TimeoutError):
        return False
    return True


def _append_customers(layout: Layout) -> int:
    """Append the new customers' documents; returns the file's size before, to cut them off again."""
    size = layout.profiles.stat().st_size
    first = 10**12  # ids no data set uses
    lines = [
        orjson.dumps(
            {
                "id": first + n,
                "name": f"{MARK} Newcomer{n:04d}",
                "email": f"qz.newcomer{n}@example.com",
                "phone_number": f"555-{n % 1000:03d}-{n:04d}",
                "first_visit": "2026-10-15",
                "address": {"state": "NV"},
            }
        )
        for n in range(APPENDED)
    ]
    with layout.profiles.open("ab") as out:
        out.write(b"\n".join(lines) + b"\n")
    return size


def run(args: argparse.Namespace) -> dict:
    data_dir = data_set(args)
    layout = Layout(data_dir)
    settings = config.load(["--data-dir", str(data_dir)], environ={})
    index_dir = settings.index_folder
    shutil.rmtree(index_dir, ignore_errors=True)
    for package in (connectors, dashboard, models):
        compileall.compile_dir(Path(package.__file__).parent, quiet=1)
    load_before = os.getloadavg()

    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "connectors.directory.build", "--data-dir", str(data_dir), "--quiet"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    first_build_s = time.perf_counter() - started
    build_id = artifact.current(index_dir).id

    first, _, first_start_s = _server(data_dir, index_dir)  # writes the models' scores beside the build
    stop(first)
    first, _, restart_s = _server(data_dir, index_dir)
    alone = settled_pss_mb([first.pid])
    second, _, _ = _server(data_dir, index_dir)
    shared = settled_pss_mb([first.pid, second.pid])
    stop(second)
    copy = index_dir.with_name(f"{index_dir.name}-copy")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(index_dir, copy)
    try:
        alone_again = pss_mb(first.pid)
        apart, _, _ = _server(data_dir, copy)
        unshared = settled_pss_mb([first.pid, apart.pid])
        stop(apart)
    finally:
        stop(first)
        shutil.rmtree(copy, ignore_errors=True)

    fleet = _measure_fleet(data_dir, index_dir)

    directory = Directory(settings)
    size = _append_customers(layout)
    try:
        started = time.perf_counter()
        wait_until(lambda: directory.search(MARK.lower()).total == APPENDED, timeout=1800, interval=0.05)
        incremental_s = time.perf_counter() - started
        delta = directory.health()["delta"]
    finally:
        os.truncate(layout.profiles, size)
        directory.close()
    return {
        "customers": artifact.current(index_dir).customers,
        "build": build_id,
        "first_build_s": round(first_build_s, 1),
        "first_start_with_scores_s": round(first_start_s, 1),
        "restart_to_first_search_s": round(restart_s, 2),
        "baseline_restart_s": round(first_build_s + restart_s, 1),
        "first_process_pss_mb": round(alone, 1),
        "second_process_pss_mb": round(shared - alone, 1),
        "baseline_second_process_pss_mb": round(unshared - alone_again, 1),
        **fleet,
        "incremental_update_s": round(incremental_s, 2),
        "incremental_customers": APPENDED,
        "delta": delta,
        "cpu_count": os.cpu_count(),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "data_dir": str(data_dir),
    }


def _options(parser: argparse.ArgumentParser) -> None:
    add_data_options(parser)
    add_untrained_option(parser)
    parser.set_defaults(customers=1_000_000)


def main(argv: list[str] | None = None) -> int:
    return command("startup", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
