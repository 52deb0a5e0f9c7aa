"""The ExchangeClient adapter over the simulated venue: reports, balances, fills and errors.

Rules: BTC_TRY, tick 1 TRY, step 0.0001 BTC, min notional 100 TRY; maker 10 bps, taker
20 bps. A limit buy of 0.01 BTC at 1,000,000 TRY costs 10,000 TRY and locks 10,020 TRY (the
worst-case 20 bps fee); filled as maker it pays 10 TRY fee.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from trading.domain.market import Bar
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import (
    AssetBalance,
    BookLevel,
    CancelAck,
    OrderBook,
    SubmitAck,
    Ticker,
    TradeReport,
)
from trading.domain.rules import ExchangeRules, RulesBook
from trading.domain.symbols import Symbol
from trading.domain.venue import RejectCode, SimulatedVenue
from trading.exchange.base import ExchangeClient, NotSupported
from trading.exchange.errors import (
    ORDER_ERROR_CODES,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
)
from trading.exchange.simulated import VENUE_REJECT_TO_BTCTURK, SimulatedExchange

D = Decimal
BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")
RULES = ExchangeRules(
    symbol=BTC_TRY, tick_size=D("1"), step_size=D("0.0001"), min_notional=D("100")
)
_coids = itertools.count(1)


class Clock:
    def __init__(self, now_ms: int = 1_700_000_000_000) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def make_exchange(
    rules: ExchangeRules = RULES, *, try_: str = "100000"
) -> tuple[SimulatedExchange, Clock]:
    venue = SimulatedVenue(
        rules={rules.symbol: rules},
        balances={"TRY": D(try_), "BTC": D("10")},
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
    )
    clock = Clock()
    return SimulatedExchange(venue, rules={rules.symbol: rules}, clock=clock), clock


def limit(side: Side, price: str, quantity: str) -> OrderRequest:
    return OrderRequest(
        client_order_id=f"c{next(_coids)}",
        symbol=BTC_TRY,
        side=side,
        order_type=OrderType.LIMIT,
        quantity=D(quantity),
        price=D(price),
    )


def bar(ts_ms: int, open_: str, high: str, low: str, close: str) -> Bar:
    return Bar(ts_ms, D(open_), D(high), D(low), D(close), D("5"))


def test_it_is_an_exchange_client() -> None:
    exchange, _ = make_exchange()

    assert isinstance(exchange, ExchangeClient)


def test_a_limit_buy_is_acknowledged_open_and_locks_its_cost_plus_the_worst_fee() -> None:
    exchange, clock = make_exchange()
    request = limit(Side.BUY, "1000000", "0.01")

    ack = exchange.submit_order(request)

    assert ack == SubmitAck(
        order_id="1",
        client_order_id=request.client_order_id,
        symbol=BTC_TRY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        price=D("1000000"),
        quantity=D("0.01"),
        ts_ms=clock.now_ms,
    )
    [report] = exchange.open_orders(BTC_TRY)
    assert (report.order_id, report.client_order_id) == ("1", request.client_order_id)
    assert (report.status, report.quantity, report.remaining) == (
        OrderStatus.OPEN,
        D("0.01"),
        D("0.01"),
    )
    assert (report.created_ms, report.updated_ms) == (clock.now_ms, clock.now_ms)
    assert exchange.balances()["TRY"] == AssetBalance("TRY", D("89980"), D("10020"))


def test_a_bar_trading_through_the_limit_fills_it_and_the_fill_is_a_user_trade() -> None:
    exchange, clock = make_exchange()
    request = limit(Side.BUY, "1000000", "0.01")
    exchange.submit_order(request)
    clock.now_ms += 60_000

    fills = exchange.observe_bar(BTC_TRY, bar(clock.now_ms, "1010000", "1020000", "990000", "1e6"))

    expected = TradeReport(
        trade_id="sim-t1",
        order_id="1",
        client_order_id=request.client_order_id,
        symbol=BTC_TRY,
        side=Side.BUY,
        price=D("1000000"),
        quantity=D("0.01"),
        fee=D("10"),
        tax=D("0"),
        fee_asset="TRY",
        ts_ms=clock.now_ms,
        liquidity="maker",
    )
    assert fills == (expected,)
    assert exchange.user_trades(since_ms=0) == (expected,)
    filled = exchange.order("1")
    assert (filled.status, filled.remaining, filled.filled) == (OrderStatus.FILLED, 0, D("0.01"))
    assert filled.updated_ms == clock.now_ms
    assert exchange.open_orders() == ()
    balances = exchange.balances()
    assert balances["TRY"] == AssetBalance("TRY", D("89990"), D("0"))
    assert balances["BTC"] == AssetBalance("BTC", D("10.01"), D("0"))


def test_user_trades_start_at_the_cursor_and_keep_to_the_symbol() -> None:
    exchange, clock = make_exchange()
    exchange.submit_order(limit(Side.BUY, "1000000", "0.01"))
    bar_ms = clock.now_ms + 60_000
    exchange.observe_bar(BTC_TRY, bar(bar_ms, "1000000", "1000000", "1000000", "1000000"))

    assert len(exchange.user_trades(since_ms=bar_ms, symbol=BTC_TRY)) == 1
    assert exchange.user_trades(since_ms=bar_ms + 1) == ()
    assert exchange.user_trades(since_ms=0, symbol=ETH_TRY) == ()


def test_an_order_below_min_notional_is_rejected_with_code_1123_and_leaves_nothing() -> None:
    exchange, _ = make_exchange()

    with pytest.raises(OrderRejected, match="FAILED_MIN_TOTAL_AMOUNT") as caught:
        exchange.submit_order(limit(Side.BUY, "100000", "0.0001"))  # 10 TRY

    assert caught.value.code == 1123
    assert caught.value.reason == "MIN_NOTIONAL"
    assert caught.value.endpoint == "POST /api/v1/order"
    assert exchange.open_orders() == ()
    assert exchange.all_orders(BTC_TRY) == ()
    assert exchange.balances()["TRY"] == AssetBalance("TRY", D("100000"), D("0"))
    with pytest.raises(OrderNotFound):
        exchange.order("1")  # the venue numbered the rejected order; BTCTurk gives it no id


@pytest.mark.parametrize(
    ("rules", "request_", "code"),
    [
        (RULES, limit(Side.BUY, "1000000.5", "0.01"), 1126),
        (RULES, limit(Side.BUY, "1000000", "0.01005"), 1127),
        (replace(RULES, max_price=D("2000000")), limit(Side.SELL, "2000001", "0.01"), 1226),
        (replace(RULES, min_price=D("500000")), limit(Side.BUY, "499999", "0.01"), 1227),
        (RULES, limit(Side.BUY, "1000000", "0.2"), 1122),  # 200,400 TRY needed
        (
            replace(RULES, order_methods=frozenset({"LIMIT"})),
            OrderRequest("m1", BTC_TRY, Side.SELL, OrderType.MARKET, D("0.01")),
            1134,
        ),
    ],
)
def test_venue_rejects_carry_btcturks_numeric_codes(
    rules: ExchangeRules, request_: OrderRequest, code: int
) -> None:
    exchange, _ = make_exchange(rules)

    with pytest.raises(OrderRejected) as caught:
        exchange.submit_order(request_)

    assert caught.value.code == code
    assert ORDER_ERROR_CODES[code] in caught.value.message


def test_cancel_releases_the_lock_and_a_second_cancel_is_rejected() -> None:
    exchange, clock = make_exchange()
    exchange.submit_order(limit(Side.BUY, "1000000", "0.01"))
    clock.now_ms += 5_000

    assert exchange.cancel_order("1") == CancelAck(order_id="1")

    canceled = exchange.order("1")
    assert (canceled.status, canceled.updated_ms) == (OrderStatus.CANCELED, clock.now_ms)
    assert exchange.balances()["TRY"] == AssetBalance("TRY", D("100000"), D("0"))
    with pytest.raises(OrderRejected, match="ORDER_COULD_NOT_BE_CANCELED") as caught:
        exchange.cancel_order("1")
    assert caught.value.endpoint == "DELETE /api/v1/order"
    assert caught.value.reason == "ORDER_COULD_NOT_BE_CANCELED"


def test_an_unknown_order_id_is_not_found() -> None:
    exchange, _ = make_exchange()

    with pytest.raises(OrderNotFound) as on_get:
        exchange.order("99")
    with pytest.raises(OrderNotFound, match="NO_ORDER_MATCHES_YOUR_REQUEST"):
        exchange.cancel_order("99")
    assert on_get.value.code == 1152


def test_all_orders_lists_accepted_orders_of_the_symbol_created_in_the_window() -> None:
    exchange, clock = make_exchange()
    first_ms = clock.now_ms
    exchange.submit_order(limit(Side.BUY, "1000000", "0.01"))
    exchange.cancel_order("1")
    with pytest.raises(OrderRejected):
        exchange.submit_order(limit(Side.BUY, "1", "0.01"))  # order "2", rejected
    clock.now_ms += 1_000
    exchange.submit_order(limit(Side.SELL, "1100000", "0.01"))

    def ids(**window: int) -> list[str]:
        return [o.order_id for o in exchange.all_orders(BTC_TRY, **window)]

    assert ids() == ["1", "3"]
    assert [o.status for o in exchange.all_orders(BTC_TRY)] == [
        OrderStatus.CANCELED,
        OrderStatus.OPEN,
    ]
    assert ids(start_ms=first_ms + 1) == ["3"]
    assert ids(end_ms=first_ms) == ["1"]
    assert exchange.all_orders(ETH_TRY) == ()


def test_a_market_buy_is_sized_in_quote_and_reports_what_is_left_to_spend() -> None:
    exchange, clock = make_exchange()
    request = OrderRequest(
        "mb1", BTC_TRY, Side.BUY, OrderType.MARKET, D("0"), quote_amount=D("10000")
    )

    ack = exchange.submit_order(request)
    opened = exchange.order(ack.order_id)
    exchange.observe_bar(BTC_TRY, bar(clock.now_ms + 60_000, "1e6", "1e6", "1e6", "1e6"))
    done = exchange.order(ack.order_id)

    assert (ack.quantity, ack.price) == (D("10000"), None)
    assert (opened.quantity, opened.remaining, opened.price) == (D("10000"), D("10000"), None)
    assert (done.status, done.remaining) == (OrderStatus.FILLED, D("0"))
    assert exchange.balances()["BTC"].free == D("10.01")


def test_tickers_and_books_are_what_the_caller_observed() -> None:
    exchange, clock = make_exchange()
    book = OrderBook(
        BTC_TRY,
        clock.now_ms,
        bids=(BookLevel(D("999000"), D("1")), BookLevel(D("998000"), D("2"))),
        asks=(BookLevel(D("1001000"), D("1")), BookLevel(D("1002000"), D("2"))),
    )
    assert exchange.tickers() == ()

    exchange.observe_book(book)
    clock.now_ms += 1_000
    exchange.observe_bar(BTC_TRY, bar(clock.now_ms - 60_000, "1e6", "1e6", "1e6", "1000500"))

    assert exchange.tickers() == (
        Ticker(BTC_TRY, clock.now_ms, D("1000500"), D("999000"), D("1001000")),
    )
    assert exchange.tickers([ETH_TRY]) == ()
    assert exchange.order_book(BTC_TRY, depth=1).asks == (BookLevel(D("1001000"), D("1")),)
    assert exchange.order_book(BTC_TRY).bids == book.bids


def test_a_symbol_without_an_observed_book_has_an_empty_one() -> None:
    exchange, clock = make_exchange()

    book = exchange.order_book(BTC_TRY)

    assert (book.bids, book.asks, book.ts_ms) == ((), (), clock.now_ms)


def test_an_unlisted_symbol_is_refused() -> None:
    exchange, _ = make_exchange()

    with pytest.raises(NonRetryableError, match="ETH_TRY"):
        exchange.order_book(ETH_TRY)


def test_an_observed_ticker_prices_the_min_notional_of_a_market_sell() -> None:
    exchange, clock = make_exchange()
    exchange.observe_ticker(Ticker(BTC_TRY, clock.now_ms, D("500000"), None, None))
    small_sell = OrderRequest("ms1", BTC_TRY, Side.SELL, OrderType.MARKET, D("0.0001"))

    with pytest.raises(OrderRejected) as caught:
        exchange.submit_order(small_sell)  # 0.0001 BTC x 500,000 = 50 TRY < 100

    assert caught.value.code == 1123


def test_rules_and_server_time_come_from_the_constructor() -> None:
    exchange, clock = make_exchange()

    assert exchange.exchange_rules() == RulesBook(rules={BTC_TRY: RULES})
    assert exchange.server_time_ms() == clock.now_ms


def test_public_trades_and_candles_are_not_supported() -> None:
    exchange, clock = make_exchange()

    with pytest.raises(NotSupported):
        exchange.recent_trades(BTC_TRY)
    with pytest.raises(NotSupported):
        exchange.candles(BTC_TRY, interval_s=60, start_ms=0, end_ms=clock.now_ms)


def test_every_venue_reject_code_maps_to_a_btcturk_answer() -> None:
    rule_codes = {
        "SYMBOL_NOT_TRADING",
        "ORDER_METHOD_NOT_SUPPORTED",
        "MIN_NOTIONAL",
        "PRICE_ABOVE_BAND",
        "PRICE_BELOW_BAND",
    }

    assert {c.value for c in RejectCode} | rule_codes == set(VENUE_REJECT_TO_BTCTURK)
    for code, message in VENUE_REJECT_TO_BTCTURK.values():
        assert code is None or ORDER_ERROR_CODES[code] == message
