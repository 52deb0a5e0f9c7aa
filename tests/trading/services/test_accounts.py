from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from pytest_django.fixtures import Settings

from meva.errors import ApplicationError
from trading.models import Account, AuditEvent, PaperVenue
from trading.services import accounts as account_services
from trading.services.account_config import AccountConfigError
from trading.services.accounts import (
    account_create,
    account_disable,
    account_enable,
    account_stop_entries_set,
    account_update,
    api_key_id_from_settings,
)

pytestmark = pytest.mark.django_db

ACTOR = "command:test"


@pytest.fixture(autouse=True)
def fee_defaults(settings: Settings) -> Settings:
    settings.BACKTEST_FEE_MAKER_BPS = Decimal("10")
    settings.BACKTEST_FEE_TAKER_BPS = Decimal("20")
    settings.BTCTURK_API_KEY = ""
    return settings


def paper(**overrides: object) -> Account:
    values: dict[str, object] = {
        "name": "demo",
        "mode": "paper",
        "strategy": "mean_reversion",
        "params": {"window": 30},
        "symbols": ["btc_try", "ETHTRY"],
        "balances": {"TRY": "100000", "btc": "0.5"},
        "actor": ACTOR,
    }
    return account_create(**{**values, **overrides})


def live(name: str = "main", **overrides: object) -> Account:
    values: dict[str, object] = {
        "name": name,
        "mode": "live",
        "strategy": "sma_cross",
        "symbols": ["BTC_TRY"],
        "actor": ACTOR,
    }
    return account_create(**{**values, **overrides})


def entries() -> dict[str, PeriodicTask]:
    return {task.name: task for task in PeriodicTask.objects.select_related("interval")}


# --- create ------------------------------------------------------------------------------------


def test_a_paper_account_is_stored_normalized_and_audited(operator: User) -> None:
    account = paper(user=operator, actor="user:operator")

    stored = Account.objects.get(name="demo")
    assert stored.pk == account.pk
    assert stored.symbols == ["BTC_TRY", "ETH_TRY"]
    assert stored.params == {
        "window": 30,
        "entry_bps": "100",
        "exit_bps": "50",
        "stop_loss_bps": "0",
        "order_notional": None,
    }
    assert stored.initial_balances == {"TRY": "100000", "BTC": "0.5"}
    assert (stored.fee_maker_bps, stored.fee_taker_bps) == (Decimal(10), Decimal(20))
    assert (stored.enabled, stored.stop_entries, stored.api_key_id) == (False, False, "")
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.user, event.account) == (
        "account.create",
        "user:operator",
        operator,
        "demo",
    )
    assert event.before is None
    assert event.after["symbols"] == ["BTC_TRY", "ETH_TRY"]
    assert event.after["fee_maker_bps"] == "10"
    assert event.after["enabled"] is False
    assert entries() == {}  # disabled: no beat entries


def test_fees_and_fill_model_may_be_given(settings: Settings) -> None:
    account = paper(fee_maker_bps="5", fee_taker_bps=Decimal("7.5"), fill_model="next_open")

    account.refresh_from_db()
    assert (account.fee_maker_bps, account.fee_taker_bps) == (Decimal(5), Decimal("7.5"))
    assert account.fill_model == "next_open"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": "Bad Name!"}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": ""}, "name"),
        ({"mode": "demo"}, "mode"),
        ({"strategy": "nope"}, "strategy"),
        ({"params": {"window": 1}}, "params"),
        ({"params": {"speed": 3}}, "params"),
        ({"risk": {"max_order_pct": 2}}, "risk"),
        ({"risk": {"leverage": 3}}, "risk"),
        ({"risk": [1]}, "risk"),
        ({"symbols": []}, "symbols"),
        ({"symbols": ["BTC_TRY", "ETH_USDT"]}, "symbols"),
        ({"symbols": ["BTC_TRY", "btctry"]}, "symbols"),
        ({"symbols": ["NOPE"]}, "symbols"),
        ({"cycle_interval_s": 0}, "cycle_interval_s"),
        ({"bar_interval_s": -60}, "bar_interval_s"),
        ({"reconcile_interval_s": 1.5}, "reconcile_interval_s"),
        ({"balances": {}}, "initial_balances"),
        ({"balances": {"BTC": "1"}}, "initial_balances"),
        ({"balances": {"TRY": "-5"}}, "initial_balances"),
        ({"balances": {"TRY": "lots"}}, "initial_balances"),
        ({"balances": {"TRY": "1", "XRP": "5"}}, "initial_balances"),
        ({"fee_maker_bps": "abc"}, "fee_maker_bps"),
        ({"fee_taker_bps": "1001"}, "fee_taker_bps"),
        ({"fill_model": "magic"}, "fill_model"),
    ],
)
def test_an_invalid_value_is_refused_naming_its_field(overrides: dict, field: str) -> None:
    with pytest.raises(AccountConfigError) as raised:
        paper(**overrides)

    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert isinstance(raised.value, ApplicationError)
    assert (Account.objects.exists(), AuditEvent.objects.exists()) == (False, False)


