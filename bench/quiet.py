"""Run one benchmark with the rest of the machine out of its way, and put the machine back afterwards.

    python -m bench.quiet python -m bench.sessions --sessions 50 --json

On a shared 2-core machine, whatever else runs (a test suite, an editor's language server, another
session's servers) takes cycles from a benchmark and makes its figures worthless. Plain ``nice`` does not
help here: with the kernel's scheduler autogroups on (``/proc/sys/kernel/sched_autogroup_enabled``), CPU is
shared between sessions first and a process's nice value only counts inside its own session, so the other
sessions get their autogroup's nice raised too (``/proc/PID/autogroup``). Every other process gets CPU and
I/O priority idle (nice 19, ``ionice -c3``) before the benchmark starts; it runs in a session of its own, and
its descendants keep their priority. Needs permission to renice other users' processes (root, or
CAP_SYS_NICE); without it, what could not be changed is listed and the run goes on.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

IOPRIO_WHO_PROCESS = 1
IDLE_IO = "3"


def _others(protected: set[int]) -> list[int]:
    """User processes other than pid 1, kernel threads (kthreadd, pid 2, and its children) and
    ``protected``."""
    pids, skipped = [], protected | {1, 2}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in skipped:
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid != 2:
            pids.append(int(entry.name))
    return pids


def _autogroup_nice(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split("nice")[1])
    except (OSError, IndexError, ValueError):
        return None


def _set_autogroup(pid: int, nice: int) -> None:
    Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def quiet_others(protected: set[int]) -> tuple[dict[int, tuple[int, int | None]], list[str]]:
    """Idle priority for every other process; returns what to restore and what could not be changed."""
    saved: dict[int, tuple[int, int | None]] = {}
    failed = []
    for pid in _others(protected):
        try:
            saved[pid] = (os.getpriority(os.PRIO_PROCESS, pid), _autogroup_nice(pid))
            os.setpriority(os.PRIO_PROCESS, pid, 19)
            if saved[pid][1] is not None:
                _set_autogroup(pid, 19)
        except OSError as error:  # gone meanwhile, or not ours to change
            failed.append(f"{pid}: {error}")
    subprocess.run(["ionice", "-c", IDLE_IO, "-p", *map(str, saved)], capture_output=True, check=False)
    return saved, failed


def restore(saved: dict[int, tuple[int, int | None]]) -> None:
    """Put back the nice values (and autogroup nice values) of the processes still running; their I/O
    class goes back to the default (what nearly every process has)."""
    for pid, (nice, group) in saved.items():
        try:
            os.setpriority(os.PRIO_PROCESS, pid, nice)
            if group is not None:
                _set_autogroup(pid, group)
        except OSError:
            continue
    subprocess.run(["ionice", "-c", "0", "-p", *map(str, saved)], capture_output=True, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quiet", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the benchmark's command line")
    args = parser.parse_args(argv)
    if not args.command:
        parser.error("name the command to run, e.g. python -m bench.quiet python -m bench.map --json")
    saved, failed = quiet_others({os.getpid()})  # before the benchmark starts: it runs quiet from the start
    if failed:
        print(f"bench.quiet: could not lower {len(failed)} processes: {failed[:5]}", file=sys.stderr)
    try:
        benchmark = subprocess.Popen(args.command, start_new_session=True)
        try:
            return benchmark.wait()
        except KeyboardInterrupt:
            benchmark.terminate()
            return benchmark.wait()
    finally:
        restore(saved)


if __name__ == "__main__":
    sys.exit(main())
