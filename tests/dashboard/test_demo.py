"""`make demo` from a user's point of view: it generates data if needed and the page answers."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.servers import answers, free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("make") is None, reason="GNU make not installed: run `sudo apt-get install make`"
)
def test_make_demo_generates_data_and_serves_customer360(tmp_path):
    port = free_port()
    env = {**os.environ, "PORT": str(port), "C360_DATA_DIR": str(tmp_path / "data"), "C360_CUSTOMERS": "2000"}
    demo = subprocess.Popen(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(
            lambda: (
                answers(f"http://127.0.0.1:{port}/customer360", b"Customer 360") or demo.poll() is not None
            ),
            timeout=240,
            interval=1,
        )
        assert demo.poll() is None, demo.stdout.read()
        assert (tmp_path / "data" / "manifest.json").is_file()
        assert (tmp_path / "data" / "index" / "CURRENT").is_file(), "make demo builds the directory first"
    finally:
        os.killpg(demo.pid, 15)
        demo.wait(timeout=30)
