"""Execution, cycle step 10: a plan's cancels and orders go through the venue port.

:func:`plan_execute` is the only code that calls ``submit_order``/``cancel_order`` on a venue
(``tests/test_architecture.py``), in every mode: the backtest engine runs it over a
:class:`~trading.exchange.simulated.SimulatedExchange` on its in-memory venue, paper and live
cycles over their account's port with a database guard and recorder
(``trading.services.execution_records``). It imports no Django, so the backtest can use it.

Per cancel, then per order (the plan's order; cancels first, so their locks are released):

1. ``guard.*_allowed`` (safety gate, lock ownership, ...): a :class:`Denial` means record it
   and do not call the port;
2. ``recorder.*_intended``, BEFORE the call (DESIGN.md 5: the intent and its client order id
   are written first); it may also return a denial (e.g. the client order id was already
   sent), then the port is not called;
3. exactly one port call, never repeated, and its outcome, reported to the recorder:

   - an ack: accepted -> ``order_submitted`` / ``cancel_acked``;
   - ``OutcomeUncertain`` or ``PayloadError`` (an unreadable answer): it may have taken
     effect -> ``order_uncertain`` / ``cancel_uncertain``; never resent, reconciliation
     resolves it by client order id; no denial;
   - ``OrderRejected``: refused, denial ``VENUE_<reason>`` (``OrderRejected.reason``, else
     ``REJECTED``) -> ``order_rejected`` / ``cancel_failed``;
   - ``RateLimited`` (429, not executed): ``VENUE_RATE_LIMITED``; any other
     ``RetryableError`` (connection refused, never sent): ``VENUE_UNREACHABLE``; any other
     ``NonRetryableError``: ``VENUE_REJECTED`` -> ``order_rejected`` / ``cancel_failed``;
   - ``FatalError`` (credentials, configuration): ``VENUE_FATAL`` -> ``order_rejected`` /
     ``cancel_failed``, and execution stops.

   Writes are never retried by the adapters, so a ``RetryableError`` from a write always
   means nothing was sent or the exchange refused it (trading/exchange/errors.py). After a
   ``FatalError`` every remaining cancel and order is skipped with an ``EXECUTION_HALTED``
   denial (no guard, recorder or port call) and :attr:`ExecutionResult.halted` holds the
   error. A failed cancel is not a denial (nothing was to be placed); it is in
   :attr:`ExecutionResult.cancel_failed`. An exception that is not an ``ExchangeError`` (a
   bug in the port) propagates with the intent already recorded, for reconciliation to
   resolve by client order id.
"""

from __future__ import annotations

import logging
import re
from typing import NamedTuple, Protocol

from trading.domain.orders import OrderRequest, Side
from trading.domain.planner import Cancel, CyclePlan
from trading.domain.reports import CancelAck, OrderReport, SubmitAck
from trading.domain.risk import Denial
from trading.domain.symbols import Symbol
from trading.exchange.errors import (
    ExchangeError,
    FatalError,
    OrderRejected,
    OutcomeUncertain,
    PayloadError,
    RateLimited,
    RetryableError,
)
from trading.logcontext import log_context

logger = logging.getLogger(__name__)

_CODE = re.compile(r"[A-Z0-9]+(?:_[A-Z0-9]+)*")
UNCERTAIN, REFUSED, FATAL = "uncertain", "refused", "fatal"


class OrderPort(Protocol):
    """The side-effect half of :class:`~trading.exchange.base.ExchangeClient` (any client is one).

    Both raise only :mod:`trading.exchange.errors` types and are never retried.
    """

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        """Send one order (reference/btcturk_api.md 4.7)."""
        ...

    def cancel_order(self, order_id: str) -> CancelAck:
        """Ask to cancel one order by exchange id (reference 4.8)."""
        ...


class ExecutionGuard(Protocol):
    """Safety checks immediately before each side effect (DESIGN.md section 4).

    Each method is called once per cancel/order, right before its ``*_intended`` and its port
    call (so a gate flipped mid-cycle stops the next call). Return ``None`` to allow, or a
    :class:`Denial` (stable code, e.g. ``GATE_BLOCKED``) to skip the call: the denial is
    added to :attr:`ExecutionResult.denials`; recording any audit trail of the refusal is the
    guard's job. Raise (e.g. the account's lock was lost) to abort execution altogether: the
    exception propagates and nothing after it is attempted.
    """

    def submit_allowed(self, order: OrderRequest) -> Denial | None:
        """Whether ``order`` may be sent now."""
        ...

    def cancel_allowed(self, cancel: Cancel) -> Denial | None:
        """Whether ``cancel.order`` may be canceled now."""
        ...


