"""The simulated venue: acceptance, fill rules, fees, balances and locks.

Each test states one rule of trading/domain/venue.py's "Fill rules" with hand-computed numbers.
Rules used: BTC_TRY, tick 1 TRY, step 0.0001 BTC, min notional 100 TRY; maker 10 bps, taker
20 bps, so a taker fill of 1,000 TRY pays 2 TRY and a maker fill 1 TRY.
"""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.domain.fills import Liquidity
from trading.domain.market import Bar
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import AssetBalance, CancelAck, OrderReport, SubmitAck, TradeReport
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.venue import (
    FillModel,
    SimulatedVenue,
    UnknownOrder,
    VenueReject,
)

D = Decimal
BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")
RULES = ExchangeRules(
    symbol=BTC_TRY, tick_size=D("1"), step_size=D("0.0001"), min_notional=D("100")
)
MAKER = Liquidity.MAKER
TAKER = Liquidity.TAKER
_coids = itertools.count(1)


def make_venue(
    *,
    try_: str = "100000",
    btc: str = "10",
    rules: ExchangeRules = RULES,
    **kwargs: object,
) -> SimulatedVenue:
    options: dict[str, object] = {"fee_maker_bps": D("10"), "fee_taker_bps": D("20")}
    options.update(kwargs)
    return SimulatedVenue(
        rules={rules.symbol: rules}, balances={"TRY": D(try_), "BTC": D(btc)}, **options
    )


def limit(side: Side, price: str, quantity: str, *, coid: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid or f"c{next(_coids)}",
        symbol=BTC_TRY,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=D(quantity),
        price=D(price),
    )


def market_buy(quote: str, *, coid: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid or f"c{next(_coids)}",
        symbol=BTC_TRY,
        side=Side.BUY,
        order_type=OrderType.MARKET,
        quantity=D(0),
        quote_amount=D(quote),
    )


def market_sell(quantity: str, *, coid: str | None = None) -> OrderRequest:
    return OrderRequest(
        client_order_id=coid or f"c{next(_coids)}",
        symbol=BTC_TRY,
        side=Side.SELL,
        order_type=OrderType.MARKET,
        quantity=D(quantity),
    )


def bar(o: str, h: str, low: str, c: str, *, volume: str = "1000", ts: int = 60_000) -> Bar:
    return Bar(ts_ms=ts, open=D(o), high=D(h), low=D(low), close=D(c), volume=D(volume))


def balance(venue: SimulatedVenue, asset: str) -> tuple[Decimal, Decimal]:
    b = venue.balances()[asset]
    return b.free, b.locked


def submit(venue: SimulatedVenue, request: OrderRequest) -> str:
    ack = venue.submit_order(request, now_ms=0)
    assert isinstance(ack, SubmitAck), ack
    assert venue.get_order(ack.order_id).status is OrderStatus.OPEN
    return ack.order_id


def reject_code(venue: SimulatedVenue, order_id: str) -> str | None:
    """The reject code the venue recorded for ``order_id`` (kept in its persisted state)."""
    [order] = [o for o in venue.state().orders if o.order_id == order_id]
    return order.reject_code


# --- fill rules: FillModel.BAR ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "limit_price", "candle", "expected"),
    [
        # buy 1000: the low touches the limit -> maker at the limit
        (Side.BUY, "1000", bar("1010", "1020", "995", "1005"), ("1000", MAKER)),
        (Side.BUY, "1000", bar("1010", "1020", "1000", "1005"), ("1000", MAKER)),
        # the bar opens through the limit -> taker at the (better) open
        (Side.BUY, "1000", bar("990", "1000", "980", "985"), ("990", TAKER)),
        (Side.BUY, "1000", bar("1000", "1010", "990", "1005"), ("1000", TAKER)),
        # never trades at or below the limit -> rests
        (Side.BUY, "1000", bar("1010", "1020", "1001", "1005"), None),
        # sell symmetric
        (Side.SELL, "1000", bar("990", "1005", "980", "1000"), ("1000", MAKER)),
        (Side.SELL, "1000", bar("990", "1000", "980", "1000"), ("1000", MAKER)),
        (Side.SELL, "1000", bar("1010", "1020", "1001", "1005"), ("1010", TAKER)),
        (Side.SELL, "1000", bar("1000", "1000", "990", "995"), ("1000", TAKER)),
        (Side.SELL, "1000", bar("990", "999", "980", "985"), None),
    ],
)
def test_a_limit_order_fills_by_the_bar_rule(
    side: Side, limit_price: str, candle: Bar, expected: tuple[str, Liquidity] | None
) -> None:
    venue = make_venue()
    order_id = submit(venue, limit(side, limit_price, "0.5"))

    fills = venue.on_bar(BTC_TRY, candle)

    if expected is None:
        assert fills == []
        assert venue.get_order(order_id).status is OrderStatus.OPEN
        assert venue.has_open_orders(BTC_TRY)
    else:
        [fill] = fills
        assert (fill.price, fill.liquidity) == (D(expected[0]), expected[1])
        assert fill.quantity == D("0.5")
        assert fill.side is side
        assert isinstance(fill, TradeReport)
        assert fill.order_id == order_id
        assert venue.get_order(order_id).status is OrderStatus.FILLED
        assert venue.get_order(order_id).filled == D("0.5")
        assert venue.get_order(order_id).remaining == 0
        assert not venue.has_open_orders(BTC_TRY)


