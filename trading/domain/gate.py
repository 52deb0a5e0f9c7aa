"""The safety gate: may a live side effect (submit, cancel) happen now?

DESIGN.md section 4. Live side effects happen only when **all** of these hold:

==================  ==============================================================
reason code         blocks when
==================  ==============================================================
DRY_RUN             ``DRY_RUN`` (environment) is true
KILL_SWITCH         ``KILL_SWITCH`` (environment) is true
LIVE_TRADING_OFF    ``LIVE_TRADING`` (environment) is false
ACK_MISSING         ``LIVE_TRADING_ACK`` is not exactly ``I_UNDERSTAND``
NO_CREDENTIALS      the BTCTurk API key or secret is empty
WITHDRAW_PERMISSION the API key is known to carry withdraw permission
NOT_ARMED           the operator's arm flag in the database is off
DB_KILL_SWITCH      the database kill switch is engaged
UNKNOWN_ORDERS      an order is in ``UNKNOWN`` state (blocks submits only)
==================  ==============================================================

:func:`gate_evaluate` returns every failing reason, in the order above, not just the first, so
the admin and the start-up banner can show the whole picture. Cancels are not blocked by
unresolved ``UNKNOWN`` orders: cancelling only reduces exposure, and reconciliation may need it.
Pure: no I/O, no clock; the caller gathers :class:`GateInputs` (``trading.services.gate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LIVE_TRADING_ACK_PHRASE = "I_UNDERSTAND"


class GateAction(StrEnum):
    """The side effect being asked about."""

    SUBMIT = "submit"
    CANCEL = "cancel"


class GateReason(StrEnum):
    """Why the gate blocks; members are declared in the order reasons are reported."""

    DRY_RUN = "DRY_RUN"
    KILL_SWITCH = "KILL_SWITCH"
    LIVE_TRADING_OFF = "LIVE_TRADING_OFF"
    ACK_MISSING = "ACK_MISSING"
    NO_CREDENTIALS = "NO_CREDENTIALS"
    WITHDRAW_PERMISSION = "WITHDRAW_PERMISSION"
    NOT_ARMED = "NOT_ARMED"
    DB_KILL_SWITCH = "DB_KILL_SWITCH"
    UNKNOWN_ORDERS = "UNKNOWN_ORDERS"


REASON_TEXT: dict[GateReason, str] = {
    GateReason.DRY_RUN: "DRY_RUN is true (environment)",
    GateReason.KILL_SWITCH: "KILL_SWITCH is true (environment)",
    GateReason.LIVE_TRADING_OFF: "LIVE_TRADING is false (environment)",
    GateReason.ACK_MISSING: f"LIVE_TRADING_ACK is not exactly {LIVE_TRADING_ACK_PHRASE}",
    GateReason.NO_CREDENTIALS: "BTCTURK_API_KEY or BTCTURK_API_SECRET is empty",
    GateReason.WITHDRAW_PERMISSION: "the API key has withdraw permission (refused)",
    GateReason.NOT_ARMED: "the operator has not armed trading (admin: Trading control)",
    GateReason.DB_KILL_SWITCH: "the database kill switch is engaged (admin: Trading control)",
    GateReason.UNKNOWN_ORDERS: "orders in UNKNOWN state are unresolved (submits blocked)",
}


@dataclass(frozen=True, slots=True)
class GateInputs:
    """Everything the gate looks at.

    ``live_trading_ack`` is the raw setting (compared exactly, case-sensitive).
    ``key_can_withdraw``: ``True`` if the key is known to have withdraw permission, ``False``
    if known not to, ``None`` if not known (BTCTurk has no endpoint that lists a key's
    permissions; only a known withdraw permission blocks). ``unresolved_unknown_orders`` is
    the count of orders in ``UNKNOWN`` state (>= 0).
    """

    dry_run: bool
    kill_switch_env: bool
    live_trading: bool
    live_trading_ack: str
    has_credentials: bool
    key_can_withdraw: bool | None
    armed: bool
    db_kill_switch: bool
    unresolved_unknown_orders: int


@dataclass(frozen=True, slots=True)
class GateDecision:
    """The gate's answer: ``allowed`` iff ``reasons`` is empty; reasons in declaration order."""

    allowed: bool
    reasons: tuple[GateReason, ...]
    action: GateAction = GateAction.SUBMIT

    @property
    def summary(self) -> str:
        """One line for banners and the admin: ``ARMED`` or ``BLOCKED: DRY_RUN, ...``."""
        if self.allowed:
            return f"ARMED ({self.action})"
        return f"BLOCKED ({self.action}): " + ", ".join(self.reasons)

    def explain(self) -> tuple[str, ...]:
        """Each reason with its human text, e.g. ``DRY_RUN: DRY_RUN is true (environment)``."""
        return tuple(f"{reason}: {REASON_TEXT[reason]}" for reason in self.reasons)


def gate_evaluate(inputs: GateInputs, action: GateAction | str = GateAction.SUBMIT) -> GateDecision:
    """Evaluate every gate rule for ``action`` ("submit" or "cancel").

    Returns a :class:`GateDecision` with all failing reasons in :class:`GateReason` order.
    Raises ``ValueError`` for an unknown action or a negative unknown-order count.
    """
    action = GateAction(action)
    if inputs.unresolved_unknown_orders < 0:
        raise ValueError(
            f"unresolved_unknown_orders must be >= 0, got {inputs.unresolved_unknown_orders}"
        )
    failing = {
        GateReason.DRY_RUN: inputs.dry_run,
        GateReason.KILL_SWITCH: inputs.kill_switch_env,
        GateReason.LIVE_TRADING_OFF: not inputs.live_trading,
        GateReason.ACK_MISSING: inputs.live_trading_ack != LIVE_TRADING_ACK_PHRASE,
        GateReason.NO_CREDENTIALS: not inputs.has_credentials,
        GateReason.WITHDRAW_PERMISSION: inputs.key_can_withdraw is True,
        GateReason.NOT_ARMED: not inputs.armed,
        GateReason.DB_KILL_SWITCH: inputs.db_kill_switch,
        GateReason.UNKNOWN_ORDERS: (
            action is GateAction.SUBMIT and inputs.unresolved_unknown_orders > 0
        ),
    }
    reasons = tuple(reason for reason in GateReason if failing[reason])
    return GateDecision(allowed=not reasons, reasons=reasons, action=action)
