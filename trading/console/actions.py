"""The operator console's actions: each names its permission and calls exactly one service.

Every service validates, changes and writes its own ``AuditEvent`` (who, the typed reason,
before/after) in the transaction of the change; the console adds nothing to the database itself.

=====================  =========================  ==============================================
action                 permission                 service
=====================  =========================  ==============================================
arm                    trading.arm_trading        ``control.control_arm`` (typed I_UNDERSTAND)
disarm                 trading.arm_trading        ``control.control_disarm``
kill-switch-engage     trading.kill_switch        ``control.kill_switch_engage``
kill-switch-release    trading.kill_switch        ``control.kill_switch_release``
enable / disable       trading.change_account     ``accounts.account_enable`` / ``_disable``
stop-entries-on/-off   trading.change_account     ``accounts.account_stop_entries_set``
cancel-all             trading.operate_orders     ``operator_actions.orders_cancel_all``
force-exit             trading.operate_orders     ``operator_actions.position_force_exit``
acknowledge            trading.change_alert       ``alerts.alert_acknowledge``
params-rollback        trading.change_paramset    ``adaptive_actions.params_rollback``
params-pin             trading.change_paramset    ``adaptive_actions.params_pin``
params-unpin           trading.change_paramset    ``adaptive_actions.params_unpin``
=====================  =========================  ==============================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.contrib import messages

from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.models import Account, Alert
from trading.services import accounts as account_services
from trading.services import control as control_services
from trading.services.adaptive_actions import params_pin, params_rollback, params_unpin
from trading.services.alerts import alert_acknowledge
from trading.services.audit import actor_for_user
from trading.services.operator_actions import (
    OperatorActionResult,
    orders_cancel_all,
    position_force_exit,
)

CONTROL, ACCOUNT, POSITION, ALERT, PARAMS = "control", "account", "position", "alert", "params"


@dataclass(frozen=True, slots=True)
class Target:
    """What an action acts on: the account (account, position and params actions), the
    symbol (position actions), the alert (alert actions), the parameter version (params
    actions)."""

    account: Account | None = None
    symbol: str | None = None
    alert: Alert | None = None
    version: int | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.account.name} parameters v{self.version}"
        if self.alert is not None:
            return f"alert #{self.alert.pk} {self.alert.kind}"
        if self.symbol:
            return f"{self.account.name} {self.symbol}"
        return self.account.name if self.account is not None else "all trading"


# run(target, user, reason, acknowledgement) -> (messages level, text for the operator)
Runner = Callable[[Target, object, str, str], tuple[int, str]]


@dataclass(frozen=True, slots=True)
class ConsoleAction:
    """One button: ``key`` in its URL, the ``permission`` it needs (``app.codename``), the
    ``scope`` of its target, what it does (``explain``, shown on the confirmation step),
    ``danger`` (a red button), ``acknowledgement`` (the operator must type the live-trading
    phrase too) and ``run``, which calls the service."""

    key: str
    title: str
    permission: str
    scope: str
    explain: str
    run: Runner
    danger: bool = False
    acknowledgement: bool = False


def _who(user: object) -> dict[str, object]:
    return {"actor": actor_for_user(user), "user": user}


def _control(service: Callable, done: str, **extra: object) -> Runner:
    def run(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
        kwargs = {"acknowledgement": ack} if extra.get("ack") else {}
        service(user=user, reason=reason, **kwargs)
        return messages.SUCCESS, done

    return run


def _account(service: Callable, done: str, **extra: object) -> Runner:
    def run(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
        service(account=target.account, reason=reason, **extra, **_who(user))
        return messages.SUCCESS, f"{target.account.name}: {done}"

    return run


def _cancel_all(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    result = orders_cancel_all(account_name=target.account.name, user=user, reason=reason)
    return operator_result_message(result)


def _force_exit(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    result = position_force_exit(
        account_name=target.account.name, symbol=target.symbol, user=user, reason=reason
    )
    return operator_result_message(result)


def _acknowledge(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    alert_acknowledge(alert_id=target.alert.pk, user=user, reason=reason)
    return messages.SUCCESS, f"alert #{target.alert.pk} ({target.alert.kind}) acknowledged"


def _params_rollback(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    row = params_rollback(
        account_name=target.account.name, version=target.version, user=user, reason=reason
    )
    return messages.SUCCESS, f"{target.account.name}: parameters v{row.version} active again"


def _params_pin(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    row = params_pin(
        account_name=target.account.name, version=target.version, user=user, reason=reason
    )
    return messages.SUCCESS, f"{target.account.name}: parameters v{row.version} pinned"


def _params_unpin(target: Target, user: object, reason: str, ack: str) -> tuple[int, str]:
    params_unpin(account_name=target.account.name, user=user, reason=reason)
    return messages.SUCCESS, f"{target.account.name}: parameters unpinned, adaptation resumes"


def operator_result_message(result: OperatorActionResult) -> tuple[int, str]:
    """One line for the operator of what cancel all / force exit did; a warning when anything
    was refused, uncertain or not sent (the safety gate's ``GATE_BLOCKED`` included)."""
    verb = "cancel all" if result.action == "operator.cancel_all" else "force exit"
    where = f"{result.account} {result.symbol}".strip()
    parts = [f"{len(result.canceled)} cancel(s) accepted"]
    if result.action == "operator.force_exit":
        parts.append(
            f"{len(result.submitted)} sell order(s) sent"
            + (f" for {result.quantity}" if result.quantity and result.submitted else "")
        )
    if result.cancel_failed:
        parts.append(
            "cancels refused: " + ", ".join(f"{c} ({code})" for c, code in result.cancel_failed)
        )
    uncertain = result.cancel_uncertain + result.uncertain
    if uncertain:
        parts.append(f"uncertain (left to reconciliation): {', '.join(uncertain)}")
    if result.denials:
        parts.append("not sent: " + "; ".join(f"{d.code}: {d.detail}" for d in result.denials))
    problems = result.cancel_failed or uncertain or result.denials
    level = messages.WARNING if problems else messages.SUCCESS
    return level, f"{verb} {where}: " + ", ".join(parts) + f" (audit #{result.audit_event_id})"


ACTIONS: dict[str, ConsoleAction] = {
    action.key: action
    for action in (
        ConsoleAction(
            key="arm",
            title="Arm trading",
            permission="trading.arm_trading",
            scope=CONTROL,
            explain=(
                "Sets the operator's arm flag, one of the safety gate's conditions. Live orders "
                "are sent only when every other condition holds too (environment switches, "
                "credentials, kill switches, no UNKNOWN orders). Type "
                f"{LIVE_TRADING_ACK_PHRASE} to confirm."
            ),
            run=_control(control_services.control_arm, "trading armed", ack=True),
            danger=True,
            acknowledgement=True,
        ),
        ConsoleAction(
            key="disarm",
            title="Disarm trading",
            permission="trading.arm_trading",
            scope=CONTROL,
            explain="Clears the arm flag: the gate blocks every live submit and cancel.",
            run=_control(control_services.control_disarm, "trading disarmed"),
        ),
        ConsoleAction(
            key="kill-switch-engage",
            title="Engage the kill switch",
            permission="trading.kill_switch",
            scope=CONTROL,
            explain=(
                "Engages the database kill switch: the gate blocks every live submit and "
                "cancel, for every account, until it is released."
            ),
            run=_control(control_services.kill_switch_engage, "kill switch ENGAGED"),
            danger=True,
        ),
        ConsoleAction(
            key="kill-switch-release",
            title="Release the kill switch",
            permission="trading.kill_switch",
            scope=CONTROL,
            explain="Releases the database kill switch. It does not arm trading.",
            run=_control(control_services.kill_switch_release, "kill switch released"),
        ),
        ConsoleAction(
            key="enable",
            title="Enable the account",
            permission="trading.change_account",
            scope=ACCOUNT,
            explain="Enables the account and creates its beat entries: its cycles start.",
            run=_account(account_services.account_enable, "enabled"),
        ),
        ConsoleAction(
            key="disable",
            title="Disable the account",
            permission="trading.change_account",
            scope=ACCOUNT,
            explain=(
                "Disables the account and deletes its beat entries: no more cycles. Its open "
                "orders stay at the venue (cancel them first if they must go)."
            ),
            run=_account(account_services.account_disable, "disabled"),
            danger=True,
        ),
        ConsoleAction(
            key="stop-entries-on",
            title="Stop entries",
            permission="trading.change_account",
            scope=ACCOUNT,
            explain="The account keeps cycling but places only exposure-reducing orders and cancels.",
            run=_account(account_services.account_stop_entries_set, "entries stopped", stop=True),
        ),
        ConsoleAction(
            key="stop-entries-off",
            title="Resume entries",
            permission="trading.change_account",
            scope=ACCOUNT,
            explain="The account may open positions again.",
            run=_account(account_services.account_stop_entries_set, "entries resumed", stop=False),
        ),
        ConsoleAction(
            key="cancel-all",
            title="Cancel all open orders",
            permission="trading.operate_orders",
            scope=ACCOUNT,
            explain=(
                "Cancels every open order this account placed, through the execution service "
                "under the account's cycle lock; for a live account the safety gate is asked "
                "before each cancel."
            ),
            run=_cancel_all,
            danger=True,
        ),
        ConsoleAction(
            key="force-exit",
            title="Force-exit the position",
            permission="trading.operate_orders",
            scope=POSITION,
            explain=(
                "Cancels the account's open orders of the symbol, then sells the whole position "
                "now (a market order, or a marketable limit at the best bid), reduce-only, "
                "through the execution service; for a live account the safety gate decides."
            ),
            run=_force_exit,
            danger=True,
        ),
        ConsoleAction(
            key="acknowledge",
            title="Acknowledge the alert",
            permission="trading.change_alert",
            scope=ALERT,
            explain="Closes the alert; a new occurrence opens a new alert.",
            run=_acknowledge,
        ),
        ConsoleAction(
            key="params-rollback",
            title="Roll back to this parameter version",
            permission="trading.change_paramset",
            scope=PARAMS,
            explain=(
                "Makes this good version the account's parameters again, exactly as it was, "
                "from the next cycle; a pending version it replaces is marked bad. Runs under "
                "the account's cycle lock."
            ),
            run=_params_rollback,
            danger=True,
        ),
        ConsoleAction(
            key="params-pin",
            title="Pin this parameter version",
            permission="trading.change_paramset",
            scope=PARAMS,
            explain=(
                "Makes this version active and keeps it: adaptation proposes and rolls back "
                "nothing until the parameters are unpinned."
            ),
            run=_params_pin,
        ),
        ConsoleAction(
            key="params-unpin",
            title="Unpin the parameters",
            permission="trading.change_paramset",
            scope=ACCOUNT,
            explain="Adaptation resumes from the active version (proposals and rollbacks).",
            run=_params_unpin,
        ),
    )
}
