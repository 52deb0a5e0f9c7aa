"""Reconciliation: our ``Order`` rows and ledger against what the exchange reports
(DESIGN.md section 5).

- :func:`fills_ingest` records the exchange's trade-level fills in the ledger (unique per
  account and trade id), attributing each to our order by exchange order id or client order
  id. Trades of orders we never created are not ours to book: they raise a
  ``FOREIGN_TRADE`` alert and stay out of the ledger.
- :func:`orders_sync` moves every live ``Order`` row (``SUBMITTED``, ``OPEN``,
  ``PARTIALLY_FILLED``, ``UNKNOWN``) to what the exchange says, by compare-and-set, with an
  ``AuditEvent`` per change. An order without an exchange id (an uncertain submit, or a crash
  after sending) is looked up by client order id in open orders and ``allOrders`` (BTCTurk
  has no lookup by client id); found, it is adopted (``reconcile.adopt``); confirmed absent
  (the exchange answered both lists without it) at its ``RECONCILE_ABSENT_PROBES``-th probe
  or later, once its send is older than ``RECONCILE_ABSENT_MIN_AGE_S`` (longer than the
  client's timeout, so no answer can still be on its way), it was never accepted: ``REJECTED``
  with code ``NOT_FOUND`` (``reconcile.absent``); otherwise its probe count grows, and past
  ``RECONCILE_MAX_PROBES`` probes it raises an
  ``UNKNOWN_ORDER_UNRESOLVED`` alert, which puts the account in ``OBSERVE_ONLY`` (the cycle
  counts escalated orders). Exchange orders carrying a client id we never issued raise a
  ``FOREIGN_ORDER`` alert and are never touched.
- :func:`orders_reconcile` (periodic task and ``reconcile`` command) and
  :func:`balances_check` run these under the account's reconcile lock; the balance check
  compares the ledger's balance per asset with the exchange's and raises ``BALANCE_DRIFT``
  above ``BALANCE_DRIFT_TOLERANCE`` (the cycle then allows only exposure-reducing orders).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ledger.models import LedgerFill
from ledger.selectors import ledger_balances
from ledger.services import fill_record
from meva.locks import single_flight
from trading.domain.cycle import fill_from_trade
from trading.domain.orders import ALLOWED_TRANSITIONS, OrderStatus
from trading.domain.reports import OrderReport, TradeReport
from trading.domain.symbols import parse_symbol
from trading.exchange.base import ExchangeClient
from trading.exchange.errors import OrderNotFound
from trading.models import Account, AlertSeverity, Order
from trading.selectors import account_get
from trading.services.account_state import balances_from_json
from trading.services.alert_rules import balances_observed, reconcile_rules_evaluate
from trading.services.alerts import alert_raise
from trading.services.audit import audit_record
from trading.services.cycle_ports import AccountPorts, account_ports, cycle_clock
from trading.services.orders import order_transition_apply

logger = logging.getLogger(__name__)

LIVE_STATUSES = (
    OrderStatus.SUBMITTED.value,
    OrderStatus.OPEN.value,
    OrderStatus.PARTIALLY_FILLED.value,
    OrderStatus.UNKNOWN.value,
)
# Orders are looked up in allOrders from this long before they were created (clock skew).
ALL_ORDERS_MARGIN_MS = 60_000
# Direct queries by exchange id per sync (BTCTurk rate limits; Nautilus uses ~10).
MAX_ORDER_QUERIES = 10


@dataclass(slots=True)
class SyncResult:
    """What one sync did: status changes (client order id -> "OLD->NEW"), adopted orders,
    orders still unresolved, escalations, foreign orders seen, fills recorded; ``skipped``
    says why nothing was done (a busy lock), empty otherwise."""

    changed: dict[str, str] = field(default_factory=dict)
    adopted: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    fills: int = 0
    skipped: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "skipped": self.skipped,
            "changed": self.changed,
            "adopted": self.adopted,
            "unresolved": self.unresolved,
            "absent": self.absent,
            "escalated": self.escalated,
            "foreign": self.foreign,
            "fills": self.fills,
        }


@dataclass(frozen=True, slots=True)
class OrderIds:
    """The account's orders by client order id (a set) and by exchange order id (-> client
    order id): how a venue's trade or order is recognised as ours."""

    client: frozenset[str]
    by_exchange: dict[str, str]

    def owner(self, client_order_id: str, exchange_order_id: str) -> str | None:
        """Our client order id for this venue order, or ``None`` when it is not ours."""
        if client_order_id in self.client:
            return client_order_id
        return self.by_exchange.get(exchange_order_id)


