"""The audit trail: one append-only :class:`~trading.models.AuditEvent` per change or side effect.

Actors are strings: ``user:<username>`` (:func:`actor_for_user`), ``task:<celery task name>``
(:func:`actor_for_task`), ``command:<management command>`` (:func:`actor_for_command`) or
:data:`ACTOR_SYSTEM`. DESIGN.md section 8a: every operator action, side effect, blocked submit
and reconciliation resolution writes one event, in the same transaction as the change.
"""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from trading.models import AuditEvent

ACTOR_SYSTEM = "system"
ACTOR_TASK_PREFIX = "task:"
ACTOR_COMMAND_PREFIX = "command:"
ACTOR_USER_PREFIX = "user:"


def actor_for_user(user: object) -> str:
    """``user:<username>`` for a Django user (``get_username()``, so custom user models work)."""
    return f"{ACTOR_USER_PREFIX}{user.get_username()}"  # type: ignore[attr-defined]


def actor_for_task(name: str) -> str:
    """``task:<name>`` for a Celery task, e.g. ``actor_for_task("trading.cycle_run")``."""
    return f"{ACTOR_TASK_PREFIX}{name}"


def actor_for_command(name: str) -> str:
    """``command:<name>`` for a management command, e.g. ``command:create_account``."""
    return f"{ACTOR_COMMAND_PREFIX}{name}"


def json_safe(value: object) -> object:
    """``value`` with every leaf JSON can hold: Decimals as strings (exact, never floats),
    datetimes/dates/times as ISO-8601 strings, timedeltas as seconds (string), enums as their
    value, UUIDs as strings, tuples/sets/frozensets as lists (sets sorted), mapping keys as
    strings, saved model instances as their primary key. Other objects become ``str(value)``.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # JSON has no NaN or infinity
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(Decimal(str(value.total_seconds())))
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((json_safe(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        return json_safe(value.pk)
    return str(value)


def audit_record(
    *,
    actor: str,
    action: str,
    account: str = "",
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    user: object = None,
) -> AuditEvent:
    """Write one audit event and return it.

    ``actor`` who (see the module docstring; ``user`` is the Django user behind a
    ``user:`` actor, or ``None``); ``action`` a dotted verb (``account.update``,
    ``control.arm``, ``alert.raise`` ...); ``account`` the account name or ``""`` for global
    changes; ``object_type``/``object_id`` the row concerned; ``before``/``after`` snapshots of
    what changed, made JSON-safe with :func:`json_safe`; ``reason`` the typed or computed why.
    ``created_at`` is now (UTC).

    Transactions: this function opens no transaction and no savepoint of its own. Call it
    inside the caller's ``transaction.atomic`` block that makes the change, so the change and
    its event commit or roll back together. Outside any transaction (autocommit) it is a
    single INSERT, which suits events with no other change (e.g. a blocked submit).

    Raises ``ValueError`` when ``actor`` or ``action`` is empty.
    """
    if not actor or not action:
        raise ValueError("an audit event needs an actor and an action")
    return AuditEvent.objects.create(
        actor=actor,
        user=user if getattr(user, "pk", None) else None,
        action=action,
        account=account,
        object_type=object_type,
        object_id=str(object_id),
        before=json_safe(before) if before is not None else None,
        after=json_safe(after) if after is not None else None,
        reason=reason,
    )