class ExecutionRecorder(Protocol):
    """Writes what execution does, around each port call (DESIGN.md section 5).

    ``*_intended`` is called BEFORE the port call and must make the intent durable (the order
    row with its client order id, committed in its own transaction); it returns ``None`` to go
    on, or a :class:`Denial` to skip the call (e.g. ``DUPLICATE_CLIENT_ORDER_ID``: the intent
    was already sent once). Exactly one outcome method follows each port call. Any method may
    raise to abort execution: the exception propagates, nothing after it is attempted, and
    what was sent but not recorded is left to reconciliation.
    """

    def order_intended(self, order: OrderRequest) -> Denial | None:
        """Before submitting ``order``: record the intent (``NEW``, then ``SUBMITTED``)."""
        ...

    def order_submitted(self, order: OrderRequest, ack: SubmitAck) -> None:
        """The exchange accepted ``order`` as ``ack.order_id``."""
        ...

    def order_rejected(self, order: OrderRequest, error: ExchangeError) -> None:
        """``order`` was refused or never sent (module table); it does not exist there."""
        ...

    def order_uncertain(self, order: OrderRequest, error: ExchangeError) -> None:
        """``order`` may or may not exist (``UNKNOWN``); it is never resent."""
        ...

    def cancel_intended(self, cancel: Cancel) -> Denial | None:
        """Before canceling ``cancel.order``: record the intent."""
        ...

    def cancel_acked(self, cancel: Cancel, ack: CancelAck) -> None:
        """The exchange accepted the cancel (the final status comes from a later read)."""
        ...

    def cancel_failed(self, cancel: Cancel, error: ExchangeError) -> None:
        """The cancel was refused or never sent (e.g. the order already filled)."""
        ...

    def cancel_uncertain(self, cancel: Cancel, error: ExchangeError) -> None:
        """The cancel may or may not have taken effect; never resent."""
        ...


class ExecutionResult(NamedTuple):
    """What execution did with one plan; every tuple is in call order.

    ``denials`` are the plan's own denials followed by execution's (guard or recorder
    refusals, venue rejects, halted calls) in the order they happened; ``acks`` the accepted
    orders, ``rejected`` the refused or unsent ones with the error, ``uncertain`` those whose
    outcome is unknown; ``canceled``, ``cancel_failed`` and ``cancel_uncertain`` the same for
    cancels; ``halted`` the ``FatalError`` that stopped execution, else ``None``.
    """

    denials: tuple[Denial, ...]
    acks: tuple[tuple[OrderRequest, SubmitAck], ...] = ()
    rejected: tuple[tuple[OrderRequest, ExchangeError], ...] = ()
    uncertain: tuple[tuple[OrderRequest, ExchangeError], ...] = ()
    canceled: tuple[tuple[Cancel, CancelAck], ...] = ()
    cancel_failed: tuple[tuple[Cancel, ExchangeError], ...] = ()
    cancel_uncertain: tuple[tuple[Cancel, ExchangeError], ...] = ()
    halted: FatalError | None = None


def plan_execute(
    plan: CyclePlan,
    *,
    port: OrderPort,
    now_ms: int,
    guard: ExecutionGuard | None = None,
    recorder: ExecutionRecorder | None = None,
) -> ExecutionResult:
    """Cancel ``plan.cancels``, then submit ``plan.orders``, through ``port`` (module docstring).

    ``now_ms`` is the cycle time (epoch ms UTC), for the log context; the port stamps its own
    time. Without a guard every call is allowed; without a recorder nothing is written.
    Raises only what the guard or the recorder raise (or a non-taxonomy error of the port).
    """
    if not plan.cancels and not plan.orders:
        return ExecutionResult(plan.denials)
    run = _Run(port, guard, recorder, now_ms)
    for cancel in plan.cancels:
        with _logged(cancel.order):
            run.cancel(cancel)
    for order in plan.orders:
        with _logged(order):
            run.submit(order)
    return run.result(plan.denials)


def _logged(order: OrderRequest | OrderReport):
    """Log lines inside carry the order's symbol and client order id (meva.logging)."""
    return log_context(symbol=order.symbol.pair_normalized, client_order_id=order.client_order_id)


def error_outcome(error: ExchangeError) -> tuple[str, str]:
    """``(outcome, denial code)`` of a write that raised ``error`` (module table).

    ``outcome`` is ``"uncertain"``, ``"refused"`` or ``"fatal"``; the code is ``""`` for an
    uncertain outcome (no denial: the order may exist).
    """
    if isinstance(error, OutcomeUncertain | PayloadError):
        return UNCERTAIN, ""
    if isinstance(error, OrderRejected):
        return REFUSED, "VENUE_" + _code(error.reason or "REJECTED")
    if isinstance(error, RateLimited):
        return REFUSED, "VENUE_RATE_LIMITED"
    if isinstance(error, RetryableError):
        return REFUSED, "VENUE_UNREACHABLE"
    if isinstance(error, FatalError):
        return FATAL, "VENUE_FATAL"
    return REFUSED, "VENUE_REJECTED"


