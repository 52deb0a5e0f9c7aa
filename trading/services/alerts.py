"""Alerts: raise (deduplicated while open) and acknowledge (DESIGN.md section 8).

An alert is open until acknowledged. While an alert with the same ``(account, kind, key)`` is
open, raising it again only bumps its ``count``, ``last_seen`` and ``message``; the partial
unique constraint ``uniq_open_alert`` makes a second open alert impossible even when two
workers raise the same alert at once. Opening and acknowledging write an ``AuditEvent``.
A new alert, or a rise in severity, is delivered to ``ALERT_WEBHOOK_URL`` after the commit
(:mod:`trading.services.alert_delivery`).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from meva.errors import ApplicationError
from trading.models import Alert, AlertSeverity
from trading.services.alert_delivery import alert_delivery_schedule
from trading.services.audit import ACTOR_SYSTEM, actor_for_user, audit_record

logger = logging.getLogger(__name__)

LOG_LEVELS = {
    AlertSeverity.INFO: logging.INFO,
    AlertSeverity.WARNING: logging.WARNING,
    AlertSeverity.CRITICAL: logging.ERROR,
}
_RANK = {severity: rank for rank, severity in enumerate(LOG_LEVELS)}


@transaction.atomic
def alert_raise(
    *,
    kind: str,
    severity: AlertSeverity | str,
    message: str,
    account: str = "",
    key: str = "",
    actor: str = ACTOR_SYSTEM,
) -> Alert:
    """Open an alert, or bump the open one with the same ``(account, kind, key)``.

    ``kind`` a stable code (``BALANCE_DRIFT``...); ``severity`` ``info``/``warning``/
    ``critical``; ``key`` tells instances of a kind apart (a client order id, an asset). A
    repeat sets ``count += 1``, ``last_seen`` to now (UTC), ``message`` to the new text and
    raises the severity if the new one is higher (never lowers it). An ``alert.raise`` audit
    event is written only when a new alert opens. Logged at INFO/WARNING/ERROR for
    info/warning/critical. Runs in the caller's transaction (a savepoint of it) when there is
    one. Race-safe: the open alert is locked (``SELECT ... FOR UPDATE``); when a concurrent
    transaction inserts the same alert first, the insert fails on ``uniq_open_alert`` and the
    now-visible alert is bumped instead. Raises :class:`ApplicationError` for an unknown
    severity or an empty kind.
    """
    level = _severity(severity)
    if not kind:
        raise ApplicationError("kind: an alert needs a kind")
    alert = _open_alert_bump(account=account, kind=kind, key=key, severity=level, message=message)
    if alert is None:
        try:
            with transaction.atomic():  # a savepoint: a lost insert race leaves the caller usable
                alert = Alert.objects.create(
                    account=account, kind=kind, key=key, severity=level, message=message
                )
        except IntegrityError:
            alert = _open_alert_bump(
                account=account, kind=kind, key=key, severity=level, message=message
            )
            if alert is None:  # not the open-alert race: a real integrity problem
                raise
        else:
            audit_record(
                actor=actor,
                action="alert.raise",
                account=account,
                object_type="alert",
                object_id=str(alert.pk),
                after={"kind": kind, "key": key, "severity": level, "message": message},
                reason=message,
            )
    logger.log(
        LOG_LEVELS[AlertSeverity(alert.severity)],
        "alert %s%s: %s (count %d)",
        kind,
        f" [{key}]" if key else "",
        message,
        alert.count,
        extra={"account": account, "alert_id": alert.pk, "alert_kind": kind},
    )
    alert_delivery_schedule(alert)  # new, or a higher severity: sent after commit
    return alert


def _severity(severity: AlertSeverity | str) -> AlertSeverity:
    try:
        return AlertSeverity(severity)
    except ValueError:
        known = ", ".join(AlertSeverity.values)
        raise ApplicationError(f"severity: {severity!r} is not one of {known}") from None


def _open_alert_bump(
    *, account: str, kind: str, key: str, severity: AlertSeverity, message: str
) -> Alert | None:
    alert = (
        Alert.objects.select_for_update()
        .filter(account=account, kind=kind, key=key, acknowledged_at__isnull=True)
        .first()
    )
    if alert is None:
        return None
    alert.count += 1  # the row is locked: no lost update
    alert.last_seen = timezone.now()
    alert.message = message
    if _RANK[severity] > _RANK[AlertSeverity(alert.severity)]:
        alert.severity = severity
    alert.save(update_fields=["count", "last_seen", "message", "severity"])
    return alert


@transaction.atomic
def alert_acknowledge(*, alert_id: int, user: object, reason: str) -> Alert:
    """Close open alert ``alert_id``: records ``user`` and now (UTC); audited as
    ``alert.acknowledge`` with ``reason``. A later raise of the same kind opens a new alert.

    Raises :class:`ApplicationError` when ``user`` is not a saved user, ``reason`` is blank,
    the alert does not exist or is already acknowledged.
    """
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError("user: an alert must be acknowledged by a saved user")
    if not reason.strip():
        raise ApplicationError("reason: say why the alert is acknowledged")
    alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
    if alert is None:
        raise ApplicationError(f"alert_id: no alert {alert_id}")
    if alert.acknowledged_at is not None:
        raise ApplicationError(f"alert_id: alert {alert_id} is already acknowledged")
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = user
    alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    audit_record(
        actor=actor_for_user(user),
        user=user,
        action="alert.acknowledge",
        account=alert.account,
        object_type="alert",
        object_id=str(alert.pk),
        before={"acknowledged_at": None},
        after={"acknowledged_at": alert.acknowledged_at, "count": alert.count},
        reason=reason,
    )
    logger.info("alert %s acknowledged by %s", alert.pk, user, extra={"account": alert.account})
    return alert
