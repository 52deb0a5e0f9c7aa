"""Admin: instruments (read-only: ``sync_instruments`` writes them) and the trading control row.

The switches are changed on the operator console's dashboard (``trading.console``): buttons
with a confirmation step, a typed reason and, to arm, the typed acknowledgement phrase; the
services in ``trading.services.control`` audit every change. This page shows the row and the
effective gate, and links to the dashboard.
"""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from trading.admin.base import ReadOnlyAdmin, decimal_column
from trading.domain.gate import GateAction
from trading.models import Instrument, TradingControl
from trading.services.gate import gate_state


def switch_badge(on: bool, on_text: str, off_text: str, on_class: str) -> str:
    """A state badge: ``on_text`` in ``on_class`` colours when on, a neutral ``off_text``."""
    if on:
        return format_html('<span class="badge {}">{}</span>', on_class, on_text)
    return format_html('<span class="badge badge-neutral">{}</span>', off_text)


@admin.register(Instrument)
class InstrumentAdmin(ReadOnlyAdmin):
    list_display = (
        "symbol",
        "pair",
        "status",
        "tick_size_shown",
        "step_size_shown",
        "min_notional_shown",
        "min_price_shown",
        "max_price_shown",
        "updated_at",
    )
    list_filter = ("status", "quote")
    search_fields = ("symbol", "pair", "base")
    tick_size_shown = decimal_column("tick_size")
    step_size_shown = decimal_column("step_size")
    min_notional_shown = decimal_column("min_notional")
    min_price_shown = decimal_column("min_price")
    max_price_shown = decimal_column("max_price")


@admin.register(TradingControl)
class TradingControlAdmin(admin.ModelAdmin):
    """The control row, read-only here: the dashboard's buttons change the switches."""

    list_display = (
        "__str__",
        "armed_state",
        "armed_by",
        "armed_at",
        "kill_switch_state",
        "kill_switch_by",
        "kill_switch_at",
        "effective_submit",
        "effective_cancel",
        "console",
    )
    fields = (
        "effective_submit",
        "effective_cancel",
        "gate_reasons",
        "armed_state",
        "armed_by",
        "armed_at",
        "kill_switch_state",
        "kill_switch_by",
        "kill_switch_at",
        "reason",
        "console",
    )
    readonly_fields = fields
    actions = None  # the switches are buttons on the dashboard, with a typed reason

    class Media:
        css = {"all": ("console/console.css",)}

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict | None = None
    ) -> HttpResponse:
        TradingControl.load()  # the panel always has its one row to show
        return super().changelist_view(request, extra_context)

    @admin.display(description="arm flag", ordering="armed")
    def armed_state(self, obj: TradingControl) -> str:
        return switch_badge(obj.armed, "ARMED", "not armed", "badge-warn")

    @admin.display(description="kill switch", ordering="kill_switch")
    def kill_switch_state(self, obj: TradingControl) -> str:
        return switch_badge(obj.kill_switch, "ENGAGED", "off", "badge-danger")

    @admin.display(description="change the switches")
    def console(self, obj: TradingControl) -> str:
        return format_html(
            '<a href="{}#gate">on the dashboard</a> (buttons, a typed reason, audited)',
            reverse("console:dashboard"),
        )

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
