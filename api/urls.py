"""Routes of the reports API under ``/api/v1/`` (README "API")."""

from __future__ import annotations

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from api.apis import (
    accounts,
    adaptive,
    backtests,
    control,
    health,
    records,
    reports,
    sweeps,
    trading,
)

app_name = "api"

urlpatterns = [
    path("health/", health.HealthApi.as_view(), name="health"),
    path("status/", accounts.StatusApi.as_view(), name="status"),
    path("accounts/", accounts.AccountListApi.as_view(), name="accounts"),
    path("accounts/<str:name>/", accounts.AccountDetailApi.as_view(), name="account"),
    path("accounts/<str:name>/balances/", accounts.BalancesApi.as_view(), name="balances"),
    path("accounts/<str:name>/positions/", accounts.PositionsApi.as_view(), name="positions"),
    path("accounts/<str:name>/pnl/", reports.PnlApi.as_view(), name="pnl"),
    path("accounts/<str:name>/pnl/symbols/", reports.PnlSymbolsApi.as_view(), name="pnl-symbols"),
    path("accounts/<str:name>/equity/", reports.EquityApi.as_view(), name="equity"),
    path("accounts/<str:name>/params/", adaptive.ParamVersionListApi.as_view(), name="params"),
    path("accounts/<str:name>/universe/", adaptive.UniverseApi.as_view(), name="universe"),
    path("orders/", trading.OrderListApi.as_view(), name="orders"),
    path("fills/", trading.FillListApi.as_view(), name="fills"),
    path("cycles/", trading.CycleListApi.as_view(), name="cycles"),
    path("cycles/<int:id>/", trading.CycleDetailApi.as_view(), name="cycle"),
    path("alerts/", records.AlertListApi.as_view(), name="alerts"),
    path("audit-events/", records.AuditEventListApi.as_view(), name="audit-events"),
    path("instruments/", records.InstrumentListApi.as_view(), name="instruments"),
    path("datasets/", records.DatasetListApi.as_view(), name="datasets"),
    path("backtests/", backtests.BacktestListCreateApi.as_view(), name="backtests"),
    path("backtests/compare/", backtests.BacktestCompareApi.as_view(), name="backtests-compare"),
    path("backtests/<int:id>/", backtests.BacktestDetailApi.as_view(), name="backtest"),
    path("sweeps/", sweeps.SweepListApi.as_view(), name="sweeps"),
    path("sweeps/<int:id>/", sweeps.SweepDetailApi.as_view(), name="sweep"),
    path("control/arm/", control.ArmApi.as_view(), name="arm"),
    path("control/disarm/", control.DisarmApi.as_view(), name="disarm"),
    path("control/kill-switch/", control.KillSwitchApi.as_view(), name="kill-switch"),
    path("control/stop-entries/", control.StopEntriesApi.as_view(), name="stop-entries"),
    path("control/cancel-all/", control.CancelAllApi.as_view(), name="cancel-all"),
    path("control/force-exit/", control.ForceExitApi.as_view(), name="force-exit"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]
