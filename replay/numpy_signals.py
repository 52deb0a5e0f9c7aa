"""Signal-mask column passes over NumPy (``trading.domain.strategies.signals.SignalKernels``).

The domain computes masks with standard-library ``map`` passes (``PYTHON_SIGNALS``); a year of
1-minute closes takes about half a second there and a few tens of milliseconds here. The
backtest services pass :data:`NUMPY_SIGNALS` in. Every pass is the same IEEE operation in the
same order as the Python one (a running sum by sequential addition, then differences divided
by the window; the same widened comparisons), so the masks are the same bytes
(``tests/trading/test_signal_kernels.py``). NumPy is already loaded by pyarrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import fsum
from typing import NamedTuple

import numpy as np

from trading.domain.strategies.signals import TOLERANCE


class Means(NamedTuple):
    """Rolling means of a series of ``length`` bars: ``values[k]`` is the mean at bar
    ``first + k`` (bars before ``first`` have fewer than ``window`` closes)."""

    first: int
    values: np.ndarray
    length: int


def _column(close: Sequence[float]) -> np.ndarray:
    try:
        return np.frombuffer(close, dtype=np.float64)  # array("d"): no copy
    except (TypeError, ValueError):
        return np.asarray(close, dtype=np.float64)


class NumpySignals:
    """:class:`~trading.domain.strategies.signals.SignalKernels` over NumPy arrays."""

    def rolling_means(self, close: Sequence[float], window: int) -> Means:
        column = _column(close)
        n = len(column)
        first = min(window - 1, n)
        if n < window:
            return Means(first, np.empty(0), n)
        # np.cumsum adds in sequence, as itertools.accumulate does
        cum = np.concatenate(([0.0], np.cumsum(column)))
        return Means(first, (cum[window:] - cum[: n + 1 - window]) / window, n)

    def crossings(self, a: Means, b: Means) -> tuple[bytes, bytes]:
        n = a.length
        first = max(a.first, b.first)
        if n - first < 2:
            return bytes(n), bytes(n)
        xs, ys = a.values[first - a.first :], b.values[first - b.first :]
        slack = TOLERANCE * (np.abs(xs) + np.abs(ys))
        below = (xs - ys) <= slack
        above = (ys - xs) <= slack
        head = bytes(first + 1)
        up = (below[:-1] & above[1:]).tobytes()  # bool: one byte, 0 or 1
        down = (above[:-1] & below[1:]).tobytes()
        return head + up, head + down

    def band_masks(
        self, close: Sequence[float], means: Means, low: float, high: float
    ) -> tuple[bytes, bytes]:
        first = means.first
        xs, ms = _column(close)[first:], means.values
        lows, highs = ms * low, ms * high
        abs_x = np.abs(xs)
        below = (xs - lows) <= TOLERANCE * (abs_x + np.abs(lows))
        above = (highs - xs) <= TOLERANCE * (abs_x + np.abs(highs))
        head = bytes(first)
        return head + below.tobytes(), head + above.tobytes()

    def return_moments(self, values: Sequence[float]) -> tuple[int, float, float] | None:
        column = _column(values)
        count = len(column) - 1
        if count < 2 or column.min() <= 0:
            return None
        returns = column[1:] / column[:-1] - 1.0
        mean = fsum(memoryview(returns)) / count  # iterates the doubles, no list
        deviations = returns - mean
        return count, mean, fsum(memoryview(deviations * deviations)) / (count - 1)


NUMPY_SIGNALS = NumpySignals()
