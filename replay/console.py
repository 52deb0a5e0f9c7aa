"""Console pages of the backtests beyond the admin's own: start a backtest, compare runs, and a
run's progress as JSON for the run page's polling script.

Served under the BacktestRun admin (``BacktestRunAdmin.get_urls``), behind the admin's login:

- ``/admin/replay/backtestrun/start/`` (GET form, POST queues; needs ``replay.add_backtestrun``,
  the permission the API's create endpoint asks for);
- ``/admin/replay/backtestrun/compare/?ids=3,5,8[&normalize=0]`` (view permission);
- ``/admin/replay/backtestrun/<id>/progress/`` -> ``{"status", "progress_pct", "done"}``.

Starting goes through :func:`replay.services.backtests.backtest_queue`, as the API does: the run
is created ``pending`` and ``replay.backtest_run`` is queued once the transaction commits (run at
once in this process when Celery is eager, i.e. without ``REDIS_URL``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from meva.errors import ApplicationError
from replay.models import BacktestRun, Dataset, RunStatus
from replay.selectors import (
    COMPARE_MAX_RUNS,
    backtest_compare,
    backtest_curve,
    backtest_quote,
    backtest_title,
)
from replay.services.backtests import BacktestRequest, backtest_queue
from trading.domain.strategies.base import StrategyParamError
from trading.domain.strategies.registry import STRATEGY_PARAMS, STRATEGY_REGISTRY, build_strategy
from trading.domain.venue import FillModel
from trading.services.audit import actor_for_user, audit_record

START_PERMISSION = "replay.add_backtestrun"
TERMINAL = (RunStatus.COMPLETED, RunStatus.FAILED)


def _strategy_help() -> str:
    """A JSON object of each strategy's defaults, one strategy a line (keys left out take it)."""
    lines = format_html_join(
        "",
        "<br><code>{}</code>: <code>{}</code>",
        (
            (name, json.dumps({p.name: _json_default(p.default) for p in STRATEGY_PARAMS[name]}))
            for name in sorted(STRATEGY_REGISTRY)
        ),
    )
    return format_html("A JSON object; keys left out take their defaults:{}", lines)


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class BacktestStartForm(forms.Form):
    """The inputs of a backtest as an operator types them; ``clean`` checks the strategy's
    params (an error names the key, on the ``params`` field)."""

    dataset = forms.ModelChoiceField(queryset=Dataset.objects.all(), empty_label=None)
    strategy = forms.ChoiceField(choices=[(name, name) for name in sorted(STRATEGY_REGISTRY)])
    params = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_strategy_help(),
    )
    initial_cash = forms.DecimalField(
        max_digits=24, decimal_places=8, min_value=Decimal("0.00000001"), initial=Decimal(100_000),
        help_text="in the dataset's quote currency",
    )  # fmt: skip
    fill_model = forms.ChoiceField(
        choices=[(m.value, m.value) for m in FillModel], initial=FillModel.BAR.value
    )
    max_volume_share = forms.DecimalField(
        required=False, max_digits=9, decimal_places=8, min_value=Decimal(0), max_value=Decimal(1),
        help_text="share of a bar's volume one order may fill (0 = no cap); empty: "
        f"BACKTEST_MAX_VOLUME_SHARE ({settings.BACKTEST_MAX_VOLUME_SHARE})",
    )  # fmt: skip
    start = forms.DateTimeField(
        required=False, help_text="UTC, e.g. 2024-01-01 00:00; empty: the dataset's first bar"
    )
    end = forms.DateTimeField(required=False, help_text="UTC; empty: the dataset's last bar")
    reason = forms.CharField(
        required=False, max_length=500, help_text="optional; kept in the audit trail"
    )

    def clean_params(self) -> dict:
        params = self.cleaned_data.get("params")
        if params in (None, ""):
            return {}
        if not isinstance(params, dict):
            raise forms.ValidationError('must be a JSON object, e.g. {"fast": 10, "slow": 30}')
        return params

    def clean(self) -> dict:
        data = super().clean()
        strategy, params = data.get("strategy"), data.get("params")
        if strategy and params is not None:
            try:
                build_strategy(strategy, params)
            except StrategyParamError as exc:
                self.add_error("params", str(exc))
        start, end = data.get("start"), data.get("end")
        if start and end and start >= end:
            self.add_error("end", "must be after start")
        return data

    def backtest_request(self) -> BacktestRequest:
        data = self.cleaned_data
        share = data["max_volume_share"]
        if share is None:
            share = settings.BACKTEST_MAX_VOLUME_SHARE
        return BacktestRequest(
            dataset=data["dataset"],
            strategy=data["strategy"],
            params=data["params"],
            risk={},
            fill_model=FillModel(data["fill_model"]),
            fee_maker_bps=settings.BACKTEST_FEE_MAKER_BPS,
            fee_taker_bps=settings.BACKTEST_FEE_TAKER_BPS,
            initial_cash=data["initial_cash"],
            max_volume_share=share if share > 0 else None,
            start=data["start"],
            end=data["end"],
        )


