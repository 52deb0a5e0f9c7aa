"""Admin: the audit trail (strictly read-only) and alerts (read-only, with an acknowledge action)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from meva.errors import ApplicationError
from trading.admin.base import ReadOnlyAdmin
from trading.models import Alert, AuditEvent
from trading.services.alerts import alert_acknowledge


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Append-only: no add, change or delete for anyone, superusers included."""

    list_display = (
        "created_at",
        "actor",
        "action",
        "account",
        "object_type",
        "object_id",
        "reason",
    )
    list_filter = ("action", "account", "actor")
    search_fields = ("actor", "action", "account", "object_id", "reason")
    date_hierarchy = "created_at"


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    """Alerts are raised by services; the operator acknowledges them (``alert_acknowledge``)."""

    list_display = (
        "last_seen",
        "severity",
        "kind",
        "account",
        "key",
        "count",
        "message",
        "is_open",
        "acknowledged_by",
        "acknowledged_at",
    )
    list_filter = (("acknowledged_at", admin.EmptyFieldListFilter), "severity", "kind", "account")
    search_fields = ("kind", "key", "account", "message")
    actions = ("acknowledge",)

    @admin.display(boolean=True, description="open")
    def is_open(self, obj: Alert) -> bool:
        return obj.is_open

    def has_acknowledge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("trading.change_alert")

    @admin.action(description="Acknowledge selected alerts", permissions=("acknowledge",))
    def acknowledge(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for alert in queryset.filter(acknowledged_at__isnull=True):
            try:
                alert_acknowledge(
                    alert_id=alert.pk,
                    user=request.user,
                    reason=f"admin action: acknowledged by {request.user}",
                )
            except ApplicationError as exc:
                self.message_user(request, f"alert {alert.pk}: {exc}", messages.ERROR)
            else:
                done += 1
        self.message_user(request, f"{done} alert(s) acknowledged")
