"""The database side of execution: the guard that re-checks safety before every side effect,
and the recorder that writes each order's row and audit trail around the exchange call.

:func:`trading.services.execution.plan_execute` calls these around each submit and cancel
(DESIGN.md sections 4 and 5):

1. :meth:`ExecutionGuardDb.submit_allowed` — the lock is still ours, the safety gate (live
   accounts: :func:`trading.services.gate.gate_state`, evaluated right now) allows it, and no
   order of the same account and symbol is ``UNKNOWN``. A refusal is a ``Denial`` and, for the
   gate, an ``AuditEvent`` ``gate.blocked`` carrying every reason.
2. :meth:`OrderRecorderDb.order_intended` — the ``Order`` row (``NEW``, deterministic client
   order id, unique) and its ``order.submit`` audit commit in their own transaction, then the
   row moves ``NEW -> SUBMITTED`` (compare-and-set) just before the one exchange call.
3. The outcome: ack -> ``OPEN`` with the exchange order id; ``OrderRejected`` -> ``REJECTED``
   with BTCTurk's code; ``OutcomeUncertain`` -> ``UNKNOWN`` (never resent: reconciliation
   resolves it by client order id). Each change is compare-and-set and audited
   (``order.status``) in one transaction.

A crash between 2 and 3 leaves a ``SUBMITTED`` order without an exchange id: the startup
reconciliation finds it by client order id or declares it never accepted. Paper accounts run
through the same recorder; only live accounts consult the safety gate.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from trading.domain.gate import GateAction
from trading.domain.orders import OrderRequest, OrderStatus, Side
from trading.domain.planner import Cancel
from trading.domain.reports import CancelAck, SubmitAck
from trading.domain.risk import Denial
from trading.domain.symbols import Symbol
from trading.exchange.errors import ExchangeError
from trading.models import Account, Cycle, Order
from trading.services.audit import audit_record
from trading.services.gate import gate_state
from trading.services.orders import order_transition_apply

logger = logging.getLogger(__name__)


class LockLost(RuntimeError):
    """The account's lock is no longer ours: stop before any further side effect."""


class ExecutionGuardDb:
    """Safety checks immediately before each side effect (module docstring, step 1).

    ``owned`` returns whether this worker still holds the account's lock (a lease's
    ``owned``); ``actor`` is who acts (``task:trading.cycle_run``, ``command:run_cycle``).
    """

    def __init__(self, account: Account, *, owned: Callable[[], bool], actor: str) -> None:
        self.account = account
        self.owned = owned
        self.actor = actor

    def submit_allowed(self, order: OrderRequest) -> Denial | None:
        self._still_ours()
        denial = self._gate(GateAction.SUBMIT, order.symbol, order.side, order.client_order_id)
        if denial is not None:
            return denial
        pending = Order.objects.filter(
            account=self.account.name,
            symbol=order.symbol.pair_normalized,
            status=OrderStatus.UNKNOWN.value,
        ).exists()
        if pending:
            return Denial(
                "UNKNOWN_ORDER_PENDING",
                f"an order of {order.symbol} is UNKNOWN: submits for it wait for reconciliation",
                order.symbol,
                order.side,
                order.strategy,
            )
        return None

    def cancel_allowed(self, cancel: Cancel) -> Denial | None:
        self._still_ours()
        order = cancel.order
        return self._gate(GateAction.CANCEL, order.symbol, order.side, order.client_order_id)

    def _still_ours(self) -> None:
        if not self.owned():
            raise LockLost(f"lock of account {self.account.name} lost: execution stopped")

    def _gate(
        self, action: GateAction, symbol: Symbol, side: Side, client_order_id: str
    ) -> Denial | None:
        if not self.account.is_live:
            return None  # paper accounts never touch the live gate
        decision = gate_state(action=action)
        if decision.allowed:
            return None
        with transaction.atomic():
            audit_record(
                actor=self.actor,
                action="gate.blocked",
                account=self.account.name,
                object_type="order",
                object_id=client_order_id,
                after={"action": action.value, "reasons": [str(r) for r in decision.reasons]},
                reason=decision.summary,
            )
        logger.warning(
            "safety gate blocked a %s",
            action.value,
            extra={"account": self.account.name, "client_order_id": client_order_id},
        )
        return Denial("GATE_BLOCKED", "; ".join(decision.explain()), symbol, side)


def _order_json(row: Order) -> dict[str, object]:
    return {
        "status": row.status,
        "exchange_order_id": row.exchange_order_id,
        "filled_quantity": str(row.filled_quantity),
        "reject_code": row.reject_code,
    }


