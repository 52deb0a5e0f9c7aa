"""BtcturkClient over httpx.MockTransport: request building (ccxt vectors), every endpoint's
happy path from recorded payloads, retries, rate limits and the write-safety rules.

Source: reference/btcturk_api.md sections 2-5; DESIGN.md sections 5-6. No network, no sleeping.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.reports import CancelAck
from trading.domain.symbols import Symbol, parse_symbol
from trading.exchange import ratelimit
from trading.exchange.base import ExchangeClient
from trading.exchange.btcturk import urls
from trading.exchange.btcturk.auth import ServerClock
from trading.exchange.btcturk.client import BtcturkClient, btcturk_client_from_settings
from trading.exchange.errors import (
    AuthenticationError,
    ConfigurationError,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
    OutcomeUncertain,
    PayloadError,
    RateLimited,
    RetryableError,
)
from trading.exchange.retry import RetryPolicy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
VECTORS = json.loads((FIXTURES / "generated_sign_vectors_ccxt.json").read_text())["vectors"]
KEY = VECTORS[0]["apiKey"]
SECRET = VECTORS[0]["secretBase64"]
STAMP = int(VECTORS[0]["stamp"])
SIGNATURE = VECTORS[0]["expectedSignatureBase64"]
IDENTITY = "key-" + hashlib.sha256(KEY.encode()).hexdigest()[:16]
BTC_TRY = Symbol("BTC", "TRY")
BTC_USDT = Symbol("BTC", "USDT")
D = Decimal
AUTH_HEADERS = ("X-PCK", "X-Stamp", "X-Signature", "Content-Type")
POLICY = RetryPolicy(max_attempts=3, base_delay_s=0.25, max_delay_s=1.0, max_total_wait_s=30.0)


def load(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def envelope(data: object) -> dict:
    return {"success": True, "message": None, "code": 0, "data": data}


def reply(status: int = 200, body: object = None, headers: dict | None = None) -> Callable:
    """A fresh response per request (a Response object cannot be sent twice)."""

    def build(request: httpx.Request) -> httpx.Response:
        if isinstance(body, bytes):
            return httpx.Response(status, content=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return build


class Exchange:
    """MockTransport handler: queued answers per (method, path), the last one repeating."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list] = {}

    def on(self, method: str, path: str, *answers: object) -> Exchange:
        self.routes.setdefault((method, path), []).extend(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answers = self.routes.get((request.method, request.url.path))
        if not answers:
            return httpx.Response(404, json={"success": False, "message": "no route", "code": 0})
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


class FakeLimiter:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def acquire(self, rule: str, *, identity: str) -> None:
        self.calls.append(("acquire", rule, identity))

    def penalize(self, rule: str, *, identity: str, seconds: float) -> None:
        self.calls.append(("penalize", rule, identity, seconds))


def pinned_clock(ms: int) -> ServerClock:
    """A clock stuck at ``ms`` whose offset is already measured (zero): no sync request."""
    clock = ServerClock(local_ms=lambda: ms)
    clock.record(sent_ms=ms, received_ms=ms, server_ms=ms)
    return clock


def make_client(
    exchange: Exchange,
    *,
    key: str = KEY,
    secret: str = SECRET,
    clock: ServerClock | None = None,
    limiter: FakeLimiter | None = None,
    sleeps: list[float] | None = None,
) -> BtcturkClient:
    return BtcturkClient(
        api_key=key,
        api_secret=secret,
        transport=httpx.MockTransport(exchange),
        clock=clock or pinned_clock(STAMP),
        rate_limiter=limiter,
        retry_policy=POLICY,
        rng=random.Random(7),
        sleep=(sleeps if sleeps is not None else []).append,
    )


def limit_buy(coid: str = "mv-BTCTRY-b-1", price: str = "3000000") -> OrderRequest:
    return OrderRequest(coid, BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001"), D(price))


def ack_for(request: OrderRequest) -> dict:
    return envelope(
        {
            "id": 2606935102,
            "datetime": 1700000000123,
            "type": request.side.value,
            "method": request.order_type.value,
            "price": str(request.price),
            "quantity": str(request.quantity),
            "pairSymbol": request.symbol.pair,
            "pairSymbolNormalized": request.symbol.pair_normalized,
            "newOrderClientId": request.client_order_id,
        }
    )


# --- request building: every ccxt vector, both keys ----------------------------------------

VECTOR_ANSWERS = {
    ("GET", "/api/v1/users/balances"): envelope(load("rest_balances_data_outlier_2021.json")),
    ("GET", "/api/v1/openOrders"): load("docs_rest_open_orders_first_items.json"),
    ("GET", "/api/v1/allOrders"): envelope(
        [load("rest_all_orders_item_ccxt_comment_20210420.json")]
    ),
    ("GET", "/api/v1/order/123456789"): envelope(
        load("rest_all_orders_item_ccxt_comment_20210420.json")
    ),
    ("DELETE", "/api/v1/order"): load("rest_cancel_order_ccxt_comment.json"),
    ("POST", "/api/v1/order"): envelope(
        {"id": "1", "datetime": 1, "newOrderClientId": "my-client-id-1", "pairSymbol": "BTCTRY"}
    ),
    ("GET", "/api/v1/users/transactions/trade"): load(
        "rest_user_trades_ccxt_comment_20210420.json"
    ),
    ("GET", "/api/v2/ticker"): load("rest_ticker_all_btctry_only_ccxt_captured_20260914.json"),
    ("GET", "/api/v2/server/exchangeinfo"): load(
        "rest_exchangeinfo_btctry_hummingbot_20220323.json"
    ),
    ("GET", "/api/v2/orderbook"): load("rest_orderbook_btcusdt_hummingbot_20220317a.json"),
    ("GET", "/v1/klines/history"): load("rest_klines_history_first2_ccxt_comment_20220901.json"),
}


def drive(client: BtcturkClient, method: str, path: str, params: dict) -> object:
    """Call the client method that issues ccxt's request (``get_json`` where the port's
    method sends more parameters than ccxt's vector: allOrders' window, trades' startDate)."""
    symbol = parse_symbol(params["pairSymbol"]) if "pairSymbol" in params else None
    if path == "users/balances":
        return client.balances()
    if path == "openOrders":
        return client.open_orders(symbol)
    if path == "allOrders":
        return client.get_json(urls.ALL_ORDERS, params=params)
    if path == "order/123456789":
        return client.order("123456789")
    if path == "order" and method == "DELETE":
        return client.cancel_order(str(params["id"]))
    if path == "order" and method == "POST":
        return client.submit_order(
            OrderRequest(
                params["newOrderClientId"],
                symbol,
                Side(params["orderType"]),
                OrderType(params["orderMethod"]),
                D(params["quantity"]),
                D(params["price"]),
            )
        )
    if path == "users/transactions/trade":
        return client.get_json(urls.USER_TRADES, params=params)
    if path == "ticker":
        return client.tickers([symbol])
    if path == "server/exchangeinfo":
        return client.exchange_rules()
    if path == "orderbook":
        return client.order_book(symbol, depth=params["limit"])
    if path == "klines/history":
        return client.candles(
            parse_symbol(params["symbol"]),
            interval_s=params["resolution"] * 60,
            start_ms=params["from"] * 1000,
            end_ms=params["to"] * 1000,
        )
    raise AssertionError(f"no driver for {method} {path}")


VECTOR_CASES = [
    pytest.param(
        vector, case, id=f"{vector['apiKey'][:8]}-{case['input']['method']}-{case['input']['path']}"
    )
    for vector in VECTORS
    for case in vector["ccxtSignOutputs"]
]


def test_the_vector_file_holds_eleven_requests_per_key() -> None:
    assert len(VECTOR_CASES) == 22


@pytest.mark.parametrize(("vector", "case"), VECTOR_CASES)
def test_each_request_matches_ccxt_url_method_body_and_headers(vector: dict, case: dict) -> None:
    exchange = Exchange()
    for (method, path), body in VECTOR_ANSWERS.items():
        exchange.on(method, path, reply(200, body))
    client = make_client(
        exchange,
        key=vector["apiKey"],
        secret=vector["secretBase64"],
        clock=pinned_clock(int(vector["stamp"])),
    )
    given, expected = case["input"], case["output"]

    drive(client, given["method"], given["path"], given["params"])

    (request,) = exchange.requests
    assert str(request.url) == expected["url"]
    assert request.method == expected["method"]
    assert request.content == (expected["body"] or "").encode()
    if expected["headers"] is None:
        assert [name for name in AUTH_HEADERS[:3] if name in request.headers] == []
    else:
        assert {name: request.headers.get(name) for name in AUTH_HEADERS} == expected["headers"]


# --- happy paths from recorded payloads ----------------------------------------------------


def test_the_client_satisfies_the_exchange_port() -> None:
    assert isinstance(make_client(Exchange()), ExchangeClient)


def test_exchange_rules_come_from_exchangeinfo() -> None:
    exchange = Exchange().on(
        "GET",
        "/api/v2/server/exchangeinfo",
        reply(200, load("rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json")),
    )

    book = make_client(exchange).exchange_rules()

    assert set(book.rules) == {BTC_TRY, Symbol("AAVE", "TRY")}
    assert book.rules[BTC_TRY].min_notional == D("99.91")


def test_tickers_of_several_symbols_are_filtered_from_the_full_list() -> None:
    both = load("rest_ticker_btcusdt_hummingbot_20220316.json")
    both["data"] += load("rest_ticker_all_btctry_only_ccxt_captured_20260914.json")["data"]
    exchange = Exchange().on("GET", "/api/v2/ticker", reply(200, both))
    client = make_client(exchange)

    everything = client.tickers()
    only_try = client.tickers([BTC_TRY, Symbol("ETH", "TRY")])

    assert [t.symbol for t in everything] == [BTC_USDT, BTC_TRY]
    assert [(t.symbol, t.last) for t in only_try] == [(BTC_TRY, D("3844648"))]
    assert all(r.url.query == b"" for r in exchange.requests)
    assert client.tickers([]) == ()


def test_the_order_book_is_asked_for_by_pair_and_depth() -> None:
    exchange = Exchange().on(
        "GET",
        "/api/v2/orderbook",
        reply(200, load("rest_orderbook_btcusdt_hummingbot_20220317a.json")),
    )

    book = make_client(exchange).order_book(BTC_USDT, depth=3)

    assert exchange.requests[0].url.params == httpx.QueryParams("pairSymbol=BTCUSDT&limit=3")
    assert (book.best_bid, book.best_ask, book.ts_ms) == (D("41177"), D("41231"), 1647493701782)


def test_a_depth_outside_the_documented_range_sends_nothing() -> None:
    exchange = Exchange()

    with pytest.raises(NonRetryableError):
        make_client(exchange).order_book(BTC_TRY, depth=1001)

    assert exchange.requests == []


def test_recent_trades_come_newest_first() -> None:
    first = load("rest_trades_btctry_first_item_outlier_20210214.json")[0]
    later = first | {"tid": "637489129008759424", "date": first["date"] + 500, "side": "buy"}
    exchange = Exchange().on("GET", "/api/v2/trades", reply(200, envelope([first, later])))

    trades = make_client(exchange).recent_trades(BTC_TRY, limit=2)

    assert [t.trade_id for t in trades] == ["637489129008759424", "637489129008759423"]
    assert exchange.requests[0].url.params == httpx.QueryParams("pairSymbol=BTCTRY&last=2")


def test_candles_ask_the_graph_api_in_minutes_and_seconds_and_keep_the_window() -> None:
    exchange = Exchange().on(
        "GET",
        "/v1/klines/history",
        reply(200, load("rest_klines_history_first2_ccxt_comment_20220901.json")),
    )

    candles = make_client(exchange).candles(
        BTC_TRY, interval_s=120, start_ms=1661990400000, end_ms=1661990519999
    )

    (request,) = exchange.requests
    assert request.url.host == "graph-api.btcturk.com"
    assert request.url.params == httpx.QueryParams(
        "symbol=BTCTRY&resolution=2&from=1661990400&to=1661990519"
    )
    assert [c.ts_ms for c in candles] == [1661990400000]  # the second opens after end_ms


def test_candles_of_a_fractional_minute_interval_are_refused() -> None:
    with pytest.raises(NonRetryableError):
        make_client(Exchange()).candles(BTC_TRY, interval_s=90, start_ms=0, end_ms=1)


def test_server_time_is_read_from_the_bare_payload() -> None:
    exchange = Exchange().on(
        "GET", "/api/v2/server/time", reply(200, load("rest_server_time_outlier_20210214.json"))
    )

    assert make_client(exchange).server_time_ms() == 1613313462021


def test_balances_are_signed_and_parsed() -> None:
    exchange = Exchange().on(
        "GET",
        "/api/v1/users/balances",
        reply(200, envelope(load("rest_balances_data_outlier_2021.json"))),
    )

    balances = make_client(exchange).balances()

    assert balances["BTC"].free == D("0.0003670154826363")
    assert exchange.requests[0].headers["X-Signature"] == SIGNATURE


def test_open_orders_are_returned_oldest_first() -> None:
    payload = load("docs_rest_open_orders_first_items.json")
    payload["data"]["asks"].reverse()
    exchange = Exchange().on("GET", "/api/v1/openOrders", reply(200, payload))

    orders = make_client(exchange).open_orders()

    assert [o.order_id for o in orders] == ["16060235", "16060237", "16071095"]
    assert orders[1].status is OrderStatus.PARTIALLY_FILLED
    assert exchange.requests[0].url.query == b""


def test_all_orders_send_the_window_and_the_maximum_page() -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json")
    exchange = Exchange().on("GET", "/api/v1/allOrders", reply(200, envelope([item])))

    (order,) = make_client(exchange).all_orders(
        BTC_USDT, start_ms=1618900000000, end_ms=1619000000000
    )

    assert str(exchange.requests[0].url) == (
        "https://api.btcturk.com/api/v1/allOrders?pairSymbol=BTCUSDT"
        "&startTime=1618900000000&endTime=1619000000000&limit=1000"
    )
    assert (order.order_id, order.status) == ("2606012912", OrderStatus.OPEN)


def test_one_order_is_read_by_id() -> None:
    item = load("rest_all_orders_item_ccxt_comment_20210420.json")
    exchange = Exchange().on("GET", "/api/v1/order/2606012912", reply(200, envelope(item)))

    order = make_client(exchange).order("2606012912")

    assert order.client_order_id == "2ed187bd-59a8-4875-a212-1b793963b85c"


def test_an_order_id_that_is_not_digits_never_reaches_the_path() -> None:
    exchange = Exchange()

    with pytest.raises(NonRetryableError):
        make_client(exchange).order("../users/balances")

    assert exchange.requests == []


def test_user_trades_start_at_the_cursor_and_come_oldest_first() -> None:
    payload = load("rest_user_trades_ccxt_comment_20210420.json")
    fill = payload["data"][0]
    older = fill | {"id": "320874371", "timestamp": "1618916479000"}
    tie = fill | {"id": "320874370"}
    payload["data"] = [fill, older, tie]
    exchange = Exchange().on("GET", "/api/v1/users/transactions/trade", reply(200, payload))

    trades = make_client(exchange).user_trades(since_ms=1618916479593, symbol=BTC_USDT)

    assert exchange.requests[0].url.params == httpx.QueryParams(
        "pairSymbol=BTCUSDT&startDate=1618916479593"
    )
    assert [t.trade_id for t in trades] == ["320874370", "320874372"]


def test_a_limit_order_is_sent_once_and_acknowledged() -> None:
    request = limit_buy()
    limiter = FakeLimiter()
    exchange = Exchange().on("POST", "/api/v1/order", reply(200, ack_for(request)))

    ack = make_client(exchange, limiter=limiter).submit_order(request)

    assert (ack.order_id, ack.client_order_id, ack.ts_ms) == (
        "2606935102",
        request.client_order_id,
        1700000000123,
    )
    assert json.loads(exchange.requests[0].content)["newOrderClientId"] == request.client_order_id
    assert limiter.calls == [("acquire", "order_write", IDENTITY)]


def test_a_market_buy_spends_the_quote_amount_and_sends_no_price() -> None:
    request = OrderRequest(
        "mv-1", BTC_TRY, Side.BUY, OrderType.MARKET, D("0.0004"), quote_amount=D("150.50")
    )
    exchange = Exchange().on("POST", "/api/v1/order", reply(200, ack_for(request)))

    ack = make_client(exchange).submit_order(request)

    assert exchange.requests[0].content == (
        b'{"quantity":"150.5","newOrderClientId":"mv-1","orderMethod":"market",'
        b'"orderType":"buy","pairSymbol":"BTCTRY"}'
    )
    assert (ack.price, ack.quantity) == (None, D("150.50"))


def test_a_market_sell_sends_the_base_quantity() -> None:
    request = OrderRequest("mv-2", BTC_TRY, Side.SELL, OrderType.MARKET, D("0.00100000"))
    exchange = Exchange().on("POST", "/api/v1/order", reply(200, ack_for(request)))

    make_client(exchange).submit_order(request)

    body = json.loads(exchange.requests[0].content)
    assert (body["quantity"], "price" in body) == ("0.001", False)


@pytest.mark.parametrize(
    "request_",
    [
        OrderRequest("mv-3", BTC_TRY, Side.BUY, OrderType.MARKET, D("0.001")),
        OrderRequest("", BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001"), D("1")),
        OrderRequest("x" * 51, BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001"), D("1")),
        OrderRequest("mv-4", BTC_TRY, Side.BUY, OrderType.LIMIT, D("0.001")),
        OrderRequest("mv-5", BTC_TRY, Side.BUY, OrderType.LIMIT, D("1E-17"), D("1")),
        OrderRequest("mv-6", BTC_TRY, Side.BUY, OrderType.LIMIT, D("-1"), D("1")),
        OrderRequest("mv-7", BTC_TRY, Side.BUY, OrderType.LIMIT, D("1"), D("NaN")),
    ],
    ids=["market-buy-without-quote", "no-coid", "long-coid", "no-price", "tiny", "negative", "nan"],
)
def test_an_order_that_cannot_be_expressed_sends_nothing(request_: OrderRequest) -> None:
    exchange = Exchange()

    with pytest.raises(NonRetryableError) as caught:
        make_client(exchange).submit_order(request_)

    assert not isinstance(caught.value, OutcomeUncertain)
    assert exchange.requests == []


def test_a_cancel_is_sent_once_and_acknowledged() -> None:
    exchange = Exchange().on(
        "DELETE", "/api/v1/order", reply(200, load("rest_cancel_order_ccxt_comment.json"))
    )

    ack = make_client(exchange).cancel_order("2606935102")

    assert ack == CancelAck("2606935102")
    assert str(exchange.requests[0].url) == "https://api.btcturk.com/api/v1/order?id=2606935102"


# --- clock ----------------------------------------------------------------------------------


def test_the_first_private_call_measures_the_clock_and_applies_the_offset_to_the_stamp() -> None:
    local_ms = 1613313460000  # the server (fixture) is 2021 ms ahead
    exchange = (
        Exchange()
        .on(
            "GET", "/api/v2/server/time", reply(200, load("rest_server_time_outlier_20210214.json"))
        )
        .on("GET", "/api/v1/users/balances", reply(200, envelope([])))
    )
    client = make_client(exchange, clock=ServerClock(local_ms=lambda: local_ms))

    client.balances()
    client.balances()

    assert exchange.paths() == [
        "GET /api/v2/server/time",
        "GET /api/v1/users/balances",
        "GET /api/v1/users/balances",
    ]
    assert "X-Stamp" not in exchange.requests[0].headers
    assert exchange.requests[1].headers["X-Stamp"] == "1613313462021"
    assert client.clock.offset_ms == 2021


def test_sync_clock_is_public_and_re_measures_when_the_offset_is_old() -> None:
    now = [1613313460000]
    exchange = (
        Exchange()
        .on(
            "GET", "/api/v2/server/time", reply(200, load("rest_server_time_outlier_20210214.json"))
        )
        .on("GET", "/api/v1/users/balances", reply(200, envelope([])))
    )
    client = make_client(exchange, clock=ServerClock(local_ms=lambda: now[0]))

    assert client.sync_clock() == 2021
    client.balances()
    now[0] += 601_000
    client.balances()

    assert exchange.paths().count("GET /api/v2/server/time") == 2


def test_a_private_call_without_credentials_names_both_settings_and_sends_nothing() -> None:
    exchange = Exchange()
    client = make_client(exchange, key="", secret="")

    with pytest.raises(ConfigurationError) as caught:
        client.balances()

    assert "BTCTURK_API_KEY" in str(caught.value)
    assert "BTCTURK_API_SECRET" in str(caught.value)
    assert exchange.requests == []
    assert not client.has_credentials


# --- retries and rate limits (reads) -------------------------------------------------------


def test_a_get_is_retried_after_a_503_with_a_token_per_attempt() -> None:
    sleeps: list[float] = []
    limiter = FakeLimiter()
    exchange = Exchange().on(
        "GET",
        "/api/v2/ticker",
        reply(503, b"Service Unavailable"),
        reply(200, load("rest_ticker_btcusdt_ccxt_captured_20260914.json")),
    )

    (ticker,) = make_client(exchange, limiter=limiter, sleeps=sleeps).tickers([BTC_USDT])

    assert ticker.last == D("79152")
    assert len(exchange.requests) == 2
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= POLICY.base_delay_s
    assert limiter.calls == [("acquire", "ticker", "public")] * 2


def test_a_get_is_retried_after_a_timeout() -> None:
    exchange = Exchange().on(
        "GET",
        "/api/v2/server/time",
        httpx.ReadTimeout("slow"),
        reply(200, load("rest_server_time_outlier_20210214.json")),
    )

    assert make_client(exchange).server_time_ms() == 1613313462021
    assert len(exchange.requests) == 2


def test_a_429_waits_for_retry_after_and_penalizes_the_bucket() -> None:
    sleeps: list[float] = []
    limiter = FakeLimiter()
    exchange = Exchange().on(
        "GET",
        "/api/v1/users/balances",
        reply(429, load("docs_rest_429_ip_block.json"), {"Retry-After": "3"}),
        reply(200, envelope(load("rest_balances_data_outlier_2021.json"))),
    )

    balances = make_client(exchange, limiter=limiter, sleeps=sleeps).balances()

    assert "BTC" in balances
    assert sleeps == [3.0]
    assert ("penalize", "balances", IDENTITY, 3.0) in limiter.calls
    assert [c for c in limiter.calls if c[0] == "acquire"] == [
        ("acquire", "balances", IDENTITY)
    ] * 2


def test_a_get_gives_up_after_max_attempts_with_the_last_retryable_error() -> None:
    sleeps: list[float] = []
    exchange = Exchange().on("GET", "/api/v2/orderbook", reply(503, {"message": "delayed"}))

    with pytest.raises(RetryableError) as caught:
        make_client(exchange, sleeps=sleeps).order_book(BTC_TRY)

    assert caught.value.http_status == 503
    assert len(exchange.requests) == POLICY.max_attempts
    assert len(sleeps) == POLICY.max_attempts - 1


def test_a_retry_after_beyond_the_wait_budget_gives_up_at_once() -> None:
    exchange = Exchange().on("GET", "/api/v2/ticker", reply(429, {}, {"Retry-After": "600"}))

    with pytest.raises(RateLimited) as caught:
        make_client(exchange).tickers()

    assert caught.value.retry_after == 600.0
    assert len(exchange.requests) == 1


def test_a_malformed_payload_on_a_get_is_not_retried() -> None:
    exchange = Exchange().on(
        "GET", "/api/v1/users/balances", reply(200, b"<html>maintenance</html>")
    )

    with pytest.raises(PayloadError):
        make_client(exchange).balances()

    assert len(exchange.requests) == 1


# --- errors ---------------------------------------------------------------------------------


def test_http_401_is_an_authentication_error_and_not_retried() -> None:
    exchange = Exchange().on(
        "GET", "/api/v1/users/balances", reply(401, {"message": "Invalid Signature"})
    )

    with pytest.raises(AuthenticationError) as caught:
        make_client(exchange).balances()

    assert caught.value.http_status == 401
    assert len(exchange.requests) == 1


def test_code_1037_with_success_true_is_an_authentication_error() -> None:
    exchange = Exchange().on(
        "GET",
        "/api/v1/openOrders",
        reply(200, load("rest_error_invalid_nonce_code1037_issue147_2019.json")),
    )

    with pytest.raises(AuthenticationError) as caught:
        make_client(exchange).open_orders(BTC_TRY)

    assert caught.value.code == 1037
    assert len(exchange.requests) == 1


def test_an_unknown_order_is_order_not_found() -> None:
    exchange = Exchange().on(
        "GET", "/api/v1/order/42", reply(400, load("docs_rest_single_order_not_found.json"))
    )

    with pytest.raises(OrderNotFound):
        make_client(exchange).order("42")


def test_cancelling_an_unknown_order_is_order_not_found() -> None:
    exchange = Exchange().on(
        "DELETE",
        "/api/v1/order",
        reply(400, {"success": False, "message": "NO_ORDER_MATCHES_YOUR_REQUEST", "code": 0}),
    )

    with pytest.raises(OrderNotFound):
        make_client(exchange).cancel_order("42")

    assert len(exchange.requests) == 1


def test_an_order_reject_carries_the_btcturk_code() -> None:
    exchange = Exchange().on(
        "POST",
        "/api/v1/order",
        reply(400, {"success": False, "message": "FAILED_MIN_TOTAL_AMOUNT", "code": 1123}),
    )

    with pytest.raises(OrderRejected) as caught:
        make_client(exchange).submit_order(limit_buy())

    assert caught.value.code == 1123
    assert caught.value.reason == "FAILED_MIN_TOTAL_AMOUNT"
    assert len(exchange.requests) == 1


def test_a_cancel_the_exchange_refuses_is_rejected() -> None:
    exchange = Exchange().on(
        "DELETE",
        "/api/v1/order",
        reply(400, {"success": False, "message": "ORDER_COULD_NOT_BE_CANCELED", "code": 0}),
    )

    with pytest.raises(OrderRejected):
        make_client(exchange).cancel_order("7")


# --- writes: uncertain outcomes, never retried ---------------------------------------------


def test_it_reports_a_post_timeout_as_uncertain_and_sends_once() -> None:
    sleeps: list[float] = []
    limiter = FakeLimiter()
    exchange = Exchange().on("POST", "/api/v1/order", httpx.ReadTimeout("no answer"))
    request = limit_buy("mv-timeout-1")

    with pytest.raises(OutcomeUncertain) as caught:
        make_client(exchange, limiter=limiter, sleeps=sleeps).submit_order(request)

    assert caught.value.client_order_id == "mv-timeout-1"
    assert len(exchange.requests) == 1
    assert sleeps == []
    # the httpx error (which holds the signed request) is not chained onto ours
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True
    assert limiter.calls == [("acquire", "order_write", IDENTITY)]


def test_it_reports_a_post_500_as_uncertain_and_sends_once() -> None:
    exchange = Exchange().on("POST", "/api/v1/order", reply(500, {"message": "Internal"}))

    with pytest.raises(OutcomeUncertain) as caught:
        make_client(exchange).submit_order(limit_buy("mv-500"))

    assert (caught.value.client_order_id, caught.value.http_status) == ("mv-500", 500)
    assert len(exchange.requests) == 1


def test_it_reports_a_delete_timeout_as_uncertain_with_the_order_id() -> None:
    exchange = Exchange().on("DELETE", "/api/v1/order", httpx.WriteTimeout("stalled"))

    with pytest.raises(OutcomeUncertain) as caught:
        make_client(exchange).cancel_order("2606935102")

    assert caught.value.order_id == "2606935102"
    assert len(exchange.requests) == 1


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, b"<html>oops</html>"),
        reply(200, b'{"success": true, "code": 0, "data": {"id": 1'),
        reply(200, envelope({"datetime": 1})),
        reply(200, {"success": True, "message": "odd", "code": 12}),
        reply(302, b"", {"Location": "https://elsewhere"}),
    ],
    ids=["html", "truncated-json", "no-id", "unknown-code", "redirect"],
)
def test_an_unreadable_answer_to_a_post_is_uncertain(answer: Callable) -> None:
    exchange = Exchange().on("POST", "/api/v1/order", answer)

    with pytest.raises(OutcomeUncertain) as caught:
        make_client(exchange).submit_order(limit_buy("mv-garbled"))

    assert caught.value.client_order_id == "mv-garbled"
    assert len(exchange.requests) == 1


def test_an_uncertain_submit_keeps_the_order_id_it_could_read() -> None:
    exchange = Exchange().on("POST", "/api/v1/order", reply(200, envelope({"id": "2606935102"})))

    with pytest.raises(OutcomeUncertain) as caught:
        make_client(exchange).submit_order(limit_buy("mv-partial"))

    assert (caught.value.client_order_id, caught.value.order_id) == ("mv-partial", "2606935102")


def test_a_refused_connection_on_a_post_is_retryable_but_not_retried() -> None:
    sleeps: list[float] = []
    exchange = Exchange().on("POST", "/api/v1/order", httpx.ConnectError("refused"))

    with pytest.raises(RetryableError) as caught:
        make_client(exchange, sleeps=sleeps).submit_order(limit_buy())

    assert not isinstance(caught.value, OutcomeUncertain)
    assert len(exchange.requests) == 1
    assert sleeps == []


def test_a_429_on_a_post_penalizes_the_write_bucket_and_is_not_retried() -> None:
    limiter = FakeLimiter()
    exchange = Exchange().on(
        "POST", "/api/v1/order", reply(429, load("docs_rest_429_ip_block.json"))
    )

    with pytest.raises(RateLimited) as caught:
        make_client(exchange, limiter=limiter).submit_order(limit_buy())

    assert caught.value.retry_after is None
    assert ("penalize", "order_write", IDENTITY, 60) in limiter.calls
    assert len(exchange.requests) == 1


# --- identity, secrets, configuration ------------------------------------------------------


def test_the_rate_limit_identity_is_a_hash_of_the_key_never_the_key() -> None:
    limiter = FakeLimiter()
    exchange = (
        Exchange()
        .on("GET", "/api/v1/users/balances", reply(200, envelope([])))
        .on("GET", "/api/v2/ticker", reply(200, envelope([])))
    )
    client = make_client(exchange, limiter=limiter)

    client.balances()
    client.tickers()

    assert [c[2] for c in limiter.calls] == [IDENTITY, "public"]
    assert client.identity == IDENTITY
    assert KEY not in repr(client)
    assert ratelimit.rate_limit_identity(KEY) == IDENTITY


def test_logs_never_carry_the_key_secret_or_signature(caplog: pytest.LogCaptureFixture) -> None:
    exchange = (
        Exchange()
        .on("GET", "/api/v2/server/time", reply(200, {"serverTime": STAMP, "serverTime2": "x"}))
        .on("GET", "/api/v1/users/balances", reply(503, {}), reply(401, {"message": "no"}))
        .on("POST", "/api/v1/order", httpx.ReadTimeout("x"))
    )
    client = make_client(exchange, clock=ServerClock(local_ms=lambda: STAMP))

    with caplog.at_level(logging.DEBUG):
        with pytest.raises(AuthenticationError):
            client.balances()
        with pytest.raises(OutcomeUncertain):
            client.submit_order(limit_buy())

    assert caplog.records  # retries and the clock offset were logged
    for secret in (KEY, SECRET, SIGNATURE):
        assert secret not in caplog.text


def test_the_client_is_built_from_django_settings(settings: object) -> None:
    settings.BTCTURK_BASE_URL = "http://127.0.0.1:8765"
    settings.BTCTURK_GRAPH_URL = "http://127.0.0.1:8766"
    settings.BTCTURK_API_KEY = KEY
    settings.BTCTURK_API_SECRET = SECRET
    settings.BTCTURK_TIMEOUT_SECONDS = D("2.5")
    exchange = (
        Exchange()
        .on("GET", "/api/v1/users/balances", reply(200, envelope([])))
        .on("GET", "/v1/klines/history", reply(200, {"s": "no_data"}))
    )

    client = btcturk_client_from_settings(
        transport=httpx.MockTransport(exchange), clock=pinned_clock(STAMP), rate_limiter=None
    )
    client.balances()
    client.candles(BTC_TRY, interval_s=60, start_ms=0, end_ms=60_000)

    assert [str(r.url).split("?")[0] for r in exchange.requests] == [
        "http://127.0.0.1:8765/api/v1/users/balances",
        "http://127.0.0.1:8766/v1/klines/history",
    ]
    assert exchange.requests[0].headers["X-Signature"] == SIGNATURE


def test_the_context_manager_closes_the_connection_pool() -> None:
    exchange = Exchange().on("GET", "/api/v2/server/time", reply(200, {"serverTime": 1}))

    with make_client(exchange) as client:
        assert client.server_time_ms() == 1

    with pytest.raises(RuntimeError):
        client.server_time_ms()
