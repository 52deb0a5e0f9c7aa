"""Our own BTCTurk adapters against the sandbox: the REST client (``BtcturkClient``, the
``ExchangeClient`` port) and the websocket feed (``BtcturkFeed``), unchanged, over sockets."""

from __future__ import annotations

import queue
import time
from decimal import Decimal

import pytest

from tests.trading.sandbox.conftest import MINI_START_MS, btc_bar
from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.auth import decode_secret
from trading.exchange.btcturk.client import BtcturkClient
from trading.exchange.btcturk.ws import BtcturkFeed, FeedThread
from trading.exchange.btcturk.ws_parse import OrderInsert, UserOrderMatch, UserTrade
from trading.exchange.errors import OrderNotFound, OrderRejected, OutcomeUncertain
from trading.exchange.sandbox import SandboxServer

BTC_TRY = Symbol("BTC", "TRY")
ETH_TRY = Symbol("ETH", "TRY")


def client_for(sandbox: SandboxServer) -> BtcturkClient:
    return BtcturkClient(
        base_url=sandbox.base_url,
        graph_url=sandbox.graph_url,
        api_key=sandbox.api_key,
        api_secret=sandbox.api_secret,
        timeout_s=2,
    )


def limit(coid: str, side: Side, quantity: str, price: str) -> OrderRequest:
    return OrderRequest(coid, BTC_TRY, side, OrderType.LIMIT, Decimal(quantity), Decimal(price))


def test_the_rest_client_reads_market_data_and_trades_through_the_port(
    sandbox: SandboxServer, mini_dataset
) -> None:
    with client_for(sandbox) as client:
        book = client.exchange_rules()
        assert book.rules == mini_dataset.rules and book.skipped == {}
        [ticker] = client.tickers([BTC_TRY])
        assert (ticker.last, ticker.ts_ms) == (btc_bar(0)[3], MINI_START_MS + 60_000)
        assert client.order_book(BTC_TRY, depth=5).bids[0].price == ticker.bid
        assert len(client.recent_trades(BTC_TRY, limit=3)) == 3
        [candle] = client.candles(BTC_TRY, interval_s=60, start_ms=0, end_ms=2**42)
        assert candle.open == btc_bar(0)[0]
        assert abs(client.server_time_ms() - time.time_ns() // 1_000_000) < 1000

        ack = client.submit_order(limit("mv-1", Side.SELL, "0.01", "100600"))
        assert ack.client_order_id == "mv-1" and ack.ts_ms == MINI_START_MS + 60_000
        [resting] = client.open_orders(BTC_TRY)
        assert (resting.order_id, resting.status) == (ack.order_id, OrderStatus.OPEN)
        assert client.balances()["BTC"].locked == Decimal("0.01")
        sandbox.advance(5)
        assert client.order(ack.order_id).status is OrderStatus.FILLED
        [fill] = client.user_trades(since_ms=0)
        assert (fill.order_id, fill.price, fill.quantity) == (ack.order_id, 100600, Decimal("0.01"))
        assert fill.fee + fill.tax == Decimal("1006") * Decimal("0.0006")
        assert [o.order_id for o in client.all_orders(BTC_TRY)] == [ack.order_id]


def test_the_rest_client_classifies_sandbox_errors_like_btcturk_errors(
    sandbox: SandboxServer,
) -> None:
    with client_for(sandbox) as client:
        with pytest.raises(OrderRejected) as rejected:
            client.submit_order(limit("mv-2", Side.BUY, "0.0009", "100000"))
        assert rejected.value.code == 1123
        with pytest.raises(OrderNotFound):
            client.cancel_order("123")
        with pytest.raises(OrderNotFound):
            client.order("123")
        sandbox.faults.force("order_timeout", arg="drop")
        with pytest.raises(OutcomeUncertain):
            client.submit_order(limit("mv-3", Side.BUY, "0.01", "99000"))
        [recorded] = client.open_orders(BTC_TRY)  # reconcile by client order id
        assert recorded.client_order_id == "mv-3"


def test_the_websocket_feed_keeps_books_in_sync_and_gets_private_events(
    sandbox: SandboxServer,
) -> None:
    events: queue.Queue = queue.Queue()
    feed = FeedThread(
        BtcturkFeed(
            sandbox.ws_url,
            [BTC_TRY, ETH_TRY],
            api_key=sandbox.api_key,
            secret_key=decode_secret(sandbox.api_secret),
            on_private_event=events.put_nowait,
            max_silence_s=None,
        )
    )
    feed.start()
    try:
        with client_for(sandbox) as client:
            deadline = time.monotonic() + 5
            while feed.order_book(BTC_TRY) is None and time.monotonic() < deadline:
                time.sleep(0.02)
            assert feed.order_book(BTC_TRY, 100).bids == client.order_book(BTC_TRY).bids
            best_ask = client.order_book(BTC_TRY).best_ask
            client.submit_order(limit("ws-1", Side.BUY, "0.01", "100400"))
            received = [events.get(timeout=5) for _ in range(3)]
            assert [type(e) for e in received] == [OrderInsert, UserOrderMatch, UserTrade]
            assert received[2].report.price == best_ask  # marketable: takes the ask at once
            sandbox.advance(2)
            deadline = time.monotonic() + 5
            rest = client.order_book(BTC_TRY)
            while feed.order_book(BTC_TRY, 100).asks != rest.asks:
                assert time.monotonic() < deadline, "feed book never caught up"
                time.sleep(0.02)
            status = feed.status()
            assert (status.resyncs, status.parse_errors, status.reconnects) == (0, 0, 0)
    finally:
        feed.stop()
