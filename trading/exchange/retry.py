"""Retries for idempotent reads: exponential backoff with full jitter, honouring Retry-After.

Only :class:`~trading.exchange.errors.RetryableError` is retried, and only for requests that
cannot change state (GETs). Writes never come through here (DESIGN.md section 5). The wait
before attempt ``n + 1`` is ``uniform(0, min(max_delay_s, base_delay_s * 2**(n - 1)))``
("full jitter"), raised to the error's ``retry_after`` when the exchange sent one. The jitter
comes from one ``random.Random`` per process, seeded from the OS, so processes that fail
together do not retry in step. Attempts and the total wait are both capped; when the next
wait would exceed the cap the last error is raised. Built on tenacity.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception_type

from trading.exchange.errors import RetryableError

T = TypeVar("T")

# One jitter source per process, seeded from the OS.
_PROCESS_RANDOM = random.Random()


if hasattr(os, "register_at_fork"):  # POSIX: a forked worker must not share its parent's jitter
    os.register_at_fork(after_in_child=_PROCESS_RANDOM.seed)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a read is retried: at most ``max_attempts`` calls in all, sleeping at most
    ``max_total_wait_s`` seconds in sum; waits grow from ``base_delay_s`` up to ``max_delay_s``.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    max_total_wait_s: float = 15.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.max_total_wait_s < 0:
            raise ValueError("delays must be >= 0")

    def backoff_s(self, failed_attempts: int, rng: random.Random) -> float:
        """Full-jitter wait after ``failed_attempts`` failures (>= 1), in seconds."""
        ceiling = min(self.max_delay_s, self.base_delay_s * 2 ** (failed_attempts - 1))
        return rng.uniform(0, ceiling)


NO_RETRY = RetryPolicy(max_attempts=1)


def call_with_retry(
    call: Callable[[], T],
    *,
    policy: RetryPolicy,
    rng: random.Random | None = None,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[RetryableError, int, float], None] | None = None,
) -> T:
    """Run ``call``; on :class:`RetryableError` wait and try again within ``policy``.

    ``on_retry(error, failed_attempts, wait_s)`` is told before each wait (for logging).
    Raises the last ``RetryableError`` when attempts or the total wait run out; any other
    exception propagates at once.
    """
    source = rng or _PROCESS_RANDOM

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        delay = policy.backoff_s(state.attempt_number, source)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            delay = max(delay, float(retry_after))
        return delay

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= policy.max_attempts:
            return True
        return state.idle_for + (state.upcoming_sleep or 0.0) > policy.max_total_wait_s

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            on_retry(state.outcome.exception(), state.attempt_number, state.upcoming_sleep)

    retrying = Retrying(
        retry=retry_if_exception_type(RetryableError),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(call)
