"""Report folds over the ledger (pure): realized PnL by trading period or by symbol, and
evenly downsampled series.

Realized PnL is the average-cost position's (:mod:`ledger.domain.positions`): net of fees
(a buy's fee is part of the cost basis, a sell's reduces the proceeds), in the quote asset.
Fills are folded in the order the ledger recorded them (the order its positions were built
in); each fill's realized PnL counts for the trading day of its execution time in the given
time zone (``Europe/Istanbul`` for BTCTurk: a fill at 21:30 UTC belongs to the next local
day). Weeks are ISO weeks (Monday first) of trading days, months calendar months.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from ledger.domain.drawdown import TradingDayClock
from ledger.domain.fills import Fill
from ledger.domain.positions import Position, position_apply_fill
from trading.domain.orders import Side

ZERO = Decimal(0)
T = TypeVar("T")


class Period(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class PricedFill(NamedTuple):
    """A ledger fill and its fee valued in the quote asset at fill time (``fee_quote``)."""

    fill: Fill
    fee_quote: Decimal


@dataclass(slots=True)
class PnlRow:
    """One bucket: ``key`` is ``2024-01-31`` (day), ``2024-W05`` (ISO week), ``2024-01``
    (month) or a symbol ``BTC_TRY``; ``start`` the bucket's first trading day (``None`` for a
    symbol); ``realized_pnl`` and ``fees`` quote; ``fills`` how many; ``buy_notional`` and
    ``sell_notional`` quote traded (price x quantity)."""

    key: str
    start: dt.date | None = None
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    fills: int = 0
    buy_notional: Decimal = ZERO
    sell_notional: Decimal = ZERO

    def add(self, fill: Fill, realized: Decimal, fee_quote: Decimal) -> None:
        self.realized_pnl += realized
        self.fees += fee_quote
        self.fills += 1
        if fill.side is Side.BUY:
            self.buy_notional += fill.notional
        else:
            self.sell_notional += fill.notional


class RealizedStep(NamedTuple):
    """What one fill did to its position: ``realized`` the realized PnL it booked (quote, net
    of fees, ``after - before`` of the position's cumulative realized PnL) and ``fee_quote``."""

    fill: Fill
    realized: Decimal
    fee_quote: Decimal


def realized_steps(
    fills: Iterable[PricedFill], positions: MutableMapping[object, Position]
) -> Iterator[RealizedStep]:
    """Apply ``fills`` in order to ``positions`` (symbol -> position, updated in place; a
    missing symbol starts flat) and yield each fill's realized PnL. This is the fold every
    report is built from: :func:`pnl_fold` and the stored book
    (:mod:`ledger.realized`) both call it, so they book the same Decimals. Raises
    :class:`~ledger.domain.positions.LedgerIntegrityError` on an oversell."""
    for fill, fee_quote in fills:
        before = positions.get(fill.symbol)
        after = position_apply_fill(before, fill, fee_in_quote=fee_quote)
        positions[fill.symbol] = after
        realized = after.realized_pnl - (before.realized_pnl if before is not None else ZERO)
        yield RealizedStep(fill, realized, fee_quote)


def period_start(day: dt.date, period: Period) -> dt.date:
    """First trading day of the ``period`` containing ``day``."""
    if period is Period.DAY:
        return day
    if period is Period.WEEK:
        return day - dt.timedelta(days=day.weekday())
    return day.replace(day=1)


def period_key(start: dt.date, period: Period) -> str:
    """``2024-01-31``, ``2024-W05`` or ``2024-01`` for the period starting at ``start``."""
    if period is Period.DAY:
        return start.isoformat()
    if period is Period.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{start.year}-{start.month:02d}"


def pnl_fold(
    fills: Iterable[PricedFill],
    *,
    tz: ZoneInfo,
    period: Period | None,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> list[PnlRow]:
    """Realized PnL per ``period`` (or per symbol when ``period`` is ``None``), oldest period
    (or symbol name) first. Every fill moves its position; only fills with ``since_ms <= ts_ms
    < until_ms`` (epoch ms UTC; ``None`` = unbounded) are counted. Raises
    :class:`~ledger.domain.positions.LedgerIntegrityError` for fills the ledger could not have
    applied (an oversell)."""
    clock = TradingDayClock(tz)
    rows: dict[str, PnlRow] = {}
    for fill, realized, fee_quote in realized_steps(fills, {}):
        if (since_ms is not None and fill.ts_ms < since_ms) or (
            until_ms is not None and fill.ts_ms >= until_ms
        ):
            continue
        _bucket(rows, fill, clock, period).add(fill, realized, fee_quote)
    return [rows[key] for key in sorted(rows)]


def _bucket(
    rows: dict[str, PnlRow], fill: Fill, clock: TradingDayClock, period: Period | None
) -> PnlRow:
    if period is None:
        key, start = fill.symbol.pair_normalized, None
    else:
        start = period_start(clock.day_of(fill.ts_ms), period)
        key = period_key(start, period)
    row = rows.get(key)
    if row is None:
        row = rows[key] = PnlRow(key=key, start=start)
    return row


def series_downsample(items: Sequence[T], max_points: int) -> list[T]:
    """At most ``max_points`` (>= 2) items evenly spread over ``items``, first and last kept,
    in order; all of them when there are no more than ``max_points``. Raises ``ValueError``
    for ``max_points < 2``."""
    if max_points < 2:
        raise ValueError(f"max_points must be at least 2, got {max_points}")
    count = len(items)
    if count <= max_points:
        return list(items)
    last = count - 1
    return [items[(i * last) // (max_points - 1)] for i in range(max_points)]


class DayTotal(NamedTuple):
    """Realized PnL of one symbol (``BTC_TRY``) over one trading day, summed from its fills:
    money in quote, ``fills`` a count (the stored book's rows, :mod:`ledger.realized`)."""

    day: dt.date
    symbol: str
    realized_pnl: Decimal
    fees: Decimal
    fills: int
    buy_notional: Decimal
    sell_notional: Decimal


def pnl_rows_from_days(days: Iterable[DayTotal], period: Period | None) -> list[PnlRow]:
    """The rows :func:`pnl_fold` gives for the same fills, from per-day and symbol totals: per
    ``period`` (or per symbol when ``None``), oldest period (or symbol name) first."""
    rows: dict[str, PnlRow] = {}
    for total in days:
        if period is None:
            key, start = total.symbol, None
        else:
            start = period_start(total.day, period)
            key = period_key(start, period)
        row = rows.get(key)
        if row is None:
            row = rows[key] = PnlRow(key=key, start=start)
        row.realized_pnl += total.realized_pnl
        row.fees += total.fees
        row.fills += total.fills
        row.buy_notional += total.buy_notional
        row.sell_notional += total.sell_notional
    return [rows[key] for key in sorted(rows)]
