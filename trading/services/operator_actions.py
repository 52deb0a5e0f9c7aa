"""Operator actions on an account's orders: cancel all open orders, force-exit a position.

Both act exactly like a cycle's execution step (DESIGN.md sections 4 and 5), never beside it:

- under the account's ``cycle_run:{account}`` lock, so no cycle of the account runs at the
  same time; a held lock raises :class:`OperatorActionBusy` (nothing is done, nothing queued);
- through the account's ports (:func:`~trading.services.cycle_ports.account_ports`) and
  :func:`~trading.services.execution.plan_execute` with the database guard and recorder of
  :mod:`trading.services.execution_records`: for a live account the safety gate is evaluated
  immediately before each cancel and submit (a refusal is a ``GATE_BLOCKED`` denial and a
  ``gate.blocked`` audit event; nothing is sent), every order row is written before its exchange
  call, and each submit, cancel and status change is audited as in a cycle;
- a paper account's venue is restored from its rows and first matches the bars that closed
  since its cursor (as the next cycle's snapshot would, so an order placed now can never fill
  on an older bar); its state is saved back afterwards, even when execution stopped on an error;
- afterwards the venue's fills are booked into the ledger (idempotent per trade id; the next
  cycle skips them) and the order rows follow the venue (reconciliation's ``orders_sync``);
- one ``AuditEvent`` records the action itself (``operator.cancel_all`` /
  ``operator.force_exit``): the user, the typed reason and what happened.

Only orders this account placed are touched; orders and balances of other clients are never
canceled or sold (reconciliation raises ``FOREIGN_ORDER`` alerts for them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from django.db import transaction

from ledger.selectors import position_list
from meva.errors import ApplicationError
from meva.locks import LockLease, single_flight
from trading.domain.decimals import decimal_trim
from trading.domain.market import Bar
from trading.domain.orders import OrderRequest, OrderType, Side, client_order_id
from trading.domain.planner import Cancel
from trading.domain.risk import Denial
from trading.domain.rules import (
    ExchangeRules,
    QuantizationError,
    RuleViolation,
    check_order,
    quantize_price,
    quantize_quantity,
)
from trading.domain.symbols import Symbol, SymbolError, parse_symbol
from trading.models import Account
from trading.selectors import account_get
from trading.services.audit import actor_for_user, audit_record
from trading.services.cycle_ports import AccountPorts, account_ports, cycle_clock
from trading.services.execution import ExecutionResult, error_outcome, plan_execute
from trading.services.execution_records import ExecutionGuardDb, OrderRecorderDb
from trading.services.market import bars_since, candles_refresh
from trading.services.paper import paper_venue_save
from trading.services.reconcile import fills_ingest, order_ids, orders_sync

logger = logging.getLogger(__name__)

LOCK = "cycle_run:{account}"  # the cycle's lock: an action never runs beside a cycle
STRATEGY = "operator"


class OperatorActionBusy(ApplicationError):
    """A cycle (or another operator action) of the account holds its lock: try again."""


class _Plan(NamedTuple):
    """What :func:`plan_execute` reads of a ``CyclePlan``: cancels, orders, prior denials."""

    cancels: tuple[Cancel, ...] = ()
    orders: tuple[OrderRequest, ...] = ()
    denials: tuple[Denial, ...] = ()


@dataclass(slots=True)
class OperatorActionResult:
    """What an operator action did, for the API and the console.

    ``canceled`` client order ids whose cancel the venue accepted (BTCTurk: accepted, the final
    status follows from the next read); ``cancel_failed`` ``(client order id, code)`` refused or
    unsent cancels; ``cancel_uncertain`` cancels whose outcome is unknown; ``submitted`` client
    order ids the venue accepted; ``uncertain`` submits whose outcome is unknown (``UNKNOWN``,
    left to reconciliation); ``denials`` what was not sent and why (``GATE_BLOCKED``,
    ``UNKNOWN_ORDER_PENDING``, ``VENUE_*`` rejects, ``MIN_NOTIONAL`` ...); ``position_quantity``
    and ``quantity`` (force exit) the ledger's position and the base units offered, as strings;
    ``audit_event_id`` the action's own audit event.
    """

    action: str
    account: str
    symbol: str = ""
    canceled: list[str] = field(default_factory=list)
    cancel_failed: list[tuple[str, str]] = field(default_factory=list)
    cancel_uncertain: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    uncertain: list[str] = field(default_factory=list)
    denials: list[Denial] = field(default_factory=list)
    position_quantity: str | None = None
    quantity: str | None = None
    audit_event_id: int | None = None

    def add(self, execution: ExecutionResult) -> None:
        self.canceled += [c.order.client_order_id for c, _ in execution.canceled]
        self.cancel_failed += [
            (c.order.client_order_id, error_outcome(exc)[1]) for c, exc in execution.cancel_failed
        ]
        self.cancel_uncertain += [c.order.client_order_id for c, _ in execution.cancel_uncertain]
        self.submitted += [order.client_order_id for order, _ in execution.acks]
        self.uncertain += [order.client_order_id for order, _ in execution.uncertain]
        self.denials += list(execution.denials)

    def as_dict(self) -> dict[str, object]:
        return {
            "action": self.action,
            "account": self.account,
            "symbol": self.symbol,
            "canceled": list(self.canceled),
            "cancel_failed": [
                {"client_order_id": coid, "code": code} for coid, code in self.cancel_failed
            ],
            "cancel_uncertain": list(self.cancel_uncertain),
            "submitted": list(self.submitted),
            "uncertain": list(self.uncertain),
            "denials": [
                {
                    "code": d.code,
                    "detail": d.detail,
                    "symbol": "" if d.symbol is None else d.symbol.pair_normalized,
                }
                for d in self.denials
            ],
            "position_quantity": self.position_quantity,
            "quantity": self.quantity,
            "audit_event_id": self.audit_event_id,
        }


class _Session(NamedTuple):
    account: Account
    ports: AccountPorts
    lease: LockLease
    now_ms: int
    actor: str

    def execute(self, plan: _Plan) -> ExecutionResult:
        return plan_execute(
            plan,  # type: ignore[arg-type]  # plan_execute reads only cancels/orders/denials
            port=self.ports.orders,
            now_ms=self.now_ms,
            guard=ExecutionGuardDb(self.account, owned=self.lease.owned, actor=self.actor),
            recorder=OrderRecorderDb(self.account, cycle=None, actor=self.actor),
        )


def orders_cancel_all(
    *,
    account_name: str,
    user: object,
    reason: str,
    symbol: str | None = None,
    ports: AccountPorts | None = None,
) -> OperatorActionResult:
    """Cancel every open order this account placed (of ``symbol`` only, when given).

    ``symbol`` is ``BASE_QUOTE`` or BTCTurk's ``BASETQUOTE`` form; ``ports`` overrides the
    exchange clients (tests). Returns what happened (:class:`OperatorActionResult`). Raises
    :class:`ApplicationError` for an unknown account, a symbol the account does not trade, a
    missing user or a blank reason; :class:`OperatorActionBusy` when a cycle of the account is
    running; ``LockLost`` or exchange read errors propagate (the action's audit event then
    records the error).
    """
    account, wanted = _checked(account_name, user, reason, symbol)
    result = OperatorActionResult(
        action="operator.cancel_all", account=account.name, symbol=_text(wanted)
    )
    with _session(account, user, ports, result, reason) as session:
        _ledger_catch_up(session)
        result.add(session.execute(_Plan(cancels=_our_open_orders(session, wanted))))
    return result


def position_force_exit(
    *,
    account_name: str,
    symbol: str,
    user: object,
    reason: str,
    ports: AccountPorts | None = None,
) -> OperatorActionResult:
    """Sell the account's whole position of ``symbol`` now, reduce-only.

    First cancels this account's open orders of ``symbol`` (so the base they lock is free),
    then submits one sell of ``min(ledger position, free base at the venue)`` rounded down to
    the step size: a MARKET order when the symbol allows it, else a LIMIT at the best bid
    (marketable). It never sells more than the ledger's position, and never buys. Client order
    id: deterministic from the account, the wall clock (ms), the symbol and the user.

    Returns what happened (:class:`OperatorActionResult`; ``quantity`` is what was offered, a
    smaller amount than ``position_quantity`` when the venue still locked part of it). Raises
    :class:`ApplicationError` (nothing is done) for an unknown account, a symbol the account
    does not trade or without exchange rules, no position, a position below the step size or
    the min notional, a missing user or a blank reason; :class:`OperatorActionBusy` when a cycle
    of the account is running.
    """
    account, wanted = _checked(account_name, user, reason, symbol)
    assert wanted is not None
    result = OperatorActionResult(action="operator.force_exit", account=account.name)
    result.symbol = wanted.pair_normalized
    with _session(account, user, ports, result, reason) as session:
        _ledger_catch_up(session)
        rules = session.ports.rules.get(wanted)
        if rules is None:
            raise ApplicationError(f"symbol: no exchange rules for {wanted} (sync instruments)")
        held = _position_quantity(account, wanted)
        result.position_quantity = str(held)
        price = _exit_price(session, wanted)
        _sellable(rules, held, price)  # refuse up front: nothing is canceled then
        result.add(session.execute(_Plan(cancels=_our_open_orders(session, wanted))))
        free = session.ports.orders.balances().get(wanted.base)
        quantity = min(held, free.free if free is not None else Decimal(0))
        order, denial = _exit_order(session, rules, quantity, price, user, reason)
        if denial is not None:
            result.denials.append(denial)
            return result
        result.quantity = str(order.quantity)
        result.add(session.execute(_Plan(orders=(order,))))
    return result


# --- session ------------------------------------------------------------------------------


@contextmanager
def _session(
    account: Account,
    user: object,
    ports: AccountPorts | None,
    result: OperatorActionResult,
    reason: str,
) -> Iterator[_Session]:
    """The account's lock and ports, the paper venue caught up; afterwards (even on error) the
    venue saved, fills booked, orders synced and the action audited."""
    actor = actor_for_user(user)
    with single_flight(LOCK, account=account.name) as lease:
        if not lease:
            raise OperatorActionBusy(
                f"account {account.name}: a cycle is running (its lock is held); try again"
            )
        own = ports is None
        ports = ports or account_ports(account)
        error: BaseException | None = None
        try:
            now_ms = cycle_clock(account, ports)
            if ports.paper is not None:
                _paper_catch_up(account, ports, now_ms)
            yield _Session(account, ports, lease, now_ms, actor)
        except BaseException as exc:
            error = exc
            raise
        finally:
            try:
                _after(account, ports, actor)
            finally:
                _audit(account, user, actor, reason, result, error)
                if own:
                    ports.close()


def _paper_catch_up(account: Account, ports: AccountPorts, now_ms: int) -> None:
    """Match the paper venue's resting orders against the bars closed since its cursor."""
    session = ports.paper
    assert session is not None
    session.set_clock(now_ms)
    for symbol in account.symbol_list:
        after = session.cursor.get(symbol)
        if after is None:
            continue  # no cycle yet: the venue has no order to match
        candles_refresh(
            client=ports.market,
            symbol=symbol,
            interval_s=account.bar_interval_s,
            now_ms=now_ms,
            history_bars=1,
        )
        for c in bars_since(
            symbol=symbol, interval_s=account.bar_interval_s, after_ms=after, now_ms=now_ms
        ):
            session.exchange.observe_bar(
                symbol, Bar(c.ts_ms, c.open, c.high, c.low, c.close, c.volume)
            )
            session.cursor[symbol] = c.ts_ms


