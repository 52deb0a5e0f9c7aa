"""Top of book from the websocket feed, against the sandbox exchange over real sockets.

The sandbox replays the bundled TRY sample with a manual clock and no timer pushes, so the
feed receives its snapshots on subscribing and nothing more until a bar closes: a quote
ages on the wall clock exactly as long as a test waits. The cycle clock is the exchange's
(``TRADING_CLOCK=exchange``), given explicitly so the only REST tickers calls are for quotes.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from ledger.models import LedgerFill
from replay.domain.dataset import load_dataset
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import Account, Cycle
from trading.services.accounts import account_create
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.cycle_ports import AccountPorts, account_ports
from trading.services.market import quotes_fetch
from trading.services.market_feed import (
    THREAD_NAME,
    MarketFeeds,
    market_feeds_status,
    market_feeds_stop,
    quotes_fresh,
)

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
BTC_TRY, ETH_TRY = Symbol("BTC", "TRY"), Symbol("ETH", "TRY")
SYMBOLS = [BTC_TRY, ETH_TRY]
ACTOR = "command:test"


def feed_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME) and t.is_alive()]


def wait_for(condition: Callable[[], object], *, seconds: float = 8.0, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class CountingMarket:
    """The account's market port, recording the symbols of every REST ``tickers`` call."""

    def __init__(self, client) -> None:
        self.client = client
        self.ticker_calls: list[list[Symbol]] = []

    def tickers(self, symbols=None):
        self.ticker_calls.append(list(symbols or []))
        return self.client.tickers(symbols)

    def __getattr__(self, name: str):
        return getattr(self.client, name)


@pytest.fixture
def feeds() -> Iterator[None]:
    """Every test leaves no feed thread behind (nor finds one from an earlier test)."""
    market_feeds_stop()
    yield
    market_feeds_stop()
    assert feed_threads() == []


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    server = start_sandbox(
        load_dataset(SAMPLE),
        balances={"TRY": Decimal(100_000)},
        warmup_steps=40,
        publish_interval_s=3600.0,
    )
    yield server
    server.stop(wait=False)


@pytest.fixture
def exchange(sandbox: SandboxServer, feeds: None) -> Iterator[SandboxServer]:
    """The sandbox's settings, the websocket feed on (it is off in tests by default)."""
    overrides = {
        "BTCTURK_BASE_URL": sandbox.base_url,
        "BTCTURK_GRAPH_URL": sandbox.graph_url,
        "BTCTURK_WS_URL": sandbox.ws_url,
        "TRADING_CLOCK": "exchange",
        "MARKET_WS_ENABLED": True,
        "MARKET_WS_MAX_AGE_SECONDS": Decimal(5),
    }
    reconciled_accounts_forget()
    with override_settings(**overrides):
        yield sandbox
    reconciled_accounts_forget()


def replay_now(sandbox: SandboxServer) -> int:
    return sandbox.exchange.market.now_ms


def paper_account(name: str = "paper") -> Account:
    return account_create(
        name=name,
        mode="paper",
        strategy="mean_reversion",
        params={"window": 10, "entry_bps": 15, "exit_bps": 5},
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": Decimal(100_000)},
        actor=ACTOR,
    )


def counted_cycle(account: Account, now_ms: int) -> tuple[Cycle, CountingMarket]:
    ports: AccountPorts = account_ports(account)
    market = ports.market = CountingMarket(ports.market)
    try:
        cycle = cycle_run(account_name=account.name, actor=ACTOR, now_ms=now_ms, ports=ports)
    finally:
        ports.close()
    assert cycle.status == "completed", cycle.error
    return cycle, market


@pytest.mark.django_db
def test_a_cycle_uses_fresh_websocket_quotes_and_asks_rest_for_none_of_them(exchange) -> None:
    account = paper_account()
    now = replay_now(exchange)
    wait_for(lambda: len(quotes_fresh(symbols=SYMBOLS, now_ms=now)) == 2, what="fresh feed quotes")

    cycle, market = counted_cycle(account, now)

    assert market.ticker_calls == []
    with btcturk_client_from_settings() as client:
        rest = {t.symbol.pair_normalized: t for t in client.tickers(SYMBOLS)}
    for pair, seen in cycle.market.items():
        assert seen["quote_source"] == "ws"
        assert (seen["bid"], seen["ask"]) == (str(rest[pair].bid), str(rest[pair].ask))
        # stamped in the cycle clock's frame (replay time here), at most the limit old
        assert now - 5_000 <= seen["quote_ts"] <= now