def test_a_resting_limit_order_fills_on_a_later_bar_that_reaches_it() -> None:
    venue = make_venue()
    order_id = submit(venue, limit(Side.BUY, "1000", "0.5"))

    assert venue.on_bar(BTC_TRY, bar("1050", "1060", "1040", "1045", ts=60_000)) == []
    assert venue.on_bar(BTC_TRY, bar("1045", "1050", "1020", "1030", ts=120_000)) == []
    [fill] = venue.on_bar(BTC_TRY, bar("1030", "1035", "999", "1001", ts=180_000))

    assert (fill.price, fill.liquidity, fill.ts_ms) == (D("1000"), MAKER, 180_000)
    assert venue.get_order(order_id).status is OrderStatus.FILLED


@pytest.mark.parametrize("fill_model", list(FillModel))
@pytest.mark.parametrize(
    ("request_", "expected_quantity"),
    [(market_buy("1000"), "0.4"), (market_sell("0.4"), "0.4")],
    ids=["market-buy", "market-sell"],
)
def test_a_market_order_fills_at_the_next_bar_open_as_taker(
    fill_model: FillModel, request_: OrderRequest, expected_quantity: str
) -> None:
    venue = make_venue(fill_model=fill_model)
    order_id = submit(venue, request_)

    [fill] = venue.on_bar(BTC_TRY, bar("2500", "2600", "2400", "2550"))

    assert (fill.price, fill.quantity, fill.liquidity) == (D("2500"), D(expected_quantity), TAKER)
    assert fill.fee == D("2")  # 1,000 TRY notional at 20 bps
    assert venue.get_order(order_id).status is OrderStatus.FILLED
    assert venue.get_order(order_id).price is None


# --- fill rules: FillModel.NEXT_OPEN ---------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "candle", "expected_price"),
    [
        (Side.BUY, bar("990", "1010", "980", "1000"), "990"),
        (Side.BUY, bar("1000", "1010", "980", "1000"), "1000"),
        (Side.BUY, bar("1010", "1020", "900", "950"), None),  # low touches: not enough here
        (Side.SELL, bar("1010", "1020", "990", "1000"), "1010"),
        (Side.SELL, bar("1000", "1010", "990", "1000"), "1000"),
        (Side.SELL, bar("990", "1100", "980", "1050"), None),
    ],
)
def test_next_open_fills_a_limit_at_the_open_or_expires_it(
    side: Side, candle: Bar, expected_price: str | None
) -> None:
    venue = make_venue(fill_model=FillModel.NEXT_OPEN)
    order_id = submit(venue, limit(side, "1000", "0.5"))

    fills = venue.on_bar(BTC_TRY, candle)

    order = venue.get_order(order_id)
    if expected_price is None:
        assert fills == []
        assert order.status is OrderStatus.CANCELED
    else:
        assert [(f.price, f.liquidity) for f in fills] == [(D(expected_price), TAKER)]
        assert order.status is OrderStatus.FILLED
    assert not venue.has_open_orders(BTC_TRY)
    assert venue.balances()["TRY"].locked == 0
    assert venue.balances()["BTC"].locked == 0


def test_next_open_expiry_releases_the_whole_lock() -> None:
    venue = make_venue(fill_model=FillModel.NEXT_OPEN)
    submit(venue, limit(Side.BUY, "1000", "2"))
    assert balance(venue, "TRY") == (D("97996"), D("2004"))

    venue.on_bar(BTC_TRY, bar("1010", "1020", "900", "950"))

    assert balance(venue, "TRY") == (D("100000"), D("0"))


# --- partial fills ---------------------------------------------------------------------------


def test_a_volume_share_splits_a_limit_order_across_bars() -> None:
    venue = make_venue(max_volume_share=D("0.1"))
    order_id = submit(venue, limit(Side.BUY, "1000", "5"))
    statuses = []
    quantities = []

    for volume in ("20", "20", "30"):
        fills = venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume=volume))
        quantities.append([f.quantity for f in fills])
        statuses.append(venue.get_order(order_id).status)

    assert quantities == [[D("2")], [D("2")], [D("1")]]
    assert statuses == [
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.PARTIALLY_FILLED,
        OrderStatus.FILLED,
    ]
    assert balance(venue, "BTC") == (D("15"), D("0"))
    assert balance(venue, "TRY") == (D("100000") - D("5000") - D("5"), D("0"))


