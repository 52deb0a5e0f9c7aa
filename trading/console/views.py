"""The console's pages inside the admin: the dashboard (the admin's index), one page per
account, and one confirmation step per action.

All views are wrapped by ``admin.site.admin_view`` in ``trading.console.urls`` (an active staff
user, CSRF-protected, never cached). An action's page (GET) explains what will happen and asks
for a reason (and, to arm, the acknowledgement phrase); its POST needs the action's permission
(403 otherwise, for GET too), a non-blank reason, calls the action's one service, reports the
result as a message and redirects to ``next`` (a local URL) or the page the action belongs to.
"""

from __future__ import annotations

import datetime as dt
import logging

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from meva.errors import ApplicationError
from trading.adaptive_selectors import param_versions, universe_view
from trading.console import selectors
from trading.console.actions import ACCOUNT, ACTIONS, ALERT, CONTROL, PARAMS, POSITION, Target
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.models import Account, Alert, ParamSet

logger = logging.getLogger(__name__)

DASHBOARD_CHARTS = 12  # equity charts on the dashboard (accounts by name)


def _allowed(request: HttpRequest) -> dict[str, bool]:
    """``action key (dashes as underscores) -> the user holds its permission``, for the
    buttons; the action's own view checks again."""
    return {
        key.replace("-", "_"): request.user.has_perm(action.permission)
        for key, action in ACTIONS.items()
    }


def _trading_day() -> str:
    """When today's trading day began, in its own zone and in UTC (the pages' times)."""
    start = selectors.trading_day_start()
    utc = start.astimezone(dt.UTC)
    return f"{start:%Y-%m-%d %H:%M} {start.tzinfo} ({utc:%Y-%m-%d %H:%M} UTC)"


def _with_steps(orders: list) -> list[tuple]:
    """``(order, tick size, step size)`` for the order rows (prices and quantities shown at
    the instrument's precision when it is stored)."""
    steps = selectors.instrument_steps(sorted({o.symbol for o in orders}))
    return [(o, *steps.get(o.symbol, (None, None))) for o in orders]


def _chart(summary: selectors.AccountSummary, points: int) -> dict[str, object]:
    return {
        "account": summary.account.name,
        "quote": summary.quote,
        "baseline": None if summary.baseline is None else str(summary.baseline),
        "baseline_label": summary.baseline_label,
        "points": selectors.equity_series(summary.account.name, points),
    }


@require_http_methods(["GET"])
def dashboard(request: HttpRequest) -> TemplateResponse:
    """The admin's index: the gate with every reason, the switches, every account's figures
    and equity, UNKNOWN orders, open alerts, the newest audit events, exchange health."""
    summaries = selectors.account_summaries()
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "gate": selectors.gate_view(),
        "summaries": summaries,
        "charts": [_chart(s, selectors.DASHBOARD_POINTS) for s in summaries[:DASHBOARD_CHARTS]],
        "unknown_orders": _with_steps(selectors.open_orders(unknown_only=True)),
        "alerts": selectors.open_alerts(),
        "audit": selectors.recent_audit(),
        "app_list": admin.site.get_app_list(request),
        "can": _allowed(request),
        "trading_day": _trading_day(),
    }
    return TemplateResponse(request, "admin/console/dashboard.html", context)


@require_http_methods(["GET"])
def account_page(request: HttpRequest, name: str) -> TemplateResponse:
    """One account: its switches and actions, equity and drawdown, PnL, positions with
    unrealized PnL, open and UNKNOWN orders, the last cycles with their step timings, its open
    alerts and audit events, the exchange health its last cycle saw, and (issue 11) its
    governed universe and parameter versions."""
    found = selectors.account_summaries(name=name)
    if not found:
        raise Http404(f"no account {name}")
    summary = found[0]
    cycles = selectors.recent_cycles(name)
    steps = selectors.timing_steps(cycles)
    orders = selectors.open_orders(name)
    context = {
        **admin.site.each_context(request),
        "title": f"Account {name}",
        "summary": summary,
        "account": summary.account,
        "gate": selectors.gate_view(),
        "chart": _chart(summary, selectors.ACCOUNT_POINTS),
        "positions": selectors.positions(summary.account),
        "orders": _with_steps(orders),
        "orders_capped": len(orders) >= selectors.ORDERS_SHOWN,
        "cycles": [(c, [(c.timings_ms or {}).get(step) for step in steps]) for c in cycles],
        "timing_steps": steps,
        "alerts": selectors.open_alerts(name),
        "audit": selectors.recent_audit(name),
        "can": _allowed(request),
        "trading_day": _trading_day(),
        "trading_zone": settings.TRADING_DAY_TIME_ZONE,
        "universe": universe_view(summary.account),
        "param_versions": param_versions(summary.account),
    }
    return TemplateResponse(request, "admin/console/account.html", context)


