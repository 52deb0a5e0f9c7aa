"""The project's REST client against the sandbox over real sockets, under each injected fault,
and the ``doctor`` and ``sync_instruments`` commands run against the sandbox.

These are the acceptance cases of the exchange adapter: a GET meeting 5xx is retried and
succeeds; a POST that times out after the sandbox accepted the order is reported as uncertain
and is **not** sent again (exactly one order exists); a 429 is respected (the client waits at
least ``Retry-After`` and its rate limiter is drained for that long).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.core.management import call_command
from pytest_django.fixtures import Settings

from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.client import BtcturkClient
from trading.exchange.errors import OutcomeUncertain, RateLimited
from trading.exchange.ratelimit import InProcessRateLimiter, rate_limit_identity
from trading.exchange.retry import RetryPolicy
from trading.exchange.sandbox import SandboxServer
from trading.models import Instrument

BTC_TRY = Symbol("BTC", "TRY")


class RecordingSleep:
    """Stands in for ``time.sleep`` in the client's retry loop: records each wait and moves a
    fake monotonic clock (``clock``, for a rate limiter) by it instead of sleeping."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self.now = 1000.0

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def client_for(
    sandbox: SandboxServer,
    *,
    timeout_s: float = 2,
    sleep: Callable[[float], None] | None = None,
    limiter: InProcessRateLimiter | None = None,
) -> BtcturkClient:
    return BtcturkClient(
        base_url=sandbox.base_url,
        graph_url=sandbox.graph_url,
        api_key=sandbox.api_key,
        api_secret=sandbox.api_secret,
        timeout_s=timeout_s,
        retry_policy=RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05),
        sleep=sleep or RecordingSleep(),
        rate_limiter=limiter,
    )


def limit_buy(coid: str) -> OrderRequest:
    return OrderRequest(coid, BTC_TRY, Side.BUY, OrderType.LIMIT, Decimal("0.01"), Decimal(99000))


def test_a_get_meeting_two_5xx_answers_is_retried_and_succeeds(sandbox: SandboxServer) -> None:
    sleep = RecordingSleep()
    sandbox.faults.force("http5xx", count=2, method="GET", path="/api/v2/ticker")

    with client_for(sandbox, sleep=sleep) as client:
        [ticker] = client.tickers([BTC_TRY])

    assert ticker.symbol == BTC_TRY and ticker.last > 0
    assert sandbox.faults.fired["http5xx"] == 2
    assert len(sleep.waits) == 2  # two failed attempts, two backoffs, then success


def test_a_get_slower_than_the_client_timeout_is_retried_and_succeeds(
    sandbox: SandboxServer,
) -> None:
    sleep = RecordingSleep()
    sandbox.faults.force("latency", arg=1.0, method="GET", path="/api/v2/orderbook")

    with client_for(sandbox, timeout_s=0.4, sleep=sleep) as client:
        book = client.order_book(BTC_TRY, depth=5)

    assert book.best_bid is not None and book.best_ask > book.best_bid
    assert sandbox.faults.fired["latency"] == 1
    assert len(sleep.waits) == 1  # one timed-out attempt, one backoff, then success


@pytest.mark.parametrize("mode", [1.5, "drop"], ids=["answer-delayed", "connection-dropped"])
def test_a_post_that_times_out_after_acceptance_is_uncertain_and_never_resent(
    sandbox: SandboxServer, mode: float | str
) -> None:
    sleep = RecordingSleep()
    sandbox.faults.force("order_timeout", arg=mode)

    with client_for(sandbox, timeout_s=0.5, sleep=sleep) as client:
        with pytest.raises(OutcomeUncertain) as caught:
            client.submit_order(limit_buy("mv-uncertain-1"))
        orders = client.all_orders(BTC_TRY)
        open_orders = client.open_orders(BTC_TRY)

    assert caught.value.client_order_id == "mv-uncertain-1"
    assert sleep.waits == []  # no retry of any kind
    # the sandbox accepted the order exactly once; reconciliation finds it by client order id
    assert [o.client_order_id for o in orders] == ["mv-uncertain-1"]
    assert [o.client_order_id for o in open_orders] == ["mv-uncertain-1"]