def test_a_second_account_with_the_same_name_is_refused() -> None:
    paper()

    with pytest.raises(AccountConfigError, match="^name: an account named 'demo' already exists"):
        paper(balances={"TRY": "1"})
    assert AuditEvent.objects.count() == 1


# --- live accounts -----------------------------------------------------------------------------


def test_a_live_account_takes_its_key_id_from_the_api_key(settings: Settings) -> None:
    settings.BTCTURK_API_KEY = "public-key-1"

    account = live()

    expected = hashlib.sha256(b"public-key-1").hexdigest()[:16]
    assert account.api_key_id == expected == api_key_id_from_settings()
    assert account.initial_balances == {}


def test_a_live_account_has_no_starting_balances() -> None:
    with pytest.raises(AccountConfigError, match="^initial_balances: a live account"):
        live(balances={"TRY": "1000"})


def test_without_an_api_key_a_live_account_is_created_but_cannot_be_enabled() -> None:
    account = live()
    assert account.api_key_id == ""

    with pytest.raises(AccountConfigError, match="^enabled: .*without BTCTURK_API_KEY"):
        account_enable(account=account, actor=ACTOR, reason="go")
    with pytest.raises(AccountConfigError, match="^enabled:"):
        live("other", enable=True)
    assert Account.objects.filter(enabled=True).exists() is False
    assert entries() == {}


def test_only_one_enabled_live_account_per_api_key(settings: Settings) -> None:
    settings.BTCTURK_API_KEY = "public-key-1"
    live("first", enable=True)
    second = live("second")

    with pytest.raises(AccountConfigError, match="live account 'first' is already enabled"):
        account_enable(account=second, actor=ACTOR, reason="go")
    with pytest.raises(AccountConfigError, match="live account 'first' is already enabled"):
        live("third", enable=True)

    settings.BTCTURK_API_KEY = "public-key-2"  # another key: allowed
    enabled = account_enable(account=second, actor=ACTOR, reason="own key")
    assert enabled.api_key_id == hashlib.sha256(b"public-key-2").hexdigest()[:16]
    assert set(Account.objects.filter(enabled=True).values_list("name", flat=True)) == {
        "first",
        "second",
    }


