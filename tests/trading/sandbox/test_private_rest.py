"""Private REST routes of the sandbox exchange over real sockets: authentication, orders,
rejects with BTCTurk codes, fills on submit and as bars advance, balances, order and trade
queries.

Bars of the ``mini`` dataset are described in conftest: bar 0 is closed at start; bar ``i``
of BTC_TRY opens at ``100000 + 100 i`` with low ``open - 100`` and high ``open + 150``.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from tests.trading.sandbox.conftest import (
    MINI_START_MS,
    TIMEOUT,
    Api,
    assert_same_shape,
    fixture,
    signed_headers,
)
from trading.exchange.sandbox import AccountSpec, SandboxServer, generate_credentials

PRIVATE_GETS = [
    "/api/v1/users/balances",
    "/api/v1/openOrders",
    "/api/v1/allOrders",
    "/api/v1/order/1",
    "/api/v1/users/transactions/trade",
]


@pytest.mark.parametrize("path", PRIVATE_GETS)
def test_private_routes_without_auth_headers_answer_401(sandbox: SandboxServer, path: str) -> None:
    response = httpx.get(sandbox.base_url + path, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Unauthorized - Headers are missing",
        "code": 401,
    }


@pytest.mark.parametrize("who", ["unknown key", "wrong secret", "tampered signature"])
def test_unknown_key_or_bad_signature_answers_401_invalid_signature(
    sandbox: SandboxServer, who: str
) -> None:
    other_key, other_secret = generate_credentials()
    key, secret = {
        "unknown key": (other_key, other_secret),
        "wrong secret": (sandbox.api_key, other_secret),
        "tampered signature": (sandbox.api_key, sandbox.api_secret),
    }[who]
    headers = signed_headers(key, secret)
    if who == "tampered signature":
        headers["X-Stamp"] = str(int(headers["X-Stamp"]) + 1)
    response = httpx.get(sandbox.base_url + PRIVATE_GETS[0], headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json()["message"] == "Unauthorized - Invalid Signature"
    assert response.json()["success"] is False


@pytest.mark.parametrize("offset_ms", [-6000, 6000])
def test_a_stamp_outside_five_seconds_answers_401_invalid_nonce(
    sandbox: SandboxServer, offset_ms: int
) -> None:
    stamp = time.time_ns() // 1_000_000 + offset_ms
    headers = signed_headers(sandbox.api_key, sandbox.api_secret, stamp_ms=stamp)
    response = httpx.get(sandbox.base_url + PRIVATE_GETS[0], headers=headers, timeout=TIMEOUT)
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "message": "Unauthorized - Invalid Nonce",
        "code": 1037,
    }


def test_a_stamp_four_seconds_old_is_still_accepted(sandbox: SandboxServer) -> None:
    stamp = time.time_ns() // 1_000_000 - 4000
    headers = signed_headers(sandbox.api_key, sandbox.api_secret, stamp_ms=stamp)
    response = httpx.get(sandbox.base_url + PRIVATE_GETS[0], headers=headers, timeout=TIMEOUT)
    assert response.status_code == 200


def test_balances_have_the_recorded_shape_and_list_every_dataset_asset(api: Api) -> None:
    body = api.get("/api/v1/users/balances").json()
    assert_same_shape(body["data"], fixture("rest_balances_data_outlier_2021.json"))
    rows = {row["asset"]: row for row in body["data"]}
    assert set(rows) == {"BTC", "ETH", "TRY"}
    assert (rows["TRY"]["free"], rows["TRY"]["locked"], rows["TRY"]["balance"]) == (
        "100000",
        "0",
        "100000",
    )
    assert rows["ETH"]["balance"] == "0" and rows["TRY"]["precision"] == 2


def test_a_limit_order_is_accepted_echoes_its_client_id_and_rests_untouched(api: Api) -> None:
    response = api.order(quantity="0.01", price="99000", newOrderClientId="mv-test-1")
    assert response.status_code == 200
    body = response.json()
    assert (body["success"], body["message"], body["code"]) == (True, "OK", 0)
    assert_same_shape(body, fixture("docs_rest_submit_order_response.json"), ignore={"stopPrice"})
    data = body["data"]
    assert data["newOrderClientId"] == "mv-test-1" and data["datetime"] == MINI_START_MS + 60_000
    open_body = api.get("/api/v1/openOrders", pairSymbol="BTC_TRY").json()
    assert_same_shape(open_body, fixture("docs_rest_open_orders_first_items.json"))
    [order] = open_body["data"]["bids"]
    assert open_body["data"]["asks"] == []
    assert (order["id"], order["orderClientId"], order["status"]) == (
        data["id"],
        "mv-test-1",
        "Untouched",
    )
    assert (order["price"], order["leftAmount"], order["type"]) == ("99000", "0.01", "buy")
    single = api.get(f"/api/v1/order/{data['id']}").json()
    assert_same_shape(single, fixture("docs_rest_single_order.json"))
    assert single["data"] == order
    locked = Decimal(api.balances()["TRY"]["locked"])
    assert locked == Decimal("990") * Decimal("1.00108")  # taker 9 bps + 20 % VAT on it


def test_a_client_id_already_in_use_is_refused_and_changes_nothing(api: Api) -> None:
    assert api.order(quantity="0.01", price="99000", newOrderClientId="dup").status_code == 200
    again = api.order(quantity="0.02", price="98000", newOrderClientId="dup")
    assert (again.status_code, again.json()["message"]) == (400, "FAILED_ORDER_PARAMETER")
    assert len(api.get("/api/v1/allOrders").json()["data"]) == 1


def test_an_order_without_a_client_id_gets_a_generated_one(api: Api) -> None:
    data = api.order(quantity="0.01", price="99000", newClientOrderId="ccxt-spelling").json()
    assert len(data["data"]["newOrderClientId"]) == 36  # a UUID; ccxt's key is ignored


REJECTS = [
    ({"quantity": "0.0009", "price": "100000"}, 1123, "FAILED_MIN_TOTAL_AMOUNT"),
    ({"quantity": "0.01", "price": "100005"}, 1126, "FAILED_INVALID_PRICE_SCALE"),
    ({"quantity": "0.011000001", "price": "100000"}, 1127, "FAILED_INVALID_QUANTITY_SCALE"),
    ({"quantity": "0.001", "price": "1000010"}, 1226, "PRICE_MUST_BE_LESS_THAN_MAXPRICE"),
    ({"quantity": "0.02", "price": "9990"}, 1227, "PRICE_MUST_BE_LESS_THAN_MINPRICE"),
    ({"quantity": "2", "price": "100000"}, 1122, "FAILED_ORDER_WITH_OPEN_ORDERS"),
    ({"quantity": "2", "price": "100000", "orderType": "sell"}, 1122, None),
    ({"quantity": "0.01", "price": "99000", "orderMethod": "stoplimit"}, 1134, None),
    ({"quantity": "0.01", "price": "99000", "orderType": "hold"}, 1193, None),
    ({"quantity": "abc", "price": "99000"}, 400, "FAILED_ORDER_PARAMETER"),
    ({"quantity": "0.01"}, 400, "FAILED_ORDER_PARAMETER"),
    ({"quantity": "0", "price": "99000"}, 400, "FAILED_ORDER_PARAMETER"),
    ({"quantity": "0.01", "price": "99000", "pairSymbol": "DOGETRY"}, 400, None),
    ({"quantity": "0.01", "price": "99000", "newOrderClientId": "x" * 51}, 400, None),
]


@pytest.mark.parametrize(("fields", "code", "message"), REJECTS)
def test_rejected_orders_answer_400_with_the_btcturk_code(
    api: Api, fields: dict, code: int, message: str | None
) -> None:
    response = api.order(**fields)
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == code
    if message is not None:
        assert body["message"] == message
    assert api.get("/api/v1/allOrders").json()["data"] == []  # rejects get no order id
    assert api.balances()["TRY"]["locked"] == "0"


def test_a_resting_sell_fills_when_a_bar_trades_through_it_and_balances_move(
    sandbox: SandboxServer, api: Api
) -> None:
    order_id = api.order(orderType="sell", quantity="0.01", price="100600").json()["data"]["id"]
    assert api.balances()["BTC"]["locked"] == "0.01"
    assert sandbox.advance(4) == 4  # bars 1..4: highs 100250..100550 stay below the limit
    assert api.get(f"/api/v1/order/{order_id}").json()["data"]["status"] == "Untouched"
    assert sandbox.advance(1) == 1  # bar 5: high 100650 crosses it
    order = api.get(f"/api/v1/order/{order_id}").json()["data"]
    assert (order["status"], order["leftAmount"]) == ("Closed", "0")
    assert order["updateTime"] == MINI_START_MS + 6 * 60_000  # close of bar 5
    balances = api.balances()
    charged = Decimal("1006") * Decimal("0.0006")  # maker 5 bps + 20 % VAT
    assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) + Decimal(1006) - charged
    assert (balances["BTC"]["free"], balances["BTC"]["locked"]) == ("0.99", "0")
    [trade] = api.get("/api/v1/users/transactions/trade").json()["data"]
    recorded = fixture("ws_423_usertrade_apeusdt_issue591_20241020.json")[1]
    del recorded["orderClientId"]  # the websocket 423 adds it to the REST item
    assert_same_shape(trade, recorded)
    assert (trade["orderId"], trade["orderType"], trade["price"]) == (order_id, "sell", "100600")
    assert trade["amount"] == "-0.01" and trade["preciseAmount"] == -0.01
    assert Decimal(trade["fee"]) == Decimal("-0.503") and Decimal(trade["tax"]) == Decimal(
        "-0.1006"
    )
    assert -(Decimal(trade["fee"]) + Decimal(trade["tax"])) == charged


def test_a_market_buy_spends_its_quote_amount_at_once_at_the_best_ask(api: Api) -> None:
    best_ask = api.public("/api/v2/orderbook", pairSymbol="BTCTRY").json()["data"]["asks"][0]
    assert best_ask == ["100110", "0.11432100"]  # bar 0 closed at 100050, 10 bps spread
    response = api.order(orderMethod="market", quantity="1000", price="1")
    assert response.status_code == 200
    order_id = response.json()["data"]["id"]
    order = api.get(f"/api/v1/order/{order_id}").json()["data"]
    assert (order["status"], order["method"], order["price"]) == ("Closed", "market", "100110")
    [trade] = api.get("/api/v1/users/transactions/trade", orderId=order_id).json()["data"]
    bought = Decimal(trade["amount"])
    assert bought == Decimal("0.00998901")  # floor(1000 / 100110) to 1e-8
    assert trade["timestamp"] == MINI_START_MS + 60_000  # the replay time of the submit
    spent = bought * 100110 * (1 + Decimal("0.00108"))  # taker 9 bps + VAT
    balances = api.balances()
    assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) - spent
    assert balances["TRY"]["locked"] == "0"
    assert Decimal(balances["BTC"]["free"]) == 1 + bought


def test_cancel_releases_the_lock_and_an_unknown_id_answers_no_order_matches(api: Api) -> None:
    order_id = api.order(quantity="0.01", price="99000").json()["data"]["id"]
    response = api.delete("/api/v1/order", id=order_id)
    assert response.json() == fixture("rest_cancel_order_ccxt_comment.json")
    order = api.get(f"/api/v1/order/{order_id}").json()["data"]
    assert order["status"] == "Canceled" and order["leftAmount"] == "0.01"
    assert api.balances()["TRY"]["locked"] == "0"
    assert api.get("/api/v1/openOrders").json()["data"] == {"asks": [], "bids": []}
    again = api.delete("/api/v1/order", id=order_id)
    assert (again.status_code, again.json()["message"]) == (400, "ORDER_COULD_NOT_BE_CANCELED")
    unknown = api.delete("/api/v1/order", id=42)
    assert unknown.status_code == 400
    assert unknown.json()["message"] == "NO_ORDER_MATCHES_YOUR_REQUEST"
    assert api.delete("/api/v1/order").status_code == 400


def test_get_unknown_order_answers_1152(api: Api) -> None:
    response = api.get("/api/v1/order/999")
    assert response.status_code == 400
    assert response.json() == fixture("docs_rest_single_order_not_found.json")


def test_an_account_cannot_see_or_cancel_another_accounts_order(
    sandbox: SandboxServer, api: Api
) -> None:
    key, secret = generate_credentials()
    sandbox.exchange.add_account(AccountSpec(key, secret, {"TRY": Decimal(5000)}))
    other = Api(sandbox, key, secret)
    try:
        order_id = api.order(quantity="0.01", price="99000").json()["data"]["id"]
        assert other.get(f"/api/v1/order/{order_id}").json()["code"] == 1152
        assert other.delete("/api/v1/order", id=order_id).status_code == 400
        assert other.balances()["TRY"]["free"] == "5000"
        assert api.get(f"/api/v1/order/{order_id}").json()["data"]["status"] == "Untouched"
    finally:
        other.close()


def test_all_orders_filter_by_pair_id_time_and_page_newest_first(
    sandbox: SandboxServer, api: Api
) -> None:
    first = api.order(quantity="0.01", price="99000").json()["data"]["id"]
    sandbox.advance(1)
    second = api.order(quantity="0.01", price="99010").json()["data"]["id"]
    eth = api.order(pairSymbol="ETHTRY", quantity="0.1", price="4000").json()["data"]["id"]
    ids = [o["id"] for o in api.get("/api/v1/allOrders").json()["data"]]
    assert ids == [eth, second, first]
    assert_same_shape(
        api.get("/api/v1/allOrders").json()["data"][0],
        fixture("docs_rest_open_orders_first_items.json")["data"]["asks"][0],
    )
    btc = api.get("/api/v1/allOrders", pairSymbol="BTCTRY").json()["data"]
    assert [o["id"] for o in btc] == [second, first]
    later = api.get("/api/v1/allOrders", startTime=MINI_START_MS + 120_000).json()["data"]
    assert [o["id"] for o in later] == [eth, second]
    in_seconds = api.get("/api/v1/allOrders", startTime=(MINI_START_MS + 120_000) // 1000)
    assert [o["id"] for o in in_seconds.json()["data"]] == [eth, second]
    assert [o["id"] for o in api.get("/api/v1/allOrders", orderId=second).json()["data"]] == [
        eth,
        second,
    ]
    page2 = api.get("/api/v1/allOrders", limit=2, page=2).json()["data"]
    assert [o["id"] for o in page2] == [first]


def test_user_trades_filter_by_type_symbol_pair_order_and_dates(
    sandbox: SandboxServer, api: Api
) -> None:
    buy = api.order(quantity="0.01", price="100400").json()["data"]["id"]
    sell = api.order(orderType="sell", quantity="0.01", price="100000").json()["data"]["id"]
    sandbox.advance(1)  # both marketable at bar 1's open (100100)
    trades = api.get("/api/v1/users/transactions/trade").json()
    assert trades["message"] == "SUCCESS"
    assert {t["orderId"] for t in trades["data"]} == {buy, sell}
    only_sells = api.get("/api/v1/users/transactions/trade", type="sell").json()["data"]
    assert [t["orderId"] for t in only_sells] == [sell]
    both = api.http.get(
        "/api/v1/users/transactions/trade",
        params=[("type", "buy"), ("type", "sell"), ("symbol", "btc"), ("symbol", "try")],
        headers=signed_headers(api.key, api.secret),
    ).json()["data"]
    assert len(both) == 2
    assert api.get("/api/v1/users/transactions/trade", symbol="eth").json()["data"] == []
    assert api.get("/api/v1/users/transactions/trade", pairSymbol="ETHTRY").json()["data"] == []
    by_order = api.get("/api/v1/users/transactions/trade", orderId=buy).json()["data"]
    assert [t["orderId"] for t in by_order] == [buy]
    future = api.get("/api/v1/users/transactions/trade", startDate=MINI_START_MS + 10**9)
    assert future.json()["data"] == []
