"""Admin for datasets and backtest runs: read-mostly (results are written by services)."""

from __future__ import annotations

from django.contrib import admin

from replay.models import (
    BacktestCycle,
    BacktestFill,
    BacktestRun,
    BacktestTrade,
    Dataset,
    DatasetSeries,
)
from replay.selectors import backtest_equity_chart


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services only: viewable, never added or edited by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class DatasetSeriesInline(admin.TabularInline):
    model = DatasetSeries
    extra = 0
    can_delete = False
    fields = ("symbol", "first_ts", "last_ts", "bars", "gap_count", "missing_bars", "gaps", "rules")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(ReadOnlyAdmin):
    list_display = (
        "name",
        "symbol_list",
        "quote_asset",
        "interval_ms",
        "first_ts",
        "last_ts",
        "bar_count",
        "gap_total",
        "rules_source",
        "imported_at",
    )
    search_fields = ("name",)
    inlines = (DatasetSeriesInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("series")

    @admin.display(description="symbols")
    def symbol_list(self, obj: Dataset) -> str:
        return ", ".join(s.symbol for s in obj.series.all())

    @admin.display(description="gaps (missing bars)")
    def gap_total(self, obj: Dataset) -> str:
        series = list(obj.series.all())
        return f"{sum(s.gap_count for s in series)} ({sum(s.missing_bars for s in series)})"


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    change_form_template = "admin/replay/backtestrun/change_form.html"
    list_display = (
        "id",
        "dataset",
        "strategy",
        "status",
        "cycles",
        "trades",
        "return_pct",
        "max_drawdown_pct",
        "sharpe",
        "cycles_per_s",
        "created_at",
    )
    list_filter = ("status", "strategy", "dataset")
    readonly_fields = [f.name for f in BacktestRun._meta.fields]
    fieldsets = (
        (
            "Run",
            {
                "fields": (
                    "dataset",
                    "dataset_fingerprint",
                    "strategy",
                    "params",
                    "risk_limits",
                    "fill_model",
                    "fee_maker_bps",
                    "fee_taker_bps",
                    "initial_cash",
                    "start",
                    "end",
                )
            },
        ),
        (
            "Lifecycle",
            {
                "fields": (
                    "status",
                    "error",
                    "created_at",
                    "started_at",
                    "finished_at",
                    "elapsed_s",
                    "persist_s",
                )
            },
        ),
        (
            "Metrics",
            {
                "fields": (
                    "cycles",
                    "symbols",
                    "bars",
                    "trades",
                    "fills",
                    "fees",
                    "final_equity",
                    "return_pct",
                    "max_drawdown_pct",
                    "sharpe",
                    "win_rate",
                    "cycles_per_s",
                    "fingerprint",
                    "summary",
                )
            },
        ),
    )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if run is not None:
            extra["equity_chart"] = backtest_equity_chart(run=run)
        return super().change_view(request, object_id, form_url, extra_context=extra)


@admin.register(BacktestFill)
class BacktestFillAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "ts",
        "symbol",
        "side",
        "price",
        "quantity",
        "fee",
        "liquidity",
        "trade_id",
    )
    list_filter = ("side", "liquidity", "symbol")
    search_fields = ("client_order_id", "trade_id")
    list_select_related = ("run",)


@admin.register(BacktestTrade)
class BacktestTradeAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "symbol",
        "opened_at",
        "closed_at",
        "quantity",
        "entry_price",
        "exit_price",
        "pnl",
        "fees",
    )
    list_filter = ("symbol",)
    list_select_related = ("run",)


@admin.register(BacktestCycle)
class BacktestCycleAdmin(ReadOnlyAdmin):
    list_display = (
        "run",
        "seq",
        "ts",
        "mode",
        "equity",
        "drawdown_pct",
        "fills",
        "intent_count",
        "denial_count",
    )
    list_filter = ("mode",)
    list_select_related = ("run",)

    @admin.display(description="intents")
    def intent_count(self, obj: BacktestCycle) -> int:
        return len(obj.intents)

    @admin.display(description="denials")
    def denial_count(self, obj: BacktestCycle) -> int:
        return len(obj.denials)