def _ledger_catch_up(session: _Session) -> None:
    """Book the venue's fills since the account's cursor (idempotent per trade id)."""
    account, port = session.account, session.ports.orders
    trades = port.user_trades(since_ms=account.trade_cursor_ms)
    with transaction.atomic():
        fills_ingest(account=account, trades=trades, actor=session.actor)


def _after(account: Account, ports: AccountPorts, actor: str) -> None:
    """Save the paper venue and book its fills (one transaction), then sync the order rows."""
    port = ports.orders
    with transaction.atomic():
        if ports.paper is not None:
            paper_venue_save(account=account, venue=ports.paper.venue, cursor=ports.paper.cursor)
        fills_ingest(
            account=account, trades=port.user_trades(since_ms=account.trade_cursor_ms), actor=actor
        )
    orders_sync(account=account, port=port, open_orders=port.open_orders(), actor=actor)


def _audit(
    account: Account,
    user: object,
    actor: str,
    reason: str,
    result: OperatorActionResult,
    error: BaseException | None,
) -> None:
    after = result.as_dict()
    after.pop("audit_event_id")
    if error is not None:
        after["error"] = f"{type(error).__name__}: {error}"
    with transaction.atomic():
        event = audit_record(
            actor=actor,
            user=user,
            action=result.action,
            account=account.name,
            object_type="account",
            object_id=account.name,
            after=after,
            reason=reason,
        )
    result.audit_event_id = event.pk
    logger.warning(
        "operator action %s", result.action, extra={"account": account.name, "reason": reason}
    )


