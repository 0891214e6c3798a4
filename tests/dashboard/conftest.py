"""Fixtures for the dashboard: a trained copy of the sample data, its services, and a served app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from connectors import config
from connectors.layout import Layout
from dashboard.services import Services, build_services
from models.train import train
from tests.servers import answers, free_port, wait_until

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_ID = 2
HOSTILE_NOTE = "Customer said <script>alert('note')</script> & left"


@pytest.fixture(scope="session")
def dashboard_data(sample_layout: Layout, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample data with trained models, and one customer whose name is an HTML injection attempt."""
    root = tmp_path_factory.mktemp("dashboard") / "data"
    shutil.copytree(sample_layout.root, root, ignore=shutil.ignore_patterns("index"))
    layout = Layout(root)
    lines = layout.profiles.read_text(encoding="utf-8").splitlines()
    doc = json.loads(lines[HOSTILE_ID - 1])
    doc.update(name=HOSTILE_NAME, first_name="<img src=x", last_name="onerror=alert(1)>")
    lines[HOSTILE_ID - 1] = json.dumps(doc, ensure_ascii=False)
    layout.profiles.write_text("\n".join(lines) + "\n", encoding="utf-8")
    contacts = pd.read_parquet(layout.contacts)
    contacts.loc[contacts.index[contacts["customer_id"] == HOSTILE_ID][-1], "note"] = HOSTILE_NOTE
    contacts.to_parquet(layout.contacts, index=False)
    train(layout, progress=False)
    return root


@pytest.fixture(scope="session")
def dashboard_settings(dashboard_data: Path) -> config.Settings:
    return config.load(["--data-dir", str(dashboard_data), "--replay-rate", "200"], environ={})


@pytest.fixture(scope="session")
def services(dashboard_settings: config.Settings) -> Iterator[Services]:
    """The process-wide services, as the server builds them (replayed click stream running)."""
    built = build_services(dashboard_settings)
    try:
        yield built
    finally:
        built.close()


@pytest.fixture
def offline_customer(services: Services) -> int:
    """A customer with no website account: the replayed stream never moves their last click."""
    web = set(services.directory.web_users()["customer_id"])
    return next(customer for customer in range(3, 10_000) if customer not in web)


class DashboardServer:
    """`python -m dashboard` in its own process, restartable on the same port; ``environment`` adds
    settings, and ``log`` (a file) keeps what the server prints."""

    def __init__(self, data_dir: Path, environment: dict[str, str] | None = None, log: Path | None = None):
        self.port = free_port()
        self.data_dir = data_dir
        self.environment = environment or {}
        self.log = log
        self.process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base}/customer360"

    def start(self, ready: str = "/customer360") -> None:
        """Start, and return once ``ready`` (a path) answers."""
        env = {**os.environ, "C360_REPLAY_RATE": "200", "C360_VERIFY": "off", **self.environment}
        output = self.log.open("ab") if self.log is not None else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dashboard",
                    "--port",
                    str(self.port),
                    "--data-dir",
                    str(self.data_dir),
                ],
                env=env,
                start_new_session=True,
                stdout=output,
                stderr=subprocess.STDOUT if self.log is not None else subprocess.DEVNULL,
            )
        finally:
            if self.log is not None:
                output.close()
        wait_until(
            lambda: answers(self.base + ready) or self.process.poll() is not None, timeout=120, interval=0.2
        )
        assert self.process.poll() is None, "the dashboard server exited at start"

    def logged(self) -> str:
        return self.log.read_text(errors="replace") if self.log is not None else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def dashboard_server(dashboard_data: Path) -> Iterator[DashboardServer]:
    server = DashboardServer(dashboard_data)
    server.start()
    try:
        yield server
    finally:
        server.stop()
