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
(the decision depends on state the mask cannot see, such as the average cost). A strategy
whose exit is a price set by the average cost may also offer ``exit_band(quantity,
average_cost, fee_taker_bps, min_notional) -> ExitBand | None``: while the position is
unchanged and no book is known, it cannot act at a bar whose close stays inside the band. The backtest
engine uses masks to skip cycles whose plan is provably empty; tests check both properties
on real data and that runs with and without the skip are identical.

The column passes are behind :class:`SignalKernels`: :data:`PYTHON_SIGNALS` (this module's
functions, standard library only, as the domain must) and a NumPy implementation outside the
domain (``replay.numpy_signals.NUMPY_SIGNALS``) that the backtest services pass in. Both give
the same bytes: the same IEEE operations in the same order
(``tests/trading/test_signal_kernels.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from itertools import accumulate, repeat
from math import fsum
from operator import add, and_, le, mul, sub, truediv
from typing import Any, Protocol

TOLERANCE = 1e-9  # relative; running-sum error over 10^6 bars stays far below this


@dataclass(frozen=True, slots=True)
class SignalBars:
    """Per-bar masks (``bytes`` of 0/1, one per bar of the series) or ``None`` = every bar."""

    flat: bytes | None
    holding: bytes | None

    def for_position(self, holding: bool) -> bytes | None:
        return self.holding if holding else self.flat


EVERY_BAR = SignalBars(None, None)


@dataclass(frozen=True, slots=True)
class ExitBand:
    """While a position is held and unchanged, with no book: ``evaluate`` may act only at a
    bar whose close is at or above ``take`` or below ``dust`` (quote per base unit); between
    them it returns ``None``. For strategies whose exit depends on the average cost, which a
    per-series mask cannot know (``Strategy.exit_band``). Prices are exact; a scan widens
    them by :data:`TOLERANCE` so a float close never misses a bar the exact rule acts on.
    """

    take: Decimal
    dust: Decimal

    def float_bounds(self) -> tuple[float, float]:
        """``(take, dust)`` as floats widened inward by the tolerance: a close ``>=`` the
        first or ``<=`` the second may act."""
        return float(self.take) * (1 - 4 * TOLERANCE), float(self.dust) * (1 + 4 * TOLERANCE)


class SignalKernels(Protocol):
    """The column passes of signal masks. ``rolling_means`` returns this kernel set's own
    representation of the means, which only its ``crossings`` and ``band_masks`` read."""

    def rolling_means(self, close: Sequence[float], window: int) -> Any:
        """Means of :func:`rolling_means`."""
        ...

    def crossings(self, a: Any, b: Any) -> tuple[bytes, bytes]:
        """:func:`crossings` of two results of :meth:`rolling_means`."""
        ...

    def band_masks(
        self, close: Sequence[float], means: Any, low: float, high: float
    ) -> tuple[bytes, bytes]:
        """:func:`band_masks` with a result of :meth:`rolling_means`."""
        ...

    def return_moments(self, values: Sequence[float]) -> tuple[int, float, float] | None:
        """:func:`return_moments`."""
        ...


def rolling_means(close: Sequence[float], window: int) -> list[float | None]:
    """Mean of closes ``i-window+1..i`` for every ``i`` (``None`` before ``window`` bars).

    Differences of a running (cumulative) sum: O(n) at C speed; the rounding error is far
    below :data:`TOLERANCE` for any realistic price level and length.
    """
    cum = list(accumulate(close, initial=0.0))
    head: list[float | None] = [None] * min(window - 1, len(close))
    return head + list(map(truediv, map(sub, cum[window:], cum), repeat(window)))


def crossings(a: Sequence[float | None], b: Sequence[float | None]) -> tuple[bytes, bytes]:
    """Masks of bars where ``a`` crosses above ``b`` and where it crosses below it.

    Up at ``i``: ``a[i-1] <= b[i-1]`` and ``a[i] >= b[i]``; down: the same with ``a`` and ``b``
    swapped; every comparison widened by :data:`TOLERANCE`. 0 where either is undefined.
    """
    n = len(a)
    first = next((i for i in range(n) if a[i] is not None and b[i] is not None), n)
    if n - first < 2:
        return bytes(n), bytes(n)
    # C-level passes (operator functions over whole columns); the same comparisons as
    # ``x - y <= TOLERANCE * (abs(x) + abs(y))`` element by element.
    xs, ys = a[first:], b[first:]
    slack = list(map(mul, repeat(TOLERANCE), map(add, map(abs, xs), map(abs, ys))))
    below = bytes(map(le, map(sub, xs, ys), slack))
    above = bytes(map(le, map(sub, ys, xs), slack))
    up = bytes(map(and_, below[:-1], above[1:]))
    down = bytes(map(and_, above[:-1], below[1:]))
    head = bytes(first + 1)
    return head + up, head + down


def band_masks(
    close: Sequence[float], means: Sequence[float | None], low: float, high: float
) -> tuple[bytes, bytes]:
    """Masks of bars whose close is near or below ``mean * low`` and near or above
    ``mean * high`` (:func:`near_or_below`, :func:`near_or_above`); 0 where the mean is
    undefined (``None``, the first bars)."""
    n = len(close)
    first = next((i for i in range(n) if means[i] is not None), n)
    xs, ms = close[first:], means[first:]
    lows = list(map(mul, ms, repeat(low)))
    highs = list(map(mul, ms, repeat(high)))
    abs_x = list(map(abs, xs))
    below = map(
        le, map(sub, xs, lows), map(mul, repeat(TOLERANCE), map(add, abs_x, map(abs, lows)))
    )
    above = map(
        le, map(sub, highs, xs), map(mul, repeat(TOLERANCE), map(add, abs_x, map(abs, highs)))
    )
    head = bytes(first)
    return head + bytes(below), head + bytes(above)


def return_moments(values: Sequence[float]) -> tuple[int, float, float] | None:
    """``(count, mean, sample variance)`` of the simple returns ``values[i + 1] / values[i] -
    1`` of a series of positive values (an equity curve), or ``None`` when a value is not
    positive or there are fewer than two returns (the caller decides what those mean).

    Sums are ``math.fsum`` (correctly rounded, independent of order); a deviation is squared
    as ``d * d``. Used by the backtest's Sharpe ratio (``replay.domain.metrics``).
    """
    if len(values) < 3 or min(values) <= 0:
        return None
    returns = list(map(sub, map(truediv, values[1:], values[:-1]), repeat(1.0)))
    return moments_of(returns)


def moments_of(returns: Sequence[float]) -> tuple[int, float, float]:
    """``(count, mean, sample variance)`` of at least two returns, as :func:`return_moments`
    computes them."""
    count = len(returns)
    mean = fsum(returns) / count
    deviations = list(map(sub, returns, repeat(mean)))
    return count, mean, fsum(map(mul, deviations, deviations)) / (count - 1)


class PythonSignals:
    """:class:`SignalKernels` over this module's functions (standard library only)."""

    def rolling_means(self, close: Sequence[float], window: int) -> list[float | None]:
        return rolling_means(close, window)

    def crossings(self, a: Any, b: Any) -> tuple[bytes, bytes]:
        return crossings(a, b)

    def band_masks(
        self, close: Sequence[float], means: Any, low: float, high: float
    ) -> tuple[bytes, bytes]:
        return band_masks(close, means, low, high)

    def return_moments(self, values: Sequence[float]) -> tuple[int, float, float] | None:
        return return_moments(values)


PYTHON_SIGNALS = PythonSignals()


def near_or_below(a: float, b: float) -> bool:
    """``a <= b`` widened by the tolerance (true also when ``a`` is slightly above ``b``)."""
    return a - b <= TOLERANCE * (abs(a) + abs(b))


def near_or_above(a: float, b: float) -> bool:
    """``a >= b`` widened by the tolerance."""
    return b - a <= TOLERANCE * (abs(a) + abs(b))
