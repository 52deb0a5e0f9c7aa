"""Read-only admin for the ledger: rows are written only by ledger services, never by hand.

Amounts are stored with 20 decimal places; the lists show them at meaningful precision
(prices and quantities at the instrument's tick and step size, money at 2 places).
"""

from __future__ import annotations

from django.contrib import admin

from ledger.models import EquitySnapshot, LedgerEntry, LedgerFill, Position
from trading.admin.base import InstrumentStepsMixin, ReadOnlyAdmin, decimal_column


@admin.register(LedgerFill)
class LedgerFillAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "ts",
        "account",
        "symbol",
        "side",
        "price_shown",
        "quantity_shown",
        "fee_shown",
        "fee_asset",
        "fee_quote_shown",
        "liquidity",
        "trade_id",
    )
    list_filter = ("account", "symbol", "side", "liquidity", "fee_asset")
    search_fields = ("trade_id", "client_order_id", "symbol")
    date_hierarchy = "ts"
    price_shown = decimal_column("price", step="_tick")
    quantity_shown = decimal_column("quantity", step="_step")
    fee_shown = decimal_column("fee")
    fee_quote_shown = decimal_column("fee_quote", kind="money", description="fee (quote)")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("ts", "entry_id", "asset", "amount_shown", "kind", "fill")
    list_filter = ("kind", "asset", "fill__account")
    search_fields = ("entry_id", "fill__trade_id")
    list_select_related = ("fill",)
    amount_shown = decimal_column("amount")


@admin.register(Position)
class PositionAdmin(InstrumentStepsMixin, ReadOnlyAdmin):
    list_display = (
        "account",
        "symbol",
        "quantity_shown",
        "average_cost_shown",
        "cost_basis_shown",
        "realized_pnl_shown",
        "fees_paid_shown",
        "updated_at",
    )
    list_filter = ("account", "symbol")
    search_fields = ("account", "symbol")
    quantity_shown = decimal_column("quantity", step="_step")
    average_cost_shown = decimal_column("average_cost", step="_tick")
    cost_basis_shown = decimal_column("cost_basis", kind="money")
    realized_pnl_shown = decimal_column("realized_pnl", kind="money", description="realized PnL")
    fees_paid_shown = decimal_column("fees_paid", kind="money")


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("ts", "account", "equity_shown", "cash_shown", "peak_shown", "drawdown")
    list_filter = ("account",)
    search_fields = ("account",)
    date_hierarchy = "ts"
    equity_shown = decimal_column("equity", kind="money")
    cash_shown = decimal_column("cash", kind="money")
    peak_shown = decimal_column("peak", kind="money")
    drawdown = decimal_column("drawdown_pct", kind="percent", description="drawdown")
