"""Taker walks over book levels (trading.domain.taker) and the venue's take_liquidity."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import AssetBalance
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import parse_symbol
from trading.domain.taker import Walk, walk_levels
from trading.domain.venue import SimulatedVenue

D = Decimal
STEP = D("0.01")
ASKS = ((D(100), D("0.5")), (D(101), D("0.005")), (D(102), D("1")))
BIDS = ((D(99), D("0.5")), (D(98), D("1")))


@pytest.mark.parametrize(
    ("kwargs", "walk"),
    [
        # a buy by base quantity; the 101 level holds less than one step and is skipped
        ({"side": Side.BUY, "levels": ASKS, "base_left": D("0.7")},
         Walk(((D(100), D("0.5")), (D(102), D("0.2"))), True)),
        # a limit buy stops below its limit
        ({"side": Side.BUY, "levels": ASKS, "base_left": D(2), "limit": D(101)},
         Walk(((D(100), D("0.5")),), False)),
        # a limit sell stops above its limit
        ({"side": Side.SELL, "levels": BIDS, "base_left": D(2), "limit": D(99)},
         Walk(((D(99), D("0.5")),), False)),
        # the book runs out
        ({"side": Side.SELL, "levels": BIDS, "base_left": D(2)},
         Walk(((D(99), D("0.5")), (D(98), D(1))), False)),
        # a market buy by quote amount: 60 buys 0.5 at 100 and 0.09 at 102 (9.18), 0.82 left
        ({"side": Side.BUY, "levels": ASKS, "quote_left": D(60)},
         Walk(((D(100), D("0.5")), (D(102), D("0.09"))), True)),
        # less than one step's worth at the best price: complete, nothing filled
        ({"side": Side.BUY, "levels": ASKS, "quote_left": D("0.99")}, Walk((), True)),
        # more quote than the book holds
        ({"side": Side.BUY, "levels": ASKS[:1], "quote_left": D(100)},
         Walk(((D(100), D("0.5")),), False)),
    ],
)  # fmt: skip
def test_walk_levels(kwargs: dict, walk: Walk) -> None:
    assert walk_levels(step=STEP, **kwargs) == walk


def test_walk_levels_needs_exactly_one_remaining_amount() -> None:
    with pytest.raises(ValueError):
        walk_levels(side=Side.BUY, levels=ASKS, step=STEP)
    with pytest.raises(ValueError):
        walk_levels(side=Side.BUY, levels=ASKS, step=STEP, base_left=D(1), quote_left=D(1))


BTC_TRY = parse_symbol("BTC_TRY")


def venue() -> SimulatedVenue:
    rules = ExchangeRules(
        symbol=BTC_TRY,
        tick_size=D(1),
        step_size=STEP,
        min_notional=D(10),
        min_price=D(1),
        max_price=D(100_000),
    )
    return SimulatedVenue(
        rules={BTC_TRY: rules},
        balances={"TRY": D(1000), "BTC": D(1)},
        fee_maker_bps=D(5),
        fee_taker_bps=D(10),
    )


def test_take_liquidity_fills_a_limit_as_taker_and_leaves_the_rest_resting() -> None:
    v = venue()
    request = OrderRequest("b1", BTC_TRY, Side.BUY, OrderType.LIMIT, D(1), price=D(101))
    order_id = v.submit_order(request, now_ms=5).order_id

    [fill] = v.take_liquidity(order_id, ASKS, ts_ms=7)

    assert (fill.price, fill.quantity, fill.fee, fill.ts_ms) == (D(100), D("0.5"), D("0.05"), 7)
    assert fill.liquidity == "taker"
    report = v.get_order(order_id)
    assert (report.status, report.remaining) == (OrderStatus.PARTIALLY_FILLED, D("0.5"))
    # locked 101 * 1 * 1.001 = 101.101, minus 50 + 0.05 for the fill
    assert v.balance("TRY").locked == D("51.051")
    assert v.balance("BTC").free == D("1.5")


def test_take_liquidity_cancels_what_a_market_order_could_not_take() -> None:
    v = venue()
    request = OrderRequest("s1", BTC_TRY, Side.SELL, OrderType.MARKET, D("0.8"))
    order_id = v.submit_order(request, now_ms=5).order_id

    fills = v.take_liquidity(order_id, BIDS[:1], ts_ms=5)

    assert [(f.price, f.quantity) for f in fills] == [(D(99), D("0.5"))]
    assert v.get_order(order_id).status is OrderStatus.CANCELED
    assert v.balance("BTC") == AssetBalance("BTC", D("0.5"), D(0))
    assert v.balance("TRY").free == D(1000) + D("49.5") - D("0.0495")
    assert not v.has_open_orders(BTC_TRY)
