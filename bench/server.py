"""Run the dashboard as its own server process for a benchmark, and watch its memory from /proc."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from connectors.layout import Layout
from connectors.sample import generate
from models.train import train
from tests.servers import answers, free_port, wait_until


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--customers`` and ``--data-dir``: the data set a served benchmark runs on (kept between runs)."""
    parser.add_argument("--customers", type=int, default=100_000, help="data set size")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="data folder (default: /tmp/c360-bench-N)"
    )


def add_untrained_option(parser: argparse.ArgumentParser) -> None:
    """``--untrained``: run without models, to measure a large size without first training on it."""
    parser.add_argument(
        "--untrained",
        action="store_true",
        help="without trained models (the screen as a server without models shows it), so that a large "
        "size is measured without training on it first (10M: 9 minutes)",
    )


def data_set(args: argparse.Namespace) -> Path:
    """The data set the options name, generated (and trained, unless ``--untrained``) when missing."""
    path = args.data_dir or Path(f"/tmp/c360-bench-{args.customers}")
    return prepare(path, args.customers, trained=not getattr(args, "untrained", False))


def prepare(data_dir: Path, customers: int, trained: bool = True) -> Path:
    """A generated (and trained) data set in ``data_dir``, made only when missing."""
    layout = Layout(data_dir)
    if not layout.exists():
        generate(data_dir, customers, progress=False)
    if trained and not (data_dir / "models").exists():
        train(layout, progress=False)
    return data_dir


def rss_mb(pid: int) -> float:
    """The process's resident memory in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, every thread) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def serve(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a server command in its own process group, quietly (``env`` added to this environment)."""
    return subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def serve_dashboard(data_dir: Path, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``python -m dashboard`` on a free port; returns the process and the page's URL.

    Caller verification is off unless ``env`` says otherwise: the benchmarks time the screen of a caller
    who has been verified (its private parts are not built before that).
    """
    port = free_port()
    command = [sys.executable, "-m", "dashboard", "--data-dir", str(data_dir), "--port", str(port)]
    return serve(command, {"C360_VERIFY": "off", **(env or {})}), f"http://127.0.0.1:{port}/customer360"


def wait_answering(url: str, process: subprocess.Popen, timeout: float = 180, per_request: float = 5) -> None:
    """Poll until the page answers; fail at once if the server exits."""
    wait_until(
        lambda: answers(url, timeout=per_request) or process.poll() is not None, timeout=timeout, interval=0.5
    )
    if process.poll() is not None:
        raise RuntimeError("the dashboard server exited at start")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, and SIGKILL when an overloaded server does not stop within 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=30)
