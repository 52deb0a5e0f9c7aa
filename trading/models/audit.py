"""Audit events (append-only history of every change and side effect) and alerts."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AppendOnlyError(RuntimeError):
    """An audit event was about to be changed or deleted: the audit trail is append-only."""


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs: object) -> int:
        raise AppendOnlyError("audit events are append-only: update() is refused")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only: delete() is refused")


class AuditEvent(models.Model):
    """Who did what, to which object, when and why (append-only).

    ``actor`` is ``user:<username>`` for an operator (``user`` is then set too),
    ``task:<celery task name>`` or ``command:<name>`` for background work, ``system`` otherwise.
    ``action`` is a dotted verb (``order.submit``, ``order.status``, ``gate.blocked``,
    ``control.arm``, ``account.update``, ``reconcile.adopt``, ``alert.raise`` ...);
    ``account`` the account name (empty for global changes); ``object_type``/``object_id``
    the row concerned; ``before``/``after`` JSON snapshots of what changed; ``reason`` the
    typed or computed reason; ``created_at`` UTC. Written by ``trading.services.audit`` in
    the same transaction as the change. ``save()`` refuses to update an existing row and
    ``delete()`` refuses always (on PostgreSQL a trigger refuses UPDATE/DELETE as well).
    """

    actor = models.CharField(max_length=150)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    account = models.CharField(max_length=64, blank=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["account", "-created_at"], name="audit_account_created")]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise AppendOnlyError("audit events are append-only: an existing event is immutable")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit events are append-only: delete() is refused")


class AlertSeverity(models.TextChoices):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Alert(models.Model):
    """Something an operator must look at, deduplicated while it stays open.

    ``kind`` a stable code (``UNKNOWN_ORDER_UNRESOLVED``, ``BALANCE_DRIFT``,
    ``FOREIGN_ORDER``, ``RECONCILE_FAILED``, ``CYCLE_FAILED`` ...); ``key`` tells instances of a
    kind apart (a client order id, an asset); while an alert with the same account, kind and
    key is open (not acknowledged) a repeat only bumps ``count`` and ``last_seen``.
    ``acknowledged_*`` record who closed it and when. ``delivery_*`` record the webhook
    delivery (:mod:`trading.services.alert_delivery`): ``delivery_status`` ``""`` (none
    configured or not yet), ``queued``, ``sent``, ``failed`` or ``disabled`` (kind switched
    off); ``delivery_attempts`` HTTP attempts so far; ``delivered_at`` the last success (UTC);
    ``delivered_severity`` the severity last delivered (a rise is delivered again);
    ``delivery_error`` the last failure, secrets removed.
    """

    kind = models.CharField(max_length=48)
    key = models.CharField(max_length=128, blank=True)
    severity = models.CharField(max_length=8, choices=AlertSeverity.choices)
    account = models.CharField(max_length=64, blank=True)
    message = models.TextField()
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    count = models.PositiveIntegerField(default=1)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    delivery_status = models.CharField(max_length=16, blank=True)
    delivery_attempts = models.PositiveIntegerField(default=0)
    delivered_at = models.DateTimeField(null=True, blank=True)
    delivered_severity = models.CharField(max_length=8, blank=True)
    delivery_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "key"],
                condition=models.Q(acknowledged_at__isnull=True),
                name="uniq_open_alert",
            ),
            models.CheckConstraint(
                condition=models.Q(severity__in=AlertSeverity.values), name="alert_severity_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.kind} {self.account} x{self.count}"

    @property
    def is_open(self) -> bool:
        return self.acknowledged_at is None
