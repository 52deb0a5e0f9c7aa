"""Client-side rate limiting: one token bucket per (API key, rule), shared across processes.

Source: reference/btcturk_api.md section 5 (rate limits), encoded in
:data:`trading.exchange.btcturk.urls.RATE_LIMITS` as ``rule -> (RateLimit(count, period_s), ...)``.

Semantics (both implementations):

- Each ``RateLimit(count, period_s)`` of a rule is one bucket per identity, holding at most
  ``count`` tokens and refilling continuously at ``count / period_s`` tokens per second. A
  bucket nobody used is full.
- :meth:`acquire` takes one token from **every** bucket of the rule, or none: when any bucket
  lacks a token it computes the wait until all of them have one, sleeps that long and tries
  again, until the total wait would exceed ``max_wait_s``; then it raises
  :class:`~trading.exchange.errors.RateLimited` with ``retry_after`` = the wait still needed.
  Waiting callers reserve nothing, so under contention one may be overtaken (no fairness).
- :meth:`penalize` (after an HTTP 429 with ``Retry-After: seconds``) drains every bucket of the
  rule so that no token is available before ``now + seconds``; exactly one is available then,
  and the bucket refills from there at its normal rate (no burst right after a block). A
  shorter penalty never shortens a longer one already in force.

Windows: a bucket of capacity ``c`` refilling at ``r`` per second admits up to
``c + r * period_s`` requests in one window, while BTCTurk counts ``count`` per window from
the first request and then blocks the key. So the deployment's buckets are not the documented
limits themselves but :data:`WINDOW_SAFE_LIMITS` (:func:`window_safe`): a burst of a quarter
of ``count`` and a refill of the other three quarters per period, which never admits more
than ``count`` in any window (tested) and sustains 75 % of the documented rate.

``identity`` names whose budget is spent: ``"public"`` for unsigned calls, else
:func:`rate_limit_identity` of the API key. It appears in Redis keys and error messages, so it
must **never** be a raw API key.

:class:`InProcessRateLimiter` keeps the buckets in memory (one process, thread-safe).
:class:`RedisRateLimiter` keeps them in Redis (``meva:ratelimit:<identity>:<rule>:<index>``
hashes with a TTL, so idle keys vanish) and checks-and-takes in one Lua script using Redis
``TIME``, so every process sharing the Redis shares one budget and one clock (Redis >= 5).
:func:`rate_limiter_from_settings` picks one from ``settings.REDIS_URL``.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Protocol

import redis

from trading.exchange.btcturk.urls import RATE_LIMITS, RateLimit
from trading.exchange.errors import RateLimited, RetryableError
from trading.exchange.telemetry import rate_limit_waited

logger = logging.getLogger(__name__)

DEFAULT_MAX_WAIT_S = 5.0
# Longest penalty honoured: BTCTurk's longest documented block is 10 minutes (reference 5);
# a larger Retry-After is treated as this, so a bogus header cannot stall a key for days.
MAX_PENALTY_S = 3600.0
KEY_PREFIX = "meva:ratelimit:"
# Float slack: a bucket within this many tokens of one counts as holding one.
_EPSILON = 1e-9


class RateLimiter(Protocol):
    """Budget of requests per ``(identity, rule)``; ``rule`` keys ``btcturk.urls.RATE_LIMITS``.

    ``identity`` is a stable, non-secret id of the API key (or ``"public"`` for unsigned
    calls). ``acquire`` blocks until a token is free and raises
    :class:`~trading.exchange.errors.RateLimited` when that would take longer than the
    limiter's maximum wait. ``penalize`` drains the bucket for ``seconds`` (after a 429 with
    ``Retry-After``).
    """

    def acquire(self, rule: str, *, identity: str) -> None: ...

    def penalize(self, rule: str, *, identity: str, seconds: float) -> None: ...


def rate_limit_identity(api_key: str) -> str:
    """The identity under which ``api_key``'s requests are counted: ``"key-"`` + 16 hex digits.

    A truncated SHA-256 of the key, so Redis keys, logs and errors never carry the key itself.
    Raises ``ValueError`` for an empty key.
    """
    if not api_key:
        raise ValueError("api_key is empty; unsigned calls use the identity 'public'")
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


# --- bucket arithmetic (seconds, tokens as floats) ---------------------------------------


def _level(tokens: float, ts: float, now: float, limit: RateLimit) -> float:
    """Tokens in a bucket at ``now`` that held ``tokens`` at ``ts``; a clock going back adds none."""
    refill = max(0.0, now - ts) * limit.count / limit.period_s
    return min(float(limit.count), tokens + refill)


def _wait_for_token(level: float, limit: RateLimit) -> float:
    """Seconds until a bucket at ``level`` holds one token (0 if it does)."""
    if level >= 1 - _EPSILON:
        return 0.0
    return (1 - level) * limit.period_s / limit.count


def _penalized_level(level: float, seconds: float, limit: RateLimit) -> float:
    """The level that refills to exactly one token ``seconds`` from now (never above ``level``)."""
    return min(level, 1 - seconds * limit.count / limit.period_s)


def window_safe(limits: Mapping[str, Sequence[RateLimit]]) -> dict[str, tuple[RateLimit, ...]]:
    """Bucket limits that never admit more than a documented ``count`` per ``period_s`` window.

    Each documented ``RateLimit(count, period)`` becomes a bucket of capacity
    ``c = max(1, count // 4)`` that refills fully in ``c * period / (count - c)`` seconds, so
    burst plus one period of refill is exactly ``count``. A limit of ``count == 1`` stays as
    it is (one request per period).
    """
    safe = {}
    for rule, rule_limits in limits.items():
        buckets = []
        for limit in rule_limits:
            capacity = max(1, limit.count // 4)
            if capacity >= limit.count:
                buckets.append(limit)
                continue
            buckets.append(
                RateLimit(capacity, capacity * limit.period_s / (limit.count - capacity))
            )
        safe[rule] = tuple(buckets)
    return safe


WINDOW_SAFE_LIMITS = window_safe(RATE_LIMITS)


def _checked_limits(
    limits: Mapping[str, Sequence[RateLimit]],
) -> dict[str, tuple[RateLimit, ...]]:
    checked = {rule: tuple(rule_limits) for rule, rule_limits in limits.items()}
    for rule, rule_limits in checked.items():
        if not rule_limits or any(lim.count < 1 or lim.period_s <= 0 for lim in rule_limits):
            raise ValueError(f"rate limit rule {rule!r} needs limits with count >= 1, period > 0")
    return checked


def _checked_max_wait(max_wait_s: float) -> float:
    if max_wait_s < 0:
        raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
    return float(max_wait_s)


class _BucketLimiter:
    """The acquire loop and argument checks shared by both implementations."""

    _limits: dict[str, tuple[RateLimit, ...]]
    _max_wait_s: float
    _sleep: Callable[[float], None]

    def acquire(self, rule: str, *, identity: str) -> None:
        """Take one token from every bucket of ``rule`` for ``identity``, waiting if needed.

        Raises :class:`RateLimited` (``retry_after`` = seconds still needed) when the wait
        would exceed ``max_wait_s``; ``ValueError`` for an unknown rule or an empty identity.
        """
        limits = self._rule_limits(rule, identity)
        deadline: float | None = None
        while True:
            wait, now = self._try_take(rule, identity, limits)
            if wait <= 0:
                return
            if deadline is None:
                deadline = now + self._max_wait_s
            if now + wait > deadline + _EPSILON:
                raise RateLimited(
                    f"client rate limit {rule!r} for {identity}: next request allowed in "
                    f"{wait:.3f} s, more than the {self._max_wait_s:g} s this caller waits",
                    retry_after=wait,
                )
            logger.debug("rate limit wait", extra={"rule": rule, "wait_s": wait})
            rate_limit_waited(rule, wait)
            self._sleep(wait)

    def penalize(self, rule: str, *, identity: str, seconds: float) -> None:
        """Allow no request of ``rule`` for ``identity`` before ``seconds`` from now.

        ``seconds`` above :data:`MAX_PENALTY_S` counts as that. Raises ``ValueError`` for an
        unknown rule, an empty identity, or ``seconds`` negative or not finite.
        """
        limits = self._rule_limits(rule, identity)
        if not 0 <= seconds < math.inf:
            raise ValueError(f"penalty must be finite and >= 0 seconds, got {seconds}")
        self._drain(rule, identity, limits, min(float(seconds), MAX_PENALTY_S))

    def _rule_limits(self, rule: str, identity: str) -> tuple[RateLimit, ...]:
        if not identity:
            raise ValueError("identity is empty; use 'public' or rate_limit_identity(api_key)")
        try:
            return self._limits[rule]
        except KeyError:
            raise ValueError(
                f"unknown rate limit rule {rule!r} (known: {', '.join(sorted(self._limits))})"
            ) from None

    def _try_take(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...]
    ) -> tuple[float, float]:
        """Take the tokens if all are there: ``(0, now)``; else take none: ``(wait, now)``."""
        raise NotImplementedError

    def _drain(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...], seconds: float
    ) -> None:
        raise NotImplementedError


class InProcessRateLimiter(_BucketLimiter):
    """Token buckets in this process's memory; thread-safe.

    ``limits`` maps rule -> bucket limits (default :data:`WINDOW_SAFE_LIMITS`); ``max_wait_s`` is the longest
    :meth:`acquire` sleeps in total before raising ``RateLimited``; ``clock`` returns seconds
    (monotonic) and ``sleep`` waits seconds, both injectable for tests. Raises ``ValueError``
    for a limit with ``count < 1`` or ``period_s <= 0``, or a negative ``max_wait_s``.
    """

    def __init__(
        self,
        *,
        limits: Mapping[str, Sequence[RateLimit]] = WINDOW_SAFE_LIMITS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = _checked_limits(limits)
        self._max_wait_s = _checked_max_wait(max_wait_s)
        self._clock = clock
        self._sleep = sleep
        # (identity, rule) -> one (tokens, as-of time) per limit of the rule; absent = full.
        self._buckets: dict[tuple[str, str], list[tuple[float, float]]] = {}
        self._guard = threading.Lock()

    def with_max_wait(self, max_wait_s: float) -> InProcessRateLimiter:
        """A limiter sharing this one's buckets, clock and sleep, waiting at most ``max_wait_s``."""
        other = copy.copy(self)  # shallow: the bucket dict and its lock are shared
        other._max_wait_s = _checked_max_wait(max_wait_s)
        return other

    def _levels(
        self, key: tuple[str, str], limits: tuple[RateLimit, ...], now: float
    ) -> list[float]:
        state = self._buckets.get(key)
        if state is None:
            return [float(limit.count) for limit in limits]
        return [_level(t, ts, now, limit) for (t, ts), limit in zip(state, limits, strict=True)]

    def _try_take(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...]
    ) -> tuple[float, float]:
        key = (identity, rule)
        with self._guard:
            now = self._clock()
            levels = self._levels(key, limits, now)
            wait = max(_wait_for_token(lv, lim) for lv, lim in zip(levels, limits, strict=True))
            taken = 1.0 if wait == 0 else 0.0
            self._buckets[key] = [(level - taken, now) for level in levels]
        return wait, now

    def _drain(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...], seconds: float
    ) -> None:
        key = (identity, rule)
        with self._guard:
            now = self._clock()
            levels = self._levels(key, limits, now)
            self._buckets[key] = [
                (_penalized_level(lv, seconds, lim), now)
                for lv, lim in zip(levels, limits, strict=True)
            ]