def test_a_volume_share_below_one_step_fills_nothing_this_bar() -> None:
    venue = make_venue(max_volume_share=D("0.1"))
    order_id = submit(venue, limit(Side.SELL, "1000", "1"))

    assert venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume="0.0009")) == []
    assert venue.get_order(order_id).status is OrderStatus.OPEN
    [fill] = venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume="0.0123"))
    assert fill.quantity == D("0.0012")  # 0.00123 rounded down to the step


def test_the_volume_cap_is_shared_by_orders_in_submission_order() -> None:
    venue = make_venue(max_volume_share=D("0.1"))
    first = submit(venue, limit(Side.SELL, "1000", "3"))
    second = submit(venue, limit(Side.SELL, "1000", "3"))

    fills = venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume="40"))

    assert [(f.client_order_id, f.quantity) for f in fills] == [
        (venue.get_order(first).client_order_id, D("3")),
        (venue.get_order(second).client_order_id, D("1")),
    ]
    assert venue.get_order(second).status is OrderStatus.PARTIALLY_FILLED


def test_a_market_buy_spends_its_quote_amount_across_bars_at_each_open() -> None:
    venue = make_venue(max_volume_share=D("0.1"))
    order_id = submit(venue, market_buy("10000"))
    assert balance(venue, "TRY") == (D("89980"), D("10020"))  # 10,000 * (1 + 20 bps)
    bars = [
        bar("1000", "1100", "900", "1000", volume="20"),  # cap 2 -> 2 BTC, 2,000 TRY
        bar("1250", "1300", "1200", "1250", volume="20"),  # cap 2 -> 2 BTC, 2,500 TRY
        bar("500", "600", "400", "500", volume="100"),  # cap 10 of 11 -> 10 BTC, 5,000 TRY
        bar("3000", "3100", "2900", "3000", volume="100"),  # 500 TRY buys 0.1666 BTC
    ]

    fills = [f for b in bars for f in venue.on_bar(BTC_TRY, b)]

    assert [(f.price, f.quantity) for f in fills] == [
        (D("1000"), D("2")),
        (D("1250"), D("2")),
        (D("500"), D("10")),
        (D("3000"), D("0.1666")),
    ]
    spent = D("2000") + D("2500") + D("5000") + D("499.8")
    order = venue.get_order(order_id)
    assert order.status is OrderStatus.FILLED  # 0.2 TRY left cannot buy one step (0.3 TRY)
    assert sum(f.quantity for f in fills) == D("14.1666")
    # a market buy reports its size in quote, as BTCTurk does: 10,000 to spend, 0.2 left
    assert (order.quantity, order.remaining, order.filled) == (D("10000"), D("0.2"), spent)
    assert balance(venue, "TRY") == (D("100000") - spent * D("1.002"), D("0"))
    assert balance(venue, "BTC") == (D("24.1666"), D("0"))


def test_a_market_buy_too_small_for_one_step_completes_unfilled_and_releases_its_lock() -> None:
    tiny_rules = ExchangeRules(
        symbol=BTC_TRY, tick_size=D("1"), step_size=D("1"), min_notional=D("100")
    )
    venue = make_venue(rules=tiny_rules)
    order_id = submit(venue, market_buy("500"))

    assert venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000")) == []

    assert venue.get_order(order_id).status is OrderStatus.CANCELED
    assert balance(venue, "TRY") == (D("100000"), D("0"))


def test_a_market_buy_never_buys_a_step_that_division_rounding_makes_look_affordable() -> None:
    whole_units = ExchangeRules(
        symbol=BTC_TRY, tick_size=D("1"), step_size=D("1"), min_notional=D("1")
    )
    venue = make_venue(rules=whole_units, fee_maker_bps=D(0), fee_taker_bps=D(0))
    # 2.999...9 / 3 rounds to 1 at 28 digits, yet the quote cannot pay for 1 unit at 3
    order_id = submit(venue, market_buy("2.9999999999999999999999999999"))

    assert venue.on_bar(BTC_TRY, bar("3", "3", "3", "3")) == []
    assert venue.get_order(order_id).status is OrderStatus.CANCELED
    assert balance(venue, "TRY") == (D("100000"), D("0"))


def test_next_open_cancels_the_unfilled_rest_of_a_capped_limit_order() -> None:
    venue = make_venue(fill_model=FillModel.NEXT_OPEN, max_volume_share=D("0.1"))
    order_id = submit(venue, limit(Side.BUY, "1000", "5"))

    [fill] = venue.on_bar(BTC_TRY, bar("990", "1000", "980", "990", volume="20"))

    order = venue.get_order(order_id)
    assert (fill.price, fill.quantity) == (D("990"), D("2"))
    assert (order.status, order.filled) == (OrderStatus.CANCELED, D("2"))
    assert balance(venue, "TRY") == (D("100000") - D("1980") - D("3.96"), D("0"))


