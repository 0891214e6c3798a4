"""A build of the directory on disk: where builds live, how one is named, found, locked and published.

See :mod:`connectors.directory.build` for what a build holds and how it is made, and
:mod:`connectors.directory.delta` for the changes laid over it.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson
import pyarrow.parquet as pq

from connectors.config import Settings
from connectors.directory.banking import BankingUnavailable, CoreBanking
from connectors.files import replace_bytes
from connectors.layout import Layout

log = logging.getLogger(__name__)

FORMAT = 1
CURRENT = "CURRENT"
LOCK = ".lock"
META = "build.json"
DUCK = "directory.duckdb"
INDEX = "search.sqlite"
KEEP = 2  # builds kept: the current one and the one before (a process may still be reading it)
CODE_FILES = (
    "connectors/directory/artifact.py",
    "connectors/directory/builder.py",
    "connectors/directory/integrate.py",
    "connectors/directory/search.py",
    "connectors/directory/sql.py",
    "connectors/directory/delta.py",
    "connectors/jsonlines.py",
    "connectors/catalog.py",
)
ROOT = Path(__file__).resolve().parents[2]
TAIL_BYTES = 1 << 16  # the end of the profiles read last time: unchanged means lines were only appended

Progress = Callable[[str, int], None]  # (step, rows done in it); rows 0: the step has started


def code_version() -> str:
    """A hash of the code that turns sources into a build: change it and builds are made anew."""
    digest = hashlib.sha256(str(FORMAT).encode())
    for name in CODE_FILES:
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()[:12]


def digest(value: object) -> str:
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:10]


def shape(settings: Settings) -> dict:
    """What a build's content depends on apart from the sources' data: a change means a full rebuild."""
    layout = Layout(Path(settings.data_dir).absolute())
    target = settings.mysql
    schema = None
    if target is None and layout.accounts.is_file():
        schema = {
            path.name: [f"{f.name}:{f.type}" for f in pq.read_schema(path)]
            for path in layout.banking
            if path.is_file()
        }
    manifest = layout.read_manifest() if layout.exists() else {}
    return {
        "code": code_version(),
        "data_dir": str(layout.root),
        "banking": target.redacted() if target else "parquet",
        "banking_schema": schema,
        "data_format": manifest.get("format"),
        "as_of": manifest.get("as_of"),
    }


def sources(settings: Settings, banking: CoreBanking | None, mysql: list | None = None) -> dict:
    """The sources' signatures: sizes and modification times, and MySQL's table times in MySQL mode
    (``mysql``: a signature read a moment ago, instead of asking the server again)."""
    layout = Layout(Path(settings.data_dir).absolute())
    signature = {
        "profiles": layout.signature([layout.profiles]),
        "surveys": layout.signature(layout.survey_files()),
        "banking": layout.signature(layout.banking) if banking is None else mysql,
    }
    if banking is not None and mysql is None:
        signature["banking"] = mysql_signature(banking)
    return orjson.loads(orjson.dumps(signature))  # as build.json holds it: lists, not tuples


def mysql_signature(banking: CoreBanking) -> list | str:
    """When the MySQL banking tables were created and last changed ("unavailable" while it cannot say)."""
    try:
        return [[str(value) for value in row] for row in banking.signature()]
    except BankingUnavailable:
        return "unavailable"


@dataclass(frozen=True)
class Build:
    """One build on disk, and what its ``build.json`` says about it."""

    folder: Path
    meta: dict

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def family(self) -> str:
        return self.meta["family"]

    @property
    def customers(self) -> int:
        return self.meta["customers"]

    @property
    def duck(self) -> Path:
        return self.folder / DUCK

    @property
    def index(self) -> Path:
        return self.folder / INDEX

    def scores_file(self, version: str) -> Path:
        return self.folder / f"scores-{version}.sqlite"


def read(folder: Path) -> Build | None:
    """The build in ``folder``, or None when it is not a complete build."""
    try:
        return Build(folder, orjson.loads((folder / META).read_bytes()))
    except (OSError, orjson.JSONDecodeError):
        return None


def current(index_folder: Path) -> Build | None:
    """The build ``CURRENT`` names, or None."""
    try:
        name = (index_folder / CURRENT).read_text().strip()
    except OSError:
        return None
    return read(index_folder / name) if name else None


def family(settings: Settings) -> str:
    return digest(shape(settings))


class Lock:
    """The index folder's lock: one builder (or updater) at a time, across processes.

    flock is released by the kernel when its holder exits, even on kill -9, so a dead builder never leaves
    the folder locked.
    """

    def __init__(self, index_folder: Path):
        index_folder.mkdir(parents=True, exist_ok=True)
        self.path = index_folder / LOCK
        self._file = None

    def acquire(self, wait: bool = True) -> bool:
        """Take the lock; without ``wait``, give up at once (False) when another process holds it."""
        file = self.path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                file.close()
                return False
            file.seek(0)
            holder = file.read().strip() or "another process"
            log.info("waiting for %s, which is building the directory in %s", holder, self.path.parent)
            fcntl.flock(file, fcntl.LOCK_EX)
        file.seek(0)
        file.truncate()
        file.write(f"process {os.getpid()}\n")
        file.flush()
        self._file = file
        return True

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing releases the lock
            self._file = None

    @contextmanager
    def held(self, wait: bool = True) -> Iterator[bool]:
        acquired = self.acquire(wait)
        try:
            yield acquired
        finally:
            if acquired:
                self.release()


def usable(build: Build | None, settings: Settings) -> bool:
    """Whether a build can serve these settings (same code and shape; its data may be older)."""
    return build is not None and build.family == family(settings)


def tail_hash(path: Path, size: int) -> str | None:
    """A hash of the ``TAIL_BYTES`` before byte ``size`` of the file (None when it is shorter)."""
    try:
        with path.open("rb") as file:
            if file.seek(0, os.SEEK_END) < size:
                return None
            file.seek(max(0, size - TAIL_BYTES))
            return hashlib.sha256(file.read(size - max(0, size - TAIL_BYTES))).hexdigest()
    except OSError:
        return None


def publish(index_folder: Path, folder: Path) -> None:
    """Make ``folder`` the current build in one rename, then drop builds older than the previous one."""
    replace_bytes(index_folder / CURRENT, f"{folder.name}\n".encode())
    builds = sorted(
        (p for p in index_folder.iterdir() if p.is_dir() and not p.name.startswith(".") and p != folder),
        key=lambda p: p.stat().st_mtime,
    )
    for old in builds[: max(0, len(builds) - (KEEP - 1))]:
        shutil.rmtree(old, ignore_errors=True)  # a process still reading it keeps its open files
