"""Alert rules at a cycle's end and at the periodic reconciliation: each raises once and then
bumps its open alert (``alert_raise`` dedupe), and stays quiet below its threshold."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from trading.models import Account, Alert, Cycle, Order
from trading.services.alert_rules import cycle_rules_evaluate, reconcile_rules_evaluate

pytestmark = pytest.mark.django_db
ACTOR = "test:rules"


def cycle(status: str = "completed", **fields) -> Cycle:
    now = timezone.now()
    return Cycle.objects.create(
        account="acct",
        mode="live",
        status=status,
        started_at=now,
        finished_at=now,
        **fields,
    )


def alerts(kind: str) -> list[Alert]:
    return list(Alert.objects.filter(account="acct", kind=kind))


def evaluate(row: Cycle, lock_owned: bool = True) -> list[str]:
    return cycle_rules_evaluate(cycle=row, lock_owned=lock_owned, actor=ACTOR)


def test_a_quiet_completed_cycle_raises_nothing() -> None:
    cycle(risk_mode="NORMAL")
    row = cycle(risk_mode="NORMAL", health={"clock_offset_ms": 120})

    assert evaluate(row) == []
    assert not Alert.objects.exists()


def test_a_lost_lock_is_critical_and_deduplicated() -> None:
    first, second = cycle(), cycle()

    assert evaluate(first, lock_owned=False) == ["LOCK_LOST"]
    evaluate(second, lock_owned=False)

    [alert] = alerts("LOCK_LOST")
    assert (alert.severity, alert.key, alert.count) == ("critical", "cycle_run", 2)


def test_a_skipped_cycle_raises_nothing_even_without_the_lock() -> None:
    assert evaluate(cycle("skipped"), lock_owned=False) == []


def test_consecutive_failures_alert_at_the_threshold_skips_ignored(settings) -> None:
    settings.ALERT_CYCLE_FAILURES = 3
    cycle("completed")
    first = cycle("failed", error="boom 1")
    cycle("skipped")
    second = cycle("failed", error="boom 2")

    assert evaluate(first) == [] and evaluate(second) == []

    third = cycle("failed", error="RetryableError: boom 3")
    assert evaluate(third) == ["CYCLE_FAILURES"]
    [alert] = alerts("CYCLE_FAILURES")
    assert alert.severity == "critical" and "boom 3" in alert.message


def test_a_success_between_failures_resets_the_count(settings) -> None:
    settings.ALERT_CYCLE_FAILURES = 2
    cycle("failed")
    cycle("completed")
    row = cycle("failed")

    assert evaluate(row) == []


def test_stale_data_alerts_per_symbol_beyond_the_age_limit(settings) -> None:
    settings.RISK_MAX_DATA_AGE_SECONDS = 900
    market = {
        "BTC_TRY": {"age_ms": 901_000, "excluded": "STALE_DATA"},
        "ETH_TRY": {"age_ms": 60_000, "excluded": ""},
    }
    row = cycle(market=market)

    assert evaluate(row) == ["STALE_DATA"]
    evaluate(cycle(market=market))

    [alert] = alerts("STALE_DATA")
    assert (alert.key, alert.severity, alert.count) == ("BTC_TRY", "warning", 2)


def test_a_risk_mode_change_alerts_with_the_new_mode_as_key_and_severity() -> None:
    cycle(risk_mode="NORMAL")
    down = cycle(risk_mode="OBSERVE_ONLY", mode_reasons=["DRAWDOWN"])
    assert evaluate(down) == ["RISK_MODE"]
    same = cycle(risk_mode="OBSERVE_ONLY")
    assert evaluate(same) == []  # no change, no bump
    back = cycle(risk_mode="NORMAL")
    assert evaluate(back) == ["RISK_MODE"]

    by_key = {a.key: a for a in alerts("RISK_MODE")}
    assert by_key["OBSERVE_ONLY"].severity == "critical"
    assert "NORMAL -> OBSERVE_ONLY" in by_key["OBSERVE_ONLY"].message
    assert "DRAWDOWN" in by_key["OBSERVE_ONLY"].message
    assert by_key["NORMAL"].severity == "info"


def test_the_first_cycle_of_an_account_is_no_mode_change() -> None:
    assert evaluate(cycle(risk_mode="REDUCE_RISK_ONLY")) == []


def _rejected(n: int, code: str, age: timedelta = timedelta(0)) -> None:
    for _ in range(n):
        order = Order.objects.create(
            account="acct",
            client_order_id=f"mv-{code}-{Order.objects.count()}",
            symbol="BTC_TRY",
            side="buy",
            order_type="limit",
            price=Decimal(1),
            quantity=Decimal(1),
            status="REJECTED",
            reject_code=code,
        )
        Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - age)


def test_a_reject_spike_alerts_per_code_within_the_window(settings) -> None:
    settings.ALERT_REJECT_SPIKE_COUNT = 3
    settings.ALERT_REJECT_SPIKE_WINDOW_SECONDS = 600
    _rejected(2, "1123")
    _rejected(5, "1123", age=timedelta(hours=1))  # outside the window
    _rejected(1, "1126")
    rejecting = {"rejected": 1}

    assert evaluate(cycle(counts=rejecting)) == []

    _rejected(1, "1123")
    assert evaluate(cycle(counts=rejecting)) == ["REJECT_SPIKE"]
    assert evaluate(cycle(counts={"rejected": 0})) == []  # no reject this cycle: not evaluated

    [alert] = alerts("REJECT_SPIKE")
    assert alert.key == "1123" and alert.message.startswith("3 orders rejected with code 1123")


@pytest.mark.parametrize(
    ("offset", "severity"), [(1999, None), (-2500, "warning"), (6000, "critical")]
)
def test_clock_skew_beyond_the_setting(settings, offset: int, severity: str | None) -> None:
    settings.ALERT_CLOCK_SKEW_MS = 2000

    evaluate(cycle(health={"clock_offset_ms": offset}))

    assert [a.severity for a in alerts("CLOCK_SKEW")] == ([severity] if severity else [])


def test_a_failed_cycle_is_checked_for_skew_too() -> None:
    evaluate(cycle("failed", health={"clock_offset_ms": 9000}))

    assert len(alerts("CLOCK_SKEW")) == 1


def _account(enabled: bool = True) -> Account:
    return Account.objects.create(
        name="acct",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        enabled=enabled,
        cycle_interval_s=60,
    )


def test_stalled_cycles_alert_at_reconciliation(settings) -> None:
    settings.ALERT_CYCLE_STALL_INTERVALS = 5
    account = _account()
    old = cycle()
    Cycle.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(seconds=301))

    assert reconcile_rules_evaluate(account=account, actor=ACTOR) == ["CYCLES_STALLED"]

    cycle()  # a fresh completed cycle
    assert reconcile_rules_evaluate(account=account, actor=ACTOR) == []


def test_a_disabled_account_never_stalls() -> None:
    account = _account(enabled=False)
    Account.objects.filter(pk=account.pk).update(created_at=timezone.now() - timedelta(days=1))
    account.refresh_from_db()

    assert reconcile_rules_evaluate(account=account, actor=ACTOR) == []
