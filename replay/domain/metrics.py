"""Backtest metrics: round trips, return, Sharpe, win rate.

Money stays Decimal; ratios (Sharpe, win rate) are floats because they are statistics, not
amounts. Sharpe is the annualised mean over standard deviation of per-cycle simple equity
returns (risk-free rate 0), with ``periods_per_year = 365.25 days / bar interval``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from ledger.domain.fills import Fill
from ledger.domain.positions import Position, position_apply_fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

YEAR_MS = 365.25 * 86_400_000


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
    open_trips: dict[Symbol, dict] = {}
    positions: dict[Symbol, Position | None] = {}
    for fill in fills:
        before = positions.get(fill.symbol)
        fee_in_quote = fill.fee if fill.fee_asset == quote_asset else Decimal(0)
        after = position_apply_fill(before, fill, fee_in_quote=fee_in_quote)
        positions[fill.symbol] = after
        trip = open_trips.get(fill.symbol)
        if trip is None:
            trip = open_trips[fill.symbol] = _new_trip(fill, before)
        _accumulate(trip, fill, after)
        if after.quantity == 0:
            trips.append(_close_trip(fill, trip, after))
            del open_trips[fill.symbol]
    return trips


def _new_trip(fill: Fill, before: Position | None) -> dict:
    realized = before.realized_pnl if before else Decimal(0)
    return {
        "opened": fill.ts_ms,
        "realized0": realized,
        "fees": Decimal(0),
        "max_qty": Decimal(0),
        "buy_qty": Decimal(0),
        "buy_value": Decimal(0),
        "sell_qty": Decimal(0),
        "sell_value": Decimal(0),
    }


def _accumulate(trip: dict, fill: Fill, after: Position) -> None:
    trip["fees"] += fill.fee
    trip["max_qty"] = max(trip["max_qty"], after.quantity)
    prefix = "buy" if fill.side is Side.BUY else "sell"
    trip[f"{prefix}_qty"] += fill.quantity
    trip[f"{prefix}_value"] += fill.quantity * fill.price


def _close_trip(fill: Fill, trip: dict, after: Position) -> RoundTrip:
    return RoundTrip(
        symbol=fill.symbol,
        opened_ms=trip["opened"],
        closed_ms=fill.ts_ms,
        quantity=trip["max_qty"],
        entry_price=trip["buy_value"] / trip["buy_qty"] if trip["buy_qty"] else Decimal(0),
        exit_price=trip["sell_value"] / trip["sell_qty"] if trip["sell_qty"] else Decimal(0),
        pnl=after.realized_pnl - trip["realized0"],
        fees=trip["fees"],
    )


def sharpe_ratio(equity: Sequence[Decimal], interval_ms: int) -> float | None:
    """Annualised Sharpe of per-cycle returns; ``None`` with < 2 returns or zero variance."""
    values = list(map(float, equity))
    returns = [b / a - 1.0 for a, b in zip(values, values[1:], strict=False) if a > 0]
    if len(returns) < 2:
        return None
    mean = math.fsum(returns) / len(returns)
    variance = math.fsum((r - mean) ** 2 for r in returns) / (len(returns) - 1)
    if variance <= 0:
        return None
    return mean / math.sqrt(variance) * math.sqrt(YEAR_MS / interval_ms)


def win_rate(trips: Sequence[RoundTrip]) -> float | None:
    """Share of round trips with positive PnL after fees; ``None`` without trips."""
    if not trips:
        return None
    return sum(1 for t in trips if t.pnl > 0) / len(trips)
