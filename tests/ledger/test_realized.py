"""The realized PnL book answers every PnL report exactly as folding every fill does.

Histories are recorded through ``fill_record`` with several symbols, partial and full closes,
fees in the quote, base and a third asset, and fills on both sides of the Istanbul midnight
(21:00 UTC) over weeks and a month end. On PostgreSQL the reports then come from the book
(``realized_pnl_days`` answers); elsewhere they fold the fills, and the equality is trivial.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from ledger.domain.fills import Liquidity
from ledger.domain.reports import Period
from ledger.models import LedgerFill, Position, RealizedPnlBook, RealizedPnlDay
from ledger.realized import book_supported, realized_pnl_book, realized_pnl_days
from ledger.reports import pnl_by_fold, pnl_by_period, pnl_by_symbol, trading_time_zone
from ledger.services import fill_record
from tests.ledger.factories import BTC_TRY, ETH_TRY, make_fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

pytestmark = pytest.mark.django_db

AVAX_TRY = Symbol("AVAX", "TRY")
USDT_TRY = Symbol("USDT", "TRY")
PRICES = {BTC_TRY: 2_400_000, ETH_TRY: 120_000, AVAX_TRY: 1_300, USDT_TRY: 34}
RATES = {"BNB": Decimal("21345.67")}
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
# Monday 2024-01-29 18:00 UTC (21:00 Istanbul): three hours before a trading day starts
START = dt.datetime(2024, 1, 29, 18, 0, tzinfo=dt.UTC)
PERIODS = (Period.DAY, Period.WEEK, Period.MONTH, None)


def _ms(moment: dt.datetime) -> int:
    return (moment - EPOCH) // dt.timedelta(milliseconds=1)


def _at(**delta: float) -> dt.datetime:
    return START + dt.timedelta(**delta)


def _fee(rng: random.Random, price: Decimal, quantity: Decimal) -> tuple[str, str]:
    kind = rng.choice(("quote", "quote", "base", "bnb", "none"))
    if kind == "quote":
        return str((price * quantity * Decimal("0.0015")).quantize(Decimal("0.00000001"))), "TRY"
    if kind == "base":
        return str((quantity * Decimal("0.001")).quantize(Decimal("0.00000001"))), "BASE"
    if kind == "bnb":
        return "0.00031", "BNB"
    return "0", "TRY"


def _record(account: str, rng: random.Random, count: int, *, first: int = 0) -> None:
    """``count`` fills from ``rng``: buys, and partial or full sells of what is held, about one
    every 53 minutes from :data:`START` (fill ``first`` onwards), plus fills a millisecond
    either side of the next Istanbul midnights."""
    for n in range(first, first + count):
        symbol = rng.choice(list(PRICES))
        held = _held(account, symbol)
        price = (Decimal(PRICES[symbol]) * Decimal(rng.randint(9_000, 11_000)) / 10_000).quantize(
            Decimal("0.01")
        )
        if held > 0 and rng.random() < 0.45:
            side = Side.SELL
            share = rng.choice((Decimal(1), Decimal("0.5"), Decimal("0.3"), Decimal("0.77")))
            quantity = (held * share).quantize(Decimal("0.00000001"))
        else:
            side = Side.BUY
            quantity = Decimal(rng.randint(1, 10**6)).scaleb(-rng.choice((4, 6, 8)))
        fee, asset = _fee(rng, price, quantity)
        if asset == "BASE":
            asset = symbol.base
            if side is Side.SELL:
                quantity -= Decimal(fee)  # the fee leaves the position too
        if quantity <= 0:
            continue
        if n % 7 == 3:  # on either side of a local midnight (21:00 UTC)
            moment = _at(days=n // 24) + dt.timedelta(hours=3, milliseconds=rng.choice((-1, 0)))
        else:
            moment = _at(minutes=53 * n + rng.randint(0, 52), milliseconds=rng.randint(0, 999))
        fill = make_fill(
            side,
            str(price),
            str(quantity),
            fee,
            asset,
            trade_id=f"{account}-{n}",
            symbol=symbol,
            ts_ms=_ms(moment),
            liquidity=rng.choice(list(Liquidity)),
        )
        fill_record(account=account, fill=fill, rates=RATES)


def _held(account: str, symbol: Symbol) -> Decimal:
    row = Position.objects.filter(account=account, symbol=symbol.pair_normalized).first()
    return Decimal(0) if row is None else row.quantity


def _ranges() -> list[tuple[dt.datetime | None, dt.datetime | None]]:
    midnight = _at(hours=3)  # 2024-01-30 00:00 Istanbul
    return [
        (None, None),
        (midnight, midnight + dt.timedelta(days=2)),  # whole trading days
        (midnight + dt.timedelta(hours=5, minutes=7), midnight + dt.timedelta(days=3, hours=1)),
        (_at(days=1, minutes=1), None),
        (None, _at(days=4, hours=2, minutes=59, seconds=59)),
        (midnight - dt.timedelta(milliseconds=1), midnight + dt.timedelta(milliseconds=1)),
        (_at(days=2, hours=9), _at(days=2, hours=11)),  # inside one day
        # most of one day: its row minus the fills outside the range
        (midnight + dt.timedelta(days=1, minutes=30), midnight + dt.timedelta(days=2, minutes=-30)),
        (_at(days=400), None),  # no fills
    ]


def _assert_book_equals_fold(account: str) -> None:
    for since, until in _ranges():
        for period in PERIODS:
            if period is None:
                got = pnl_by_symbol(account=account, since=since, until=until)
            else:
                got = pnl_by_period(account=account, period=period, since=since, until=until)
            expected = pnl_by_fold(account=account, period=period, since=since, until=until)
            assert got == expected, (period, since, until)
        answered = realized_pnl_days(account=account, since=since, until=until)
        assert (answered is not None) == book_supported()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_reports_from_the_book_equal_the_fold_of_every_fill(seed) -> None:
    _record("alpha", random.Random(seed), 150)

    _assert_book_equals_fold("alpha")


def test_a_history_crossing_a_month_and_weeks_has_rows_in_each() -> None:
    _record("alpha", random.Random(5), 200)

    months = pnl_by_period(account="alpha", period=Period.MONTH)
    weeks = pnl_by_period(account="alpha", period=Period.WEEK)
    assert [row.key for row in months] == ["2024-01", "2024-02"]
    assert len(weeks) >= 2
    assert sum(row.fills for row in months) == LedgerFill.objects.filter(account="alpha").count()


def test_fills_recorded_after_a_report_are_booked_by_the_next_one() -> None:
    rng = random.Random(6)
    _record("alpha", rng, 80)
    pnl_by_period(account="alpha", period=Period.DAY)
    _record("alpha", rng, 80, first=80)

    booked = realized_pnl_book(account="alpha", time_zone=trading_time_zone())

    assert booked == (
        LedgerFill.objects.filter(account="alpha").count() - 80 if book_supported() else 0
    )
    _assert_book_equals_fold("alpha")


def test_a_fill_committed_behind_a_booked_one_rebooks_its_symbol() -> None:
    _record("alpha", random.Random(7), 120)
    pnl_by_period(account="alpha", period=Period.DAY)
    early = LedgerFill.objects.filter(account="alpha").order_by("id")[5]
    # as if it committed only now, after later fills of its symbol were booked
    LedgerFill.objects.filter(pk=early.pk).update(realized_pnl=None, trading_day=None)

    _assert_book_equals_fold("alpha")
    if book_supported():
        fills = LedgerFill.objects.filter(account="alpha")
        assert not fills.filter(realized_pnl__isnull=True).exists()
        days = RealizedPnlDay.objects.filter(account="alpha")
        assert sum(days.values_list("fills", flat=True)) == fills.count()


def test_a_new_trading_day_time_zone_rebooks_the_account(settings) -> None:
    _record("alpha", random.Random(8), 100)
    pnl_by_period(account="alpha", period=Period.DAY)

    settings.TRADING_DAY_TIME_ZONE = "America/New_York"

    _assert_book_equals_fold("alpha")
    if book_supported():
        assert RealizedPnlBook.objects.get(account="alpha").time_zone == "America/New_York"


def test_accounts_are_booked_apart() -> None:
    _record("alpha", random.Random(9), 60)
    _record("beta", random.Random(10), 60)

    _assert_book_equals_fold("alpha")
    _assert_book_equals_fold("beta")


def test_values_the_fold_rounds_make_the_report_fold_again() -> None:
    # a notional of 36 significant digits: the fold's 28-digit product is not the exact one
    buy = make_fill(Side.BUY, "123456789.123456789", "0.123456789123456789", trade_id="b")
    sell = make_fill(Side.SELL, "123456790.5", "0.1", trade_id="s", ts_ms=buy.ts_ms + 86_400_000)
    fill_record(account="alpha", fill=buy)
    fill_record(account="alpha", fill=sell)

    for period in PERIODS:
        assert pnl_by_period(account="alpha", period=period or Period.DAY) == pnl_by_fold(
            account="alpha", period=period or Period.DAY
        )
    assert pnl_by_symbol(account="alpha") == pnl_by_fold(account="alpha", period=None)
    assert realized_pnl_days(account="alpha", since=None, until=None) is None
    if book_supported():
        assert RealizedPnlBook.objects.get(account="alpha").exact is False


def test_an_account_without_fills_has_no_rows() -> None:
    assert pnl_by_period(account="nobody", period=Period.DAY) == []
    assert pnl_by_symbol(account="nobody") == []
