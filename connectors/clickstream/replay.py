"""Clicks replayed from the generated click file, stamped now: the embedded default when no Kafka is set.

The replay keeps the file's own rhythm: how busy each minute of the day is in the file (its time-of-day
swing and its minute-to-minute variation) sets how many clicks are replayed at that minute of the local
day, scaled so that the average over a day is ``C360_REPLAY_RATE``; within a minute clicks arrive at
random (Poisson), as visitors do.

What the replay learns of the file at start (the rhythm, and the featured customers' own lines: seconds of
reading a 1 GB file, on the thread beside the first page's build) is kept in a small JSON file in the index
folder, named by the data's fingerprint (``Layout.fingerprint``) and the featured customers, so that every later start, and every
other process, reads it instead (``Recent``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

from connectors import jsonlines
from connectors.catalog import CLICK_DAYS
from connectors.clickstream.pipeline import RawBatch
from connectors.clickstream.status import RETRY_S, Emit, SourceStatus
from connectors.files import replace_bytes
from connectors.layout import Layout

log = logging.getLogger(__name__)

REPLAY_TICK_S = 0.1
BACKFILL_STEP_MS = 100
REPLAY_BACKFILL_MAX = 100_000
FEATURED_INTERVAL_S = (5.0, 25.0)  # each featured customer clicks again after a pause in this range
FEATURED_LINES_MAX = 200
CLICK_DATETIME = re.compile(rb'"datetime"\s*:\s*"([^"]*)"')
CLICK_MINUTE = re.compile(rb'"datetime"\s*:\s*"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d)')
MINUTES_PER_DAY = 1440
RHYTHM_CLICKS = 300_000  # read at least this many clicks (and a whole day of them) to learn the rhythm
RHYTHM_MIN_PER_MINUTE = 10  # with fewer clicks a minute on average, each hour's minutes share its mean
CLICK_USER_ID = re.compile(rb'"user_id"\s*:\s*(\d+)')


class Rhythm:
    """How busy the website is at each minute of the local day, relative to the day's average (mean 1)."""

    def __init__(self, per_minute: np.ndarray) -> None:
        self.per_minute = np.asarray(per_minute, dtype=np.int64)
        counts = self.per_minute.astype(float)
        if counts.sum() == 0:
            counts = np.ones(MINUTES_PER_DAY)
        elif counts.mean() < RHYTHM_MIN_PER_MINUTE:  # too few to tell minutes apart: hour by hour
            counts = np.repeat(counts.reshape(24, 60).mean(axis=1), 60)
        self.weights = counts / counts.mean()

    @classmethod
    def of_file(cls, file: BinaryIO, start: int, chunk_bytes: int = 8 << 20) -> Rhythm:
        """The rhythm of the clicks from byte offset ``start``: at least ``RHYTHM_CLICKS`` clicks and a
        whole day of them (or all there are), counted by minute of the day."""
        counts = np.zeros(MINUTES_PER_DAY, dtype=np.int64)
        file.seek(start)
        first_day = rest = b""
        while True:
            chunk = file.read(chunk_bytes)
            block = rest + chunk
            cut = len(block) if not chunk else block.rfind(b"\n") + 1
            block, rest = block[:cut], block[cut:]
            found = CLICK_MINUTE.findall(block)
            if found:
                days, minutes = zip(*found, strict=True)
                digits = np.frombuffer(b"".join(minutes), dtype=np.uint8).reshape(-1, 5).astype(
                    np.int64
                ) - ord("0")
                minute = (digits[:, 0] * 10 + digits[:, 1]) * 60 + digits[:, 3] * 10 + digits[:, 4]
                counts += np.bincount(minute % MINUTES_PER_DAY, minlength=MINUTES_PER_DAY)
                first_day = first_day or days[0]
                # two dates apart: the day between them was read whole
                if counts.sum() >= RHYTHM_CLICKS and _days_apart(first_day, days[-1]) >= 2:
                    return cls(counts)
            if not chunk:
                return cls(counts)

    def at(self, seconds: np.ndarray | float) -> np.ndarray:
        """The weight of each moment (seconds since the epoch), by its minute of the local day."""
        seconds = np.asarray(seconds, dtype=float)
        local = seconds + time.localtime(float(seconds.flat[0]) if seconds.size else None).tm_gmtoff
        return self.weights[(local // 60).astype(np.int64) % MINUTES_PER_DAY]


def _days_apart(first: bytes, last: bytes) -> int:
    try:
        return (datetime.fromisoformat(last.decode()) - datetime.fromisoformat(first.decode())).days
    except ValueError:
        return 0


class ReplaySource:
    """Replays the generated click file's last 30 days with the file's rhythm, round and round, stamped now.

    Only clicks within ``CLICK_DAYS`` of the file's newest one are replayed: the older lines belong to
    customers who left before then (the file is in time order and an active customer's history is
    those 30 days), and stamping them now would show people who left months ago as online. The clicks of
    ``left_web_users`` (customers who left within those 30 days) are passed over for the same reason.

    It first backfills the lookback window (so plots have history at once, as after a Kafka restart),
    then keeps the featured customers visibly browsing: each gets a click of their own history right
    away and again every few seconds, on top of the file's clicks.
    """

    kind = "replay"

    def __init__(
        self,
        layout: Layout,
        rate: float,
        lookback: timedelta,
        featured_web_users: Iterable[int],
        seed: int,
        status: SourceStatus,
        left_web_users: Iterable[int] = (),
        cache: Path | None = None,
    ) -> None:
        self.layout = layout
        self.clicks = layout.clicks
        self.cache = cache
        self.rate = rate
        self.lookback = lookback
        self.featured_web_users = list(featured_web_users)
        self.left_web_users = frozenset(int(user) for user in left_web_users)
        self.status = status
        self._random = np.random.default_rng(seed)

    def run(self, stopping: threading.Event, emit: Emit) -> None:
        """Replay until ``stopping`` is set; waits for the file if it is not there yet."""
        while not self.clicks.is_file():
            self.status.set("unavailable", f"no click data at {self.clicks}: generate a data set first")
            if stopping.wait(5 * RETRY_S):
                return
        with self.clicks.open("rb") as file:
            start = _recent_start(file, timedelta(days=CLICK_DAYS))
            rhythm, featured = Recent(self.layout, start, self.featured_web_users, self.cache).load(file)
            lines = _CyclingLines(file, start, skip_users=self.left_web_users)
            if lines.empty:
                self.status.set("unavailable", f"{self.clicks} holds no clicks")
                return
            self.status.set(
                "live", f"replaying {self.clicks} at {self.rate:g} clicks/s on average, with its time of day"
            )
            backfilled_until_ms = self._backfill(lines, rhythm, emit)
            self._replay(lines, rhythm, featured, backfilled_until_ms, stopping, emit)

    def _clicks_between(self, rhythm: Rhythm, start_ms: np.ndarray, step_ms: float, scale: float = 1.0):
        """Stamps of the clicks of each step from ``start_ms``: as many as the rhythm says, at random."""
        expected = self.rate * step_ms / 1000 * rhythm.at(start_ms / 1000) * scale
        counts = self._random.poisson(expected)
        stamps = np.repeat(start_ms, counts) + self._random.random(int(counts.sum())) * step_ms
        return np.sort(stamps).astype(np.int64)

    def _backfill(self, lines: _CyclingLines, rhythm: Rhythm, emit: Emit) -> int:
        end_ms = int(time.time() * 1000)
        steps = np.arange(end_ms - self.lookback.total_seconds() * 1000, end_ms, BACKFILL_STEP_MS)
        expected = self.rate * BACKFILL_STEP_MS / 1000 * rhythm.at(steps / 1000).sum()
        scale = min(1.0, REPLAY_BACKFILL_MAX / expected) if expected else 1.0
        stamps = self._clicks_between(rhythm, steps, BACKFILL_STEP_MS, scale)
        for start in range(0, len(stamps), 10_000):
            chunk = stamps[start : start + 10_000]
            emit(RawBatch(lines.take(len(chunk)), chunk))
            self.status.complete_until_ms = int(chunk[-1])
        self.status.complete_until_ms = end_ms
        return end_ms

    def _replay(
        self,
        lines: _CyclingLines,
        rhythm: Rhythm,
        featured: dict[int, list[bytes]],
        since_ms: int,
        stopping: threading.Event,
        emit: Emit,
    ) -> None:
        """Clicks with the file's rhythm from ``since_ms`` on (so none are missing after the backfill)."""
        last_ms = since_ms
        due_at = dict.fromkeys(featured, time.monotonic())
        while not stopping.wait(REPLAY_TICK_S):
            now = time.monotonic()
            now_ms = int(time.time() * 1000)
            stamps = self._clicks_between(rhythm, np.array([last_ms]), now_ms - last_ms)
            stamps = np.minimum(stamps, now_ms)
            values = lines.take(len(stamps))
            for user in [user for user, at in due_at.items() if at <= now]:
                values.append(featured[user][self._random.integers(len(featured[user]))])
                stamps = np.append(stamps, now_ms)
                due_at[user] = now + self._random.uniform(*FEATURED_INTERVAL_S)
            last_ms = now_ms
            if values:
                emit(RawBatch(values, stamps))
            self.status.complete_until_ms = now_ms


class _CyclingLines:
    """Lines of a file from byte offset ``start`` on, starting over there at its end; lines of the
    ``skip_users`` (web user ids) are passed over."""

    def __init__(self, file: BinaryIO, start: int = 0, skip_users: frozenset[int] = frozenset()) -> None:
        self._file = file
        self._start = start
        self._skip_users = skip_users
        self._file.seek(start)
        self.empty = not any(map(self._replayed, self._file))
        self._file.seek(start)

    def _replayed(self, line: bytes) -> bool:
        if not line.strip():
            return False
        if not self._skip_users:
            return True
        user = CLICK_USER_ID.search(line)
        return user is None or int(user.group(1)) not in self._skip_users

    def take(self, count: int) -> list[bytes]:
        taken: list[bytes] = []
        while len(taken) < count:
            line = self._file.readline()
            if not line:
                self._file.seek(self._start)
            elif self._replayed(line):
                taken.append(jsonlines.clean(line))
        return taken


def _click_time(line: bytes) -> datetime | None:
    """The click's ``datetime`` field, or None when it has none that parses."""
    found = CLICK_DATETIME.search(line)
    try:
        return datetime.fromisoformat(found.group(1).decode()) if found else None
    except ValueError:
        return None


def _recent_start(file: BinaryIO, window: timedelta) -> int:
    """Byte offset of the first line within ``window`` of the file's newest click, by bisection.

    The file is in time order, as generated; the newest click is the last one whose time parses in the
    file's final 64 KiB. Lines without a time are passed over while searching (and replayed as they are).
    Without any time to go by, the whole file is replayed.
    """
    size = file.seek(0, os.SEEK_END)
    file.seek(max(0, size - (64 << 10)))
    times = [at for at in map(_click_time, file.read().splitlines()) if at is not None]
    if not times:
        return 0
    since = times[-1] - window

    def next_click(position: int) -> tuple[int, datetime | None]:
        """Start and time of the first timed line starting at or after ``position`` (None at the end)."""
        file.seek(max(0, position - 1))
        if position > 0:
            file.readline()  # the rest of the line that ``position`` falls in, unless it starts there
        while True:
            start = file.tell()
            line = file.readline()
            if not line:
                return start, None
            at = _click_time(line)
            if at is not None:
                return start, at

    low, high = 0, size
    while low < high:
        middle = (low + high) // 2
        _, at = next_click(middle)
        if at is None or at >= since:
            high = middle
        else:
            low = middle + 1
    return next_click(low)[0]


def _lines_of_users(
    file: BinaryIO, start: int, users: list[int], chunk_bytes: int = 8 << 20
) -> dict[int, list[bytes]]:
    """Up to ``FEATURED_LINES_MAX`` lines per user id from byte offset ``start`` on, found by a
    regular-expression scan of the file."""
    found: dict[int, list[bytes]] = defaultdict(list)
    if not users:
        return found
    ids = b"|".join(str(int(user)).encode() for user in users)
    pattern = re.compile(rb'"user_id"\s*:\s*(' + ids + rb")\s*[,}]")
    file.seek(start)
    rest = b""
    while True:
        chunk = file.read(chunk_bytes)
        block = rest + chunk
        cut = len(block) if not chunk else block.rfind(b"\n") + 1
        block, rest = block[:cut], block[cut:]
        for match in pattern.finditer(block):
            begin = block.rfind(b"\n", 0, match.start()) + 1
            end = block.find(b"\n", match.end())
            lines = found[int(match.group(1))]
            if len(lines) < FEATURED_LINES_MAX:
                lines.append(jsonlines.clean(block[begin : None if end < 0 else end]))
        if not chunk:
            return found


class Recent:
    """The rhythm of the clicks from byte offset ``start`` and the featured users' lines: read from the
    layout's click file, or from ``cache`` (a folder) where an earlier start on the same data kept them."""

    def __init__(self, layout: Layout, start: int, users: list[int], cache: Path | None) -> None:
        self.layout, self.start, self.users, self.cache = layout, start, users, cache

    def path(self) -> Path | None:
        """The cache file of this version of the click file and these users; None without a cache folder."""
        if self.cache is None:
            return None
        key = [self.layout.fingerprint([self.layout.clicks]), self.start, sorted(self.users)]
        key += [FEATURED_LINES_MAX, RHYTHM_CLICKS]
        return self.cache / f"replay-{hashlib.sha256(orjson.dumps(key)).hexdigest()[:16]}.json"

    def _kept(self, path: Path) -> tuple[Rhythm, dict[int, list[bytes]]] | None:
        """What an earlier start kept, or None (with a warning when the file is there but unusable)."""
        try:
            kept = orjson.loads(path.read_bytes())
            featured = {
                int(user): [line.encode("latin-1") for line in lines]
                for user, lines in kept["featured"].items()
            }
            return Rhythm(np.array(kept["per_minute"], dtype=np.int64)), featured
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:  # orjson's: a ValueError
            log.warning("the click replay's summary %s is unusable (%s): reading the click file", path, error)
            return None

    def load(self, file: BinaryIO) -> tuple[Rhythm, dict[int, list[bytes]]]:
        """From the cache when it holds this version, else read from ``file`` (and kept for next time)."""
        path = self.path()
        kept = self._kept(path) if path is not None else None
        if kept is not None:
            return kept
        started = time.perf_counter()
        rhythm = Rhythm.of_file(file, self.start)
        featured = _lines_of_users(file, self.start, self.users)
        log.info(
            "read the click file's rhythm and featured customers in %.1f s", time.perf_counter() - started
        )
        if path is not None:
            self._keep(path, rhythm, featured)
        return rhythm, featured

    def _keep(self, path: Path, rhythm: Rhythm, featured: dict[int, list[bytes]]) -> None:
        """Written whole (a rename), the other versions' files removed; a folder that cannot be written
        only costs the next start the reading again."""
        kept = {
            "per_minute": rhythm.per_minute.tolist(),
            "featured": {
                str(user): [line.decode("latin-1") for line in lines] for user, lines in featured.items()
            },
        }
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            replace_bytes(path, orjson.dumps(kept))
            for old in path.parent.glob("replay-*.json"):
                if old != path:
                    old.unlink(missing_ok=True)
        except OSError as error:
            log.warning("could not keep the click replay's summary in %s: %s", path.parent, error)
