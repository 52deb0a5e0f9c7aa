"""Client-side rate limiting: one token bucket per (API key, rule), shared across processes.

Interface only for now; the implementation follows (in-process and Redis-backed buckets).
"""

from __future__ import annotations

from typing import Protocol


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
