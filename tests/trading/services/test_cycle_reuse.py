"""Cycles reuse one BTCTurk client per process and settings, read tickers once, and keep the
equity peak on the latest snapshot; against the sandbox exchange over real sockets."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from ledger.models import EquitySnapshot
from replay.domain.dataset import load_dataset
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.domain.reports import Ticker
from trading.domain.symbols import Symbol
from trading.exchange import ratelimit
from trading.exchange.btcturk.client import (
    BtcturkClient,
    btcturk_client_shared,
    btcturk_clients_close,
)
from trading.exchange.btcturk.transport import BtcturkTransport
from trading.exchange.ratelimit import InProcessRateLimiter
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.services.accounts import account_create
from trading.services.control import control_arm, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.cycle_ports import CycleMarket
from trading.services.market import quotes_fetch

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
ACTOR = "command:test"
SANDBOX = {"warmup_steps": 40, "publish_interval_s": 3600.0}
BTC, ETH, SOL = Symbol("BTC", "TRY"), Symbol("ETH", "TRY"), Symbol("SOL", "TRY")

pytestmark = pytest.mark.django_db


def _settings(sandbox: SandboxServer) -> dict[str, object]:
    return {
        "BTCTURK_BASE_URL": sandbox.base_url,
        "BTCTURK_GRAPH_URL": sandbox.graph_url,
        "BTCTURK_API_KEY": sandbox.api_key,
        "BTCTURK_API_SECRET": sandbox.api_secret,
        "BTCTURK_API_PERMISSIONS": ["trade"],
        "TRADING_CLOCK": "exchange",
        "DRY_RUN": False,
        "KILL_SWITCH": False,
        "LIVE_TRADING": True,
        "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
    }


@pytest.fixture
def sandbox(operator, monkeypatch) -> Iterator[SandboxServer]:
    # A rate budget of its own (the real limits), so these cycles never spend the one the
    # other sandbox tests share through Redis or this process.
    limiter = InProcessRateLimiter()
    monkeypatch.setattr(ratelimit, "rate_limiter_from_settings", lambda **_: limiter)
    server = start_sandbox(load_dataset(SAMPLE), balances={"TRY": Decimal(100_000)}, **SANDBOX)
    reconciled_accounts_forget()
    btcturk_clients_close()
    with override_settings(**_settings(server)):
        kill_switch_release(user=operator, reason="test")
        control_arm(user=operator, reason="test", acknowledgement=LIVE_TRADING_ACK_PHRASE)
        yield server
    server.stop(wait=False)
    btcturk_clients_close()
    reconciled_accounts_forget()


def _account(name: str, mode: str) -> None:
    account_create(
        name=name,
        mode=mode,
        strategy="mean_reversion",
        params={"window": 10, "entry_bps": 15, "exit_bps": 5},
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": Decimal(100_000)} if mode == "paper" else None,
        actor=ACTOR,
    )


@pytest.fixture
def calls(monkeypatch) -> dict[str, int]:
    """How often the clients of this process asked for tickers and measured the clock."""
    counts = {"tickers": 0, "sync_clock": 0}
    tickers, sync_clock = BtcturkClient.tickers, BtcturkTransport.sync_clock

    def counting_tickers(self, symbols=None):
        counts["tickers"] += 1
        return tickers(self, symbols)

    def counting_sync_clock(self):
        counts["sync_clock"] += 1
        return sync_clock(self)

    monkeypatch.setattr(BtcturkClient, "tickers", counting_tickers)
    monkeypatch.setattr(BtcturkTransport, "sync_clock", counting_sync_clock)
    return counts


def test_live_cycles_share_one_client_and_measure_the_clock_offset_once(sandbox, calls) -> None:
    _account("live", "live")
    statuses = []
    for _ in range(5):
        sandbox.advance(1)
        statuses.append(cycle_run(account_name="live", actor=ACTOR).status)
        client = btcturk_client_shared()

    assert statuses == ["completed"] * 5
    assert btcturk_client_shared() is client and not client.is_closed
    assert calls["sync_clock"] == 1
    assert calls["tickers"] >= 5


class _Venue:
    def __init__(self) -> None:
        self.calls: list[tuple[Symbol, ...] | None] = []

    def tickers(self, symbols=None):
        self.calls.append(None if symbols is None else tuple(symbols))
        return tuple(
            Ticker(s, len(self.calls), Decimal(1), Decimal(1), Decimal(2)) for s in symbols
        )

    def server_time_ms(self) -> int:
        return 7


def test_the_clocks_tickers_answer_the_next_quotes_once() -> None:
    venue, now = _Venue(), [0.0]
    market = CycleMarket(venue, reuse_s=5, clock=lambda: now[0])

    clock_tickers = market.tickers_fresh([BTC, ETH])
    quotes = quotes_fetch(client=market, symbols=[BTC])
    again = quotes_fetch(client=market, symbols=[BTC])

    assert venue.calls == [(BTC, ETH), (BTC,)]
    assert quotes[BTC].ts_ms == clock_tickers[0].ts_ms == 1
    assert again[BTC].ts_ms == 2
    assert market.server_time_ms() == 7  # everything else goes to the venue


@pytest.mark.parametrize(
    ("symbols", "later_s"), [([BTC, ETH, SOL], 0.0), ([BTC], 5.5)], ids=["more", "too late"]
)
def test_held_tickers_that_miss_a_symbol_or_are_too_old_are_asked_again(symbols, later_s) -> None:
    venue, now = _Venue(), [0.0]
    market = CycleMarket(venue, reuse_s=5, clock=lambda: now[0])
    market.tickers_fresh([BTC, ETH])
    now[0] = later_s

    market.tickers(symbols)

    assert venue.calls == [(BTC, ETH), tuple(symbols)]


def test_the_shared_client_keeps_working_after_the_exchange_restarts(sandbox) -> None:
    _account("paper", "paper")
    for _ in range(3):
        sandbox.advance(1)
        assert cycle_run(account_name="paper", actor=ACTOR).status == "completed"
    client = btcturk_client_shared()
    steps = sandbox.exchange.market.steps
    sandbox.stop()

    down = cycle_run(account_name="paper", actor=ACTOR)  # the clock's tickers fail
    assert down.status == "failed"
    assert down.no_trade_reason == "CLOCK_FAILED"
    assert "RetryableError" in down.error and "Connection refused" in down.error
    again = start_sandbox(
        load_dataset(SAMPLE), accounts=sandbox.account_specs, port=sandbox.port, **SANDBOX
    )
    try:
        again.advance(steps + 1 - again.exchange.market.steps)
        up = cycle_run(account_name="paper", actor=ACTOR)
    finally:
        again.stop(wait=False)

    assert up.status == "completed", up.error
    assert btcturk_client_shared() is client


def test_a_failed_request_leaves_the_shared_client_usable(sandbox) -> None:
    _account("paper", "paper")
    sandbox.advance(1)
    assert cycle_run(account_name="paper", actor=ACTOR).status == "completed"
    client = btcturk_client_shared()
    sandbox.faults.force("http5xx", count=20, method="GET", path="/api/v2/ticker")
    sandbox.advance(1)
    failed = cycle_run(account_name="paper", actor=ACTOR)  # retried, then given up
    assert failed.status == "failed"
    assert "RetryableError" in failed.error and "HTTP 5" in failed.error
    sandbox.faults.clear()
    completed = cycle_run(account_name="paper", actor=ACTOR)

    assert completed.status == "completed", completed.error
    assert btcturk_client_shared() is client


def test_changed_settings_get_their_own_client_and_closing_makes_a_new_one(sandbox) -> None:
    first = btcturk_client_shared()
    with override_settings(BTCTURK_TIMEOUT_SECONDS=3):
        other = btcturk_client_shared()
    btcturk_clients_close()

    assert other is not first
    assert first.is_closed and other.is_closed
    assert btcturk_client_shared() is not first


def test_each_equity_snapshot_carries_the_running_peak_and_its_drawdown(sandbox) -> None:
    _account("paper", "paper")
    for _ in range(20):
        sandbox.advance(1)
        assert cycle_run(account_name="paper", actor=ACTOR).status == "completed"

    rows = list(EquitySnapshot.objects.filter(account="paper").order_by("ts"))
    peak = None
    for row in rows:
        peak = row.equity if peak is None or row.equity > peak else peak
        assert row.peak == peak
        # stored to 20 places (SQLite keeps about 15 significant digits)
        assert abs(row.drawdown_pct - (peak - row.equity) / peak * 100) < Decimal("1e-10")
    assert len({row.equity for row in rows}) > 1
