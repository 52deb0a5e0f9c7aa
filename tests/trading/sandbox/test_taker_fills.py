"""Fills on submit: a marketable order takes the sandbox's current book at once, as a taker.

The ``mini`` book at start (bar 0 of BTC_TRY closed at 100050; ETH_TRY at 5005) is read
through ``GET /api/v2/orderbook``; every fill is checked against its levels. Fees: taker
9 bps, maker 5 bps, each plus 20 % VAT (reported as ``tax``).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from replay.domain.dataset import ReplayDataset
from tests.trading.sandbox.conftest import MINI_START_MS, Api
from tests.trading.sandbox.test_websocket import login, open_ws, recv
from trading.domain.orders import OrderType, Side
from trading.exchange.sandbox import (
    AccountSpec,
    SandboxExchange,
    SandboxServer,
    generate_credentials,
    start_sandbox,
)
from trading.exchange.sandbox.book import BookShape

NOW = MINI_START_MS + 60_000  # replay time at start: close of bar 0
TAKER = Decimal("0.00108")  # 9 bps + 20 % VAT
MAKER = Decimal("0.0006")  # 5 bps + 20 % VAT
Fill = tuple[Decimal, Decimal]  # (price, base quantity)


def book_side(api: Api, side: str, pair: str = "BTCTRY") -> list[Fill]:
    data = api.public("/api/v2/orderbook", pairSymbol=pair).json()["data"]
    return [(Decimal(p), Decimal(a)) for p, a in data[side]]


def trade_rows(api: Api, order_id: int) -> list[dict]:
    """The order's user trades, oldest first."""
    rows = api.get("/api/v1/users/transactions/trade", orderId=order_id).json()["data"]
    return list(reversed(rows))


def fills_of(api: Api, order_id: int) -> list[Fill]:
    return [(Decimal(t["price"]), abs(Decimal(t["amount"]))) for t in trade_rows(api, order_id)]


def order_of(api: Api, order_id: int) -> dict:
    return api.get(f"/api/v1/order/{order_id}").json()["data"]


def cost(fills: list[Fill], rate: Decimal) -> Decimal:
    return sum((p * q * (1 + rate) for p, q in fills), Decimal(0))


def test_a_marketable_limit_buy_walks_the_ask_levels_at_once(api: Api) -> None:
    asks = book_side(api, "asks")
    (p0, a0), (p1, a1), (p2, _) = asks[:3]
    quantity = a0 + a1 + Decimal("0.01")

    order_id = api.order(quantity=str(quantity), price=str(p2)).json()["data"]["id"]

    expected = [(p0, a0), (p1, a1), (p2, Decimal("0.01"))]
    assert fills_of(api, order_id) == expected
    order = order_of(api, order_id)
    assert (order["status"], order["leftAmount"], order["updateTime"]) == ("Closed", "0", NOW)
    for trade, (price, amount) in zip(trade_rows(api, order_id), expected, strict=True):
        assert trade["timestamp"] == NOW
        assert Decimal(trade["fee"]) == -price * amount * Decimal("0.0009")
        assert Decimal(trade["tax"]) == -price * amount * Decimal("0.00018")
    balances = api.balances()
    assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) - cost(expected, TAKER)
    assert balances["TRY"]["locked"] == "0"
    assert Decimal(balances["BTC"]["free"]) == 1 + quantity
    assert book_side(api, "asks") == asks  # the published book shows the replayed book


