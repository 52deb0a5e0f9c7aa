"""Bounded parameter adaptation with versions and rollback (issue 11, part 2).

Off by default (:attr:`AdaptationPolicy.enabled`). Pure and deterministic: the caller passes
each cycle's :class:`CycleOutcome` (with its time) and persists the returned
:class:`AdaptationState`; every change, confirmation and rollback comes back as an
:class:`AdaptationEvent` with a reason code, for an ``AuditEvent``.

**Bounds.** Every adaptable field is declared with bounds
(:mod:`trading.domain.adaptation_bounds`); every proposal, the first parameters included, goes
through :func:`~trading.domain.adaptation_bounds.params_clamp` and is never applied raw.

**Versions.** A :class:`ParamVersion` is numbered from 1, names its parent and is ``good``,
``bad`` or ``pending``. Version 1 (:func:`adaptation_start`) is the configured parameters and
is ``good``. A change creates a ``pending`` child of the active version; a pending version that
completes a full window (``window_cycles`` outcomes) without a rollback trigger becomes
``good`` (``HEALTHY_WINDOW_CONFIRMED``). Only then may the next change be proposed, so each
version is watched for a whole window, and the window holds only outcomes of the active
version (it restarts on every change and rollback).

**Rollback triggers** over the window: ``DRAWDOWN_BREACH`` (a drawdown at or above
``max_drawdown_pct``), ``REJECT_SPIKE`` (at least ``reject_spike_count`` rejects in all),
``REPEATED_THROTTLING`` (throttled in each of the last ``throttle_cycles``),
``REPEATED_LOSSES`` (a loss above ``loss_threshold`` in each of the last ``loss_cycles``).
A trigger on a ``pending`` version marks it ``bad`` and makes the last ``good`` version active
again, exactly as it was. A ``good`` version is not rolled back: it proved itself over a
window, and drawdown persists across versions, so blaming it would roll every good version
back one cycle after another; the trigger stops proposals instead (risk modes handle the
market).

**Proposals** (at most ``max_fields_per_change`` fields, only with a full window, the latest
cycle ``NORMAL`` and no trigger), from the latest outcome: ``THROTTLED_FEWER_ORDERS``
(``max_orders_per_cycle`` - 1), ``REJECTS_SMALLER_OFFSET`` (``order_offset_bps`` -
``offset_step_bps``), ``NEAR_DRAWDOWN_LOWER_TURNOVER`` (``turnover_cap`` x ``turnover_down``
when the drawdown reaches ``near_drawdown_share`` of the limit); otherwise, when every cycle of
the window was NORMAL, unthrottled, without rejects or losses and far from the drawdown
limit, ``HEALTHY_WINDOW_EXPAND`` (``universe_size`` + 1, ``turnover_cap`` x ``turnover_up``).
Proposed values are clamped; fields the parameters do not carry, or that the clamp leaves
unchanged, are skipped before the first ``max_fields_per_change`` are taken; a proposal equal
to a ``bad`` version's parameters is dropped (``KNOWN_BAD``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from trading.domain.adaptation_bounds import FieldBound, Params, params_clamp
from trading.domain.risk import Mode


class VersionStatus(StrEnum):
    PENDING = "pending"
    GOOD = "good"
    BAD = "bad"


@dataclass(frozen=True, slots=True)
class ParamVersion:
    """One parameter set: ``number`` from 1, ``parent`` the version it was derived from
    (``None`` for the first), ``created_ms`` epoch ms UTC, ``reason`` a reason code."""

    number: int
    params: Params
    parent: int | None
    status: VersionStatus
    created_ms: int
    reason: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """What one cycle did, as adaptation judges it: ``mode`` the risk mode it ran in,
    ``drawdown_pct`` a fraction below the equity peak (0.1 = 10 %), ``pnl`` the cycle's net
    PnL in quote currency (fees included), ``rejects`` orders rejected, ``throttled`` whether
    it was rate limited or hit its order cap; ``ts_ms`` the cycle time (epoch ms UTC)."""

    ts_ms: int
    mode: Mode
    drawdown_pct: Decimal
    pnl: Decimal
    rejects: int = 0
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class AdaptationPolicy:
    """Per-account (or per-backtest) settings; fractions of equity, bps, quote currency.
    Raises ``ValueError`` when the window is shorter than the throttle or loss run it must
    hold, or ``max_fields_per_change`` is below 1."""

    enabled: bool = False
    window_cycles: int = 5
    max_drawdown_pct: Decimal = Decimal("0.10")
    near_drawdown_share: Decimal = Decimal("0.8")
    reject_spike_count: int = 3
    throttle_cycles: int = 3
    loss_cycles: int = 3
    loss_threshold: Decimal = Decimal(0)
    max_fields_per_change: int = 3
    offset_step_bps: Decimal = Decimal(2)
    turnover_down: Decimal = Decimal("0.95")
    turnover_up: Decimal = Decimal("1.05")

    def __post_init__(self) -> None:
        if self.window_cycles < max(1, self.throttle_cycles, self.loss_cycles):
            raise ValueError("window_cycles must be >= 1, throttle_cycles and loss_cycles")
        if self.max_fields_per_change < 1:
            raise ValueError("max_fields_per_change must be >= 1")


@dataclass(frozen=True, slots=True)
class AdaptationState:
    """``versions`` oldest first; ``active`` the number of the version in force; ``recent``
    the outcomes seen on it, newest last, at most ``window_cycles``."""

    versions: tuple[ParamVersion, ...]
    active: int
    recent: tuple[CycleOutcome, ...] = ()

    @property
    def active_version(self) -> ParamVersion:
        return self.version(self.active)

    def version(self, number: int) -> ParamVersion:
        """Raises ``KeyError`` for an unknown number."""
        for version in self.versions:
            if version.number == number:
                return version
        raise KeyError(number)

    def as_json(self) -> dict[str, object]:
        """JSON-safe form (Decimals as strings, keys sorted) for persistence and fingerprints;
        :func:`adaptation_state_from_json` reads it back."""
        return {
            "active": self.active,
            "versions": [
                {
                    "number": v.number,
                    "params": {name: str(v.params[name]) for name in sorted(v.params)},
                    "parent": v.parent,
                    "status": v.status.value,
                    "created_ms": v.created_ms,
                    "reason": v.reason,
                }
                for v in self.versions
            ],
            "recent": [
                {
                    "ts_ms": o.ts_ms,
                    "mode": o.mode.value,
                    "drawdown_pct": str(o.drawdown_pct),
                    "pnl": str(o.pnl),
                    "rejects": o.rejects,
                    "throttled": o.throttled,
                }
                for o in self.recent
            ],
        }


def adaptation_state_from_json(data: Mapping[str, Any]) -> AdaptationState:
    """The state :meth:`AdaptationState.as_json` wrote. Raises ``KeyError``, ``ValueError``
    or ``TypeError`` on a malformed document, ``ArithmeticError`` on a malformed number."""
    versions = tuple(
        ParamVersion(
            number=int(v["number"]),
            params={name: Decimal(value) for name, value in v["params"].items()},
            parent=None if v["parent"] is None else int(v["parent"]),
            status=VersionStatus(v["status"]),
            created_ms=int(v["created_ms"]),
            reason=str(v["reason"]),
        )
        for v in data["versions"]
    )
    recent = tuple(
        CycleOutcome(
            ts_ms=int(o["ts_ms"]),
            mode=Mode(o["mode"]),
            drawdown_pct=Decimal(o["drawdown_pct"]),
            pnl=Decimal(o["pnl"]),
            rejects=int(o["rejects"]),
            throttled=bool(o["throttled"]),
        )
        for o in data["recent"]
    )
    active = int(data["active"])
    if all(v.number != active for v in versions):
        raise ValueError(f"active version {active} is not among the versions")
    return AdaptationState(versions, active, recent)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a change: values before and after (clamped), the rule's reason code."""

    name: str
    before: Decimal
    after: Decimal
    reason: str
    clamped: bool = False


