"""doctor_run: each check passes, warns or fails for the right reason; the exit code is the worst."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest
from pytest_django.fixtures import Settings

from trading.domain.reports import AssetBalance
from trading.domain.rules import RulesBook, rules_from_exchangeinfo
from trading.exchange.errors import AuthenticationError, RetryableError
from trading.services.doctor import Status, doctor_run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "btcturk"
pytestmark = pytest.mark.django_db


class FakeExchange:
    """Only what doctor reads: server time, rules, balances; each may be told to fail."""

    def __init__(self, *, offset_ms: int = 0, fail: Exception | None = None) -> None:
        self.offset_ms = offset_ms
        self.fail = fail
        self.balances_error: Exception | None = None

    def server_time_ms(self) -> int:
        if self.fail:
            raise self.fail
        return time.time_ns() // 1_000_000 + self.offset_ms

    def exchange_rules(self) -> RulesBook:
        if self.fail:
            raise self.fail
        path = FIXTURES / "rest_exchangeinfo_btctry_aavetry_hummingbot_20220315.json"
        return rules_from_exchangeinfo(json.loads(path.read_text()))

    def balances(self) -> dict[str, AssetBalance]:
        if self.balances_error:
            raise self.balances_error
        return {"TRY": AssetBalance("TRY", Decimal("1000"), Decimal(0))}


@pytest.fixture
def healthy(settings: Settings) -> Settings:
    settings.BTCTURK_API_KEY = "key"
    settings.BTCTURK_API_SECRET = "c2VjcmV0"
    settings.BTCTURK_API_PERMISSIONS = ["funds", "trade"]
    settings.TRADING_SYMBOLS = ["BTC_TRY", "AAVE_TRY"]
    settings.REDIS_URL = ""
    settings.LIVE_TRADING = False
    return settings


def statuses(report) -> dict[str, Status]:
    return {check.name: check.status for check in report.checks}


def test_a_healthy_setup_without_redis_only_warns_about_redis(healthy: Settings) -> None:
    report = doctor_run(client=FakeExchange())

    not_passing = {n: s for n, s in statuses(report).items() if s is not Status.PASS}
    assert not_passing == {"redis": Status.WARN}
    assert report.exit_code == 1


def test_an_unreachable_exchange_fails_the_exchange_checks(healthy: Settings) -> None:
    report = doctor_run(client=FakeExchange(fail=RetryableError("connection refused")))

    result = statuses(report)
    assert result["exchange_clock"] is Status.FAIL
    assert result["exchange_rules"] is Status.FAIL
    assert result["rules_coverage"] is Status.FAIL
    assert report.exit_code == 2


def test_a_configured_symbol_without_rules_fails_coverage_naming_it(healthy: Settings) -> None:
    healthy.TRADING_SYMBOLS = ["BTC_TRY", "ETH_TRY"]

    report = doctor_run(client=FakeExchange())

    coverage = next(c for c in report.checks if c.name == "rules_coverage")
    assert coverage.status is Status.FAIL
    assert coverage.detail == "no rules for ETH_TRY"


@pytest.mark.parametrize(("offset_ms", "expected"), [(2500, Status.WARN), (-7000, Status.FAIL)])
def test_a_large_server_clock_offset_is_reported(
    healthy: Settings, offset_ms: int, expected: Status
) -> None:
    report = doctor_run(client=FakeExchange(offset_ms=offset_ms))

    assert statuses(report)["exchange_clock"] is expected


def test_a_withdraw_capable_key_fails(healthy: Settings) -> None:
    healthy.BTCTURK_API_PERMISSIONS = ["trade", "withdraw"]

    assert statuses(doctor_run(client=FakeExchange()))["key_permissions"] is Status.FAIL


def test_a_refused_signed_call_fails_and_no_credentials_warns(healthy: Settings) -> None:
    exchange = FakeExchange()
    exchange.balances_error = AuthenticationError("Invalid Signature", http_status=401)

    check = next(c for c in doctor_run(client=exchange).checks if c.name == "signed_balances")
    assert check.status is Status.FAIL
    assert "AuthenticationError (fatal)" in check.detail

    healthy.BTCTURK_API_KEY = ""
    assert statuses(doctor_run(client=exchange))["signed_balances"] is Status.WARN


def test_an_unreachable_redis_fails(healthy: Settings) -> None:
    healthy.REDIS_URL = "redis://127.0.0.1:1/0"

    assert statuses(doctor_run(client=FakeExchange()))["redis"] is Status.FAIL


def test_live_trading_with_a_blocked_gate_warns_with_the_reasons(healthy: Settings) -> None:
    healthy.LIVE_TRADING = True

    gate = next(c for c in doctor_run(client=FakeExchange()).checks if c.name == "safety_gate")
    assert gate.status is Status.WARN
    assert "NOT_ARMED" in gate.detail
