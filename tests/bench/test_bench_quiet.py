"""bench.quiet: other processes at idle priority while the benchmark runs, put back afterwards."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

REPORT = "import os, sys; print(os.getpriority(os.PRIO_PROCESS, int(sys.argv[1])), os.getpriority(os.PRIO_PROCESS, 0))"


@pytest.mark.skipif(os.geteuid() != 0, reason="putting other processes back needs root (CAP_SYS_NICE)")
def test_other_processes_are_lowered_for_the_run_and_put_back():
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        before = os.getpriority(os.PRIO_PROCESS, bystander.pid)
        run = subprocess.run(
            [sys.executable, "-m", "bench.quiet", sys.executable, "-c", REPORT, str(bystander.pid)],
            capture_output=True,
            text=True,
            check=True,
        )
        during, own = map(int, run.stdout.split())
        assert during == 19 and own == before, "the bystander idles, the benchmark keeps its priority"
        assert os.getpriority(os.PRIO_PROCESS, bystander.pid) == before, "put back afterwards"
    finally:
        bystander.kill()
        bystander.wait()