@dataclass(frozen=True, slots=True)
class AdaptationEvent:
    """For an audit event: ``action`` ``params.change``, ``params.confirm`` or
    ``params.rollback``; ``reason`` its code; versions before and after; ``ts_ms`` the cycle."""

    action: str
    reason: str
    from_version: int
    to_version: int
    ts_ms: int
    changes: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class AdaptationStep:
    """The next state, its events, the rollback triggers seen and ``outcome``: ``DISABLED``,
    ``OBSERVING`` (window not full), ``ROLLED_BACK``, ``UNHEALTHY`` (a trigger on a good
    version), ``CONFIRMED``, ``NOT_NORMAL``, ``STEADY`` (nothing to propose), ``KNOWN_BAD``
    or ``CHANGED``."""

    state: AdaptationState
    outcome: str
    events: tuple[AdaptationEvent, ...] = ()
    triggers: tuple[str, ...] = ()


def adaptation_start(
    params: Mapping[str, Decimal | int], *, bounds: Mapping[str, FieldBound], now_ms: int
) -> AdaptationState:
    """Version 1 (``good``, reason ``INITIAL``) from the configured ``params``, clamped.
    Raises :class:`~trading.domain.adaptation_bounds.ParamBoundsError` as
    :func:`~trading.domain.adaptation_bounds.params_clamp`."""
    first = ParamVersion(
        1, params_clamp(params, bounds).params, None, VersionStatus.GOOD, now_ms, "INITIAL"
    )
    return AdaptationState((first,), 1)


