"""Where each source lives in a data folder, the data's "today", and how to tell that the data changed.

Every reader — the directory, training's bulk reads, the click replay, the loaders and the generator —
finds the sources through :class:`Layout`, so a data folder has one map. A source changed when its size or
modification time changed (:meth:`Layout.signature`); the models and the directory's build are named by a
hash of those signatures and of the manifest (:meth:`Layout.fingerprint`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import orjson

from connectors import config

# (path relative to the data folder, size, modification time in ns); size and time are None when missing.
FileStat = tuple[str, int | None, int | None]


class SourceMissing(FileNotFoundError):
    """A data folder lacks a source that is needed; the message names it and how to create it."""


@dataclass(frozen=True)
class Layout:
    """The map of one data folder (``C360_DATA_DIR``)."""

    root: Path

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def profiles(self) -> Path:
        return self.root / "crm" / "profiles.jsonl"

    @property
    def accounts(self) -> Path:
        return self.root / "banking" / "accounts.parquet"

    @property
    def transactions(self) -> Path:
        return self.root / "banking" / "transactions.parquet"

    @property
    def banking(self) -> tuple[Path, Path]:
        """The core-banking tables as Parquet files (embedded mode)."""
        return (self.accounts, self.transactions)

    @property
    def surveys(self) -> Path:
        return self.root / "surveys"

    @property
    def clicks(self) -> Path:
        return self.root / "clicks" / "clickstream.jsonl"

    @property
    def contacts(self) -> Path:
        """The contact center's history of calls and chats (a table, loadable into MySQL)."""
        return self.root / "contact_center" / "contacts.parquet"

    @property
    def desk(self) -> Path:
        """The representatives' own writes on embedded defaults (wrap-ups, offers shown, audit): SQLite."""
        return self.root / "desk" / "desk.sqlite"

    @property
    def photos(self) -> Path:
        return self.root / "photos"

    @property
    def truth(self) -> Path:
        return self.root / "truth" / "customers.parquet"

    @property
    def contact_truth(self) -> Path:
        """The generator's own reason probabilities of every contact (model evaluation only)."""
        return self.root / "truth" / "contacts.parquet"

    def exists(self) -> bool:
        return self.manifest.is_file()

    def read_manifest(self) -> dict:
        return orjson.loads(self.manifest.read_bytes())

    def survey_files(self) -> list[Path]:
        """The survey answer files, one JSON-lines file a month, in name (and so time) order."""
        return sorted(self.surveys.glob("*.json")) if self.surveys.is_dir() else []

    def sources(self) -> list[Path]:
        """Every source file that models are learnt from."""
        return [self.profiles, *self.banking, self.clicks, self.contacts, *self.survey_files()]

    def relative(self, path: str | Path) -> str:
        """A path as it is named in messages: relative to the data folder when inside it."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def stat(self, path: Path) -> FileStat:
        try:
            found = path.stat()
        except FileNotFoundError:
            return (self.relative(path), None, None)
        return (self.relative(path), found.st_size, found.st_mtime_ns)

    def signature(self, paths: Iterable[Path]) -> tuple[FileStat, ...]:
        """Size and modification time of each file: a different signature means the data changed."""
        return tuple(self.stat(path) for path in paths)

    def fingerprint(self, paths: Iterable[Path] | None = None) -> str:
        """A short hash of the manifest and of the signature of ``paths`` (default: every source)."""
        digest = hashlib.sha256(self.manifest.read_bytes() if self.exists() else b"")
        for name, size, mtime in self.signature(self.sources() if paths is None else paths):
            digest.update(f"{name}:{size}:{mtime}".encode())
        return digest.hexdigest()[:16]

    def as_of(self) -> date:
        """The data's "today" (from the manifest): every age, tenure and history window ends on it."""
        if not self.exists():
            raise SourceMissing(
                f"{config.describe('data_dir')}: no data set in {self.root} (manifest.json missing); generate "
                "one with `python -m connectors.sample` (or `make data`), or point the setting at your data"
            )
        return date.fromisoformat(self.read_manifest()["as_of"])

    def today(self) -> date:
        """The data's "today" when the manifest says, else the real today (data that is not generated)."""
        try:
            return self.as_of()
        except (SourceMissing, OSError, ValueError, KeyError):
            return date.today()


def newest_change(signature: Iterable[FileStat]) -> int:
    """The latest modification time (ns) in a signature, 0 when none of its files exist."""
    return max((mtime for _, _, mtime in signature if mtime is not None), default=0)
