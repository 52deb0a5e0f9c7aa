"""Signal masks: a conservative, causal summary of where a strategy may act.

A backtest calls a strategy once per symbol per cycle, yet most calls return ``None``. A
strategy may therefore describe, once per series, the bars at which :meth:`evaluate` *could*
return an intent. ``mask[i]`` is 1 when, with bars ``0..i`` closed and no order resting for
the symbol, ``evaluate`` may return an intent; 0 guarantees it returns ``None``. Masks are

- **causal**: ``mask[i]`` depends only on closes ``0..i`` (appending bars never changes it);
- **conservative**: rolling sums here are running float sums, so every comparison is widened
  by a relative tolerance (:data:`TOLERANCE`); a 1 only means "ask ``evaluate``", which then
  decides with its own exact arithmetic.

There is one mask for a flat position and one for a held one; ``None`` means "every bar"
(the decision depends on state the mask cannot see, such as the average cost). The backtest
engine uses masks to skip cycles whose plan is provably empty; tests check both properties
on real data and that runs with and without the skip are identical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

TOLERANCE = 1e-9  # relative; running-sum error over 10^6 bars stays far below this


@dataclass(frozen=True, slots=True)
class SignalBars:
    """Per-bar masks (``bytes`` of 0/1, one per bar of the series) or ``None`` = every bar."""

    flat: bytes | None
    holding: bytes | None

    def for_position(self, holding: bool) -> bytes | None:
        return self.holding if holding else self.flat


EVERY_BAR = SignalBars(None, None)


def rolling_means(close: Sequence[float], window: int) -> list[float | None]:
    """Mean of closes ``i-window+1..i`` for every ``i`` (``None`` before ``window`` bars)."""
    out: list[float | None] = [None] * len(close)
    total = 0.0
    for i, value in enumerate(close):
        total += value
        if i >= window:
            total -= close[i - window]
        if i >= window - 1:
            out[i] = total / window
    return out


def near_or_below(a: float, b: float) -> bool:
    """``a <= b`` widened by the tolerance (true also when ``a`` is slightly above ``b``)."""
    return a - b <= TOLERANCE * (abs(a) + abs(b))


def near_or_above(a: float, b: float) -> bool:
    """``a >= b`` widened by the tolerance."""
    return b - a <= TOLERANCE * (abs(a) + abs(b))