def test_a_limit_buy_stops_at_its_limit_rests_and_fills_as_maker_on_a_later_bar(
    sandbox: SandboxServer, api: Api
) -> None:
    (p0, a0), (p1, _) = book_side(api, "asks", "ETHTRY")[:2]  # 5008, 5010
    rest = Decimal("0.1")

    order_id = api.order(pairSymbol="ETHTRY", quantity=str(a0 + rest), price=str(p0)).json()
    order_id = order_id["data"]["id"]

    assert fills_of(api, order_id) == [(p0, a0)]  # the next level (p1) is above the limit
    order = order_of(api, order_id)
    assert (order["status"], Decimal(order["leftAmount"])) == ("Partial", rest)
    [bid] = api.get("/api/v1/openOrders", pairSymbol="ETHTRY").json()["data"]["bids"]
    assert bid["id"] == order_id
    assert Decimal(api.balances()["TRY"]["locked"]) == p0 * rest * (1 + TAKER)

    sandbox.advance(1)  # ETH bar 1: open 5010 above the limit, low 5000 trades through it

    assert fills_of(api, order_id) == [(p0, a0), (p0, rest)]
    maker = trade_rows(api, order_id)[1]
    assert maker["timestamp"] == NOW + 60_000  # close of bar 1
    assert Decimal(maker["fee"]) == -p0 * rest * Decimal("0.0005")
    assert Decimal(maker["tax"]) == -p0 * rest * Decimal("0.0001")
    assert order_of(api, order_id)["status"] == "Closed"
    balances = api.balances()
    spent = p0 * a0 * (1 + TAKER) + p0 * rest * (1 + MAKER)
    assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) - spent
    assert (balances["TRY"]["locked"], Decimal(balances["ETH"]["free"])) == ("0", a0 + rest)


def test_a_market_sell_walks_the_bid_levels_at_once(api: Api) -> None:
    (p0, a0), (p1, _) = book_side(api, "bids")[:2]
    quantity = a0 + Decimal("0.01")

    response = api.order(orderType="sell", orderMethod="market", quantity=str(quantity))

    order_id = response.json()["data"]["id"]
    expected = [(p0, a0), (p1, Decimal("0.01"))]
    assert fills_of(api, order_id) == expected
    order = order_of(api, order_id)
    assert (order["status"], order["price"], order["leftAmount"]) == ("Closed", str(p0), "0")
    balances = api.balances()
    received = sum((p * q * (1 - TAKER) for p, q in expected), Decimal(0))
    assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) + received
    assert (Decimal(balances["BTC"]["free"]), balances["BTC"]["locked"]) == (1 - quantity, "0")


def test_a_limit_below_the_ask_rests_untouched(sandbox: SandboxServer, api: Api) -> None:
    best_bid = book_side(api, "bids")[0][0]  # 99990, the ask is 100110

    order_id = api.order(quantity="0.01", price=str(best_bid)).json()["data"]["id"]
    sandbox.advance(1)  # bar 1's low (100000) stays above it

    assert order_of(api, order_id)["status"] == "Untouched"
    assert fills_of(api, order_id) == []
    assert Decimal(api.balances()["TRY"]["locked"]) == best_bid * Decimal("0.01") * (1 + TAKER)


def test_orders_in_one_step_share_the_book_until_the_next_step(
    sandbox: SandboxServer, api: Api
) -> None:
    key, secret = generate_credentials()
    sandbox.exchange.add_account(AccountSpec(key, secret, {"TRY": Decimal(100_000)}))
    (p0, a0), (p1, _) = book_side(api, "asks")[:2]
    with Api(sandbox, key, secret) as other:
        first = api.order(quantity=str(a0), price=str(p0)).json()["data"]["id"]
        second = other.order(quantity="0.01", price=str(p1)).json()["data"]["id"]
        assert fills_of(api, first) == [(p0, a0)]
        assert fills_of(other, second) == [(p1, Decimal("0.01"))]  # level p0 is used up

        sandbox.advance(1)
        (n0, b0) = book_side(api, "asks")[0]
        third = other.order(quantity=str(b0), price=str(n0)).json()["data"]["id"]
        assert fills_of(other, third) == [(n0, b0)]  # a new step: the full new level


