"""The database constraints that make duplicate orders and fills impossible even when a cycle
lock fails (DESIGN.md section 5; ``.ci/concurrency`` checks them after a Redis restart).

The same-account duplicate client order id is in ``test_control_services``; here: the raw
``LedgerFill`` constraint (the service, ``fill_record``, returns the existing row before it
would reach it) and a client order id reused by another account.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from ledger.models import LedgerFill
from trading.models import Order

pytestmark = pytest.mark.django_db


def _fill(*, account: str, trade_id: str) -> LedgerFill:
    return LedgerFill.objects.create(
        account=account,
        trade_id=trade_id,
        client_order_id="mv-BTCTRY-b-1-aaaaaaaaaaaa",
        symbol="BTC_TRY",
        side="buy",
        price=Decimal("2500000"),
        quantity=Decimal("0.001"),
        fee=Decimal("0"),
        fee_asset="TRY",
        fee_quote=Decimal("0"),
        liquidity="taker",
        ts=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    )


def _order(*, account: str, client_order_id: str) -> Order:
    return Order.objects.create(
        account=account,
        client_order_id=client_order_id,
        symbol="BTC_TRY",
        side="buy",
        order_type="limit",
        price=Decimal("2500000"),
        quantity=Decimal("0.001"),
    )


def test_the_database_refuses_a_ledger_fill_with_an_accounts_trade_id_twice() -> None:
    _fill(account="acc", trade_id="9001")

    with pytest.raises(IntegrityError), transaction.atomic():
        _fill(account="acc", trade_id="9001")

    assert LedgerFill.objects.filter(account="acc", trade_id="9001").count() == 1


def test_the_same_trade_id_may_appear_once_per_account() -> None:
    _fill(account="acc", trade_id="9001")
    _fill(account="other", trade_id="9001")

    assert LedgerFill.objects.filter(trade_id="9001").count() == 2


def test_the_database_refuses_a_client_order_id_used_by_another_account() -> None:
    _order(account="acc", client_order_id="mv-BTCTRY-b-1-bbbbbbbbbbbb")

    with pytest.raises(IntegrityError), transaction.atomic():
        _order(account="other", client_order_id="mv-BTCTRY-b-1-bbbbbbbbbbbb")

    assert Order.objects.filter(client_order_id="mv-BTCTRY-b-1-bbbbbbbbbbbb").count() == 1