@pytest.mark.django_db
def test_a_stale_feed_leaves_every_quote_to_rest(exchange, settings) -> None:
    account = paper_account()
    now = replay_now(exchange)
    wait_for(lambda: len(quotes_fresh(symbols=SYMBOLS, now_ms=now)) == 2, what="fresh feed quotes")
    settings.MARKET_WS_MAX_AGE_SECONDS = Decimal("0.2")
    time.sleep(0.3)  # nothing is pushed until a bar closes

    cycle, market = counted_cycle(account, now)

    assert market.ticker_calls == [SYMBOLS]
    assert {seen["quote_source"] for seen in cycle.market.values()} == {"ticker"}
    assert all(seen["quote_ts"] == now for seen in cycle.market.values())  # REST: replay time
    exchange.advance(1)  # a bar closes: new books and tickers, fresh again
    wait_for(
        lambda: len(quotes_fresh(symbols=SYMBOLS, now_ms=replay_now(exchange))) == 2,
        what="quotes fresh after the bar",
    )


@pytest.mark.django_db
def test_with_the_feed_down_from_the_start_the_cycle_completes_on_rest(exchange) -> None:
    account = paper_account()
    with override_settings(BTCTURK_WS_URL=f"ws://127.0.0.1:{closed_port()}"):
        started = time.monotonic()
        cycle, market = counted_cycle(account, replay_now(exchange))
        elapsed = time.monotonic() - started
        [status] = market_feeds_status()

    assert market.ticker_calls == [SYMBOLS]
    assert {seen["quote_source"] for seen in cycle.market.values()} == {"ticker"}
    assert status.alive and not status.connected  # still trying, in its own thread
    assert elapsed < 5  # never waits for the feed (its connect attempts back off up to 30 s)


@pytest.mark.django_db
def test_the_first_cycle_of_a_process_uses_rest_while_the_feed_connects(exchange) -> None:
    account = paper_account()
    now = replay_now(exchange)

    first, first_market = counted_cycle(account, now)
    wait_for(lambda: len(quotes_fresh(symbols=SYMBOLS, now_ms=now)) == 2, what="fresh feed quotes")
    second, second_market = counted_cycle(account, now + 60_000)

    assert first_market.ticker_calls == [SYMBOLS]
    assert {seen["quote_source"] for seen in first.market.values()} == {"ticker"}
    assert second_market.ticker_calls == []
    assert {seen["quote_source"] for seen in second.market.values()} == {"ws"}


def test_symbols_are_subscribed_on_demand_and_the_feed_is_kept_while_they_are_covered(
    exchange,
) -> None:
    now = replay_now(exchange)
    wait_for(lambda: quotes_fresh(symbols=[BTC_TRY], now_ms=now), what="a BTC_TRY quote")
    assert [s.symbols for s in market_feeds_status()] == [(BTC_TRY,)]

    assert quotes_fresh(symbols=[ETH_TRY], now_ms=now) == {}  # the new feed is connecting
    wait_for(
        lambda: set(quotes_fresh(symbols=SYMBOLS, now_ms=now)) == {BTC_TRY, ETH_TRY},
        what="quotes of both symbols",
    )
    quotes_fresh(symbols=[ETH_TRY], now_ms=now)

    [status] = market_feeds_status()
    assert status.symbols == (BTC_TRY, ETH_TRY) and status.connected
    wait_for(lambda: len(feed_threads()) == 1, what="the replaced feed to close")


def test_fresh_quotes_are_taken_as_given_and_rest_answers_only_the_others(exchange) -> None:
    now = replay_now(exchange)
    wait_for(lambda: quotes_fresh(symbols=[BTC_TRY], now_ms=now), what="a BTC_TRY quote")
    fresh = quotes_fresh(symbols=[BTC_TRY], now_ms=now)

    with btcturk_client_from_settings() as client:
        market = CountingMarket(client)
        quotes = quotes_fetch(client=market, symbols=SYMBOLS, fresh=fresh)

    assert market.ticker_calls == [[ETH_TRY]]
    assert (quotes[BTC_TRY].source, quotes[ETH_TRY].source) == ("ws", "ticker")
    assert quotes[BTC_TRY] == fresh[BTC_TRY]


