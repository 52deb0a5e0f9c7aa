"""Admin: orders, cycles (with their decisions), candles and paper venue rows, read-only.

Services write all of these; the admin lists and inspects them.
"""

from __future__ import annotations

from django.contrib import admin

from trading.admin.base import (
    InstrumentStepsMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    decimal_column,
)
from trading.models import (
    Candle,
    Cycle,
    CycleDecision,
    Order,
    PaperBalance,
    PaperOrder,
    PaperTrade,
    PaperVenue,
    ParamSet,
)


@admin.register(Order)
class OrderAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "client_order_id",
        "account",
        "symbol",
        "side",
        "order_type",
        "price_shown",
        "quantity_shown",
        "filled_quantity_shown",
        "status",
        "reject_code",
        "created_at",
    )
    list_filter = ("status", "side", "order_type", "account")
    search_fields = ("client_order_id", "exchange_order_id", "symbol")
    date_hierarchy = "created_at"
    price_shown = decimal_column("price", step="_tick")
    quantity_shown = decimal_column("quantity", step="_step")
    filled_quantity_shown = decimal_column("filled_quantity", step="_step", description="filled")


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
        "equity_shown",
        "no_trade_reason",
    )
    equity_shown = decimal_column("equity", kind="money", description="equity")
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
class CandleAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "symbol",
        "interval_s",
        "ts_ms",
        "open_shown",
        "high_shown",
        "low_shown",
        "close_shown",
        "volume_shown",
    )
    list_filter = ("symbol", "interval_s")
    open_shown = decimal_column("open", step="_tick")
    high_shown = decimal_column("high", step="_tick")
    low_shown = decimal_column("low", step="_tick")
    close_shown = decimal_column("close", step="_tick")
    volume_shown = decimal_column("volume", step="_step")


@admin.register(PaperVenue)
class PaperVenueAdmin(ReadOnlyAdmin):
    list_display = ("account", "next_order_id", "updated_at")


@admin.register(PaperBalance)
class PaperBalanceAdmin(ReadOnlyAdmin):
    list_display = ("account", "asset", "free_shown", "locked_shown")
    free_shown = decimal_column("free")
    locked_shown = decimal_column("locked")
    list_filter = ("account",)


@admin.register(PaperOrder)
class PaperOrderAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "account",
        "order_id",
        "client_order_id",
        "symbol",
        "side",
        "order_type",
        "price_shown",
        "quantity_shown",
        "filled_shown",
        "status",
    )
    list_filter = ("account", "status", "symbol")
    search_fields = ("client_order_id", "order_id")
    price_shown = decimal_column("price", step="_tick")
    quantity_shown = decimal_column("quantity", step="_step")
    filled_shown = decimal_column("filled", step="_step")


@admin.register(PaperTrade)
class PaperTradeAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "account",
        "seq",
        "trade_id",
        "client_order_id",
        "symbol",
        "side",
        "price_shown",
        "quantity_shown",
        "fee_shown",
        "fee_asset",
        "ts_ms",
    )
    list_filter = ("account", "symbol", "side")
    search_fields = ("trade_id", "client_order_id")
    price_shown = decimal_column("price", step="_tick")
    quantity_shown = decimal_column("quantity", step="_step")
    fee_shown = decimal_column("fee")


@admin.register(ParamSet)
class ParamSetAdmin(ReadOnlyAdmin):
    """Adaptive parameter versions (written by the cycles; rollback and pin are on the
    account's console page)."""

    list_display = (
        "account",
        "backtest_run",
        "version",
        "status",
        "reason",
        "outcome",
        "created_at",
    )
    list_filter = ("status", "account")
