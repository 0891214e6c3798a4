"""Failed logins, counted per user name and per address, so that guessing passwords is slowed, then stopped.

The rule: the first :data:`FREE_FAILURES` failures in a row cost nothing (typos happen); after them every
failure makes the next attempt wait twice as long as the one before (1 s, 2 s, 4 s … at most
:data:`MAX_WAIT_S`), and after :data:`LOCK_AFTER` failures the user name, or the address, is locked for
:data:`LOCK_S`. A user name and an address are counted apart, so that guessing one user's password from
many addresses, or many users' passwords from one address, are both slowed. A successful login clears both
counts; failures are forgotten :data:`FORGET_S` after the last one.

The counts live in this process, or in Redis when ``C360_REDIS_URL`` is set, where every dashboard process
behind the proxy shares them (HAProxy spreads one client's attempts over the processes). A Redis that cannot
be reached falls back to this process's counts, and says so in the log once.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from connectors.clickstream.redis_state import connect
from connectors.config import Settings

log = logging.getLogger(__name__)

FREE_FAILURES = 3
MAX_WAIT_S = 60.0
LOCK_AFTER = 10
LOCK_S = 15 * 60.0
FORGET_S = 15 * 60.0
KEY_PREFIX = "c360:login:"


@dataclass(frozen=True)
class Verdict:
    """Where a user name and address stand: failures in a row, seconds before the next attempt may be
    checked (0: now), and until when (epoch seconds) they are locked, if they are."""

    failures: int
    wait_s: float
    locked_until: float | None = None

    @property
    def allowed(self) -> bool:
        return self.locked_until is None and self.wait_s <= 0


def wait_after(failures: int) -> float:
    """Seconds the next attempt waits after this many failures in a row."""
    if failures <= FREE_FAILURES:
        return 0.0
    return min(2.0 ** (failures - FREE_FAILURES - 1), MAX_WAIT_S)


Counts = list[tuple[int, float]]  # per key: failures in a row, time of the last one


class LocalFailures:
    """The counts of this process."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def get(self, keys: Sequence[str], now: float) -> Counts:
        with self._lock:
            for key in [k for k, (_, last) in self._counts.items() if now - last > FORGET_S]:
                del self._counts[key]
            return [self._counts.get(key, (0, 0.0)) for key in keys]

    def fail(self, keys: Sequence[str], now: float) -> Counts:
        with self._lock:
            for key in keys:
                failures, last = self._counts.get(key, (0, 0.0))
                self._counts[key] = (1 if now - last > FORGET_S else failures + 1, now)
            return [self._counts[key] for key in keys]

    def clear(self, keys: Sequence[str]) -> None:
        with self._lock:
            for key in keys:
                self._counts.pop(key, None)


class RedisFailures:
    """The counts in Redis, shared by every process: a hash per key that expires ``FORGET_S`` after the
    last failure. Keys are hashes of the user name or address: what a visitor types never names a key."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    @staticmethod
    def _key(key: str) -> str:
        return KEY_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]

    def get(self, keys: Sequence[str], now: float) -> Counts:
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hmget(self._key(key), "failures", "last")
        return [(int(f or 0), float(t or 0)) for f, t in pipe.execute()]

    def fail(self, keys: Sequence[str], now: float) -> Counts:
        pipe = self.client.pipeline(transaction=True)
        for key in keys:
            pipe.hincrby(self._key(key), "failures", 1)
            pipe.hset(self._key(key), "last", now)
            pipe.expire(self._key(key), int(FORGET_S))
        done = pipe.execute()
        return [(int(done[3 * n]), now) for n in range(len(keys))]

    def clear(self, keys: Sequence[str]) -> None:
        self.client.delete(*[self._key(key) for key in keys])


class LoginThrottle:
    """The rule above over a store of counts (:class:`LocalFailures`, or :class:`RedisFailures` for every
    process); ``clock`` gives the time in epoch seconds."""

    def __init__(self, store: LocalFailures | RedisFailures, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self._local = store if isinstance(store, LocalFailures) else LocalFailures()
        self._fell_back = False

    @classmethod
    def for_settings(cls, settings: Settings) -> LoginThrottle:
        """Shared through Redis when the settings name one, else for this process."""
        target = settings.redis
        return cls(RedisFailures(connect(target)) if target is not None else LocalFailures())

    @property
    def shared(self) -> bool:
        return isinstance(self.store, RedisFailures)

    def verdict(self, user: str, address: str) -> Verdict:
        """Whether an attempt for ``user`` from ``address`` may be checked now."""
        now = self.clock()
        return self._verdict(self._call("get", _keys(user, address), now), now)

    def failed(self, user: str, address: str) -> Verdict:
        """Count a failed attempt; the verdict for the next one."""
        now = self.clock()
        return self._verdict(self._call("fail", _keys(user, address), now), now)

    def succeeded(self, user: str, address: str) -> None:
        """A right password: both counts start again."""
        self._call("clear", _keys(user, address))

    def _call(self, method: str, *args):
        if self.shared:
            try:
                return getattr(self.store, method)(*args)
            except redis.RedisError as error:
                if not self._fell_back:
                    log.warning("failed logins are counted in this process only: Redis: %s", error)
                self._fell_back = True
        return getattr(self._local, method)(*args)

    @staticmethod
    def _verdict(counts: Counts, now: float) -> Verdict:
        failures, last = max(counts)
        if failures >= LOCK_AFTER and now - last < LOCK_S:
            return Verdict(failures, last + LOCK_S - now, last + LOCK_S)
        return Verdict(failures, max(0.0, last + wait_after(failures) - now))


def _keys(user: str, address: str) -> list[str]:
    return [f"user:{user[:200]}", f"address:{address}"]
