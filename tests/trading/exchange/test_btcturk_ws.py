"""BtcturkFeed over real loopback sockets against a small scripted BTCTurk websocket server."""

from __future__ import annotations

import asyncio
import base64
import json
import queue
import random
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.server import Server, ServerConnection, serve

from trading.domain.orders import Side
from trading.domain.reports import BookLevel
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.auth import signature_valid, ws_login_frame
from trading.exchange.btcturk.ws import (
    Backoff,
    BtcturkFeed,
    ConnectLimiter,
    FeedThread,
    btcturk_feed_from_settings,
    subscription_frame,
)
from trading.exchange.btcturk.ws_parse import OrderInsert, UserTrade
from trading.exchange.errors import AuthenticationError, ConfigurationError

BTC_TRY = Symbol("BTC", "TRY")
API_KEY = "test-public-key"
SECRET = b"0123456789abcdef0123456789abcdef"
START_MS = 1_700_000_000_000
D = Decimal
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"


def fixture_frame(name: str) -> list[Any]:
    return json.loads((FIXTURES / name).read_text())


class ScriptedExchange:
    """Speaks just enough BTCTurk: 991 banner, 114 login, 151 acks, 431 on obdiff join, 402 on
    ticker join. Tests push further frames with :meth:`push` and drop the link with :meth:`drop`.
    """

    def __init__(self, *, login_ok: bool = True, ack: bool = True, refuse: bool = False) -> None:
        self.login_ok = login_ok
        self.ack = ack
        self.refuse = refuse
        self.received: list[list[Any]] = []  # frames received, one list per connection
        self.changeset = 100
        self.bids = [("100", "1"), ("99", "2")]
        self.asks = [("101", "1"), ("102", "3")]
        self.withhold_snapshots = 0  # obdiff joins answered without a 431
        self.snapshot_gate: asyncio.Event | None = None
        self.connection: ServerConnection | None = None
        self.server: Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def handler(self, ws: ServerConnection) -> None:
        frames: list[list[Any]] = []
        self.received.append(frames)
        self.connection = ws
        await self.send(ws, [991, {"type": 991, "current": "5.1.0", "min": "2.3.0"}])
        async for text in ws:
            frame = json.loads(text)
            frames.append(frame)
            code, payload = frame
            if code == 114:
                ok = self.login_ok and signature_valid(
                    payload["publicKey"], SECRET, str(payload["nonce"]), payload["signature"]
                )
                message = None if ok else "Unauthorized - Invalid Public key"
                await self.send(ws, [114, {"type": 114, "ok": ok, "id": 0, "message": message}])
            elif code == 151:
                await self.subscription(ws, payload)

    async def subscription(self, ws: ServerConnection, payload: dict[str, Any]) -> None:
        channel, pair, join = payload["channel"], payload["event"], payload["join"]
        if self.refuse:
            await self.send(ws, [100, {"type": 100, "ok": False, "message": "invalid pair"}])
            return
        if self.ack:
            verb = "join" if join else "leave"
            message = f"{verb}|{channel}:{pair}"
            await self.send(ws, [100, {"type": 100, "ok": True, "message": message}])
        if join and channel == "obdiff":
            if self.withhold_snapshots:
                self.withhold_snapshots -= 1
                return
            if self.snapshot_gate is None:
                await self.send(ws, self.snapshot(pair))
            else:  # keep reading frames while the snapshot is held back
                self.tasks.add(asyncio.create_task(self.gated_snapshot(ws, pair)))
        elif join and channel == "ticker":
            await self.send(
                ws, [402, {"type": 402, "PS": pair, "LA": "100.5", "B": "100", "A": "101"}]
            )

    async def gated_snapshot(self, ws: ServerConnection, pair: str) -> None:
        assert self.snapshot_gate is not None
        await self.snapshot_gate.wait()
        await self.send(ws, self.snapshot(pair))

    def snapshot(self, pair: str) -> list[Any]:
        def rows(levels: list[tuple[str, str]]) -> list[dict[str, str]]:
            return [{"P": price, "A": amount} for price, amount in levels]

        payload = {"CS": self.changeset, "PS": pair, "BO": rows(self.bids), "AO": rows(self.asks)}
        return [431, {**payload, "channel": "obdiff", "event": pair, "type": 431}]

    async def diff(self, changeset: int, *, bids=(), asks=()) -> None:
        def rows(changes) -> list[dict[str, Any]]:
            return [{"CP": cp, "P": price, "A": amount} for cp, price, amount in changes]

        payload = {"CS": changeset, "PS": "BTCTRY", "BO": rows(bids), "AO": rows(asks)}
        await self.push([432, {**payload, "channel": "obdiff", "event": "BTCTRY", "type": 432}])

    async def push(self, frame: list[Any]) -> None:
        assert self.connection is not None
        await self.send(self.connection, frame)

    async def drop(self) -> None:
        assert self.connection is not None
        await self.connection.close(code=1011, reason="scripted drop")

    @staticmethod
    async def send(ws: ServerConnection, frame: list[Any]) -> None:
        await ws.send(json.dumps(frame))