def order_ids(account: Account, reports: Iterable[OrderReport | TradeReport]) -> OrderIds:
    """The account's order ids that ``reports`` (venue orders or trades) name, by client order
    id or exchange order id: one indexed read, whatever the account's history. ``owner``
    answers for these reports exactly as over every order of the account."""
    coids, exchange_ids = set(), set()
    for report in reports:
        if report.client_order_id:
            coids.add(report.client_order_id)
        if report.order_id:
            exchange_ids.add(report.order_id)
    client, by_exchange = set(), {}
    if not coids and not exchange_ids:
        return OrderIds(frozenset(), {})
    rows = (
        Order.objects.filter(account=account.name)
        .filter(Q(client_order_id__in=coids) | Q(exchange_order_id__in=exchange_ids))
        .values_list("client_order_id", "exchange_order_id")
    )
    for coid, exchange_id in rows:
        client.add(coid)
        if exchange_id:
            by_exchange[exchange_id] = coid
    return OrderIds(frozenset(client), by_exchange)


def fills_ingest(
    *, account: Account, trades: Iterable[TradeReport], actor: str, result: SyncResult | None = None
) -> int:
    """Record ``trades`` (any order, duplicates allowed) in the ledger; returns how many were
    new. Call inside the caller's transaction; see the module docstring for foreign trades."""
    trades = list(trades)
    ids = order_ids(account, trades)
    recorded = 0
    for trade in trades:
        coid = ids.owner(trade.client_order_id, trade.order_id)
        if coid is None:
            alert_raise(
                kind="FOREIGN_TRADE",
                severity=AlertSeverity.WARNING,
                account=account.name,
                key=trade.trade_id,
                message=f"trade {trade.trade_id} of order {trade.order_id} ({trade.symbol}) "
                "is not from an order of this account; left out of the ledger",
                actor=actor,
            )
            continue
        fill = fill_from_trade(trade)._replace(client_order_id=coid)
        _, created = fill_record(account=account.name, fill=fill)
        recorded += created
    if result is not None:
        result.fills += recorded
    return recorded


def orders_sync(
    *,
    account: Account,
    port: ExchangeClient,
    open_orders: Sequence[OrderReport],
    actor: str,
    result: SyncResult | None = None,
) -> SyncResult:
    """Bring every live order row of ``account`` in line with the exchange (module docstring).

    ``open_orders`` is the exchange's current open-order list (already fetched by the caller).
    Exchange errors on single-order reads are logged and leave the order for the next sync.
    """
    result = result or SyncResult()
    open_by_id = {o.order_id: o for o in open_orders}
    open_by_coid = {o.client_order_id: o for o in open_orders if o.client_order_id}
    ids = order_ids(account, open_orders)
    for report in open_orders:
        if ids.owner(report.client_order_id, report.order_id) is None:
            _foreign(account, report, actor, result)
    rows = list(Order.objects.filter(account=account.name, status__in=LIVE_STATUSES).order_by("id"))
    filled = _filled_by_order(account, [row.client_order_id for row in rows])
    queries = 0
    for row in rows:
        report = open_by_id.get(row.exchange_order_id) or open_by_coid.get(row.client_order_id)
        if report is None and row.exchange_order_id and queries < MAX_ORDER_QUERIES:
            queries += 1
            report = _query(port, row)
        answered = False
        if report is None and not row.exchange_order_id:
            report, answered = _find_by_client_id(port, row)
        if report is None:
            _unresolved(account, row, actor, result, absent=answered)
            continue
        _apply(account, row, report, filled.get(row.client_order_id, Decimal(0)), actor, result)
    return result