def start_view(model_admin, request: HttpRequest) -> HttpResponse:
    """GET: the form; POST: create and queue the run, then go to its page."""
    if not request.user.has_perm(START_PERMISSION):
        raise PermissionDenied
    form = BacktestStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                run = backtest_queue(request=form.backtest_request())
                audit_record(
                    actor=actor_for_user(request.user),
                    user=request.user,
                    action="backtest.start",
                    object_type="replay.backtestrun",
                    object_id=str(run.pk),
                    after={
                        "dataset": run.dataset.name,
                        "strategy": run.strategy,
                        "params": run.params,
                        "initial_cash": run.initial_cash,
                        "fill_model": run.fill_model,
                        "max_volume_share": form.cleaned_data["max_volume_share"],
                        "start": run.start,
                        "end": run.end,
                    },
                    reason=form.cleaned_data["reason"],
                )
        except ApplicationError as exc:
            form.add_error(None, str(exc))
        else:
            run.refresh_from_db()  # an eager Celery ran it already
            if run.status in TERMINAL:  # eager Celery (no broker): it ran in this request
                messages.success(request, f"{backtest_title(run)} ran: {run.status}.")
            else:
                messages.success(request, f"{backtest_title(run)} queued; this page follows it.")
            return HttpResponseRedirect(reverse("admin:replay_backtestrun_change", args=[run.pk]))
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Start a backtest",
        "form": form,
        "has_datasets": Dataset.objects.exists(),
        "eager": settings.CELERY_TASK_ALWAYS_EAGER,
    }
    return TemplateResponse(request, "admin/replay/backtestrun/start.html", context)


def compare_view(model_admin, request: HttpRequest) -> HttpResponse:
    """Runs ``?ids=`` side by side: metrics table and overlaid curves (``normalize=0``: equity
    in the quote currency, default: % return from the start)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Compare backtests",
        "normalize": request.GET.get("normalize", "1") != "0",
        "ids": request.GET.get("ids", ""),
    }
    ids, error = _parse_ids(context["ids"])
    if error is None:
        try:
            comparison = backtest_compare(ids=ids)
        except BacktestRun.DoesNotExist as exc:
            error = str(exc)
        else:
            context["comparison"] = comparison
            context["series"] = [_series(run) for run in comparison.runs]
            quotes = {backtest_quote(run) for run in comparison.runs}
            context["quote"] = quotes.pop() if len(quotes) == 1 else ""
            context["chart_options"] = {
                "normalize": context["normalize"],
                "quote": context["quote"],
            }
    context["error"] = error
    status = 200 if error is None else 400
    return TemplateResponse(
        request, "admin/replay/backtestrun/compare.html", context, status=status
    )


def progress_view(model_admin, request: HttpRequest, object_id: str) -> JsonResponse:
    """``{"status": str, "progress_pct": int, "done": bool}`` of one run."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    run = get_object_or_404(BacktestRun, pk=object_id)
    return JsonResponse(
        {"status": run.status, "progress_pct": run.progress_pct, "done": run.status in TERMINAL}
    )


def _parse_ids(text: str) -> tuple[list[int], str | None]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        return [], f"ids must be run numbers separated by commas, got {text!r}"
    ids = list(dict.fromkeys(int(part) for part in parts))
    if len(ids) < 2:
        return [], "select at least two runs to compare"
    if len(ids) > COMPARE_MAX_RUNS:
        return [], f"at most {COMPARE_MAX_RUNS} runs at a time, got {len(ids)}"
    return ids, None


def _series(run: BacktestRun) -> dict[str, object]:
    """One run's curve for the comparison chart: epoch ms, equity and % return from the
    initial cash (floats: chart coordinates only)."""
    cash = run.initial_cash
    points = backtest_curve(run=run)
    return {
        "label": f"#{run.pk} {run.dataset.name} · {run.strategy}",
        "x": [p.ts_ms for p in points],
        "equity": [float(p.equity) for p in points],
        "return_pct": [float((p.equity / cash - 1) * 100) for p in points],
    }


def run_chart_data(run: BacktestRun) -> dict[str, object] | None:
    """The run page's chart data (for ``json_script``): epoch ms, equity, drawdown (percent,
    negative below the peak) and the initial cash baseline; ``None`` without cycles."""
    points = backtest_curve(run=run)
    if not points:
        return None
    return {
        "x": [p.ts_ms for p in points],
        "equity": [float(p.equity) for p in points],
        "drawdown": [-float(p.drawdown_pct) for p in points],
        "initial_cash": float(run.initial_cash),
        "quote": backtest_quote(run),
    }
