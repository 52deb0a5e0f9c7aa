"""BTCTurk REST parsers against every recorded and documented payload, plus the parsing rules.

Source: reference/btcturk_api.md sections 2, 4 and 5; payloads in tests/fixtures/btcturk/
(README.md there says where each one comes from).
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest

from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import CancelAck
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.client import order_body
from trading.exchange.btcturk.parse import Node, classify_error, unwrap
from trading.exchange.btcturk.parse_account import (
    parse_balances,
    parse_cancel,
    parse_open_orders,
    parse_order,
    parse_orders,
    parse_submit_ack,
    parse_user_trades,
)
from trading.exchange.btcturk.parse_market import (
    parse_exchange_info,
    parse_klines,
    parse_ohlcs,
    parse_order_book,
    parse_server_time,
    parse_tickers,
    parse_trades,
)
from trading.exchange.errors import (
    AuthenticationError,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
    PayloadError,
    RateLimited,
    RetryableError,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
D = Decimal
BTC_TRY = Symbol("BTC", "TRY")
BTC_USDT = Symbol("BTC", "USDT")

# Every REST payload file and the test that reads it (kept in step by the first test).
COVERED = {
    "docs_graph_ohlcs_btctry.json": "test_graph_ohlcs_become_daily_candles_in_milliseconds",
    "docs_rest_429_ip_block.json": "test_a_429_body_is_rate_limited",
    "docs_rest_open_orders_first_items.json": "test_open_orders_list_asks_then_bids_with_status",
    "docs_rest_single_order.json": "test_a_stop_order_is_refused_naming_the_method_field",
    "docs_rest_single_order_not_found.json": "test_an_unknown_order_is_order_not_found",
    "docs_rest_submit_order_response.json": "test_the_documented_submit_answer_acks_the_request",
    "rest_all_orders_item_ccxt_comment_20210420.json": "test_all_orders_item_with_string_ids",
    "rest_balances_data_outlier_2021.json": "test_balances_are_keyed_by_asset",
    "rest_cancel_order_ccxt_comment.json": "test_a_cancel_answer_acks_the_order_id",
    "rest_create_order_data_ccxt_comment_20210420.json": "test_the_ccxt_submit_answer_acks",
    "rest_error_invalid_nonce_code1037_issue147_2019.json": "test_code_1037_with_success_true",
    "rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json": "test_exchangeinfo_two_symbols",
    "rest_exchangeinfo_btctry_hummingbot_20220323.json": "test_exchangeinfo_with_envelope",
    "rest_klines_history_first2_ccxt_comment_20220901.json": "test_klines_become_candles",
    "rest_open_orders_item_ccxt_comment_20210420.json": "test_an_open_order_with_time_zero",
    "rest_orderbook_btctry_limit1_data_outlier_20210214.json": "test_order_book_data_part",
    "rest_orderbook_btcusdt_hummingbot_20220317a.json": "test_order_book_with_float_timestamp",
    "rest_server_time_outlier_20210214.json": "test_server_time_is_the_bare_millisecond_value",
    "rest_submit_order_request_body_market_buy_issue377_2021.json": "test_market_buy_body",
    "rest_ticker_all_btctry_only_ccxt_captured_20260914.json": "test_tickers_use_numbers",
    "rest_ticker_btcusdt_ccxt_captured_20260914.json": "test_tickers_use_numbers",
    "rest_ticker_btcusdt_hummingbot_20220316.json": "test_tickers_use_numbers",
    "rest_trades_btctry_first_item_outlier_20210214.json": "test_public_trades_keep_ids",
    "rest_user_trades_ccxt_comment_20210420.json": "test_user_trades_with_string_code",
}


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def test_every_rest_and_docs_fixture_is_covered_by_a_parser_test() -> None:
    files = {
        path.name for pattern in ("rest_*.json", "docs_*.json") for path in FIXTURES.glob(pattern)
    }
    test_names = {name for name in globals() if name.startswith("test_")}

    assert files == set(COVERED)
    assert all(any(name.startswith(prefix) for name in test_names) for prefix in COVERED.values())


# --- public market data ---------------------------------------------------------------------


def test_exchangeinfo_two_symbols_without_envelope_become_rules() -> None:
    book = parse_exchange_info(load("rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"))
    btc = book.rules[BTC_TRY]
    aave = book.rules[Symbol("AAVE", "TRY")]

    assert book.skipped == {}
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (D("10"), D("1E-8"), D("99.91"))
    assert (btc.min_price, btc.max_price) == (D("58387.9"), D("5838790.0"))
    assert (aave.tick_size, aave.step_size) == (D("0.01"), D("0.0001"))


def test_exchangeinfo_with_envelope_and_zero_price_scale() -> None:
    payload = load("rest_exchangeinfo_btctry_hummingbot_20220323.json")

    rules = parse_exchange_info(payload).rules[BTC_TRY]

    assert rules.tick_size == D("10")
    assert (rules.min_price, rules.max_price) == (D("63249.8"), D("6324980.0"))
    assert rules.order_methods == {"MARKET", "LIMIT", "STOP_MARKET", "STOP_LIMIT"}


def test_exchangeinfo_decoded_with_decimal_floats_gives_the_same_rules() -> None:
    text = (FIXTURES / "rest_exchangeinfo_btctry_hummingbot_20220323.json").read_text()

    assert parse_exchange_info(json.loads(text, parse_float=Decimal)) == parse_exchange_info(
        json.loads(text)
    )


def test_exchangeinfo_without_symbols_names_the_field_and_endpoint() -> None:
    with pytest.raises(PayloadError) as caught:
        parse_exchange_info({"success": True, "code": 0, "data": {"timeZone": "UTC"}})

    assert caught.value.field == "data.symbols"
    assert caught.value.endpoint == "GET /api/v2/server/exchangeinfo"


def test_server_time_is_the_bare_millisecond_value() -> None:
    assert parse_server_time(load("rest_server_time_outlier_20210214.json")) == 1613313462021


def test_tickers_use_numbers_and_the_explicit_base_and_quote() -> None:
    (usdt,) = parse_tickers(load("rest_ticker_btcusdt_ccxt_captured_20260914.json"))
    (try_,) = parse_tickers(load("rest_ticker_all_btctry_only_ccxt_captured_20260914.json"))
    (old,) = parse_tickers(load("rest_ticker_btcusdt_hummingbot_20220316.json"))

    assert usdt.symbol == BTC_USDT
    assert (usdt.ts_ms, usdt.last, usdt.bid, usdt.ask) == (
        1789410188498,
        D("79152"),
        D("79164"),
        D("79185"),
    )
    assert (usdt.open, usdt.high, usdt.low, usdt.volume) == (
        D("77356"),
        D("79165"),
        D("76386"),
        D("11.32065888"),
    )
    assert (try_.symbol, try_.last, try_.volume) == (BTC_TRY, D("3844648"), D("25.3073659"))
    assert (old.last, old.volume, old.mid) == (D("40585"), D("170.06575796"), D("40578"))


def test_a_ticker_without_bid_and_ask_reports_none() -> None:
    payload = load("rest_ticker_btcusdt_ccxt_captured_20260914.json")
    del payload["data"][0]["bid"]
    payload["data"][0]["ask"] = None

    (ticker,) = parse_tickers(payload)

    assert (ticker.bid, ticker.ask, ticker.mid) == (None, None, None)


def test_order_book_with_float_timestamp_sorted_best_first() -> None:
    payload = load("rest_orderbook_btcusdt_hummingbot_20220317a.json")

    book = parse_order_book(payload, BTC_USDT)

    assert book.ts_ms == 1647493701782
    assert (book.best_bid, book.best_ask) == (D("41177"), D("41231"))
    assert book.asks[2].quantity == D("0.11700000")
    assert [level.price for level in book.bids] == [D("41177"), D("41176"), D("41173")]


def test_order_book_data_part_of_a_one_level_book() -> None:
    book = parse_order_book(
        load("rest_orderbook_btctry_limit1_data_outlier_20210214.json"), BTC_TRY
    )

    assert (book.best_bid, book.bids[0].quantity) == (D("349600.00"), D("0.00518551"))
    assert (book.best_ask, book.asks[0].quantity) == (D("349830.00"), D("10.62911645"))


def test_an_order_book_in_the_wrong_order_is_sorted_best_first() -> None:
    payload = load("rest_orderbook_btcusdt_hummingbot_20220317a.json")
    payload["data"]["bids"].reverse()
    payload["data"]["asks"].reverse()

    book = parse_order_book(payload, BTC_USDT)

    assert (book.best_bid, book.best_ask) == (D("41177"), D("41231"))


def test_a_book_level_without_amount_names_the_level() -> None:
    payload = load("rest_orderbook_btcusdt_hummingbot_20220317a.json")
    payload["data"]["asks"][1] = ["41264"]

    with pytest.raises(PayloadError) as caught:
        parse_order_book(payload, BTC_USDT)

    assert caught.value.field == "data.asks[1][1]"
    assert caught.value.endpoint == "GET /api/v2/orderbook"


def test_public_trades_keep_ids_as_strings_and_the_taker_side() -> None:
    (trade,) = parse_trades(load("rest_trades_btctry_first_item_outlier_20210214.json"))

    assert trade.symbol == BTC_TRY
    assert trade.trade_id == "637489129008759423"
    assert (trade.ts_ms, trade.price, trade.quantity) == (
        1613316100877,
        D("349000.00"),
        D("0.00500000"),
    )
    assert trade.side is Side.SELL


def test_klines_become_candles_with_times_in_milliseconds() -> None:
    first, second = parse_klines(
        load("rest_klines_history_first2_ccxt_comment_20220901.json"), BTC_TRY
    )

    assert (first.ts_ms, first.open, first.close, first.volume) == (
        1661990400000,
        D("368388.0"),
        D("368388.0"),
        D("0.00035208"),
    )
    assert (second.ts_ms, second.high, second.low, second.volume) == (
        1661990520000,
        D("369090.0"),
        D("368467.0"),
        D("0.2972395"),
    )


def test_klines_without_data_are_empty() -> None:
    assert parse_klines({"s": "no_data"}, BTC_TRY) == ()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"s": "error"}, "s"),
        ({"c": [368388.0]}, "c"),
        ({"t": [1661990400, "soon"]}, "t[1]"),
        ({"t": [1661990400.5, 1661990520]}, "t[0]"),
    ],
)
def test_broken_klines_name_the_field(change: dict, field: str) -> None:
    payload = load("rest_klines_history_first2_ccxt_comment_20220901.json") | change

    with pytest.raises(PayloadError) as caught:
        parse_klines(payload, BTC_TRY)

    assert caught.value.field == field
    assert caught.value.endpoint == "GET /v1/klines/history"


def test_graph_ohlcs_become_daily_candles_in_milliseconds() -> None:
    candles = parse_ohlcs(load("docs_graph_ohlcs_btctry.json"))

    assert len(candles) == 3
    assert candles[0].symbol == BTC_TRY
    assert (candles[0].ts_ms, candles[0].open, candles[0].close) == (
        1582070400000,
        D("61940"),
        D("58801"),
    )
    assert candles[0].volume == D("549.1858885452384")
    assert candles[2].ts_ms - candles[1].ts_ms == 86_400_000


# --- account -------------------------------------------------------------------------------


def test_balances_are_keyed_by_asset_with_exact_decimals() -> None:
    balances = parse_balances(load("rest_balances_data_outlier_2021.json"))

    assert set(balances) == {"BTC", "ETH"}
    assert balances["BTC"].free == D("0.0003670154826363")
    assert balances["BTC"].locked == D("0")
    assert balances["ETH"].total == D("0")


def test_an_asset_listed_twice_is_a_payload_error() -> None:
    rows = load("rest_balances_data_outlier_2021.json")

    with pytest.raises(PayloadError) as caught:
        parse_balances([*rows, rows[0]])

    assert caught.value.field == "data[2].asset"


def test_open_orders_list_asks_then_bids_with_status_and_remaining() -> None:
    orders = parse_open_orders(load("docs_rest_open_orders_first_items.json"))

    assert [order.order_id for order in orders] == ["16060235", "16060237", "16071095"]
    assert [order.side for order in orders] == [Side.SELL, Side.SELL, Side.BUY]
    partial = orders[1]
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert (partial.price, partial.quantity, partial.remaining) == (
        D("66867.00"),
        D("0.04971904"),
        D("0.0412345"),
    )
    assert partial.filled == D("0.00848454")
    assert orders[0].status is OrderStatus.OPEN
    assert orders[2].client_order_id == "da593000-6eb3-4a1c-ba26-c616122a0210"
    assert (orders[2].created_ms, orders[2].updated_ms) == (0, 1591352311273)


def test_an_open_order_with_time_zero_and_an_integer_id() -> None:
    item = load("rest_open_orders_item_ccxt_comment_20210420.json")

    (order,) = parse_open_orders({"asks": [], "bids": [item]})

    assert order.order_id == "2605984008"
    assert order.symbol == BTC_USDT
    assert (order.side, order.order_type, order.status) == (
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.OPEN,
    )
    assert (order.price, order.remaining, order.created_ms) == (D("55000"), D("0.0005"), 0)


def test_all_orders_item_with_string_ids_and_timestamps() -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json")

    (order,) = parse_orders({"success": True, "message": None, "code": 0, "data": [item]})

    assert order == parse_order({"data": item})
    assert order.order_id == "2606012912"
    assert order.client_order_id == "2ed187bd-59a8-4875-a212-1b793963b85c"
    assert (order.created_ms, order.updated_ms) == (1618913189253, 1618913189253)
    assert (order.quantity, order.remaining) == (D("0.0003"), D("0.0003"))


def test_a_stop_order_is_refused_naming_the_method_field() -> None:
    payload = load("docs_rest_single_order.json")

    with pytest.raises(PayloadError) as caught:
        parse_order(payload)

    assert caught.value.field == "data.method"
    assert caught.value.endpoint == "GET /api/v1/order/{order_id}"
    assert "stopmarket" in str(caught.value)


def test_the_documented_single_order_parses_once_it_is_a_limit_order() -> None:
    payload = load("docs_rest_single_order.json")
    payload["data"]["method"] = "LIMIT"

    order = parse_order(payload)

    assert (order.order_id, order.client_order_id, order.symbol) == (
        "61912740",
        "BtcTurk API",
        BTC_TRY,
    )
    assert (order.side, order.status, order.price) == (Side.SELL, OrderStatus.OPEN, D("20000.00"))
    assert order.remaining == D("0.12345678") == order.quantity


def test_an_unknown_order_is_order_not_found() -> None:
    with pytest.raises(OrderNotFound) as caught:
        parse_order(load("docs_rest_single_order_not_found.json"))

    assert caught.value.code == 1152


@pytest.mark.parametrize(
    ("wire", "status"),
    [
        ("Untouched", OrderStatus.OPEN),
        ("untouched", OrderStatus.OPEN),
        ("PARTIAL", OrderStatus.PARTIALLY_FILLED),
        ("Closed", OrderStatus.FILLED),
        ("Canceled", OrderStatus.CANCELED),
        ("canceled", OrderStatus.CANCELED),
    ],
)
def test_order_statuses_map_case_insensitively(wire: str, status: OrderStatus) -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json") | {"status": wire}

    assert parse_order(item).status is status


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"status": "Expired"}, "data.status"),
        ({"type": "short"}, "data.type"),
        ({"method": "stoplimit"}, "data.method"),
        ({"method": "iceberg"}, "data.method"),
        ({"leftAmount": None}, "data.leftAmount"),
        ({"price": "abc"}, "data.price"),
        ({"id": 2606012912.0}, "data.id"),
        ({"pairSymbolNormalized": "BTC_", "pairSymbol": None}, "data.pairSymbolNormalized"),
    ],
)
def test_a_malformed_order_names_the_field(change: dict, field: str) -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json") | change

    with pytest.raises(PayloadError) as caught:
        parse_order({"data": item})

    assert caught.value.field == field


def test_a_market_order_has_no_price_and_the_pair_may_come_without_separator() -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json")
    item |= {"method": "Market", "type": "Buy", "price": "0", "pairSymbolNormalized": None}

    order = parse_order(item)

    assert (order.order_type, order.side, order.price) == (OrderType.MARKET, Side.BUY, None)
    assert order.symbol == BTC_USDT


def test_user_trades_with_string_code_keep_ids_and_charge_the_quote() -> None:
    (trade,) = parse_user_trades(load("rest_user_trades_ccxt_comment_20210420.json"))

    assert (trade.trade_id, trade.order_id, trade.client_order_id) == (
        "320874372",
        "2606935102",
        "",
    )
    assert (trade.symbol, trade.side, trade.price, trade.quantity) == (
        BTC_USDT,
        Side.BUY,
        D("56000"),
        D("0.0002"),
    )
    assert (trade.fee, trade.tax, trade.fee_asset, trade.ts_ms) == (
        D("0"),
        D("0"),
        "USDT",
        1618916479593,
    )


def test_a_sell_fill_reports_positive_quantity_fee_and_tax() -> None:
    payload = load("rest_user_trades_ccxt_comment_20210420.json")
    payload["data"][0] |= {
        "orderType": "sell",
        "amount": "-0.00020000",
        "fee": "-0.0056",
        "tax": "-0.00112",
        "id": 2**62 + 1,
    }

    (trade,) = parse_user_trades(payload)

    assert trade.side is Side.SELL
    assert (trade.quantity, trade.fee, trade.tax) == (D("0.0002"), D("0.0056"), D("0.00112"))
    assert trade.trade_id == "4611686018427387905"
    assert trade.notional == D("11.2")


def test_the_ccxt_submit_answer_acks_the_request_with_string_ids() -> None:
    request = OrderRequest(
        "98e5c491-7ed9-462b-9666-93553180fb28",
        BTC_USDT,
        Side.BUY,
        OrderType.LIMIT,
        D("0.0002"),
        D("56000"),
    )

    ack = parse_submit_ack(load("rest_create_order_data_ccxt_comment_20210420.json"), request)

    assert (ack.order_id, ack.ts_ms, ack.client_order_id) == (
        "2606935102",
        1618916479523,
        request.client_order_id,
    )
    assert (ack.symbol, ack.side, ack.order_type, ack.price, ack.quantity) == (
        BTC_USDT,
        Side.BUY,
        OrderType.LIMIT,
        D("56000"),
        D("0.0002"),
    )


def test_the_documented_submit_answer_acks_the_request_despite_capitals() -> None:
    request = OrderRequest("test", BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001"), D("20000"))

    ack = parse_submit_ack(load("docs_rest_submit_order_response.json"), request)

    assert (ack.order_id, ack.ts_ms) == ("9932534", 1543996112263)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"newOrderClientId": "someone-else"}, "data.newOrderClientId"),
        ({"pairSymbolNormalized": "ETH_TRY"}, "data.pairSymbolNormalized"),
        ({"type": "Sell"}, "data.type"),
        ({"method": "Market"}, "data.method"),
        ({"id": None}, "data.id"),
        ({"datetime": "yesterday"}, "data.datetime"),
    ],
)
def test_a_submit_answer_that_contradicts_the_request_is_a_payload_error(
    change: dict, field: str
) -> None:
    payload = load("docs_rest_submit_order_response.json")
    payload["data"] |= change
    request = OrderRequest("test", BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001"), D("20000"))

    with pytest.raises(PayloadError) as caught:
        parse_submit_ack(payload, request)

    assert caught.value.field == field
    assert caught.value.endpoint == "POST /api/v1/order"


def test_a_market_buy_ack_reports_the_quote_amount_sent() -> None:
    payload = load("docs_rest_submit_order_response.json")
    payload["data"] |= {"method": "market", "type": "buy"}
    request = OrderRequest(
        "test", BTC_TRY, Side.BUY, OrderType.MARKET, D("0.0004"), quote_amount=D("100")
    )

    ack = parse_submit_ack(payload, request)

    assert (ack.price, ack.quantity) == (None, D("100"))


def test_market_buy_body_sends_the_quote_amount_as_quantity_and_no_price() -> None:
    recorded = load("rest_submit_order_request_body_market_buy_issue377_2021.json")
    request = OrderRequest(
        "BTCTrader",
        Symbol("EOS", "TRY"),
        Side.BUY,
        OrderType.MARKET,
        D("0.0195"),
        quote_amount=D("1.82"),
    )

    body = order_body(request)

    # Same request as the issue, minus the price the user was told to drop (issue #377).
    assert body == {key: value for key, value in recorded.items() if key != "price"}
    assert list(body) == ["quantity", "newOrderClientId", "orderMethod", "orderType", "pairSymbol"]


def test_a_cancel_answer_acks_the_order_id() -> None:
    assert parse_cancel(load("rest_cancel_order_ccxt_comment.json"), "123") == CancelAck("123")


# --- envelope and error classification ----------------------------------------------------


def test_code_1037_with_success_true_is_an_authentication_error() -> None:
    with pytest.raises(AuthenticationError) as caught:
        parse_balances(load("rest_error_invalid_nonce_code1037_issue147_2019.json"))

    assert caught.value.code == 1037
    assert caught.value.endpoint == "GET /api/v1/users/balances"


def test_a_429_body_is_rate_limited() -> None:
    with pytest.raises(RateLimited) as caught:
        parse_tickers(load("docs_rest_429_ip_block.json"))

    assert caught.value.code == 429
    assert "TOO_MANY_REQUESTS" in str(caught.value)


@pytest.mark.parametrize(
    ("envelope", "error"),
    [
        ({"success": False, "message": "FAILED_MIN_TOTAL_AMOUNT", "code": 1123}, OrderRejected),
        ({"success": False, "message": "BALANCE_NOT_ENOUGH", "code": 0}, OrderRejected),
        ({"success": False, "message": "NO_ORDER_MATCHES_YOUR_REQUEST"}, OrderNotFound),
        ({"success": True, "message": "weird", "code": "77"}, NonRetryableError),
        ({"success": "yes", "code": 0, "data": []}, PayloadError),
        ({"success": True, "code": "zero", "data": []}, PayloadError),
        ({"success": True, "code": 0}, PayloadError),
    ],
)
def test_the_envelope_is_checked_before_the_data(envelope: dict, error: type) -> None:
    with pytest.raises(error):
        parse_balances(envelope)


def test_a_string_zero_code_is_success() -> None:
    assert unwrap({"success": True, "code": "0", "data": [1]}, endpoint="GET /x") == [1]


@pytest.mark.parametrize(
    ("status", "code", "message", "error"),
    [
        (401, None, "", AuthenticationError),
        (403, None, "Forbidden", AuthenticationError),
        (400, None, "Unauthorized - Invalid Signature", AuthenticationError),
        (200, 1037, "", AuthenticationError),
        (429, None, "", RateLimited),
        (503, None, "Service Unavailable", RetryableError),
        (500, None, "", RetryableError),
        (400, 1152, "", OrderNotFound),
        (400, None, "NO_ORDER_MATCHES_YOUR_REQUEST", OrderNotFound),
        (400, 1118, "", OrderRejected),
        (400, 1227, "", OrderRejected),
        (400, None, "ORDER_COULD_NOT_BE_CANCELED", OrderRejected),
        (400, None, "FAILED_ORDER_PARAMETER", OrderRejected),
        (404, None, "Not Found", NonRetryableError),
        (422, 9999, "", NonRetryableError),
    ],
)
def test_errors_are_classified_by_status_code_and_message(
    status: int, code: int | None, message: str, error: type
) -> None:
    result = classify_error(
        endpoint="POST /api/v1/order", http_status=status, code=code, message=message
    )

    assert type(result) is error
    assert result.http_status == status


def test_a_reject_keeps_the_exchange_code() -> None:
    result = classify_error(
        endpoint="POST /api/v1/order", http_status=400, code=1123, message="FAILED_MIN_TOTAL_AMOUNT"
    )

    assert isinstance(result, OrderRejected)
    assert result.code == 1123


@pytest.mark.parametrize(
    ("code", "message", "reason"),
    [
        (1123, "FAILED_MIN_TOTAL_AMOUNT", "FAILED_MIN_TOTAL_AMOUNT"),
        (None, "balance_not_enough", "BALANCE_NOT_ENOUGH"),  # a documented message, any case
        (1126, "", "FAILED_INVALID_PRICE_SCALE"),  # no message: the code's documented name
        (1199, "Something odd", "Something odd"),  # undocumented code: the message itself
    ],
)
def test_a_reject_names_its_reason_the_btcturk_way(
    code: int | None, message: str, reason: str
) -> None:
    result = classify_error(
        endpoint="POST /api/v1/order", http_status=400, code=code, message=message
    )

    assert isinstance(result, OrderRejected)
    assert result.reason == reason


# --- number and id rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        "NaN",
        "nan",
        "Infinity",
        "-Infinity",
        "inf",
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("Infinity"),
        "1_000",
        "0x10",
        "",
        "  ",
        "1.2.3",
        "١٢٣",
        "1e999999",
        10**400,
        pytest.param(10**5000, id="5001-digit-int"),
        [1],
        {"value": 1},
        None,
    ],
)
def test_a_value_that_is_not_a_finite_decimal_is_refused(value: object) -> None:
    payload = load("rest_balances_data_outlier_2021.json")
    payload[0]["free"] = value

    with pytest.raises(PayloadError) as caught:
        parse_balances(payload)

    assert caught.value.field == "data[0].free"
    assert caught.value.endpoint == "GET /api/v1/users/balances"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.0003670154826363", D("0.0003670154826363")),
        (0.1, D("0.1")),
        (Decimal("0.1"), D("0.1")),
        (12, D("12")),
        (" 5.5 ", D("5.5")),
        ("1E-8", D("0.00000001")),
        ("-0.5", D("-0.5")),
    ],
)
def test_numbers_and_numeric_strings_parse_exactly(value: object, expected: Decimal) -> None:
    assert Node(value, "x", "GET /x").decimal() == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2**53 + 1, "9007199254740993"), ("637489129008759423", "637489129008759423"), ("007", "7")],
)
def test_ids_beyond_float_precision_stay_exact(value: object, expected: str) -> None:
    assert Node(value, "id", "GET /x").ident() == expected


@pytest.mark.parametrize("value", [9007199254740993.0, True, "-1", "12a", "", "١٢٣", 10**40])
def test_ids_that_are_not_integers_are_refused(value: object) -> None:
    with pytest.raises(PayloadError):
        Node(value, "id", "GET /x").ident()


def test_a_missing_field_deep_in_open_orders_names_its_path_and_endpoint() -> None:
    payload = load("docs_rest_open_orders_first_items.json")
    del payload["data"]["asks"][1]["price"]

    with pytest.raises(PayloadError) as caught:
        parse_open_orders(payload)

    assert caught.value.field == "data.asks[1].price"
    assert caught.value.endpoint == "GET /api/v1/openOrders"
    assert str(caught.value) == "GET /api/v1/openOrders: data.asks[1].price: missing"


def test_unknown_extra_fields_are_ignored() -> None:
    payload = load("docs_rest_open_orders_first_items.json")
    extended = copy.deepcopy(payload)
    extended["data"]["asks"][0]["brandNewField"] = {"nested": [1, 2]}
    extended["data"]["extra"] = "x"
    extended["details"] = "extra envelope field"

    assert parse_open_orders(extended) == parse_open_orders(payload)