def unresolved_orders_probe(
    *,
    account: Account,
    port: ExchangeClient,
    actor: str,
    owned: Callable[[], bool],
    delays_s: Sequence[Decimal | float] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """In-flight resolution: re-probe ``account``'s orders whose submit answer was lost
    (``UNKNOWN``/``SUBMITTED`` without an exchange id), ``delays_s`` seconds apart (default
    ``RECONCILE_PROBE_DELAYS_S``), by client order id through :func:`orders_sync`. Stops when
    none is left, when every one left has reached ``RECONCILE_MAX_PROBES`` (escalated), or when
    ``owned()`` says the account's lock is no longer ours. Returns the probes made."""
    delays = settings.RECONCILE_PROBE_DELAYS_S if delays_s is None else delays_s
    probes = 0
    for delay in delays:
        pending = Order.objects.filter(
            account=account.name,
            status__in=(OrderStatus.UNKNOWN.value, OrderStatus.SUBMITTED.value),
            exchange_order_id="",
            probe_count__lt=settings.RECONCILE_MAX_PROBES,
        )
        if not pending.exists():
            break
        sleep(float(delay))
        if not owned():
            break
        orders_sync(account=account, port=port, open_orders=port.open_orders(), actor=actor)
        probes += 1
    return probes


def _foreign(account: Account, report: OrderReport, actor: str, result: SyncResult) -> None:
    result.foreign.append(report.order_id)
    alert_raise(
        kind="FOREIGN_ORDER",
        severity=AlertSeverity.WARNING,
        account=account.name,
        key=report.order_id,
        message=f"open order {report.order_id} ({report.symbol} {report.side}, client id "
        f"{report.client_order_id or '-'}) was not created by Meva; it is never touched",
        actor=actor,
    )


def _query(port: ExchangeClient, row: Order) -> OrderReport | None:
    try:
        return port.order(row.exchange_order_id)
    except OrderNotFound:
        return None
    except Exception as exc:  # a read that fails now is retried at the next sync
        logger.warning(
            "order query failed: %s", exc, extra={"client_order_id": row.client_order_id}
        )
        return None


def _find_by_client_id(port: ExchangeClient, row: Order) -> tuple[OrderReport | None, bool]:
    """``(report, answered)``: the exchange's order with ``row``'s client id from ``allOrders``
    (``None`` if absent or the read failed); ``answered`` is whether ``allOrders`` answered."""
    # the order was made at its cycle's clock, the exchange's time when TRADING_CLOCK=exchange
    # (the sandbox replays history), or at created_at: search from the earlier of the two
    start = int(row.created_at.timestamp() * 1000)
    if row.cycle_id is not None and row.cycle.now_ms is not None:
        start = min(start, row.cycle.now_ms)
    start -= ALL_ORDERS_MARGIN_MS
    try:
        reports = port.all_orders(parse_symbol(row.symbol), start_ms=start)
    except Exception as exc:
        logger.warning("allOrders failed: %s", exc, extra={"client_order_id": row.client_order_id})
        return None, False
    return next((r for r in reports if r.client_order_id == row.client_order_id), None), True


def _unresolved(
    account: Account, row: Order, actor: str, result: SyncResult, *, absent: bool = False
) -> None:
    """``row`` was not found this time; ``absent``: the exchange answered ``openOrders`` and
    ``allOrders`` without it (not a failed read)."""
    if row.status == OrderStatus.OPEN.value or row.status == OrderStatus.PARTIALLY_FILLED.value:
        result.unresolved.append(row.client_order_id)
        return  # has an id but the read failed: nothing to escalate yet
    probes = row.probe_count + 1
    changes: dict[str, object] = {"probe_count": probes, "last_probe_at": timezone.now()}
    if absent and _never_accepted(row, probes):
        _absent_resolve(account, row, changes, actor, result)
        return
    result.unresolved.append(row.client_order_id)
    with transaction.atomic():
        if row.status == OrderStatus.SUBMITTED.value:
            # sent without an ack (crash or lost answer): its outcome is unknown until found
            order_transition_apply(
                order_id=row.pk, old=OrderStatus.SUBMITTED, new=OrderStatus.UNKNOWN, changes=changes
            )
            _audit_status(account, row, OrderStatus.UNKNOWN.value, actor, "no ack: outcome unknown")
        else:
            Order.objects.filter(pk=row.pk).update(**changes)
        if probes == settings.RECONCILE_MAX_PROBES:
            result.escalated.append(row.client_order_id)
            alert_raise(
                kind="UNKNOWN_ORDER_UNRESOLVED",
                severity=AlertSeverity.CRITICAL,
                account=account.name,
                key=row.client_order_id,
                message=f"order {row.client_order_id} ({row.symbol} {row.side}) is still UNKNOWN "
                f"after {probes} probes; the account observes only until it is resolved",
                actor=actor,
            )


def _never_accepted(row: Order, probes: int) -> bool:
    """Whether an order absent from the exchange's answers was never accepted: probed at
    least ``RECONCILE_ABSENT_PROBES`` times and sent longer ago than
    ``RECONCILE_ABSENT_MIN_AGE_S`` (above the client's timeout: no answer is still coming)."""
    sent = row.submitted_at or row.created_at
    age_s = (timezone.now() - sent).total_seconds()
    return probes >= settings.RECONCILE_ABSENT_PROBES and age_s >= float(
        settings.RECONCILE_ABSENT_MIN_AGE_S
    )


def _absent_resolve(
    account: Account, row: Order, changes: dict[str, object], actor: str, result: SyncResult
) -> None:
    old = OrderStatus(row.status)
    changes = {**changes, "reject_code": "NOT_FOUND"}
    with transaction.atomic():
        if not order_transition_apply(
            order_id=row.pk, old=old, new=OrderStatus.REJECTED, changes=changes
        ):
            return  # moved by someone else meanwhile: the next sync sees its new status
        _audit_status(
            account,
            row,
            OrderStatus.REJECTED.value,
            actor,
            f"not in openOrders nor allOrders at probe {changes['probe_count']}, at least "
            f"{settings.RECONCILE_ABSENT_MIN_AGE_S} s after it was sent: never accepted",
            action="reconcile.absent",
        )
    result.absent.append(row.client_order_id)
    result.changed[row.client_order_id] = f"{old.value}->{OrderStatus.REJECTED.value}"


def _apply(
    account: Account,
    row: Order,
    report: OrderReport,
    filled: Decimal,
    actor: str,
    result: SyncResult,
) -> None:
    new = report.status
    changes: dict[str, object] = {}
    if not row.exchange_order_id:
        changes["exchange_order_id"] = report.order_id
        result.adopted.append(row.client_order_id)
    if filled != row.filled_quantity:
        changes["filled_quantity"] = filled
    old = OrderStatus(row.status)
    if new.value == row.status and not changes:
        return
    with transaction.atomic():
        if new.value == row.status or new not in ALLOWED_TRANSITIONS[old]:
            Order.objects.filter(pk=row.pk, status=row.status).update(**changes)
        elif not order_transition_apply(order_id=row.pk, old=old, new=new, changes=changes):
            return
        action = "reconcile.adopt" if "exchange_order_id" in changes else "order.status"
        _audit_status(account, row, new.value, actor, f"exchange reports {new.value}", action)
    if new.value != row.status:
        result.changed[row.client_order_id] = f"{row.status}->{new.value}"


def _filled_by_order(account: Account, client_order_ids: list[str]) -> dict[str, Decimal]:
    """Base units filled per client order id, from the ledger's fills (one query)."""
    filled: dict[str, Decimal] = {}
    rows = LedgerFill.objects.filter(
        account=account.name, client_order_id__in=client_order_ids
    ).values_list("client_order_id", "quantity")
    for coid, quantity in rows:
        filled[coid] = filled.get(coid, Decimal(0)) + quantity
    return filled


def _audit_status(
    account: Account, row: Order, new: str, actor: str, reason: str, action: str = "order.status"
) -> None:
    audit_record(
        actor=actor,
        action=action,
        account=account.name,
        object_type="order",
        object_id=row.client_order_id,
        before={"status": row.status, "exchange_order_id": row.exchange_order_id},
        after={"status": new},
        reason=reason,
    )


def escalated_unknown_orders(account: Account) -> int:
    """UNKNOWN orders of ``account`` past the probe bound (they put it in OBSERVE_ONLY)."""
    return Order.objects.filter(
        account=account.name,
        status=OrderStatus.UNKNOWN.value,
        probe_count__gte=settings.RECONCILE_MAX_PROBES,
    ).count()


def startup_reconcile(*, account: Account, ports, actor: str) -> SyncResult:
    """Reconcile ``account`` before its first cycle in this process: fills since the cursor,
    every live order (open orders, then ``allOrders`` by client order id), and, for a live
    account seen for the first time, its opening balances (the ledger's starting point,
    audited as ``reconcile.opening_balances``). Raises on any exchange error: the caller must
    then not trade."""
    _opening_balances(account, ports, actor)
    result = _reconcile_once(account, ports, actor)
    logger.info(
        "startup reconciliation done", extra={"account": account.name, "result": result.as_dict()}
    )
    return result


def _opening_balances(account: Account, ports, actor: str) -> None:
    if not account.is_live or account.initial_balances:
        return
    balances = {
        asset: str(b.total) for asset, b in sorted(ports.orders.balances().items()) if b.total
    }
    cursor = cycle_clock(account, ports)
    with transaction.atomic():
        Account.objects.filter(pk=account.pk).update(
            initial_balances=balances, trade_cursor_ms=cursor
        )
        audit_record(
            actor=actor,
            action="reconcile.opening_balances",
            account=account.name,
            object_type="account",
            object_id=account.name,
            after={"initial_balances": balances, "trade_cursor_ms": cursor},
            reason="first reconciliation of a live account: the ledger starts from these balances",
        )
    account.initial_balances = balances
    account.trade_cursor_ms = cursor


@dataclass(slots=True)
class BalanceCheck:
    """Ledger against exchange per asset: ``rows`` asset -> (ledger, exchange, difference) as
    strings; ``drift`` the assets beyond the tolerance; ``skipped`` why nothing was compared."""

    rows: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    drift: list[str] = field(default_factory=list)
    skipped: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "drift": self.drift, "skipped": self.skipped}