def rollback_triggers(
    recent: tuple[CycleOutcome, ...], policy: AdaptationPolicy
) -> tuple[str, ...]:
    """The rollback reason codes the outcomes ``recent`` (newest last) raise, in order."""
    triggers = []
    if any(o.drawdown_pct >= policy.max_drawdown_pct for o in recent):
        triggers.append("DRAWDOWN_BREACH")
    if sum(o.rejects for o in recent) >= policy.reject_spike_count:
        triggers.append("REJECT_SPIKE")
    if _each_of_last(recent, policy.throttle_cycles, lambda o: o.throttled):
        triggers.append("REPEATED_THROTTLING")
    if _each_of_last(recent, policy.loss_cycles, lambda o: o.pnl < -policy.loss_threshold):
        triggers.append("REPEATED_LOSSES")
    return tuple(triggers)


def adaptation_step(
    state: AdaptationState,
    outcome: CycleOutcome,
    *,
    policy: AdaptationPolicy,
    bounds: Mapping[str, FieldBound],
) -> AdaptationStep:
    """Evaluate after one cycle (module docstring): roll back, confirm, propose or hold.

    Raises :class:`~trading.domain.adaptation_bounds.ParamBoundsError` when a proposed field
    has no bounds.
    """
    if not policy.enabled:
        return AdaptationStep(state, "DISABLED")
    state = replace(state, recent=(*state.recent, outcome)[-policy.window_cycles :])
    triggers = rollback_triggers(state.recent, policy)
    active = state.active_version
    if triggers and active.status is VersionStatus.PENDING:
        return _rolled_back(state, triggers, outcome.ts_ms)
    if triggers:
        return AdaptationStep(state, "UNHEALTHY", triggers=triggers)
    if len(state.recent) < policy.window_cycles:
        return AdaptationStep(state, "OBSERVING")
    events: tuple[AdaptationEvent, ...] = ()
    if active.status is VersionStatus.PENDING:
        state, event = _confirmed(state, outcome.ts_ms)
        events = (event,)
    if outcome.mode is not Mode.NORMAL:
        return AdaptationStep(state, "CONFIRMED" if events else "NOT_NORMAL", events)
    return _proposed(state, events, outcome, policy, bounds)


def _each_of_last(
    recent: tuple[CycleOutcome, ...], n: int, test: Callable[[CycleOutcome], bool]
) -> bool:
    return n > 0 and len(recent) >= n and all(test(o) for o in recent[-n:])


def _with_status(
    state: AdaptationState, number: int, status: VersionStatus
) -> tuple[ParamVersion, ...]:
    return tuple(replace(v, status=status) if v.number == number else v for v in state.versions)


def _rolled_back(state: AdaptationState, triggers: tuple[str, ...], ts_ms: int) -> AdaptationStep:
    good = max(
        (v for v in state.versions if v.status is VersionStatus.GOOD), key=lambda v: v.number
    )
    versions = _with_status(state, state.active, VersionStatus.BAD)
    event = AdaptationEvent("params.rollback", triggers[0], state.active, good.number, ts_ms)
    rolled = AdaptationState(versions, good.number, ())
    return AdaptationStep(rolled, "ROLLED_BACK", (event,), triggers)


