"""Benchmark: many open dashboard sessions on one server process with the live stream running.

    python -m bench.sessions --sessions 50 --json

The load is N websocket clients that speak Bokeh's protocol as a page does and read every update the server
sends (``bench.clients``); real Chromium pages, opened while they are connected, measure first render and
the latency of selecting a customer until every view has updated. Server memory is read from /proc once a first page has been served
(what every page shares is then loaded), with the N sessions open, and after they close.
The naive baseline, measured in the same run, is the same screen built without the process-wide services
(every session opens the sources and loads the models itself), as a straightforward Panel app would.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import sync_playwright

from bench import command
from bench.clients import ClientPool
from bench.server import add_data_options, data_set, rss_mb, serve, serve_dashboard, stop, wait_answering
from tests.servers import CHROMIUM_ARGS, DEEP_TEXT, find_chromium, free_port

SELECT_TIMEOUT_MS = 60_000.0
NAIVE_APP = """
import panel as pn
from connectors import config
from dashboard.app import create_app
from dashboard.services import build_services
import dashboard.app as app

settings = config.load()
services = build_services(settings)  # per session: what the process-wide cache avoids
pn.state.on_session_destroyed(lambda _ctx: services.close())
app.get_services = lambda _settings: services
create_app(settings).servable()
"""


SHOWS_CUSTOMER = f"""([views, customer]) => {{
  const text = {DEEP_TEXT};
  const shown = new RegExp(customer + "(?![0-9A-Za-z])");
  const clicked = window.c360ClickedAt;
  return clicked != null && views.every(view => shown.test(text(view))) && performance.now() - clicked;
}}"""
REMEMBER_CLICKS = (
    "window.addEventListener('click', () => { window.c360ClickedAt = performance.now(); }, true);"
)


class PageProbe:
    """A real Chromium page: first render time, then select-to-updated times."""

    def __init__(self, browser, url: str):
        self.page = browser.new_page(viewport={"width": 1600, "height": 1200})
        self.page.add_init_script(REMEMBER_CLICKS)
        self.url = url

    def first_render_ms(self) -> float:
        started = time.perf_counter()
        self.page.goto(self.url)
        self.page.locator(".c360-profile .c360-name").first.wait_for(timeout=120_000)
        self.page.locator(".c360-insights dd").first.wait_for(timeout=120_000)
        return (time.perf_counter() - started) * 1000

    def select_ms(self, row: int) -> float:
        """Click a directory row; time from the click until the profile and the insights show that customer.

        The page itself times it (from its click event to the animation frame that shows both), so the
        figure is what the representative sees, without the driver's round trips. A selection reaches the
        browser as one batch (``CustomerStore.select``), so the message that brings the profile and the
        insights also carries every other view's update.
        """
        rows = self.page.locator(".c360-directory .tabulator-row")
        rows.nth(row).wait_for(timeout=60_000)
        cell = rows.nth(row).locator('.tabulator-cell[tabulator-field="id"]').first
        customer = "#" + cell.evaluate("cell => cell.textContent").strip().replace(",", "")
        views = [
            self.page.locator(f".{name}").first.element_handle() for name in ("c360-profile", "c360-insights")
        ]
        self.page.evaluate("() => { window.c360ClickedAt = null; }")
        rows.nth(row).click()
        try:
            shown = self.page.wait_for_function(
                SHOWS_CUSTOMER, arg=[views, customer], polling="raf", timeout=SELECT_TIMEOUT_MS
            )
        except PlaywrightTimeoutError:
            return SELECT_TIMEOUT_MS  # counted as a timeout in the result, not hidden
        return float(shown.json_value())

    def close(self) -> None:
        self.page.close()


def _p95(values: list[float]) -> float:
    return round(float(np.percentile(values, 95)), 1)


def run(
    sessions: int, customers: int, data_dir: Path, probes: int, settle_s: float, close_wait_s: float
) -> dict:
    server, url = serve_dashboard(data_dir)
    result: dict = {"sessions": sessions, "customers": customers}
    try:
        wait_answering(url, server)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
            warm_up = PageProbe(browser, url)  # a served server: its first page loads what every page shares
            warm_up.first_render_ms()
            warm_up.close()
            time.sleep(settle_s)
            rss_start = rss_mb(server.pid)
            clients = ClientPool(url, sessions)
            time.sleep(settle_s)
            rss_loaded = rss_mb(server.pid)
            received, listened = clients.frames, time.perf_counter()
            renders, selects = [], []
            for index in range(probes):
                probe = PageProbe(browser, url)
                renders.append(probe.first_render_ms())
                selects.extend(probe.select_ms(row) for row in (1 + index % 5, 6 + index % 5))
                probe.close()
            received_per_s = (clients.frames - received) / (time.perf_counter() - listened)
            clients.close()
            browser.close()
        rss_after = rss_loaded
        deadline = time.monotonic() + close_wait_s  # Bokeh discards closed sessions after their lifetime
        while time.monotonic() < deadline:
            time.sleep(5)
            rss_after = rss_mb(server.pid)
            if rss_after <= rss_start + 0.25 * (rss_loaded - rss_start):
                break
        result.update(
            first_render_p95_ms=_p95(renders),
            first_render_p50_ms=round(float(np.median(renders)), 1),
            select_p95_ms=_p95(selects),
            select_p50_ms=round(float(np.median(selects)), 1),
            select_timeouts=sum(value >= SELECT_TIMEOUT_MS for value in selects),
            rss_mb_start=round(rss_start, 1),
            rss_mb_loaded=round(rss_loaded, 1),
            mb_per_session=round((rss_loaded - rss_start) / sessions, 2),
            mb_after_close=round(rss_after, 1),
            probes=probes,
            ws_frames_per_session_s=round(received_per_s / sessions, 1),
        )
    finally:
        stop(server)
    try:
        result["baseline_first_render_p95_ms"] = _naive_first_render(data_dir, probes)
    except (AssertionError, RuntimeError) as error:  # keep the measured figures when the baseline fails
        result["baseline_error"] = str(error)
    return result


def _naive_first_render(data_dir: Path, probes: int) -> float:
    """First render when every session loads the sources and models itself (no process-wide cache)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="c360-naive-") as folder:
        app = Path(folder) / "customer360.py"
        app.write_text(NAIVE_APP)
        command = [sys.executable, "-m", "panel", "serve", str(app), "--address", "127.0.0.1"]
        server = serve(
            [*command, "--port", str(port), "--args", "--data-dir", str(data_dir)], {"C360_VERIFY": "off"}
        )
        url = f"http://127.0.0.1:{port}/customer360"
        try:
            wait_answering(url, server, timeout=300, per_request=120)  # each naive page loads everything
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS)
                renders = []
                for _ in range(probes):
                    probe = PageProbe(browser, url)
                    renders.append(probe.first_render_ms())
                    probe.close()
                browser.close()
            return _p95(renders)
        finally:
            stop(server)


def _run(args: argparse.Namespace) -> dict:
    return run(args.sessions, args.customers, data_set(args), args.probes, args.settle, args.close_wait)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sessions", type=int, default=50, help="concurrent websocket sessions")
    add_data_options(parser)
    parser.add_argument(
        "--probes", type=int, default=10, help="Chromium pages that measure render and select"
    )
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to let memory settle")
    parser.add_argument(
        "--close-wait", type=float, default=120.0, help="seconds to wait for memory to come back after close"
    )


def main(argv: list[str] | None = None) -> int:
    return command("sessions", __doc__, _options, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
