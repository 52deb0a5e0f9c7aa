"""Personas and seeded rows for the reports API tests.

Personas (healthchecks' style): ``staff`` reads everything and controls nothing; ``plain`` is
an active user who is not staff; ``controller`` is staff with every console permission. Each
``*_client`` sends ``Authorization: Token ...``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from ledger.domain.fills import Fill, Liquidity
from ledger.models import EquitySnapshot
from ledger.services import fill_record
from replay.models import Dataset
from trading.domain.orders import Side
from trading.domain.symbols import Symbol
from trading.models import Account, Cycle, CycleDecision, Instrument, Order
from trading.services.accounts import account_create
from trading.services.alerts import alert_raise

CONSOLE_PERMISSIONS = (
    "trading.arm_trading",
    "trading.kill_switch",
    "trading.operate_orders",
    "trading.change_account",
    "replay.add_backtestrun",
)
BTC, ETH = Symbol("BTC", "TRY"), Symbol("ETH", "TRY")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def ms(text: str) -> int:
    return int(utc(text).timestamp()) * 1000


def token_client(user: User) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def grant(user: User, *perms: str) -> User:
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return User.objects.get(pk=user.pk)  # fresh: the permission cache is per instance


@pytest.fixture
def staff(django_user_model: type[User]) -> User:
    return django_user_model.objects.create_user(username="reader", is_staff=True)


@pytest.fixture
def controller(django_user_model: type[User]) -> User:
    user = django_user_model.objects.create_user(username="controller", is_staff=True)
    return grant(user, *CONSOLE_PERMISSIONS)


@pytest.fixture
def staff_client(staff: User) -> APIClient:
    return token_client(staff)


@pytest.fixture
def plain_client(django_user_model: type[User]) -> APIClient:
    return token_client(django_user_model.objects.create_user(username="plain"))


@pytest.fixture
def controller_client(controller: User) -> APIClient:
    return token_client(controller)


def fill(
    trade_id: str, symbol: Symbol, side: Side, price: str, qty: str, fee: str, at: str
) -> Fill:
    return Fill(
        trade_id=trade_id,
        client_order_id=f"c-{trade_id}",
        symbol=symbol,
        side=side,
        price=Decimal(price),
        quantity=Decimal(qty),
        fee=Decimal(fee),
        fee_asset="TRY",
        ts_ms=ms(at),
        liquidity=Liquidity.TAKER,
    )


# Europe/Istanbul is UTC+3 all year: 21:30 UTC is 00:30 of the next trading day.
SEED_FILLS = (
    fill("t1", BTC, Side.BUY, "300000", "0.1", "30", "2024-01-10T10:00:00"),
    fill("t2", BTC, Side.SELL, "320000", "0.05", "16", "2024-01-10T21:30:00"),
    fill("t3", BTC, Side.SELL, "310000", "0.05", "15.5", "2024-01-11T20:59:00"),
    fill("t4", ETH, Side.BUY, "20000", "1", "20", "2024-02-01T12:00:00"),
)


@pytest.fixture
def seeded(db) -> Account:
    """Account ``alpha`` (paper, 100000 TRY) with fills, orders, cycles, equity and an alert;
    account ``beta`` with one order; two instruments and a dataset row."""
    alpha = account_create(
        name="alpha",
        mode="paper",
        strategy="mean_reversion",
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": "100000"},
        actor="command:test",
    )
    account_create(
        name="beta",
        mode="paper",
        strategy="mean_reversion",
        symbols=["BTC_TRY"],
        balances={"TRY": "5000"},
        actor="command:test",
    )
    for item in SEED_FILLS:
        fill_record(account="alpha", fill=item)
    _orders()
    _cycles()
    start = utc("2024-01-01T00:00:00")
    EquitySnapshot.objects.bulk_create(
        EquitySnapshot(
            account="alpha",
            ts=start + dt.timedelta(minutes=i),
            equity=Decimal(100_000 + i),
            cash=Decimal(50_000),
            drawdown_pct=Decimal(0),
        )
        for i in range(1000)
    )
    alert_raise(kind="BALANCE_DRIFT", severity="critical", account="alpha", key="TRY", message="x")
    for symbol, pair in (("BTC_TRY", "BTCTRY"), ("ETH_TRY", "ETHTRY")):
        Instrument.objects.create(
            symbol=symbol,
            base=symbol[:3],
            quote="TRY",
            pair=pair,
            tick_size=Decimal(1),
            step_size=Decimal("0.00000001"),
            min_notional=Decimal("99.91"),
            order_methods=["MARKET", "LIMIT"],
        )
    Dataset.objects.create(
        name="sample",
        path="/nowhere",
        fingerprint="f" * 64,
        quote_asset="TRY",
        interval_ms=60_000,
        first_ts=start,
        last_ts=start,
        bar_count=1,
        rules_source="defaults",
    )
    return alpha


def _orders() -> None:
    rows = [
        ("alpha", "o-1", "BTC_TRY", "buy", "FILLED", "2024-01-10T10:00:00"),
        ("alpha", "o-2", "BTC_TRY", "sell", "OPEN", "2024-01-11T10:00:00"),
        ("alpha", "o-3", "ETH_TRY", "buy", "CANCELED", "2024-01-12T10:00:00"),
        ("beta", "o-4", "BTC_TRY", "buy", "OPEN", "2024-01-12T11:00:00"),
    ]
    for account, coid, symbol, side, status, created in rows:
        order = Order.objects.create(
            account=account,
            client_order_id=coid,
            symbol=symbol,
            side=side,
            order_type="limit",
            price=Decimal("300000.5"),
            quantity=Decimal("0.1"),
            status=status,
        )
        Order.objects.filter(pk=order.pk).update(created_at=utc(created))


def _cycles() -> None:
    for i, status in enumerate(["completed", "completed", "failed"]):
        cycle = Cycle.objects.create(
            account="alpha",
            mode="paper",
            status=status,
            now_ms=ms("2024-01-10T10:00:00") + i * 60_000,
            started_at=utc("2024-01-10T10:00:00") + dt.timedelta(minutes=i),
            risk_mode="NORMAL",
            equity=Decimal("100123.45"),
            market={"BTC_TRY": {"mark": "330000", "bid": None, "ask": None}},
        )
        CycleDecision.objects.create(
            cycle=cycle, seq=1, kind="intent", symbol="BTC_TRY", side="buy", code="LIMIT"
        )
        CycleDecision.objects.create(
            cycle=cycle, seq=2, kind="denial", symbol="BTC_TRY", side="buy", code="MIN_NOTIONAL"
        )
