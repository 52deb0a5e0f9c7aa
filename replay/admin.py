"""Admin for datasets and backtest runs: read-mostly (results are written by services).

The sweep page (``SweepAdmin``) ranks a sweep's runs by its metric, each linked to its run page.
The run page (``BacktestRunAdmin.change_view``) shows the run's metrics at display precision,
its equity and drawdown charts (Chart.js, axes in UTC dates and the quote currency), links to
its trades, fills and cycles (``?run__id__exact=<id>``), and its progress while it runs (a small
polling script). ``get_urls`` adds the start form, the comparison page and the progress JSON
(:mod:`replay.console`). Numbers are shown at meaningful precision (``meva_numbers``), never
with the stored 12 decimal places.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from replay import console
from replay.domain.sweeps import SweepMetric
from replay.models import (
    BacktestCycle,
    BacktestFill,
    BacktestRun,
    BacktestTrade,
    Dataset,
    DatasetSeries,
    RunStatus,
    Sweep,
)
from replay.selectors import (
    backtest_events,
    backtest_metrics,
    backtest_param_versions,
    backtest_quote,
    backtest_title,
    window_text,
)
from replay.sweep_selectors import RankedRun, sweep_ranking
from trading.templatetags.meva_numbers import DASH, format_money, format_qty

RECENT_RUNS_IN_FILTER = 20


def _when(moment: datetime | None) -> str:
    """``2024-01-03 12:05`` (UTC), or a dash."""
    return DASH if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def _signed_html(value, places: int = 2, unit: str = ""):
    """A number colored by its sign (green gains, red losses), ``+`` on gains."""
    if value is None:
        return DASH
    text = format_money(value, places) + (f" {unit}" if unit else "")
    if value > 0:
        return format_html('<span class="bt-pos" style="color:#1a7f37">+{}</span>', text)
    if value < 0:
        return format_html('<span class="bt-neg" style="color:#cf222e">{}</span>', text)
    return text


def _duration(delta: timedelta) -> str:
    """``2 d 3 h``, ``3 h 05 min``, ``25 min``."""
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 1440)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def _interval(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms} ms"


def _run_link(run: BacktestRun):
    url = reverse("admin:replay_backtestrun_change", args=[run.pk])
    return format_html('<a href="{}">#{}</a>', url, run.pk)


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
        "interval",
        "first",
        "last",
        "bars",
        "gap_total",
        "rules_source",
        "imported",
    )
    search_fields = ("name",)
    inlines = (DatasetSeriesInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("series")

    @admin.display(description="symbols")
    def symbol_list(self, obj: Dataset) -> str:
        return ", ".join(s.symbol for s in obj.series.all())

    @admin.display(description="interval", ordering="interval_ms")
    def interval(self, obj: Dataset) -> str:
        return _interval(obj.interval_ms)

    @admin.display(description="first bar (UTC)", ordering="first_ts")
    def first(self, obj: Dataset) -> str:
        return _when(obj.first_ts)

    @admin.display(description="last bar (UTC)", ordering="last_ts")
    def last(self, obj: Dataset) -> str:
        return _when(obj.last_ts)

    @admin.display(description="bars", ordering="bar_count")
    def bars(self, obj: Dataset) -> str:
        return f"{obj.bar_count:,}"

    @admin.display(description="imported (UTC)", ordering="imported_at")
    def imported(self, obj: Dataset) -> str:
        return _when(obj.imported_at)

    @admin.display(description="gaps (missing bars)")
    def gap_total(self, obj: Dataset) -> str:
        series = list(obj.series.all())
        return f"{sum(s.gap_count for s in series)} ({sum(s.missing_bars for s in series)})"


@admin.register(BacktestRun)
class BacktestRunAdmin(ReadOnlyAdmin):
    change_form_template = "admin/replay/backtestrun/change_form.html"
    change_list_template = "admin/replay/backtestrun/change_list.html"
    list_display = (
        "run_id",
        "dataset",
        "strategy",
        "status_progress",
        "trades_count",
        "return_text",
        "drawdown_text",
        "sharpe_text",
        "created",
    )
    list_display_links = ("run_id",)
    list_filter = ("status", "strategy", "dataset")
    list_select_related = ("dataset",)
    actions = ("compare_runs",)
    readonly_fields = [f.name for f in BacktestRun._meta.fields]

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path(
                "start/",
                view(lambda request: console.start_view(self, request)),
                name="replay_backtestrun_start",
            ),
            path(
                "compare/",
                view(lambda request: console.compare_view(self, request)),
                name="replay_backtestrun_compare",
            ),
            path(
                "<path:object_id>/progress/",
                view(lambda request, object_id: console.progress_view(self, request, object_id)),
                name="replay_backtestrun_progress",
            ),
            *super().get_urls(),
        ]

    @admin.action(description="Compare selected runs")
    def compare_runs(self, request, queryset):
        ids = ",".join(str(pk) for pk in sorted(queryset.values_list("pk", flat=True)))
        return HttpResponseRedirect(f"{reverse('admin:replay_backtestrun_compare')}?ids={ids}")

    def changelist_view(self, request, extra_context=None):
        extra = dict(extra_context or {})
        extra.setdefault("title", "Backtest runs")
        extra["can_start"] = request.user.has_perm(console.START_PERMISSION)
        return super().changelist_view(request, extra_context=extra)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if run is not None:
            extra.update(self._run_context(run))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _run_context(self, run: BacktestRun) -> dict[str, object]:
        filter_query = f"?run__id__exact={run.pk}"
        links = [
            (label, reverse(f"admin:replay_{model}_changelist") + filter_query, f"{rows.count():,}")
            for label, model, rows in (
                ("Trades", "backtesttrade", run.trade_rows),
                ("Fills", "backtestfill", run.fill_rows),
                ("Decision cycles", "backtestcycle", run.cycle_rows),
            )
        ]
        return {
            "title": backtest_title(run),
            "subtitle": None,
            "run": run,
            "quote": backtest_quote(run),
            "metrics": backtest_metrics(run),
            "run_links": links,
            "chart": console.run_chart_data(run),
            "inputs": self._inputs(run),
            "running": run.status not in console.TERMINAL,
            "progress_url": reverse("admin:replay_backtestrun_progress", args=[run.pk]),
            "param_versions": backtest_param_versions(run),
            "events": backtest_events(run),
        }

    def _inputs(self, run: BacktestRun) -> list[tuple[str, object]]:
        dataset_url = reverse("admin:replay_dataset_change", args=[run.dataset_id])
        return [
            ("Dataset", format_html('<a href="{}">{}</a>', dataset_url, run.dataset.name)),
            ("Dataset fingerprint", run.dataset_fingerprint),
            ("Strategy", run.strategy),
            ("Parameters", json.dumps(run.params, sort_keys=True)),
            ("Risk limits", json.dumps(run.risk_limits, sort_keys=True)),
            (
                "Universe governance",
                json.dumps(run.universe, sort_keys=True) if run.universe else "off",
            ),
            ("Adaptation", json.dumps(run.adaptation, sort_keys=True) if run.adaptation else "off"),
            ("Fill model", run.fill_model),
            (
                "Fees maker / taker",
                f"{format_money(run.fee_maker_bps, 1)} / {format_money(run.fee_taker_bps, 1)} bps",
            ),
            ("Initial cash", f"{format_money(run.initial_cash)} {backtest_quote(run)}"),
            ("Window (UTC)", window_text(run)),
            ("Symbols", ", ".join(run.symbols) or DASH),
            ("Created (UTC)", _when(run.created_at)),
            ("Started (UTC)", _when(run.started_at)),
            ("Finished (UTC)", _when(run.finished_at)),
            ("Result fingerprint", run.fingerprint or DASH),
            ("Sweep", self._sweep_link(run)),
        ]

    def _sweep_link(self, run: BacktestRun):
        if run.sweep_id is None:
            return DASH
        url = reverse("admin:replay_sweep_change", args=[run.sweep_id])
        return format_html('<a href="{}">Sweep #{}</a>', url, run.sweep_id)

    @admin.display(description="run", ordering="id")
    def run_id(self, obj: BacktestRun) -> str:
        return f"#{obj.pk}"

    @admin.display(description="status", ordering="status")
    def status_progress(self, obj: BacktestRun) -> str:
        if obj.status == RunStatus.RUNNING:
            return f"running {obj.progress_pct} %"
        return obj.status

    @admin.display(description="trades", ordering="trades")
    def trades_count(self, obj: BacktestRun) -> str:
        return f"{obj.trades:,}"

    @admin.display(description="return", ordering="return_pct")
    def return_text(self, obj: BacktestRun):
        return _signed_html(obj.return_pct, 2, "%")

    @admin.display(description="max DD", ordering="max_drawdown_pct")
    def drawdown_text(self, obj: BacktestRun) -> str:
        value = obj.max_drawdown_pct
        return DASH if value is None else f"{format_money(value)} %"

    @admin.display(description="sharpe", ordering="sharpe")
    def sharpe_text(self, obj: BacktestRun) -> str:
        return format_money(obj.sharpe, 2)

    @admin.display(description="created (UTC)", ordering="created_at")
    def created(self, obj: BacktestRun) -> str:
        return _when(obj.created_at)


class RunFilter(admin.SimpleListFilter):
    """The run rows belong to: the newest runs, and the one selected (``run__id__exact``)."""

    title = "backtest run"
    parameter_name = "run__id__exact"

    def lookups(self, request, model_admin):
        runs = list(BacktestRun.objects.select_related("dataset")[:RECENT_RUNS_IN_FILTER])
        selected = self.value()
        if selected and selected.isdigit() and all(r.pk != int(selected) for r in runs):
            runs += list(BacktestRun.objects.select_related("dataset").filter(pk=int(selected)))
        return [(str(r.pk), backtest_title(r)) for r in runs]

    def queryset(self, request, queryset):
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(run_id=int(value))
        return queryset


class RunRowsAdmin(ReadOnlyAdmin):
    """Trades, fills and cycles: filterable by run; the page title names the run, whose column
    is left out then (one run: no need to repeat it on every row)."""

    rows_label = "rows"
    list_select_related = ("run",)

    def get_list_display(self, request):
        columns = super().get_list_display(request)
        if request.GET.get(RunFilter.parameter_name, "").isdigit():
            return tuple(c for c in columns if c != "run_link")
        return columns

    def changelist_view(self, request, extra_context=None):
        extra = dict(extra_context or {})
        value = request.GET.get(RunFilter.parameter_name, "")
        if value.isdigit():
            run = BacktestRun.objects.select_related("dataset").filter(pk=int(value)).first()
            if run is not None:
                extra["title"] = f"{self.rows_label} of {backtest_title(run)}"
        return super().changelist_view(request, extra_context=extra)

    @admin.display(description="run", ordering="run_id")
    def run_link(self, obj):
        return _run_link(obj.run)


@admin.register(BacktestFill)
class BacktestFillAdmin(RunRowsAdmin):
    rows_label = "Fills"
    list_display = (
        "run_link",
        "time",
        "symbol",
        "side",
        "price_text",
        "quantity_text",
        "fee_text",
        "liquidity",
        "trade_id",
    )
    list_filter = (RunFilter, "side", "liquidity", "symbol")
    search_fields = ("client_order_id", "trade_id")
    fields = (*list_display, "client_order_id")
    readonly_fields = fields

    @admin.display(description="time (UTC)", ordering="ts")
    def time(self, obj: BacktestFill) -> str:
        return _when(obj.ts)

    @admin.display(description="price", ordering="price")
    def price_text(self, obj: BacktestFill) -> str:
        return format_qty(obj.price)

    @admin.display(description="quantity", ordering="quantity")
    def quantity_text(self, obj: BacktestFill) -> str:
        return format_qty(obj.quantity)

    @admin.display(description="fee", ordering="fee")
    def fee_text(self, obj: BacktestFill) -> str:
        """A fee in the quote currency as money (2 places); in the base asset as a quantity."""
        quote = obj.symbol.rpartition("_")[2]
        amount = format_money(obj.fee) if obj.fee_asset == quote else format_qty(obj.fee)
        return f"{amount} {obj.fee_asset}"


@admin.register(BacktestTrade)
class BacktestTradeAdmin(RunRowsAdmin):
    rows_label = "Trades"
    list_display = (
        "run_link",
        "symbol",
        "closed",
        "held",
        "pnl_text",
        "fees_text",
        "quantity_text",
        "entry",
        "exit",
    )
    list_filter = (RunFilter, "symbol")
    fields = ("run_link", "symbol", "opened", *list_display[2:])
    readonly_fields = fields

    @admin.display(description="opened (UTC)", ordering="opened_at")
    def opened(self, obj: BacktestTrade) -> str:
        return _when(obj.opened_at)

    @admin.display(description="closed (UTC)", ordering="closed_at")
    def closed(self, obj: BacktestTrade) -> str:
        return _when(obj.closed_at)

    @admin.display(description="held")
    def held(self, obj: BacktestTrade) -> str:
        return _duration(obj.closed_at - obj.opened_at)

    @admin.display(description="quantity", ordering="quantity")
    def quantity_text(self, obj: BacktestTrade) -> str:
        return format_qty(obj.quantity)

    @admin.display(description="entry price", ordering="entry_price")
    def entry(self, obj: BacktestTrade) -> str:
        return format_qty(obj.entry_price)

    @admin.display(description="exit price", ordering="exit_price")
    def exit(self, obj: BacktestTrade) -> str:
        return format_qty(obj.exit_price)

    @admin.display(description="net PnL", ordering="pnl")
    def pnl_text(self, obj: BacktestTrade):
        return _signed_html(obj.pnl)

    @admin.display(description="fees", ordering="fees")
    def fees_text(self, obj: BacktestTrade) -> str:
        return format_money(obj.fees)


@admin.register(BacktestCycle)
class BacktestCycleAdmin(RunRowsAdmin):
    """The cycles of runs that decided something or changed mode or universe (the others
    only moved the equity curve, which the run page charts from the run's series)."""

    rows_label = "Decision cycles"
    list_display = (
        "run_link",
        "seq",
        "time",
        "mode",
        "equity_text",
        "drawdown_text",
        "fills",
        "intent_count",
        "denial_count",
    )
    list_filter = (RunFilter, "mode")
    fields = (
        *list_display,
        "cash_text",
        "mode_reasons",
        "universe",
        "intents",
        "orders",
        "denials",
    )
    readonly_fields = fields

    @admin.display(description="time (UTC)", ordering="ts")
    def time(self, obj: BacktestCycle) -> str:
        return _when(obj.ts)

    @admin.display(description="equity", ordering="equity")
    def equity_text(self, obj: BacktestCycle) -> str:
        return format_money(obj.equity)

    @admin.display(description="cash")
    def cash_text(self, obj: BacktestCycle) -> str:
        return format_money(obj.cash)

    @admin.display(description="drawdown", ordering="drawdown_pct")
    def drawdown_text(self, obj: BacktestCycle) -> str:
        return f"{format_money(obj.drawdown_pct)} %"

    @admin.display(description="intents")
    def intent_count(self, obj: BacktestCycle) -> int:
        return len(obj.intents)

    @admin.display(description="denials")
    def denial_count(self, obj: BacktestCycle) -> int:
        return len(obj.denials)


@admin.register(Sweep)
class SweepAdmin(ReadOnlyAdmin):
    """Parameter sweeps; the change page ranks the sweep's runs (``?metric=`` re-ranks by
    return, sharpe or max_drawdown), each linked to its run page, and links the best ten
    completed ones to the comparison page."""

    change_form_template = "admin/replay/sweep/change_form.html"
    list_display = (
        "sweep_id",
        "dataset",
        "strategy",
        "status",
        "counts",
        "metric",
        "executor",
        "actor",
        "created",
    )
    list_display_links = ("sweep_id",)
    list_filter = ("status", "strategy", "dataset")
    list_select_related = ("dataset",)
    readonly_fields = [f.name for f in Sweep._meta.fields]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        sweep = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if sweep is not None:
            extra.update(self._sweep_context(sweep, request.GET.get("metric")))
        return super().change_view(request, object_id, form_url, extra_context=extra)

    def _sweep_context(self, sweep: Sweep, metric: str | None) -> dict[str, object]:
        chosen = metric if metric in {m.value for m in SweepMetric} else sweep.metric
        ranking = sweep_ranking(sweep=sweep, metric=chosen)
        best = [r.run.pk for r in ranking if r.run.status == RunStatus.COMPLETED][:10]
        compare = reverse("admin:replay_backtestrun_compare") + "?ids=" + ",".join(map(str, best))
        return {
            "title": f"Sweep #{sweep.pk} · {sweep.dataset.name} · {sweep.strategy}",
            "subtitle": None,
            "sweep": sweep,
            "metric": chosen,
            "metrics": [m.value for m in SweepMetric],
            "ranking": [(item, self._ranked_cells(item)) for item in ranking],
            "compare_url": compare if len(best) >= 2 else None,
        }

    def _ranked_cells(self, item: RankedRun) -> dict[str, object]:
        run = item.run
        done = run.status == RunStatus.COMPLETED
        return {
            "link": _run_link(run),
            "params": ", ".join(f"{k}={v}" for k, v in item.params.items()),
            "return": _signed_html(run.return_pct, 2, "%") if done else DASH,
            "sharpe": format_money(run.sharpe, 2) if done else DASH,
            "drawdown": f"{format_money(run.max_drawdown_pct)} %" if done else DASH,
            "trades": f"{run.trades:,}" if done else DASH,
        }

    @admin.display(description="sweep", ordering="id")
    def sweep_id(self, obj: Sweep) -> str:
        return f"#{obj.pk}"

    @admin.display(description="completed / failed / total")
    def counts(self, obj: Sweep) -> str:
        return f"{obj.completed} / {obj.failed} / {obj.total}"

    @admin.display(description="created (UTC)", ordering="created_at")
    def created(self, obj: Sweep) -> str:
        return _when(obj.created_at)