class OrderRecorderDb:
    """Order rows and audits around each exchange call (module docstring, steps 2-3)."""

    def __init__(self, account: Account, *, cycle: Cycle | None, actor: str) -> None:
        self.account = account
        self.cycle = cycle
        self.actor = actor
        self._rows: dict[str, Order] = {}

    # --- submits ---------------------------------------------------------------------------

    def order_intended(self, order: OrderRequest) -> Denial | None:
        """Write the ``NEW`` row (own transaction), then mark it ``SUBMITTED``.

        Returns a ``DUPLICATE_CLIENT_ORDER_ID`` denial, and sends nothing, when a row with
        this client order id already exists (the intent was already sent once).
        """
        try:
            with transaction.atomic():
                row = Order.objects.create(
                    account=self.account.name,
                    cycle=self.cycle,
                    client_order_id=order.client_order_id,
                    symbol=order.symbol.pair_normalized,
                    side=order.side.value,
                    order_type=order.order_type.value,
                    price=order.price,
                    quantity=order.quantity,
                    quote_amount=order.quote_amount,
                    strategy=order.strategy,
                    reason=order.reason[:200],
                )
                audit_record(
                    actor=self.actor,
                    action="order.submit",
                    account=self.account.name,
                    object_type="order",
                    object_id=order.client_order_id,
                    after=_request_json(order),
                    reason=order.reason,
                )
        except IntegrityError:
            return Denial(
                "DUPLICATE_CLIENT_ORDER_ID",
                f"client order id {order.client_order_id} was already sent; not resent",
                order.symbol,
                order.side,
                order.strategy,
            )
        self._rows[order.client_order_id] = row
        self._move(row, OrderStatus.SUBMITTED, {"submitted_at": timezone.now()}, "sending")
        return None

    def order_submitted(self, order: OrderRequest, ack: SubmitAck) -> None:
        row = self._rows[order.client_order_id]
        self._move(row, OrderStatus.OPEN, {"exchange_order_id": ack.order_id}, "accepted")

    def order_rejected(self, order: OrderRequest, error: ExchangeError) -> None:
        row = self._rows[order.client_order_id]
        code = str(getattr(error, "code", None) or getattr(error, "reason", None) or "REJECTED")
        self._move(row, OrderStatus.REJECTED, {"reject_code": code[:64]}, str(error))

    def order_uncertain(self, order: OrderRequest, error: ExchangeError) -> None:
        row = self._rows[order.client_order_id]
        self._move(row, OrderStatus.UNKNOWN, {}, f"outcome uncertain: {error}")

    # --- cancels ---------------------------------------------------------------------------

    def cancel_intended(self, cancel: Cancel) -> None:
        with transaction.atomic():
            audit_record(
                actor=self.actor,
                action="order.cancel",
                account=self.account.name,
                object_type="order",
                object_id=cancel.order.client_order_id,
                after={"order_id": cancel.order.order_id},
                reason=cancel.reason,
            )

    def cancel_acked(self, cancel: Cancel, ack: CancelAck) -> None:
        """BTCTurk's 200 only means "accepted": the status follows from the next read."""

    def cancel_failed(self, cancel: Cancel, error: ExchangeError) -> None:
        logger.warning(
            "cancel refused: %s",
            error,
            extra={"account": self.account.name, "client_order_id": cancel.order.client_order_id},
        )

    def cancel_uncertain(self, cancel: Cancel, error: ExchangeError) -> None:
        logger.warning(
            "cancel outcome uncertain: %s",
            error,
            extra={"account": self.account.name, "client_order_id": cancel.order.client_order_id},
        )

    # --- helpers ---------------------------------------------------------------------------

    def _move(self, row: Order, new: OrderStatus, changes: dict, reason: str) -> None:
        old = OrderStatus(row.status)
        with transaction.atomic():
            if not order_transition_apply(order_id=row.pk, old=old, new=new, changes=changes):
                logger.warning(
                    "order moved concurrently; %s -> %s not applied",
                    old,
                    new,
                    extra={"client_order_id": row.client_order_id},
                )
                return
            before = _order_json(row)
            row.status = new.value
            for field, value in changes.items():
                setattr(row, field, value)
            audit_record(
                actor=self.actor,
                action="order.status",
                account=self.account.name,
                object_type="order",
                object_id=row.client_order_id,
                before=before,
                after=_order_json(row),
                reason=reason,
            )


def _request_json(order: OrderRequest) -> dict[str, object]:
    def text(value: Decimal | None) -> str | None:
        return None if value is None else str(value)

    return {
        "symbol": order.symbol.pair_normalized,
        "side": order.side.value,
        "order_type": order.order_type.value,
        "quantity": text(order.quantity),
        "price": text(order.price),
        "quote_amount": text(order.quote_amount),
        "strategy": order.strategy,
    }
