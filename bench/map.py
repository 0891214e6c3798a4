"""Benchmark the customer map: how long it takes to draw again after a pan or a zoom.

    python -m bench.map --customers 1000000 --json [--data-dir D] [--views 200] [--width 800 --height 450]

Builds (or reuses) a generated data set of that size with trained models (default folder
``/tmp/c360-bench-<N>``, shared with ``bench.directory``; ``--untrained`` leaves the models out, and the map
is coloured by tenure, as a server without models shows it), builds the dashboard's ``MapView`` over the real
directory and models, renders it into a Bokeh document as the server does for a page, and waits for Numba
to finish compiling. Then, for ``--views`` random views (a centre where customers live, a span from the
whole country down to a town), it times what the server does after the browser reports a pan or a zoom:
Datashader aggregates every customer into the view's pixels, shades and spreads them, HoloViews updates
the image, and Bokeh builds the message that carries it to the browser. The browser's drawing of the
image is not included.

Naive baseline, measured in the same run: a Bokeh scatter of every customer (what a map without
Datashader sends to the browser, which then draws every point again on each pan): the time to build and
serialise its document and the size of the message.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from bokeh.document import Document
from bokeh.plotting import figure
from bokeh.protocol import Protocol

from bench import command, percentiles
from bench.server import add_untrained_option
from connectors import config
from connectors.clickstream import ClickStream
from connectors.directory import Directory
from connectors.layout import Layout
from connectors.sample import ensure
from dashboard.map import US_VIEW, MapView
from dashboard.services import Services
from dashboard.store import CustomerStore
from models import artifacts
from models.insights import Insights
from models.train import train


def _prepare(data_dir: Path, customers: int, untrained: bool) -> Layout:
    layout = ensure(data_dir, customers)  # an older format has no real places: it is replaced
    if not untrained and artifacts.current(artifacts.models_dir(data_dir)) is None:
        train(layout, progress=False)
    return layout


def _message_bytes(events: list) -> int:
    """The size of the PATCH-DOC message the server would send for these document events."""
    return _size(Protocol().create("PATCH-DOC", events))


def _size(message) -> int:
    """Bytes of a Bokeh protocol message: its JSON parts and its binary buffers."""
    buffers = sum(len(buffer.to_bytes()) for buffer in message.buffers)
    return len(message.header_json) + len(message.metadata_json) + len(message.content_json) + buffers


def _views(rng: np.random.Generator, frame, count: int, aspect: float) -> list[tuple]:
    """Random views: centred on a random customer, from the whole country down to about 0.3 degrees."""
    (west, east), _ = US_VIEW
    spans = np.exp(rng.uniform(np.log(0.3), np.log(east - west), count))
    rows = rng.integers(0, len(frame), count)
    views = []
    for span, row in zip(spans, rows, strict=True):
        x, y = float(frame["longitude"].iat[row]), float(frame["latitude"].iat[row])
        height = span / aspect
        views.append(((x - span / 2, x + span / 2), (y - height / 2, y + height / 2)))
    return views


def _naive(frame) -> dict:
    """Every customer as a Bokeh scatter point: build and serialise the document a page would receive."""
    started = time.perf_counter()
    plot = figure(width=1200, height=640)
    plot.scatter(frame["longitude"].to_numpy(), frame["latitude"].to_numpy(), size=2)
    document = Document()
    document.add_root(plot)
    size = _size(Protocol().create("PULL-DOC-REPLY", "bench", document))
    return {
        "serialise_ms": round((time.perf_counter() - started) * 1000, 1),
        "megabytes": round(size / 1e6, 1),
    }


def run(args: argparse.Namespace) -> dict:
    data_dir = args.data_dir or Path(f"/tmp/c360-bench-{args.customers}")
    started = time.perf_counter()
    layout = _prepare(data_dir, args.customers, args.untrained)
    settings = config.load(["--data-dir", str(layout.root)], environ={})
    directory = Directory(settings)
    stream = ClickStream(settings, directory.web_users())  # never started: the map does not need it
    models = None if args.untrained else Insights.load(layout.root)
    services = Services(settings, directory, stream, models)
    try:
        view = MapView(store=CustomerStore(services))
        document = Document()
        document.add_root(view.__panel__().get_root(document))
        view.size.event(width=args.width, height=args.height)
        view.data.compiled.wait(600)
        ready_s = time.perf_counter() - started
        events: list = []
        document.on_change(lambda event: events.append(event))
        load_before = os.getloadavg()[0]
        rng = np.random.default_rng(args.seed)
        timings, sizes = [], []
        for x_range, y_range in _views(rng, view.data.frame, args.views, args.width / args.height):
            events.clear()
            begun = time.perf_counter()
            view.view.event(x_range=x_range, y_range=y_range)
            sizes.append(_message_bytes(list(events)))
            timings.append((time.perf_counter() - begun) * 1000)
        return {
            "customers": len(view.data.frame),
            "cores": os.cpu_count(),
            "load_average_before": round(load_before, 2),
            "ready_s": round(ready_s, 1),
            "views": len(timings),
            "coloured_by": view.colour_by,
            "pixels": f"{args.width}x{args.height}",
            "rerender": percentiles(timings, digits=1),
            "image_message_mb": round(float(np.median(sizes)) / 1e6, 2),
            "baseline_every_point": _naive(view.data.frame),
        }
    finally:
        services.close()


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", type=Path, help="data set to use (default /tmp/c360-bench-<N>)")
    parser.add_argument("--customers", type=int, default=1_000_000, help="size of the generated data set")
    parser.add_argument("--views", type=int, default=200, help="pans and zooms timed")
    parser.add_argument(
        "--width", type=int, default=800, help="plot width in pixels (the page shows about 730)"
    )
    parser.add_argument(
        "--height", type=int, default=450, help="plot height in pixels (the page shows about 410)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random views")
    add_untrained_option(parser)


def main(argv: list[str] | None = None) -> int:
    return command("map", __doc__, _options, run, argv)


if __name__ == "__main__":
    sys.exit(main())
