"""Operator actions (cancel all, force exit) against the sandbox exchange over real sockets.

Same setup as ``test_cycle_sandbox``: the sandbox replays the bundled TRY sample with a manual
clock and the cycle clock is the exchange's; the gate is fully armed unless a test engages the
kill switch.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.test import override_settings

from ledger.models import Position
from meva.errors import ApplicationError
from meva.locks import single_flight
from replay.domain.dataset import load_dataset
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.domain.orders import OrderRequest, OrderType, Side
from trading.domain.planner import CyclePlan
from trading.domain.symbols import parse_symbol
from trading.exchange.btcturk.client import btcturk_client_from_settings
from trading.exchange.sandbox import SandboxServer, start_sandbox
from trading.models import Account, AuditEvent, Order, PaperOrder
from trading.services.accounts import account_create
from trading.services.control import control_arm, kill_switch_engage, kill_switch_release
from trading.services.cycle import cycle_run, reconciled_accounts_forget
from trading.services.cycle_ports import account_ports, cycle_clock
from trading.services.execution import plan_execute
from trading.services.execution_records import ExecutionGuardDb, OrderRecorderDb
from trading.services.operator_actions import (
    OperatorActionBusy,
    orders_cancel_all,
    position_force_exit,
)
from trading.services.paper import paper_venue_save
from trading.services.reconcile import balances_check, orders_reconcile

SAMPLE = Path(__file__).resolve().parents[3] / "data" / "sample" / "try-1m"
PARAMS = {"window": 10, "entry_bps": 15, "exit_bps": 5}
ACTOR = "command:test"
CASH = Decimal(100_000)

pytestmark = pytest.mark.django_db


@pytest.fixture
def exchange(operator) -> Iterator[SandboxServer]:
    sandbox = start_sandbox(
        load_dataset(SAMPLE), balances={"TRY": CASH}, warmup_steps=40, publish_interval_s=3600.0
    )
    overrides = {
        "BTCTURK_BASE_URL": sandbox.base_url,
        "BTCTURK_GRAPH_URL": sandbox.graph_url,
        "BTCTURK_API_KEY": sandbox.api_key,
        "BTCTURK_API_SECRET": sandbox.api_secret,
        "BTCTURK_API_PERMISSIONS": ["trade"],
        "TRADING_CLOCK": "exchange",
        "DRY_RUN": False,
        "KILL_SWITCH": False,
        "LIVE_TRADING": True,
        "LIVE_TRADING_ACK": LIVE_TRADING_ACK_PHRASE,
    }
    reconciled_accounts_forget()
    try:
        with override_settings(**overrides):
            kill_switch_release(user=operator, reason="test")
            control_arm(user=operator, reason="test", acknowledgement=LIVE_TRADING_ACK_PHRASE)
            yield sandbox
    finally:
        reconciled_accounts_forget()
        sandbox.stop(wait=False)


def _account(name: str, mode: str) -> Account:
    return account_create(
        name=name,
        mode=mode,
        strategy="mean_reversion",
        params=PARAMS,
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": CASH} if mode == "paper" else None,
        actor=ACTOR,
    )


def _cycle(sandbox: SandboxServer, name: str) -> None:
    sandbox.advance(1)
    cycle = cycle_run(account_name=name, actor=ACTOR)
    assert cycle.status == "completed", cycle.error


def _until_position(sandbox: SandboxServer, name: str) -> Position:
    for _ in range(80):
        _cycle(sandbox, name)
        held = Position.objects.filter(account=name, quantity__gt=0).first()
        if held is not None:
            return held
    raise AssertionError(f"{name} never held a position")


def _open_ours(name: str, symbol: str | None = None) -> list[str]:
    """Client order ids of the account's orders open at the sandbox, oldest first."""
    ours = set(Order.objects.filter(account=name).values_list("client_order_id", flat=True))
    with btcturk_client_from_settings() as client:
        reports = client.open_orders(None if symbol is None else parse_symbol(symbol))
    return [o.client_order_id for o in reports if o.client_order_id in ours]