def test_an_immediate_fill_pushes_451_then_441_and_423_per_level_then_453(
    sandbox: SandboxServer, api: Api
) -> None:
    (p0, a0), (p1, a1) = book_side(api, "asks", "ETHTRY")[:2]
    with open_ws(sandbox) as ws:
        recv(ws)  # banner
        login(ws, sandbox.api_key, sandbox.api_secret)
        body = {"pairSymbol": "ETHTRY", "quantity": str(a0 + a1 + Decimal("0.1"))}
        order_id = api.order(**body, price=str(p1)).json()["data"]["id"]
        partial = [recv(ws) for _ in range(6)]
        market_id = api.order(orderMethod="market", quantity="1000").json()["data"]["id"]
        market = [recv(ws) for _ in range(3)]
        resting_id = api.order(quantity="0.01", price="90000").json()["data"]["id"]
        after = recv(ws)

    assert [f[0] for f in partial] == [451, 441, 423, 441, 423, 453]
    assert all(f[1]["id"] == order_id for f in partial if f[0] in (451, 441, 453))
    assert [(f[1]["price"], f[1]["amount"]) for f in partial if f[0] == 441] == [
        (str(p0), str(a0.normalize())),
        (str(p1), str(a1.normalize())),
    ]
    rows = trade_rows(api, order_id)
    assert [f[1]["id"] for f in partial if f[0] == 423] == [t["id"] for t in rows]
    assert rows[1]["id"] == rows[0]["id"] + 1  # one trade id counter
    assert all(f[1]["timestamp"] == NOW for f in partial if f[0] == 423)
    assert partial[-1][1]["numLeft"] == "0.1"
    assert [f[0] for f in market] == [451, 441, 423]  # filled: no 453 or 452
    assert market[1][1]["id"] == market_id
    assert (after[0], after[1]["id"]) == (451, resting_id)


@pytest.fixture
def shallow(mini_dataset: ReplayDataset) -> Iterator[SandboxServer]:
    """A sandbox whose book has two levels per side."""
    server = start_sandbox(
        mini_dataset,
        balances={"TRY": Decimal(100_000), "BTC": Decimal(1)},
        depth=2,
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


def test_a_market_buy_that_exhausts_the_book_is_canceled_with_its_fills_kept(
    shallow: SandboxServer,
) -> None:
    with Api(shallow) as api, open_ws(shallow) as ws:
        recv(ws)
        login(ws, shallow.api_key, shallow.api_secret)
        asks = book_side(api, "asks")
        assert len(asks) == 2

        response = api.order(orderMethod="market", quantity="90000")

        order_id = response.json()["data"]["id"]
        frames = [recv(ws) for _ in range(6)]
        assert fills_of(api, order_id) == asks
        spent = sum((p * q for p, q in asks), Decimal(0))
        order = order_of(api, order_id)
        assert (order["status"], Decimal(order["leftAmount"])) == ("Canceled", 90000 - spent)
        assert [f[0] for f in frames] == [451, 441, 423, 441, 423, 452]
        balances = api.balances()
        assert Decimal(balances["TRY"]["free"]) == Decimal(100_000) - spent * (1 + TAKER)
        assert balances["TRY"]["locked"] == "0"


def test_a_market_sell_walks_no_further_than_5_percent_from_the_best_bid(
    mini_dataset: ReplayDataset,
) -> None:
    key, secret = generate_credentials()
    exchange = SandboxExchange(
        mini_dataset,
        accounts=[AccountSpec(key, secret, {"BTC": Decimal(1)})],
        shape=BookShape(level_gap_bps=Decimal(300)),  # levels 3 % apart
    )
    symbol = exchange.market.symbol_for("BTCTRY")
    bids = exchange.market.book(symbol).bids

    outcome = exchange.submit_order(
        key,
        symbol=symbol,
        side=Side.SELL,
        method=OrderType.MARKET,
        quantity=Decimal(1),
        price=None,
        client_order_id="sell-all",
    )

    taken = [(t.price, t.quantity) for t in outcome.trades]
    assert taken == list(bids[:2])  # the third level is 6 % below the best bid
    assert [f[0] for f in outcome.frames] == [451, 441, 423, 441, 423, 452]
    balance = exchange.account(key).venue.balance("BTC")
    assert (balance.free, balance.locked) == (1 - bids[0][1] - bids[1][1], 0)