def test_next_open_keeps_filling_a_capped_market_order_at_later_opens() -> None:
    venue = make_venue(fill_model=FillModel.NEXT_OPEN, max_volume_share=D("0.1"))
    order_id = submit(venue, market_sell("3"))

    first = venue.on_bar(BTC_TRY, bar("1000", "1000", "900", "950", volume="20"))
    second = venue.on_bar(BTC_TRY, bar("950", "960", "900", "920", volume="20"))

    assert [(f.price, f.quantity) for f in first + second] == [
        (D("1000"), D("2")),
        (D("950"), D("1")),
    ]
    assert venue.get_order(order_id).status is OrderStatus.FILLED


# --- fees and balances -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "candle", "liquidity", "price", "fee"),
    [
        (Side.BUY, bar("1010", "1020", "995", "1000"), MAKER, "1000", "0.5"),  # 500 * 10 bps
        (Side.BUY, bar("990", "1000", "980", "990"), TAKER, "990", "0.99"),  # 495 * 20 bps
        (Side.SELL, bar("990", "1005", "980", "1000"), MAKER, "1000", "0.5"),
        (Side.SELL, bar("1010", "1020", "1001", "1010"), TAKER, "1010", "1.01"),
    ],
)
def test_fees_are_maker_or_taker_bps_of_the_notional_in_the_quote_asset(
    side: Side, candle: Bar, liquidity: Liquidity, price: str, fee: str
) -> None:
    venue = make_venue()
    submit(venue, limit(side, "1000", "0.5"))

    [fill] = venue.on_bar(BTC_TRY, candle)

    assert (fill.liquidity, fill.price, fill.fee, fill.fee_asset) == (
        liquidity,
        D(price),
        D(fee),
        "TRY",
    )
    sign = -1 if side is Side.BUY else 1
    expected_try = D("100000") + sign * D(price) * D("0.5") - D(fee)
    assert balance(venue, "TRY") == (expected_try, D("0"))


def test_balances_after_a_buy_then_a_sell_equal_the_hand_calculation() -> None:
    venue = make_venue(try_="100000", btc="0")
    submit(venue, limit(Side.BUY, "1000", "2"))
    assert balance(venue, "TRY") == (D("97996"), D("2004"))  # 2,000 * (1 + 20 bps)

    venue.on_bar(BTC_TRY, bar("1010", "1020", "995", "1000"))  # maker: 2,000 + 2 fee
    assert balance(venue, "TRY") == (D("97998"), D("0"))
    assert balance(venue, "BTC") == (D("2"), D("0"))

    submit(venue, limit(Side.SELL, "1100", "2"))
    assert balance(venue, "BTC") == (D("0"), D("2"))
    venue.on_bar(BTC_TRY, bar("1090", "1105", "1080", "1100"))  # maker: 2,200 - 2.2 fee

    assert balance(venue, "TRY") == (D("100195.8"), D("0"))
    assert balance(venue, "BTC") == (D("0"), D("0"))
    assert venue.balances()["TRY"] == AssetBalance("TRY", D("100195.8"), D("0"))
    assert venue.balances()["TRY"].total == D("100195.8")


def test_a_buy_filled_below_its_limit_releases_the_excess_lock() -> None:
    venue = make_venue()
    submit(venue, limit(Side.BUY, "1000", "2"))

    venue.on_bar(BTC_TRY, bar("990", "1000", "980", "990"))  # taker at 990

    assert balance(venue, "TRY") == (D("100000") - D("1980") - D("3.96"), D("0"))


@pytest.mark.parametrize(
    ("request_", "asset", "locked"),
    [
        (limit(Side.BUY, "1000", "2"), "TRY", "2004"),
        (market_buy("1000"), "TRY", "1002"),
        (limit(Side.SELL, "1000", "2"), "BTC", "2"),
        (market_sell("2"), "BTC", "2"),
    ],
    ids=["limit-buy", "market-buy", "limit-sell", "market-sell"],
)
def test_an_accepted_order_locks_its_worst_case_and_cancel_releases_it(
    request_: OrderRequest, asset: str, locked: str
) -> None:
    venue = make_venue()
    start = balance(venue, asset)
    order_id = submit(venue, request_)
    assert balance(venue, asset) == (start[0] - D(locked), D(locked))

    ack = venue.cancel_order(order_id, now_ms=1)

    assert ack == CancelAck(order_id)
    assert venue.get_order(order_id).status is OrderStatus.CANCELED
    assert venue.get_order(order_id).updated_ms == 1
    assert balance(venue, asset) == start
    assert not venue.has_open_orders(BTC_TRY)


def test_the_lock_uses_the_larger_fee_rate_when_maker_costs_more_than_taker() -> None:
    venue = make_venue(fee_maker_bps=D("30"), fee_taker_bps=D("10"))
    submit(venue, limit(Side.BUY, "1000", "1"))
    assert balance(venue, "TRY") == (D("98997"), D("1003"))

    [fill] = venue.on_bar(BTC_TRY, bar("1010", "1020", "995", "1000"))

    assert fill.fee == D("3")
    assert balance(venue, "TRY") == (D("98997"), D("0"))


