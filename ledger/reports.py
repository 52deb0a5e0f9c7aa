"""Ledger report reads (selectors): realized PnL by trading period and by symbol, and the
equity curve, for the reports API and the console.

Money in the quote asset (TRY) as Decimal, times UTC. The trading day is local to
``TRADING_DAY_TIME_ZONE`` (``Europe/Istanbul``); the folds are :mod:`ledger.domain.reports`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings

from ledger.domain.fills import Fill, Liquidity
from ledger.domain.reports import Period, PnlRow, PricedFill, pnl_fold, series_downsample
from ledger.models import EquitySnapshot, LedgerFill
from trading.domain.decimals import decimal_trim
from trading.domain.orders import Side
from trading.domain.symbols import parse_symbol


class EquityPoint(NamedTuple):
    """One equity snapshot: ``ts`` UTC; ``equity``/``cash`` quote; ``drawdown_pct`` 0..100."""

    ts: dt.datetime
    equity: Decimal
    cash: Decimal
    drawdown_pct: Decimal


def trading_time_zone() -> ZoneInfo:
    """The zone whose local midnight starts a trading day (``TRADING_DAY_TIME_ZONE``)."""
    return ZoneInfo(settings.TRADING_DAY_TIME_ZONE)


def pnl_by_period(
    *,
    account: str,
    period: Period,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[PnlRow]:
    """Realized PnL, fees, fill count and traded notional of ``account`` per trading day,
    ISO week or month, oldest first; only periods with fills in ``[since, until)`` appear.
    Reads every fill of the account once (positions need their whole history)."""
    return pnl_fold(
        _priced_fills(account),
        tz=trading_time_zone(),
        period=period,
        since_ms=_ms(since),
        until_ms=_ms(until),
    )


def pnl_by_symbol(
    *, account: str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[PnlRow]:
    """As :func:`pnl_by_period`, one row per symbol (``key``), by symbol name."""
    return pnl_fold(
        _priced_fills(account),
        tz=trading_time_zone(),
        period=None,
        since_ms=_ms(since),
        until_ms=_ms(until),
    )


def equity_curve(
    *,
    account: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    points: int | None = None,
) -> tuple[int, list[EquityPoint]]:
    """``(snapshots in range, points)``: the account's equity snapshots in ``[since, until)``,
    oldest first, evenly downsampled to at most ``points`` (>= 2; first and last kept) when
    given. Raises ``ValueError`` for ``points < 2``."""
    rows = EquitySnapshot.objects.filter(account=account).order_by("ts")
    if since is not None:
        rows = rows.filter(ts__gte=since)
    if until is not None:
        rows = rows.filter(ts__lt=until)
    series = [
        EquityPoint(ts, decimal_trim(equity), decimal_trim(cash), decimal_trim(drawdown))
        for ts, equity, cash, drawdown in rows.values_list("ts", "equity", "cash", "drawdown_pct")
    ]
    total = len(series)
    return total, series if points is None else series_downsample(series, points)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _ms(moment: dt.datetime | None) -> int | None:
    """Epoch milliseconds of an aware ``moment``, exactly (no float rounding)."""
    return None if moment is None else (moment - _EPOCH) // _MS


def _priced_fills(account: str) -> Iterator[PricedFill]:
    rows = (
        LedgerFill.objects.filter(account=account)
        .order_by("id")
        .values_list(
            "trade_id",
            "client_order_id",
            "symbol",
            "side",
            "price",
            "quantity",
            "fee",
            "fee_asset",
            "fee_quote",
            "ts",
            "liquidity",
        )  # fmt: skip
    )
    symbols: dict[str, object] = {}
    for trade_id, coid, symbol, side, price, qty, fee, asset, fee_quote, ts, liq in rows.iterator(
        chunk_size=5000
    ):
        parsed = symbols.get(symbol) or symbols.setdefault(symbol, parse_symbol(symbol))
        fill = Fill(
            trade_id=trade_id,
            client_order_id=coid,
            symbol=parsed,  # type: ignore[arg-type]
            side=Side(side),
            price=decimal_trim(price),
            quantity=decimal_trim(qty),
            fee=decimal_trim(fee),
            fee_asset=asset,
            ts_ms=_ms(ts),
            liquidity=Liquidity(liq),
        )
        yield PricedFill(fill, decimal_trim(fee_quote))
