"""Exchange telemetry: the BTCTurk client's requests, errors and rate-limit waits reach the
Prometheus metrics and the collecting cycle's ``ExchangeStats`` (httpx.MockTransport, no
network, no sleeping)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY

from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.symbols import Symbol
from trading.exchange.btcturk.auth import ServerClock
from trading.exchange.btcturk.client import BtcturkClient
from trading.exchange.btcturk.urls import RateLimit
from trading.exchange.errors import OrderRejected
from trading.exchange.ratelimit import InProcessRateLimiter
from trading.exchange.retry import RetryPolicy
from trading.exchange.telemetry import exchange_stats_collect, last_ok_at, ws_quotes_used

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
TICKERS = json.loads(
    (FIXTURES / "rest_ticker_all_btctry_only_ccxt_captured_20260914.json").read_text()
)
VECTORS = json.loads((FIXTURES / "generated_sign_vectors_ccxt.json").read_text())["vectors"]
BTC_TRY = Symbol("BTC", "TRY")
TICKER = "GET /api/v2/ticker"
SUBMIT = "POST /api/v1/order"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def client(handler, **options) -> BtcturkClient:
    return BtcturkClient(
        transport=httpx.MockTransport(handler),
        retry_policy=RetryPolicy(max_attempts=3, base_delay_s=0, max_delay_s=0),
        sleep=lambda s: None,
        **options,
    )


def answers(*responses: tuple[int, object]):
    """A handler answering in turn (the last answer repeats); records the paths asked."""
    queue = list(responses)
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        return httpx.Response(status, json=body)

    handle.seen = seen
    return handle


def test_a_successful_read_is_timed_and_counted_in_the_collecting_cycle() -> None:
    before = value("meva_exchange_request_seconds_count", endpoint=TICKER)

    with exchange_stats_collect() as stats:
        tickers = client(answers((200, TICKERS))).tickers([BTC_TRY])

    assert [t.symbol for t in tickers] == [BTC_TRY]
    assert (stats.requests, stats.errors) == (1, 0)
    assert value("meva_exchange_request_seconds_count", endpoint=TICKER) == before + 1
    ok = last_ok_at()
    assert ok is not None and (datetime.now(UTC) - ok).total_seconds() < 5


def test_a_retried_5xx_counts_each_attempt_and_the_error_by_status() -> None:
    before = value("meva_exchange_errors_total", endpoint=TICKER, code="http_503")
    handler = answers((503, {"success": False, "message": "busy", "code": 0}), (200, TICKERS))

    with exchange_stats_collect() as stats:
        client(handler).tickers([BTC_TRY])

    assert len(handler.seen) == 2
    assert (stats.requests, stats.errors) == (2, 1)
    assert value("meva_exchange_errors_total", endpoint=TICKER, code="http_503") == before + 1


def test_an_order_reject_is_counted_by_its_btcturk_code() -> None:
    before = value("meva_exchange_errors_total", endpoint=SUBMIT, code="1123")
    vector = VECTORS[0]
    reject = {"success": False, "message": "FAILED_MIN_TOTAL_AMOUNT", "code": 1123}
    handler = answers((400, reject))
    signer = client(
        handler,
        api_key=vector["apiKey"],
        api_secret=vector["secretBase64"],
        clock=_measured_clock(),
    )
    order = OrderRequest(
        client_order_id="mv-telemetry-1",
        symbol=BTC_TRY,
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        quantity=Decimal("0.001"),
        price=Decimal(300_000),
    )

    with exchange_stats_collect() as stats, pytest.raises(OrderRejected):
        signer.submit_order(order)

    assert (stats.requests, stats.errors) == (1, 1)
    assert value("meva_exchange_errors_total", endpoint=SUBMIT, code="1123") == before + 1


def _measured_clock() -> ServerClock:
    clock = ServerClock(local_ms=lambda: 1_700_000_000_000)
    clock.record(
        sent_ms=1_700_000_000_000, received_ms=1_700_000_000_000, server_ms=1_700_000_000_250
    )
    return clock


def test_rate_limit_waits_are_summed_per_cycle_and_per_rule() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = InProcessRateLimiter(
        limits={"telemetry-rule": (RateLimit(1, 2.0),)}, clock=lambda: now[0], sleep=sleep
    )
    before = value("meva_rate_limit_wait_seconds_total", rule="telemetry-rule")

    with exchange_stats_collect() as stats:
        for _ in range(3):
            limiter.acquire("telemetry-rule", identity="public")

    assert slept == [2.0, 2.0]
    assert stats.rate_limit_wait_s == pytest.approx(4.0)
    assert value("meva_rate_limit_wait_seconds_total", rule="telemetry-rule") == before + 4.0


def test_only_the_collecting_thread_counts_and_the_oldest_ws_quote_is_kept() -> None:
    other = threading.Thread(target=lambda: client(answers((200, TICKERS))).tickers([BTC_TRY]))

    with exchange_stats_collect() as stats:
        other.start()
        other.join()
        ws_quotes_used([0.4, 2.5])
        ws_quotes_used([1.0])
        ws_quotes_used([])

    assert stats.requests == 0
    assert stats.ws_age_s == 2.5
    with exchange_stats_collect() as quiet:
        pass
    assert quiet.ws_age_s is None and quiet.requests == 0
