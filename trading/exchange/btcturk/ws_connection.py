"""Connection policy of the BTCTurk websocket: channels, 151 frames, connect budget and backoff.

Source: reference/btcturk_api.md section 6 (151 subscribe/leave frames and their channels) and
section 5 (15 websocket connects per minute per IP). :class:`ConnectLimiter` keeps a feed within
that budget; :class:`Backoff` spaces its reconnects.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

CHANNELS = frozenset({"obdiff", "ticker", "trade"})
DEFAULT_CHANNELS = ("obdiff", "ticker")
WS_CONNECTS_PER_MINUTE = 15  # reference 5; per IP, so other processes share it


def subscription_frame(channel: str, pair: str, *, join: bool) -> list[Any]:
    """``[151, {"type":151, "channel":channel, "event":pair, "join":join}]`` (reference 6)."""
    return [151, {"type": 151, "channel": channel, "event": pair, "join": join}]


class ConnectLimiter:
    """At most ``max_connects`` connection attempts per sliding ``period_s`` (monotonic s)."""

    def __init__(self, max_connects: int = WS_CONNECTS_PER_MINUTE, period_s: float = 60.0) -> None:
        if max_connects < 1 or period_s <= 0:
            raise ValueError("max_connects must be >= 1 and period_s > 0")
        self.max_connects = max_connects
        self.period_s = period_s
        self._times: deque[float] = deque()

    def wait_s(self, now: float) -> float:
        """Seconds to wait before the next attempt is within the budget (0 = go)."""
        while self._times and self._times[0] <= now - self.period_s:
            self._times.popleft()
        if len(self._times) < self.max_connects:
            return 0.0
        return self._times[0] + self.period_s - now

    def record(self, now: float) -> None:
        self._times.append(now)


class Backoff:
    """Jittered exponential delays: ``d = min(cap_s, base_s * 2**(attempt - 1))``, wait in
    ``[d / 2, d]`` drawn from ``rng`` (one ``random.Random`` per feed, so feeds desynchronise).
    """

    def __init__(self, *, base_s: float, cap_s: float, rng: random.Random) -> None:
        if base_s < 0 or cap_s < base_s:
            raise ValueError("need 0 <= base_s <= cap_s")
        self.base_s, self.cap_s, self.rng = base_s, cap_s, rng

    def delay_s(self, attempt: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2 ** min(max(attempt - 1, 0), 32))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)
