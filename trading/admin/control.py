"""Admin: instruments, the trading control panel (arm, kill switch, effective gate), orders, cycles.

The control actions call ``trading.services.control``; orders and cycles are read-only here
(their state changes only through services).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html_join

from meva.errors import ApplicationError
from trading.domain.gate import GateAction
from trading.models import Cycle, Instrument, Order, TradingControl
from trading.services import control as control_services
from trading.services.gate import gate_state


class ReadOnlyAdmin(admin.ModelAdmin):
    """List and inspect only: no add, change or delete."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = (
        "symbol",
        "pair",
        "status",
        "tick_size",
        "step_size",
        "min_notional",
        "min_price",
        "max_price",
        "updated_at",
    )
    list_filter = ("status", "quote")
    search_fields = ("symbol", "pair", "base")
    readonly_fields = ("updated_at",)


def _control_action(
    service: Callable[..., TradingControl], label: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
    """An admin action that calls ``service(user=..., reason=...)`` and reports the gate."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            service(user=request.user, reason=f"admin action: {label} by {request.user}")
        except ApplicationError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
            return
        decision = gate_state()
        modeladmin.message_user(request, f"{label}: done. Gate now {decision.summary}")

    action.__name__ = service.__name__
    return admin.action(description=label)(action)


@admin.register(TradingControl)
class TradingControlAdmin(admin.ModelAdmin):
    """The control panel: switches are changed by actions only; the gate state is shown live."""

    list_display = (
        "__str__",
        "armed",
        "armed_by",
        "armed_at",
        "kill_switch",
        "kill_switch_by",
        "kill_switch_at",
        "effective_submit",
        "effective_cancel",
    )
    fields = (
        "effective_submit",
        "effective_cancel",
        "gate_reasons",
        "armed",
        "armed_by",
        "armed_at",
        "kill_switch",
        "kill_switch_by",
        "kill_switch_at",
        "reason",
    )
    readonly_fields = fields
    actions = (
        _control_action(control_services.control_arm, "Arm trading"),
        _control_action(control_services.control_disarm, "Disarm trading"),
        _control_action(control_services.kill_switch_engage, "Engage kill switch"),
        _control_action(control_services.kill_switch_release, "Release kill switch"),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        TradingControl.load()  # the panel always has its one row to act on
        return super().changelist_view(request, extra_context)

    @admin.display(description="effective gate (submit)")
    def effective_submit(self, obj: TradingControl) -> str:
        return gate_state(action=GateAction.SUBMIT).summary

    @admin.display(description="effective gate (cancel)")
    def effective_cancel(self, obj: TradingControl) -> str:
        return gate_state(action=GateAction.CANCEL).summary

    @admin.display(description="all blocking reasons (submit)")
    def gate_reasons(self, obj: TradingControl) -> str:
        decision = gate_state(action=GateAction.SUBMIT)
        if decision.allowed:
            return "none: live submits and cancels are allowed"
        return format_html_join("", "<div>{}</div>", ((line,) for line in decision.explain()))


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = (
        "client_order_id",
        "account",
        "symbol",
        "side",
        "order_type",
        "price",
        "quantity",
        "filled_quantity",
        "status",
        "reject_code",
        "created_at",
    )
    list_filter = ("status", "side", "order_type", "account")
    search_fields = ("client_order_id", "exchange_order_id", "symbol")
    date_hierarchy = "created_at"


@admin.register(Cycle)
class CycleAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "mode",
        "status",
        "started_at",
        "finished_at",
        "no_trade_reason",
    )
    list_filter = ("status", "mode", "account")
    search_fields = ("account", "no_trade_reason", "error")
