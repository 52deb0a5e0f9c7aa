"""The console's cancel-all and force-exit buttons against the sandbox exchange: the POST goes
through ``trading.services.operator_actions`` (execution service, safety gate) and its effect
reaches the venue, the order rows and the ledger. Setup from ``test_operator_actions``."""

from __future__ import annotations

import re

import pytest

from ledger.models import Position
from tests.trading.services.test_operator_actions import (  # noqa: F401 (fixture)
    ACTOR,
    _account,
    _cycle,
    _resting_buys,
    _until_position,
    exchange,
)
from trading.models import AuditEvent, Order
from trading.services.reconcile import orders_reconcile

pytestmark = pytest.mark.django_db


def _messages(response) -> str:
    html = response.content.decode()
    return " ".join(re.findall(r'<li class="(?:success|warning|error)">(.*?)</li>', html, re.S))


def test_force_exit_from_the_account_page_sells_the_live_position(
    exchange,  # noqa: F811
    controller,
    controller_client,
) -> None:
    _account("exit", "live")
    held = _until_position(exchange, "exit")
    page = controller_client.get("/admin/console/accounts/exit/").content.decode()
    url = f"/admin/console/accounts/exit/positions/{held.symbol}/force-exit/"
    assert f'href="{url}' in page

    done = controller_client.post(url, {"reason": "risk off"}, follow=True)
    exchange.advance(1)
    orders_reconcile(account_name="exit", actor=ACTOR)

    assert "1 sell order(s) sent" in _messages(done)
    event = AuditEvent.objects.get(action="operator.force_exit")
    assert (event.user, event.reason, event.account) == (controller, "risk off", "exit")
    order = Order.objects.get(client_order_id=event.after["submitted"][0])
    assert (order.side, order.strategy, order.status) == ("sell", "operator", "FILLED")
    assert Position.objects.get(account="exit", symbol=held.symbol).quantity == 0


def test_cancel_all_from_the_account_page_cancels_the_accounts_orders(
    exchange,  # noqa: F811
    controller,
    controller_client,
) -> None:
    _account("live", "live")
    _cycle(exchange, "live")
    ours = _resting_buys("live", "BTC_TRY", "ETH_TRY")

    done = controller_client.post(
        "/admin/console/accounts/live/actions/cancel-all/", {"reason": "market halt"}, follow=True
    )

    assert "2 cancel(s) accepted" in _messages(done)
    assert set(Order.objects.filter(client_order_id__in=ours).values_list("status", flat=True)) == {
        "CANCELED"
    }
    assert AuditEvent.objects.get(action="operator.cancel_all").user == controller


def test_with_the_kill_switch_engaged_from_the_dashboard_a_force_exit_is_not_sent(
    exchange,  # noqa: F811
    controller_client,
) -> None:
    _account("halted", "live")
    held = _until_position(exchange, "halted")
    controller_client.post("/admin/console/control/kill-switch-engage/", {"reason": "incident"})
    before = Order.objects.count()

    done = controller_client.post(
        f"/admin/console/accounts/halted/positions/{held.symbol}/force-exit/",
        {"reason": "risk off"},
        follow=True,
    )

    assert '<li class="warning">' in done.content.decode()
    assert "GATE_BLOCKED" in _messages(done)
    assert Order.objects.count() == before
    assert Position.objects.get(account="halted", symbol=held.symbol).quantity > 0