def test_a_429_is_respected_by_the_retry_wait_and_the_rate_limiter(
    sandbox: SandboxServer,
) -> None:
    clock = RecordingSleep()
    limiter = InProcessRateLimiter(max_wait_s=0, clock=clock.clock, sleep=clock)
    identity = rate_limit_identity(sandbox.api_key)
    refused_while_waiting: list[float] = []

    def sleep(seconds: float) -> None:
        # while the client waits, the key's bucket is drained: a request now is refused
        try:
            limiter.acquire("balances", identity=identity)
        except RateLimited as refused:
            refused_while_waiting.append(refused.retry_after)
        clock(seconds)

    sandbox.faults.force("http429", arg=2, method="GET", path="/api/v1/users/balances")
    with client_for(sandbox, sleep=sleep, limiter=limiter) as client:
        client.sync_clock()
        balances = client.balances()

    assert balances["TRY"].free == Decimal(100_000)
    assert sandbox.faults.fired["http429"] == 1
    assert len(clock.waits) == 1 and clock.waits[0] >= 2.0  # waited out Retry-After
    assert refused_while_waiting == [pytest.approx(2.0, abs=0.01)]


@pytest.fixture
def sandbox_settings(settings: Settings, sandbox: SandboxServer) -> Settings:
    """Project settings pointing at the sandbox, with a known-safe key and mini's symbols."""
    for name, value in sandbox.env().items():
        setattr(settings, name, value)
    settings.BTCTURK_API_SECRET = sandbox.api_secret
    settings.BTCTURK_API_PERMISSIONS = ["funds", "trade", "account"]
    settings.TRADING_SYMBOLS = ["BTC_TRY", "ETH_TRY"]
    settings.REDIS_URL = os.environ.get("REDIS_URL", "")
    return settings


def run(command: str, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(command, *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


@pytest.mark.django_db
def test_doctor_runs_green_against_the_sandbox(sandbox_settings: Settings) -> None:
    code, output = run("doctor", "--json")

    checks = {c["name"]: c for c in json.loads(output)["checks"]}
    not_passing = {name: c["detail"] for name, c in checks.items() if c["status"] != "pass"}
    if sandbox_settings.REDIS_URL:
        assert not_passing == {} and code == 0
    else:  # without Redis the only warning is that locks and rate limits are per process
        assert set(not_passing) == {"redis"} and code == 1
    assert "rules for all 2 configured symbols" in checks["rules_coverage"]["detail"]
    assert checks["signed_balances"]["detail"].startswith("signed call ok")


@pytest.mark.django_db
def test_doctor_fails_when_the_sandbox_refuses_the_key(sandbox_settings: Settings) -> None:
    sandbox_settings.BTCTURK_API_SECRET = "d3Jvbmctc2VjcmV0"  # valid base64, wrong secret

    code, output = run("doctor")

    assert code == 2
    assert "FAIL signed_balances" in output and "AuthenticationError" in output


@pytest.mark.django_db
def test_sync_instruments_creates_rows_from_the_sandbox_then_reports_no_change(
    sandbox_settings: Settings, mini_dataset
) -> None:
    code, first = run("sync_instruments")
    _, second = run("sync_instruments", "--json")

    assert code == 0
    assert "2 created" in first.splitlines()[-1]
    btc = Instrument.objects.get(symbol="BTC_TRY")
    rules = mini_dataset.rules[BTC_TRY]
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (
        rules.tick_size,
        rules.step_size,
        rules.min_notional,
    )
    report = json.loads(second)
    assert report["changes"] == [] and report["unchanged"] == 2
    assert report["symbols"]["BTC_TRY"]["min_notional"] == str(rules.min_notional)
