"""Admin: accounts, changed only through ``trading.services.accounts`` (validated and audited).

The form's ``clean()`` runs the services' own validation (``account_config_clean`` and
``account_enable_check``) so errors show on the field; saving calls ``account_create`` or
``account_update`` (and the enable/disable/stop-entries services) with the admin user as the
actor, inside the admin's transaction. Accounts are never deleted here: orders, fills and
audit events refer to them by name (disable instead).
"""

from __future__ import annotations

from datetime import UTC, datetime

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from meva.errors import ApplicationError
from trading.domain.strategies.registry import STRATEGY_REGISTRY
from trading.domain.venue import FillModel
from trading.models import Account
from trading.services.account_config import CONFIG_FIELDS, AccountConfigError, account_config_clean
from trading.services.account_schedule import account_periodic_tasks
from trading.services.accounts import (
    account_create,
    account_disable,
    account_enable,
    account_enable_check,
    account_stop_entries_set,
    account_update,
)
from trading.services.audit import actor_for_user


class AccountForm(forms.ModelForm):
    """Every configuration field, validated by the services' rules; ``reason`` goes to the audit."""

    strategy = forms.ChoiceField(choices=[(name, name) for name in sorted(STRATEGY_REGISTRY)])
    symbols = forms.CharField(
        help_text="comma-separated pairs with one quote asset: BTC_TRY,ETH_TRY"
    )
    fill_model = forms.ChoiceField(choices=[(m.value, m.value) for m in FillModel])
    fee_maker_bps = forms.DecimalField(required=False, help_text="empty = BACKTEST_FEE_MAKER_BPS")
    fee_taker_bps = forms.DecimalField(required=False, help_text="empty = BACKTEST_FEE_TAKER_BPS")
    reason = forms.CharField(required=False, help_text="why (recorded in the audit trail)")

    class Meta:
        model = Account
        fields = (*CONFIG_FIELDS, "enabled", "stop_entries")

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:
            self.initial["symbols"] = ",".join(self.instance.symbols)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        config = {field: data.get(field, getattr(self.instance, field)) for field in CONFIG_FIELDS}
        try:
            data.update(account_config_clean(config))
            if data.get("enabled") and not self.instance.enabled:
                account_enable_check(mode=config["mode"], exclude_pk=self.instance.pk)
        except AccountConfigError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.problem)
        return data


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = (
        "name",
        "console_page",
        "mode",
        "strategy",
        "symbol_text",
        "enabled",
        "stop_entries",
        "risk_mode",
        "last_cycle",
    )
    list_filter = ("mode", "enabled", "stop_entries", "strategy")
    search_fields = ("name",)
    state_fields = (
        "beat_schedule",
        "api_key_id",
        "risk_state",
        "trade_cursor_ms",
        "last_cycle_ms",
        "reconciled_at",
        "created_at",
        "updated_at",
    )
    actions = ("enable", "disable", "stop_entries_on", "stop_entries_off")

    def view_on_site(self, obj: Account) -> str:
        """The change form's "View on site" button opens the account's console page."""
        return reverse("console:account", args=[obj.name])

    @admin.display(description="console")
    def console_page(self, obj: Account) -> str:
        return format_html('<a href="{}">dashboard</a>', self.view_on_site(obj))

    def get_fields(self, request: HttpRequest, obj: Account | None = None) -> list[str]:
        fields = [*CONFIG_FIELDS, "enabled", "stop_entries", "reason"]
        return fields + list(self.state_fields) if obj is not None else fields

    def get_readonly_fields(self, request: HttpRequest, obj: Account | None = None) -> tuple:
        # name and mode are immutable (orders, fills and audit events refer to them)
        return ("name", "mode", *self.state_fields) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: Account, form: AccountForm, change: bool
    ) -> None:
        """Save through the services (the admin's changeform view is one transaction)."""
        data, user = form.cleaned_data, request.user
        who = {"actor": actor_for_user(user), "user": user}
        reason = data.get("reason") or f"admin {'change' if change else 'add'} by {user}"
        config = {field: data[field] for field in CONFIG_FIELDS if field in data}
        if change:
            account = account_update(account=obj, changes=config, reason=reason, **who)
        else:
            config["balances"] = config.pop("initial_balances")
            account = account_create(**config, enable=data["enabled"], **who)
        if change and data["enabled"] != account.enabled:
            toggle = account_enable if data["enabled"] else account_disable
            account = toggle(account=account, reason=reason, **who)
        if data["stop_entries"] != account.stop_entries:
            account_stop_entries_set(
                account=account, stop=data["stop_entries"], reason=reason, **who
            )
        obj.pk = account.pk
        obj.refresh_from_db()

    @admin.display(description="symbols")
    def symbol_text(self, obj: Account) -> str:
        return ", ".join(obj.symbols)

    @admin.display(description="risk mode")
    def risk_mode(self, obj: Account) -> str:
        return str(obj.risk_state.get("mode", "")) if isinstance(obj.risk_state, dict) else ""

    @admin.display(description="last cycle (UTC)")
    def last_cycle(self, obj: Account) -> str:
        if obj.last_cycle_ms is None:
            return "-"
        return f"{datetime.fromtimestamp(obj.last_cycle_ms / 1000, tz=UTC):%Y-%m-%d %H:%M:%S}"

    @admin.display(description="beat schedule")
    def beat_schedule(self, obj: Account) -> str:
        entries = account_periodic_tasks(obj)
        if not entries:
            return "none (the account is disabled)"
        lines = ((f"{e.name}: {e.scheduler} ({'on' if e.enabled else 'off'})",) for e in entries)
        return format_html_join("", "<div>{}</div>", lines)

    def _each(self, request: HttpRequest, queryset: QuerySet, label: str, call) -> None:
        who = {"actor": actor_for_user(request.user), "user": request.user}
        for account in queryset:
            try:
                call(account=account, reason=f"admin action: {label} by {request.user}", **who)
            except ApplicationError as exc:
                self.message_user(request, f"{account.name}: {exc}", messages.ERROR)
            else:
                self.message_user(request, f"{account.name}: {label}")

    @admin.action(
        description="Enable selected accounts (create their beat entries)", permissions=("change",)
    )
    def enable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "enabled", account_enable)

    @admin.action(
        description="Disable selected accounts (delete their beat entries)", permissions=("change",)
    )
    def disable(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(request, queryset, "disabled", account_disable)

    @admin.action(
        description="Stop entries (only exposure-reducing orders and cancels)",
        permissions=("change",),
    )
    def stop_entries_on(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "entries stopped",
            lambda **kw: account_stop_entries_set(stop=True, **kw),
        )

    @admin.action(description="Resume entries", permissions=("change",))
    def stop_entries_off(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._each(
            request,
            queryset,
            "entries resumed",
            lambda **kw: account_stop_entries_set(stop=False, **kw),
        )
