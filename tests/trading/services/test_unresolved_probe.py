"""In-flight resolution: an order whose submit answer was lost is re-probed a few seconds apart
(``RECONCILE_PROBE_DELAYS_S``) by client order id, and escalates at ``RECONCILE_MAX_PROBES``;
one the exchange confirms it never accepted (absent from both lists at the
``RECONCILE_ABSENT_PROBES``-th probe, sent over ``RECONCILE_ABSENT_MIN_AGE_S`` ago) is
``REJECTED`` with code ``NOT_FOUND``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from trading.domain.orders import OrderStatus, OrderType, Side
from trading.domain.reports import OrderReport
from trading.domain.symbols import Symbol
from trading.models import Alert, AuditEvent, Order
from trading.selectors import account_get
from trading.services.accounts import account_create
from trading.services.reconcile import (
    escalated_unknown_orders,
    orders_sync,
    unresolved_orders_probe,
)

pytestmark = pytest.mark.django_db
ACTOR = "test:probe"
COID = "mv-lost-answer"


class LateExchange:
    """An exchange port on which the order becomes visible only after ``hidden`` lookups
    (open orders and allOrders each count one): an answer lost while the exchange lags."""

    def __init__(self, hidden: int) -> None:
        self.hidden = hidden
        self.lookups = 0
        self.report = OrderReport(
            order_id="9001",
            client_order_id=COID,
            symbol=Symbol("BTC", "TRY"),
            side=Side.BUY,
            order_type=OrderType.LIMIT,
            status=OrderStatus.OPEN,
            price=Decimal(300_000),
            quantity=Decimal("0.001"),
            remaining=Decimal("0.001"),
            created_ms=1_700_000_000_000,
            updated_ms=1_700_000_000_000,
        )

    def _visible(self) -> list[OrderReport]:
        self.lookups += 1
        return [self.report] if self.lookups > self.hidden else []

    def open_orders(self, symbol: Symbol | None = None) -> list[OrderReport]:
        return self._visible()

    def all_orders(self, symbol: Symbol, start_ms: int | None = None, **_: object):
        return self._visible()


@pytest.fixture
def lost() -> Order:
    account_create(
        name="probed", mode="live", strategy="mean_reversion", symbols=["BTC_TRY"], actor=ACTOR
    )
    return Order.objects.create(
        account="probed",
        client_order_id=COID,
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=Decimal(300_000),
        quantity=Decimal("0.001"),
        status="UNKNOWN",
    )


def _probe(exchange: LateExchange, slept: list[float], owned=lambda: True) -> int:
    return unresolved_orders_probe(
        account=account_get(name="probed"),
        port=exchange,
        actor=ACTOR,
        owned=owned,
        delays_s=[Decimal("0.5"), 1, 2],
        sleep=slept.append,
    )


def test_a_lost_answer_is_found_on_a_later_probe_and_adopted(lost: Order) -> None:
    exchange, slept = LateExchange(hidden=3), []  # probe 1: 2 lookups, probe 2 finds it

    probes = _probe(exchange, slept)

    lost.refresh_from_db()
    assert probes == 2 and slept == [0.5, 1.0]
    assert lost.status == "OPEN" and lost.exchange_order_id == "9001"
    assert lost.probe_count == 1  # the miss counted, the find resolved it
    assert AuditEvent.objects.filter(action="reconcile.adopt", object_id=COID).count() == 1


def test_probing_stops_at_the_bound_and_escalates_once(lost: Order) -> None:
    exchange, slept = LateExchange(hidden=10**6), []

    with override_settings(RECONCILE_MAX_PROBES=2):
        probes = _probe(exchange, slept)

    lost.refresh_from_db()
    assert probes == 2 and slept == [0.5, 1.0]  # the third delay is never slept
    assert lost.status == "UNKNOWN" and lost.probe_count == 2
    assert Alert.objects.filter(account="probed", kind="UNKNOWN_ORDER_UNRESOLVED").count() == 1


def test_probing_stops_when_the_lock_is_lost(lost: Order) -> None:
    exchange, slept = LateExchange(hidden=10**6), []

    probes = _probe(exchange, slept, owned=lambda: False)

    lost.refresh_from_db()
    assert probes == 0 and slept == [0.5]
    assert exchange.lookups == 0 and lost.probe_count == 0


def test_nothing_to_probe_sleeps_not_at_all() -> None:
    account_create(
        name="probed", mode="live", strategy="mean_reversion", symbols=["BTC_TRY"], actor=ACTOR
    )
    exchange, slept = LateExchange(hidden=0), []

    assert _probe(exchange, slept) == 0
    assert slept == [] and exchange.lookups == 0


class FailingAllOrders(LateExchange):
    """Open orders answer (without the order); ``allOrders`` fails every time."""

    def all_orders(self, symbol: Symbol, start_ms: int | None = None, **_: object):
        raise ConnectionError("allOrders: 503")


def _sent_ago(order: Order, seconds: float) -> None:
    Order.objects.filter(pk=order.pk).update(
        submitted_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


def test_an_order_the_exchange_never_accepted_is_rejected_not_found(lost: Order) -> None:
    _sent_ago(lost, 31)  # older than RECONCILE_ABSENT_MIN_AGE_S (30): no answer can be on its way
    exchange, slept = LateExchange(hidden=10**6), []

    probes = _probe(exchange, slept)

    lost.refresh_from_db()
    assert probes == 3 and lost.probe_count == 3  # RECONCILE_ABSENT_PROBES
    assert (lost.status, lost.reject_code) == ("REJECTED", "NOT_FOUND")
    [audit] = AuditEvent.objects.filter(action="reconcile.absent", object_id=COID)
    assert (audit.before["status"], audit.after["status"]) == ("UNKNOWN", "REJECTED")
    assert not Alert.objects.filter(kind="UNKNOWN_ORDER_UNRESOLVED").exists()


def test_a_recent_absent_order_stays_unknown_while_an_answer_may_still_come(lost: Order) -> None:
    _sent_ago(lost, 5)
    exchange, slept = LateExchange(hidden=10**6), []

    _probe(exchange, slept)

    lost.refresh_from_db()
    assert lost.status == "UNKNOWN" and lost.probe_count == 3


def test_a_failed_lookup_never_counts_as_absent(lost: Order) -> None:
    _sent_ago(lost, 3600)
    exchange, slept = FailingAllOrders(hidden=10**6), []

    _probe(exchange, slept)

    lost.refresh_from_db()
    assert lost.status == "UNKNOWN" and lost.probe_count == 3
    assert not AuditEvent.objects.filter(action="reconcile.absent").exists()


def test_an_escalated_order_confirmed_absent_later_is_resolved_and_lifts_observe_only(
    lost: Order,
) -> None:
    exchange = LateExchange(hidden=10**6)
    with override_settings(RECONCILE_MAX_PROBES=2):
        _probe(exchange, [])  # young: escalates at 2 probes
        assert escalated_unknown_orders(account_get(name="probed")) == 1
        _sent_ago(lost, 60)
        # the periodic reconciliation goes on probing escalated orders
        orders_sync(
            account=account_get(name="probed"),
            port=exchange,
            open_orders=exchange.open_orders(),
            actor=ACTOR,
        )

    lost.refresh_from_db()
    assert (lost.status, lost.reject_code) == ("REJECTED", "NOT_FOUND")
    assert escalated_unknown_orders(account_get(name="probed")) == 0
