"""The account admin validates with the services' rules and saves through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django_celery_beat.models import PeriodicTask
from pytest_django.fixtures import Settings

from trading.models import Account, AuditEvent, Cycle, CycleDecision
from trading.services.accounts import account_create

pytestmark = pytest.mark.django_db

ADD = "/admin/trading/account/add/"


@pytest.fixture(autouse=True)
def no_api_key(settings: Settings) -> Settings:
    settings.BTCTURK_API_KEY = ""
    return settings


def form(**overrides: str) -> dict[str, str]:
    data = {
        "name": "demo",
        "mode": "paper",
        "strategy": "sma_cross",
        "params": '{"fast": 5, "slow": 20}',
        "risk": "{}",
        "symbols": "BTC_TRY, ETH_TRY",
        "initial_balances": '{"TRY": "50000"}',
        "bar_interval_s": "60",
        "cycle_interval_s": "60",
        "reconcile_interval_s": "300",
        "balances_check_interval_s": "300",
        "fee_maker_bps": "",
        "fee_taker_bps": "",
        "fill_model": "bar",
        "reason": "first paper session",
    }
    return {**data, **overrides}


def test_adding_an_account_goes_through_the_service(admin_client: Client, admin_user: User) -> None:
    assert admin_client.get(ADD).status_code == 200

    response = admin_client.post(ADD, form(enabled="on"))

    assert response.status_code == 302, response.content.decode()[:2000]
    account = Account.objects.get()
    assert (account.symbols, account.params) == (["BTC_TRY", "ETH_TRY"], {"fast": 5, "slow": 20})
    assert account.enabled is True
    event = AuditEvent.objects.get(action="account.create")
    assert (event.actor, event.user) == (f"user:{admin_user.username}", admin_user)
    assert PeriodicTask.objects.filter(name__startswith="account:demo:").count() == 3


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"symbols": "BTC_TRY,ETH_USDT"}, "symbols", "one quote asset"),
        ({"params": '{"fast": 50, "slow": 20}'}, "params", "fast"),
        ({"initial_balances": "{}"}, "initial_balances", "starting balances"),
        ({"risk": '{"max_order_pct": 9}'}, "risk", "max_order_pct"),
        ({"mode": "live", "enabled": "on", "initial_balances": ""}, "enabled", "BTCTURK_API_KEY"),
    ],
)
def test_an_invalid_form_shows_the_error_on_its_field(
    admin_client: Client, overrides: dict[str, str], field: str, words: str
) -> None:
    response = admin_client.post(ADD, form(**overrides))

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors and words in " ".join(errors[field])
    assert Account.objects.exists() is False
    assert AuditEvent.objects.exists() is False


def test_changing_an_account_audits_the_change_and_the_switches(admin_client: Client) -> None:
    account = account_create(
        name="demo",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "1000"},
        actor="command:test",
    )
    url = f"/admin/trading/account/{account.pk}/change/"
    assert admin_client.get(url).status_code == 200
    data = form(symbols="BTC_TRY", cycle_interval_s="30", enabled="on", stop_entries="on")
    data.pop("name"), data.pop("mode")  # read-only once created

    response = admin_client.post(url, {**data, "initial_balances": '{"TRY": "1000"}'})

    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.cycle_interval_s, account.enabled, account.stop_entries) == (30, True, True)
    actions = list(AuditEvent.objects.order_by("id").values_list("action", flat=True))
    assert actions == [
        "account.create",
        "account.update",
        "account.enable",
        "account.stop_entries",
    ]
    update = AuditEvent.objects.get(action="account.update")
    assert update.reason == "first paper session"
    assert set(update.after) == {"params", "cycle_interval_s"}


def test_the_list_shows_risk_mode_and_last_cycle_and_nothing_can_be_deleted(
    admin_client: Client,
) -> None:
    account = account_create(
        name="demo",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "1000"},
        actor="command:test",
    )
    Account.objects.filter(pk=account.pk).update(
        risk_state={"mode": "REDUCE_RISK_ONLY"}, last_cycle_ms=1_767_225_600_000
    )

    page = admin_client.get("/admin/trading/account/").content.decode()

    assert "REDUCE_RISK_ONLY" in page and "2026-01-01 00:00:00" in page
    delete = admin_client.post(f"/admin/trading/account/{account.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403


def test_the_enable_action_calls_the_service(admin_client: Client) -> None:
    account = account_create(
        name="demo",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "1000"},
        actor="command:test",
    )

    admin_client.post(
        "/admin/trading/account/", {"action": "enable", "_selected_action": [str(account.pk)]}
    )

    account.refresh_from_db()
    assert account.enabled is True
    assert AuditEvent.objects.filter(action="account.enable").count() == 1


def test_a_cycle_page_lists_its_decisions(admin_client: Client) -> None:
    cycle = Cycle.objects.create(
        account="demo", mode="paper", status="completed", now_ms=1, equity=Decimal("1000")
    )
    CycleDecision.objects.create(
        cycle=cycle, seq=1, kind="denial", symbol="BTC_TRY", code="MIN_NOTIONAL"
    )

    page = admin_client.get(f"/admin/trading/cycle/{cycle.pk}/change/")

    assert page.status_code == 200
    assert "MIN_NOTIONAL" in page.content.decode()
