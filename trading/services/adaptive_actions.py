"""Operator actions on an account's adaptive parameters (issue 11): roll back to a chosen good
version, pin a version, unpin.

Each runs under the account's cycle lock (``cycle_run:{account}``: a running cycle, which
read the state in its snapshot and writes it in its record, never interleaves with it; a held
lock raises :class:`~trading.services.operator_actions.OperatorActionBusy`), locks the account
row, changes the carried ``adaptation_state`` through the pure
:func:`~trading.domain.adaptation.adaptation_activate`, mirrors it into ``ParamSet`` rows and
writes one ``AuditEvent`` naming the user and the typed reason, in one transaction.

=================  ==================  ===============================================
service            audit action        effect
=================  ==================  ===============================================
params_rollback    params.rollback     the chosen good version is active again, exactly as
                   (MANUAL_ROLLBACK)   it was; a pending active version is marked bad
params_pin         params.pin          the version (not bad) is active and stays: cycles
                   (PINNED)            neither propose nor roll back until unpinned
params_unpin       params.unpin        adaptation resumes from the active version
=================  ==================  ===============================================
"""

from __future__ import annotations

from dataclasses import replace

from django.db import transaction

from meva.errors import ApplicationError
from meva.locks import single_flight
from trading.domain.adaptation import (
    AdaptationState,
    adaptation_activate,
    adaptation_state_from_json,
)
from trading.models import Account, ParamSet
from trading.selectors import account_get
from trading.services.adaptive import adaptation_persist, stored_state_parse
from trading.services.audit import actor_for_user, audit_record
from trading.services.operator_actions import LOCK, OperatorActionBusy


class ParamsActionError(ApplicationError):
    """The version cannot be chosen (unknown, bad, adaptation never started) or no reason."""


def params_rollback(*, account_name: str, version: int, user: object, reason: str) -> ParamSet:
    """Make good ``version`` of ``account_name`` active again (module docstring); returns its
    row. Raises :class:`ParamsActionError` or ``OperatorActionBusy``."""
    return _activate(account_name, version, user, reason, "MANUAL_ROLLBACK", pin=None)


def params_pin(*, account_name: str, version: int, user: object, reason: str) -> ParamSet:
    """Make ``version`` active and pin it (module docstring); returns its row."""
    return _activate(account_name, version, user, reason, "PINNED", pin=True)


def params_unpin(*, account_name: str, user: object, reason: str) -> Account:
    """Let adaptation resume from the active version; audited ``params.unpin``."""
    _reason_check(reason)
    account = account_get(name=account_name)
    with single_flight(LOCK, account=account.name) as lease:
        if not lease:
            raise OperatorActionBusy(f"account {account.name}: a cycle is running; try again")
        with transaction.atomic():
            locked = Account.objects.select_for_update().get(pk=account.pk)
            if locked.params_pinned:
                Account.objects.filter(pk=locked.pk).update(params_pinned=False)
                locked.params_pinned = False
                audit_record(
                    actor=actor_for_user(user),
                    user=user,
                    action="params.unpin",
                    account=locked.name,
                    object_type="account",
                    object_id=str(locked.pk),
                    before={"params_pinned": True},
                    after={"params_pinned": False},
                    reason=reason,
                )
            return locked


def _activate(
    account_name: str, version: int, user: object, reason: str, code: str, pin: bool | None
) -> ParamSet:
    _reason_check(reason)
    account = account_get(name=account_name)
    with single_flight(LOCK, account=account.name) as lease:
        if not lease:
            raise OperatorActionBusy(f"account {account.name}: a cycle is running; try again")
        with transaction.atomic():
            locked = Account.objects.select_for_update().get(pk=account.pk)
            state = _state(locked)
            try:
                step = adaptation_activate(
                    state, version, ts_ms=locked.last_cycle_ms or 0, reason=code
                )
            except KeyError:
                raise ParamsActionError(
                    f"{locked.name} has no parameter version {version}"
                ) from None
            except ValueError as exc:
                raise ParamsActionError(str(exc)) from None
            if pin is None and state.version(version).status.value != "good":
                raise ParamsActionError(f"version {version} is not good: roll back to a good one")
            events = step.events
            if pin:
                events = tuple(replace(e, action="params.pin") for e in events)
            updates = adaptation_persist(
                account=locked,
                state=step.state,
                events=events,
                actor=actor_for_user(user),
                user=user,
                typed_reason=reason,
            )
            if pin is not None:
                updates["params_pinned"] = pin
            Account.objects.filter(pk=locked.pk).update(**updates)
            return updates["active_param_set"]


def _state(account: Account) -> AdaptationState:
    state = stored_state_parse(
        adaptation_state_from_json, account.adaptation_state, "adaptation_state"
    )
    if state is None:
        raise ParamsActionError(f"{account.name} has no parameter versions yet")
    return state


def _reason_check(reason: str) -> None:
    if not reason or not reason.strip():
        raise ParamsActionError("say why (the reason is kept in the audit trail)")