def _resting_buys(name: str, *symbols: str) -> list[str]:
    """Far-below-market limit buys placed the way a cycle places them (recorded, gated)."""
    account = Account.objects.get(name=name)
    ports = account_ports(account)
    try:
        now = cycle_clock(account, ports)
        if ports.paper is not None:
            ports.paper.set_clock(now)
        orders = tuple(
            OrderRequest(
                f"rest-{name}-{i}",
                parse_symbol(symbol),
                Side.BUY,
                OrderType.LIMIT,
                Decimal("0.001") if symbol.startswith("BTC") else Decimal("0.01"),
                price=Decimal(200_000) if symbol.startswith("BTC") else Decimal(15_000),
            )
            for i, symbol in enumerate(symbols)
        )
        plan = CyclePlan(now, None, (), (), {}, (), orders, (), (), None, None, Decimal(0))
        result = plan_execute(
            plan,
            port=ports.orders,
            now_ms=now,
            guard=ExecutionGuardDb(account, owned=lambda: True, actor=ACTOR),
            recorder=OrderRecorderDb(account, cycle=None, actor=ACTOR),
        )
        assert len(result.acks) == len(orders), result.denials
        if ports.paper is not None:
            paper_venue_save(account=account, venue=ports.paper.venue, cursor=ports.paper.cursor)
    finally:
        ports.close()
    return [o.client_order_id for o in orders]


def test_cancel_all_cancels_every_order_of_a_live_account_and_leaves_foreign_ones(
    exchange, operator
) -> None:
    _account("live", "live")
    _cycle(exchange, "live")
    ours = _resting_buys("live", "BTC_TRY", "ETH_TRY")
    with btcturk_client_from_settings() as client:
        foreign = client.submit_order(
            OrderRequest(
                "by-hand", parse_symbol("BTC_TRY"), Side.BUY, OrderType.LIMIT, Decimal("0.001"),
                price=Decimal(190_000),
            )
        )  # fmt: skip

    result = orders_cancel_all(account_name="live", user=operator, reason="market halt")

    assert sorted(result.canceled) == sorted(ours)
    assert result.denials == []
    with btcturk_client_from_settings() as client:
        assert [o.order_id for o in client.open_orders()] == [foreign.order_id]
    assert set(Order.objects.filter(account="live").values_list("status", flat=True)) == {
        "CANCELED"
    }
    cancels = AuditEvent.objects.filter(account="live", action="order.cancel")
    assert sorted(cancels.values_list("object_id", flat=True)) == sorted(ours)
    event = AuditEvent.objects.get(pk=result.audit_event_id)
    assert (event.action, event.user, event.reason) == (
        "operator.cancel_all",
        operator,
        "market halt",
    )
    assert sorted(event.after["canceled"]) == sorted(ours)


def test_cancel_all_of_one_symbol_on_a_paper_account_is_kept_in_its_venue_rows(
    exchange, operator
) -> None:
    _account("paper", "paper")
    _cycle(exchange, "paper")
    btc, eth = _resting_buys("paper", "BTC_TRY", "ETH_TRY")

    result = orders_cancel_all(
        account_name="paper", user=operator, reason="rebalance", symbol="ETHTRY"
    )
    _cycle(exchange, "paper")

    assert result.canceled == [eth]
    statuses = dict(
        PaperOrder.objects.filter(account="paper").values_list("client_order_id", "status")
    )
    assert statuses[eth] == "CANCELED"
    assert statuses[btc] == "OPEN"
    assert Order.objects.get(client_order_id=eth).status == "CANCELED"
    assert Order.objects.get(client_order_id=btc).status == "OPEN"