def test_the_database_constraint_backs_the_one_live_account_per_key_check(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two concurrent enables both pass the check; the partial unique index stops the second."""
    settings.BTCTURK_API_KEY = "public-key-1"
    live("first", enable=True)
    second = live("second")
    monkeypatch.setattr(account_services, "account_enable_check", lambda **kwargs: None)

    with pytest.raises(AccountConfigError, match="^enabled: .*one enabled live account per key"):
        account_enable(account=second, actor=ACTOR, reason="race")

    second.refresh_from_db()
    assert second.enabled is False
    assert not AuditEvent.objects.filter(action="account.enable", account="second").exists()


# --- update ------------------------------------------------------------------------------------


def test_an_update_audits_only_the_changed_fields(operator: User) -> None:
    account = paper()

    updated = account_update(
        account=account,
        changes={"params": {"window": 40}, "risk": {"max_order_pct": "0.05"}, "fill_model": "bar"},
        actor="user:operator",
        user=operator,
        reason="slower",
    )

    assert updated.params["window"] == 40
    assert Account.objects.get().risk == {"max_order_pct": "0.05"}
    event = AuditEvent.objects.get(action="account.update")
    assert event.before == {"params": account.params, "risk": {}}
    assert event.after["risk"] == {"max_order_pct": "0.05"}
    assert event.after["params"]["window"] == 40
    assert (event.reason, event.user) == ("slower", operator)


def test_an_update_that_changes_nothing_writes_nothing() -> None:
    account = paper()

    account_update(account=account, changes={"params": {"window": "30"}}, actor=ACTOR)

    assert AuditEvent.objects.filter(action="account.update").exists() is False


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": "renamed"}, "name"),
        ({"mode": "live"}, "mode"),
        ({"enabled": True}, "enabled"),
        ({"stop_entries": True}, "stop_entries"),
        ({"api_key_id": "x"}, "api_key_id"),
        ({"symbols": ["BTC_USDT"]}, "initial_balances"),
        ({"cycle_interval_s": 0}, "cycle_interval_s"),
    ],
)
def test_an_invalid_update_is_refused_and_leaves_the_account_as_it_was(
    changes: dict, field: str
) -> None:
    account = paper()

    with pytest.raises(AccountConfigError) as raised:
        account_update(account=account, changes=changes, actor=ACTOR)

    assert raised.value.field == field
    stored = Account.objects.get()
    assert (stored.name, stored.mode, stored.symbols) == ("demo", "paper", ["BTC_TRY", "ETH_TRY"])
    assert AuditEvent.objects.filter(action="account.update").exists() is False


def test_the_name_and_mode_may_be_repeated_unchanged() -> None:
    account = paper()

    account_update(account=account, changes={"name": "demo", "mode": "paper"}, actor=ACTOR)


def test_changing_the_strategy_without_params_takes_its_defaults() -> None:
    account = paper()

    updated = account_update(account=account, changes={"strategy": "sma_cross"}, actor=ACTOR)

    assert (updated.strategy, updated.params) == ("sma_cross", {"fast": 10, "slow": 30})


def test_starting_balances_cannot_change_once_the_paper_venue_exists() -> None:
    account = paper()
    account_update(account=account, changes={"initial_balances": {"TRY": "5"}}, actor=ACTOR)
    PaperVenue.objects.create(account="demo")

    with pytest.raises(AccountConfigError, match="^initial_balances: the paper venue"):
        account_update(account=account, changes={"initial_balances": {"TRY": "9"}}, actor=ACTOR)
    assert Account.objects.get().initial_balances == {"TRY": "5"}


def test_a_failing_schedule_sync_leaves_neither_the_change_nor_its_audit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = paper(enable=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("beat tables unavailable")

    monkeypatch.setattr(account_services, "account_schedule_sync", broken)

    with pytest.raises(RuntimeError):
        account_update(account=account, changes={"cycle_interval_s": 120}, actor=ACTOR)
    assert Account.objects.get().cycle_interval_s == 60
    assert AuditEvent.objects.filter(action="account.update").exists() is False


def test_a_failing_audit_leaves_the_account_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    account = paper()

    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr(account_services, "audit_record", broken)

    with pytest.raises(RuntimeError):
        account_stop_entries_set(account=account, stop=True, actor=ACTOR, reason="halt")
    with pytest.raises(RuntimeError):
        paper(name="second")
    assert Account.objects.get().stop_entries is False
    assert Account.objects.count() == 1


# --- enable, disable, stop entries ------------------------------------------------------------


def test_enable_and_disable_are_audited_and_need_a_reason(operator: User) -> None:
    account = paper()

    with pytest.raises(AccountConfigError, match="^reason:"):
        account_enable(account=account, actor=ACTOR, reason=" ")
    account_enable(account=account, actor="user:operator", user=operator, reason="go")
    account_enable(account=account, actor=ACTOR, reason="again: no change, no event")
    account_disable(account=account, actor=ACTOR, reason="stop")

    events = AuditEvent.objects.filter(action__startswith="account.e").order_by("id")
    assert [(e.action, e.before["enabled"], e.after["enabled"]) for e in events] == [
        ("account.enable", False, True)
    ]
    disable = AuditEvent.objects.get(action="account.disable")
    assert (disable.before, disable.after, disable.reason) == (
        {"enabled": True},
        {"enabled": False},
        "stop",
    )
    assert Account.objects.get().enabled is False


def test_stop_entries_is_audited_when_it_changes() -> None:
    account = paper()

    account_stop_entries_set(account=account, stop=True, actor=ACTOR, reason="drawdown")
    account_stop_entries_set(account=account, stop=True, actor=ACTOR, reason="again")
    account_stop_entries_set(account=account, stop=False, actor=ACTOR, reason="recovered")

    events = AuditEvent.objects.filter(action="account.stop_entries").order_by("id")
    assert [(e.after["stop_entries"], e.reason) for e in events] == [
        (True, "drawdown"),
        (False, "recovered"),
    ]


# --- beat schedule -----------------------------------------------------------------------------


def test_enabling_creates_the_three_beat_entries_with_their_intervals_and_kwargs() -> None:
    paper(cycle_interval_s=15, reconcile_interval_s=120, balances_check_interval_s=600, enable=True)

    found = entries()
    assert set(found) == {
        "account:demo:cycle_run",
        "account:demo:orders_reconcile",
        "account:demo:balances_check",
    }
    expected = {
        "account:demo:cycle_run": ("trading.cycle_run", 15),
        "account:demo:orders_reconcile": ("trading.orders_reconcile", 120),
        "account:demo:balances_check": ("trading.balances_check", 600),
    }
    for name, (task, every) in expected.items():
        entry = found[name]
        assert (entry.task, entry.enabled) == (task, True)
        assert (entry.interval.every, entry.interval.period) == (every, IntervalSchedule.SECONDS)
        assert json.loads(entry.kwargs) == {"account": "demo"}


def test_disabling_deletes_the_entries_and_enabling_recreates_them() -> None:
    account = paper(enable=True)

    account_disable(account=account, actor=ACTOR, reason="pause")
    assert entries() == {}

    account_enable(account=account, actor=ACTOR, reason="resume")
    assert len(entries()) == 3


def test_an_interval_change_moves_its_entry() -> None:
    account = paper(enable=True)

    account_update(account=account, changes={"reconcile_interval_s": 90}, actor=ACTOR)

    found = entries()
    assert found["account:demo:orders_reconcile"].interval.every == 90
    assert found["account:demo:cycle_run"].interval.every == 60


def test_an_interval_edited_in_the_beat_admin_is_kept_until_the_account_interval_changes() -> None:
    account = paper(enable=True)
    entry = PeriodicTask.objects.get(name="account:demo:cycle_run")
    entry.interval = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.SECONDS)
    entry.save()

    account_update(account=account, changes={"params": {"window": 50}}, actor=ACTOR)
    account_enable(account=account, actor=ACTOR, reason="repair entries")
    assert entries()["account:demo:cycle_run"].interval.every == 5

    account_update(account=account, changes={"cycle_interval_s": 30}, actor=ACTOR)
    assert entries()["account:demo:cycle_run"].interval.every == 30


def test_enabling_repairs_a_missing_or_disabled_entry() -> None:
    account = paper(enable=True)
    PeriodicTask.objects.get(name="account:demo:balances_check").delete()
    paused = PeriodicTask.objects.get(name="account:demo:orders_reconcile")
    paused.enabled = False
    paused.save()

    account_enable(account=account, actor=ACTOR, reason="repair")

    assert {e.name: e.enabled for e in entries().values()} == {
        "account:demo:cycle_run": True,
        "account:demo:orders_reconcile": True,
        "account:demo:balances_check": True,
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="exact decimals need PostgreSQL")
def test_on_postgresql_fees_keep_every_decimal() -> None:
    account = paper(fee_maker_bps="0.00000000000000000001")

    account.refresh_from_db()
    assert account.fee_maker_bps == Decimal("1E-20")