class ReasonForm(forms.Form):
    """The confirmation step: a reason (kept in the audit trail) and, to arm, the phrase."""

    reason = forms.CharField(
        max_length=500,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Why? Kept in the audit trail with your name.",
    )
    acknowledgement = forms.CharField(
        max_length=64,
        required=False,
        help_text=f"Type {LIVE_TRADING_ACK_PHRASE} exactly.",
    )

    def __init__(self, *args: object, acknowledgement: bool, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if acknowledgement:
            self.fields["acknowledgement"].required = True
        else:
            del self.fields["acknowledgement"]


def _target(
    scope: str, name: str | None, symbol: str | None, pk: int | None, version: int | None = None
) -> Target:
    if scope == ALERT:
        return Target(alert=get_object_or_404(Alert, pk=pk))
    if scope == PARAMS:
        account = get_object_or_404(Account, name=name)
        get_object_or_404(ParamSet, account=account, version=version)
        return Target(account=account, version=version)
    if scope in (ACCOUNT, POSITION):
        account = get_object_or_404(Account, name=name)
        if scope == POSITION and symbol not in account.symbols:
            raise Http404(f"{account.name} does not trade {symbol}")
        return Target(account=account, symbol=symbol if scope == POSITION else None)
    return Target()


def _home(target: Target) -> str:
    account = target.account.name if target.account is not None else None
    if target.alert is not None and target.alert.account:
        account = target.alert.account
    if account and Account.objects.filter(name=account).exists():
        return reverse("console:account", args=[account])
    return reverse("console:dashboard")


def _next(request: HttpRequest, target: Target) -> str:
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return _home(target)


@require_http_methods(["GET", "POST"])
def action(
    request: HttpRequest,
    key: str,
    scope: str,
    name: str | None = None,
    symbol: str | None = None,
    pk: int | None = None,
    version: int | None = None,
) -> HttpResponse:
    """Confirm (GET) and run (POST) the action ``key`` of ``scope`` (set by the URL) on its
    target. 404 for an action of another scope or a missing target, 403 without the action's
    permission."""
    spec = ACTIONS.get(key)
    if spec is None or spec.scope != scope:
        raise Http404(f"no console action {key} here")
    if not request.user.has_perm(spec.permission):
        raise PermissionDenied(f"{spec.title} needs the permission {spec.permission}")
    target = _target(spec.scope, name, symbol, pk, version)
    form = ReasonForm(
        request.POST if request.method == "POST" else None, acknowledgement=spec.acknowledgement
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            level, text = spec.run(
                target, request.user, data["reason"], data.get("acknowledgement", "")
            )
        except ApplicationError as exc:
            form.add_error(None, str(exc))
        except Exception as exc:  # an exchange or lock error: the service audited it; show it
            logger.exception("console action %s on %s failed", key, target)
            form.add_error(None, f"failed: {type(exc).__name__}: {exc}")
        else:
            messages.add_message(request, level, text)
            return HttpResponseRedirect(_next(request, target))
    context = {
        **admin.site.each_context(request),
        "title": spec.title,
        "spec": spec,
        "target": target,
        "form": form,
        "next": _next(request, target),
        "gate": selectors.gate_view() if spec.scope == CONTROL else None,
        "phrase": LIVE_TRADING_ACK_PHRASE,
    }
    return TemplateResponse(request, "admin/console/action.html", context)
