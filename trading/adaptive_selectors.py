"""Reads of an account's governed universe and parameter versions (issue 11), for the console
and the API. Nothing here writes.

Times are aware UTC datetimes (cooldown ends come from epoch ms); parameters are decimal
strings as stored; a version's ``diff`` lists the fields that differ from its parent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from trading.models import Account, ParamSet

VERSIONS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class Cooldown:
    symbol: str
    until: dt.datetime


@dataclass(frozen=True, slots=True)
class UniverseView:
    """The governed universe as the last cycle left it. ``enabled`` governance is on;
    ``symbols`` the governed set; ``outcome`` the last governance outcome (``SEEDED``,
    ``UPDATED``, ``UNCHANGED``, ``KEPT_*``; ``""`` before the first cycle); cooldowns by end
    time; ``probation`` a newcomer's qualifying cycles; ``changes_today`` of
    ``max_changes_per_day`` on trading ``day``; ``settings`` the account's ``universe``."""

    enabled: bool
    symbols: list[str]
    outcome: str
    removal_cooldowns: list[Cooldown]
    reject_cooldowns: list[Cooldown]
    probation: dict[str, int]
    day: str | None
    changes_today: int
    max_changes_per_day: int
    size: int
    settings: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldDiff:
    name: str
    before: str | None
    after: str | None


@dataclass(frozen=True, slots=True)
class VersionView:
    """One parameter version with its ``diff`` from its parent (empty for the first) and
    whether it is ``active``."""

    row: ParamSet
    parent_version: int | None
    diff: list[FieldDiff]
    active: bool


def universe_view(account: Account) -> UniverseView:
    """The account's universe state and settings (module docstring)."""
    state = account.universe_state or {}
    settings = account.universe or {}
    return UniverseView(
        enabled=bool(settings.get("enabled")),
        symbols=list(state.get("symbols", [])),
        outcome=str(state.get("outcome", "")),
        removal_cooldowns=_cooldowns(state.get("removal_cooldowns")),
        reject_cooldowns=_cooldowns(state.get("reject_cooldowns")),
        probation={str(k): int(v) for k, v in dict(state.get("probation") or {}).items()},
        day=state.get("day"),
        changes_today=int(state.get("changes_today", 0)),
        max_changes_per_day=int(settings.get("max_changes_per_day", 4)),
        size=int(settings.get("size", 10)),
        settings=settings,
    )


def _cooldowns(data: object) -> list[Cooldown]:
    return [
        Cooldown(str(symbol), dt.datetime.fromtimestamp(int(ms) / 1000, tz=dt.UTC))
        for symbol, ms in sorted(dict(data or {}).items())
    ]


def param_versions(account: Account, *, limit: int = VERSIONS_SHOWN) -> list[VersionView]:
    """The account's parameter versions, newest first (at most ``limit``), each with its diff
    from its parent and whether it is the active one."""
    rows = list(
        ParamSet.objects.filter(account=account)
        .select_related("parent")
        .order_by("-version")[:limit]
    )
    active = account.active_param_set_id
    return [
        VersionView(
            row=row,
            parent_version=None if row.parent is None else row.parent.version,
            diff=[] if row.parent is None else _diff(row.parent.params, row.params),
            active=row.pk == active,
        )
        for row in rows
    ]


def _diff(before: dict, after: dict) -> list[FieldDiff]:
    return [
        FieldDiff(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