# --- helpers ------------------------------------------------------------------------------


def _checked(
    account_name: str, user: object, reason: str, symbol: str | None
) -> tuple[Account, Symbol | None]:
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError("user: an operator action must be made by a saved user")
    if not reason or not reason.strip():
        raise ApplicationError("reason: say why")
    account = account_get(name=account_name)
    if symbol is None:
        return account, None
    try:
        wanted = parse_symbol(symbol)
    except SymbolError as exc:
        raise ApplicationError(f"symbol: {exc}") from None
    if wanted not in account.symbol_list:
        traded = ", ".join(s.pair_normalized for s in account.symbol_list)
        raise ApplicationError(f"symbol: {account.name} does not trade {wanted} ({traded})")
    return account, wanted


def _text(symbol: Symbol | None) -> str:
    return "" if symbol is None else symbol.pair_normalized


def _our_open_orders(session: _Session, symbol: Symbol | None) -> tuple[Cancel, ...]:
    reports = session.ports.orders.open_orders(symbol)
    ids = order_ids(session.account, reports)
    return tuple(
        Cancel(order=report, reason="OPERATOR_CANCEL")
        for report in reports
        if ids.owner(report.client_order_id, report.order_id) is not None
    )


def _position_quantity(account: Account, symbol: Symbol) -> Decimal:
    row = position_list(account=account.name).filter(symbol=symbol.pair_normalized).first()
    return Decimal(0) if row is None else decimal_trim(row.quantity)