# KEYS[i]: bucket i of one rule. ARGV[2i-1], ARGV[2i]: its capacity and period (seconds).
# Each bucket is a hash {tokens, ts}: its level as of ts (Redis TIME, seconds). Missing = full.
_LUA_COMMON = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.17g', x) end
local function level(i)
  local cap, period = tonumber(ARGV[2 * i - 1 + OFFSET]), tonumber(ARGV[2 * i + OFFSET])
  local state = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  if not state[1] or not state[2] then return cap, cap, period end
  local elapsed = math.max(0, now - tonumber(state[2]))
  return math.min(cap, tonumber(state[1]) + elapsed * cap / period), cap, period
end
local function store(i, tokens, cap, period)
  redis.call('HSET', KEYS[i], 'tokens', fmt(tokens), 'ts', fmt(now))
  -- expire once the bucket would be full again: a missing key means a full bucket
  redis.call('PEXPIRE', KEYS[i], math.ceil((cap - tokens) * period / cap * 1000) + 1000)
end
"""

# Returns {taken 1|0, wait seconds (string), now (string)}: all buckets or none.
_ACQUIRE_LUA = (
    "local OFFSET = 0\n"
    + _LUA_COMMON
    + f"""
local levels, caps, periods, wait = {{}}, {{}}, {{}}, 0
for i = 1, #KEYS do
  levels[i], caps[i], periods[i] = level(i)
  if levels[i] < 1 - {_EPSILON!r} then
    wait = math.max(wait, (1 - levels[i]) * periods[i] / caps[i])
  end
