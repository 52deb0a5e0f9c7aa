"""Read retries: only retryable errors are retried, with full-jitter exponential backoff,
``Retry-After`` honoured, and both the attempts and the total wait capped."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trading.exchange.errors import (
    AuthenticationError,
    NonRetryableError,
    OutcomeUncertain,
    RateLimited,
    RetryableError,
)
from trading.exchange.retry import RetryPolicy, call_with_retry

ROOT = Path(__file__).resolve().parents[3]


class Flaky:
    """Fails with the given errors in turn, then returns ``"ok"``; counts calls."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


def test_a_retryable_failure_is_retried_until_it_succeeds() -> None:
    sleeps: list[float] = []
    call = Flaky(RetryableError("503"), RetryableError("timeout"))

    result = call_with_retry(call, policy=RetryPolicy(), rng=random.Random(1), sleep=sleeps.append)

    assert result == "ok"
    assert call.calls == 3
    assert len(sleeps) == 2


@pytest.mark.parametrize(
    "error",
    [
        NonRetryableError("bad request"),
        AuthenticationError("Invalid Signature"),
        OutcomeUncertain("timeout after sending"),
        ValueError("a bug"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_anything_but_a_retryable_error_propagates_at_once(error: Exception) -> None:
    sleeps: list[float] = []
    call = Flaky(error)

    with pytest.raises(type(error)):
        call_with_retry(call, policy=RetryPolicy(), sleep=sleeps.append)

    assert call.calls == 1 and sleeps == []


def test_attempts_are_capped_and_the_last_error_is_raised() -> None:
    sleeps: list[float] = []
    errors = [RetryableError(f"failure {n}") for n in range(1, 10)]
    call = Flaky(*errors)

    with pytest.raises(RetryableError, match="failure 3"):
        call_with_retry(call, policy=RetryPolicy(max_attempts=3), sleep=sleeps.append)

    assert call.calls == 3 and len(sleeps) == 2


def test_retry_after_is_a_floor_on_the_wait() -> None:
    sleeps: list[float] = []
    call = Flaky(RateLimited("429", retry_after=3.0))

    call_with_retry(call, policy=RetryPolicy(max_delay_s=0.5), sleep=sleeps.append)

    assert sleeps == [3.0]


def test_a_wait_beyond_the_total_cap_is_not_taken() -> None:
    sleeps: list[float] = []
    call = Flaky(RateLimited("429", retry_after=60.0))

    with pytest.raises(RateLimited):
        call_with_retry(call, policy=RetryPolicy(max_total_wait_s=15.0), sleep=sleeps.append)

    assert call.calls == 1 and sleeps == []


@settings(derandomize=True, database=None, max_examples=200)
@given(failures=st.integers(min_value=1, max_value=6), seed=st.integers(0, 2**32))
def test_each_wait_is_full_jitter_under_the_exponential_ceiling(failures: int, seed: int) -> None:
    policy = RetryPolicy(
        max_attempts=10, base_delay_s=0.25, max_delay_s=4.0, max_total_wait_s=1000.0
    )
    sleeps: list[float] = []
    call = Flaky(*[RetryableError("x") for _ in range(failures)])

    call_with_retry(call, policy=policy, rng=random.Random(seed), sleep=sleeps.append)

    assert len(sleeps) == failures
    for n, wait in enumerate(sleeps, start=1):
        assert 0 <= wait <= min(4.0, 0.25 * 2 ** (n - 1))


def test_the_jitter_spreads_over_the_whole_interval() -> None:
    policy = RetryPolicy()
    rng = random.Random(42)

    waits = [policy.backoff_s(3, rng) for _ in range(2000)]  # ceiling 1.0 s

    assert min(waits) < 0.05 and max(waits) > 0.95
    assert 0.45 < sum(waits) / len(waits) < 0.55


def test_forked_processes_do_not_share_the_jitter_sequence() -> None:
    script = (
        "import os\n"
        "from trading.exchange.errors import RetryableError\n"
        "from trading.exchange.retry import RetryPolicy, call_with_retry\n"
        "def first_wait():\n"
        "    waits, failed = [], []\n"
        "    def call():\n"
        "        if not failed:\n"
        "            failed.append(1)\n"
        "            raise RetryableError('x')\n"
        "    call_with_retry(call, policy=RetryPolicy(), sleep=waits.append)\n"
        "    return repr(waits[0])\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.write(w, first_wait().encode()); os._exit(0)\n"
        "os.waitpid(-1, 0)\n"
        "print(os.read(r, 100).decode() != first_wait())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )

    assert result.stdout.strip() == "True", result.stderr


def test_a_policy_with_no_attempts_or_negative_delays_is_refused() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="delays"):
        RetryPolicy(base_delay_s=-1)
