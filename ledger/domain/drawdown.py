"""Running peak and drawdown of an equity curve, and the trading day of a timestamp.

Drawdown is measured from the running peak of equity, in percent (0..100). The trading day is
the calendar date in the trading time zone (``Europe/Istanbul`` in production, DESIGN.md
section 1), so "daily loss" resets at local midnight, 21:00 UTC for Istanbul.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

ZERO = Decimal(0)
HUNDRED = Decimal(100)
_MS_PER_DAY = 86_400_000


class DrawdownState(NamedTuple):
    """``peak`` highest equity seen (quote); ``drawdown_pct`` current fall from the peak and
    ``max_drawdown_pct`` the largest so far, both percent in 0..100."""

    peak: Decimal
    drawdown_pct: Decimal
    max_drawdown_pct: Decimal


def drawdown_update(state: DrawdownState | None, equity: Decimal) -> DrawdownState:
    """Fold one equity point (quote) into the running state; ``None`` starts a new curve.

    ``drawdown_pct = (peak - equity) / peak * 100``, clamped to 100 (equity at or below zero);
    0 while the peak is not positive (nothing to lose from). One point of
    :func:`drawdown_fold`: the formula has one home, :func:`_fold`.
    """
    if state is None:
        return DrawdownState(peak=equity, drawdown_pct=ZERO, max_drawdown_pct=ZERO)
    return _fold(state, (equity,), [])


def drawdown_fold(
    state: DrawdownState | None, equities: Sequence[Decimal]
) -> tuple[list[Decimal], DrawdownState | None]:
    """Fold ``equities`` (quote) into ``state`` in turn (``None`` starts a new curve at the
    first point, with drawdown 0); no points leave ``state`` as it is.

    Returns each point's ``drawdown_pct`` and the final state, both what successive
    :func:`drawdown_update` calls give. The peak keeps the first object that reached it (an
    equal later value does not replace it), so digits are stable.
    """
    out: list[Decimal] = []
    if not equities:
        return out, state
    if state is None:
        state = DrawdownState(peak=equities[0], drawdown_pct=ZERO, max_drawdown_pct=ZERO)
        out.append(ZERO)
        equities = equities[1:]
    return out, _fold(state, equities, out)


def _fold(state: DrawdownState, equities: Iterable[Decimal], out: list[Decimal]) -> DrawdownState:
    """The drawdown formula over ``equities``: appends each point's drawdown to ``out`` and
    returns the final state."""
    peak, current, worst = state
    append = out.append
    # min(current, 100) and max(worst, current) as comparisons (no calls); when equal, the
    # first argument is kept, as min()/max() would. A drawdown at or below ``low`` (the
    # worst so far, at most 100) changes neither, so most points take one comparison.
    low = worst if worst <= HUNDRED else HUNDRED
    positive = peak > 0
    for equity in equities:
        if equity < peak:
            if positive:
                current = (peak - equity) / peak * HUNDRED
                if current > low:
                    if current > HUNDRED:  # min(current, HUNDRED) keeps current when equal
                        current = HUNDRED
                    if current > worst:  # max(worst, current) keeps worst when equal
                        worst = low = current
            else:
                current = ZERO
        elif equity > peak:  # a new high
            peak = equity
            positive = peak > 0
            current = ZERO
        elif current:  # back at the peak from below (the older peak object stays)
            current = ZERO
        append(current)
    return DrawdownState(peak, current, worst)


def trading_day(ts_ms: int, tz: ZoneInfo) -> dt.date:
    """Local calendar date in ``tz`` of ``ts_ms`` (epoch milliseconds UTC)."""
    return dt.datetime.fromtimestamp(ts_ms // 1000, tz).date()


def _local_midnight_ms(day: dt.date, tz: ZoneInfo) -> int:
    # fold=0 gives the first local midnight, or the transition instant if midnight is skipped.
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=tz).timestamp()) * 1000


class TradingDayClock:
    """:func:`trading_day` with a cache of the current day's bounds.

    ``day_of(ts_ms)`` is one comparison while ``ts_ms`` stays inside the cached day and
    recomputes (zoneinfo) only when it leaves it, so a backtest pays the time-zone cost once per
    day. Days whose UTC offset changes (DST switches) are not cached, which keeps days where
    the local clock jumps back across midnight correct.
    """

    __slots__ = ("tz", "_day", "_start_ms", "_end_ms")

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._day = dt.date.min
        self._start_ms = 0
        self._end_ms = 0  # empty range: the first call computes

    def day_of(self, ts_ms: int) -> dt.date:
        """Trading day of ``ts_ms`` (epoch milliseconds UTC), same as :func:`trading_day`."""
        if self._start_ms <= ts_ms < self._end_ms:
            return self._day
        day = trading_day(ts_ms, self.tz)
        start = _local_midnight_ms(day, self.tz)
        end = _local_midnight_ms(day + dt.timedelta(days=1), self.tz)
        if end - start == _MS_PER_DAY and start <= ts_ms < end:
            self._day, self._start_ms, self._end_ms = day, start, end
        return day

    def days_of(self, ts_ms: Sequence[int]) -> list[dt.date]:
        """``[day_of(t) for t in ts_ms]`` for ascending ``ts_ms``, one zone lookup per day:
        every time before the end of a plain day (24 hours long) shares its date, found by
        bisection; on days whose offset changes each time is looked up on its own."""
        out: list[dt.date] = []
        i, count = 0, len(ts_ms)
        while i < count:
            t = ts_ms[i]
            day = self.day_of(t)
            if self._day == day and self._start_ms <= t < self._end_ms:  # a cached plain day
                j = bisect_left(ts_ms, self._end_ms, i + 1)
                out.extend([day] * (j - i))
                i = j
            else:
                out.append(day)
                i += 1
        return out

    def day_end_ms(self, ts_ms: int) -> int:
        """Exclusive end (epoch ms UTC) of the trading day containing ``ts_ms``."""
        day = self.day_of(ts_ms)
        if self._day == day and self._start_ms <= ts_ms < self._end_ms:
            return self._end_ms
        return _local_midnight_ms(day + dt.timedelta(days=1), self.tz)
