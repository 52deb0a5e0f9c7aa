"""The operator's switches: arm/disarm trading and engage/release the database kill switch.

Each service locks the single :class:`~trading.models.TradingControl` row, changes one switch,
records who and when (UTC) and why on the row, writes an ``AuditEvent`` (``control.arm``,
``control.disarm``, ``control.kill_switch_engage``, ``control.kill_switch_release``) with the
switch before and after, in the same transaction, logs the change at WARNING, and returns the
row. The row holds only the last change; the audit trail is the history.
Raises :class:`~meva.errors.ApplicationError` when no user is given (every change must say who).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from meva.errors import ApplicationError
from trading.domain.gate import LIVE_TRADING_ACK_PHRASE
from trading.models import TradingControl
from trading.services.audit import actor_for_user, audit_record

logger = logging.getLogger(__name__)


def _control_locked() -> TradingControl:
    TradingControl.load()  # make sure the row exists before locking it
    return TradingControl.objects.select_for_update().get(pk=TradingControl.SINGLETON_PK)


def _require_user(user: object) -> None:
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError("a trading control change must be made by a saved user")


def _snapshot(control: TradingControl, switch: str) -> dict[str, object]:
    by = getattr(control, f"{switch}_by")
    return {
        switch: getattr(control, switch),
        f"{switch}_by": by.get_username() if by is not None else None,
        f"{switch}_at": getattr(control, f"{switch}_at"),
    }


def _set_switch(
    *, user: object, reason: str, switch: str, value: bool, action: str
) -> TradingControl:
    """Set ``switch`` (``armed`` or ``kill_switch``) to ``value``, with its who/when and audit."""
    _require_user(user)
    control = _control_locked()
    before = _snapshot(control, switch)
    setattr(control, switch, value)
    setattr(control, f"{switch}_by", user)
    setattr(control, f"{switch}_at", timezone.now())
    control.reason = reason
    control.save(update_fields=[switch, f"{switch}_by", f"{switch}_at", "reason"])
    audit_record(
        actor=actor_for_user(user),
        user=user,
        action=action,
        object_type="trading_control",
        object_id=str(control.pk),
        before=before,
        after=_snapshot(control, switch),
        reason=reason,
    )
    logger.warning("trading control: %s", action, extra={"user": str(user), "reason": reason})
    return control


@transaction.atomic
def control_arm(*, user: object, reason: str, acknowledgement: str) -> TradingControl:
    """Set the arm flag (one of the gate's conditions); records ``user``, now (UTC), ``reason``.

    ``acknowledgement`` must be exactly ``trading.domain.gate.LIVE_TRADING_ACK_PHRASE``
    (``I_UNDERSTAND``), typed by the operator: arming allows live orders when the environment
    allows them too. Raises :class:`ApplicationError` otherwise (nothing is written).
    """
    if acknowledgement != LIVE_TRADING_ACK_PHRASE:
        raise ApplicationError(
            f"acknowledgement: type exactly {LIVE_TRADING_ACK_PHRASE} to arm live trading"
        )
    return _set_switch(user=user, reason=reason, switch="armed", value=True, action="control.arm")


@transaction.atomic
def control_disarm(*, user: object, reason: str) -> TradingControl:
    """Clear the arm flag, blocking live side effects; records ``user``, now (UTC), ``reason``."""
    return _set_switch(
        user=user, reason=reason, switch="armed", value=False, action="control.disarm"
    )


@transaction.atomic
def kill_switch_engage(*, user: object, reason: str) -> TradingControl:
    """Engage the database kill switch (blocks submits and cancels); records who/when/why."""
    return _set_switch(
        user=user,
        reason=reason,
        switch="kill_switch",
        value=True,
        action="control.kill_switch_engage",
    )


@transaction.atomic
def kill_switch_release(*, user: object, reason: str) -> TradingControl:
    """Release the database kill switch; records who/when/why. Does not arm trading."""
    return _set_switch(
        user=user,
        reason=reason,
        switch="kill_switch",
        value=False,
        action="control.kill_switch_release",
    )