def test_with_the_wall_clock_a_quote_carries_its_receive_time(exchange, settings) -> None:
    settings.TRADING_CLOCK = "wall"
    before = time.time_ns() // 1_000_000
    wait_for(lambda: quotes_fresh(symbols=[BTC_TRY], now_ms=0), what="a BTC_TRY quote")
    quote = quotes_fresh(symbols=[BTC_TRY], now_ms=0)[BTC_TRY]

    assert before <= quote.ts_ms <= time.time_ns() // 1_000_000


def test_with_the_feed_disabled_nothing_is_started(exchange, settings) -> None:
    settings.MARKET_WS_ENABLED = False

    assert quotes_fresh(symbols=SYMBOLS, now_ms=replay_now(exchange)) == {}
    assert market_feeds_status() == [] and feed_threads() == []


def test_a_dead_feed_is_started_again_after_the_pause(sandbox, feeds) -> None:
    registry = MarketFeeds(restart_after_s=0)
    try:
        first = registry.feed(sandbox.ws_url, [BTC_TRY])
        wait_for(lambda: first.status().connected, what="the first feed to connect")
        first.stop()

        second = registry.feed(sandbox.ws_url, [BTC_TRY])

        assert second is not first and second.alive and not first.alive
        wait_for(lambda: second.order_book(BTC_TRY) is not None, what="the new feed's book")
    finally:
        registry.stop()


def test_a_dead_feed_is_not_restarted_within_the_pause(sandbox, feeds) -> None:
    registry = MarketFeeds(restart_after_s=3600)
    try:
        first = registry.feed(sandbox.ws_url, [BTC_TRY])
        first.stop()

        assert registry.feed(sandbox.ws_url, [BTC_TRY]) is None
        assert [s.alive for s in registry.status()] == [False]
    finally:
        registry.stop()


def test_a_feed_refused_by_the_exchange_ends_and_leaves_quotes_to_rest(exchange) -> None:
    unlisted = Symbol("XRP", "TRY")  # the sample has no XRP_TRY: the subscription is refused
    now = replay_now(exchange)
    quotes_fresh(symbols=[BTC_TRY, unlisted], now_ms=now)
    wait_for(lambda: not market_feeds_status()[0].alive, what="the feed to end")

    assert quotes_fresh(symbols=[BTC_TRY], now_ms=now) == {}  # not restarted within the pause


def test_stopping_the_registry_ends_every_feed_thread_replaced_ones_included(exchange) -> None:
    now = replay_now(exchange)
    quotes_fresh(symbols=[BTC_TRY], now_ms=now)
    quotes_fresh(symbols=SYMBOLS, now_ms=now)  # replaces the first feed
    assert len(feed_threads()) >= 1

    market_feeds_stop()

    assert feed_threads() == [] and market_feeds_status() == []


@pytest.mark.django_db
def test_a_paper_session_on_websocket_quotes_trades_exactly_like_one_on_rest(
    exchange, settings
) -> None:
    paper_account("on_ws")
    paper_account("on_rest")
    with btcturk_client_from_settings() as client:

        def caught_up() -> bool:  # the feed has the book of the bar just closed
            now = replay_now(exchange)
            ws = quotes_fresh(symbols=SYMBOLS, now_ms=now)
            rest = {t.symbol: (t.bid, t.ask) for t in client.tickers(SYMBOLS)}
            return {s: (q.bid, q.ask) for s, q in ws.items()} == rest

        sources = []
        for _ in range(25):
            exchange.advance(1)
            settings.MARKET_WS_ENABLED = True
            wait_for(caught_up, what="the feed to show the new bar's book")
            on_ws = cycle_run(account_name="on_ws", actor=ACTOR)
            settings.MARKET_WS_ENABLED = False
            cycle_run(account_name="on_rest", actor=ACTOR)
            sources += [seen["quote_source"] for seen in on_ws.market.values()]

    def fills(name: str) -> list[tuple]:
        rows = LedgerFill.objects.filter(account=name).order_by("ts", "id")
        return [(f.symbol, f.side, f.price, f.quantity, f.fee) for f in rows]

    assert set(sources) == {"ws"}
    assert fills("on_ws")
    assert fills("on_ws") == fills("on_rest")
