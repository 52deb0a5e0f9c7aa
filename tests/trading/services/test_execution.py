"""plan_execute: each cancel and order goes through guard, recorder and exactly one port call.

Plain tests, no database: the port is either the simulated exchange (BTC_TRY, tick 1 TRY,
step 0.0001 BTC, min notional 100 TRY, 100,000 TRY and 1 BTC) or a scripted fake whose
answers (an ack or an exception) are given per call.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import pytest

from trading.domain.orders import OrderRequest, OrderStatus, OrderType, Side
from trading.domain.planner import Cancel, CyclePlan
from trading.domain.reports import CancelAck, OrderReport, SubmitAck
from trading.domain.risk import Denial, Mode, RiskState
from trading.domain.rules import ExchangeRules
from trading.domain.symbols import Symbol
from trading.domain.venue import SimulatedVenue
from trading.exchange.errors import (
    AuthenticationError,
    ExchangeError,
    NonRetryableError,
    OrderNotFound,
    OrderRejected,
    OutcomeUncertain,
    PayloadError,
    RateLimited,
    RetryableError,
)
from trading.exchange.simulated import SimulatedExchange
from trading.services.execution import ExecutionResult, error_outcome, plan_execute

D = Decimal
BTC = Symbol("BTC", "TRY")
NOW = 1_700_000_000_000
RULES = ExchangeRules(BTC, D("1"), D("0.0001"), D("100"))
PLAN_DENIAL = Denial("COOLDOWN", "traded recently", BTC, Side.BUY, "s")


def buy(coid: str = "b1", quantity: str = "0.01", price: str = "1000000") -> OrderRequest:
    return OrderRequest(coid, BTC, Side.BUY, OrderType.LIMIT, D(quantity), D(price), strategy="s")


def resting(order_id: str = "9", side: Side = Side.BUY) -> OrderReport:
    return OrderReport(
        order_id, f"c{order_id}", BTC, side, OrderType.LIMIT, OrderStatus.OPEN,
        D("1000000"), D("0.01"), D("0.01"), NOW - 60_000, NOW - 60_000,
    )  # fmt: skip


def plan(
    orders: Iterable[OrderRequest] = (),
    cancels: Iterable[Cancel] = (),
    denials: tuple[Denial, ...] = (PLAN_DENIAL,),
) -> CyclePlan:
    return CyclePlan(
        now_ms=NOW,
        mode=Mode.NORMAL,
        mode_reasons=(),
        universe=(BTC,),
        excluded={},
        intents=(),
        orders=tuple(orders),
        cancels=tuple(cancels),
        denials=denials,
        portfolio=None,  # execution never reads it
        risk_state=RiskState(),
        equity=D("100000"),
    )


def ack(order: OrderRequest, order_id: str = "1") -> SubmitAck:
    return SubmitAck(
        order_id, order.client_order_id, order.symbol, order.side, order.order_type,
        order.price, order.quantity, NOW,
    )  # fmt: skip


class ScriptedPort:
    """Answers each call with the next scripted outcome (an ack, or an exception to raise)."""

    def __init__(self, *answers: object) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, str]] = []

    def _answer(self) -> object:
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def submit_order(self, request: OrderRequest) -> SubmitAck:
        self.calls.append(("submit", request.client_order_id))
        return self._answer()

    def cancel_order(self, order_id: str) -> CancelAck:
        self.calls.append(("cancel", order_id))
        return self._answer()


class Journal:
    """A recorder (and guard) that logs every call; ``deny`` maps a key to a denial."""

    def __init__(self, deny: dict[tuple[str, str], Denial] | None = None) -> None:
        self.events: list[tuple[str, str]] = []
        self.deny = deny or {}

    def _log(self, event: str, key: str) -> Denial | None:
        self.events.append((event, key))
        return self.deny.get((event, key))

    def submit_allowed(self, order: OrderRequest) -> Denial | None:
        return self._log("submit_allowed", order.client_order_id)

    def cancel_allowed(self, cancel: Cancel) -> Denial | None:
        return self._log("cancel_allowed", cancel.order.order_id)

    def order_intended(self, order: OrderRequest) -> Denial | None:
        return self._log("order_intended", order.client_order_id)

    def order_submitted(self, order: OrderRequest, ack: SubmitAck) -> None:
        self._log("order_submitted", order.client_order_id)

    def order_rejected(self, order: OrderRequest, error: ExchangeError) -> None:
        self._log("order_rejected", order.client_order_id)

    def order_uncertain(self, order: OrderRequest, error: ExchangeError) -> None:
        self._log("order_uncertain", order.client_order_id)

    def cancel_intended(self, cancel: Cancel) -> Denial | None:
        return self._log("cancel_intended", cancel.order.order_id)

    def cancel_acked(self, cancel: Cancel, ack: CancelAck) -> None:
        self._log("cancel_acked", cancel.order.order_id)

    def cancel_failed(self, cancel: Cancel, error: ExchangeError) -> None:
        self._log("cancel_failed", cancel.order.order_id)

    def cancel_uncertain(self, cancel: Cancel, error: ExchangeError) -> None:
        self._log("cancel_uncertain", cancel.order.order_id)


def simulated() -> SimulatedExchange:
    venue = SimulatedVenue(
        rules={BTC: RULES},
        balances={"TRY": D("100000"), "BTC": D("1")},
        fee_maker_bps=D("10"),
        fee_taker_bps=D("20"),
    )
    return SimulatedExchange(venue, clock=lambda: NOW)


# --- the simulated exchange as the port ------------------------------------------------------


def test_an_accepted_order_is_intended_then_submitted_and_acked() -> None:
    journal = Journal()
    order = buy()

    result = plan_execute(plan([order]), port=simulated(), now_ms=NOW, recorder=journal)

    assert [(o, a.order_id) for o, a in result.acks] == [(order, "1")]
    assert result.denials == (PLAN_DENIAL,)
    assert journal.events == [("order_intended", "b1"), ("order_submitted", "b1")]


def test_a_venue_reject_becomes_a_venue_denial_after_the_plans_own() -> None:
    journal = Journal()
    small = buy(quantity="0.0001", price="100000")  # 10 TRY < 100 TRY min notional

    result = plan_execute(plan([small]), port=simulated(), now_ms=NOW, recorder=journal)

    assert [d.code for d in result.denials] == ["COOLDOWN", "VENUE_MIN_NOTIONAL"]
    denial = result.denials[1]
    assert (denial.symbol, denial.side, denial.strategy) == (BTC, Side.BUY, "s")
    assert "FAILED_MIN_TOTAL_AMOUNT" in denial.detail
    assert [o for o, _ in result.rejected] == [small]
    assert journal.events == [("order_intended", small.client_order_id), ("order_rejected", "b1")]


def test_cancels_go_first_so_their_locks_are_free_for_the_orders() -> None:
    port = simulated()
    first = plan_execute(plan([buy("b1", quantity="0.09")]), port=port, now_ms=NOW)
    [report] = port.open_orders()
    order = buy("b2", quantity="0.09")  # fits only once the first order's lock is released

    result = plan_execute(plan([order], [Cancel(report, "ORDER_TTL")]), port=port, now_ms=NOW)

    assert first.acks and result.acks[0][0] == order
    assert [c.order.order_id for c, _ in result.canceled] == ["1"]
    assert port.order("1").status is OrderStatus.CANCELED


def test_an_empty_plan_touches_nothing() -> None:
    port = ScriptedPort()

    result = plan_execute(plan(), port=port, now_ms=NOW, guard=Journal(), recorder=Journal())

    assert result == ExecutionResult((PLAN_DENIAL,))
    assert port.calls == []


# --- the guard and the recorder --------------------------------------------------------------


def test_a_guard_denial_is_recorded_and_nothing_is_sent() -> None:
    gate = Denial("GATE_BLOCKED", "not armed", BTC, Side.BUY)
    guard, recorder = Journal({("submit_allowed", "b1"): gate}), Journal()
    port = ScriptedPort(ack(buy("b2")))

    result = plan_execute(
        plan([buy("b1"), buy("b2")]), port=port, now_ms=NOW, guard=guard, recorder=recorder
    )

    assert result.denials == (PLAN_DENIAL, gate)
    assert port.calls == [("submit", "b2")]
    assert recorder.events == [("order_intended", "b2"), ("order_submitted", "b2")]


def test_a_denial_from_the_intent_record_sends_nothing() -> None:
    duplicate = Denial("DUPLICATE_CLIENT_ORDER_ID", "already sent", BTC, Side.BUY)
    recorder = Journal({("order_intended", "b1"): duplicate})
    port = ScriptedPort()

    result = plan_execute(plan([buy("b1")]), port=port, now_ms=NOW, recorder=recorder)

    assert result.denials == (PLAN_DENIAL, duplicate)
    assert port.calls == []


def test_the_guard_is_asked_before_the_intent_is_recorded_and_the_call_made() -> None:
    journal = Journal()
    port = ScriptedPort(CancelAck("9"), ack(buy()))

    plan_execute(
        plan([buy()], [Cancel(resting("9"), "ORDER_TTL")]),
        port=port,
        now_ms=NOW,
        guard=journal,
        recorder=journal,
    )

    assert journal.events == [
        ("cancel_allowed", "9"),
        ("cancel_intended", "9"),
        ("cancel_acked", "9"),
        ("submit_allowed", "b1"),
        ("order_intended", "b1"),
        ("order_submitted", "b1"),
    ]
    assert port.calls == [("cancel", "9"), ("submit", "b1")]


def test_a_guard_that_raises_aborts_execution() -> None:
    class LockLost(RuntimeError):
        pass

    class Losing(Journal):
        def submit_allowed(self, order: OrderRequest) -> Denial | None:
            if order.client_order_id == "b2":
                raise LockLost("lock lost")
            return None

    port = ScriptedPort(ack(buy("b1")), ack(buy("b3")))

    with pytest.raises(LockLost):
        plan_execute(plan([buy("b1"), buy("b2"), buy("b3")]), port=port, now_ms=NOW, guard=Losing())

    assert port.calls == [("submit", "b1")]


# --- outcomes of a submit --------------------------------------------------------------------


def test_an_uncertain_submit_is_recorded_unknown_and_never_resent() -> None:
    recorder = Journal()
    error = OutcomeUncertain("timeout after sending", client_order_id="b1")
    port = ScriptedPort(error)

    result = plan_execute(plan([buy("b1")]), port=port, now_ms=NOW, recorder=recorder)

    assert result.uncertain == ((buy("b1"), error),)
    assert result.denials == (PLAN_DENIAL,)  # the order may exist: not a denial
    assert port.calls == [("submit", "b1")]
    assert recorder.events == [("order_intended", "b1"), ("order_uncertain", "b1")]


@pytest.mark.parametrize(
    ("error", "outcome", "code"),
    [
        (OutcomeUncertain("5xx after sending"), "uncertain", ""),
        (PayloadError("unreadable 2xx body"), "uncertain", ""),
        (OrderRejected("FAILED_MIN_TOTAL_AMOUNT", reason="MIN_NOTIONAL"), "refused", "VENUE_MIN_NOTIONAL"),
        (OrderRejected("FAILED_MIN_TOTAL_AMOUNT", code=1123), "refused", "VENUE_REJECTED"),
        (OrderRejected("odd", reason="Balance not enough!"), "refused", "VENUE_BALANCE_NOT_ENOUGH"),
        (RateLimited("429"), "refused", "VENUE_RATE_LIMITED"),
        (RetryableError("connection failed before the request was sent"), "refused", "VENUE_UNREACHABLE"),
        (OrderNotFound("NO_ORDER_MATCHES_YOUR_REQUEST"), "refused", "VENUE_REJECTED"),
        (NonRetryableError("HTTP 404"), "refused", "VENUE_REJECTED"),
        (AuthenticationError("Unauthorized"), "fatal", "VENUE_FATAL"),
    ],
)  # fmt: skip
def test_each_error_kind_has_one_outcome(error: ExchangeError, outcome: str, code: str) -> None:
    assert error_outcome(error) == (outcome, code)


def test_a_connection_refused_submit_is_rejected_as_unsent_not_uncertain() -> None:
    recorder = Journal()
    port = ScriptedPort(RetryableError("connection failed before the request was sent"))

    result = plan_execute(plan([buy("b1")]), port=port, now_ms=NOW, recorder=recorder)

    assert result.uncertain == ()
    assert [d.code for d in result.denials] == ["COOLDOWN", "VENUE_UNREACHABLE"]
    assert recorder.events == [("order_intended", "b1"), ("order_rejected", "b1")]


def test_a_fatal_error_halts_every_later_call() -> None:
    recorder = Journal()
    error = AuthenticationError("Unauthorized - Invalid Signature")
    port = ScriptedPort(error)

    result = plan_execute(
        plan([buy("b1"), buy("b2")], denials=()), port=port, now_ms=NOW, recorder=recorder
    )

    assert result.halted is error
    assert [d.code for d in result.denials] == ["VENUE_FATAL", "EXECUTION_HALTED"]
    assert port.calls == [("submit", "b1")]
    assert recorder.events == [("order_intended", "b1"), ("order_rejected", "b1")]


# --- outcomes of a cancel --------------------------------------------------------------------


def test_cancel_outcomes_are_acked_failed_or_uncertain() -> None:
    recorder = Journal()
    refused = OrderNotFound("NO_ORDER_MATCHES_YOUR_REQUEST")
    unsure = OutcomeUncertain("timeout after sending", order_id="3")
    port = ScriptedPort(CancelAck("1"), refused, unsure)
    cancels = [Cancel(resting(i), "ORDER_TTL") for i in ("1", "2", "3")]

    result = plan_execute(plan(cancels=cancels), port=port, now_ms=NOW, recorder=recorder)

    assert result.canceled == ((cancels[0], CancelAck("1")),)
    assert result.cancel_failed == ((cancels[1], refused),)
    assert result.cancel_uncertain == ((cancels[2], unsure),)
    assert result.denials == (PLAN_DENIAL,)  # a failed cancel places nothing: no denial
    assert [e for e, _ in recorder.events] == [
        "cancel_intended",
        "cancel_acked",
        "cancel_intended",
        "cancel_failed",
        "cancel_intended",
        "cancel_uncertain",
    ]


def test_a_guard_denied_cancel_is_a_denial_and_is_not_sent() -> None:
    blocked = Denial("GATE_BLOCKED", "kill switch", BTC, Side.BUY)
    port = ScriptedPort()

    result = plan_execute(
        plan(cancels=[Cancel(resting("1"), "MODE_OBSERVE_ONLY")]),
        port=port,
        now_ms=NOW,
        guard=Journal({("cancel_allowed", "1"): blocked}),
    )

    assert result.denials == (PLAN_DENIAL, blocked)
    assert port.calls == []


def test_a_fatal_cancel_skips_the_rest_of_the_plan() -> None:
    port = ScriptedPort(AuthenticationError("Unauthorized"))

    result = plan_execute(
        plan([buy("b1")], [Cancel(resting("1"), "ORDER_TTL"), Cancel(resting("2"), "ORDER_TTL")]),
        port=port,
        now_ms=NOW,
    )

    assert port.calls == [("cancel", "1")]
    assert [d.code for d in result.denials] == ["COOLDOWN", "EXECUTION_HALTED", "EXECUTION_HALTED"]
    assert result.halted is not None


# --- purity ----------------------------------------------------------------------------------


def test_the_module_imports_no_django() -> None:
    code = (
        "import sys, trading.services.execution; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'django', 'rest_framework', 'celery'}); "
        "print(bad); sys.exit(1 if bad else 0)"
    )  # fmt: skip
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root)

    assert done.returncode == 0, done.stdout + done.stderr
