"""The shared cycle edges: venue reports become ledger fills and planner inputs.

A TRY account with 10,000 TRY free (2,000 more locked in an open buy) and 0.5 BTC; one new
trade sold 0.1 BTC at 1,000,000 TRY paying 18 TRY fee and 3.6 TRY VAT on it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal

import pytest

from ledger.domain.fills import Fill, Liquidity
from ledger.domain.portfolio import Portfolio
from trading.domain.cycle import CycleSetup, VenueSnapshot, cycle_inputs_build, fill_from_trade
from trading.domain.intents import Intent, PricePolicy
from trading.domain.market import BarWindow, MarketSnapshot
from trading.domain.orders import OrderStatus, OrderType, Side
from trading.domain.planner import CycleInputs, plan_cycle
from trading.domain.reports import AssetBalance, OrderReport, TradeReport
from trading.domain.risk import Mode, RiskLimits, RiskState
from trading.domain.rules import ExchangeRules
from trading.domain.strategies.base import StrategyContext
from trading.domain.symbols import Symbol
from trading.domain.universe import UniverseLimits

D = Decimal
BTC = Symbol("BTC", "TRY")
NOW = 1_704_880_800_000
DAY = dt.date(2024, 1, 10)


def trade(
    trade_id: str = "t1", *, liquidity: str | None = None, tax: str = "3.6", coid: str = "c1"
) -> TradeReport:
    return TradeReport(
        trade_id=trade_id,
        order_id="42",
        client_order_id=coid,
        symbol=BTC,
        side=Side.SELL,
        price=D("1000000"),
        quantity=D("0.1"),
        fee=D("18"),
        tax=D(tax),
        fee_asset="TRY",
        ts_ms=NOW - 60_000,
        liquidity=liquidity,
    )


OPEN_BUY = OrderReport(
    order_id="43",
    client_order_id="c2",
    symbol=BTC,
    side=Side.BUY,
    order_type=OrderType.LIMIT,
    status=OrderStatus.OPEN,
    price=D("990000"),
    quantity=D("0.002"),
    remaining=D("0.002"),
    created_ms=NOW - 120_000,
    updated_ms=NOW - 120_000,
)
BALANCES = {
    "BTC": AssetBalance("BTC", D("0.5"), D("0")),
    "TRY": AssetBalance("TRY", D("10000"), D("2000")),
}


class Buyer:
    """Wants to buy 100 TRY of every symbol every cycle (a strategy stub)."""

    name = "buyer"
    params: dict[str, object] = {}

    def warmup_bars(self) -> int:
        return 1

    def evaluate(self, ctx: StrategyContext) -> Intent | None:
        return Intent("buyer", ctx.symbol, Side.BUY, PricePolicy.MARKET, "entry", notional=D(100))


SETUP = CycleSetup(
    account="paper-1",
    strategies=(Buyer(),),
    limits=RiskLimits(),
    fee_maker_bps=D("10"),
    fee_taker_bps=D("20"),
)


def market() -> dict[Symbol, MarketSnapshot]:
    closes = [1_000_000.0] * 3
    ts = [NOW - (3 - i) * 60_000 for i in range(3)]
    bars = BarWindow(ts, closes, closes, closes, closes, [1.0] * 3, 3, 60_000)
    return {BTC: MarketSnapshot(BTC, bars, D("1000000"), 0)}


def build(venue: VenueSnapshot, **flags: object) -> CycleInputs:
    return cycle_inputs_build(
        now_ms=NOW,
        setup=SETUP,
        venue=venue,
        market=market(),
        rules={BTC: ExchangeRules(BTC, D("1"), D("0.0001"), D("100"))},
        portfolio=Portfolio("TRY", D("12000"), {}),
        risk_state=RiskState(),
        trading_day=DAY,
        **flags,
    )


# --- fill_from_trade -------------------------------------------------------------------------


def test_a_trade_becomes_a_ledger_fill_charging_fee_plus_tax() -> None:
    fill = fill_from_trade(trade(liquidity="maker"))

    assert fill == Fill(
        trade_id="t1",
        client_order_id="c1",
        symbol=BTC,
        side=Side.SELL,
        price=D("1000000"),
        quantity=D("0.1"),
        fee=D("21.6"),
        fee_asset="TRY",
        ts_ms=NOW - 60_000,
        liquidity=Liquidity.MAKER,
    )


@pytest.mark.parametrize(
    ("liquidity", "expected"),
    [("maker", Liquidity.MAKER), ("taker", Liquidity.TAKER), (None, Liquidity.TAKER)],
)
def test_liquidity_is_kept_and_an_unknown_side_counts_as_taker(
    liquidity: str | None, expected: Liquidity
) -> None:
    assert fill_from_trade(trade(liquidity=liquidity)).liquidity is expected


def test_a_trade_without_tax_keeps_its_fee_exactly() -> None:
    fee = D("0.1234500000")  # trailing zeros survive: the backtest fingerprint hashes str(fee)

    fill = fill_from_trade(replace(trade(tax="0"), fee=fee))

    assert str(fill.fee) == "0.1234500000"


# --- cycle_inputs_build ----------------------------------------------------------------------


def test_available_cash_is_the_free_balance_of_the_portfolio_quote_asset() -> None:
    inputs = build(VenueSnapshot(BALANCES, (), ()))

    assert inputs.available_cash == D("10000")  # not the 2,000 locked, not the BTC


def test_a_venue_without_the_quote_asset_leaves_no_cash() -> None:
    inputs = build(VenueSnapshot({"BTC": BALANCES["BTC"]}, (), ()))

    assert inputs.available_cash == 0


def test_new_trades_become_fills_in_order_and_open_orders_pass_through() -> None:
    trades = (trade("t1", liquidity="maker"), trade("t2"))

    inputs = build(VenueSnapshot(BALANCES, (OPEN_BUY,), trades))

    assert list(inputs.fills) == [fill_from_trade(t) for t in trades]
    assert list(inputs.open_orders) == [OPEN_BUY]


def test_the_setup_and_the_flags_reach_the_inputs() -> None:
    inputs = build(
        VenueSnapshot(BALANCES, (), ()),
        known_client_order_ids=frozenset({"c1"}),
        kill_switch=True,
        unknown_orders=2,
        stop_entries=True,
    )

    assert (inputs.now_ms, inputs.account, inputs.trading_day) == (NOW, "paper-1", DAY)
    assert (inputs.limits, inputs.strategies) == (SETUP.limits, SETUP.strategies)
    assert (inputs.fee_maker_bps, inputs.fee_taker_bps) == (D("10"), D("20"))
    assert inputs.universe_limits == UniverseLimits()
    assert inputs.known_client_order_ids == frozenset({"c1"})
    assert (inputs.kill_switch, inputs.unknown_orders, inputs.stop_entries) == (True, 2, True)


def test_stop_entries_turns_a_buy_into_a_denial_and_cancels_open_buys() -> None:
    venue = VenueSnapshot(BALANCES, (OPEN_BUY,), ())

    normal = plan_cycle(build(venue))
    stopped = plan_cycle(build(venue, stop_entries=True))

    assert normal.mode is Mode.NORMAL
    assert (stopped.mode, stopped.mode_reasons) == (Mode.REDUCE_RISK_ONLY, ("STOP_ENTRIES",))
    assert stopped.orders == ()
    assert [d.code for d in stopped.denials] == ["MODE_REDUCE_RISK_ONLY"]
    assert [(c.order, c.reason) for c in stopped.cancels] == [(OPEN_BUY, "MODE_REDUCE_RISK_ONLY")]


def test_a_reconciled_fill_of_an_unknown_order_is_reported() -> None:
    inputs = build(
        VenueSnapshot(BALANCES, (), (replace(trade(coid="stranger"), side=Side.BUY),)),
        known_client_order_ids=frozenset({"c1"}),
    )

    assert [d.code for d in plan_cycle(inputs).denials][:1] == ["UNMATCHED_FILL"]