def test_cancel_of_a_partially_filled_order_releases_only_the_rest() -> None:
    venue = make_venue(max_volume_share=D("0.1"))
    order_id = submit(venue, limit(Side.BUY, "1000", "5"))
    venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume="20"))  # 2 BTC, maker

    venue.cancel_order(order_id, now_ms=1)

    order = venue.get_order(order_id)
    assert (order.status, order.filled, order.remaining) == (OrderStatus.CANCELED, D("2"), D("3"))
    assert balance(venue, "TRY") == (D("100000") - D("2000") - D("2"), D("0"))
    assert balance(venue, "BTC") == (D("12"), D("0"))


# --- rejects ---------------------------------------------------------------------------------

BANDED = ExchangeRules(
    symbol=BTC_TRY,
    tick_size=D("1"),
    step_size=D("0.0001"),
    min_notional=D("100"),
    min_price=D("100"),
    max_price=D("10000"),
    order_methods=frozenset({"LIMIT"}),
)
HALTED = ExchangeRules(
    symbol=BTC_TRY, tick_size=D("1"), step_size=D("0.0001"), min_notional=D("100"), status="HALT"
)
NO_PRICE = OrderRequest("np", BTC_TRY, Side.BUY, OrderType.LIMIT, D("1"))
NO_QUOTE = OrderRequest("nq", BTC_TRY, Side.BUY, OrderType.MARKET, D("1"))
ZERO_QTY = OrderRequest("zq", BTC_TRY, Side.SELL, OrderType.LIMIT, D("0"), price=D("1000"))
OTHER_SYMBOL = OrderRequest("os", ETH_TRY, Side.BUY, OrderType.LIMIT, D("1"), price=D("1000"))


@pytest.mark.parametrize(
    ("rules", "request_", "code"),
    [
        (RULES, OTHER_SYMBOL, "UNKNOWN_SYMBOL"),
        (RULES, NO_PRICE, "INVALID_ORDER"),
        (RULES, NO_QUOTE, "INVALID_ORDER"),
        (RULES, ZERO_QTY, "INVALID_ORDER"),
        (HALTED, limit(Side.BUY, "1000", "1"), "SYMBOL_NOT_TRADING"),
        (BANDED, market_sell("1"), "ORDER_METHOD_NOT_SUPPORTED"),
        (RULES, limit(Side.BUY, "1000", "0.0999"), "MIN_NOTIONAL"),
        (RULES, market_buy("99.99"), "MIN_NOTIONAL"),
        (BANDED, limit(Side.SELL, "10001", "1"), "PRICE_ABOVE_BAND"),
        (BANDED, limit(Side.BUY, "99", "2"), "PRICE_BELOW_BAND"),
        (RULES, limit(Side.BUY, "1000.5", "1"), "INVALID_PRICE_SCALE"),
        (RULES, limit(Side.SELL, "1000", "0.12345"), "INVALID_QUANTITY_SCALE"),
        (RULES, market_sell("0.12345"), "INVALID_QUANTITY_SCALE"),
        (RULES, limit(Side.BUY, "1000", "100"), "INSUFFICIENT_BALANCE"),
        (RULES, market_buy("100000"), "INSUFFICIENT_BALANCE"),  # the fee does not fit
        (RULES, limit(Side.SELL, "1000", "10.0001"), "INSUFFICIENT_BALANCE"),
        # the first failing check wins: min notional before scale before balance
        (RULES, limit(Side.BUY, "10.5", "0.5"), "MIN_NOTIONAL"),
        (RULES, limit(Side.BUY, "1000.5", "1000"), "INVALID_PRICE_SCALE"),
        (HALTED, OrderRequest("x", BTC_TRY, Side.BUY, OrderType.LIMIT, D("1")), "INVALID_ORDER"),
    ],
)
def test_each_failed_check_rejects_with_its_code_and_is_recorded(
    rules: ExchangeRules, request_: OrderRequest, code: str
) -> None:
    venue = make_venue(rules=rules)
    before = venue.balances()

    ack = venue.submit_order(request_, now_ms=5)

    assert isinstance(ack, VenueReject)
    assert ack.code == code
    assert ack.detail
    assert ack.client_order_id == request_.client_order_id
    recorded = venue.get_order(ack.order_id)
    assert (recorded.status, reject_code(venue, ack.order_id), recorded.created_ms) == (
        OrderStatus.REJECTED,
        code,
        5,
    )
    assert venue.balances() == before
    assert venue.open_orders() == []


def test_a_buy_needs_free_balance_for_the_fee_too() -> None:
    venue = make_venue(try_="1000")

    rejected = venue.submit_order(limit(Side.BUY, "1000", "1"), now_ms=0)
    accepted = venue.submit_order(limit(Side.BUY, "998", "1"), now_ms=0)  # 998 * 1.002

    assert rejected.code == "INSUFFICIENT_BALANCE"
    assert isinstance(accepted, SubmitAck)
    assert venue.get_order(accepted.order_id).status is OrderStatus.OPEN
    assert balance(venue, "TRY") == (D("0.004"), D("999.996"))


