"""Market data as the planner sees it: closed bars and a snapshot per symbol.

Bars are kept column-wise (one sequence per field, oldest first) so that a window over the
closed bars is a cheap view, not a copy: a :class:`BarWindow` exposes only the bars whose
index is below ``end``, which is how strategies are kept from seeing the bar still forming.
Indicator maths may use the float columns; prices that reach intents are Decimal
(``mark_price``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from trading.domain.symbols import Symbol


class BarWindow(NamedTuple):
    """Closed bars ``[0, end)`` of one symbol.

    ``ts`` is the bar open time (epoch ms, UTC); ``open``..``close`` are quote per base unit and
    ``volume`` base units, all floats for indicator maths; ``interval_ms`` the bar length.
    """

    ts: Sequence[int]
    open: Sequence[float]
    high: Sequence[float]
    low: Sequence[float]
    close: Sequence[float]
    volume: Sequence[float]
    end: int
    interval_ms: int

    @property
    def count(self) -> int:
        return self.end

    def closes(self, n: int) -> Sequence[float]:
        """The last ``n`` closes (fewer if not enough bars have closed), oldest first."""
        return self.close[max(0, self.end - n) : self.end]

    def last_close(self) -> float:
        return self.close[self.end - 1]

    def last_ts(self) -> int:
        return self.ts[self.end - 1]


class MarketSnapshot(NamedTuple):
    """What is known of one symbol at a cycle.

    ``mark_price`` (quote per base unit) values positions: the last close, or the mid of
    ``bid``/``ask`` when a book is known. ``age_ms`` is how old the newest data is at the
    cycle time; the planner treats data older than the risk limit as stale.
    """

    symbol: Symbol
    bars: BarWindow
    mark_price: Decimal
    age_ms: int
    bid: Decimal | None = None
    ask: Decimal | None = None

    @property
    def spread_bps(self) -> Decimal | None:
        if self.bid is None or self.ask is None or self.bid <= 0:
            return None
        mid = (self.bid + self.ask) / 2
        return (self.ask - self.bid) / mid * 10000


@dataclass(frozen=True, slots=True)
class Bar:
    """One closed candle in Decimal, as the simulated venue matches against it.

    ``ts_ms`` is the open time (epoch ms, UTC); prices quote per base unit; volume base units.
    """

    ts_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