def balances_compare(*, account: Account, exchange: dict) -> BalanceCheck:
    """Compare the ledger's balances with ``exchange`` (asset -> ``AssetBalance``), totals
    (free + locked), for every asset either side knows."""
    opening = balances_from_json(account.initial_balances, field="initial_balances")
    ledger = ledger_balances(account=account.name, opening=opening)
    check = BalanceCheck()
    tolerance = settings.BALANCE_DRIFT_TOLERANCE
    for asset in sorted(set(ledger) | {a for a, b in exchange.items() if b.total}):
        ours = ledger.get(asset, Decimal(0))
        theirs = exchange[asset].total if asset in exchange else Decimal(0)
        diff = theirs - ours
        check.rows[asset] = (str(ours), str(theirs), str(diff))
        if abs(diff) > tolerance:
            check.drift.append(asset)
    return check


@contextmanager
def _locked_ports(
    lock: str, account: Account, ports: AccountPorts | None
) -> Iterator[AccountPorts | None]:
    """The account's ``lock`` and its ports (``ports``, or opened here and closed after);
    yields ``None`` when the lock is busy."""
    with single_flight(lock, account=account.name) as lease:
        if not lease:
            yield None
            return
        own = account_ports(account) if ports is None else None
        try:
            yield ports or own
        finally:
            if own is not None:
                own.close()


