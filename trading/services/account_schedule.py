"""An account's Celery beat entries: django-celery-beat ``PeriodicTask`` rows per account.

An enabled account has three entries, each calling a task with ``kwargs={"account": name}``:

=================================  ==========================  ==============================
entry name                         task                        every (account field, seconds)
=================================  ==========================  ==============================
``account:<name>:cycle_run``         ``trading.cycle_run``         ``cycle_interval_s``
``account:<name>:orders_reconcile``  ``trading.orders_reconcile``  ``reconcile_interval_s``
``account:<name>:balances_check``    ``trading.balances_check``    ``balances_check_interval_s``
=================================  ==========================  ==============================

A disabled account has none. Beat (``DatabaseScheduler``) picks changes up by itself.
"""

from __future__ import annotations

import json
from collections.abc import Collection

from django_celery_beat.models import IntervalSchedule, PeriodicTask

from trading.models import Account

ACCOUNT_TASKS: tuple[tuple[str, str, str], ...] = (
    ("cycle_run", "trading.cycle_run", "cycle_interval_s"),
    ("orders_reconcile", "trading.orders_reconcile", "reconcile_interval_s"),
    ("balances_check", "trading.balances_check", "balances_check_interval_s"),
)
"""(entry suffix, Celery task name, the account's interval field)."""

SCHEDULE_FIELDS = frozenset(field for _, _, field in ACCOUNT_TASKS)


def periodic_task_name(account_name: str, suffix: str) -> str:
    """``account:<name>:<suffix>``, e.g. ``account:demo:cycle_run``."""
    return f"account:{account_name}:{suffix}"


def account_periodic_tasks(account: Account) -> list[PeriodicTask]:
    """The account's beat entries that exist, in :data:`ACCOUNT_TASKS` order."""
    names = [periodic_task_name(account.name, suffix) for suffix, _, _ in ACCOUNT_TASKS]
    found = {task.name: task for task in PeriodicTask.objects.filter(name__in=names)}
    return [found[name] for name in names if name in found]


def account_schedule_sync(account: Account, *, changed: Collection[str] = ()) -> list[PeriodicTask]:
    """Make the account's beat entries match it; returns the entries that now exist.

    Disabled account: its entries are deleted. Enabled account: missing entries are created
    (interval from the account's field) and existing ones get the task name, the kwargs and
    ``enabled=True`` back.

    Schedules edited in the admin are kept: an operator may change an entry's interval (or
    give it a crontab) in django-celery-beat's admin, and a later sync leaves that schedule
    alone unless the account's own interval field for that entry is in ``changed`` (the
    fields this change to the account modified): then the account's new value wins. So the
    account's interval field is the value an entry starts with and the value an explicit
    account change sets; an admin edit lasts until then, or until the account is disabled
    (which deletes the entries). Rows are saved only when something differs, so beat is not
    told to reload for nothing.

    Call it inside the transaction that changed the account (the account services do).
    """
    entries = []
    for suffix, task_name, field in ACCOUNT_TASKS:
        name = periodic_task_name(account.name, suffix)
        entry = PeriodicTask.objects.select_for_update().filter(name=name).first()
        if not account.enabled:
            if entry is not None:
                entry.delete()  # PeriodicTask.delete() tells beat to reload
            continue
        every = getattr(account, field)
        if entry is None:
            entry = PeriodicTask(name=name, interval=_interval(every))
            _entry_fill(entry, account, task_name)
            entry.save()
        else:
            dirty = _entry_fill(entry, account, task_name)
            if field in changed or entry.scheduler is None:
                dirty |= _entry_interval_set(entry, every)
            if dirty:
                entry.save()
        entries.append(entry)
    return entries


def _entry_fill(entry: PeriodicTask, account: Account, task_name: str) -> bool:
    """Set the fields the account owns; True if one changed."""
    wanted = {
        "task": task_name,
        "kwargs": json.dumps({"account": account.name}),
        "args": "[]",
        "enabled": True,
        "one_off": False,
        "description": (
            f"Account {account.name}: created when the account is enabled, deleted when it is "
            "disabled (trading.services.accounts). An interval edited here is kept until the "
            "account's own interval field changes."
        ),
    }
    dirty = False
    for attr, value in wanted.items():
        if getattr(entry, attr) != value:
            setattr(entry, attr, value)
            dirty = True
    return dirty


def _entry_interval_set(entry: PeriodicTask, every: int) -> bool:
    """Give ``entry`` the schedule "every ``every`` seconds"; True if that changed it."""
    current = entry.interval
    if (
        current is not None
        and (current.every, current.period) == (every, IntervalSchedule.SECONDS)
        and entry.crontab_id is None
        and entry.solar_id is None
        and entry.clocked_id is None
    ):
        return False
    entry.interval = _interval(every)
    entry.crontab = entry.solar = entry.clocked = None
    return True


def _interval(every: int) -> IntervalSchedule:
    schedule = (
        IntervalSchedule.objects.filter(every=every, period=IntervalSchedule.SECONDS)
        .order_by("id")
        .first()
    )
    return schedule or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)