end
local taken = 0
if wait == 0 then taken = 1 end
for i = 1, #KEYS do store(i, levels[i] - taken, caps[i], periods[i]) end
return {{taken, fmt(wait), fmt(now)}}
"""
)

# ARGV[1]: penalty seconds; the limits follow. Each bucket refills to one token at now + seconds.
_PENALIZE_LUA = (
    "local OFFSET = 1\n"
    + _LUA_COMMON
    + """
local seconds = tonumber(ARGV[1])
for i = 1, #KEYS do
  local lv, cap, period = level(i)
  store(i, math.min(lv, 1 - seconds * cap / period), cap, period)
end
return 1
"""
)


class RedisRateLimiter(_BucketLimiter):
    """Token buckets in Redis, shared by every process using the same Redis.

    ``client`` is a redis-py client; ``limits``, ``max_wait_s`` and ``sleep`` as for
    :class:`InProcessRateLimiter`. The clock is Redis ``TIME`` (one clock for all processes).
    A Redis failure raises :class:`~trading.exchange.errors.RetryableError` (the request was
    not sent).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        limits: Mapping[str, Sequence[RateLimit]] = WINDOW_SAFE_LIMITS,
        max_wait_s: float = DEFAULT_MAX_WAIT_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._limits = _checked_limits(limits)
        self._max_wait_s = _checked_max_wait(max_wait_s)
        self._sleep = sleep
        self._acquire_script = client.register_script(_ACQUIRE_LUA)
        self._penalize_script = client.register_script(_PENALIZE_LUA)

    @staticmethod
    def bucket_keys(rule: str, identity: str, count: int) -> list[str]:
        """Redis keys of the ``count`` buckets of ``rule`` for ``identity``."""
        return [f"{KEY_PREFIX}{identity}:{rule}:{index}" for index in range(count)]

    def _try_take(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...]
    ) -> tuple[float, float]:
        keys = self.bucket_keys(rule, identity, len(limits))
        taken, wait, now = self._run(self._acquire_script, keys, _limit_args(limits))
        return (0.0 if int(taken) else float(wait)), float(now)

    def _drain(
        self, rule: str, identity: str, limits: tuple[RateLimit, ...], seconds: float
    ) -> None:
        keys = self.bucket_keys(rule, identity, len(limits))
        self._run(self._penalize_script, keys, [repr(seconds), *_limit_args(limits)])

    @staticmethod
    def _run(script: redis.commands.core.Script, keys: list[str], args: list[str]) -> object:
        try:
            return script(keys=keys, args=args)
        except redis.exceptions.RedisError as exc:
            # The class name only: connection errors may name hosts; the request was not sent.
            raise RetryableError(f"rate limiter store unavailable ({type(exc).__name__})") from exc