def orders_reconcile(
    *, account_name: str, actor: str, ports: AccountPorts | None = None
) -> SyncResult:
    """Periodic reconciliation of one account (task ``trading.orders_reconcile`` and the
    ``reconcile`` command) under its ``orders_reconcile:{account}`` lock: fills since the
    cursor, then every live order. A busy lock returns an empty result with ``skipped`` set."""
    account = account_get(name=account_name)
    with _locked_ports("orders_reconcile:{account}", account, ports) as open_ports:
        if open_ports is None:
            return SyncResult(skipped="lock busy")
        result = _reconcile_once(account, open_ports, actor)
    reconcile_rules_evaluate(account=account, actor=actor)
    return result


def _reconcile_once(account: Account, ports: AccountPorts, actor: str) -> SyncResult:
    result = SyncResult()
    port = ports.orders
    trades = port.user_trades(since_ms=account.trade_cursor_ms)
    with transaction.atomic():
        fills_ingest(account=account, trades=trades, actor=actor, result=result)
    orders_sync(
        account=account, port=port, open_orders=port.open_orders(), actor=actor, result=result
    )
    Account.objects.filter(pk=account.pk).update(reconciled_at=timezone.now())
    return result


def balances_check(
    *, account_name: str, actor: str, ports: AccountPorts | None = None
) -> BalanceCheck:
    """Compare ledger and exchange balances of one account (task ``trading.balances_check``)
    under its ``balances_check:{account}`` lock; drift beyond ``BALANCE_DRIFT_TOLERANCE``
    raises a ``BALANCE_DRIFT`` alert, and while it is open the account's cycles only reduce
    exposure (``REDUCE_RISK_ONLY``). Paper accounts compare with their simulated venue."""
    account = account_get(name=account_name)
    with _locked_ports("balances_check:{account}", account, ports) as open_ports:
        if open_ports is None:
            return BalanceCheck(skipped="lock busy")
        check = balances_compare(account=account, exchange=open_ports.orders.balances())
    balances_observed(account=account.name, rows=check.rows)
    for asset in check.drift:
        ours, theirs, diff = check.rows[asset]
        alert_raise(
            kind="BALANCE_DRIFT",
            severity=AlertSeverity.CRITICAL,
            account=account.name,
            key=asset,
            message=f"{asset}: ledger {ours}, exchange {theirs} (difference {diff}); "
            "the account only reduces exposure until this alert is acknowledged",
            actor=actor,
        )
    return check
