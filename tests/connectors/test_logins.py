"""Failed logins: free at first, then each one doubles the wait, ten lock; per user and per address; in this
process or shared through a real redis-server."""

from __future__ import annotations

import pytest

from connectors import config
from connectors.logins import (
    FORGET_S,
    FREE_FAILURES,
    LOCK_AFTER,
    LOCK_S,
    MAX_WAIT_S,
    LocalFailures,
    LoginThrottle,
    RedisFailures,
    wait_after,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_the_first_failures_are_free_and_then_each_one_doubles_the_wait(clock):
    throttle = LoginThrottle(LocalFailures(), clock)
    for _ in range(FREE_FAILURES):
        assert throttle.failed("rep", "10.0.0.1").allowed
    waits = [throttle.failed("rep", "10.0.0.1").wait_s for _ in range(4)]
    assert waits == [1.0, 2.0, 4.0, 8.0]
    assert not throttle.verdict("rep", "10.0.0.1").allowed
    clock.now += 8.0
    assert throttle.verdict("rep", "10.0.0.1").allowed
    assert wait_after(100) == MAX_WAIT_S


def test_ten_failures_lock_the_user_and_the_address_from_anywhere_for_a_quarter_hour(clock):
    throttle = LoginThrottle(LocalFailures(), clock)
    for _ in range(LOCK_AFTER):
        verdict = throttle.failed("rep", "10.0.0.1")
    assert verdict.locked_until == clock.now + LOCK_S and not verdict.allowed
    assert not throttle.verdict("rep", "10.9.9.9").allowed, "the user name is locked from any address"
    assert not throttle.verdict("lead", "10.0.0.1").allowed, "and the address for any user name"
    assert throttle.verdict("lead", "10.9.9.9").allowed
    clock.now += LOCK_S
    assert throttle.verdict("rep", "10.0.0.1").allowed


def test_a_right_password_clears_the_counts_and_old_failures_are_forgotten(clock):
    throttle = LoginThrottle(LocalFailures(), clock)
    for _ in range(FREE_FAILURES + 1):
        throttle.failed("rep", "10.0.0.1")
    throttle.succeeded("rep", "10.0.0.1")
    assert throttle.verdict("rep", "10.0.0.1").failures == 0
    for _ in range(FREE_FAILURES + 1):
        throttle.failed("rep", "10.0.0.1")
    clock.now += FORGET_S + 1
    assert throttle.failed("rep", "10.0.0.1").failures == 1


@pytest.mark.redis
def test_processes_sharing_redis_share_the_counts(redis_server, clock):
    settings = config.load(["--redis-url", redis_server.url], environ={})
    first, second = LoginThrottle.for_settings(settings), LoginThrottle.for_settings(settings)
    first.clock = second.clock = clock
    assert first.shared and isinstance(first.store, RedisFailures)
    user = "shared-user-<script>"
    for _ in range(FREE_FAILURES):
        first.failed(user, "10.1.1.1")
    assert second.failed(user, "10.1.1.1").failures == FREE_FAILURES + 1
    assert not first.verdict(user, "10.1.1.1").allowed
    keys = [key.decode() for key in redis_server.client().keys("c360:login:*")]
    assert keys and not any("shared-user" in key or "10.1.1.1" in key for key in keys)
    second.succeeded(user, "10.1.1.1")
    assert first.verdict(user, "10.1.1.1").failures == 0


def test_an_unreachable_redis_falls_back_to_this_process(clock, caplog):
    settings = config.load(["--redis-url", "redis://127.0.0.1:1/0"], environ={})
    throttle = LoginThrottle.for_settings(settings)
    throttle.clock = clock
    for _ in range(FREE_FAILURES + 1):
        verdict = throttle.failed("rep", "10.0.0.1")
    assert verdict.failures == FREE_FAILURES + 1 and not throttle.verdict("rep", "10.0.0.1").allowed
    assert caplog.text.count("failed logins are counted in this process only") == 1
