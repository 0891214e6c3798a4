"""Benchmark: a kiosk left running, its server's memory over time.

    python -m bench.kiosk --minutes 10 --rotate 5 --json

A real Chromium page shows `/customer360?kiosk=1&rotate=N` while the replayed click stream runs; the
server's resident memory is sampled every few seconds and its growth after a warm-up is fitted with a
least-squares line (``kiosk_mb_per_hour``). Days of a wall display are compressed into minutes by the
fastest rotation the kiosk allows. The baseline, measured first in the same run, is the same server with
no page open (``idle_mb_per_hour``): what the stream and the process do on their own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import sync_playwright

from bench import command
from bench.server import add_data_options, data_set, rss_mb, serve_dashboard, stop, wait_answering
from tests.servers import CHROMIUM_ARGS, DEEP_TEXT, find_chromium

SAMPLE_EVERY_S = 5.0


def _growth_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per hour."""
    seconds, mb = np.array(samples).T
    return round(float(np.polyfit(seconds, mb, 1)[0]) * 3600, 2)


def _watch(pid: int, seconds: float, on_sample=None) -> list[tuple[float, float]]:
    """Sample the server's memory every few seconds for ``seconds``."""
    started = time.monotonic()
    samples = []
    while (elapsed := time.monotonic() - started) < seconds:
        samples.append((elapsed, rss_mb(pid)))
        if on_sample is not None:
            on_sample()
        time.sleep(SAMPLE_EVERY_S)
    return samples


def run(
    minutes: float, rotate: int, warmup_s: float, idle_minutes: float, customers: int, data_dir: Path
) -> dict:
    server, url = serve_dashboard(data_dir)
    try:
        wait_answering(url, server)
        idle = _watch(server.pid, idle_minutes * 60)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            errors: list[str] = []
            loads: list[str] = []
            page.on("console", lambda message: message.type == "error" and errors.append(message.text))
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("load", lambda loaded: loads.append(loaded.url))
            page.goto(f"{url}?kiosk=1&rotate={rotate}")
            name = page.locator(".c360-profile .c360-name").first
            name.wait_for(timeout=120_000)
            shown: list[str] = []

            def note_customer() -> None:
                current = " ".join(name.evaluate(DEEP_TEXT).split())
                if not shown or shown[-1] != current:
                    shown.append(current)

            _watch(server.pid, warmup_s, note_customer)
            kiosk = _watch(server.pid, minutes * 60, note_customer)
            browser.close()
    finally:
        stop(server)
    return {
        "minutes": minutes,
        "rotate_s": rotate,
        "customers": customers,
        "customers_shown": len(shown),
        "rss_mb_start": round(kiosk[0][1], 1),
        "rss_mb_end": round(kiosk[-1][1], 1),
        "rss_mb_min": round(min(mb for _, mb in kiosk), 1),
        "rss_mb_max": round(max(mb for _, mb in kiosk), 1),
        "kiosk_mb_per_hour": _growth_mb_per_hour(kiosk),
        "idle_mb_per_hour": _growth_mb_per_hour(idle),
        "page_loads": len(loads),  # 1 unless the watchdog had to reload the page
        "console_errors": len(errors),
    }


def _run(args: argparse.Namespace) -> dict:
    return run(args.minutes, args.rotate, args.warmup, args.idle_minutes, args.customers, data_set(args))


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the kiosk page is measured")
    parser.add_argument("--rotate", type=int, default=5, help="kiosk rotation period, seconds")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before measuring")
    parser.add_argument("--idle-minutes", type=float, default=3.0, help="baseline: no page open")
    add_data_options(parser)


def main(argv: list[str] | None = None) -> int:
    return command("kiosk", __doc__, _options, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
