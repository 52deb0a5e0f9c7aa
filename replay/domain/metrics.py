"""Backtest metrics: round trips, return, Sharpe, win rate.

Money stays Decimal; ratios (Sharpe, win rate) are floats because they are statistics, not
amounts. Sharpe is the annualised mean over standard deviation of per-cycle simple equity
returns (risk-free rate 0), with ``periods_per_year = 365.25 days / bar interval``.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.fills import Fill
from ledger.domain.positions import Position, position_apply_fill
from trading.domain.orders import Side
from trading.domain.strategies.signals import (
    PYTHON_SIGNALS,
    SignalKernels,
    moments_of,
)
from trading.domain.symbols import Symbol

YEAR_MS = 365.25 * 86_400_000
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A position opened from flat and closed back to flat (prices quote per base unit)."""

    symbol: Symbol
    opened_ms: int
    closed_ms: int
    quantity: Decimal
    entry_price: Decimal
    exit_price: Decimal
    pnl: Decimal
    fees: Decimal


def round_trips(fills: Sequence[Fill], quote_asset: str) -> list[RoundTrip]:
    """Split fills into round trips per symbol; ``pnl`` is realized PnL after all fees."""
    trips: list[RoundTrip] = []
    open_trips: dict[Symbol, _Trip] = {}
    positions: dict[Symbol, Position | None] = {}
    for fill in fills:
        before = positions.get(fill.symbol)
        fee_in_quote = fill.fee if fill.fee_asset == quote_asset else ZERO
        after = position_apply_fill(before, fill, fee_in_quote=fee_in_quote)
        positions[fill.symbol] = after
        trip = open_trips.get(fill.symbol)
        if trip is None:
            trip = open_trips[fill.symbol] = _Trip(fill.ts_ms, before)
        trip.add(fill, after)
        if after.quantity == 0:
            trips.append(trip.close(fill, after))
            del open_trips[fill.symbol]
    return trips


class _Trip:
    """Accumulators of one open round trip (quote values, base quantities)."""

    __slots__ = (
        "opened",
        "realized0",
        "fees",
        "max_qty",
        "buy_qty",
        "buy_value",
        "sell_qty",
        "sell_value",
    )

    def __init__(self, opened_ms: int, before: Position | None) -> None:
        self.opened = opened_ms
        self.realized0 = before.realized_pnl if before else ZERO
        self.fees = self.max_qty = ZERO
        self.buy_qty = self.buy_value = self.sell_qty = self.sell_value = ZERO

    def add(self, fill: Fill, after: Position) -> None:
        self.fees += fill.fee
        if after.quantity > self.max_qty:
            self.max_qty = after.quantity
        if fill.side is Side.BUY:
            self.buy_qty += fill.quantity
            self.buy_value += fill.quantity * fill.price
        else:
            self.sell_qty += fill.quantity
            self.sell_value += fill.quantity * fill.price

    def close(self, fill: Fill, after: Position) -> RoundTrip:
        return RoundTrip(
            symbol=fill.symbol,
            opened_ms=self.opened,
            closed_ms=fill.ts_ms,
            quantity=self.max_qty,
            entry_price=self.buy_value / self.buy_qty if self.buy_qty else ZERO,
            exit_price=self.sell_value / self.sell_qty if self.sell_qty else ZERO,
            pnl=after.realized_pnl - self.realized0,
            fees=self.fees,
        )


def sharpe_ratio(
    equity: Sequence[Decimal] | Sequence[float],
    interval_ms: int,
    kernels: SignalKernels = PYTHON_SIGNALS,
) -> float | None:
    """Annualised Sharpe of per-cycle returns; ``None`` with < 2 returns or zero variance.

    ``equity`` in quote currency, as ``Decimal`` or already as ``float`` of each (an
    ``array('d')``, e.g. ``CycleLog.equity_floats``): the same result either way. A return
    is counted only after a positive equity. The moments are ``kernels.return_moments``
    (the backtest passes NumPy ones: the same floats)."""
    values = equity if isinstance(equity, array) else _floats(equity)
    moments = kernels.return_moments(values)
    if moments is None:  # a value not positive, or too few
        returns = [b / a - 1.0 for a, b in zip(values, values[1:], strict=False) if a > 0]
        if len(returns) < 2:
            return None
        moments = moments_of(returns)
    _, mean, variance = moments
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / interval_ms)


def win_rate(trips: Sequence[RoundTrip]) -> float | None:
    """Share of round trips with positive PnL after fees; ``None`` without trips."""
    if not trips:
        return None
    return sum(1 for t in trips if t.pnl > 0) / len(trips)


def _floats(values: Sequence[Decimal]) -> list[float]:
    """``float`` of each value, converting a repeated object once (quiet stretches repeat)."""
    out: list[float] = []
    last: Decimal | None = None
    number = 0.0
    for value in values:
        if value is not last:
            last, number = value, float(value)
        out.append(number)
    return out
