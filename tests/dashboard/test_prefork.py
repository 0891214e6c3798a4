"""dashboard.prefork: a dashboard process forked from a supervisor that loaded the modules once.

Each test forks from a child interpreter of its own (``_in_a_supervisor``), never from pytest's process,
which runs threads of its own (the shared servers' fixtures) and holds the test session's state.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _in_a_supervisor(code: str, tmp_path: Path) -> dict:
    """Run ``code`` in a fresh interpreter that has preloaded the dashboard; it prints one JSON line."""
    script = tmp_path / "supervisor.py"
    script.write_text(
        "import json, os, sys, threading\nfrom dashboard import prefork\nprefork.preload()\n"
        + textwrap.dedent(code)
    )
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_forked_child_runs_with_its_own_environment_and_argv_and_its_exit_handlers(tmp_path):
    marker = tmp_path / "exit-handler-ran"
    code = f"""
    def run():
        import atexit
        leader = os.getpgid(0) == os.getpid()
        seen = f"{{os.environ['C360_CHILD']}} {{sys.argv[1]}} {{leader}}"
        atexit.register(lambda: open({str(marker)!r}, "w").write(seen))
        raise SystemExit(3)

    child = prefork.fork(run, {{"C360_CHILD": "yes"}}, ["panel", "serve"], before=lambda: None)
    code = child.wait(timeout=60)
    print(json.dumps({{"code": code, "env": "C360_CHILD" in os.environ}}))
    """
    answer = _in_a_supervisor(code, tmp_path)
    assert answer == {"code": 3, "env": False}, "its exit status, and its environment stays its own"
    assert marker.read_text() == "yes serve True", "its environment, argv and session; its exit handlers ran"


def test_the_modules_are_loaded_and_frozen_before_the_fork(tmp_path):
    code = """
    import gc
    print(json.dumps({"panel": "panel" in sys.modules, "app": "dashboard.app" in sys.modules,
                      "later": "holoviews" in sys.modules and "datashader" in sys.modules,
                      "frozen": gc.get_freeze_count()}))
    """
    answer = _in_a_supervisor(code, tmp_path)
    assert answer["panel"] and answer["app"]
    assert answer["later"], "what the app imports only with its first heatmap and map is shared too"
    assert answer["frozen"] > 100_000, "the loaded modules' objects are out of the collector's scans"


def test_it_refuses_to_fork_while_another_thread_runs(tmp_path):
    code = """
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
    try:
        prefork.fork(lambda: None, {}, ["x"], before=lambda: None)
        refused = ""
    except RuntimeError as error:
        refused = str(error)
    print(json.dumps({"can_fork": prefork.can_fork(), "refused": refused}))
    """
    answer = _in_a_supervisor(code, tmp_path)
    assert answer["can_fork"] is False
    assert "threads" in answer["refused"]


def test_an_exception_in_the_child_is_printed_and_exits_1(tmp_path):
    code = """
    def run():
        raise ValueError("broken child")

    child = prefork.fork(run, {}, ["x"], before=lambda: None)
    print(json.dumps({"code": child.wait(timeout=60)}))
    """
    assert _in_a_supervisor(code, tmp_path) == {"code": 1}


def test_a_started_server_builds_its_first_page_without_holoviews_or_datashader():
    """They were a fifth of a restart's time to the first page (``bench.startup``), which needs neither:
    the heatmap and the map import them when they are built (``dashboard.app.below_the_call``)."""
    code = (
        "import sys, dashboard.app; print(sorted(m for m in ('holoviews', 'datashader') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]"
