"""Files replaced whole: what a reader opens is the old version or the new one, never part of either.

Pointers to the current build and models, the delta's description, the replay's summary and the search
index's rank arrays are all written this way, so a process killed mid-write (kill -9 included) leaves the
previous version in use.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def replace_whole(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write a hidden file beside ``path`` with ``write``, then rename it over ``path`` (one rename, atomic
    on POSIX); the staging file is named by the process, so two writers never write into one, and it is
    removed when writing fails."""
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with staging.open("wb") as file:
            write(file)
        os.replace(staging, path)
    finally:
        with contextlib.suppress(OSError):  # gone after the rename; an error here must not hide the first
            staging.unlink()


def replace_bytes(path: Path, data: bytes) -> None:
    """``path`` replaced whole by ``data`` (see :func:`replace_whole`)."""
    replace_whole(path, lambda file: file.write(data))
