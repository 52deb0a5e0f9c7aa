"""The operator's switches: arm/disarm trading and engage/release the database kill switch.

Each service locks the single :class:`~trading.models.TradingControl` row, changes one switch,
records who and when (UTC) and why, logs the change at WARNING, and returns the row.
Raises :class:`~meva.errors.ApplicationError` when no user is given (every change must say who).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from meva.errors import ApplicationError
from trading.models import TradingControl

logger = logging.getLogger(__name__)


def _control_locked() -> TradingControl:
    TradingControl.load()  # make sure the row exists before locking it
    return TradingControl.objects.select_for_update().get(pk=TradingControl.SINGLETON_PK)


def _require_user(user: object) -> None:
    if user is None or not getattr(user, "pk", None):
        raise ApplicationError("a trading control change must be made by a saved user")


def _set_armed(*, user: object, reason: str, armed: bool) -> TradingControl:
    _require_user(user)
    control = _control_locked()
    control.armed = armed
    control.armed_by = user
    control.armed_at = timezone.now()
    control.reason = reason
    control.save(update_fields=["armed", "armed_by", "armed_at", "reason"])
    logger.warning(
        "trading %s", "armed" if armed else "disarmed", extra={"user": str(user), "reason": reason}
    )
    return control


def _set_kill_switch(*, user: object, reason: str, engaged: bool) -> TradingControl:
    _require_user(user)
    control = _control_locked()
    control.kill_switch = engaged
    control.kill_switch_by = user
    control.kill_switch_at = timezone.now()
    control.reason = reason
    control.save(update_fields=["kill_switch", "kill_switch_by", "kill_switch_at", "reason"])
    logger.warning(
        "database kill switch %s",
        "engaged" if engaged else "released",
        extra={"user": str(user), "reason": reason},
    )
    return control


@transaction.atomic
def control_arm(*, user: object, reason: str) -> TradingControl:
    """Set the arm flag (one of the gate's conditions); records ``user``, now (UTC), ``reason``."""
    return _set_armed(user=user, reason=reason, armed=True)


@transaction.atomic
def control_disarm(*, user: object, reason: str) -> TradingControl:
    """Clear the arm flag, blocking live side effects; records ``user``, now (UTC), ``reason``."""
    return _set_armed(user=user, reason=reason, armed=False)


@transaction.atomic
def kill_switch_engage(*, user: object, reason: str) -> TradingControl:
    """Engage the database kill switch (blocks submits and cancels); records who/when/why."""
    return _set_kill_switch(user=user, reason=reason, engaged=True)


@transaction.atomic
def kill_switch_release(*, user: object, reason: str) -> TradingControl:
    """Release the database kill switch; records who/when/why. Does not arm trading."""
    return _set_kill_switch(user=user, reason=reason, engaged=False)