def test_balance_locked_by_an_open_order_is_not_free_for_the_next() -> None:
    venue = make_venue(btc="1")
    submit(venue, limit(Side.SELL, "1000", "0.6"))

    ack = venue.submit_order(limit(Side.SELL, "1000", "0.6"), now_ms=0)

    assert ack.code == "INSUFFICIENT_BALANCE"
    assert "0.4" in ack.detail


def test_a_market_sell_is_checked_against_min_notional_at_the_last_close() -> None:
    venue = make_venue()
    early = venue.submit_order(market_sell("0.05"), now_ms=0)  # no price known yet: passes
    venue.cancel_order(early.order_id, now_ms=0)
    venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000"))

    small = venue.submit_order(market_sell("0.0999"), now_ms=1)
    enough = venue.submit_order(market_sell("0.1"), now_ms=1)

    assert isinstance(early, SubmitAck)
    assert small.code == "MIN_NOTIONAL"
    assert isinstance(enough, SubmitAck)
    assert venue.get_order(enough.order_id).status is OrderStatus.OPEN


def test_a_duplicate_client_order_id_is_rejected_even_after_the_first_order_closed() -> None:
    venue = make_venue()
    first = venue.submit_order(limit(Side.BUY, "1000", "1", coid="same"), now_ms=0)
    second = venue.submit_order(limit(Side.BUY, "1001", "1", coid="same"), now_ms=0)
    venue.cancel_order(first.order_id, now_ms=1)
    third = venue.submit_order(limit(Side.BUY, "1002", "1", coid="same"), now_ms=2)

    assert isinstance(first, SubmitAck)
    assert isinstance(second, VenueReject)
    assert (venue.get_order(second.order_id).status, second.code) == (
        OrderStatus.REJECTED,
        "DUPLICATE_CLIENT_ORDER_ID",
    )
    assert third.code == "DUPLICATE_CLIENT_ORDER_ID"
    assert "'same'" in second.detail


def test_a_rejected_order_does_not_reserve_its_client_order_id() -> None:
    venue = make_venue()
    rejected = venue.submit_order(limit(Side.BUY, "1000", "0.01", coid="retry"), now_ms=0)

    accepted = venue.submit_order(limit(Side.BUY, "1000", "1", coid="retry"), now_ms=1)

    assert rejected.code == "MIN_NOTIONAL"
    assert isinstance(accepted, SubmitAck)


# --- cancel, lookups, ids, cursor ------------------------------------------------------------


def test_cancel_of_an_unknown_order_is_refused_with_order_not_found() -> None:
    ack = make_venue().cancel_order("404", now_ms=0)

    assert isinstance(ack, VenueReject)
    assert (ack.code, ack.order_id) == ("ORDER_NOT_FOUND", "404")


@pytest.mark.parametrize("how", ["filled", "canceled", "rejected", "expired"])
def test_cancel_of_a_terminal_order_is_refused(how: str) -> None:
    venue = make_venue(fill_model=FillModel.NEXT_OPEN if how == "expired" else FillModel.BAR)
    price, quantity = ("1000", "0.01") if how == "rejected" else ("1000", "1")
    order_id = venue.submit_order(limit(Side.BUY, price, quantity), now_ms=0).order_id
    if how == "filled":
        venue.on_bar(BTC_TRY, bar("990", "1000", "980", "990"))
    elif how == "canceled":
        venue.cancel_order(order_id, now_ms=1)
    elif how == "expired":
        venue.on_bar(BTC_TRY, bar("1010", "1020", "900", "950"))
    status_before = venue.get_order(order_id).status
    balances_before = venue.balances()

    ack = venue.cancel_order(order_id, now_ms=2)

    assert isinstance(ack, VenueReject)
    assert ack.code == "ORDER_COULD_NOT_BE_CANCELED"
    assert venue.get_order(order_id).status is status_before
    assert venue.balances() == balances_before


def test_get_order_of_an_unknown_id_raises() -> None:
    with pytest.raises(UnknownOrder, match="'7'"):
        make_venue().get_order("7")


def test_open_orders_lists_resting_orders_oldest_first_per_symbol_or_all() -> None:
    eth_rules = ExchangeRules(
        symbol=ETH_TRY, tick_size=D("1"), step_size=D("0.001"), min_notional=D("100")
    )
    venue = SimulatedVenue(
        rules={BTC_TRY: RULES, ETH_TRY: eth_rules},
        balances={"TRY": D("100000")},
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
    )
    a = submit(venue, limit(Side.BUY, "1000", "1"))
    b = venue.submit_order(
        OrderRequest("e1", ETH_TRY, Side.BUY, OrderType.LIMIT, D("1"), price=D("500")), now_ms=0
    ).order_id
    c = submit(venue, limit(Side.BUY, "900", "1"))
    venue.cancel_order(a, now_ms=1)

    assert [o.order_id for o in venue.open_orders()] == [b, c]
    assert [o.order_id for o in venue.open_orders(BTC_TRY)] == [c]
    assert [o.order_id for o in venue.open_orders(ETH_TRY)] == [b]
    assert venue.has_open_orders(ETH_TRY)
    assert venue.balances()["TRY"].locked == D("500") * D("1.002") + D("900") * D("1.002")


