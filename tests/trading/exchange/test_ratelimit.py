"""Token-bucket rate limiting, in memory (fake clock) and in Redis when REDIS_URL is set.

Parametrised tests run against both backends. The memory backend uses a fake clock whose
``sleep`` advances it, so waits are exact; the Redis backend uses Redis ``TIME`` and really
sleeps (short waits only), so its waits are compared with a small tolerance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from pytest_django.fixtures import Settings

from trading.exchange.btcturk.urls import RATE_LIMITS, RateLimit
from trading.exchange.errors import ErrorKind, RateLimited, RetryableError
from trading.exchange.ratelimit import (
    MAX_PENALTY_S,
    WINDOW_SAFE_LIMITS,
    InProcessRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    rate_limit_identity,
    rate_limiter_from_settings,
    window_safe,
)

ROOT = Path(__file__).resolve().parents[3]
REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(
    not REDIS_URL, reason="REDIS_URL not set: Redis backend not available"
)
BACKENDS = ["memory", pytest.param("redis", marks=needs_redis)]
FIVE_PER_10S = {"r": (RateLimit(5, 10),)}


@dataclass
class FakeClock:
    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Harness:
    """``budget(limits)`` returns ``limiter(max_wait_s)``: limiters sharing one set of buckets."""

    budget: Callable[[Mapping[str, Sequence[RateLimit]]], Callable[[float], RateLimiter]]
    sleeps: list[float]
    tolerance: float


@pytest.fixture(params=BACKENDS)
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "memory":
        clock = FakeClock()

        def memory_budget(limits: Mapping[str, Sequence[RateLimit]]) -> Callable:
            base = InProcessRateLimiter(limits=limits, clock=clock, sleep=clock.sleep)
            return base.with_max_wait

        yield Harness(memory_budget, clock.sleeps, tolerance=0.0)
        return
    client = redis.Redis.from_url(REDIS_URL)
    sleeps: list[float] = []

    def real_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        threading.Event().wait(seconds)

    def redis_budget(limits: Mapping[str, Sequence[RateLimit]]) -> Callable:
        return lambda max_wait_s: RedisRateLimiter(
            client, limits=limits, max_wait_s=max_wait_s, sleep=real_sleep
        )

    yield Harness(redis_budget, sleeps, tolerance=0.03)
    client.close()


@pytest.fixture
def identity() -> str:
    # a fresh identity per test, so runs sharing one Redis never see each other's buckets
    return f"test-{uuid.uuid4().hex}"


def approx(expected: float, harness: Harness) -> object:
    return pytest.approx(expected, abs=harness.tolerance or 1e-12)


# --- both backends ----------------------------------------------------------------------


def test_a_burst_up_to_capacity_passes_without_waiting(harness: Harness, identity: str) -> None:
    limiter = harness.budget(FIVE_PER_10S)(0)

    for _ in range(5):
        limiter.acquire("r", identity=identity)

    assert harness.sleeps == []


def test_the_request_after_a_burst_waits_until_one_token_has_refilled(
    harness: Harness, identity: str
) -> None:
    limiter = harness.budget({"r": (RateLimit(2, 0.2),)})(1)  # one token per 0.1 s

    for _ in range(3):
        limiter.acquire("r", identity=identity)

    assert len(harness.sleeps) == 1
    assert harness.sleeps[0] == approx(0.1, harness)


def test_a_wait_beyond_max_wait_raises_rate_limited_naming_the_rule_and_the_wait(
    harness: Harness, identity: str
) -> None:
    limiter = harness.budget(FIVE_PER_10S)(1)
    for _ in range(5):
        limiter.acquire("r", identity=identity)

    with pytest.raises(RateLimited, match="'r'") as caught:
        limiter.acquire("r", identity=identity)

    assert caught.value.retry_after == approx(2.0, harness)
    assert caught.value.kind is ErrorKind.RETRYABLE
    assert harness.sleeps == []


def test_a_refused_acquire_takes_no_token_from_any_bucket(harness: Harness, identity: str) -> None:
    # bucket 0 refills in 0.1 s; bucket 1 holds 2 tokens and refills one per 50 s
    budget = harness.budget({"r": (RateLimit(1, 0.1), RateLimit(2, 100))})
    budget(0).acquire("r", identity=identity)
    with pytest.raises(RateLimited):
        budget(0).acquire("r", identity=identity)  # bucket 1 had a token, bucket 0 not

    budget(1).acquire("r", identity=identity)  # bucket 1's second token is still there

    with pytest.raises(RateLimited) as caught:
        budget(0).acquire("r", identity=identity)
    # bucket 1 is empty but for 0.1 s of refill (0.002 tokens): 0.998 / 0.02 per s = 49.9 s
    assert caught.value.retry_after == pytest.approx(49.9, abs=0.05)


def test_penalize_blocks_the_rule_for_the_retry_after_period(
    harness: Harness, identity: str
) -> None:
    budget = harness.budget(FIVE_PER_10S)
    budget(0).penalize("r", identity=identity, seconds=30)

    with pytest.raises(RateLimited) as caught:
        budget(0).acquire("r", identity=identity)

    assert caught.value.retry_after == approx(30.0, harness)


def test_penalize_blocks_every_limit_of_a_multi_limit_rule_for_the_same_period(
    harness: Harness, identity: str
) -> None:
    budget = harness.budget(RATE_LIMITS)
    budget(0).penalize("order_write", identity=identity, seconds=1.5)

    with pytest.raises(RateLimited) as caught:
        budget(0).acquire("order_write", identity=identity)

    assert caught.value.retry_after == approx(1.5, harness)


def test_an_acquire_waits_out_a_short_penalty_then_succeeds(
    harness: Harness, identity: str
) -> None:
    budget = harness.budget(FIVE_PER_10S)
    budget(0).penalize("r", identity=identity, seconds=0.15)

    budget(1).acquire("r", identity=identity)

    assert sum(harness.sleeps) == approx(0.15, harness)


def test_a_shorter_penalty_does_not_shorten_a_longer_one(harness: Harness, identity: str) -> None:
    limiter = harness.budget(FIVE_PER_10S)(0)
    limiter.penalize("r", identity=identity, seconds=30)
    limiter.penalize("r", identity=identity, seconds=5)

    with pytest.raises(RateLimited) as caught:
        limiter.acquire("r", identity=identity)

    assert caught.value.retry_after == approx(30.0, harness)


def test_identities_and_rules_have_independent_budgets(harness: Harness, identity: str) -> None:
    limiter = harness.budget({"a": (RateLimit(1, 100),), "b": (RateLimit(1, 100),)})(0)
    limiter.acquire("a", identity=identity)
    with pytest.raises(RateLimited):
        limiter.acquire("a", identity=identity)

    limiter.acquire("a", identity=identity + "-other")
    limiter.acquire("b", identity=identity)


def test_an_unknown_rule_is_refused_naming_it(harness: Harness, identity: str) -> None:
    limiter = harness.budget(RATE_LIMITS)(0)

    with pytest.raises(ValueError, match="'order_post'"):
        limiter.acquire("order_post", identity=identity)
    with pytest.raises(ValueError, match="'order_post'"):
        limiter.penalize("order_post", identity=identity, seconds=1)


def test_a_penalty_longer_than_an_hour_counts_as_an_hour(harness: Harness, identity: str) -> None:
    limiter = harness.budget(FIVE_PER_10S)(0)
    limiter.penalize("r", identity=identity, seconds=1e9)

    with pytest.raises(RateLimited) as caught:
        limiter.acquire("r", identity=identity)

    assert caught.value.retry_after == approx(MAX_PENALTY_S, harness)


@pytest.mark.parametrize("seconds", [-1.0, float("inf"), float("nan")])
def test_a_negative_or_infinite_penalty_is_refused(
    harness: Harness, identity: str, seconds: float
) -> None:
    with pytest.raises(ValueError, match="penalty"):
        harness.budget(FIVE_PER_10S)(0).penalize("r", identity=identity, seconds=seconds)


def test_an_empty_identity_is_refused(harness: Harness) -> None:
    with pytest.raises(ValueError, match="identity"):
        harness.budget(FIVE_PER_10S)(0).acquire("r", identity="")


def test_concurrent_threads_never_take_more_than_the_capacity(
    harness: Harness, identity: str
) -> None:
    budget = harness.budget({"r": (RateLimit(5, 1000),)})
    taken: list[int] = []

    def worker() -> None:
        limiter = budget(0)
        for _ in range(5):
            try:
                limiter.acquire("r", identity=identity)
            except RateLimited:
                continue
            taken.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(taken) == 5


# --- memory backend: exact waits on a fake clock -----------------------------------------


def test_with_a_fake_clock_each_request_after_the_burst_waits_exactly_one_refill() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(
        limits=FIVE_PER_10S, max_wait_s=10, clock=clock, sleep=clock.sleep
    )

    for _ in range(7):
        limiter.acquire("r", identity="public")

    assert clock.sleeps == [2.0, 2.0]
    assert clock.now == 1004.0


def test_order_write_holds_both_its_per_second_and_per_minute_limits() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(limits=RATE_LIMITS, max_wait_s=1, clock=clock, sleep=clock.sleep)

    for _ in range(600):
        limiter.acquire("order_write", identity="public")

    # 10 at once, then 10/s until the per-minute bucket (300 + 5/s) runs dry at 58 s
    # (10 + 10 t = 300 + 5 t), then 5/s: 600 orders take exactly one minute.
    assert len(clock.sleeps) == 590
    assert clock.sleeps[:580] == pytest.approx([0.1] * 580)
    assert clock.sleeps[580:] == pytest.approx([0.2] * 10)
    assert clock.now == pytest.approx(1060.0)


def test_after_a_penalty_requests_resume_at_the_normal_rate_without_a_burst() -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(
        limits=FIVE_PER_10S, max_wait_s=60, clock=clock, sleep=clock.sleep
    )
    limiter.penalize("r", identity="public", seconds=30)

    limiter.acquire("r", identity="public")
    limiter.acquire("r", identity="public")

    assert clock.sleeps == [30.0, 2.0]


def test_limiters_made_with_another_max_wait_share_the_buckets() -> None:
    clock = FakeClock()
    patient = InProcessRateLimiter(limits=FIVE_PER_10S, clock=clock, sleep=clock.sleep)
    impatient = patient.with_max_wait(0)
    for _ in range(5):
        patient.acquire("r", identity="public")

    with pytest.raises(RateLimited):
        impatient.acquire("r", identity="public")
    patient.acquire("r", identity="public")

    assert clock.sleeps == [2.0]


@pytest.mark.parametrize(
    "limits",
    [{"r": ()}, {"r": (RateLimit(0, 10),)}, {"r": (RateLimit(5, 0),)}],
)
def test_a_limit_without_capacity_or_period_is_refused(limits: dict) -> None:
    with pytest.raises(ValueError, match="'r'"):
        InProcessRateLimiter(limits=limits)


def test_a_negative_max_wait_is_refused() -> None:
    with pytest.raises(ValueError, match="max_wait_s"):
        InProcessRateLimiter(max_wait_s=-1)


# --- Redis backend -----------------------------------------------------------------------


@needs_redis
def test_redis_buckets_are_keyed_by_identity_rule_and_index_and_expire(identity: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    limiter = RedisRateLimiter(client, limits={"r": (RateLimit(5, 10), RateLimit(300, 60))})

    limiter.acquire("r", identity=identity)

    keys = sorted(k.decode() for k in client.keys(f"meva:ratelimit:{identity}:*"))
    assert keys == [f"meva:ratelimit:{identity}:r:0", f"meva:ratelimit:{identity}:r:1"]
    # TTL = time to refill the one token taken + 1 s: 2 s + 1 s and 0.2 s + 1 s
    assert 2000 < client.pttl(keys[0]) <= 3000
    assert 200 < client.pttl(keys[1]) <= 1200


_CHILD = """
import sys
import redis
from trading.exchange.btcturk.urls import RateLimit
from trading.exchange.errors import RateLimited
from trading.exchange.ratelimit import RedisRateLimiter