class FakeClock:
    def __init__(self) -> None:
        self.now_ms = START_MS

    def __call__(self) -> int:
        return self.now_ms


def make_feed(exchange: ScriptedExchange, **options: Any) -> BtcturkFeed:
    defaults: dict[str, Any] = {
        "api_key": API_KEY,
        "secret_key": SECRET,
        "clock": FakeClock(),
        "rng": random.Random(7),
        "backoff_base_s": 0.01,
        "backoff_cap_s": 0.05,
        "reply_timeout_s": 2.0,
        "housekeeping_s": 0.02,
    }
    return BtcturkFeed(exchange.url, [BTC_TRY], **{**defaults, **options})


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 3.0) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            while not check():
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for: {what}") from None


def scenario(
    exchange: ScriptedExchange, body: Callable[[ScriptedExchange], Awaitable[None]]
) -> None:
    """Serve ``exchange`` on a free loopback port and run ``body`` under a hard time limit."""

    async def main() -> None:
        async with asyncio.timeout(8), serve(exchange.handler, "127.0.0.1", 0) as server:
            exchange.server = server
            try:
                await body(exchange)
            finally:
                if exchange.snapshot_gate is not None:  # never leave a handler waiting
                    exchange.snapshot_gate.set()

    asyncio.run(main())


async def stopped(feed: BtcturkFeed, task: asyncio.Task[None]) -> None:
    feed.stop()
    await asyncio.wait_for(task, 3)


def book_prices(feed: BtcturkFeed) -> tuple[list[Decimal], list[Decimal]] | None:
    book = feed.order_book(BTC_TRY)
    if book is None:
        return None
    return [level.price for level in book.bids], [level.price for level in book.asks]


def test_it_logs_in_subscribes_and_builds_the_book_from_the_snapshot_and_diffs() -> None:
    events: list[Any] = []

    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, on_private_event=events.append)
        task = asyncio.create_task(feed.run())
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "first snapshot")

        await exchange.diff(101, bids=[(1, "100.5", "2")], asks=[(3, "101", "1")])
        await exchange.diff(102, asks=[(0, "102", "0.5")])
        await eventually(
            lambda: (
                feed.status().out_of_sync == ()
                and book_prices(feed) == ([D("100.5"), D(100), D(99)], [D(102)])
            ),
            "diffs applied",
        )
        zeroed = [451, {"type": 451, "id": 0, "symbol": "BTCTRY", "newOrderClientId": None}]
        await exchange.push(zeroed)
        await exchange.push(fixture_frame("ws_451_orderinsert_arpausdt_issue592_20241020.json"))
        await exchange.push(fixture_frame("ws_423_usertrade_apeusdt_issue591_20241020.json"))
        await eventually(lambda: len(events) == 2, "private events")

        book = feed.order_book(BTC_TRY, depth=1)
        status = feed.status()
        await stopped(feed, task)
        assert exchange.received == [
            [
                ws_login_frame(API_KEY, SECRET, timestamp_ms=START_MS),
                subscription_frame("obdiff", "BTCTRY", join=True),
                subscription_frame("ticker", "BTCTRY", join=True),
            ]
        ]
        assert exchange.received[0][1] == [
            151,
            {"type": 151, "channel": "obdiff", "event": "BTCTRY", "join": True},
        ]
        assert book.bids == (BookLevel(D("100.5"), D(2)),)
        assert book.asks == (BookLevel(D(102), D("0.5")),)
        assert feed.ticker(BTC_TRY).last == D("100.5")
        assert [type(event) for event in events] == [OrderInsert, UserTrade]
        assert events[1].report.side is Side.SELL
        assert (status.connected, status.connects, status.reconnects, status.resyncs) == (
            True,
            1,
            0,
            0,
        )
        assert status.server_version == "5.1.0"
        assert feed.status().connected is False

    scenario(ScriptedExchange(), body)


