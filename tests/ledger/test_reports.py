"""Pure report folds: realized PnL by trading period, and even downsampling."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from ledger.domain.reports import (
    Period,
    PricedFill,
    period_key,
    period_start,
    pnl_fold,
    series_downsample,
)
from tests.ledger.factories import make_fill
from trading.domain.orders import Side

ISTANBUL = ZoneInfo("Europe/Istanbul")


def _ms(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()) * 1000


@pytest.mark.parametrize(
    ("count", "points", "expected"),
    [
        (5, 10, [0, 1, 2, 3, 4]),
        (10, 2, [0, 9]),
        (10, 4, [0, 3, 6, 9]),
        (1001, 500, None),
    ],
)
def test_downsampling_keeps_first_and_last_evenly(count, points, expected) -> None:
    out = series_downsample(list(range(count)), points)

    assert len(out) == min(count, points)
    assert (out[0], out[-1]) == (0, count - 1)
    assert out == sorted(set(out))
    if expected is not None:
        assert out == expected


def test_downsampling_needs_two_points() -> None:
    with pytest.raises(ValueError):
        series_downsample([1, 2, 3], 1)


@pytest.mark.parametrize(
    ("day", "period", "start", "key"),
    [
        (dt.date(2024, 1, 11), Period.DAY, dt.date(2024, 1, 11), "2024-01-11"),
        (dt.date(2024, 1, 14), Period.WEEK, dt.date(2024, 1, 8), "2024-W02"),
        (dt.date(2024, 12, 31), Period.WEEK, dt.date(2024, 12, 30), "2025-W01"),
        (dt.date(2024, 2, 29), Period.MONTH, dt.date(2024, 2, 1), "2024-02"),
    ],
)
def test_periods_start_on_their_first_trading_day(day, period, start, key) -> None:
    assert period_start(day, period) == start
    assert period_key(start, period) == key


def test_realized_pnl_counts_on_the_istanbul_day_of_the_closing_fill() -> None:
    fills = [
        PricedFill(make_fill(Side.BUY, "100", "2", "1", trade_id="b", ts_ms=_ms("2024-03-01T20:59:59")), Decimal(1)),
        PricedFill(make_fill(Side.SELL, "110", "2", "1", trade_id="s", ts_ms=_ms("2024-03-01T21:00:00")), Decimal(1)),
    ]  # fmt: skip

    rows = pnl_fold(fills, tz=ISTANBUL, period=Period.DAY)

    # buy at 23:59:59 local on the 1st, sell at 00:00 local on the 2nd: 220 - 1 - 201
    assert [(r.key, r.realized_pnl, r.fees, r.fills) for r in rows] == [
        ("2024-03-01", Decimal(0), Decimal(1), 1),
        ("2024-03-02", Decimal(18), Decimal(1), 1),
    ]
    by_symbol = pnl_fold(fills, tz=ISTANBUL, period=None, since_ms=_ms("2024-03-01T21:00:00"))
    assert [(r.key, r.realized_pnl, r.sell_notional) for r in by_symbol] == [
        ("BTC_TRY", Decimal(18), Decimal(220))
    ]
