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
from django.db.models import ExpressionWrapper, F, IntegerField, QuerySet, Subquery, Window
from django.db.models.expressions import Combinable
from django.db.models.functions import RowNumber

from ledger.domain.reports import (
    Period,
    PnlRow,
    PricedFill,
    pnl_fold,
    pnl_rows_from_days,
)
from ledger.models import EquitySnapshot, LedgerFill
from ledger.realized import FILL_COLUMNS, priced_fills, realized_pnl_book, realized_pnl_days
from trading.domain.decimals import decimal_trim


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

    Equal, Decimal for Decimal, to folding every fill of the account
    (:func:`~ledger.domain.reports.pnl_fold`): read from the realized PnL book
    (:mod:`ledger.realized`, which first books the fills recorded since the last report),
    or by that fold where the book cannot answer exactly (SQLite)."""
    return _pnl_rows(account, period, since, until)


def pnl_by_symbol(
    *, account: str, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[PnlRow]:
    """As :func:`pnl_by_period`, one row per symbol (``key``), by symbol name."""
    return _pnl_rows(account, None, since, until)


def pnl_by_fold(
    *,
    account: str,
    period: Period | None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> list[PnlRow]:
    """The reports' reference: every fill of the account folded in Python (reads them all;
    what :func:`pnl_by_period` and :func:`pnl_by_symbol` equal)."""
    return pnl_fold(
        _priced_fills(account),
        tz=trading_time_zone(),
        period=period,
        since_ms=_ms(since),
        until_ms=_ms(until),
    )


def _pnl_rows(
    account: str, period: Period | None, since: dt.datetime | None, until: dt.datetime | None
) -> list[PnlRow]:
    realized_pnl_book(account=account, time_zone=trading_time_zone())
    days = realized_pnl_days(account=account, since=since, until=until)
    if days is None:
        return pnl_by_fold(account=account, period=period, since=since, until=until)
    return pnl_rows_from_days(days, period)


def equity_curve(
    *,
    account: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    points: int | None = None,
) -> tuple[int, list[EquityPoint]]:
    """``(snapshots in range, points)``: the account's equity snapshots in ``[since, until)``,
    oldest first, evenly downsampled to at most ``points`` (>= 2; first and last kept) when
    given (:func:`equity_rows`). Raises ``ValueError`` for ``points < 2``."""
    total, rows = equity_rows(account=account, since=since, until=until, points=points)
    series = [
        EquityPoint(ts, decimal_trim(equity), decimal_trim(cash), decimal_trim(drawdown))
        for ts, equity, cash, drawdown in rows.values_list("ts", "equity", "cash", "drawdown_pct")
    ]
    return total, series


def equity_rows(
    *,
    account: str,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    points: int | None = None,
) -> tuple[int, QuerySet[EquitySnapshot]]:
    """``(snapshots in range, rows)``: the snapshots :func:`equity_curve` returns, oldest
    first, as a queryset. Downsampled rows are the ones
    :func:`~ledger.domain.reports.series_downsample` keeps, picked in SQL by their row number
    (``ROW_NUMBER() OVER (ORDER BY ts)``) so only they leave the database. One ``COUNT`` and
    one query. Raises ``ValueError`` for ``points < 2``."""
    if points is not None and points < 2:
        raise ValueError(f"max_points must be at least 2, got {points}")
    rows = EquitySnapshot.objects.filter(account=account)
    if since is not None:
        rows = rows.filter(ts__gte=since)
    if until is not None:
        rows = rows.filter(ts__lt=until)
    total = rows.count()
    if points is not None and total > points:
        picked = (
            rows.annotate(rn=Window(RowNumber(), order_by=F("ts").asc()))
            .annotate(miss=_downsample_miss(F("rn") - 1, last=total - 1, points=points))
            .filter(miss=0)
            .values("id")
        )
        # the picked rows by id: what the caller selects or computes runs for them only
        rows = EquitySnapshot.objects.filter(id__in=Subquery(picked))
    return total, rows.order_by("ts")


def _downsample_miss(index: Combinable, *, last: int, points: int) -> ExpressionWrapper:
    """Zero exactly for the 0-based row ``index`` :func:`series_downsample` keeps, which are
    ``floor(i * last / (points - 1))`` for ``i`` in ``0..points-1``: the first ``i`` reaching
    ``index`` is ``ceil(index * (points - 1) / last)``, and the row is kept when that ``i``
    lands on it. Integer arithmetic in SQL (``/`` truncates integers on PostgreSQL and
    SQLite); ``last >= points - 1``."""
    first = (index * (points - 1) + (last - 1)) / last
    return ExpressionWrapper(first * last / (points - 1) - index, output_field=IntegerField())


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MS = dt.timedelta(milliseconds=1)


def _ms(moment: dt.datetime | None) -> int | None:
    """Epoch milliseconds of an aware ``moment``, exactly (no float rounding)."""
    return None if moment is None else (moment - _EPOCH) // _MS


def _priced_fills(account: str) -> Iterator[PricedFill]:
    rows = LedgerFill.objects.filter(account=account).order_by("id").values_list(*FILL_COLUMNS)
    for _, priced in priced_fills(rows.iterator(chunk_size=5000)):
        yield priced
