"""The project's websocket feed against the sandbox when the sandbox drops the connection:
the feed reconnects with backoff, logs in and subscribes again, resynchronises its book from a
fresh snapshot and keeps receiving private events."""

from __future__ import annotations

import queue
import random
import time
from decimal import Decimal

from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.auth import decode_secret
from trading.exchange.btcturk.client import BtcturkClient
from trading.exchange.btcturk.ws import BtcturkFeed, FeedThread, btcturk_feed_from_settings
from trading.exchange.btcturk.ws_parse import OrderInsert
from trading.exchange.sandbox import SandboxServer

BTC_TRY = Symbol("BTC", "TRY")


def wait_for(condition, *, seconds: float = 8.0, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_the_feed_recovers_from_a_dropped_websocket(sandbox: SandboxServer) -> None:
    events: queue.Queue = queue.Queue()
    feed = FeedThread(
        BtcturkFeed(
            sandbox.ws_url,
            [BTC_TRY],
            api_key=sandbox.api_key,
            secret_key=decode_secret(sandbox.api_secret),
            on_private_event=events.put_nowait,
            rng=random.Random(7),
            backoff_base_s=0.05,
            backoff_cap_s=0.2,
            max_silence_s=None,
        )
    )
    feed.start()
    try:
        wait_for(lambda: feed.order_book(BTC_TRY) is not None, what="the first snapshot")
        sandbox.faults.force("ws_drop")
        sandbox.advance(1)  # the next push meets the drop: the socket closes instead

        wait_for(lambda: feed.status().reconnects >= 1, what="a reconnect")
        wait_for(lambda: feed.order_book(BTC_TRY) is not None, what="a resynchronised book")
        assert sandbox.faults.fired["ws_drop"] == 1

        client = BtcturkClient(
            base_url=sandbox.base_url,
            graph_url=sandbox.graph_url,
            api_key=sandbox.api_key,
            api_secret=sandbox.api_secret,
            timeout_s=2,
        )
        with client:
            request = OrderRequest(
                "ws-after-drop", BTC_TRY, Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal(99000)
            )
            ack = client.submit_order(request)
            wait_for(
                lambda: feed.order_book(BTC_TRY, 100).bids == client.order_book(BTC_TRY).bids,
                what="the feed book to match REST",
            )
        event = events.get(timeout=5)
        while not isinstance(event, OrderInsert):  # anything queued before the drop
            event = events.get(timeout=5)
        assert event.order_id == ack.order_id  # private events flow on the new connection
        status = feed.status()
        assert status.connected and status.connects >= 2 and status.parse_errors == 0
    finally:
        feed.stop()


def test_the_feed_factory_signs_its_login_with_the_measured_server_clock(
    sandbox: SandboxServer, settings
) -> None:
    for name, value in sandbox.env().items():
        setattr(settings, name, value)
    settings.BTCTURK_API_SECRET = sandbox.api_secret
    settings.REDIS_URL = ""
    sandbox.faults.force("http5xx", count=1, path="/api/v2/server/time")

    feed = btcturk_feed_from_settings([BTC_TRY])

    # the factory asked the exchange for its time (meeting, and retrying past, one 503)
    assert sandbox.faults.fired["http5xx"] == 1
    assert feed.logs_in
    thread = FeedThread(feed)
    thread.start()
    try:
        wait_for(lambda: feed.status().connected, what="the logged-in connection")
        assert thread.error is None
    finally:
        thread.stop()
