"""Admin: instruments and the trading control panel (arm, kill switch, effective gate).

The control actions call ``trading.services.control``, which audits every change.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html_join

from meva.errors import ApplicationError
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE, GateAction
from trading.models import Instrument, TradingControl
from trading.services import control as control_services
from trading.services.gate import gate_state


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
    service: Callable[..., TradingControl], label: str, **extra: str
) -> Callable[[admin.ModelAdmin, HttpRequest, QuerySet], None]:
    """An admin action that calls ``service(user=..., reason=..., **extra)``, reports the gate."""

    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
        try:
            service(user=request.user, reason=f"admin action: {label} by {request.user}", **extra)
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
        # Interim: the action itself passes the acknowledgement phrase. The operator console
        # (a later issue) replaces it with a form where the operator types the phrase.
        _control_action(
            control_services.control_arm,
            "Arm trading",
            acknowledgement=LIVE_TRADING_ACK_PHRASE,
        ),
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
