"""Admin: orders, cycles (with their decisions), candles and paper venue rows, read-only.

Services write all of these; the admin lists and inspects them.
"""

from __future__ import annotations

from django.contrib import admin

from trading.admin.base import ReadOnlyAdmin, ReadOnlyInline
from trading.models import (
    Candle,
    Cycle,
    CycleDecision,
    Order,
    PaperBalance,
    PaperOrder,
    PaperTrade,
    PaperVenue,
)


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


class CycleDecisionInline(ReadOnlyInline):
    model = CycleDecision
    fields = ("seq", "kind", "symbol", "side", "strategy", "code", "detail", "client_order_id")
    readonly_fields = fields
    ordering = ("seq",)


@admin.register(Cycle)
class CycleAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "account",
        "mode",
        "status",
        "risk_mode",
        "now_ms",
        "started_at",
        "finished_at",
        "equity",
        "no_trade_reason",
    )
    list_filter = ("status", "mode", "risk_mode", "account")
    search_fields = ("account", "no_trade_reason", "error")
    fields = (
        ("account", "mode", "status"),
        ("now_ms", "started_at", "finished_at", "heartbeat_at"),
        ("risk_mode", "mode_reasons"),
        "equity",
        "universe",
        "counts",
        "timings_ms",
        "market",
        "gate",
        "no_trade_reason",
        "error",
    )
    inlines = (CycleDecisionInline,)


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ("symbol", "interval_s", "ts_ms", "open", "high", "low", "close", "volume")
    list_filter = ("symbol", "interval_s")


@admin.register(PaperVenue)
class PaperVenueAdmin(ReadOnlyAdmin):
    list_display = ("account", "next_order_id", "updated_at")


@admin.register(PaperBalance)
class PaperBalanceAdmin(ReadOnlyAdmin):
    list_display = ("account", "asset", "free", "locked")
    list_filter = ("account",)


@admin.register(PaperOrder)
class PaperOrderAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "order_id",
        "client_order_id",
        "symbol",
        "side",
        "order_type",
        "price",
        "quantity",
        "filled",
        "status",
    )
    list_filter = ("account", "status", "symbol")
    search_fields = ("client_order_id", "order_id")


@admin.register(PaperTrade)
class PaperTradeAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "seq",
        "trade_id",
        "client_order_id",
        "symbol",
        "side",
        "price",
        "quantity",
        "fee",
        "fee_asset",
        "ts_ms",
    )
    list_filter = ("account", "symbol", "side")
    search_fields = ("trade_id", "client_order_id")
