"""Read-only admin for the ledger: rows are written only by ledger services, never by hand."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from ledger.models import EquitySnapshot, LedgerEntry, LedgerFill, Position


class ReadOnlyAdmin(admin.ModelAdmin):
    """Lists and shows rows; no add, change or delete (the ledger is append-only)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(LedgerFill)
class LedgerFillAdmin(ReadOnlyAdmin):
    list_display = (
        "ts",
        "account",
        "symbol",
        "side",
        "price",
        "quantity",
        "fee",
        "fee_asset",
        "fee_quote",
        "liquidity",
        "trade_id",
    )
    list_filter = ("account", "symbol", "side", "liquidity", "fee_asset")
    search_fields = ("trade_id", "client_order_id", "symbol")
    date_hierarchy = "ts"


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("ts", "entry_id", "asset", "amount", "kind", "fill")
    list_filter = ("kind", "asset", "fill__account")
    search_fields = ("entry_id", "fill__trade_id")
    list_select_related = ("fill",)


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = (
        "account",
        "symbol",
        "quantity",
        "average_cost",
        "cost_basis",
        "realized_pnl",
        "fees_paid",
        "updated_at",
    )
    list_filter = ("account", "symbol")
    search_fields = ("account", "symbol")


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("ts", "account", "equity", "cash", "drawdown_pct")
    list_filter = ("account",)
    search_fields = ("account",)
    date_hierarchy = "ts"