def test_order_ids_count_up_and_trade_ids_carry_the_account() -> None:
    venue = make_venue(account="run42")
    ids = [submit(venue, limit(Side.SELL, "1000", "1")) for _ in range(3)]

    fills = venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000"))

    assert ids == ["1", "2", "3"]
    assert [f.trade_id for f in fills] == ["run42-t1", "run42-t2", "run42-t3"]


def test_fills_since_returns_only_fills_after_the_cursor() -> None:
    venue = make_venue()
    assert venue.fills_since(0) == ([], 0)
    submit(venue, limit(Side.SELL, "1000", "1"))
    submit(venue, limit(Side.SELL, "1000", "1"))
    first_bar = venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000"))

    fills, cursor = venue.fills_since(0)
    assert (fills, cursor) == (first_bar, 2)
    assert venue.fills_since(cursor) == ([], 2)

    submit(venue, limit(Side.SELL, "1000", "1"))
    second_bar = venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000", ts=120_000))
    assert venue.fills_since(cursor) == (second_bar, 3)
    assert venue.fills_since(0)[0] == first_bar + second_bar


@pytest.mark.parametrize("cursor", [-1, 1])
def test_fills_since_refuses_a_cursor_it_never_returned(cursor: int) -> None:
    with pytest.raises(ValueError, match="cursor"):
        make_venue().fills_since(cursor)


def test_a_bar_for_a_symbol_without_orders_fills_nothing() -> None:
    venue = make_venue()

    assert venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000")) == []
    assert venue.on_bar(ETH_TRY, bar("1000", "1000", "1000", "1000")) == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fee_maker_bps": D("-1")},
        {"fee_taker_bps": D("-0.5")},
        {"max_volume_share": D("0")},
        {"btc": "-1"},
    ],
)
def test_the_venue_refuses_negative_settings(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        make_venue(**kwargs)


# --- property: balances move exactly with fills ----------------------------------------------

prices = st.integers(min_value=800, max_value=1200).map(D)
quantities = st.integers(min_value=500, max_value=40_000).map(lambda n: D(n) * D("0.0001"))
submits = st.one_of(
    st.tuples(st.just("limit"), st.sampled_from(list(Side)), prices, quantities),
    st.tuples(st.just("market_buy"), st.integers(min_value=50, max_value=5000).map(D)),
    st.tuples(st.just("market_sell"), quantities),
)
bars = st.tuples(
    st.just("bar"),
    prices,
    prices,
    st.integers(min_value=0, max_value=100),
    st.integers(min_value=0, max_value=100),
    st.sampled_from(["0", "0.5", "3", "20", "1000"]).map(D),
)
cancels = st.tuples(st.just("cancel"), st.integers(min_value=1, max_value=30))
operations = st.lists(st.one_of(submits, bars, submits, bars, cancels), min_size=4, max_size=40)


def _prepare(op: tuple) -> tuple:
    """``op`` with its order request built once (client order ids come from a counter)."""
    kind = op[0]
    if kind == "limit":
        return ("submit", limit(op[1], str(op[2]), str(op[3])))
    if kind == "market_buy":
        return ("submit", market_buy(str(op[1])))
    if kind == "market_sell":
        return ("submit", market_sell(str(op[1])))
    return op


def _apply(venue: SimulatedVenue, op: tuple, step: int) -> object:
    """Apply one operation; returns the venue's answer (ack, reject or fills)."""
    op = _prepare(op)
    kind = op[0]
    if kind == "submit":
        return venue.submit_order(op[1], now_ms=step)
    if kind == "cancel":
        return venue.cancel_order(str(op[1]), now_ms=step)
    _, o, c, up, down, volume = op
    candle = Bar(step, o, max(o, c) + up, max(min(o, c) - down, D(1)), c, volume)
    return venue.on_bar(BTC_TRY, candle)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    ops=operations,
    fill_model=st.sampled_from(list(FillModel)),
    share=st.sampled_from([None, D("0.1"), D("0.5")]),
)
def test_balances_never_go_negative_and_move_exactly_with_fills(
    ops: list[tuple], fill_model: FillModel, share: Decimal | None
) -> None:
    venue = make_venue(try_="20000", btc="5", fill_model=fill_model, max_volume_share=share)

    for step, op in enumerate(ops):
        _apply(venue, op, step)
        for b in venue.balances().values():
            assert b.free >= 0, b
            assert b.locked >= 0, b

    fills, _ = venue.fills_since(0)
    buys = [f for f in fills if f.side is Side.BUY]
    sells = [f for f in fills if f.side is Side.SELL]
    expected_try = (
        D("20000")
        - sum((f.notional + f.fee for f in buys), D(0))
        + sum((f.notional - f.fee for f in sells), D(0))
    )
    expected_btc = (
        D("5") + sum((f.quantity for f in buys), D(0)) - sum((f.quantity for f in sells), D(0))
    )
    assert venue.balances()["TRY"].total == expected_try
    assert venue.balances()["BTC"].total == expected_btc
    if not venue.has_open_orders(BTC_TRY):
        assert venue.balances()["TRY"].locked == 0
        assert venue.balances()["BTC"].locked == 0
    for order in venue.open_orders():
        assert isinstance(order, OrderReport)
        assert order.filled < order.quantity or order.order_type is OrderType.MARKET


