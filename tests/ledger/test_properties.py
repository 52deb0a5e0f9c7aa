"""Property tests for the ledger maths (deterministic: derandomized, no example database)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.drawdown import TradingDayClock, drawdown_update, trading_day
from ledger.domain.entries import balances_from_entries, ledger_entries_for_fill
from ledger.domain.fills import Fill
from ledger.domain.portfolio import (
    Portfolio,
    portfolio_apply_fill,
    portfolio_equity,
    portfolio_unrealized_pnl,
)
from ledger.domain.positions import LedgerIntegrityError, fill_fee_in_quote, position_apply_fill
from trading.domain.orders import Side
from trading.domain.symbols import Symbol

D = Decimal
SYMBOLS = (Symbol("BTC", "TRY"), Symbol("ETH", "TRY"))
OPENING_CASH = D("1000000000")
BNB_RATE = D("412.37")
QTY = D("1e-8")
PROPERTY = settings(max_examples=200, derandomize=True, deadline=None, database=None)

prices = st.integers(1, 10**8).map(lambda cents: D(cents).scaleb(-2))  # 0.01 .. 1,000,000
quantities = st.integers(1, 10**10).map(lambda units: D(units).scaleb(-8))  # 1e-8 .. 100
fee_bps = st.integers(0, 100)
fee_modes = st.sampled_from(("TRY", "BASE", "BNB"))


@dataclass(frozen=True, slots=True)
class Step:
    symbol: int
    buy: bool
    price: Decimal
    quantity: Decimal
    fraction: int  # percent of the holding a sell takes
    bps: int
    fee_mode: str


steps = st.builds(
    Step,
    symbol=st.integers(0, 1),
    buy=st.booleans(),
    price=prices,
    quantity=quantities,
    fraction=st.one_of(st.just(100), st.integers(1, 99)),
    bps=fee_bps,
    fee_mode=fee_modes,
)


def bps_of(amount: Decimal, bps: int, exponent: Decimal) -> Decimal:
    return (amount * bps / 10_000).quantize(exponent, rounding=ROUND_DOWN)


def fills_from(steps_: list[Step], fee_modes_: tuple[str, ...]) -> list[Fill]:
    """Turn steps into fills that never oversell: a sell takes a fraction of what is held."""
    held = dict.fromkeys(SYMBOLS, D(0))
    fills = []
    for index, step in enumerate(steps_):
        symbol = SYMBOLS[step.symbol]
        mode = step.fee_mode if step.fee_mode in fee_modes_ else fee_modes_[0]
        if step.buy:
            quantity = step.quantity
            base_fee = bps_of(quantity, step.bps, QTY)
            held[symbol] += quantity - (base_fee if mode == "BASE" else 0)
        else:
            leaving = (held[symbol] * step.fraction / 100).quantize(QTY, rounding=ROUND_DOWN)
            base_fee = bps_of(leaving, step.bps, QTY)
            quantity = leaving - base_fee if mode == "BASE" else leaving
            if quantity <= 0:
                continue
            held[symbol] -= leaving
        fee, asset = {
            "TRY": (bps_of(step.price * quantity, step.bps, D("0.01")), "TRY"),
            "BASE": (base_fee, symbol.base),
            "BNB": (bps_of(quantity, step.bps, QTY), "BNB"),
        }[mode]
        side = Side.BUY if step.buy else Side.SELL
        fills.append(Fill(f"t{index}", "c", symbol, side, step.price, quantity, fee, asset, index))
    return fills


def replay(fills: list[Fill]) -> tuple[Portfolio, list[Portfolio]]:
    portfolio = Portfolio(quote_asset="TRY", cash=OPENING_CASH)
    history = []
    for fill in fills:
        portfolio = portfolio_apply_fill(portfolio, fill, rates={"BNB": BNB_RATE})
        history.append(portfolio)
    return portfolio, history


def by_hand(fills: list[Fill]) -> tuple[Decimal, dict[Symbol, Decimal]]:
    """Cash and quantities computed directly from the fills, without the ledger code."""
    cash, quantities = OPENING_CASH, dict.fromkeys(SYMBOLS, D(0))
    for fill in fills:
        sign = 1 if fill.side is Side.BUY else -1
        cash -= sign * fill.price * fill.quantity
        quantities[fill.symbol] += sign * fill.quantity
        if fill.fee_asset == "TRY":
            cash -= fill.fee
        elif fill.fee_asset == "BNB":
            cash -= fill.fee * BNB_RATE
        else:
            quantities[fill.symbol] -= fill.fee
    return cash, quantities


marks = st.fixed_dictionaries({symbol: prices for symbol in SYMBOLS})
sequences = st.lists(steps, max_size=30)
ALL_FEES = ("TRY", "BASE", "BNB")


@PROPERTY
@given(sequences, marks)
def test_equity_is_cash_plus_quantity_times_mark_exactly(
    steps_: list[Step], marks_: dict[Symbol, Decimal]
) -> None:
    fills = fills_from(steps_, ALL_FEES)
    portfolio, _ = replay(fills)
    cash, quantities = by_hand(fills)
    assert portfolio.cash == cash
    assert {s: p.quantity for s, p in portfolio.positions.items()} == {
        s: q for s, q in quantities.items() if s in portfolio.positions
    }
    expected = cash + sum((quantities[s] * marks_[s] for s in SYMBOLS), D(0))
    assert portfolio_equity(portfolio, marks_) == expected


@PROPERTY
@given(sequences, marks)
def test_equity_is_opening_cash_plus_realized_plus_unrealized_pnl_exactly(
    steps_: list[Step], marks_: dict[Symbol, Decimal]
) -> None:
    portfolio, _ = replay(fills_from(steps_, ALL_FEES))
    pnl = portfolio.realized_pnl + portfolio_unrealized_pnl(portfolio, marks_)
    assert portfolio_equity(portfolio, marks_) == OPENING_CASH + pnl


@PROPERTY
@given(sequences)
def test_no_position_ever_goes_negative(steps_: list[Step]) -> None:
    _, history = replay(fills_from(steps_, ALL_FEES))
    for portfolio in history:
        for position in portfolio.positions.values():
            assert position.quantity >= 0
            assert position.average_cost >= 0
            assert position.is_flat == (position.average_cost == 0)


@PROPERTY
@given(sequences, st.sampled_from((("TRY",), ("BASE",), ("TRY", "BASE"))))
def test_entry_balances_match_portfolio_cash_and_quantities(
    steps_: list[Step], fee_modes_: tuple[str, ...]
) -> None:
    fills = fills_from(steps_, fee_modes_)
    portfolio, _ = replay(fills)
    entries = [entry for fill in fills for entry in ledger_entries_for_fill(fill)]
    balances = balances_from_entries(entries, {"TRY": OPENING_CASH})
    assert balances["TRY"] == portfolio.cash
    for symbol, position in portfolio.positions.items():
        assert balances[symbol.base] == position.quantity


@PROPERTY
@given(prices, prices, quantities, fee_bps, fee_bps, st.sampled_from(("TRY", "BNB")))
def test_a_buy_then_sell_round_trip_realizes_exactly_the_hand_calculation(
    p_buy: Decimal, p_sell: Decimal, q: Decimal, bps_buy: int, bps_sell: int, fee_asset: str
) -> None:
    symbol = SYMBOLS[0]
    fee_buy, fee_sell = bps_of(p_buy * q, bps_buy, QTY), bps_of(p_sell * q, bps_sell, QTY)
    buy = Fill("b", "c", symbol, Side.BUY, p_buy, q, fee_buy, fee_asset, 1)
    sell = Fill("s", "c", symbol, Side.SELL, p_sell, q, fee_sell, fee_asset, 2)
    rates = {"BNB": BNB_RATE}
    position = position_apply_fill(None, buy, fee_in_quote=fill_fee_in_quote(buy, rates=rates))
    position = position_apply_fill(
        position, sell, fee_in_quote=fill_fee_in_quote(sell, rates=rates)
    )
    rate = BNB_RATE if fee_asset == "BNB" else D(1)
    assert position.realized_pnl == q * (p_sell - p_buy) - fee_buy * rate - fee_sell * rate
    assert position.quantity == 0


@PROPERTY
@given(sequences, st.integers(1, 10**6))
def test_selling_a_hair_more_than_held_always_raises(steps_: list[Step], extra: int) -> None:
    fills = fills_from(steps_, ("TRY",))
    portfolio, _ = replay(fills)
    symbol = SYMBOLS[0]
    held = portfolio.positions[symbol].quantity if symbol in portfolio.positions else D(0)
    oversell = Fill("x", "c", symbol, Side.SELL, D(1), held + D(extra) * QTY, D(0), "TRY", 0)
    with pytest.raises(LedgerIntegrityError, match="oversell"):
        portfolio_apply_fill(portfolio, oversell)


@PROPERTY
@given(st.lists(st.integers(-(10**6), 10**9).map(lambda c: D(c).scaleb(-2)), min_size=1))
def test_drawdown_tracks_the_running_peak_and_its_worst_fall(equities: list[Decimal]) -> None:
    state = None
    worst = D(0)
    for index, equity in enumerate(equities):
        state = drawdown_update(state, equity)
        peak = max(equities[: index + 1])
        assert state.peak == peak
        assert 0 <= state.drawdown_pct <= 100
        worst = max(worst, state.drawdown_pct)
        assert state.max_drawdown_pct == worst
        if equity == peak:
            assert state.drawdown_pct == 0


ZONES = st.sampled_from(("Europe/Istanbul", "Europe/London", "America/Havana", "UTC"))
TIMESTAMPS = st.integers(
    int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp() * 1000),
    int(dt.datetime(2040, 1, 1, tzinfo=dt.UTC).timestamp() * 1000),
)


@PROPERTY
@given(ZONES, st.lists(TIMESTAMPS, max_size=50), st.booleans())
def test_the_trading_day_clock_agrees_with_trading_day_in_any_order(
    zone: str, stamps: list[int], ordered: bool
) -> None:
    tz = ZoneInfo(zone)
    clock = TradingDayClock(tz)
    for ts in sorted(stamps) if ordered else stamps:
        assert clock.day_of(ts) == trading_day(ts, tz)