def _exit_price(session: _Session, symbol: Symbol) -> Decimal:
    """The price a sell would get now: the best bid, else the last price."""
    tickers = session.ports.market.tickers([symbol])
    ticker = next((t for t in tickers if t.symbol == symbol), None)
    if ticker is None:
        raise ApplicationError(f"symbol: the venue reports no price for {symbol}")
    return ticker.bid if ticker.bid else ticker.last


def _sellable(rules: ExchangeRules, held: Decimal, price: Decimal) -> None:
    if held <= 0:
        raise ApplicationError(f"symbol: no position in {rules.symbol} to exit")
    quantity = _quantized(held, rules)
    if quantity is None:
        raise ApplicationError(
            f"symbol: position {held} of {rules.symbol} is below the step size {rules.step_size}"
        )
    violation = _violation(rules, quantity, price)
    if violation is not None:
        raise ApplicationError(f"symbol: {violation.code}: {violation.detail}")


def _quantized(quantity: Decimal, rules: ExchangeRules) -> Decimal | None:
    try:
        result = quantize_quantity(quantity, rules)
    except QuantizationError:
        return None
    return result if result > 0 else None


def _order_type(rules: ExchangeRules) -> OrderType:
    return OrderType.MARKET if "MARKET" in rules.order_methods else OrderType.LIMIT


def _violation(rules: ExchangeRules, quantity: Decimal, price: Decimal) -> RuleViolation | None:
    order_type = _order_type(rules)
    limit = quantize_price(price, rules, Side.SELL) if order_type is OrderType.LIMIT else None
    return check_order(
        rules,
        side=Side.SELL,
        order_type=order_type,
        quantity=quantity,
        price=limit,
        notional=quantity * price,
    )


def _exit_order(
    session: _Session,
    rules: ExchangeRules,
    quantity: Decimal,
    price: Decimal,
    user: object,
    reason: str,
) -> tuple[OrderRequest | None, Denial | None]:
    symbol = rules.symbol
    sized = _quantized(quantity, rules)
    if sized is None:
        detail = f"free {symbol.base} {quantity} is below the step size {rules.step_size}"
        return None, Denial("NOTHING_TO_SELL", detail, symbol, Side.SELL, STRATEGY)
    violation = _violation(rules, sized, price)
    if violation is not None:
        return None, Denial(violation.code, violation.detail, symbol, Side.SELL, STRATEGY)
    order_type = _order_type(rules)
    wall_ms = time.time_ns() // 1_000_000
    coid = client_order_id(
        account=session.account.name,
        cycle_ms=wall_ms,
        symbol=symbol,
        side=Side.SELL,
        key=f"{STRATEGY}:force_exit:{getattr(user, 'pk', '')}",
    )
    order = OrderRequest(
        client_order_id=coid,
        symbol=symbol,
        side=Side.SELL,
        order_type=order_type,
        quantity=sized,
        price=quantize_price(price, rules, Side.SELL) if order_type is OrderType.LIMIT else None,
        strategy=STRATEGY,
        reason=f"FORCE_EXIT: {reason}"[:200],
    )
    return order, None
