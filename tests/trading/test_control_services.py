from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from pytest_django.fixtures import Settings

from meva.errors import ApplicationError
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE, GateAction, GateReason
from trading.domain.orders import InvalidTransition, OrderStatus
from trading.models import AuditEvent, Order, TradingControl
from trading.services.control import (
    control_arm,
    control_disarm,
    kill_switch_engage,
    kill_switch_release,
)
from trading.services.gate import gate_state
from trading.services.orders import order_transition_apply

pytestmark = pytest.mark.django_db


@pytest.fixture
def live_environment(settings: Settings) -> Settings:
    """Every environment condition of the gate is green; only the database decides."""
    settings.DRY_RUN = False
    settings.KILL_SWITCH = False
    settings.LIVE_TRADING = True
    settings.LIVE_TRADING_ACK = "I_UNDERSTAND"
    settings.BTCTURK_API_KEY = "test-key"
    settings.BTCTURK_API_SECRET = "dGVzdC1zZWNyZXQ="
    return settings


@pytest.fixture
def default_environment(settings: Settings) -> Settings:
    """The documented environment defaults, set explicitly so a developer's .env cannot leak in."""
    settings.DRY_RUN, settings.KILL_SWITCH, settings.LIVE_TRADING = True, True, False
    settings.LIVE_TRADING_ACK = settings.BTCTURK_API_KEY = settings.BTCTURK_API_SECRET = ""
    return settings


def order_create(*, client_order_id: str, status: OrderStatus = OrderStatus.NEW) -> Order:
    return Order.objects.create(
        account="main",
        client_order_id=client_order_id,
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=Decimal("2500000"),
        quantity=Decimal("0.001"),
        status=status.value,
    )


def test_arming_records_who_when_and_why(operator: User) -> None:
    before = timezone.now()

    control = control_arm(
        user=operator, reason="morning session", acknowledgement=LIVE_TRADING_ACK_PHRASE
    )

    stored = TradingControl.objects.get(pk=1)
    assert control.pk == stored.pk == 1
    assert stored.armed is True
    assert stored.armed_by == operator
    assert before <= stored.armed_at <= timezone.now()
    assert stored.reason == "morning session"