def test_a_changeset_gap_resubscribes_the_book_and_resyncs_from_a_fresh_snapshot() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, channels=["obdiff"])
        task = asyncio.create_task(feed.run())
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "first snapshot")
        exchange.changeset = 500
        exchange.bids = [("95", "1")]

        await exchange.diff(103, bids=[(1, "100.5", "2")])  # 101 and 102 were lost
        await eventually(lambda: feed.status().resyncs == 1, "resync")
        await eventually(lambda: book_prices(feed) == ([D(95)], [D(101), D(102)]), "new snapshot")
        await exchange.diff(501, bids=[(1, "96", "1")])
        await eventually(lambda: book_prices(feed) == ([D(96), D(95)], [D(101), D(102)]), "diff")

        await stopped(feed, task)
        assert exchange.received[0][-2:] == [
            subscription_frame("obdiff", "BTCTRY", join=False),
            subscription_frame("obdiff", "BTCTRY", join=True),
        ]
        assert len(exchange.received) == 1
        assert feed.status().reconnects == 0

    scenario(ScriptedExchange(), body)


def test_a_snapshot_that_never_arrives_is_asked_for_again() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        exchange.withhold_snapshots = 1
        feed = make_feed(exchange, channels=["obdiff"], resync_timeout_s=0.1)
        task = asyncio.create_task(feed.run())

        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "snapshot after retry")

        await stopped(feed, task)
        joins = [f for f in exchange.received[0] if f[0] == 151 and f[1]["join"]]
        assert len(joins) == 2
        assert feed.status().resyncs == 1

    scenario(ScriptedExchange(), body)


def test_a_dropped_connection_reconnects_resubscribes_and_waits_for_a_new_snapshot() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange)
        task = asyncio.create_task(feed.run())
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "first snapshot")
        exchange.snapshot_gate = asyncio.Event()
        exchange.changeset = 900
        exchange.asks = [("105", "1")]

        await exchange.drop()
        await eventually(
            lambda: len(exchange.received) == 2 and len(exchange.received[1]) == 3, "resubscribed"
        )
        assert feed.order_book(BTC_TRY) is None
        assert feed.status().out_of_sync == (BTC_TRY,)
        assert feed.stale_symbols(max_age_ms=60_000) == [BTC_TRY]
        exchange.snapshot_gate.set()
        await eventually(lambda: book_prices(feed) == ([D(100), D(99)], [D(105)]), "resynced")

        status = feed.status()
        await stopped(feed, task)
        assert [frame[0] for frame in exchange.received[1]] == [114, 151, 151]
        assert exchange.received[1] == exchange.received[0]
        assert (status.connects, status.reconnects, status.connected) == (2, 1, True)
        assert "scripted drop" in status.last_error

    scenario(ScriptedExchange(), body)


def test_a_refused_login_raises_authentication_error_without_reconnecting() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange)

        with pytest.raises(AuthenticationError, match="Invalid Public key"):
            await feed.run()

        await asyncio.sleep(0.1)  # room for a reconnect that must not happen
        assert len(exchange.received) == 1
        assert [frame[0] for frame in exchange.received[0]] == [114]
        assert feed.status().connects == 1

    scenario(ScriptedExchange(login_ok=False), body)


def test_a_wrong_secret_is_refused_by_the_signature_check_and_is_fatal() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, secret_key=b"not-the-secret")

        with pytest.raises(AuthenticationError):
            await feed.run()

        assert len(exchange.received) == 1

    scenario(ScriptedExchange(), body)


def test_missing_subscription_acks_reconnect_with_backoff_within_the_connect_limit() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, reply_timeout_s=0.05, max_connects_per_minute=3)
        task = asyncio.create_task(feed.run())

        await eventually(lambda: len(exchange.received) == 3, "three attempts")
        await asyncio.sleep(0.3)  # the limiter holds the fourth attempt back

        assert len(exchange.received) == 3
        assert "no 100 ack" in feed.status().last_error
        await stopped(feed, task)

    scenario(ScriptedExchange(ack=False), body)


def test_a_refused_subscription_is_a_fatal_configuration_error() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange)

        with pytest.raises(ConfigurationError, match="invalid pair"):
            await feed.run()

        assert len(exchange.received) == 1

    scenario(ScriptedExchange(refuse=True), body)


def test_a_malformed_book_frame_is_dropped_and_the_book_resynced() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, channels=["obdiff"])
        task = asyncio.create_task(feed.run())
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "first snapshot")

        await exchange.diff(101, bids=[(1, "1,5", "2")])
        await eventually(lambda: feed.status().resyncs == 1, "resync")
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "fresh snapshot")

        status = feed.status()
        await stopped(feed, task)
        assert status.parse_errors == 1
        assert status.last_error.startswith("websocket: 432.BO[0].P")
        assert exchange.received[0][-2:] == [
            subscription_frame("obdiff", "BTCTRY", join=False),
            subscription_frame("obdiff", "BTCTRY", join=True),
        ]

    scenario(ScriptedExchange(), body)