def test_force_exit_sells_the_whole_live_position_and_the_ledger_follows(
    exchange, operator
) -> None:
    _account("exit", "live")
    held = _until_position(exchange, "exit")

    result = position_force_exit(
        account_name="exit", symbol=held.symbol, user=operator, reason="risk off"
    )
    exchange.advance(1)
    orders_reconcile(account_name="exit", actor=ACTOR)

    assert result.denials == []
    assert Decimal(result.quantity) == Decimal(result.position_quantity) > 0
    order = Order.objects.get(client_order_id=result.submitted[0])
    assert (order.side, order.order_type, order.strategy) == ("sell", "market", "operator")
    assert order.cycle is None
    assert order.status == "FILLED"
    assert Position.objects.get(account="exit", symbol=held.symbol).quantity == 0
    assert balances_check(account_name="exit", actor=ACTOR).drift == []
    assert AuditEvent.objects.filter(
        action="order.submit", object_id=order.client_order_id
    ).exists()
    event = AuditEvent.objects.get(pk=result.audit_event_id)
    assert (event.action, event.user, event.after["quantity"]) == (
        "operator.force_exit",
        operator,
        result.quantity,
    )


def test_force_exit_on_a_paper_account_cancels_its_resting_orders_first(exchange, operator) -> None:
    _account("paper-exit", "paper")
    held = _until_position(exchange, "paper-exit")
    _resting_buys("paper-exit", held.symbol)
    resting = [
        row.client_order_id
        for row in PaperOrder.objects.filter(
            account="paper-exit", symbol=held.symbol, status__in=["OPEN", "PARTIALLY_FILLED"]
        ).order_by("id")
    ]

    result = position_force_exit(
        account_name="paper-exit", symbol=held.symbol, user=operator, reason="risk off"
    )
    _cycle(exchange, "paper-exit")

    assert resting and result.canceled == resting
    assert len(result.submitted) == 1
    assert Order.objects.get(client_order_id=result.submitted[0]).status == "FILLED"
    assert Position.objects.get(account="paper-exit", symbol=held.symbol).quantity == 0
    assert balances_check(account_name="paper-exit", actor=ACTOR).drift == []


def test_the_kill_switch_blocks_operator_actions_of_a_live_account(exchange, operator) -> None:
    _account("halted", "live")
    held = _until_position(exchange, "halted")
    _resting_buys("halted", held.symbol)
    open_before = _open_ours("halted")
    kill_switch_engage(user=operator, reason="incident")
    orders_before = Order.objects.count()

    cancel = orders_cancel_all(account_name="halted", user=operator, reason="try")
    exit_ = position_force_exit(
        account_name="halted", symbol=held.symbol, user=operator, reason="try"
    )

    assert cancel.canceled == [] and exit_.submitted == []
    assert {d.code for d in cancel.denials + exit_.denials} == {"GATE_BLOCKED"}
    assert _open_ours("halted") == open_before
    assert Order.objects.count() == orders_before  # the blocked sell was never recorded
    blocked = len(open_before) + len(_open_ours("halted", held.symbol)) + 1
    assert AuditEvent.objects.filter(account="halted", action="gate.blocked").count() == blocked


def test_an_action_while_a_cycle_holds_the_lock_is_refused(exchange, operator) -> None:
    _account("busy", "paper")
    with single_flight("cycle_run:{account}", account="busy") as lease:
        assert lease
        with pytest.raises(OperatorActionBusy):
            orders_cancel_all(account_name="busy", user=operator, reason="x")
    assert not AuditEvent.objects.filter(action="operator.cancel_all").exists()


def test_force_exit_without_a_position_refuses_and_audits_the_attempt(exchange, operator) -> None:
    _account("flat", "live")
    _cycle(exchange, "flat")

    with pytest.raises(ApplicationError, match="no position"):
        position_force_exit(account_name="flat", symbol="BTC_TRY", user=operator, reason="x")
    with pytest.raises(ApplicationError, match="does not trade"):
        position_force_exit(account_name="flat", symbol="XRP_TRY", user=operator, reason="x")

    assert not Order.objects.filter(account="flat").exists()
    event = AuditEvent.objects.get(action="operator.force_exit")
    assert "no position" in event.after["error"]