def _limit_args(limits: tuple[RateLimit, ...]) -> list[str]:
    return [str(v) for limit in limits for v in (limit.count, float(limit.period_s))]


# --- settings wiring ----------------------------------------------------------------------

_process_limiter: InProcessRateLimiter | None = None
_process_guard = threading.Lock()


def _reset_after_fork() -> None:
    # A forked child must not inherit a lock held by another thread of its parent.
    global _process_limiter, _process_guard
    _process_limiter = None
    _process_guard = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@lru_cache(maxsize=4)
def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def rate_limiter_from_settings(*, max_wait_s: float = DEFAULT_MAX_WAIT_S) -> RateLimiter:
    """The limiter of this deployment over :data:`WINDOW_SAFE_LIMITS`, waiting at most ``max_wait_s``.

    With ``settings.REDIS_URL`` set: a :class:`RedisRateLimiter` (budget shared by every
    process). Without: a view of one :class:`InProcessRateLimiter` per process, so every
    client of the process shares its buckets whatever its ``max_wait_s``.
    """
    from django.conf import settings

    if settings.REDIS_URL:
        return RedisRateLimiter(_redis_client(settings.REDIS_URL), max_wait_s=max_wait_s)
    global _process_limiter
    with _process_guard:
        if _process_limiter is None:
            _process_limiter = InProcessRateLimiter()
        return _process_limiter.with_max_wait(max_wait_s)