def _confirmed(state: AdaptationState, ts_ms: int) -> tuple[AdaptationState, AdaptationEvent]:
    versions = _with_status(state, state.active, VersionStatus.GOOD)
    event = AdaptationEvent(
        "params.confirm", "HEALTHY_WINDOW_CONFIRMED", state.active, state.active, ts_ms
    )
    return replace(state, versions=versions), event


def _proposed(
    state: AdaptationState,
    events: tuple[AdaptationEvent, ...],
    outcome: CycleOutcome,
    policy: AdaptationPolicy,
    bounds: Mapping[str, FieldBound],
) -> AdaptationStep:
    active = state.active_version
    wanted = _proposal(state.recent, active.params, policy)
    result = params_clamp({name: value for name, value, _ in wanted}, bounds)
    changes = tuple(
        FieldChange(name, active.params[name], result.params[name], reason, name in result.clamped)
        for name, _, reason in wanted
        if result.params[name] != active.params[name]
    )[: policy.max_fields_per_change]
    if not changes:
        return AdaptationStep(state, "CONFIRMED" if events else "STEADY", events)
    params = {**active.params, **{change.name: change.after for change in changes}}
    if any(v.params == params for v in state.versions if v.status is VersionStatus.BAD):
        return AdaptationStep(state, "KNOWN_BAD", events)
    number = max(v.number for v in state.versions) + 1
    reason = changes[0].reason
    version = ParamVersion(
        number, params, active.number, VersionStatus.PENDING, outcome.ts_ms, reason
    )
    event = AdaptationEvent("params.change", reason, active.number, number, outcome.ts_ms, changes)
    changed = AdaptationState((*state.versions, version), number, ())
    return AdaptationStep(changed, "CHANGED", (*events, event))


def _proposal(
    recent: tuple[CycleOutcome, ...], params: Params, policy: AdaptationPolicy
) -> list[tuple[str, Decimal, str]]:
    """(field, proposed value, reason) in priority order, for fields ``params`` carries."""
    latest = recent[-1]
    near = policy.max_drawdown_pct * policy.near_drawdown_share
    wanted: list[tuple[str, Decimal, str]] = []

    def want(name: str, change: Callable[[Decimal], Decimal], reason: str) -> None:
        if name in params:
            wanted.append((name, change(params[name]), reason))

    if latest.throttled:
        want("max_orders_per_cycle", lambda v: v - 1, "THROTTLED_FEWER_ORDERS")
    if latest.rejects > 0:
        want("order_offset_bps", lambda v: v - policy.offset_step_bps, "REJECTS_SMALLER_OFFSET")
    if latest.drawdown_pct >= near:
        want("turnover_cap", lambda v: v * policy.turnover_down, "NEAR_DRAWDOWN_LOWER_TURNOVER")
    if not wanted and all(_healthy(o, near, policy) for o in recent):
        want("universe_size", lambda v: v + 1, "HEALTHY_WINDOW_EXPAND")
        want("turnover_cap", lambda v: v * policy.turnover_up, "HEALTHY_WINDOW_EXPAND")
    return wanted


def _healthy(outcome: CycleOutcome, near: Decimal, policy: AdaptationPolicy) -> bool:
    return (
        outcome.mode is Mode.NORMAL
        and not outcome.throttled
        and outcome.rejects == 0
        and outcome.pnl >= -policy.loss_threshold
        and outcome.drawdown_pct < near
    )


def adaptation_activate(
    state: AdaptationState, number: int, *, ts_ms: int, reason: str
) -> AdaptationStep:
    """An operator's choice: make version ``number`` active again, exactly as it was.

    A ``pending`` active version it replaces is marked ``bad`` (the operator rejected it); the
    window restarts. ``reason`` is the event's reason code (``MANUAL_ROLLBACK``, ``PINNED``).
    Raises ``KeyError`` for an unknown version and ``ValueError`` for a ``bad`` one (it was
    rolled back for a reason; a new version must be proposed instead).
    """
    target = state.version(number)
    if target.status is VersionStatus.BAD:
        raise ValueError(f"version {number} is bad (rolled back); choose a good version")
    versions = state.versions
    if state.active != number and state.active_version.status is VersionStatus.PENDING:
        versions = _with_status(state, state.active, VersionStatus.BAD)
    event = AdaptationEvent("params.rollback", reason, state.active, number, ts_ms)
    return AdaptationStep(AdaptationState(versions, number, ()), "ACTIVATED", (event,))