def test_staleness_is_reported_after_silence_using_the_injected_clock() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        clock = FakeClock()
        feed = make_feed(exchange, clock=clock)
        task = asyncio.create_task(feed.run())
        await eventually(lambda: feed.ticker(BTC_TRY) is not None, "ticker")
        await eventually(lambda: feed.order_book(BTC_TRY) is not None, "book")

        fresh = feed.stale_symbols(max_age_ms=30_000)
        clock.now_ms += 30_001
        stale = feed.stale_symbols(max_age_ms=30_000)
        status = feed.status()

        await stopped(feed, task)
        assert (fresh, stale) == ([], [BTC_TRY])
        assert status.last_message_age_ms == 30_001
        assert feed.stale_symbols(START_MS, max_age_ms=30_000) == [BTC_TRY]  # disconnected

    scenario(ScriptedExchange(), body)


def test_a_silent_link_is_dropped_and_reconnected() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, max_silence_s=0.15)
        task = asyncio.create_task(feed.run())

        await eventually(lambda: len(exchange.received) >= 2, "reconnect after silence")

        await stopped(feed, task)
        assert "no message for 0.15s" in feed.status().last_error

    scenario(ScriptedExchange(), body)


def test_a_feed_thread_serves_sync_callers_and_stops() -> None:
    events: queue.Queue[Any] = queue.Queue()

    async def body(exchange: ScriptedExchange) -> None:
        feed = make_feed(exchange, on_private_event=events.put_nowait)
        thread = FeedThread(feed)
        thread.start()
        await eventually(lambda: thread.order_book(BTC_TRY) is not None, "book via thread")
        await exchange.push(fixture_frame("ws_423_usertrade_apeusdt_issue591_20241020.json"))
        event = await asyncio.to_thread(events.get, timeout=2)

        await asyncio.to_thread(thread.stop, 3)
        assert thread.alive is False
        assert thread.error is None
        assert event.report.trade_id == "1149163839863900657"
        assert thread.status().connects == 1
        assert thread.ticker(BTC_TRY).bid == D(100)

    scenario(ScriptedExchange(), body)


def test_a_feed_thread_keeps_the_fatal_error_that_ended_it() -> None:
    async def body(exchange: ScriptedExchange) -> None:
        thread = FeedThread(make_feed(exchange))
        thread.start()

        await eventually(lambda: not thread.alive, "thread ended")

        assert isinstance(thread.error, AuthenticationError)

    scenario(ScriptedExchange(login_ok=False), body)


def test_the_connect_limiter_allows_the_budget_then_waits_for_the_oldest_to_expire() -> None:
    limiter = ConnectLimiter(max_connects=3, period_s=60)
    for now in (0.0, 10.0, 20.0):
        assert limiter.wait_s(now) == 0
        limiter.record(now)

    assert limiter.wait_s(30.0) == 30.0
    assert limiter.wait_s(60.0) == 0


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    backoff = Backoff(base_s=1, cap_s=8, rng=random.Random(1))

    delays = [backoff.delay_s(attempt) for attempt in range(1, 8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8]

    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert delays == [Backoff(base_s=1, cap_s=8, rng=random.Random(1)).delay_s(1), *delays[1:]]
    assert backoff.delay_s(10_000) <= 8


def test_the_factory_reads_settings_and_logs_in_only_with_credentials(settings) -> None:
    settings.BTCTURK_WS_URL = "ws://127.0.0.1:9"
    settings.BTCTURK_API_KEY = API_KEY
    settings.BTCTURK_API_SECRET = base64.b64encode(SECRET).decode()

    # an explicit clock: without one the factory measures the server clock over REST
    private = btcturk_feed_from_settings(["BTC_TRY", Symbol("ETH", "TRY")], clock=lambda: 0)
    public = btcturk_feed_from_settings(["BTCTRY"], private=False, channels=["ticker"])
    settings.BTCTURK_API_KEY = ""

    assert (private.url, private.symbols) == ("ws://127.0.0.1:9", (BTC_TRY, Symbol("ETH", "TRY")))
    assert (private.logs_in, public.logs_in) == (True, False)
    assert public.channels == ("ticker",)
    with pytest.raises(ConfigurationError, match="BTCTURK_API_KEY"):
        btcturk_feed_from_settings(["BTC_TRY"], private=True)


@pytest.mark.parametrize(
    ("options", "error"),
    [
        ({"url": "https://example.invalid"}, ConfigurationError),
        ({"channels": ["orderbook"]}, ValueError),
        ({"api_key": "key-without-secret"}, ConfigurationError),
    ],
)
def test_the_feed_refuses_unusable_configuration(options: dict[str, Any], error: type) -> None:
    url = options.pop("url", "ws://127.0.0.1:9")

    with pytest.raises(error):
        BtcturkFeed(url, [BTC_TRY], **options)
