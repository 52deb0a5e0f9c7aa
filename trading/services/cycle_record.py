"""Cycle step 11, record: everything one cycle did, in one transaction.

Before the transaction, when the cycle sent an order, the venue's fills are read once more
(live: a marketable order may have filled at once). Then, atomically: the cycle's fills go
into the ledger (unique per account and trade id), the ``Cycle`` row is completed with its
counts, timings, universe, risk mode, equity and what the market looked like, its decisions
become ``CycleDecision`` rows, an ``EquitySnapshot`` is written (carrying the running equity
peak, so the next one reads one row), the account's risk state and cursors advance and
(paper) the venue's state is saved. If any of it fails, none of it is written and the caller
marks the cycle ``failed``. After it every live order row is brought in line with the venue
(:func:`orders_sync`, which writes its own compare-and-set changes and audits).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from ledger.domain.drawdown import DrawdownState, drawdown_update
from ledger.models import EquitySnapshot
from trading.domain.planner import CyclePlan
from trading.domain.reports import TradeReport
from trading.models import Account, Cycle, CycleDecision, CycleStatus, DecisionKind
from trading.services.account_state import risk_state_to_json
from trading.services.adaptive import adaptive_record
from trading.services.cycle_ports import AccountPorts
from trading.services.cycle_snapshot import CycleSnapshot, _new_trades
from trading.services.execution import ExecutionResult
from trading.services.paper import paper_venue_save
from trading.services.reconcile import fills_ingest, orders_sync

logger = logging.getLogger(__name__)


def cycle_record(
    *,
    account: Account,
    cycle: Cycle,
    ports: AccountPorts,
    snapshot: CycleSnapshot,
    plan: CyclePlan,
    execution: ExecutionResult,
    timings: dict[str, float],
    actor: str,
) -> None:
    """Record the cycle (module docstring). Raises whatever failed; nothing is then written
    by the atomic part."""
    started = time.perf_counter()
    trades = list(snapshot.new_trades)
    if execution.acks or execution.uncertain:
        # Only an order sent this cycle can have filled since the snapshot and be booked now;
        # a resting order's later fills are the next snapshot's (as in a backtest).
        later = _new_trades(account, ports.orders.user_trades(since_ms=account.trade_cursor_ms))
        fresh = {t.trade_id for t in snapshot.new_trades}
        trades += [t for t in later if t.trade_id not in fresh]
    with transaction.atomic():
        fills_ingest(account=account, trades=trades, actor=actor)
        _decisions_write(cycle, plan, execution, snapshot.new_trades)
        drawdown_pct, previous_equity = _equity_write(account, plan)
        _account_advance(account, plan, trades)
        if snapshot.adaptive is not None:
            adaptive_record(
                account=account,
                cycle=cycle,
                context=snapshot.adaptive,
                plan=plan,
                rejected=len(execution.rejected),
                drawdown_pct=drawdown_pct,
                previous_equity=previous_equity,
                actor=actor,
            )
        if ports.paper is not None:
            paper_venue_save(account=account, venue=ports.paper.venue, cursor=ports.paper.cursor)
        timings["record"] = round((time.perf_counter() - started) * 1000, 3)
        _cycle_complete(cycle, snapshot, plan, execution, timings, len(trades))
    # Order statuses follow the venue after the record (compare-and-set, audited): a failure
    # here leaves the recorded cycle intact and the next sync repairs the statuses.
    started = time.perf_counter()
    try:
        orders_sync(
            account=account, port=ports.orders, open_orders=ports.orders.open_orders(), actor=actor
        )
    except Exception:
        logger.exception("order sync after the cycle failed", extra={"account": account.name})
    timings["reconcile"] = round((time.perf_counter() - started) * 1000, 3)
    Cycle.objects.filter(pk=cycle.pk).update(timings_ms=timings)


def _cycle_complete(
    cycle: Cycle,
    snapshot: CycleSnapshot,
    plan: CyclePlan,
    execution: ExecutionResult,
    timings: dict[str, float],
    fills: int,
) -> None:
    counts = {
        "intents": len(plan.intents),
        "orders": len(plan.orders),
        "submitted": len(execution.acks),
        "rejected": len(execution.rejected),
        "uncertain": len(execution.uncertain),
        "cancels": len(plan.cancels),
        "denials": len(execution.denials),
        "fills": fills,
    }
    cycle.status = CycleStatus.COMPLETED
    cycle.finished_at = timezone.now()
    cycle.heartbeat_at = cycle.finished_at
    cycle.universe = [s.pair_normalized for s in plan.universe]
    cycle.counts = counts
    cycle.timings_ms = timings
    cycle.risk_mode = plan.mode.value
    cycle.mode_reasons = list(plan.mode_reasons) + (["BALANCE_DRIFT"] if snapshot.drift else [])
    cycle.equity = plan.equity
    cycle.market = _market_json(snapshot, plan)
    cycle.no_trade_reason = _no_trade_reason(plan, execution)
    cycle.save()


def _no_trade_reason(plan: CyclePlan, execution: ExecutionResult) -> str:
    if execution.acks:
        return ""
    if execution.denials:
        return execution.denials[0].code
    if plan.mode.value != "NORMAL":
        return f"MODE_{plan.mode.value}"
    if not plan.universe:
        return "EMPTY_UNIVERSE"
    return "NO_SIGNAL"


def _market_json(snapshot: CycleSnapshot, plan: CyclePlan) -> dict[str, object]:
    out: dict[str, object] = {}
    for symbol, snap in sorted(snapshot.inputs.market.items()):
        quote = snapshot.quotes.get(symbol)
        out[symbol.pair_normalized] = {
            "mark": str(snap.mark_price),
            "bid": None if snap.bid is None else str(snap.bid),
            "ask": None if snap.ask is None else str(snap.ask),
            "age_ms": snap.age_ms,
            "bar_ts": snap.bars.last_ts(),
            "quote_ts": None if quote is None else quote.ts_ms,
            "quote_source": None if quote is None else quote.source,
            "excluded": plan.excluded.get(symbol, ""),
        }
    return out


def _decisions_write(
    cycle: Cycle, plan: CyclePlan, execution: ExecutionResult, fills: tuple[TradeReport, ...]
) -> None:
    CycleDecision.objects.bulk_create(
        CycleDecision(cycle=cycle, seq=seq, **values)
        for seq, values in enumerate(_decisions(plan, execution, fills), start=1)
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _decisions(plan: CyclePlan, execution: ExecutionResult, fills) -> Iterator[dict]:
    for trade in fills:
        yield {
            "kind": DecisionKind.FILL,
            "symbol": trade.symbol.pair_normalized,
            "side": trade.side.value,
            "client_order_id": trade.client_order_id[:50],
            "payload": {
                "trade_id": trade.trade_id,
                "order_id": trade.order_id,
                "price": str(trade.price),
                "quantity": str(trade.quantity),
                "fee": str(trade.fee + trade.tax),
                "fee_asset": trade.fee_asset,
                "ts_ms": trade.ts_ms,
            },
        }
    for intent in plan.intents:
        yield {
            "kind": DecisionKind.INTENT,
            "symbol": intent.symbol.pair_normalized,
            "side": intent.side.value,
            "strategy": intent.strategy,
            "code": str(intent.price_policy),
            "detail": intent.reason,
            "payload": {
                "quantity": _text(intent.quantity),
                "notional": _text(intent.notional),
                "limit_price": _text(intent.limit_price),
            },
        }
    for cancel in plan.cancels:
        yield {
            "kind": DecisionKind.CANCEL,
            "symbol": cancel.order.symbol.pair_normalized,
            "side": cancel.order.side.value,
            "code": cancel.reason,
            "client_order_id": cancel.order.client_order_id,
            "payload": {"order_id": cancel.order.order_id},
        }
    for order in plan.orders:
        yield {
            "kind": DecisionKind.ORDER,
            "symbol": order.symbol.pair_normalized,
            "side": order.side.value,
            "strategy": order.strategy,
            "code": order.order_type.value,
            "detail": order.reason,
            "client_order_id": order.client_order_id,
            "payload": {
                "quantity": str(order.quantity),
                "price": _text(order.price),
                "quote_amount": _text(order.quote_amount),
                "notional": str(order.notional),
            },
        }
    for denial in execution.denials:
        yield {
            "kind": DecisionKind.DENIAL,
            "symbol": "" if denial.symbol is None else denial.symbol.pair_normalized,
            "side": "" if denial.side is None else denial.side.value,
            "strategy": denial.strategy,
            "code": denial.code[:64],
            "detail": denial.detail,
        }


def _equity_write(account: Account, plan: CyclePlan) -> tuple[Decimal, Decimal | None]:
    """Write the cycle's equity snapshot; returns its drawdown (percent) and the previous
    snapshot's equity (``None`` for the first)."""
    # The latest snapshot carries the running peak: one indexed row, whatever the history.
    latest = (
        EquitySnapshot.objects.filter(account=account.name)
        .order_by("-ts")
        .values_list("peak", "equity")
        .first()
    )
    peak, previous = latest if latest is not None else (None, None)
    state = (
        None
        if peak is None
        else DrawdownState(peak=peak, drawdown_pct=Decimal(0), max_drawdown_pct=Decimal(0))
    )
    drawdown = drawdown_update(state, plan.equity)
    EquitySnapshot.objects.create(
        account=account.name,
        ts=datetime.fromtimestamp(plan.now_ms / 1000, tz=UTC),
        equity=plan.equity,
        cash=plan.portfolio.cash,
        peak=drawdown.peak,
        drawdown_pct=drawdown.drawdown_pct,
    )
    return drawdown.drawdown_pct, previous


def _account_advance(account: Account, plan: CyclePlan, trades: list[TradeReport]) -> None:
    cursor = max([account.trade_cursor_ms, *(t.ts_ms for t in trades)])
    Account.objects.filter(pk=account.pk).update(
        risk_state=risk_state_to_json(plan.risk_state),
        last_cycle_ms=plan.now_ms,
        trade_cursor_ms=cursor,
        updated_at=timezone.now(),
    )
    account.risk_state = risk_state_to_json(plan.risk_state)
    account.last_cycle_ms = plan.now_ms
    account.trade_cursor_ms = cursor