def test_disarming_and_the_kill_switch_record_who_changed_them(operator: User) -> None:
    control_arm(user=operator, reason="start", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    control_disarm(user=operator, reason="lunch")
    kill_switch_engage(user=operator, reason="exchange incident")

    stored = TradingControl.objects.get(pk=1)
    assert (stored.armed, stored.armed_by) == (False, operator)
    assert (stored.kill_switch, stored.kill_switch_by) == (True, operator)
    assert stored.kill_switch_at is not None
    assert stored.reason == "exchange incident"
    assert TradingControl.objects.count() == 1

    kill_switch_release(user=operator, reason="resolved")
    assert TradingControl.objects.get(pk=1).kill_switch is False


def test_a_control_change_without_a_user_is_refused() -> None:
    with pytest.raises(ApplicationError):
        control_arm(user=None, reason="who?", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    assert TradingControl.objects.filter(armed=True).exists() is False


def test_with_default_settings_and_no_control_row_the_gate_blocks_with_all_reasons(
    default_environment: Settings,
) -> None:
    decision = gate_state()

    assert decision.allowed is False
    assert decision.reasons == (
        GateReason.DRY_RUN,
        GateReason.KILL_SWITCH,
        GateReason.LIVE_TRADING_OFF,
        GateReason.ACK_MISSING,
        GateReason.NO_CREDENTIALS,
        GateReason.NOT_ARMED,
    )
    assert TradingControl.objects.exists() is False  # reading the gate writes nothing


def test_gate_state_follows_the_database_arm_flag_and_kill_switch(
    live_environment: Settings, operator: User
) -> None:
    assert gate_state().reasons == (GateReason.NOT_ARMED,)

    control_arm(user=operator, reason="go", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    assert gate_state().allowed is True

    kill_switch_engage(user=operator, reason="halt")
    assert gate_state().reasons == (GateReason.DB_KILL_SWITCH,)
    assert gate_state(action=GateAction.CANCEL).reasons == (GateReason.DB_KILL_SWITCH,)


def test_an_unknown_order_blocks_submits_but_not_cancels(
    live_environment: Settings, operator: User
) -> None:
    control_arm(user=operator, reason="go", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    order_create(client_order_id="mv-BTCTRY-b-1-aaaaaaaaaaaa", status=OrderStatus.UNKNOWN)

    assert gate_state(action="submit").reasons == (GateReason.UNKNOWN_ORDERS,)
    assert gate_state(action="cancel").allowed is True


def test_a_withdraw_capable_key_is_refused(live_environment: Settings, operator: User) -> None:
    control_arm(user=operator, reason="go", acknowledgement=LIVE_TRADING_ACK_PHRASE)

    assert gate_state(key_can_withdraw=True).reasons == (GateReason.WITHDRAW_PERMISSION,)


@pytest.mark.parametrize(
    ("permissions", "allowed"),
    [(["funds", "trade", "withdraw"], False), (["funds", "trade"], True), ([], True)],
)
def test_the_gate_reads_the_keys_permissions_from_the_setting(
    live_environment: Settings, operator: User, permissions: list[str], allowed: bool
) -> None:
    live_environment.BTCTURK_API_PERMISSIONS = permissions
    control_arm(user=operator, reason="go", acknowledgement=LIVE_TRADING_ACK_PHRASE)

    decision = gate_state()

    assert decision.allowed is allowed
    assert (GateReason.WITHDRAW_PERMISSION in decision.reasons) is not allowed


def test_a_transition_changes_exactly_one_row_and_refuses_a_stale_old_status() -> None:
    order = order_create(client_order_id="mv-BTCTRY-b-1-bbbbbbbbbbbb")
    other = order_create(client_order_id="mv-BTCTRY-b-1-cccccccccccc")
    long_ago = timezone.now() - timedelta(days=1)
    Order.objects.filter(id=order.id).update(updated_at=long_ago)

    first = order_transition_apply(
        order_id=order.id,
        old=OrderStatus.NEW,
        new=OrderStatus.SUBMITTED,
        changes={"exchange_order_id": "123456"},
    )
    stale = order_transition_apply(order_id=order.id, old=OrderStatus.NEW, new=OrderStatus.REJECTED)

    order.refresh_from_db()
    other.refresh_from_db()
    assert (first, stale) == (True, False)
    assert (order.status, order.exchange_order_id) == (OrderStatus.SUBMITTED, "123456")
    assert order.updated_at > long_ago
    assert other.status == OrderStatus.NEW


@pytest.mark.parametrize(
    ("old", "new", "error"),
    [
        (OrderStatus.FILLED, OrderStatus.OPEN, InvalidTransition),
        (OrderStatus.NEW, OrderStatus.FILLED, InvalidTransition),
    ],
)
def test_a_transition_the_state_machine_forbids_raises_and_writes_nothing(
    old: OrderStatus, new: OrderStatus, error: type[Exception]
) -> None:
    order = order_create(client_order_id="mv-BTCTRY-b-1-dddddddddddd", status=old)

    with pytest.raises(error):
        order_transition_apply(order_id=order.id, old=old, new=new)
    order.refresh_from_db()
    assert order.status == old


def test_a_transition_may_not_smuggle_a_status_through_changes() -> None:
    order = order_create(client_order_id="mv-BTCTRY-b-1-eeeeeeeeeeee")

    with pytest.raises(ValueError, match="status"):
        order_transition_apply(
            order_id=order.id,
            old=OrderStatus.NEW,
            new=OrderStatus.SUBMITTED,
            changes={"status": OrderStatus.FILLED},
        )


def test_the_database_refuses_a_duplicate_client_order_id() -> None:
    from django.db import IntegrityError, transaction

    order_create(client_order_id="mv-BTCTRY-b-1-ffffffffffff")
    with pytest.raises(IntegrityError), transaction.atomic():
        order_create(client_order_id="mv-BTCTRY-b-1-ffffffffffff")


def test_the_admin_panel_shows_every_reason_and_the_console_arm_records_the_user(
    default_environment: Settings, admin_client: Client, admin_user: User
) -> None:
    page = admin_client.get("/admin/trading/tradingcontrol/")
    assert page.status_code == 200
    assert "BLOCKED (submit): DRY_RUN, KILL_SWITCH" in page.content.decode()

    # the switches are console buttons with a typed reason and phrase (trading.console)
    admin_client.post(
        "/admin/console/control/arm/",
        {"reason": "market open", "acknowledgement": "I_UNDERSTAND"},
    )

    control = TradingControl.objects.get(pk=1)
    assert (control.armed, control.armed_by) == (True, admin_user)
    event = AuditEvent.objects.get(action="control.arm")
    assert (event.actor, event.user) == (f"user:{admin_user.username}", admin_user)
    detail = admin_client.get("/admin/trading/tradingcontrol/1/change/").content.decode()
    assert "NOT_ARMED" not in detail
    assert "ACK_MISSING: LIVE_TRADING_ACK is not exactly I_UNDERSTAND" in detail


def test_arming_needs_the_exact_acknowledgement_phrase(operator: User) -> None:
    for typed in ("", "i_understand", "I_UNDERSTAND ", "yes"):
        with pytest.raises(ApplicationError, match="acknowledgement"):
            control_arm(user=operator, reason="go", acknowledgement=typed)

    assert TradingControl.objects.filter(armed=True).exists() is False
    assert AuditEvent.objects.exists() is False


def test_every_control_change_writes_an_audit_event_with_before_and_after(operator: User) -> None:
    control_arm(user=operator, reason="open", acknowledgement=LIVE_TRADING_ACK_PHRASE)
    control_disarm(user=operator, reason="close")
    kill_switch_engage(user=operator, reason="incident")
    kill_switch_release(user=operator, reason="resolved")

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events] == [
        "control.arm",
        "control.disarm",
        "control.kill_switch_engage",
        "control.kill_switch_release",
    ]
    assert {(e.actor, e.user_id, e.object_type) for e in events} == {
        ("user:operator", operator.pk, "trading_control")
    }
    assert [e.reason for e in events] == ["open", "close", "incident", "resolved"]
    arm, disarm = events[0], events[1]
    assert (arm.before["armed"], arm.before["armed_by"]) == (False, None)
    assert (arm.after["armed"], arm.after["armed_by"]) == (True, "operator")
    assert (disarm.before["armed"], disarm.after["armed"]) == (True, False)
    assert (events[2].before["kill_switch"], events[2].after["kill_switch"]) == (False, True)


def test_a_control_change_whose_audit_fails_is_rolled_back(
    operator: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("audit table unavailable")

    monkeypatch.setattr("trading.services.control.audit_record", broken)

    with pytest.raises(RuntimeError):
        kill_switch_engage(user=operator, reason="halt")
    assert TradingControl.load().kill_switch is False
