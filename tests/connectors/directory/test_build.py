"""The directory built once per data version and shared read-only: reuse on restart, one builder at a time,
nothing half-built ever served, a full rebuild only when the code or the sources' shape changes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.config import Settings
from connectors.directory import Directory, artifact, build
from tests.connectors.directory.scan import copy_data
from tests.servers import wait_until

ROOT = Path(__file__).resolve().parents[3]
OPEN_AND_REPORT = """
import json, sys
from connectors.config import Settings
from connectors.directory import Directory
with Directory(Settings(data_dir=sys.argv[1])) as directory:
    print(json.dumps({"build": directory.health()["build"], "found": directory.search("gallardo").total}))
"""


@pytest.fixture
def data(sample_layout, tmp_path):
    """A copy of the sample without any build."""
    return copy_data(sample_layout, tmp_path / "data")


def _builds(settings: Settings) -> list[str]:
    return sorted(p.name for p in settings.index_folder.iterdir() if p.is_dir())


def test_a_restart_reuses_the_build(data):
    settings = Settings(data_dir=data.root)
    with Directory(settings) as first:
        built = first.health()
    stamp = (settings.index_folder / built["build"] / artifact.META).stat().st_mtime_ns
    with Directory(settings) as second:
        assert second.health()["build"] == built["build"]
        assert second.health()["built_at"] == built["built_at"]
        assert second.search("gallardo").total > 0
    assert (settings.index_folder / built["build"] / artifact.META).stat().st_mtime_ns == stamp
    assert _builds(settings) == [built["build"]]


def test_two_processes_starting_together_share_one_build(data):
    """One builds while the other waits for it; both then serve the same build."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN_AND_REPORT, str(data.root)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        reports.append(json.loads(out))
    assert reports[0] == reports[1] and reports[0]["found"] > 0
    assert _builds(Settings(data_dir=data.root)) == [reports[0]["build"]]


def test_a_builder_killed_mid_build_leaves_the_previous_build_serving(data):
    settings = Settings(data_dir=data.root)
    with Directory(settings) as directory:
        before = directory.health()["build"]
    data.profiles.write_bytes(data.profiles.read_bytes() * 40)  # repeated ids: a bigger file to read
    builder = subprocess.Popen(
        [sys.executable, "-m", "connectors.directory.build", "--data-dir", str(data.root), "--quiet"],
        cwd=ROOT,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    staging = wait_until(
        lambda: next(settings.index_folder.glob(f"{build.builder.STAGING}*"), None),
        timeout=60,
        interval=0.005,
        message="the builder's staging folder",
    )
    os.killpg(builder.pid, signal.SIGKILL)
    builder.wait(timeout=30)
    assert artifact.current(settings.index_folder).id == before
    with Directory(settings) as directory:  # the sources changed: it serves the old build and updates it
        assert directory.health()["build"] == before
        assert directory.search("gallardo").total > 0
    done = subprocess.run(
        [sys.executable, "-m", "connectors.directory.build", "--data-dir", str(data.root), "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert not staging.exists() and not list(settings.index_folder.glob(f"{build.builder.STAGING}*"))
    assert artifact.current(settings.index_folder).id != before


def test_a_changed_shape_of_the_sources_builds_anew(data):
    """A new column in the banking tables is a change of shape: the directory is rebuilt, not patched."""
    settings = Settings(data_dir=data.root)
    with Directory(settings) as directory:
        before = directory.health()["build"]
        accounts = pq.read_table(data.accounts)
        pq.write_table(accounts.append_column("branch", pa.array(["main"] * len(accounts))), data.accounts)
        wait_until(lambda: directory.health()["build"] != before, timeout=60, message="a new build")
        assert directory.health()["delta"] is None
        assert directory.search("gallardo").total > 0
    assert artifact.current(settings.index_folder).meta["family"] != before.split("-")[0]


def test_a_server_cannot_write_into_the_build_it_serves(data):
    settings = Settings(data_dir=data.root)
    with Directory(settings) as directory:
        generation = directory._generation
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            generation.index._db.execute("DELETE FROM directory")
        with pytest.raises(duckdb.Error, match="read-only"):
            generation.duck.execute("DELETE FROM build.profiles")
        assert directory.search("gallardo").total > 0


def test_the_build_command_says_when_the_build_is_current(data):
    command = [sys.executable, "-m", "connectors.directory.build", "--data-dir", str(data.root), "--quiet"]
    first = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0 and "Built the directory of 3,000 customers" in first.stdout, first.stderr
    again = subprocess.run([*command, "--if-stale"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "matches the sources; not rebuilt" in again.stdout
    assert "RuntimeWarning" not in first.stderr + again.stderr