limiter = RedisRateLimiter(
    redis.Redis.from_url(sys.argv[1]), limits={"shared": (RateLimit(5, 100),)}, max_wait_s=0
)
taken = 0
for _ in range(5):
    try:
        limiter.acquire("shared", identity=sys.argv[2])
        taken += 1
    except RateLimited:
        pass
print(taken)
"""


@needs_redis
def test_processes_sharing_one_redis_bucket_never_exceed_its_capacity(identity: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, REDIS_URL, identity],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [child.communicate(timeout=30) for child in children]

    assert [child.returncode for child in children] == [0, 0, 0], outputs
    assert sum(int(out) for out, _ in outputs) == 5


def test_an_unreachable_redis_is_a_retryable_error_not_a_rate_limit(identity: str) -> None:
    limiter = RedisRateLimiter(redis.Redis.from_url("redis://127.0.0.1:1/0"))

    with pytest.raises(RetryableError, match="unavailable") as caught:
        limiter.acquire("public", identity=identity)

    assert not isinstance(caught.value, RateLimited)


# --- settings wiring and identities ------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_limiters_from_settings_share_one_budget(
    backend: str, settings: Settings, identity: str
) -> None:
    settings.REDIS_URL = REDIS_URL if backend == "redis" else ""
    first = rate_limiter_from_settings(max_wait_s=0)
    second = rate_limiter_from_settings(max_wait_s=0)
    expected = RedisRateLimiter if backend == "redis" else InProcessRateLimiter
    for _ in range(WINDOW_SAFE_LIMITS["balances"][0].count):
        first.acquire("balances", identity=identity)

    with pytest.raises(RateLimited):
        second.acquire("balances", identity=identity)
    assert isinstance(first, expected)


def test_an_identity_is_a_stable_hash_that_never_contains_the_key() -> None:
    key = "0123456789abcdef-public-key"

    identity = rate_limit_identity(key)

    assert identity == rate_limit_identity(key)
    assert identity.startswith("key-") and len(identity) == 20
    assert key not in identity
    assert identity != rate_limit_identity(key + "x")
    with pytest.raises(ValueError):
        rate_limit_identity("")


@pytest.mark.parametrize("rule", sorted(RATE_LIMITS))
def test_the_default_buckets_never_admit_more_than_the_documented_count_in_any_window(
    rule: str,
) -> None:
    clock = FakeClock()
    limiter = InProcessRateLimiter(
        limits=WINDOW_SAFE_LIMITS, clock=clock, sleep=clock.sleep, max_wait_s=10_000
    )
    longest = max(limit.period_s for limit in RATE_LIMITS[rule])
    admitted: list[float] = []
    start_time = clock()
    while clock() < start_time + 3 * longest:  # a greedy caller, as fast as it is let
        limiter.acquire(rule, identity="public")
        admitted.append(clock())

    for limit in RATE_LIMITS[rule]:
        # the busiest window of each documented period, starting at any admitted request
        start = 0
        for end, moment in enumerate(admitted):
            while admitted[start] <= moment - limit.period_s:
                start += 1
            assert end - start + 1 <= limit.count, (rule, limit, moment)
    sustained = len(admitted) / (3 * longest)
    tightest = min(limit.count / limit.period_s for limit in RATE_LIMITS[rule])
    assert sustained >= 0.7 * tightest


def test_window_safe_keeps_burst_plus_one_period_of_refill_at_the_count() -> None:
    (bucket,) = window_safe({"r": (RateLimit(120, 60),)})["r"]

    assert bucket.count == 30
    assert bucket.count + 60 * bucket.count / bucket.period_s == 120
