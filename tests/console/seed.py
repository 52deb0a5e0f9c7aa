"""Realistic console data: two paper accounts with fills (through ``ledger.services.fill_record``),
equity snapshots (peak and drawdown from ``ledger.domain.drawdown``), cycles with step timings,
open, filled and UNKNOWN orders, instruments and alerts (through ``alert_raise``).

Times are relative to ``now`` so "today" (the Istanbul trading day) always has data: snapshots
every 10 minutes over the last three days, the last one a minute ago.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from django.utils import timezone

from ledger.domain.drawdown import drawdown_update
from ledger.domain.fills import Fill, Liquidity
from ledger.models import EquitySnapshot
from ledger.services import fill_record
from trading.domain.orders import Side
from trading.domain.symbols import Symbol
from trading.models import Account, Cycle, Instrument, Order
from trading.services.accounts import account_create
from trading.services.alerts import alert_raise

BTC, ETH = Symbol("BTC", "TRY"), Symbol("ETH", "TRY")
ACTOR = "command:test"
CASH = Decimal(100_000)
SNAPSHOT_MINUTES = 10
SNAPSHOTS = 3 * 24 * 6  # three days


def _ms(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _equity(i: int) -> Decimal:
    """A deterministic curve: a slow rise, a wave, a dip two thirds of the way."""
    dip = -2400 * math.exp(-(((i - 300) / 25) ** 2))
    value = 100_000 + 2.5 * i + 900 * math.sin(i / 30) + dip
    return Decimal(str(round(value, 2)))


def _fill(trade_id: str, symbol: Symbol, side: Side, price: str, qty: str, fee: str, at) -> Fill:
    return Fill(
        trade_id=trade_id,
        client_order_id=f"alpha-{trade_id}",
        symbol=symbol,
        side=side,
        price=Decimal(price),
        quantity=Decimal(qty),
        fee=Decimal(fee),
        fee_asset="TRY",
        ts_ms=_ms(at),
        liquidity=Liquidity.TAKER,
    )


def seed_console(now: dt.datetime | None = None) -> Account:
    """Accounts ``alpha`` (paper, 100,000 TRY, BTC_TRY and ETH_TRY, enabled) and ``beta``
    (paper, 25,000 TRY, entries stopped, REDUCE_RISK_ONLY); returns ``alpha``."""
    now = now or timezone.now()
    alpha = account_create(
        name="alpha",
        mode="paper",
        strategy="mean_reversion",
        symbols=["BTC_TRY", "ETH_TRY"],
        balances={"TRY": str(CASH)},
        enable=True,
        actor=ACTOR,
    )
    beta = account_create(
        name="beta",
        mode="paper",
        strategy="sma_cross",
        symbols=["BTC_TRY"],
        balances={"TRY": "25000"},
        actor=ACTOR,
    )
    Account.objects.filter(pk=beta.pk).update(
        stop_entries=True,
        risk_state={"mode": "REDUCE_RISK_ONLY", "mode_reasons": ["STOP_ENTRIES"]},
    )
    for symbol, base, tick, step in (
        ("BTC_TRY", "BTC", "1", "0.00000001"),
        ("ETH_TRY", "ETH", "1", "0.0001"),
    ):
        Instrument.objects.create(
            symbol=symbol,
            base=base,
            quote="TRY",
            pair=symbol.replace("_", ""),
            tick_size=Decimal(tick),
            step_size=Decimal(step),
            min_notional=Decimal("99.91"),
            order_methods=["MARKET", "LIMIT"],
        )
    start = now - dt.timedelta(minutes=SNAPSHOT_MINUTES * SNAPSHOTS)
    for item in (
        _fill("t1", BTC, Side.BUY, "3850000", "0.01", "77", start + dt.timedelta(hours=2)),
        _fill("t2", BTC, Side.SELL, "3905000", "0.004", "31.24", start + dt.timedelta(hours=30)),
        _fill("t3", ETH, Side.BUY, "134500", "0.2", "53.8", now - dt.timedelta(hours=5)),
    ):
        fill_record(account="alpha", fill=item)
    _snapshots("alpha", start, lambda i: _equity(i))
    _snapshots("beta", start, lambda i: Decimal(25_000) - Decimal(i) / 4)
    _cycles(now)
    _orders(now)
    alert_raise(
        kind="UNKNOWN_ORDER_UNRESOLVED",
        severity="critical",
        account="alpha",
        key="alpha-u1",
        message="order alpha-u1 has been UNKNOWN for 3 reconciliation probes",
    )
    alert_raise(
        kind="CYCLE_FAILED",
        severity="warning",
        account="alpha",
        message="cycle failed: ReadTimeout on /api/v2/ticker",
    )
    return alpha


def _snapshots(account: str, start: dt.datetime, equity_at) -> None:
    state, rows = None, []
    for i in range(SNAPSHOTS):
        equity = equity_at(i)
        state = drawdown_update(state, equity)
        rows.append(
            EquitySnapshot(
                account=account,
                ts=start
                + dt.timedelta(minutes=SNAPSHOT_MINUTES * (i + 1))
                - dt.timedelta(minutes=1),
                equity=equity,
                cash=Decimal(60_000),
                peak=state.peak,
                drawdown_pct=state.drawdown_pct,
            )
        )
    EquitySnapshot.objects.bulk_create(rows)


def _cycles(now: dt.datetime) -> None:
    for i in range(25):
        started = now - dt.timedelta(minutes=25 - i)
        failed = i == 20
        Cycle.objects.create(
            account="alpha",
            mode="paper",
            status="failed" if failed else "completed",
            now_ms=_ms(started),
            started_at=started,
            finished_at=started + dt.timedelta(milliseconds=180 + i),
            risk_mode="NORMAL",
            equity=None if failed else _equity(SNAPSHOTS - 25 + i),
            timings_ms={}
            if failed
            else {
                "snapshot": 41.27 + i,
                "plan": 3.1,
                "execute": 118.66,
                "record": 15.4,
                "reconcile": 0.8,
            },
            market={
                "BTC_TRY": {"mark": "3912000", "quote_source": "ws", "age_ms": 850},
                "ETH_TRY": {"mark": "136100", "quote_source": "ws", "age_ms": 1320},
            },
            no_trade_reason="" if failed else "NO_SIGNAL",
            error="ReadTimeout: GET /api/v2/ticker" if failed else "",
        )


def _orders(now: dt.datetime) -> None:
    rows = [
        ("alpha-o1", "BTC_TRY", "buy", "3800000", "0.005", "OPEN"),
        ("alpha-o2", "ETH_TRY", "sell", "139000", "0.1", "PARTIALLY_FILLED"),
        ("alpha-u1", "BTC_TRY", "sell", "3950000", "0.002", "UNKNOWN"),
        ("alpha-f1", "BTC_TRY", "buy", "3850000", "0.01", "FILLED"),
    ]
    for i, (coid, symbol, side, price, qty, status) in enumerate(rows):
        order = Order.objects.create(
            account="alpha",
            client_order_id=coid,
            symbol=symbol,
            side=side,
            order_type="limit",
            price=Decimal(price),
            quantity=Decimal(qty),
            filled_quantity=Decimal("0.04") if status == "PARTIALLY_FILLED" else Decimal(0),
            status=status,
        )
        Order.objects.filter(pk=order.pk).update(created_at=now - dt.timedelta(minutes=40 - i))
