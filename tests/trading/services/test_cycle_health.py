"""A cycle's end, observed, against the sandbox exchange over real sockets: ``Cycle.health``,
the cycle metrics, the alert rules' hook (a lost lock) and the log context of its lines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings
from prometheus_client import REGISTRY

from meva import locks
from meva.logging import JsonFormatter
from replay.domain.dataset import load_dataset
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import Alert, Cycle
from trading.services.accounts import account_create
from trading.services.control import control_arm, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.cycle_ports import account_ports

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}
ACTOR = "command:test"
HEALTH_KEYS = {
    "clock_offset_ms",
    "last_ok_at",
    "ws_age_s",
    "rate_limit_wait_ms",
    "requests",
    "errors",
}

pytestmark = pytest.mark.django_db


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
def exchange(sandbox: SandboxServer, operator) -> Iterator[SandboxServer]:
    overrides = {
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
    reconciled_accounts_forget()
    with override_settings(**overrides):
        kill_switch_release(user=operator, reason="test")
        control_arm(user=operator, reason="test", acknowledgement=LIVE_TRADING_ACK_PHRASE)
        yield sandbox
    sandbox.faults.clear()
    reconciled_accounts_forget()


def _account(name: str, mode: str) -> None:
    account_create(
        name=name,
        mode=mode,
        strategy="mean_reversion",
        params=PARAMS,
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": Decimal(100_000)} if mode == "paper" else None,
        actor=ACTOR,
    )


def _run(sandbox: SandboxServer, name: str, **kwargs) -> Cycle:
    sandbox.advance(1)
    return cycle_run(account_name=name, actor=ACTOR, **kwargs)


def test_a_live_cycle_records_the_exchange_health_it_saw(exchange) -> None:
    _account("live", "live")
    before = REGISTRY.get_sample_value(
        "meva_cycle_step_seconds_count", {"account": "live", "step": "total"}
    )

    cycle = _run(exchange, "live")

    assert cycle.status == "completed", cycle.error
    health = cycle.health
    assert set(health) == HEALTH_KEYS
    assert isinstance(health["clock_offset_ms"], int)  # signed calls measured it
    assert abs(health["clock_offset_ms"]) < 5000
    assert datetime.fromisoformat(health["last_ok_at"]).utcoffset().total_seconds() == 0
    assert health["requests"] >= 3 and health["errors"] == 0
    assert health["ws_age_s"] is None  # the websocket feed is off in the tests
    assert health["rate_limit_wait_ms"] >= 0
    after = REGISTRY.get_sample_value(
        "meva_cycle_step_seconds_count", {"account": "live", "step": "total"}
    )
    assert after == (before or 0) + 1
    assert (
        REGISTRY.get_sample_value(
            "meva_cycle_step_seconds_count", {"account": "live", "step": "snapshot"}
        )
        >= 1
    )


def test_failed_requests_of_a_cycle_are_counted_and_it_still_completes(exchange) -> None:
    _account("flaky", "live")
    _run(exchange, "flaky")  # startup reconciliation and a first cycle
    exchange.faults.force("http5xx", count=2, arg=503, method="GET", path="/api/v1/users/balances")

    cycle = _run(exchange, "flaky")

    assert cycle.status == "completed", cycle.error
    assert cycle.health["errors"] == 2
    assert cycle.health["requests"] >= 4


def test_a_paper_cycle_without_credentials_has_no_clock_offset(exchange) -> None:
    _account("paper", "paper")
    with override_settings(BTCTURK_API_KEY="", BTCTURK_API_SECRET=""):
        cycle = _run(exchange, "paper")

    assert cycle.status == "completed", cycle.error
    assert cycle.health["clock_offset_ms"] is None
    assert cycle.health["requests"] >= 1


class _LockThief:
    """The account's ports, except that reading balances hands the cycle's lock to another
    holder (an expired lock taken over by a second worker)."""

    def __init__(self, ports, key: str) -> None:
        self._ports = ports
        self._key = key

    def __getattr__(self, name: str):
        return getattr(self._ports, name)

    @property
    def orders(self):
        thief = self

        class Orders:
            def __getattr__(self, name: str):
                return getattr(thief._ports.orders, name)

            def balances(self):
                locks._memory_locks[thief._key] = ("another-worker", locks._clock() + 600)
                return thief._ports.orders.balances()

        return Orders()


def test_a_cycle_that_lost_its_lock_raises_lock_lost(exchange, settings) -> None:
    settings.REDIS_URL = ""  # the in-process lock, which the thief can take over
    _account("stolen", "live")
    _run(exchange, "stolen")
    from trading.selectors import account_get

    ports = account_ports(account_get(name="stolen"))
    key = locks.lock_key("cycle_run:{account}", account="stolen")
    try:
        cycle = _run(exchange, "stolen", ports=_LockThief(ports, key))
    finally:
        locks._memory_locks.pop(key, None)
        ports.close()

    [alert] = Alert.objects.filter(account="stolen", kind="LOCK_LOST")
    assert alert.severity == "critical" and f"cycle {cycle.pk}" in alert.message


def test_a_cycle_s_log_lines_carry_its_account_and_cycle_id(exchange) -> None:
    _account("logged", "live")
    _run(exchange, "logged")
    lines: list[dict] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Capture(level=logging.WARNING)
    client_logger = logging.getLogger("trading.exchange.btcturk.client")
    client_logger.addHandler(handler)
    exchange.faults.force("http5xx", count=1, arg=503, method="GET", path="/api/v1/users/balances")
    try:
        cycle = _run(exchange, "logged")
    finally:
        client_logger.removeHandler(handler)

    retry = [line for line in lines if "retrying" in line["message"]]
    assert retry, lines
    assert retry[0]["account"] == "logged" and retry[0]["cycle_id"] == cycle.pk


def test_a_cycle_on_websocket_quotes_records_their_age(exchange, settings) -> None:
    from trading.domain.symbols import Symbol
    from trading.services.market_feed import market_feeds_stop, quotes_fresh

    symbols = [Symbol("BTC", "TRY"), Symbol("ETH", "TRY")]
    _account("wsfed", "paper")
    market_feeds_stop()
    settings.BTCTURK_WS_URL = exchange.ws_url
    settings.MARKET_WS_ENABLED = True
    settings.MARKET_WS_MAX_AGE_SECONDS = Decimal(5)
    now = exchange.exchange.market.now_ms
    try:
        deadline = time.monotonic() + 8
        while len(quotes_fresh(symbols=symbols, now_ms=now)) < 2:
            assert time.monotonic() < deadline, "the feed never had fresh quotes"
            time.sleep(0.02)
        cycle = cycle_run(account_name="wsfed", actor=ACTOR, now_ms=now)
    finally:
        market_feeds_stop()

    assert cycle.status == "completed", cycle.error
    assert {seen["quote_source"] for seen in cycle.market.values()} == {"ws"}
    assert isinstance(cycle.health["ws_age_s"], float)
    assert 0 <= cycle.health["ws_age_s"] <= 5