def _code(reason: str) -> str:
    """``reason`` as an UPPER_SNAKE code (BTCTurk messages may carry spaces or lower case)."""
    if _CODE.fullmatch(reason):
        return reason
    return re.sub(r"[^A-Z0-9]+", "_", reason.upper()).strip("_") or "REJECTED"


class _Run:
    """Outcomes of one :func:`plan_execute` call, collected in call order."""

    __slots__ = (
        "port", "guard", "recorder", "now_ms", "denials", "acks", "rejected", "uncertain",
        "canceled", "cancel_failed", "cancel_uncertain", "halted",
    )  # fmt: skip

    def __init__(
        self,
        port: OrderPort,
        guard: ExecutionGuard | None,
        recorder: ExecutionRecorder | None,
        now_ms: int,
    ) -> None:
        self.port, self.guard, self.recorder, self.now_ms = port, guard, recorder, now_ms
        self.denials: list[Denial] = []
        self.acks: list[tuple[OrderRequest, SubmitAck]] = []
        self.rejected: list[tuple[OrderRequest, ExchangeError]] = []
        self.uncertain: list[tuple[OrderRequest, ExchangeError]] = []
        self.canceled: list[tuple[Cancel, CancelAck]] = []
        self.cancel_failed: list[tuple[Cancel, ExchangeError]] = []
        self.cancel_uncertain: list[tuple[Cancel, ExchangeError]] = []
        self.halted: FatalError | None = None

    def submit(self, order: OrderRequest) -> None:
        if self.halted is not None:
            self._deny_halted(order.symbol, order.side, order.strategy, order.client_order_id)
            return
        guard, recorder = self.guard, self.recorder
        denial = None if guard is None else guard.submit_allowed(order)
        if denial is None and recorder is not None:
            denial = recorder.order_intended(order)
        if denial is not None:
            self.denials.append(denial)
            return
        try:
            ack = self.port.submit_order(order)
        except ExchangeError as exc:
            outcome, code = error_outcome(exc)
            if outcome == UNCERTAIN:
                self._log_uncertain("submit", order.client_order_id, exc)
                self.uncertain.append((order, exc))
                if recorder is not None:
                    recorder.order_uncertain(order, exc)
                return
            self.denials.append(Denial(code, exc.message, order.symbol, order.side, order.strategy))
            self.rejected.append((order, exc))
            if recorder is not None:
                recorder.order_rejected(order, exc)
            if outcome == FATAL:
                self._halt(exc)
            return
        self.acks.append((order, ack))
        if recorder is not None:
            recorder.order_submitted(order, ack)

    def cancel(self, cancel: Cancel) -> None:
        order = cancel.order
        if self.halted is not None:
            self._deny_halted(order.symbol, order.side, "", order.client_order_id)
            return
        guard, recorder = self.guard, self.recorder
        denial = None if guard is None else guard.cancel_allowed(cancel)
        if denial is None and recorder is not None:
            denial = recorder.cancel_intended(cancel)
        if denial is not None:
            self.denials.append(denial)
            return
        try:
            ack = self.port.cancel_order(order.order_id)
        except ExchangeError as exc:
            outcome, _ = error_outcome(exc)
            if outcome == UNCERTAIN:
                self._log_uncertain("cancel", order.client_order_id, exc)
                self.cancel_uncertain.append((cancel, exc))
                if recorder is not None:
                    recorder.cancel_uncertain(cancel, exc)
                return
            self.cancel_failed.append((cancel, exc))
            if recorder is not None:
                recorder.cancel_failed(cancel, exc)
            if outcome == FATAL:
                self._halt(exc)
            return
        self.canceled.append((cancel, ack))
        if recorder is not None:
            recorder.cancel_acked(cancel, ack)

    def result(self, plan_denials: tuple[Denial, ...]) -> ExecutionResult:
        return ExecutionResult(
            plan_denials + tuple(self.denials) if self.denials else plan_denials,
            tuple(self.acks),
            tuple(self.rejected) if self.rejected else (),
            tuple(self.uncertain) if self.uncertain else (),
            tuple(self.canceled) if self.canceled else (),
            tuple(self.cancel_failed) if self.cancel_failed else (),
            tuple(self.cancel_uncertain) if self.cancel_uncertain else (),
            self.halted,
        )

    def _halt(self, error: FatalError) -> None:
        self.halted = error
        logger.error(
            "execution halted: %s", error, extra={"cycle_ms": self.now_ms, "error": error.message}
        )

    def _deny_halted(self, symbol: Symbol, side: Side, strategy: str, client_order_id: str) -> None:
        detail = f"not sent: execution halted by {self.halted.message} ({client_order_id})"
        self.denials.append(Denial("EXECUTION_HALTED", detail, symbol, side, strategy))

    def _log_uncertain(self, action: str, client_order_id: str, error: ExchangeError) -> None:
        logger.warning(
            "%s outcome uncertain: %s",
            action,
            error,
            extra={"cycle_ms": self.now_ms, "client_order_id": client_order_id},
        )