def test_orders_since_lists_every_submitted_order_once_with_a_cursor() -> None:
    venue = make_venue()
    accepted = venue.submit_order(limit(Side.BUY, "1000", "1", coid="a"), now_ms=1)
    rejected = venue.submit_order(limit(Side.BUY, "1000", "0.01", coid="b"), now_ms=2)

    first, cursor = venue.orders_since(0)
    venue.submit_order(limit(Side.BUY, "1000", "1", coid="c"), now_ms=3)
    later, end = venue.orders_since(cursor)

    assert [(o.order_id, o.status) for o in first] == [
        (accepted.order_id, OrderStatus.OPEN),
        (rejected.order_id, OrderStatus.REJECTED),
    ]
    assert [o.client_order_id for o in later] == ["c"] and end == 3
    with pytest.raises(ValueError, match="cursor 4"):
        venue.orders_since(4)


# --- property: a venue restored from its state continues exactly -----------------------------

SETTINGS = {"fee_maker_bps": D("10"), "fee_taker_bps": D("20"), "account": "paper-1"}


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    ops=operations,
    split=st.integers(min_value=0, max_value=40),
    fill_model=st.sampled_from(list(FillModel)),
    share=st.sampled_from([None, D("0.1"), D("0.5")]),
)
def test_a_venue_restored_from_its_state_behaves_like_one_never_snapshotted(
    ops: list[tuple], split: int, fill_model: FillModel, share: Decimal | None
) -> None:
    options = {**SETTINGS, "fill_model": fill_model, "max_volume_share": share}
    original = SimulatedVenue(
        rules={BTC_TRY: RULES}, balances={"TRY": D("20000"), "BTC": D("5")}, **options
    )
    split = min(split, len(ops))
    for step, op in enumerate(ops[:split]):
        _apply(original, op, step)

    saved = original.state()
    restored = SimulatedVenue.from_state(saved, rules={BTC_TRY: RULES}, **options)

    assert restored.state() == saved
    for step, op in enumerate(ops[split:], start=split):
        prepared = _prepare(op)  # the same request (client order id) goes to both venues
        assert _apply(restored, prepared, step) == _apply(original, prepared, step)
        assert restored.balances() == original.balances()
        assert restored.open_orders() == original.open_orders()
    assert restored.fills_since(0) == original.fills_since(0)
    assert restored.orders_since(0) == original.orders_since(0)
    assert restored.state() == original.state()


def test_the_state_holds_locks_fills_ids_and_prices() -> None:
    venue = make_venue(max_volume_share=D("0.1"), account="p")
    resting = submit(venue, limit(Side.BUY, "1000", "5", coid="rest"))
    venue.submit_order(limit(Side.BUY, "1000", "0.01", coid="tiny"), now_ms=3)  # rejected
    [fill] = venue.on_bar(BTC_TRY, bar("1010", "1020", "990", "1000", volume="20", ts=60_000))

    state = venue.state()

    assert state.next_order_id == 3
    assert state.used_client_order_ids == frozenset({"rest"})
    assert state.fills == (fill,)
    assert state.last_prices == {BTC_TRY: D("1000")}
    assert state.balances["TRY"] == AssetBalance("TRY", D("94990"), D("3008"))
    first, second = state.orders
    assert (first.order_id, first.status, first.filled, first.lock) == (
        resting,
        OrderStatus.PARTIALLY_FILLED,
        D("2"),
        D("3008"),  # 5,010 locked at 20 bps, minus 2,000 + 2 maker fee paid
    )
    assert (first.created_ms, first.updated_ms) == (0, 60_000)
    assert (second.status, second.reject_code, second.lock) == (
        OrderStatus.REJECTED,
        "MIN_NOTIONAL",
        D("0"),
    )


def test_a_restored_venue_continues_the_order_and_trade_numbering() -> None:
    venue = make_venue(account="p")
    submit(venue, limit(Side.SELL, "1000", "1"))
    venue.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000"))

    restored = SimulatedVenue.from_state(
        venue.state(),
        rules={BTC_TRY: RULES},
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
        account="p",
    )
    order_id = submit(restored, limit(Side.SELL, "1000", "1"))
    [fill] = restored.on_bar(BTC_TRY, bar("1000", "1000", "1000", "1000", ts=120_000))

    assert (order_id, fill.trade_id) == ("2", "p-t2")
    assert restored.fills_since(0)[1] == 2
