from __future__ import annotations

import logging
import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections

from meva.errors import ApplicationError
from trading.models import Alert, AuditEvent
from trading.services import alerts as alert_services
from trading.services.alerts import alert_acknowledge, alert_raise

pytestmark = pytest.mark.django_db


def drift(message: str = "BTC drift 0.2%", severity: str = "warning", **kwargs: str) -> Alert:
    return alert_raise(
        kind="BALANCE_DRIFT",
        severity=severity,
        message=message,
        account="demo",
        key="BTC",
        **kwargs,
    )


def test_a_new_alert_opens_with_one_audit_event() -> None:
    alert = drift(actor="task:trading.balances_check")

    stored = Alert.objects.get()
    assert stored.pk == alert.pk
    assert (stored.kind, stored.key, stored.account, stored.count) == (
        "BALANCE_DRIFT",
        "BTC",
        "demo",
        1,
    )
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.account) == (
        "alert.raise",
        "task:trading.balances_check",
        "demo",
    )
    assert (event.object_type, event.object_id) == ("alert", str(alert.pk))
    assert event.after["severity"] == "warning"


def test_a_repeat_while_open_bumps_the_count_and_is_not_audited_again() -> None:
    first = drift("BTC drift 0.2%")

    second = drift("BTC drift 0.3%")

    stored = Alert.objects.get()
    assert second.pk == first.pk == stored.pk
    assert stored.count == 2
    assert stored.message == "BTC drift 0.3%"
    assert stored.last_seen >= first.last_seen
    assert stored.first_seen == first.first_seen
    assert AuditEvent.objects.filter(action="alert.raise").count() == 1


def test_another_key_or_account_is_another_alert() -> None:
    drift()
    alert_raise(kind="BALANCE_DRIFT", severity="warning", message="x", account="demo", key="ETH")
    alert_raise(kind="BALANCE_DRIFT", severity="warning", message="x", account="other", key="BTC")

    assert Alert.objects.count() == 3


def test_a_repeat_raises_the_severity_but_never_lowers_it() -> None:
    drift(severity="warning")
    assert drift(severity="critical").severity == "critical"
    assert drift(severity="info").severity == "critical"


def test_an_unknown_severity_or_an_empty_kind_is_refused() -> None:
    with pytest.raises(ApplicationError, match="^severity:"):
        drift(severity="loud")
    with pytest.raises(ApplicationError, match="^kind:"):
        alert_raise(kind="", severity="info", message="x")
    assert Alert.objects.exists() is False


def test_it_logs_at_warning_or_error_by_severity(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="trading.services.alerts"):
        drift(severity="warning")
        alert_raise(kind="RECONCILE_FAILED", severity="critical", message="boom", account="demo")

    levels = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert levels[0][0] == logging.WARNING and "BALANCE_DRIFT [BTC]" in levels[0][1]
    assert levels[1][0] == logging.ERROR and "RECONCILE_FAILED" in levels[1][1]


def test_a_lost_insert_race_bumps_the_alert_the_other_worker_opened(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Worker B looked before worker A's alert was visible, so B's insert hits uniq_open_alert."""
    drift("opened by worker A")
    real_bump = alert_services._open_alert_bump
    calls = []

    def bump_unseen_first(**kwargs: object) -> Alert | None:
        calls.append(kwargs)
        return None if len(calls) == 1 else real_bump(**kwargs)

    monkeypatch.setattr(alert_services, "_open_alert_bump", bump_unseen_first)

    alert = drift("raised by worker B")

    assert len(calls) == 2
    stored = Alert.objects.get()
    assert (stored.pk, stored.count, stored.message) == (alert.pk, 2, "raised by worker B")
    assert AuditEvent.objects.filter(action="alert.raise").count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="real concurrency needs PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_raises_leave_one_open_alert_with_count_two() -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            barrier.wait(timeout=10)
            drift(f"worker {n}")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert list(Alert.objects.values_list("count", flat=True)) == [2]
    assert AuditEvent.objects.filter(action="alert.raise").count() == 1


def test_acknowledging_closes_the_alert_and_a_later_raise_opens_a_new_one(operator: User) -> None:
    alert = drift()

    closed = alert_acknowledge(alert_id=alert.pk, user=operator, reason="rebalanced by hand")

    assert (closed.acknowledged_by, closed.is_open) == (operator, False)
    event = AuditEvent.objects.get(action="alert.acknowledge")
    assert (event.actor, event.user, event.reason) == (
        "user:operator",
        operator,
        "rebalanced by hand",
    )
    assert event.object_id == str(alert.pk)
    reopened = drift()
    assert reopened.pk != alert.pk and reopened.count == 1
    assert Alert.objects.count() == 2


def test_acknowledging_needs_a_user_a_reason_and_an_open_alert(operator: User) -> None:
    alert = drift()
    with pytest.raises(ApplicationError, match="^user:"):
        alert_acknowledge(alert_id=alert.pk, user=None, reason="x")
    with pytest.raises(ApplicationError, match="^reason:"):
        alert_acknowledge(alert_id=alert.pk, user=operator, reason="  ")
    with pytest.raises(ApplicationError, match="no alert"):
        alert_acknowledge(alert_id=alert.pk + 100, user=operator, reason="x")
    alert_acknowledge(alert_id=alert.pk, user=operator, reason="x")
    with pytest.raises(ApplicationError, match="already acknowledged"):
        alert_acknowledge(alert_id=alert.pk, user=operator, reason="again")
    assert AuditEvent.objects.filter(action="alert.acknowledge").count() == 1


def test_the_admin_acknowledge_action_calls_the_service(
    admin_client: object, admin_user: User
) -> None:
    alert = drift()

    response = admin_client.post(
        "/admin/trading/alert/", {"action": "acknowledge", "_selected_action": [str(alert.pk)]}
    )

    assert response.status_code == 302
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin_user
    assert AuditEvent.objects.filter(action="alert.acknowledge", user=admin_user).exists()


def test_the_alert_admin_is_read_only(admin_client: object) -> None:
    alert = drift()

    assert admin_client.get("/admin/trading/alert/").status_code == 200
    assert admin_client.post("/admin/trading/alert/add/", {}).status_code == 403
    change = admin_client.post(f"/admin/trading/alert/{alert.pk}/change/", {"count": 9})
    assert change.status_code == 403
    assert Alert.objects.get().count == 1
