"""Accounts: create, change, enable/disable, stop entries (DESIGN.md section 8a).

Every service validates with :func:`~trading.services.account_config.account_config_clean`,
locks the account row, writes an ``AuditEvent`` (``account.create``, ``account.update``,
``account.enable``, ``account.disable``, ``account.stop_entries``) with the changed fields
before and after, and keeps the account's Celery beat entries in step
(:func:`~trading.services.account_schedule.account_schedule_sync`), all in one transaction:
a failing step leaves neither the change, nor its audit event, nor a schedule change.
Rule violations raise :class:`~trading.services.account_config.AccountConfigError` (an
``ApplicationError``) naming the field.

Live accounts: ``api_key_id`` is the first 16 hex characters of sha256(``BTCTURK_API_KEY``),
set when the account is created or enabled; enabling needs the key, and at most one enabled
live account may use a key (checked first; the partial unique constraint
``uniq_enabled_live_account_per_key`` is the backstop for concurrent enables).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction

from trading.models import Account, AccountMode, PaperVenue
from trading.services.account_config import (
    CONFIG_FIELDS,
    AccountConfigError,
    account_config_clean,
)
from trading.services.account_schedule import account_schedule_sync
from trading.services.audit import audit_record

__all__ = [
    "account_create",
    "account_disable",
    "account_enable",
    "account_enable_check",
    "account_schedule_sync",
    "account_stop_entries_set",
    "account_update",
    "api_key_id_from_settings",
]

IMMUTABLE_FIELDS = frozenset({"name", "mode"})
UPDATABLE_FIELDS = frozenset(CONFIG_FIELDS) - IMMUTABLE_FIELDS


def api_key_id_from_settings() -> str:
    """First 16 hex characters of sha256(``BTCTURK_API_KEY``), or ``""`` without a key."""
    key = settings.BTCTURK_API_KEY
    return hashlib.sha256(key.encode()).hexdigest()[:16] if key else ""


@transaction.atomic
def account_create(
    *,
    name: str,
    mode: str,
    strategy: str,
    params: Mapping[str, object] | None = None,
    risk: Mapping[str, object] | None = None,
    symbols: Sequence[str],
    balances: Mapping[str, object] | None = None,
    bar_interval_s: int = 60,
    cycle_interval_s: int = 60,
    enable: bool = False,
    actor: str,
    user: object = None,
    fee_maker_bps: Decimal | str | None = None,
    fee_taker_bps: Decimal | str | None = None,
    fill_model: str = "bar",
    reconcile_interval_s: int = 300,
    balances_check_interval_s: int = 300,
    universe: Mapping[str, object] | None = None,
    adaptation: Mapping[str, object] | None = None,
) -> Account:
    """Create an account (enabled if ``enable``) and, if enabled, its beat entries.

    Arguments as in :func:`account_config_clean` (``balances`` is ``initial_balances``:
    ``{"TRY": "10000"}``, paper only; fees in basis points, ``None`` = settings defaults;
    intervals in seconds; ``universe``/``adaptation`` issue 11 settings, off by default).
    ``actor``/``user`` say who (``trading.services.audit``).
    Returns the saved account. Raises :class:`AccountConfigError` naming the field for any
    invalid value, an existing name, or an ``enable`` the live-account rules refuse.
    """
    config = account_config_clean(
        {
            "name": name,
            "mode": mode,
            "strategy": strategy,
            "params": params,
            "risk": risk,
            "symbols": list(symbols) if not isinstance(symbols, str) else symbols,
            "initial_balances": balances or {},
            "bar_interval_s": bar_interval_s,
            "cycle_interval_s": cycle_interval_s,
            "reconcile_interval_s": reconcile_interval_s,
            "balances_check_interval_s": balances_check_interval_s,
            "fee_maker_bps": fee_maker_bps,
            "fee_taker_bps": fee_taker_bps,
            "fill_model": fill_model,
            "universe": universe,
            "adaptation": adaptation,
        }
    )
    if Account.objects.filter(name=config["name"]).exists():
        raise AccountConfigError("name", f"an account named {config['name']!r} already exists")
    account = Account(**config)
    if account.is_live:
        account.api_key_id = api_key_id_from_settings()
    if enable:
        account_enable_check(mode=account.mode)
        account.enabled = True
    _save(account)
    after = _snapshot(account, (*CONFIG_FIELDS, "enabled", "api_key_id"))
    _audit(account, "account.create", None, after, actor, user, "")
    account_schedule_sync(account)
    return account


@transaction.atomic
def account_update(
    *,
    account: Account,
    changes: Mapping[str, object],
    actor: str,
    user: object = None,
    reason: str = "",
) -> Account:
    """Change configuration fields of ``account``; returns the updated row (a fresh instance).

    ``changes`` maps model field names (any of :data:`UPDATABLE_FIELDS`) to new values,
    validated with the rest of the configuration. ``name`` and ``mode`` are immutable
    (orders, fills and audit events refer to the name; a paper history must not become a
    live one): naming them with a different value raises. Changing ``strategy`` without
    ``params`` resets the params to the new strategy's defaults. ``initial_balances`` only
    seed a paper venue: once the venue exists they cannot change. Use :func:`account_enable`,
    :func:`account_disable` and :func:`account_stop_entries_set` for those switches.
    Unchanged values write nothing (no audit event). Beat entries follow changed intervals
    (see :func:`account_schedule_sync`). Raises :class:`AccountConfigError` naming the field.
    """
    locked = _locked(account)
    _changes_check(locked, changes)
    current = {field: getattr(locked, field) for field in CONFIG_FIELDS}
    merged = {**current, **changes}
    if "strategy" in changes and changes["strategy"] != locked.strategy and "params" not in changes:
        merged["params"] = {}
    config = account_config_clean(merged)
    changed = [field for field in CONFIG_FIELDS if config[field] != current[field]]
    if not changed:
        return locked
    if "initial_balances" in changed and PaperVenue.objects.filter(account=locked.name).exists():
        raise AccountConfigError(
            "initial_balances", "the paper venue already exists; its balances are its own now"
        )
    before = _snapshot(locked, changed)
    for field in changed:
        setattr(locked, field, config[field])
    _save(locked, update_fields=[*changed, "updated_at"])
    _audit(locked, "account.update", before, _snapshot(locked, changed), actor, user, reason)
    account_schedule_sync(locked, changed=changed)
    return locked


@transaction.atomic
def account_enable(*, account: Account, actor: str, user: object = None, reason: str) -> Account:
    """Enable ``account`` and create (or repair) its beat entries; returns the fresh row.

    The stored configuration is validated again; a live account needs ``BTCTURK_API_KEY``
    (its ``api_key_id`` is refreshed from it) and no other enabled live account on that key.
    Already enabled: only the beat entries are repaired, no audit event. Raises
    :class:`AccountConfigError` naming the field.
    """
    _reason_check(reason)
    locked = _locked(account)
    account_config_clean({field: getattr(locked, field) for field in CONFIG_FIELDS})
    if not locked.enabled:
        before = _snapshot(locked, ("enabled", "api_key_id"))
        account_enable_check(mode=locked.mode, exclude_pk=locked.pk)
        if locked.is_live:
            locked.api_key_id = api_key_id_from_settings()
        locked.enabled = True
        _save(locked, update_fields=["enabled", "api_key_id", "updated_at"])
        after = _snapshot(locked, ("enabled", "api_key_id"))
        _audit(locked, "account.enable", before, after, actor, user, reason)
    account_schedule_sync(locked)
    return locked


@transaction.atomic
def account_disable(*, account: Account, actor: str, user: object = None, reason: str) -> Account:
    """Disable ``account`` and delete its beat entries; returns the fresh row.

    Orders already resting at the venue are left alone (cancel them first if needed).
    Already disabled: nothing is audited, stray beat entries are still deleted.
    """
    _reason_check(reason)
    locked = _locked(account)
    if locked.enabled:
        locked.enabled = False
        _save(locked, update_fields=["enabled", "updated_at"])
        _audit(
            locked, "account.disable", {"enabled": True}, {"enabled": False}, actor, user, reason
        )
    account_schedule_sync(locked)
    return locked


@transaction.atomic
def account_stop_entries_set(
    *, account: Account, stop: bool, actor: str, user: object = None, reason: str
) -> Account:
    """Set ``stop_entries``: when true the account places only exposure-reducing orders and
    cancels. Audited as ``account.stop_entries`` when the value changes; returns the fresh row.
    """
    _reason_check(reason)
    locked = _locked(account)
    if locked.stop_entries != stop:
        before = {"stop_entries": locked.stop_entries}
        locked.stop_entries = stop
        _save(locked, update_fields=["stop_entries", "updated_at"])
        after = {"stop_entries": stop}
        _audit(locked, "account.stop_entries", before, after, actor, user, reason)
    return locked


def _locked(account: Account) -> Account:
    return Account.objects.select_for_update().get(pk=account.pk)


def _reason_check(reason: str) -> None:
    if not reason or not reason.strip():
        raise AccountConfigError("reason", "say why the account is changed")


def _changes_check(account: Account, changes: Mapping[str, object]) -> None:
    for field in ("enabled", "stop_entries"):
        if field in changes:
            raise AccountConfigError(
                field, "change it with account_enable/account_disable/account_stop_entries_set"
            )
    unknown = sorted(set(changes) - set(CONFIG_FIELDS))
    if unknown:
        raise AccountConfigError(unknown[0], f"is not an account setting ({', '.join(unknown)})")
    for field in sorted(IMMUTABLE_FIELDS.intersection(changes)):
        if changes[field] != getattr(account, field):
            raise AccountConfigError(field, "is immutable; create a new account instead")


def account_enable_check(*, mode: str, exclude_pk: int | None = None) -> None:
    """Raise :class:`AccountConfigError` (field ``enabled``) if an account of ``mode`` may not
    be enabled now: a live account needs ``BTCTURK_API_KEY``, and no other enabled live
    account (``exclude_pk`` is the account itself) may use that key. Paper accounts pass.
    Shared by the services and the admin form (which shows the error on the form).
    """
    if mode != AccountMode.LIVE:
        return
    key_id = api_key_id_from_settings()
    if not key_id:
        raise AccountConfigError(
            "enabled", "a live account cannot be enabled without BTCTURK_API_KEY"
        )
    holder = (
        Account.objects.filter(mode=AccountMode.LIVE, enabled=True, api_key_id=key_id)
        .exclude(pk=exclude_pk)
        .values_list("name", flat=True)
        .first()
    )
    if holder is not None:
        raise AccountConfigError("enabled", _key_in_use(holder))


def _key_in_use(holder: str) -> str:
    return (
        f"live account {holder!r} is already enabled on this API key; "
        "one enabled live account per key (disable it first)"
    )


def _save(account: Account, update_fields: list[str] | None = None) -> None:
    """Save in a savepoint and turn the unique constraints' IntegrityError into field errors."""
    try:
        with transaction.atomic():
            account.save(update_fields=update_fields)
    except IntegrityError as exc:
        text = str(exc)
        if "uniq_enabled_live_account_per_key" in text or "api_key_id" in text:
            raise AccountConfigError("enabled", _key_in_use("another account")) from None
        if "trading_account_name" in text or "trading_account.name" in text:
            raise AccountConfigError(
                "name", f"an account named {account.name!r} already exists"
            ) from None
        raise


def _snapshot(account: Account, fields: Sequence[str]) -> dict[str, object]:
    return {field: getattr(account, field) for field in fields}


def _audit(
    account: Account,
    action: str,
    before: dict | None,
    after: dict,
    actor: str,
    user: object,
    reason: str,
) -> None:
    audit_record(
        actor=actor,
        user=user,
        action=action,
        account=account.name,
        object_type="account",
        object_id=str(account.pk),
        before=before,
        after=after,
        reason=reason,
    )
