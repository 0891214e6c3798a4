"""The process-wide services: shared answers computed once per question, bounded; closed at exit."""

from __future__ import annotations

import signal
from pathlib import Path

from dashboard.services import SharedResults
from tests.dashboard.conftest import DashboardServer


def test_an_answer_is_computed_once_and_the_least_recently_used_go_first():
    shared, computed = SharedResults(size=2), []

    def compute(key):
        computed.append(key)
        return [key]

    first = shared.get("a", lambda: compute("a"))
    assert shared.get("a", lambda: compute("a")) is first and computed == ["a"]
    shared.get("b", lambda: compute("b"))
    shared.get("a", lambda: compute("a"))  # "a" is now the most recently used
    shared.get("c", lambda: compute("c"))  # over the size: "b" goes
    shared.get("a", lambda: compute("a"))
    shared.get("b", lambda: compute("b"))
    assert computed == ["a", "b", "c", "b"]


def test_a_served_dashboard_ends_on_sigterm_without_aborting(dashboard_data, tmp_path):
    """The services close before the interpreter tears down (README "Workarounds"): a daemon thread still
    inside DuckDB or librdkafka at exit aborted the process ("terminate called after throwing")."""
    server = DashboardServer(dashboard_data, log=tmp_path / "server.log")
    server.start()  # the page answered: its session built the services and started the click stream
    server.stop()
    assert server.process.returncode != -signal.SIGABRT
    assert "terminate called" not in server.logged()


def test_a_serving_process_never_loads_scikit_learn(dashboard_server):
    """Training writes what it learnt as plain numbers and the server scores with them (models/__init__.py):
    a served page's process has mapped none of scikit-learn's compiled modules."""
    maps = Path(f"/proc/{dashboard_server.process.pid}/maps").read_text()
    assert "/numpy/" in maps  # compiled modules of site-packages are listed here
    assert "/sklearn/" not in maps
